package database

import (
	"context"
	"database/sql/driver"
	"errors"

	"github.com/lib/pq"
)

// Prepared returns ctx marked so that each statement with arguments run
// with it is prepared on its connection the first time, and the prepared
// statement is used from then on: the server parses, analyses and plans
// it once per connection rather than on every call. It is meant for the
// few statements a service runs thousands of times (a consumer's batch
// transaction), where that work was a tenth of the server's time: mark
// the context of that work only. Up to preparedPerConn statements are
// kept per connection (the first ones prepared); the rest run as before.
// The results are the same either way.
func Prepared(ctx context.Context) context.Context {
	return context.WithValue(ctx, preparedKey{}, true)
}

type preparedKey struct{}

// preparedPerConn bounds the statements prepared on one connection: each
// holds its plan in the server session's memory until the connection
// closes (Pool.MaxLifetime at most).
const preparedPerConn = 32

// connector hands out connections that keep the statements prepared
// under a Prepared context.
type connector struct{ driver.Connector }

// pqConn is what lib/pq's connection implements and database/sql uses.
type pqConn interface {
	driver.Conn
	driver.ConnBeginTx
	driver.ConnPrepareContext
	driver.QueryerContext
	driver.ExecerContext
	driver.Pinger
	driver.SessionResetter
	driver.Validator
	driver.NamedValueChecker
}

func (c connector) Connect(ctx context.Context) (driver.Conn, error) {
	dc, err := c.Connector.Connect(ctx)
	if err != nil {
		return nil, err
	}
	pc, ok := dc.(pqConn)
	if !ok {
		return dc, nil
	}
	return &preparingConn{pqConn: pc, stmts: map[string]driver.Stmt{}}, nil
}

// preparingConn is a connection with its prepared statements, by query.
// database/sql uses a connection from one goroutine at a time.
type preparingConn struct {
	pqConn
	stmts    map[string]driver.Stmt
	prepared int // ever, including those dropped (stale)
}

// stmt is query's prepared statement when ctx asks for one (Prepared)
// and one is kept or may be prepared; nil to run it unprepared.
func (c *preparingConn) stmt(ctx context.Context, query string, args []driver.NamedValue) (driver.Stmt, error) {
	if len(args) == 0 || ctx.Value(preparedKey{}) == nil {
		return nil, nil
	}
	if st, ok := c.stmts[query]; ok {
		return st, nil
	}
	if c.prepared >= preparedPerConn {
		return nil, nil
	}
	st, err := c.pqConn.PrepareContext(ctx, query)
	if err != nil {
		return nil, err // inside a transaction, a failed prepare ended it
	}
	c.prepared++
	c.stmts[query] = st
	return st, nil
}

// forget drops query's statement when err says the server no longer runs
// it as prepared (a table it reads changed shape under it, or the session
// lost it): the next call prepares it again. The server's copy is freed
// with the connection.
func (c *preparingConn) forget(query string, err error) {
	var pqErr *pq.Error
	if errors.As(err, &pqErr) && (pqErr.Code == "0A000" || pqErr.Code == "26000") {
		delete(c.stmts, query)
	}
}

func (c *preparingConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	st, err := c.stmt(ctx, query, args)
	if err != nil {
		return nil, err
	}
	if st == nil {
		return c.pqConn.QueryContext(ctx, query, args)
	}
	rows, err := st.(driver.StmtQueryContext).QueryContext(ctx, args)
	c.forget(query, err)
	return rows, err
}

func (c *preparingConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	st, err := c.stmt(ctx, query, args)
	if err != nil {
		return nil, err
	}
	if st == nil {
		return c.pqConn.ExecContext(ctx, query, args)
	}
	res, err := st.(driver.StmtExecContext).ExecContext(ctx, args)
	c.forget(query, err)
	return res, err
}
