package database_test

import (
	"context"
	"database/sql"
	"fmt"
	"testing"

	"github.com/linkcredit/linkcredit/pkg/database"
	"github.com/linkcredit/linkcredit/pkg/testkit"
)

// oneConn is one connection of a pool on a new database, closed when the
// test ends: prepared statements are the connection's.
func oneConn(t *testing.T) *sql.Conn {
	t.Helper()
	conn, err := testkit.DB(t).Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// preparedCount is the number of statements prepared in conn's session.
func preparedCount(t *testing.T, conn *sql.Conn) int {
	t.Helper()
	var n int
	if err := conn.QueryRowContext(context.Background(), `SELECT count(*) FROM pg_prepared_statements`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestPreparedStatementsAreKeptPerConnection: under a Prepared context a
// statement with arguments is prepared once on its connection and used
// again, inside transactions too, with the same results as unprepared;
// without one, or without arguments, nothing is prepared.
func TestPreparedStatementsAreKeptPerConnection(t *testing.T) {
	ctx := context.Background()
	conn := oneConn(t)
	if _, err := conn.ExecContext(ctx, `CREATE TABLE items (id bigint PRIMARY KEY, name text NOT NULL, blob bytea)`); err != nil {
		t.Fatal(err)
	}
	const insert = `INSERT INTO items (id, name, blob) SELECT * FROM unnest($1::bigint[], $2::text[], $3::bytea[])`
	const read = `SELECT id, name, blob FROM items WHERE id = ANY($1::bigint[]) ORDER BY id`
	rows := func(ctx context.Context) string {
		t.Helper()
		r, err := conn.QueryContext(ctx, read, "{1,2,3}")
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		out := ""
		for r.Next() {
			var id int64
			var name string
			var blob []byte
			if err := r.Scan(&id, &name, &blob); err != nil {
				t.Fatal(err)
			}
			out += fmt.Sprintf("%d %q %x;", id, name, blob)
		}
		if err := r.Err(); err != nil {
			t.Fatal(err)
		}
		return out
	}
	if _, err := conn.ExecContext(ctx, insert, "{1}", `{"plain"}`, `{"\\x00ff"}`); err != nil {
		t.Fatal(err)
	}
	want := rows(ctx)
	if n := preparedCount(t, conn); n != 0 {
		t.Fatalf("%d statements prepared without Prepared, want 0", n)
	}

	pctx := database.Prepared(ctx)
	if _, err := conn.ExecContext(pctx, insert, "{2}", `{"quoted \"name\""}`, `{"\\x01"}`); err != nil {
		t.Fatal(err)
	}
	if got := rows(pctx); got != want+`2 "quoted \"name\"" 01;` {
		t.Fatalf("prepared read: %s", got)
	}
	for range 3 {
		rows(pctx)
	}
	if _, err := conn.ExecContext(pctx, `SELECT 1`); err != nil { // no arguments: not prepared
		t.Fatal(err)
	}
	if n := preparedCount(t, conn); n != 2 {
		t.Fatalf("%d statements prepared, want 2 (the insert and the read, once each)", n)
	}
	// In a transaction on the same connection the same statements serve.
	err := database.TransactOn(ctx, conn, nil, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(pctx, insert, "{3}", `{"in a transaction"}`, `{NULL}`)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if n := preparedCount(t, conn); n != 2 {
		t.Fatalf("%d statements prepared after the transaction, want 2", n)
	}
	if got, unprepared := rows(pctx), rows(ctx); got != unprepared {
		t.Fatalf("prepared %s, unprepared %s", got, unprepared)
	}
	// A statement the server refuses fails the same way, and is not kept.
	if _, err := conn.ExecContext(pctx, `INSERT INTO items (id, name) VALUES ($1, NULL)`, 4); err == nil {
		t.Fatal("a NULL name was stored")
	}
	if _, err := conn.ExecContext(pctx, `SELECT no_such_column FROM items WHERE id = $1`, 1); err == nil {
		t.Fatal("a query of a column that does not exist ran")
	}
}

// TestPreparedStatementFollowsATableThatChangesShape: a table whose
// columns change under a prepared SELECT * fails that call once (the
// server's "cached plan must not change result type"); the next call
// prepares it again and answers with the new shape.
func TestPreparedStatementFollowsATableThatChangesShape(t *testing.T) {
	ctx := context.Background()
	conn := oneConn(t)
	if _, err := conn.ExecContext(ctx, `CREATE TABLE items (id bigint PRIMARY KEY); INSERT INTO items VALUES (1)`); err != nil {
		t.Fatal(err)
	}
	pctx := database.Prepared(ctx)
	columns := func() (int, error) {
		r, err := conn.QueryContext(pctx, `SELECT * FROM items WHERE id = $1`, 1)
		if err != nil {
			return 0, err
		}
		defer r.Close()
		cols, err := r.Columns()
		return len(cols), err
	}
	if n, err := columns(); err != nil || n != 1 {
		t.Fatalf("%d columns, %v; want 1", n, err)
	}
	if _, err := conn.ExecContext(ctx, `ALTER TABLE items ADD COLUMN name text`); err != nil {
		t.Fatal(err)
	}
	if _, err := columns(); err == nil {
		t.Log("the server replanned without an error") // either is fine; the next call must see two columns
	}
	if n, err := columns(); err != nil || n != 2 {
		t.Fatalf("%d columns, %v; want 2 once prepared again", n, err)
	}
}

// TestPreparedStatementsAreBoundedPerConnection: a connection keeps at
// most its share of prepared statements; past it statements run as
// before, unprepared.
func TestPreparedStatementsAreBoundedPerConnection(t *testing.T) {
	ctx := context.Background()
	conn := oneConn(t)
	pctx := database.Prepared(ctx)
	for i := range 100 {
		var n int
		if err := conn.QueryRowContext(pctx, fmt.Sprintf(`SELECT $1::int + %d`, i), 1).Scan(&n); err != nil || n != i+1 {
			t.Fatalf("statement %d: %d, %v", i, n, err)
		}
	}
	if n := preparedCount(t, conn); n != 32 {
		t.Fatalf("%d statements prepared on the connection, want 32", n)
	}
}
