package httpx

import (
	"context"
	"log/slog"
	"net/http"

	kithttp "github.com/go-kit/kit/transport/http"
)

// KitErrorEncoder is the go-kit error encoder every API route uses: the
// contract's JSON error, a body over its limit as 413, internal errors
// logged.
func KitErrorEncoder(logger *slog.Logger) kithttp.ErrorEncoder {
	return func(ctx context.Context, err error, w http.ResponseWriter) {
		if tooLarge := BodyTooLarge(err, "the body"); tooLarge != nil {
			err = tooLarge
		}
		WriteErrorCtx(ctx, w, logger, err)
	}
}

// KitEncodeJSON answers a go-kit response as JSON with status.
func KitEncodeJSON(status int) kithttp.EncodeResponseFunc {
	return func(_ context.Context, w http.ResponseWriter, resp any) error {
		WriteJSON(w, status, resp)
		return nil
	}
}
