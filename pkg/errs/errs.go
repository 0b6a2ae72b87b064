package errs

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// Kind classifies an error. Kinds are comparable sentinels: test with
// errors.Is(err, errs.NotFound).
type Kind struct {
	name   string
	status int
	code   string // default snake_case code for the JSON error body
	// poison marks failures that another attempt cannot fix: the message
	// itself is at fault, so a consumer dead-letters it instead of retrying.
	poison bool
}

func (k *Kind) Error() string { return k.name }

// Status is the HTTP status for this kind.
func (k *Kind) Status() int { return k.status }

// The kinds, and the one table that maps them. Retryable kinds are those
// where the same request may succeed later.
var (
	Invalid         = &Kind{name: "invalid", status: http.StatusBadRequest, code: "invalid_request", poison: true}
	Unauthenticated = &Kind{name: "unauthenticated", status: http.StatusUnauthorized, code: "unauthenticated", poison: true}
	Forbidden       = &Kind{name: "forbidden", status: http.StatusForbidden, code: "forbidden", poison: true}
	NotFound        = &Kind{name: "not found", status: http.StatusNotFound, code: "not_found", poison: true}
	Conflict        = &Kind{name: "conflict", status: http.StatusConflict, code: "conflict", poison: true}
	TooLarge        = &Kind{name: "too large", status: http.StatusRequestEntityTooLarge, code: "too_large", poison: true}
	Unprocessable   = &Kind{name: "unprocessable", status: http.StatusUnprocessableEntity, code: "invalid_value", poison: true}
	RateLimited     = &Kind{name: "rate limited", status: http.StatusTooManyRequests, code: "rate_limited"}
	Unavailable     = &Kind{name: "unavailable", status: http.StatusServiceUnavailable, code: "unavailable"}
	Internal        = &Kind{name: "internal", status: http.StatusInternalServerError, code: "internal"}
)

var kinds = []*Kind{Invalid, Unauthenticated, Forbidden, NotFound, Conflict, TooLarge, Unprocessable, RateLimited, Unavailable, Internal}

// Error is an error with a kind, a stable machine-readable code and a message
// written for the caller.
type Error struct {
	Kind    *Kind
	Code    string // snake_case, stable: clients branch on it
	Message string // a human sentence, safe to show to the caller
	Err     error  // optional cause, never shown to callers
	// Fields names each bad input field, for validation errors.
	Fields []FieldError
}

// FieldError is one invalid field and what is wrong with it.
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// Fields collects field errors; Err returns them as one Unprocessable error.
type Fields []FieldError

// Add records a problem with field.
func (f *Fields) Add(field, format string, args ...any) {
	*f = append(*f, FieldError{Field: field, Message: fmt.Sprintf(format, args...)})
}

// Err returns nil without problems, else an Unprocessable error with code
// whose message lists every field.
func (f Fields) Err(code string) error {
	if len(f) == 0 {
		return nil
	}
	parts := make([]string, len(f))
	for i, fe := range f {
		parts[i] = fe.Field + ": " + fe.Message
	}
	e := New(Unprocessable, code, strings.Join(parts, "; "))
	e.Fields = f
	return e
}

// FieldsOf returns the field errors carried by err, if any.
func FieldsOf(err error) []FieldError {
	var e *Error
	if errors.As(err, &e) {
		return e.Fields
	}
	return nil
}

// New returns an error of kind k with a code and a caller-facing message.
func New(k *Kind, code, message string) *Error {
	if code == "" {
		code = k.code
	}
	return &Error{Kind: k, Code: code, Message: message}
}

// Newf is New with a formatted message.
func Newf(k *Kind, code, format string, args ...any) *Error {
	return New(k, code, fmt.Sprintf(format, args...))
}

// Wrap gives cause a kind, keeping it in the chain for logs.
func Wrap(k *Kind, code, message string, cause error) *Error {
	e := New(k, code, message)
	e.Err = cause
	return e
}

func (e *Error) Error() string {
	if e.Err != nil {
		return e.Message + ": " + e.Err.Error()
	}
	return e.Message
}

func (e *Error) Unwrap() []error {
	if e.Err != nil {
		return []error{e.Kind, e.Err}
	}
	return []error{e.Kind}
}

// KindOf returns the kind of err, Internal when it has none.
func KindOf(err error) *Kind {
	for _, k := range kinds {
		if errors.Is(err, k) {
			return k
		}
	}
	return Internal
}

// HTTPStatus is the status code to answer err with.
func HTTPStatus(err error) int { return KindOf(err).status }

// Public returns the code and message a caller may see. Errors without a
// kind are internal: their text stays in the logs.
func Public(err error) (code, message string) {
	var e *Error
	if errors.As(err, &e) {
		return e.Code, e.Message
	}
	k := KindOf(err)
	if k == Internal {
		return k.code, "internal error; it has been logged"
	}
	return k.code, err.Error()
}

// Decision is what a consumer does with a message whose handling failed.
type Decision int

const (
	// Retry the message later: the failure is outside the message
	// (a database that is down, a timeout, a bug about to be fixed).
	Retry Decision = iota
	// DeadLetter the message: it can never succeed as it is.
	DeadLetter
)

func (d Decision) String() string {
	if d == DeadLetter {
		return "dead_letter"
	}
	return "retry"
}

// Decide says whether a failed message is retried or dead-lettered. Unknown
// errors are retried: losing money events to a transient bug is worse than a
// stalled partition that an alert will show.
func Decide(err error) Decision {
	if KindOf(err).poison {
		return DeadLetter
	}
	return Retry
}

// ClientGone reports whether err is the cancellation of ctx, the context
// of a request whose client went away while it ran: no one reads the
// answer, and it is no server error to log, alert on or count as a
// rejection.
func ClientGone(ctx context.Context, err error) bool {
	return ctx.Err() != nil && errors.Is(err, context.Canceled)
}
