package httpx

import "testing"

// BenchmarkRewriteCheck is what every write through Serve's connections
// pays to look for net/http's own plain answers: a redirect's 302 here.
func BenchmarkRewriteCheck(b *testing.B) {
	resp := []byte("HTTP/1.1 302 Found\r\nCache-Control: no-store\r\nLocation: https://www.coursera.org/learn/ml?clickid=01M7W68T3SQ8ZK4TW3N6B0RX5M2H9D7PJC\r\n" +
		"X-Click-Id: 01M7W68T3SQ8ZK4TW3N6B0RX5M2H9D7PJC\r\nDate: Sat, 05 Dec 2026 22:00:00 GMT\r\nContent-Length: 0\r\n\r\n")
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := rewritePlainError(resp, 32<<10); ok {
			b.Fatal("rewritten")
		}
	}
}
