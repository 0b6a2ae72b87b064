package httptransport

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// Large finance files are worked on a few at a time: one more than
// maxUploadsAtOnce is answered 429 with Retry-After, and a place frees
// when an upload ends (three 29 MB settlement files at once took
// reporting to 1.39 GB: a limits check).
func TestUploadsAFewAtATime(t *testing.T) {
	h := &handlers{logger: slog.New(slog.NewTextHandler(io.Discard, nil)), uploads: make(chan struct{}, maxUploadsAtOnce)}
	release, started := make(chan struct{}), make(chan struct{})
	slow := h.upload(func(w http.ResponseWriter, r *http.Request) {
		started <- struct{}{}
		<-release
		w.WriteHeader(http.StatusOK)
	})
	large := func() *http.Request {
		r := httptest.NewRequest("POST", "/v1/payouts/settlements/p", nil)
		r.ContentLength = smallUpload + 1
		return r
	}
	done := make(chan int, maxUploadsAtOnce)
	for range maxUploadsAtOnce {
		go func() {
			rec := httptest.NewRecorder()
			slow(rec, large())
			done <- rec.Code
		}()
		<-started
	}
	rec := httptest.NewRecorder()
	slow(rec, large())
	if rec.Code != http.StatusTooManyRequests || rec.Header().Get("Retry-After") == "" || !strings.Contains(rec.Body.String(), `"too_many_uploads"`) {
		t.Fatalf("one upload too many = %d %v %s, want 429 too_many_uploads with Retry-After", rec.Code, rec.Header(), rec.Body)
	}
	// A small request (a rate, a remittance in JSON) needs no place.
	quick := h.upload(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusOK) })
	rec = httptest.NewRecorder()
	quick(rec, httptest.NewRequest("PUT", "/v1/fx-rates", strings.NewReader(`[]`)))
	if rec.Code != http.StatusOK {
		t.Fatalf("a small request while the uploads are busy = %d, want 200", rec.Code)
	}
	close(release)
	for range maxUploadsAtOnce {
		if code := <-done; code != http.StatusOK {
			t.Fatalf("an upload within the limit = %d", code)
		}
	}
	go func() { <-started }()
	rec = httptest.NewRecorder()
	slow(rec, large())
	if rec.Code != http.StatusOK {
		t.Fatalf("after the others ended = %d, want 200", rec.Code)
	}
}
