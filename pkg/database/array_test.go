package database_test

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/lib/pq"

	"github.com/linkcredit/linkcredit/pkg/database"
	"github.com/linkcredit/linkcredit/pkg/testkit"
)

// The binary arrays must reach the server as exactly the arrays pq.Array
// sends as text: the server compares the two.
func TestArraysEqualPQArrays(t *testing.T) {
	url := testkit.DatabaseURL(t)
	for _, binaryParameters := range []string{"yes", "no"} {
		t.Run("binary_parameters="+binaryParameters, func(t *testing.T) {
			db, err := database.Open(url+sepFor(url)+"binary_parameters="+binaryParameters, database.Pool{MaxOpen: 2})
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			arraysEqualPQArrays(t, db)
		})
	}
}

// sepFor is what goes between url and one more query parameter.
func sepFor(url string) string {
	if strings.Contains(url, "?") {
		return "&"
	}
	return "?"
}

func arraysEqualPQArrays(t *testing.T, db *sql.DB) {
	rng := rand.New(rand.NewPCG(1, 2))
	randomBytes := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.IntN(256))
		}
		return b
	}
	many := make([]string, 10000)
	for i := range many {
		many[i] = strings.Repeat("x", i%7)
	}
	texts := map[string][]string{
		"nil":        nil,
		"empty":      {},
		"one empty":  {""},
		"plain":      {"a", "b", "c"},
		"syntax":     {`"quoted"`, `back\slash`, "{braces}", "a,b", "NULL", "null", " spaced ", "\t\n\r"},
		"unicode":    {"ünïcødé", "日本語", "🙂", "\u2028"},
		"long":       {strings.Repeat("long ", 30000)},
		"many":       many,
		"last empty": {"a", ""},
	}
	for name, a := range texts {
		sameArray(t, db, "text", name, database.TextArray(a), pq.Array(a))
	}
	byteas := map[string][][]byte{
		"nil":           nil,
		"empty":         {},
		"nil element":   {nil},
		"one empty":     {{}},
		"bytes":         {{0}, {0xff, 0xfe}, []byte("text"), []byte(`"\{}`)},
		"random":        {randomBytes(1), randomBytes(100), randomBytes(70000)},
		"many":          make([][]byte, 5000),
		"mixed lengths": {randomBytes(3), nil, randomBytes(0), randomBytes(9)},
	}
	for name, a := range byteas {
		sameArray(t, db, "bytea", name, database.ByteaArray(a), pq.ByteaArray(a))
	}
	ints := map[string][]int64{
		"nil":   nil,
		"empty": {},
		"edges": {0, 1, -1, math.MaxInt64, math.MinInt64, 1 << 32, -(1 << 31)},
	}
	for name, a := range ints {
		sameArray(t, db, "bigint", name, database.Int8Array(a), pq.Array(a))
	}
}

// sameArray checks that the server reads ours as the same array of type
// typ as theirs, pq's text.
func sameArray(t *testing.T, db *sql.DB, typ, name string, ours, theirs any) {
	t.Helper()
	var same bool
	if err := db.QueryRowContext(context.Background(), `SELECT $1::`+typ+`[] IS NOT DISTINCT FROM $2::`+typ+`[]`,
		ours, theirs).Scan(&same); err != nil {
		t.Errorf("%s %s: %v", typ, name, err)
	} else if !same {
		t.Errorf("%s %s: the server read another array than pq's", typ, name)
	}
}

// Arrays are one dimension from 1, as unnest and cardinality see them,
// whatever the statement's other parameters are.
func TestArraysUnnestTogether(t *testing.T) {
	db := testkit.DB(t)
	ctx := context.Background()
	rows, err := db.QueryContext(ctx, `
		SELECT t, b, n, ord, array_lower($1::text[], 1), array_ndims($1::text[]), $4::text
		FROM unnest($1::text[], $2::bytea[], $3::bigint[]) WITH ORDINALITY AS u(t, b, n, ord)`,
		database.TextArray{"one", "two"}, database.ByteaArray{[]byte("1"), {2}}, database.Int8Array{-1, 2}, "plain")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	type row struct {
		t     string
		b     []byte
		n     int64
		ord   int64
		lower int
		ndims int
		plain string
	}
	var got []row
	for rows.Next() {
		var r row
		if err := rows.Scan(&r.t, &r.b, &r.n, &r.ord, &r.lower, &r.ndims, &r.plain); err != nil {
			t.Fatal(err)
		}
		got = append(got, r)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	want := []row{{"one", []byte("1"), -1, 1, 1, 1, "plain"}, {"two", []byte{2}, 2, 2, 1, 1, "plain"}}
	if len(got) != len(want) {
		t.Fatalf("got %d rows, want %d: %+v", len(got), len(want), got)
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.t != w.t || string(g.b) != string(w.b) || g.n != w.n || g.ord != w.ord || g.lower != w.lower || g.ndims != w.ndims || g.plain != w.plain {
			t.Errorf("row %d = %+v, want %+v", i, g, w)
		}
	}
}

// Text the server does not take as text fails the statement as a data
// error (the batch's requests are then stored one at a time), never a
// different value; so does an array given where another type is asked.
func TestArraysRefused(t *testing.T) {
	db := testkit.DB(t)
	ctx := context.Background()
	for name, a := range map[string]database.TextArray{
		"invalid UTF-8": {"ok", "\xff\xfe"},
		"NUL":           {"a\x00b"},
	} {
		var n int
		err := db.QueryRowContext(ctx, `SELECT cardinality($1::text[])`, a).Scan(&n)
		if err == nil || !database.IsDataError(err) {
			t.Errorf("%s: n %d, err %v; want a data error", name, n, err)
		}
	}
	// An array of another element type than the parameter's is the
	// code's fault, never a value's: not a data error, so a batch fails
	// as a whole rather than being stored one request at a time.
	var n int
	err := db.QueryRowContext(ctx, `SELECT cardinality($1::bigint[])`, database.TextArray{"1"}).Scan(&n)
	var pqErr *pq.Error
	if !errors.As(err, &pqErr) || pqErr.Code != "42804" || database.IsDataError(err) {
		t.Errorf("a text array read as bigint[]: n %d, err %v; want 42804, not a data error", n, err)
	}
	// So is a binary value the server cannot read (22P03).
	err = db.QueryRowContext(ctx, `SELECT cardinality($1::bigint[])`, badBinary{}).Scan(&n)
	if !errors.As(err, &pqErr) || pqErr.Code != "22P03" || database.IsDataError(err) {
		t.Errorf("an unreadable binary array: n %d, err %v; want 22P03, not a data error", n, err)
	}
}

// badBinary is a bigint[] whose binary header has flags array_recv does
// not know (2).
type badBinary struct{}

func (badBinary) Value() (driver.Value, error) { return "{}", nil }
func (badBinary) BinaryValue() ([]byte, error) {
	return []byte{0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 20, 0, 0, 0, 0, 0, 0, 0, 1}, nil
}

func BenchmarkArrays(b *testing.B) {
	bodies := make([][]byte, 16)
	texts := make([]string, 16)
	for i := range bodies {
		bodies[i] = []byte(strings.Repeat("b", 400))
		texts[i] = strings.Repeat("t", 40)
	}
	for _, bc := range []struct {
		name  string
		value func() (driver.Value, error)
	}{
		{"text/binary", func() (driver.Value, error) { return database.TextArray(texts).BinaryValue() }},
		{"text/pq", pq.Array(texts).Value},
		{"bytea/binary", func() (driver.Value, error) { return database.ByteaArray(bodies).BinaryValue() }},
		{"bytea/pq", pq.ByteaArray(bodies).Value},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := bc.value(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
