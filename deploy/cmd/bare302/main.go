// Command bare302 is the yardstick for the redirect benchmark: a bare
// net/http server that answers GET /c/{code} with a 302 from a map and
// does nothing else. ADDR sets where it listens (default 127.0.0.1:8090);
// LINKS_FILE, when set, holds its links, one "code destination" a line (as
// `make bench` writes the links it created), else c0..c999.
package main

import (
	"bufio"
	"fmt"
	"net/http"
	"os"
	"strings"
)

func main() {
	addr := os.Getenv("ADDR")
	if addr == "" {
		addr = "127.0.0.1:8090"
	}
	links := map[string]string{}
	for i := range 1000 {
		links[fmt.Sprintf("c%d", i)] = fmt.Sprintf("https://www.coursera.org/learn/course-%d", i)
	}
	if path := os.Getenv("LINKS_FILE"); path != "" {
		f, err := os.Open(path)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if code, dest, ok := strings.Cut(sc.Text(), " "); ok {
				links[code] = dest
			}
		}
		f.Close()
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /c/{code}", func(w http.ResponseWriter, r *http.Request) {
		dest, ok := links[r.PathValue("code")]
		if !ok {
			http.NotFound(w, r)
			return
		}
		http.Redirect(w, r, dest, http.StatusFound)
	})
	if err := http.ListenAndServe(addr, mux); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
