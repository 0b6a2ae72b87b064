// Command faultproxy is the chaos tests' fault-injecting TCP proxy as a
// program, for trying faults by hand on loopback:
//
//	faultproxy -listen 127.0.0.1:19092 -target 127.0.0.1:9092 -control 127.0.0.1:19093
//	curl -X POST '127.0.0.1:19093/cut?mode=blackhole'   # or mode=reset
//	curl -X POST 127.0.0.1:19093/restore
//
// Put it between services and a dev broker started with
// KAFKA_ADVERTISED_ADDR set to -listen, so clients never go around it.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/linkcredit/linkcredit/deploy/faultproxy"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "faultproxy:", err)
		os.Exit(2)
	}
}

func run(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("faultproxy", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:0", "where to listen (loopback)")
	targets := fs.String("target", "", "comma-separated host:port targets, used in turn (loopback)")
	control := fs.String("control", "127.0.0.1:0", "where POST /cut?mode=reset|blackhole and POST /restore are served (loopback)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	p, err := faultproxy.Start(*listen, strings.Split(*targets, ",")...)
	if err != nil {
		return err
	}
	defer p.Close()
	mux := http.NewServeMux()
	mux.HandleFunc("POST /cut", func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Query().Get("mode") {
		case "", "reset":
			p.Cut(faultproxy.Reset)
		case "blackhole":
			p.Cut(faultproxy.Blackhole)
		default:
			http.Error(w, `{"error":{"code":"invalid_mode","message":"mode is reset or blackhole"}}`, http.StatusUnprocessableEntity)
			return
		}
		fmt.Fprintln(w, "cut")
	})
	mux.HandleFunc("POST /restore", func(w http.ResponseWriter, r *http.Request) {
		p.Restore()
		fmt.Fprintln(w, "restored")
	})
	if _, err := faultproxy.Start(*control, "127.0.0.1:1"); err != nil { // the same loopback check
		return fmt.Errorf("-control: %w", err)
	}
	srv := &http.Server{Addr: *control, Handler: mux}
	fmt.Fprintf(out, "faultproxy: %s -> %s; control on http://%s\n", p.Addr(), *targets, *control)
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	select {
	case <-ctx.Done():
		return srv.Close()
	case err := <-errc:
		return err
	}
}
