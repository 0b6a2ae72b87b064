package database_test

import (
	"context"
	"database/sql/driver"
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
	db := testkit.DB(t)
	ctx := context.Background()
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
		var same bool
		if err := db.QueryRowContext(ctx, `SELECT $1::text[] IS NOT DISTINCT FROM $2::text[]`,
			database.TextArray(a), pq.Array(a)).Scan(&same); err != nil {
			t.Errorf("text %s: %v", name, err)
		} else if !same {
			t.Errorf("text %s: the server read another array than pq.Array's", name)
		}
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
		var same bool
		if err := db.QueryRowContext(ctx, `SELECT $1::bytea[] IS NOT DISTINCT FROM $2::bytea[]`,
			database.ByteaArray(a), pq.ByteaArray(a)).Scan(&same); err != nil {
			t.Errorf("bytea %s: %v", name, err)
		} else if !same {
			t.Errorf("bytea %s: the server read another array than pq.ByteaArray's", name)
		}
	}
	ints := map[string][]int64{
		"nil":   nil,
		"empty": {},
		"edges": {0, 1, -1, math.MaxInt64, math.MinInt64, 1 << 32, -(1 << 31)},
	}
	for name, a := range ints {
		var same bool
		if err := db.QueryRowContext(ctx, `SELECT $1::bigint[] IS NOT DISTINCT FROM $2::bigint[]`,
			database.Int8Array(a), pq.Array(a)).Scan(&same); err != nil {
			t.Errorf("int8 %s: %v", name, err)
		} else if !same {
			t.Errorf("int8 %s: the server read another array than pq.Array's", name)
		}
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
	var n int
	err := db.QueryRowContext(ctx, `SELECT cardinality($1::bigint[])`, database.TextArray{"1"}).Scan(&n)
	if err == nil {
		t.Errorf("a text array read as bigint[]: %d", n)
	}
}

func TestBinaryParametersRequired(t *testing.T) {
	for _, v := range []string{"no", "false", "on"} {
		if _, err := database.ConnString("postgres://u@127.0.0.1/db?binary_parameters=" + v); err == nil {
			t.Errorf("binary_parameters=%s accepted", v)
		}
	}
	if _, err := database.ConnString("postgres://u@127.0.0.1/db?binary_parameters=yes"); err != nil {
		t.Errorf("binary_parameters=yes: %v", err)
	}
}

func BenchmarkArrays(b *testing.B) {
	bodies := make([][]byte, 16)
	texts := make([]string, 16)
	for i := range bodies {
		bodies[i] = []byte(strings.Repeat("b", 400))
		texts[i] = strings.Repeat("t", 40)
	}
	for _, bc := range []struct {
		name string
		v    driver.Valuer
	}{
		{"text/binary", database.TextArray(texts)},
		{"text/pq", pq.Array(texts)},
		{"bytea/binary", database.ByteaArray(bodies)},
		{"bytea/pq", pq.ByteaArray(bodies)},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := bc.v.Value(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
