// Command devbroker runs an embedded Kafka-protocol broker (franz-go's
// kfake) for the local stack: one node on KAFKA_ADDR (default
// 127.0.0.1:9092), keeping topics and committed offsets under DATA_DIR so
// they survive a restart. KAFKA_ADVERTISED_ADDR, when set, is the address
// it names in metadata (a proxy in front of it). Any Kafka client (kcat, kafka-go, franz-go) can
// use it. It is a development tool: production runs Apache Kafka.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/linkcredit/linkcredit/pkg/cli"
	"github.com/linkcredit/linkcredit/pkg/config"
	"github.com/linkcredit/linkcredit/pkg/devkafka"
)

func main() {
	const usage = "usage: devbroker   a Kafka-protocol broker (franz-go's kfake) for make run;\n" +
		"       configured by the environment: KAFKA_ADDR (127.0.0.1:9092), DATA_DIR (.run/kafka), KAFKA_AUTO_CREATE_TOPICS (false)\n"
	if code, answered := cli.NoArguments(os.Args[1:], os.Stdout, os.Stderr, usage); answered {
		os.Exit(code)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "devbroker:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, getenv func(string) string, stdout, stderr io.Writer) error {
	env := config.New(getenv)
	addr := env.Addr("KAFKA_ADDR", "127.0.0.1:9092")
	dataDir := env.String("DATA_DIR", ".run/kafka")
	autoCreate := env.Bool("KAFKA_AUTO_CREATE_TOPICS", false)
	advertise := env.String("KAFKA_ADVERTISED_ADDR", "") // a proxy in front of the broker (chaos tests)
	if err := env.Err(); err != nil {
		return err
	}
	abs, err := filepath.Abs(dataDir)
	if err != nil {
		return err
	}
	cluster, err := devkafka.Start(devkafka.Options{Addr: addr, DataDir: abs, AutoCreateTopics: autoCreate, Log: stderr, Advertise: advertise})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "devbroker: listening on %s, data in %s\n", addr, abs)
	<-ctx.Done()
	cluster.Close() // flushes segments and offsets to DataDir
	fmt.Fprintln(stdout, "devbroker: stopped")
	return nil
}
