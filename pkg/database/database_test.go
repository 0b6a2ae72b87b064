package database_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/fstest"
	"time"

	"github.com/linkcredit/linkcredit/pkg/database"
	"github.com/linkcredit/linkcredit/pkg/errs"
	"github.com/linkcredit/linkcredit/pkg/testkit"
)

func migrations() fstest.MapFS {
	return fstest.MapFS{
		"0001_items.up.sql": {Data: []byte(`CREATE TABLE items (id bigint PRIMARY KEY, n bigint NOT NULL DEFAULT 0);`)},
		"0002_seed.up.sql":  {Data: []byte(`INSERT INTO items (id) VALUES (1);`)},
		"README.md":         {Data: []byte(`not a migration`)},
	}
}

func TestMigrateIsIdempotentAndSerialised(t *testing.T) {
	db := testkit.DB(t)
	ctx := context.Background()
	// Replicas starting together: the advisory lock lets exactly one apply.
	var wg sync.WaitGroup
	errc := make(chan error, 5)
	for range 5 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errc <- database.Migrate(ctx, db, "svc", migrations())
		}()
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		if err != nil {
			t.Fatalf("Migrate: %v", err)
		}
	}
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM svc.items`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("seed applied %d times (err %v), want once", n, err)
	}
	var versions int
	db.QueryRow(`SELECT count(*) FROM svc.schema_migrations`).Scan(&versions)
	if versions != 2 {
		t.Fatalf("schema_migrations has %d rows, want 2", versions)
	}
}

func TestMigrateRefusesEditedMigration(t *testing.T) {
	db := testkit.DB(t)
	ctx := context.Background()
	if err := database.Migrate(ctx, db, "svc", migrations()); err != nil {
		t.Fatal(err)
	}
	edited := migrations()
	edited["0002_seed.up.sql"] = &fstest.MapFile{Data: []byte(`INSERT INTO items (id) VALUES (2);`)}
	err := database.Migrate(ctx, db, "svc", edited)
	if err == nil || !strings.Contains(err.Error(), "edited after it was applied") {
		t.Fatalf("err = %v, want a refusal", err)
	}
}

func TestMigrateRollsBackAFailedFile(t *testing.T) {
	db := testkit.DB(t)
	bad := migrations()
	bad["0003_bad.up.sql"] = &fstest.MapFile{Data: []byte(`CREATE TABLE half (id int); SELECT * FROM missing_table;`)}
	if err := database.Migrate(context.Background(), db, "svc", bad); err == nil {
		t.Fatal("a failing migration succeeded")
	}
	var exists bool
	db.QueryRow(`SELECT to_regclass('svc.half') IS NOT NULL`).Scan(&exists)
	if exists {
		t.Fatal("a failed migration left its table behind")
	}
}

func TestTransactRetriesSerializationFailures(t *testing.T) {
	db := testkit.DB(t)
	ctx := context.Background()
	if err := database.Migrate(ctx, db, "svc", migrations()); err != nil {
		t.Fatal(err)
	}
	// Concurrent read-modify-write under SERIALIZABLE: without retries some
	// would fail with 40001; with them every increment lands.
	const workers, each = 8, 10
	var attempts atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				err := database.Transact(ctx, db, &sql.TxOptions{Isolation: sql.LevelSerializable}, func(tx *sql.Tx) error {
					attempts.Add(1)
					var n int64
					if err := tx.QueryRowContext(ctx, `SELECT n FROM svc.items WHERE id = 1`).Scan(&n); err != nil {
						return err
					}
					_, err := tx.ExecContext(ctx, `UPDATE svc.items SET n = $1 WHERE id = 1`, n+1)
					return err
				})
				if err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	var n int64
	db.QueryRow(`SELECT n FROM svc.items WHERE id = 1`).Scan(&n)
	if n != workers*each {
		t.Fatalf("n = %d, want %d (attempts %d)", n, workers*each, attempts.Load())
	}
	t.Logf("%d increments took %d attempts", n, attempts.Load())
}

func TestTransactRollsBackOnError(t *testing.T) {
	db := testkit.DB(t)
	ctx := context.Background()
	if err := database.Migrate(ctx, db, "svc", migrations()); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	err := database.Transact(ctx, db, nil, func(tx *sql.Tx) error {
		tx.ExecContext(ctx, `INSERT INTO svc.items (id) VALUES (99)`)
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v", err)
	}
	var n int
	db.QueryRow(`SELECT count(*) FROM svc.items WHERE id = 99`).Scan(&n)
	if n != 0 {
		t.Fatal("the failed transaction was committed")
	}
}

func TestClassifyUnreachableServer(t *testing.T) {
	db, err := database.Open("postgres://nobody@127.0.0.1:1/none", database.Pool{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = database.Classify(db.PingContext(context.Background()))
	if !errors.Is(err, errs.Unavailable) {
		t.Fatalf("err = %v, want Unavailable", err)
	}
	if err := database.Classify(errors.New("syntax error")); errors.Is(err, errs.Unavailable) {
		t.Fatal("a plain error was classified Unavailable")
	}
}

func TestOpenRejectsNonPostgresURL(t *testing.T) {
	if _, err := database.Open("mysql://x@y/z", database.Pool{}); err == nil {
		t.Fatal("Open accepted a mysql URL")
	}
}

// What Postgres refuses because of the values is poison (dead-lettered);
// a unique violation is not (callers use it for idempotency).
func TestClassifyDataErrorsAsPoison(t *testing.T) {
	db := testkit.DB(t)
	if _, err := db.Exec(`CREATE TABLE t (k text PRIMARY KEY, n bigint CHECK (n >= 0), s varchar(4))`); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`CREATE INDEX t_s ON t (k, s)`); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`INSERT INTO t (k, n) VALUES ('a', 1)`); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		q      string
		poison bool
	}{
		{"bigint out of range (22003)", `SELECT 9223372036854775807::bigint + 1`, true},
		{"value too long (22001)", `INSERT INTO t (k, s) VALUES ('b', 'too long')`, true},
		{"index row too large (54000)", `INSERT INTO t (k) SELECT string_agg(md5(random()::text), '') FROM generate_series(1, 400)`, true},
		{"check violation (23514)", `INSERT INTO t (k, n) VALUES ('c', -1)`, true},
		{"not-null violation (23502)", `INSERT INTO t (k) VALUES (NULL)`, true},
		{"unique violation (23505) is not poison", `INSERT INTO t (k, n) VALUES ('a', 2)`, false},
		{"syntax error is not poison", `SELEKT 1`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := db.Exec(tt.q)
			if err == nil {
				t.Fatal("no error")
			}
			got := database.Classify(err)
			if poison := errs.Decide(got) == errs.DeadLetter; poison != tt.poison {
				t.Fatalf("Classify(%v): dead-letter = %v, want %v", err, poison, tt.poison)
			}
			if tt.poison && !errors.Is(got, errs.Unprocessable) {
				t.Fatalf("Classify(%v) = %v, want Unprocessable", err, got)
			}
		})
	}
}

// A session left idle inside a transaction is ended by the server after
// IdleInTransaction (or the URL's own setting): it would otherwise hold
// back vacuum in every table. The error that fails the stalled
// transaction is retried like a lost connection, and the pool goes on
// with a new session.
func TestIdleInTransactionEndsTheSession(t *testing.T) {
	dbURL := testkit.DatabaseURL(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	db, err := database.Open(dbURL, database.Pool{MaxOpen: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var setting string
	if err := db.QueryRowContext(ctx, `SHOW idle_in_transaction_session_timeout`).Scan(&setting); err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf("%ds", int(database.IdleInTransaction.Seconds())); setting != want && setting != "1min" {
		t.Errorf("idle_in_transaction_session_timeout = %q, want %s", setting, want)
	}

	sep := "?"
	if strings.Contains(dbURL, "?") {
		sep = "&"
	}
	short, err := database.Open(dbURL+sep+"idle_in_transaction_session_timeout=200", database.Pool{MaxOpen: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer short.Close()
	err = database.Transact(ctx, short, nil, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `SELECT 1`); err != nil {
			return err
		}
		time.Sleep(time.Second) // the process stalls inside its transaction
		_, err := tx.ExecContext(ctx, `SELECT 1`)
		return err
	})
	if err == nil {
		t.Fatal("a transaction idle past the timeout committed")
	}
	if !database.IsUnavailable(err) || !errors.Is(database.Classify(err), errs.Unavailable) {
		t.Errorf("err = %v: not classified as the connection's loss (retried)", err)
	}
	var one int
	if err := short.QueryRowContext(ctx, `SELECT 1`).Scan(&one); err != nil || one != 1 {
		t.Errorf("the pool after the ended session: %d, %v", one, err)
	}
}

func TestConnStringIdleInTransactionDefault(t *testing.T) {
	for _, tc := range []struct {
		url, want string // want: the parameter's value, "" for not sent
	}{
		{"postgres://u@127.0.0.1:5432/db", "60000"},
		{"postgres://u@db.internal:5432/db?sslmode=require", "60000"},
		{"postgres://u@/db?host=/run/postgresql", "60000"},
		{"postgres://u@127.0.0.1/db?idle_in_transaction_session_timeout=5000", "5000"},
		{"postgres://u@127.0.0.1/db?idle_in_transaction_session_timeout=", ""},
		{"postgres://u@127.0.0.1/db?options=-c%20idle_in_transaction_session_timeout%3D9000", ""},
	} {
		got, err := database.ConnString(tc.url)
		if err != nil {
			t.Fatalf("%s: %v", tc.url, err)
		}
		u, err := url.Parse(got)
		if err != nil {
			t.Fatalf("%s gave %q: %v", tc.url, got, err)
		}
		q := u.Query()
		if v := q.Get("idle_in_transaction_session_timeout"); v != tc.want || (tc.want == "" && q.Has("idle_in_transaction_session_timeout")) {
			t.Errorf("%s: idle_in_transaction_session_timeout %q (sent: %v), want %q", tc.url, v, q.Has("idle_in_transaction_session_timeout"), tc.want)
		}
		if q.Get("binary_parameters") != "yes" {
			t.Errorf("%s: lost binary_parameters: %s", tc.url, got)
		}
	}
}
