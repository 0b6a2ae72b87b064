package errs

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"
)

func TestKindsMapToStatusAndDecision(t *testing.T) {
	tests := []struct {
		name     string
		err      error
		status   int
		decision Decision
		code     string
	}{
		{"invalid", New(Invalid, "bad_json", "body is not JSON"), http.StatusBadRequest, DeadLetter, "bad_json"},
		{"wrapped unprocessable", fmt.Errorf("decode: %w", New(Unprocessable, "", "negative")), http.StatusUnprocessableEntity, DeadLetter, "invalid_value"},
		{"not found", New(NotFound, "unknown_link", "no such link"), http.StatusNotFound, DeadLetter, "unknown_link"},
		{"conflict", New(Conflict, "", "x"), http.StatusConflict, DeadLetter, "conflict"},
		{"too large", New(TooLarge, "", "x"), http.StatusRequestEntityTooLarge, DeadLetter, "too_large"},
		{"unauthenticated", New(Unauthenticated, "", "x"), http.StatusUnauthorized, DeadLetter, "unauthenticated"},
		{"forbidden", New(Forbidden, "", "x"), http.StatusForbidden, DeadLetter, "forbidden"},
		{"rate limited", New(RateLimited, "", "x"), http.StatusTooManyRequests, Retry, "rate_limited"},
		{"unavailable", Wrap(Unavailable, "", "database down", errors.New("dial tcp")), http.StatusServiceUnavailable, Retry, "unavailable"},
		{"bare kind", fmt.Errorf("lookup: %w", NotFound), http.StatusNotFound, DeadLetter, "not_found"},
		{"plain error is internal", errors.New("boom"), http.StatusInternalServerError, Retry, "internal"},
		{"context canceled is internal", context.Canceled, http.StatusInternalServerError, Retry, "internal"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := HTTPStatus(tt.err); got != tt.status {
				t.Errorf("HTTPStatus = %d, want %d", got, tt.status)
			}
			if got := Decide(tt.err); got != tt.decision {
				t.Errorf("Decide = %v, want %v", got, tt.decision)
			}
			if code, _ := Public(tt.err); code != tt.code {
				t.Errorf("code = %q, want %q", code, tt.code)
			}
		})
	}
}

func TestPublicHidesInternalText(t *testing.T) {
	_, msg := Public(errors.New("pq: password authentication failed for user x"))
	if msg != "internal error; it has been logged" {
		t.Fatalf("internal text leaked: %q", msg)
	}
}

func TestWrapKeepsCause(t *testing.T) {
	cause := errors.New("connection refused")
	err := Wrap(Unavailable, "", "database unavailable", cause)
	if !errors.Is(err, cause) || !errors.Is(err, Unavailable) {
		t.Fatal("Wrap lost the cause or the kind")
	}
	if err.Error() != "database unavailable: connection refused" {
		t.Fatalf("Error() = %q", err.Error())
	}
}

func TestFields(t *testing.T) {
	var f Fields
	if f.Err("invalid_link") != nil {
		t.Fatal("no fields gave an error")
	}
	f.Add("destination", "must be an absolute https URL")
	f.Add("code", "must match %s", "[A-Za-z0-9_-]{1,64}")
	err := f.Err("invalid_link")
	if HTTPStatus(err) != 422 || len(FieldsOf(err)) != 2 {
		t.Fatalf("err = %v", err)
	}
	if code, msg := Public(err); code != "invalid_link" || msg != "destination: must be an absolute https URL; code: must match [A-Za-z0-9_-]{1,64}" {
		t.Fatalf("Public = %q, %q", code, msg)
	}
}
