package httptransport_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/linkcredit/linkcredit/pkg/clickid"
	"github.com/linkcredit/linkcredit/pkg/httpx"
	"github.com/linkcredit/linkcredit/services/redirect/internal/clicklog"
	"github.com/linkcredit/linkcredit/services/redirect/internal/httptransport"
	"github.com/linkcredit/linkcredit/services/redirect/internal/kafkatransport"
	"github.com/linkcredit/linkcredit/services/redirect/internal/linktable"
	"github.com/linkcredit/linkcredit/services/redirect/internal/redirect"
	"github.com/linkcredit/linkcredit/services/redirect/internal/visitor"
)

type salts struct{}

func (salts) Salt(_ context.Context, _ string, offer []byte) ([]byte, error) { return offer, nil }
func (salts) Forget(context.Context, string) error                           { return nil }

// handler is the whole click path but the network: table lookup, visitor
// hash, rate limit, bot verdict, unique window, click id, macro fill, the
// event's JSON and its append to a real click log on disk.
func handler(tb testing.TB) http.Handler {
	h, _ := handlerAndLog(tb, 1<<30)
	return h
}

// handlerAndLog is handler with a rate limit, and the click log it
// appends to.
func handlerAndLog(tb testing.TB, perMinute int) (http.Handler, *clicklog.Log) {
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	log, err := clicklog.Open(clicklog.Options{Dir: tb.TempDir(), MaxBytes: 1 << 40})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { log.Close() })
	table := linktable.New(1000)
	for i := range 1000 {
		table.Put(linktable.Link{Code: fmt.Sprintf("c%d", i), Partner: "coursera", CourseID: fmt.Sprintf("course-%d", i),
			Destination: "https://www.coursera.org/learn/course?clickid={click_id}&c={course_id}", Active: true})
	}
	ids, _ := clickid.NewSigner([]byte("bench-key-0123456789abcdef"))
	visitors := visitor.NewHasher(salts{}, logger)
	visitors.Refresh(context.Background(), time.Now())
	svc := redirect.New(redirect.Config{RateLimitPerMinute: perMinute, RateLimitPerIPPerMinute: perMinute}, redirect.Deps{
		Table: table, IDs: ids, Visitors: visitors, Logger: logger, Recorder: kafkatransport.NewRecorder(log, nil)})
	rt := httpx.NewRouter()
	tokens, _ := httpx.ParseTokens(benchToken, "")
	httptransport.Register(rt, redirect.MakeEndpoints(svc, nil), httptransport.Options{Tokens: tokens, Logger: logger})
	return rt, log
}

func BenchmarkClickHandler(b *testing.B) {
	h := handler(b)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		req := httptest.NewRequest("GET", "/c/c42?utm_source=news&placement=hero", nil)
		req.Header.Set("User-Agent", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36")
		req.RemoteAddr = "203.0.113.7:5555"
		for pb.Next() {
			w := httptest.NewRecorder()
			h.ServeHTTP(w, req)
			if w.Code != http.StatusFound {
				b.Fatalf("status %d", w.Code)
			}
		}
	})
}

func BenchmarkNotFound(b *testing.B) {
	h := handler(b)
	req := httptest.NewRequest("GET", "/c/missing", nil)
	req.Header.Set("Accept", "application/json")
	b.ReportAllocs()
	for b.Loop() {
		h.ServeHTTP(httptest.NewRecorder(), req)
	}
}

// benchToken is a bearer token of the length services require.
const benchToken = "bench-token-0123456789abcdefghijklmn"
