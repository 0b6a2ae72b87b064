package httpx

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"

	"github.com/linkcredit/linkcredit/pkg/errs"
	"github.com/linkcredit/linkcredit/pkg/strictjson"
)

// ErrorBody is the contract's error shape.
type ErrorBody struct {
	Error ErrorDetail `json:"error"`
}

// ErrorDetail is the inside of ErrorBody.
type ErrorDetail struct {
	Code    string            `json:"code"`
	Message string            `json:"message"`
	Fields  []errs.FieldError `json:"fields,omitempty"`
}

// WriteError answers err as JSON with the status of its kind. Internal
// errors are logged with their full text; the caller sees a generic message.
// A 503 tells the caller when to retry.
func WriteError(w http.ResponseWriter, r *http.Request, logger *slog.Logger, err error) {
	// The route pattern, not the path: a path is whatever a visitor typed.
	answerError(r.Context(), w, logger, err, "method", r.Method, "route", r.Pattern)
}

// StatusClientClosedRequest is what a request whose client hung up before
// its answer is counted as (nginx's 499): no one reads it, and it is not
// a server error to log, alert on or retry.
const StatusClientClosedRequest = 499

// WriteErrorCtx is WriteError for callers that have a context but not the
// request, such as go-kit error encoders.
func WriteErrorCtx(ctx context.Context, w http.ResponseWriter, logger *slog.Logger, err error) {
	answerError(ctx, w, logger, err)
}

// answerError is WriteError's and WriteErrorCtx's: 499 for a client gone,
// else the error's answer, a server error logged with attrs.
func answerError(ctx context.Context, w http.ResponseWriter, logger *slog.Logger, err error, attrs ...any) {
	if errs.ClientGone(ctx, err) {
		w.WriteHeader(StatusClientClosedRequest)
		return
	}
	if errs.HTTPStatus(err) >= 500 && logger != nil {
		logger.ErrorContext(ctx, "request failed", append(attrs, "error", err.Error())...)
	}
	writeError(w, err)
}

func writeError(w http.ResponseWriter, err error) {
	status := errs.HTTPStatus(err)
	code, message := errs.Public(err)
	if (status == http.StatusServiceUnavailable || status == http.StatusTooManyRequests) && w.Header().Get("Retry-After") == "" {
		w.Header().Set("Retry-After", "5") // unless the caller knows better (a rate limit's window)
	}
	WriteJSON(w, status, ErrorBody{Error: ErrorDetail{Code: code, Message: message, Fields: errs.FieldsOf(err)}})
}

// WriteJSON answers v as JSON with status.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false) // URLs keep their '&'; nosniff and the type keep browsers safe
	_ = enc.Encode(v)
}

// BodyTooLarge is the contract's 413 (body_too_large) for err when it is
// a body cap's error (http.MaxBytesReader, LimitBody), naming what was
// too large ("the body"); nil for any other err.
func BodyTooLarge(err error, what string) error {
	var mbe *http.MaxBytesError
	if !errors.As(err, &mbe) {
		return nil
	}
	return errs.Newf(errs.TooLarge, "body_too_large", "%s is larger than %d bytes", what, mbe.Limit)
}

// ReadBody reads at most limit bytes of the request body. A longer body is
// errs.TooLarge (413), whatever Content-Length claimed.
func ReadBody(r *http.Request, limit int64) ([]byte, error) {
	if r.ContentLength > limit {
		return nil, errs.Newf(errs.TooLarge, "body_too_large", "request body is larger than %d bytes", limit)
	}
	b, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	if err != nil {
		if tooLarge := BodyTooLarge(err, "request body"); tooLarge != nil {
			return nil, tooLarge
		}
		return nil, errs.Wrap(errs.Invalid, "unreadable_body", "the request body could not be read", err)
	}
	if int64(len(b)) > limit {
		return nil, errs.Newf(errs.TooLarge, "body_too_large", "request body is larger than %d bytes", limit)
	}
	return b, nil
}

// DecodeJSON reads a JSON body of at most limit bytes into v, refusing
// unknown fields and trailing data; malformed JSON is a 400.
func DecodeJSON(r *http.Request, limit int64, v any) error {
	b, err := ReadBody(r, limit)
	if err != nil {
		return err
	}
	return UnmarshalStrict(b, v)
}

// UnmarshalStrict decodes one JSON value into v; unknown fields, a wrong
// type or trailing data are errs.Invalid with a message naming the problem.
func UnmarshalStrict(b []byte, v any) error {
	return strictjson.Unmarshal(b, v, strictjson.Options{DisallowUnknownFields: true, DisallowRepeatedKeys: true})
}

// LimitBody caps every request body at n bytes.
func LimitBody(n int64, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, n)
		next.ServeHTTP(w, r)
	})
}
