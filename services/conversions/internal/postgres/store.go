package postgres

import (
	"bytes"
	"context"
	"crypto/subtle"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"maps"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/lib/pq"

	"github.com/linkcredit/linkcredit/pkg/database"
	"github.com/linkcredit/linkcredit/pkg/errs"
	"github.com/linkcredit/linkcredit/pkg/events"
	"github.com/linkcredit/linkcredit/services/conversions/internal/adapter"
	"github.com/linkcredit/linkcredit/services/conversions/internal/conversion"
)

// Store keeps partners, the inbox and the outbox.
type Store struct {
	db              *sql.DB
	batches         batcher
	mu              sync.Mutex
	acceptStmt      *sql.Stmt // acceptSQL
	acceptTxStmt    *sql.Stmt // acceptTxSQL
	acceptBatchStmt *sql.Stmt // acceptBatchSQL
}

// New returns the store.
func New(db *sql.DB) *Store {
	s := &Store{db: db}
	s.batches = batcher{lanes: batchLanes, max: batchMax, spill: batchSpill, spillAfter: batchSpillAfter, run: s.runBatch}
	return s
}

var errPartnerNotFound = errs.New(errs.NotFound, "partner_not_found", "no partner has this id")

// PutPartner creates or replaces a partner. Nil secrets or token digest
// keep the stored ones (they cannot be read back, so a client cannot
// resend them).
func (s *Store) PutPartner(ctx context.Context, p conversion.StoredPartner) (conversion.StoredPartner, bool, error) {
	mapping, err := json.Marshal(p.Mapping)
	if err != nil {
		return p, false, err
	}
	var secrets any
	if p.SealedSecrets != nil {
		secrets = pq.ByteaArray(p.SealedSecrets)
	}
	// The times come from the service's clock (p.UpdatedAt), not the
	// database's now(): tests run the service at a fixed instant.
	row := s.db.QueryRowContext(ctx, `
		INSERT INTO conversions.partners AS p (id, name, currency, max_amount, mapping, webhook_secrets, postback_token_digest, created_at, updated_at)
		VALUES ($1, $2, $3, $8, $4, COALESCE($5::bytea[], '{}'), $6, $7, $7)
		ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, currency = EXCLUDED.currency, max_amount = EXCLUDED.max_amount,
			mapping = EXCLUDED.mapping, webhook_secrets = COALESCE($5::bytea[], p.webhook_secrets),
			postback_token_digest = COALESCE($6, p.postback_token_digest), updated_at = EXCLUDED.updated_at
		RETURNING `+partnerColumns+`, (xmax = 0)`,
		p.ID, p.Name, p.Currency, string(mapping), secrets, p.TokenDigest, p.UpdatedAt, p.MaxAmount.String())
	var created bool
	out, err := scanPartner(row, &created)
	if err != nil {
		return out, false, database.Classify(fmt.Errorf("put partner %s: %w", p.ID, err))
	}
	return out, created, nil
}

const partnerColumns = `p.id, p.name, p.currency, p.max_amount::text, p.mapping, p.webhook_secrets, p.postback_token_digest, p.created_at, p.updated_at`

func scanPartner(row interface{ Scan(...any) error }, extra ...any) (conversion.StoredPartner, error) {
	var p conversion.StoredPartner
	var maxAmount string
	var mapping []byte
	var secrets pq.ByteaArray
	dest := append([]any{&p.ID, &p.Name, &p.Currency, &maxAmount, &mapping, &secrets, &p.TokenDigest, &p.CreatedAt, &p.UpdatedAt}, extra...)
	if err := row.Scan(dest...); err != nil {
		return p, err
	}
	p.SealedSecrets = secrets
	p.CreatedAt, p.UpdatedAt = p.CreatedAt.UTC(), p.UpdatedAt.UTC()
	// The column holds what the service wrote after checking it, or the
	// migration's default; a value the service would not write now (a
	// hand edit) is an error, not a silently different ceiling.
	var err error
	if p.MaxAmount, err = adapter.ParseMaxAmount(maxAmount, p.Currency); err != nil {
		return p, fmt.Errorf("partner %s: max_amount %s: %w", p.ID, maxAmount, err)
	}
	return p, json.Unmarshal(mapping, &p.Mapping)
}

// GetPartner returns a partner. It returns once ctx ends, whether the
// database answered or not (detach): a webhook's partner is looked up on
// the way to storing it.
func (s *Store) GetPartner(ctx context.Context, id string) (conversion.StoredPartner, error) {
	p, err := detach(ctx, func() (conversion.StoredPartner, error) {
		return scanPartner(s.db.QueryRowContext(ctx, `SELECT `+partnerColumns+` FROM conversions.partners p WHERE id = $1`, id))
	})
	if errors.Is(err, sql.ErrNoRows) {
		return p, errPartnerNotFound
	}
	return p, database.Classify(err)
}

// ListPartners returns every partner, by id.
func (s *Store) ListPartners(ctx context.Context) ([]conversion.StoredPartner, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+partnerColumns+` FROM conversions.partners p ORDER BY id`)
	if err != nil {
		return nil, database.Classify(err)
	}
	defer rows.Close()
	var out []conversion.StoredPartner
	for rows.Next() {
		p, err := scanPartner(rows)
		if err != nil {
			return nil, database.Classify(err)
		}
		out = append(out, p)
	}
	return out, database.Classify(rows.Err())
}

// acceptSQL stores a request and its event in one statement, which is
// its own transaction: one round trip to the database per request, where
// BEGIN, the number, the rows and COMMIT took four. In order, it takes the
// conversion's advisory lock ($1) for the rest of the transaction, then
// the next acceptance number (contract v1.1, "Status order"); stores the
// request with that number unless its idempotency key is taken; and, only
// when it did, stores the event, whose value is $12, the number in
// decimal, then $13 (splitValue). The lock is released when the
// transaction ends, after its commit is durable, so two requests of one
// conversion commit in the order of their numbers; requests of other
// conversions do not wait (a hash collision only makes two conversions
// take turns). received_at is the event's (the service's clock), so a
// replay rebuilds the same times.
const acceptSQL = `
	WITH numbered AS (
		SELECT nextval('conversions.accepted_seq') AS seq FROM (SELECT pg_advisory_xact_lock($1)) AS locked),
	ins AS (
		INSERT INTO conversions.inbox (partner, idempotency_key, body_hash, event_id, source, method, headers, query, body, received_at, accepted_seq)
		SELECT $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, numbered.seq FROM numbered
		ON CONFLICT (partner, idempotency_key) DO NOTHING
		RETURNING id, accepted_seq),
	out AS (
		INSERT INTO conversions.outbox (topic, key, value, headers, inbox_id)
		SELECT $14, $15, $12::bytea || convert_to(ins.accepted_seq::text, 'UTF8') || $13::bytea, $16, ins.id FROM ins
		RETURNING id)
	SELECT count(*) FROM out`

// acceptTxSQL is acceptSQL's store step for a message that splitValue
// cannot split: the number is taken first (numberSQL) in a transaction,
// the message built with it, then both rows stored.
const acceptTxSQL = `
	WITH ins AS (
		INSERT INTO conversions.inbox (partner, idempotency_key, body_hash, event_id, source, method, headers, query, body, received_at, accepted_seq)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $14, $15)
		ON CONFLICT (partner, idempotency_key) DO NOTHING
		RETURNING id),
	out AS (
		INSERT INTO conversions.outbox (topic, key, value, headers, inbox_id)
		SELECT $10, $11, $12, $13, ins.id FROM ins
		RETURNING id)
	SELECT count(*) FROM out`

// numberSQL takes the conversion's lock for the rest of the transaction,
// then the next acceptance number, as acceptSQL does.
const numberSQL = `SELECT nextval('conversions.accepted_seq') FROM (SELECT pg_advisory_xact_lock($1)) AS locked`

// conversionLock is the advisory lock key of a conversion.
func conversionLock(partner, orderID string) int64 {
	h := fnv.New64a()
	h.Write([]byte("linkcredit.conversions.accept\x00" + partner + "\x00" + orderID))
	return int64(h.Sum64())
}

// Two stand-in acceptance numbers splitValue builds a message with: no
// real number reaches them (the sequence would take centuries), and they
// are as long as an int64 gets, so a coincidence in the rest of a message
// is unlikely, and checked for.
const (
	seqMarkA int64 = math.MaxInt64
	seqMarkB int64 = math.MaxInt64 - 1
)

// splitValue builds the message with a stand-in number and returns it
// with its value cut around the number, so that the database can put the
// real one in: build(n).Value is prefix + decimal(n) + suffix. ok is false
// when the message does not have that shape (the stand-in is not in the
// value exactly once, is also in its key or headers, or a message built
// with another number is not the same with that number in its place):
// then the caller must build it once the number is known. An error is
// build's.
func splitValue(build conversion.MessageBuilder) (msg conversion.OutboxMessage, prefix, suffix []byte, ok bool, err error) {
	if msg, err = build(seqMarkA); err != nil {
		return msg, nil, nil, false, err
	}
	markA := strconv.AppendInt(nil, seqMarkA, 10)
	i := bytes.Index(msg.Value, markA)
	if i < 0 || bytes.Contains(msg.Value[i+1:], markA) || bytes.Contains(msg.Key, markA) || strings.Contains(msg.Topic, string(markA)) {
		return msg, nil, nil, false, nil
	}
	for k, v := range msg.Headers {
		if strings.Contains(k, string(markA)) || strings.Contains(v, string(markA)) {
			return msg, nil, nil, false, nil
		}
	}
	prefix, suffix = msg.Value[:i], msg.Value[i+len(markA):]
	other, err := build(seqMarkB)
	if err != nil {
		return msg, nil, nil, false, err
	}
	markB := strconv.AppendInt(nil, seqMarkB, 10)
	if len(other.Value) != len(prefix)+len(markB)+len(suffix) || !bytes.HasPrefix(other.Value, prefix) ||
		!bytes.HasSuffix(other.Value, suffix) || !bytes.Equal(other.Value[len(prefix):len(prefix)+len(markB)], markB) ||
		other.Topic != msg.Topic || !bytes.Equal(other.Key, msg.Key) || !maps.Equal(other.Headers, msg.Headers) {
		return msg, nil, nil, false, nil
	}
	return msg, prefix, suffix, true, nil
}

// Accept stores a request and its event atomically, unless the idempotency
// key is taken: then it compares bodies. The conversion is locked, the
// request numbered, and both rows stored in one transaction, which for an
// event splitValue can cut is shared with the requests that arrive with it
// (acceptBatched); it returns once that committed (or failed): a 2xx may
// be sent only after it. Or once ctx ends, whether the database answered
// or not: then the error is a 503, and the transaction may still commit,
// which a retry with the same key finds (a duplicate). A batched request
// waits for its batch on the caller's goroutine, which leaves at once when
// ctx ends; every other step that talks to the database runs detached
// (detach).
func (s *Store) Accept(ctx context.Context, in conversion.InboxEntry, build conversion.MessageBuilder) (conversion.Receipt, error) {
	r, err := s.accept(ctx, in, build)
	if err != nil && (errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled)) {
		return r, unavailable(err)
	}
	return r, err
}

func (s *Store) accept(ctx context.Context, in conversion.InboxEntry, build conversion.MessageBuilder) (conversion.Receipt, error) {
	if in.Headers == nil {
		in.Headers = map[string]string{} // "{}", never a JSON null
	}
	headers := events.AppendStringMap(nil, in.Headers)
	msg, prefix, suffix, split, err := splitValue(build)
	if err != nil {
		return conversion.Receipt{}, err
	}
	var inserted int
	if split {
		inserted, err = s.acceptBatched(ctx, newAcceptRequest(ctx, in, string(headers), msg, prefix, suffix))
	} else {
		inserted, err = detach(ctx, func() (int, error) { return s.acceptTx(ctx, in, string(headers), build) })
	}
	if err != nil {
		return conversion.Receipt{}, err
	}
	if inserted == 1 {
		return conversion.Receipt{EventID: in.EventID}, nil
	}
	return detach(ctx, func() (conversion.Receipt, error) { return s.storedAs(ctx, in) })
}

// storedAs answers a request whose idempotency key was taken: a duplicate
// of the stored request with the same body, or a conflict.
func (s *Store) storedAs(ctx context.Context, in conversion.InboxEntry) (conversion.Receipt, error) {
	var hash []byte
	var eventID string
	if err := s.db.QueryRowContext(ctx, `SELECT body_hash, event_id FROM conversions.inbox WHERE partner = $1 AND idempotency_key = $2`,
		in.Partner, in.IdempotencyKey).Scan(&hash, &eventID); err != nil {
		return conversion.Receipt{}, unavailable(err)
	}
	same := subtle.ConstantTimeCompare(hash, in.BodyHash) == 1 ||
		in.LegacyHash != nil && subtle.ConstantTimeCompare(hash, in.LegacyHash) == 1
	if !same {
		return conversion.Receipt{}, conversion.ErrIdempotencyConflict
	}
	return conversion.Receipt{EventID: eventID, Duplicate: true}, nil
}

// newAcceptRequest is a request with its event cut around the number, in
// the form both acceptBatched and acceptOne store it.
func newAcceptRequest(ctx context.Context, in conversion.InboxEntry, headers string, msg conversion.OutboxMessage, prefix, suffix []byte) *acceptRequest {
	msgHeaders := events.AppendStringMap(nil, msg.Headers)
	if prefix == nil {
		prefix = []byte{} // NOT NULL: an empty bytea, not a NULL
	}
	if suffix == nil {
		suffix = []byte{}
	}
	return &acceptRequest{ctx: ctx, in: in, headers: headers, msg: msg, msgHeaders: string(msgHeaders), prefix: prefix, suffix: suffix}
}

// acceptBatched stores the request in a batch with the requests that
// arrive with it (batch.go) and returns the number of events it stored
// (0: the key was taken). A request whose batch was refused for its sake
// is stored alone (acceptOne), to learn whether the cause is its own.
func (s *Store) acceptBatched(ctx context.Context, r *acceptRequest) (int, error) {
	if r.in.Body == nil || r.in.BodyHash == nil || r.msg.Key == nil {
		// A NULL: acceptSQL refuses it (422) where an array of bytea would
		// carry an empty value. The service sends none.
		return s.acceptOneDetached(ctx, r)
	}
	var res batchResult
	select {
	case res = <-s.batches.submit(r):
	case <-ctx.Done():
		// A lane that has not taken the request yet drops it; one that
		// has may still commit it: a retry then finds it stored, a
		// duplicate with the same event id.
		return 0, unavailable(ctx.Err())
	}
	switch {
	case res.alone:
		return s.acceptOneDetached(ctx, r)
	case res.err != nil:
		return 0, unavailable(res.err)
	case res.stored:
		return 1, nil
	}
	return 0, nil
}

// acceptOneDetached is acceptOne run detached (detach): it returns once
// ctx ends, whether the database answered or not.
func (s *Store) acceptOneDetached(ctx context.Context, r *acceptRequest) (int, error) {
	return detach(ctx, func() (int, error) { return s.acceptOne(ctx, r) })
}

// acceptOne runs acceptSQL and returns the number of events it stored (0:
// the key was taken). Row.Scan returns only once the statement's
// transaction ended: it reads the server's answer up to ReadyForQuery,
// which comes after the commit, and returns an error if the commit
// failed.
func (s *Store) acceptOne(ctx context.Context, r *acceptRequest) (int, error) {
	stmt, err := s.prepared(ctx, &s.acceptStmt, acceptSQL)
	if err != nil {
		return 0, unavailable(err)
	}
	in := r.in
	var inserted int
	if err := stmt.QueryRowContext(ctx, conversionLock(in.Partner, in.OrderID), in.Partner, in.IdempotencyKey, in.BodyHash,
		in.EventID, in.Source, in.Method, r.headers, in.Query, in.Body, in.ReceivedAt, r.prefix, r.suffix,
		r.msg.Topic, r.msg.Key, r.msgHeaders).Scan(&inserted); err != nil {
		return 0, unavailable(err)
	}
	return inserted, nil
}

// acceptTx is Accept for a message that must be built with its number:
// a transaction that takes the lock and the number, builds, and stores.
func (s *Store) acceptTx(ctx context.Context, in conversion.InboxEntry, headers string, build conversion.MessageBuilder) (int, error) {
	stmt, err := s.prepared(ctx, &s.acceptTxStmt, acceptTxSQL)
	if err != nil {
		return 0, unavailable(err)
	}
	var inserted int
	var buildErr error
	err = database.Transact(ctx, s.db, nil, func(tx *sql.Tx) error {
		var seq int64
		if err := tx.QueryRowContext(ctx, numberSQL, conversionLock(in.Partner, in.OrderID)).Scan(&seq); err != nil {
			return err
		}
		msg, err := build(seq)
		if err != nil {
			buildErr = err
			return err
		}
		msgHeaders := events.AppendStringMap(nil, msg.Headers)
		return tx.StmtContext(ctx, stmt).QueryRowContext(ctx, in.Partner, in.IdempotencyKey, in.BodyHash, in.EventID, in.Source,
			in.Method, headers, in.Query, in.Body, msg.Topic, msg.Key, msg.Value, string(msgHeaders), in.ReceivedAt,
			seq).Scan(&inserted)
	})
	if buildErr != nil {
		return 0, buildErr
	}
	if err != nil {
		return 0, unavailable(err)
	}
	return inserted, nil
}

// prepared returns the statement *stmt holds, preparing query first when
// it holds none: once per pool (database/sql prepares it on each
// connection as it is first used there). The lock is not held while
// preparing: a prepare the database never answers would otherwise stop
// every caller at the lock, where no context reaches them; two callers
// that prepare at once keep the first statement and close the other.
func (s *Store) prepared(ctx context.Context, stmt **sql.Stmt, query string) (*sql.Stmt, error) {
	s.mu.Lock()
	have := *stmt
	s.mu.Unlock()
	if have != nil {
		return have, nil
	}
	p, err := s.db.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if *stmt != nil {
		_ = p.Close()
		return *stmt, nil
	}
	*stmt = p
	return p, nil
}

// detach runs f on a goroutine of its own and returns its result, or
// ctx's error once ctx ends first. lib/pq does not return from a read on
// a server that accepts TCP but never answers (a frozen PostgreSQL, a
// network partition) when the context ends, and a partner's request must
// be answered anyway. f must use ctx for everything it does, so that what
// it does not need the database for ends with ctx: then the goroutines
// left behind are those inside the driver, each holding a connection of
// the pool, so the pool's size (DB_MAX_CONNS) bounds them, and the batch
// lanes (batchLanes); those waiting for a connection, a batch or a lock
// return with ctx. Each ends when its connection answers or breaks.
func detach[T any](ctx context.Context, f func() (T, error)) (T, error) {
	if ctx.Done() == nil {
		return f() // nothing ends the wait: spare the goroutine
	}
	type result struct {
		v   T
		err error
	}
	done := make(chan result, 1) // buffered: a late f never blocks
	go func() {
		v, err := f()
		done <- result{v, err}
	}()
	select {
	case r := <-done:
		return r.v, r.err
	case <-ctx.Done():
		select {
		case r := <-done: // it finished as ctx ended: its answer stands
			return r.v, r.err
		default:
		}
		var zero T
		return zero, ctx.Err()
	}
}

// unavailable turns a storage failure into a 503: the event is not
// durable, the partner must retry, and nothing about it was accepted. A
// value Postgres refuses (database.IsDataError) would be refused on every
// retry, so it is a 422 instead; the service's checks are meant to leave
// none for it to refuse.
func unavailable(err error) error {
	if errors.Is(err, errs.Unavailable) {
		return err
	}
	if database.IsDataError(err) {
		return errs.Wrap(errs.Unprocessable, "invalid_value", "a value in this request cannot be stored", err)
	}
	return errs.Wrap(errs.Unavailable, "not_durable", "the event could not be stored; retry later", err)
}

// InboxRow is a stored request, for replay.
type InboxRow struct {
	ID             int64
	Partner        string
	IdempotencyKey string
	EventID        string
	Source         string
	Headers        map[string]string
	Query          string
	Body           []byte
	ReceivedAt     time.Time
	AcceptedSeq    int64 // 0: stored before contract v1.1
}

// Inbox calls fn for each stored request of partner ("" for all) received
// since the given time, in order.
func (s *Store) Inbox(ctx context.Context, partner string, since time.Time, fn func(InboxRow) error) error {
	rows, err := s.db.QueryContext(ctx, `SELECT id, partner, idempotency_key, event_id, source, headers, query, body, received_at,
			coalesce(accepted_seq, 0)
		FROM conversions.inbox WHERE ($1 = '' OR partner = $1) AND received_at >= $2 ORDER BY id`, partner, since)
	if err != nil {
		return database.Classify(err)
	}
	defer rows.Close()
	for rows.Next() {
		var r InboxRow
		var headers []byte
		if err := rows.Scan(&r.ID, &r.Partner, &r.IdempotencyKey, &r.EventID, &r.Source, &headers, &r.Query, &r.Body, &r.ReceivedAt, &r.AcceptedSeq); err != nil {
			return err
		}
		_ = json.Unmarshal(headers, &r.Headers)
		if err := fn(r); err != nil {
			return err
		}
	}
	return database.Classify(rows.Err())
}
