package database

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/lib/pq"

	"github.com/linkcredit/linkcredit/pkg/errs"
)

// Pool sizes the connection pool. Zero fields take the defaults.
type Pool struct {
	MaxOpen     int           // default 20
	MaxIdle     int           // default MaxOpen
	MaxLifetime time.Duration // default 30m: lets a failover or DNS change take effect
	MaxIdleTime time.Duration // default 5m
}

func (p *Pool) setDefaults() {
	if p.MaxOpen <= 0 {
		p.MaxOpen = 20
	}
	if p.MaxIdle <= 0 || p.MaxIdle > p.MaxOpen {
		p.MaxIdle = p.MaxOpen
	}
	if p.MaxLifetime <= 0 {
		p.MaxLifetime = 30 * time.Minute
	}
	if p.MaxIdleTime <= 0 {
		p.MaxIdleTime = 5 * time.Minute
	}
}

// Open returns a pool for a postgres:// URL. The URL's sslmode is kept; a
// URL without one gets sslmode=disable for loopback hosts and Unix sockets
// (a local cluster has no certificate) and lib/pq's default elsewhere.
// binary_parameters defaults to on: []byte arguments travel as bytes, not
// hex text twice their size, arrays in binary (TextArray), and an ad-hoc
// query takes one round trip, not two. (So pass JSON for json/jsonb
// columns as a string, never []byte.)
// idle_in_transaction_session_timeout defaults to IdleInTransaction (see
// there). Open does not wait for the server: see Ping.
func Open(rawURL string, pool Pool) (*sql.DB, error) {
	dsn, err := withDefaults(rawURL)
	if err != nil {
		return nil, err
	}
	pqConnector, err := pq.NewConnector(dsn)
	if err != nil {
		return nil, fmt.Errorf("database: parse url: %w", err)
	}
	pool.setDefaults()
	db := sql.OpenDB(connector{pqConnector})
	db.SetMaxOpenConns(pool.MaxOpen)
	db.SetMaxIdleConns(pool.MaxIdle)
	db.SetConnMaxLifetime(pool.MaxLifetime)
	db.SetConnMaxIdleTime(pool.MaxIdleTime)
	return db, nil
}

// ConnString is the connection string Open uses for rawURL (with the
// loopback sslmode default), for clients that connect on their own, such
// as a LISTEN connection.
func ConnString(rawURL string) (string, error) { return withDefaults(rawURL) }

// IdleInTransaction is how long the server lets a session of a service sit
// in an open transaction without a statement before it ends the session
// (PostgreSQL's idle_in_transaction_session_timeout). A process that
// stalls inside a transaction (a hung host, a stopped process, a
// partition) otherwise holds back the oldest transaction every vacuum
// must keep rows for, in every table of the cluster: measured here, one
// reporting process stopped for minutes inside its rollup fold left
// 242,000 dead rows at the head of conversions' outbox, and the relay's
// read of the head went from under a millisecond to a whole core. The
// services' transactions are statements back to back, milliseconds
// apart. The stalled transaction then fails as a lost connection
// (lib/pq reports the session's end as driver.ErrBadConn: IsUnavailable),
// and nothing it wrote is kept: a consumer takes its batch again, a
// webhook is answered 503 and redelivered, nothing is dead-lettered.
//
// It is sent as a setting of the session (lib/pq passes a URL parameter
// it does not know to the server), which takes precedence over ALTER
// ROLE or ALTER DATABASE ... SET. The URL's own
// idle_in_transaction_session_timeout (ms) is kept, as is one named in
// its options; an empty one (idle_in_transaction_session_timeout=) sends
// none, for a pooler that refuses settings it does not know or a server
// whose roles set their own.
const IdleInTransaction = time.Minute

func withDefaults(rawURL string) (string, error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return "", errors.New("database: DATABASE_URL must be a postgres:// URL")
	}
	q := u.Query()
	if q.Get("binary_parameters") == "" {
		q.Set("binary_parameters", "yes")
		u.RawQuery = q.Encode()
	}
	const idle = "idle_in_transaction_session_timeout"
	switch {
	case q.Has(idle) && q.Get(idle) == "": // asked for none
		q.Del(idle)
		u.RawQuery = q.Encode()
	case q.Has(idle), strings.Contains(q.Get("options"), idle):
	default:
		q.Set(idle, strconv.FormatInt(IdleInTransaction.Milliseconds(), 10))
		u.RawQuery = q.Encode()
	}
	if q.Get("sslmode") != "" {
		return u.String(), nil
	}
	host := u.Hostname()
	if h := q.Get("host"); h != "" {
		host = h
	}
	if host == "" || host == "localhost" || strings.HasPrefix(host, "/") || isLoopback(host) {
		q.Set("sslmode", "disable")
		u.RawQuery = q.Encode()
	}
	return u.String(), nil
}

func isLoopback(host string) bool {
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Ping waits until the server answers or ctx ends, backing off between tries.
func Ping(ctx context.Context, db *sql.DB) error {
	delay := 100 * time.Millisecond
	for {
		err := db.PingContext(ctx)
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("database: not reachable: %w", err)
		case <-time.After(delay):
		}
		delay = min(2*delay, 2*time.Second)
	}
}

// Transact runs fn in a transaction and commits it. When Postgres aborts the
// transaction for a serialization failure or a deadlock, the whole of fn is
// run again (up to 10 times), so fn must not have effects outside tx.
func Transact(ctx context.Context, db *sql.DB, opts *sql.TxOptions, fn func(*sql.Tx) error) error {
	return transact(ctx, db, opts, fn)
}

// TransactOn is Transact on one connection held by the caller: fn's
// transaction is conn's, so fn may also reach the driver inside it
// through conn (CopyIn).
func TransactOn(ctx context.Context, conn *sql.Conn, opts *sql.TxOptions, fn func(*sql.Tx) error) error {
	return transact(ctx, conn, opts, fn)
}

// beginner is a *sql.DB or a *sql.Conn.
type beginner interface {
	BeginTx(ctx context.Context, opts *sql.TxOptions) (*sql.Tx, error)
}

func transact(ctx context.Context, db beginner, opts *sql.TxOptions, fn func(*sql.Tx) error) error {
	const attempts = 10
	var err error
	for attempt := 0; attempt < attempts; attempt++ {
		if err = transactOnce(ctx, db, opts, fn); !isRetryableTx(err) {
			return err
		}
		backoff := time.Duration(1<<attempt)*time.Millisecond + rand.N(5*time.Millisecond)
		select {
		case <-ctx.Done():
			return errors.Join(err, ctx.Err())
		case <-time.After(backoff):
		}
	}
	return fmt.Errorf("database: gave up after %d serialization failures: %w", attempts, err)
}

func transactOnce(ctx context.Context, db beginner, opts *sql.TxOptions, fn func(*sql.Tx) error) (err error) {
	tx, err := db.BeginTx(ctx, opts)
	if err != nil {
		return Classify(fmt.Errorf("database: begin: %w", err))
	}
	defer func() {
		if p := recover(); p != nil {
			_ = tx.Rollback()
			panic(p)
		}
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	if err = fn(tx); err != nil {
		return err
	}
	if err = tx.Commit(); err != nil {
		return Classify(fmt.Errorf("database: commit: %w", err))
	}
	return nil
}

// SQLSTATE codes this package acts on.
const (
	codeSerializationFailure = "40001"
	codeDeadlockDetected     = "40P01"
	codeUniqueViolation      = "23505"
	// codeInvalidBinaryRepresentation: a parameter in binary format the
	// server cannot read.
	codeInvalidBinaryRepresentation = "22P03"
	// codeIdleInTransactionTimeout ends a session left idle in a
	// transaction past idle_in_transaction_session_timeout.
	codeIdleInTransactionTimeout = "25P03"
)

func isRetryableTx(err error) bool {
	var pqErr *pq.Error
	if errors.As(err, &pqErr) {
		return pqErr.Code == codeSerializationFailure || pqErr.Code == codeDeadlockDetected
	}
	return false
}

// IsUniqueViolation reports whether err is a unique-constraint violation.
func IsUniqueViolation(err error) bool {
	var pqErr *pq.Error
	return errors.As(err, &pqErr) && pqErr.Code == codeUniqueViolation
}

// Classify gives err the Unavailable kind when it means the database cannot
// be reached or is shutting down, so callers answer 503 and consumers retry;
// and the Unprocessable kind when the database refused the data itself
// (IsDataError), so a consumer dead-letters the message instead of retrying
// it forever. Other errors are returned unchanged.
func Classify(err error) error {
	if err == nil || errors.Is(err, errs.Unavailable) || errs.Decide(err) == errs.DeadLetter {
		return err
	}
	if IsUnavailable(err) {
		return errs.Wrap(errs.Unavailable, "database_unavailable", "the database is unavailable; retry later", err)
	}
	if IsDataError(err) {
		return errs.Wrap(errs.Unprocessable, "database_refused_data", "the database refused the data", err)
	}
	return err
}

// IsDataError reports whether Postgres refused a statement because of the
// values in it, which no retry can change: data exceptions (class 22: a
// value out of range, too long, badly encoded), program limits (class 54:
// an index row too large) and integrity violations (class 23) other than
// a unique violation, which callers use for idempotency. Not a value in
// binary format the server cannot read (22P03, invalid_binary_representation):
// the services build those themselves (TextArray), so that is a fault of
// the code, not of a value, and must not be set aside as one.
func IsDataError(err error) bool {
	var pqErr *pq.Error
	if !errors.As(err, &pqErr) {
		return false
	}
	switch pqErr.Code.Class() {
	case "22":
		return pqErr.Code != codeInvalidBinaryRepresentation
	case "54":
		return true
	case "23":
		return pqErr.Code != codeUniqueViolation
	}
	return false
}

// IsUnavailable reports whether err is a connection-level failure.
func IsUnavailable(err error) bool {
	// lib/pq reports a server that went away in the middle of a query (a
	// restart) as io.EOF.
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, driver.ErrBadConn) || errors.Is(err, sql.ErrConnDone) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.EPIPE) || errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var netErr net.Error
	if errors.As(err, &netErr) {
		return true
	}
	var pqErr *pq.Error
	if errors.As(err, &pqErr) {
		// The session was ended for idling in a transaction: a new one
		// will do. (lib/pq reports this FATAL error as driver.ErrBadConn,
		// caught above; this is for an error that carries the code.)
		if pqErr.Code == codeIdleInTransactionTimeout {
			return true
		}
		switch pqErr.Code.Class() {
		case "08", // connection exception
			"53", // insufficient resources
			"57": // operator intervention: admin shutdown, cannot connect now
			return true
		}
	}
	return strings.Contains(err.Error(), "connection refused") || strings.Contains(err.Error(), "bad connection")
}
