package devkafka

import (
	"fmt"
	"io"
	"net"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
)

// Options configure a broker.
type Options struct {
	// Addr is the host:port to listen on; empty picks a free loopback port.
	Addr string
	// DataDir keeps topics and committed offsets across restarts; empty
	// keeps everything in memory.
	DataDir string
	// AutoCreateTopics creates a topic on first use, as Apache Kafka's
	// auto.create.topics.enable does.
	AutoCreateTopics bool
	// MinSessionTimeout lets tests use short consumer-group sessions, so a
	// rebalance after a consumer dies takes a second, not six.
	MinSessionTimeout time.Duration
	// Log receives the broker's warnings and errors; nil discards them.
	Log io.Writer
}

// Start runs a single-node broker.
func Start(opts Options) (*kfake.Cluster, error) {
	kopts := []kfake.Opt{kfake.NumBrokers(1), kfake.ClusterID("linkcredit-dev")}
	if opts.Addr != "" {
		addr := opts.Addr
		if _, _, err := net.SplitHostPort(addr); err != nil {
			return nil, fmt.Errorf("devkafka: address %q: %w", addr, err)
		}
		// kfake listens on 127.0.0.1:<port>; bind exactly what was asked.
		kopts = append(kopts, kfake.ListenFn(func(network, _ string) (net.Listener, error) {
			return net.Listen(network, addr)
		}))
	}
	if opts.DataDir != "" {
		kopts = append(kopts, kfake.DataDir(opts.DataDir))
	}
	if opts.AutoCreateTopics {
		kopts = append(kopts, kfake.AllowAutoTopicCreation())
	}
	if opts.MinSessionTimeout > 0 {
		kopts = append(kopts, kfake.GroupMinSessionTimeout(opts.MinSessionTimeout))
	}
	if opts.Log != nil {
		kopts = append(kopts, kfake.WithLogger(kfake.BasicLogger(opts.Log, kfake.LogLevelWarn)))
	}
	c, err := kfake.NewCluster(kopts...)
	if err != nil {
		return nil, fmt.Errorf("devkafka: start broker: %w", err)
	}
	return c, nil
}
