package database_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lib/pq"

	"github.com/linkcredit/linkcredit/pkg/database"
	"github.com/linkcredit/linkcredit/pkg/testkit"
)

func TestAppendCopyText(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"", ""},
		{"plain", "plain"},
		{"tab\there", `tab\there`},
		{"new\nline", `new\nline`},
		{"cr\rret", `cr\rret`},
		{`back\slash`, `back\\slash`},
		{`\N`, `\\N`}, // text that reads as NULL stays text
		{"\t\n\r\\", `\t\n\r\\`},
		{"ünïcødé", "ünïcødé"},
	} {
		if got := string(database.AppendCopyText([]byte("x"), tt.in)); got != "x"+tt.want {
			t.Errorf("AppendCopyText(%q) = %q, want %q", tt.in, got, "x"+tt.want)
		}
	}
}

func TestAppendCopyTime(t *testing.T) {
	for _, tt := range []struct {
		in   time.Time
		want string
	}{
		{time.Time{}, `\N`},
		{time.Date(2026, 12, 3, 4, 5, 6, 0, time.UTC), "2026-12-03 04:05:06Z"},
		{time.Date(2026, 12, 3, 4, 5, 6, 123456789, time.UTC), "2026-12-03 04:05:06.123456789Z"},
		{time.Date(2026, 12, 3, 5, 5, 6, 0, time.FixedZone("CET", 3600)), "2026-12-03 04:05:06Z"},
		{time.Date(2026, 1, 2, 3, 4, 5, 120000000, time.UTC), "2026-01-02 03:04:05.12Z"},
		{time.Date(2026, 1, 2, 3, 4, 5, 1, time.UTC), "2026-01-02 03:04:05.000000001Z"},
		{time.Date(1, 1, 1, 0, 0, 0, 1000, time.UTC), "0001-01-01 00:00:00.000001Z"},
		{time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC), "9999-12-31 23:59:59.999999999Z"},
		{time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), "10000-01-01 00:00:00Z"}, // as AppendFormat writes it
	} {
		if got := string(database.AppendCopyTime(nil, tt.in)); got != tt.want {
			t.Errorf("AppendCopyTime(%v) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// AppendCopyTime writes what t.UTC().AppendFormat did before it wrote
// the digits itself, for any instant.
func FuzzAppendCopyTime(f *testing.F) {
	for _, seed := range [][2]int64{{0, 0}, {1764979200, 123456789}, {-62135596800, 1}, {253402300799, 999999999}, {1 << 40, 5}} {
		f.Add(seed[0], seed[1])
	}
	f.Fuzz(func(t *testing.T, sec, nsec int64) {
		if sec%2 == 0 {
			// Most int64 seconds fall outside years 1 to 9999, where
			// AppendCopyTime writes its own digits: bring half of them in.
			const first, last = -62135596800, 253402300799 // 0001-01-01, 9999-12-31T23:59:59 UTC
			sec = first + (sec/2%(last-first)+(last-first))%(last-first)
		}
		at := time.Unix(sec, nsec)
		want := `\N`
		if !at.IsZero() {
			want = string(at.UTC().AppendFormat(nil, "2006-01-02 15:04:05.999999999Z07:00"))
		}
		if got := string(database.AppendCopyTime([]byte("x"), at)); got != "x"+want {
			t.Fatalf("AppendCopyTime(%v) = %q, want %q", at, got, "x"+want)
		}
	})
}

type copyRow struct {
	id   int64
	text string
	at   time.Time
	ok   bool
}

func appendCopyRow(b []byte, r copyRow) []byte {
	b = append(strconv.AppendInt(b, r.id, 10), '\t')
	b = append(database.AppendCopyText(b, r.text), '\t')
	b = append(database.AppendCopyTime(b, r.at), '\t')
	return database.AppendCopyBool(b, r.ok)
}

// TestCopyInStoresWhatTheDriverWould: rows written by CopyIn read back as
// the same rows COPYed through database/sql (lib/pq's own encoding):
// escapes, NULL, times to the microsecond as PostgreSQL rounds them, and
// more rows than one chunk holds.
func TestCopyInStoresWhatTheDriverWould(t *testing.T) {
	db := testkit.DB(t)
	ctx := context.Background()
	for _, table := range []string{"via_copyin", "via_driver"} {
		if _, err := db.ExecContext(ctx, `CREATE TABLE `+table+` (id bigint PRIMARY KEY, text text NOT NULL, at timestamptz, ok boolean NOT NULL)`); err != nil {
			t.Fatal(err)
		}
	}
	var rows []copyRow
	base := time.Date(2026, 12, 3, 4, 5, 6, 0, time.UTC)
	tricky := []string{"", "plain", "tab\there", "new\nline", "cr\rret", `back\slash`, `\N`, "ünïcødé", strings.Repeat("long ", 100)}
	for i := range 3000 { // about 500 KB: several chunks
		r := copyRow{id: int64(i), text: tricky[i%len(tricky)], at: base.Add(time.Duration(i) * 1234567), ok: i%2 == 0}
		if i%7 == 0 {
			r.at = time.Time{}
		}
		rows = append(rows, r)
	}

	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := database.TransactOn(ctx, conn, nil, func(tx *sql.Tx) error {
		return database.CopyIn(ctx, conn, `COPY via_copyin (id, text, at, ok) FROM STDIN`, len(rows), func(b []byte, i int) []byte {
			return appendCopyRow(b, rows[i])
		})
	}); err != nil {
		t.Fatalf("CopyIn: %v", err)
	}
	if err := database.Transact(ctx, db, nil, func(tx *sql.Tx) error {
		stmt, err := tx.PrepareContext(ctx, `COPY via_driver (id, text, at, ok) FROM STDIN`)
		if err != nil {
			return err
		}
		defer stmt.Close()
		for _, r := range rows {
			var at any
			if !r.at.IsZero() {
				at = r.at
			}
			if _, err := stmt.ExecContext(ctx, r.id, r.text, at, r.ok); err != nil {
				return err
			}
		}
		_, err = stmt.ExecContext(ctx)
		return err
	}); err != nil {
		t.Fatalf("driver COPY: %v", err)
	}

	var n, differ int
	if err := db.QueryRowContext(ctx, `SELECT count(*), count(*) FILTER (WHERE d.id IS NULL OR c.text <> d.text
			OR c.at IS DISTINCT FROM d.at OR c.ok <> d.ok)
		FROM via_copyin c LEFT JOIN via_driver d USING (id)`).Scan(&n, &differ); err != nil {
		t.Fatal(err)
	}
	if n != len(rows) || differ != 0 {
		t.Fatalf("CopyIn stored %d rows (want %d), %d unlike the driver's", n, len(rows), differ)
	}
	var text string
	if err := db.QueryRowContext(ctx, `SELECT text FROM via_copyin WHERE id = 6`).Scan(&text); err != nil || text != `\N` {
		t.Fatalf("row 6 text = %q, %v; want the two characters \\N", text, err)
	}
}

// TestCopyInRefusedRowsComeAsServerErrors: a duplicate key is the
// server's unique violation, the transaction goes on from a savepoint,
// and the connection serves the next statement.
func TestCopyInRefusedRowsComeAsServerErrors(t *testing.T) {
	db := testkit.DB(t)
	ctx := context.Background()
	if _, err := db.ExecContext(ctx, `CREATE TABLE copied (id bigint PRIMARY KEY)`); err != nil {
		t.Fatal(err)
	}
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ids := func(n ...int64) func(b []byte, i int) []byte {
		return func(b []byte, i int) []byte { return strconv.AppendInt(b, n[i], 10) }
	}
	err = database.TransactOn(ctx, conn, nil, func(tx *sql.Tx) error {
		if err := database.CopyIn(ctx, conn, `COPY copied (id) FROM STDIN`, 2, ids(1, 2)); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `SAVEPOINT again`); err != nil {
			return err
		}
		err := database.CopyIn(ctx, conn, `COPY copied (id) FROM STDIN`, 2, ids(3, 1))
		if !database.IsUniqueViolation(err) {
			return fmt.Errorf("a duplicate COPY gave %v, want a unique violation", err)
		}
		var pqErr *pq.Error
		if !errors.As(err, &pqErr) {
			return fmt.Errorf("error %T is not the server's", err)
		}
		if _, err := tx.ExecContext(ctx, `ROLLBACK TO SAVEPOINT again`); err != nil {
			return err
		}
		return database.CopyIn(ctx, conn, `COPY copied (id) FROM STDIN`, 1, ids(4))
	})
	if err != nil {
		t.Fatal(err)
	}
	var got string
	if err := db.QueryRowContext(ctx, `SELECT string_agg(id::text, ',' ORDER BY id) FROM copied`).Scan(&got); err != nil {
		t.Fatal(err)
	}
	if got != "1,2,4" {
		t.Fatalf("stored %s, want 1,2,4", got)
	}
	// Outside a transaction the server refuses nothing, but lib/pq does.
	if err := database.CopyIn(ctx, conn, `COPY copied (id) FROM STDIN`, 1, ids(5)); err == nil {
		t.Fatal("a COPY outside a transaction was taken")
	}
	if err := conn.PingContext(ctx); err != nil {
		t.Fatalf("the connection is unusable after: %v", err)
	}
}
