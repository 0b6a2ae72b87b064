package devkafka

import (
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
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
	// Advertise is the host:port the broker names in its metadata, when
	// clients reach it through something in between (a fault-injecting
	// proxy in the chaos tests); empty advertises the address it listens on.
	// The cluster's ListenAddrs then report it too.
	Advertise string
}

// Start runs a single-node broker.
func Start(opts Options) (*kfake.Cluster, error) {
	kopts := []kfake.Opt{kfake.NumBrokers(1), kfake.ClusterID("linkcredit-dev")}
	if opts.Addr != "" {
		listen, err := listenFn(opts.Addr)
		if err != nil {
			return nil, err
		}
		if opts.Advertise != "" {
			listen = advertising(listen, opts.Advertise)
		}
		kopts = append(kopts, kfake.ListenFn(listen))
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

// listenFn binds exactly addr (kfake would pick 127.0.0.1:<port>), or,
// for "fd:N", serves on the socket inherited as descriptor N, as
// localstack hands it over so the port is never free in between.
func listenFn(addr string) (func(network, address string) (net.Listener, error), error) {
	if fd, ok := strings.CutPrefix(addr, "fd:"); ok {
		n, err := strconv.Atoi(fd)
		if err != nil || n < 3 {
			return nil, fmt.Errorf("devkafka: address %q: want fd:N with N >= 3", addr)
		}
		return func(string, string) (net.Listener, error) {
			f := os.NewFile(uintptr(n), addr)
			defer f.Close()
			return net.FileListener(f)
		}, nil
	}
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return nil, fmt.Errorf("devkafka: address %q: %w", addr, err)
	}
	return func(network, _ string) (net.Listener, error) { return net.Listen(network, addr) }, nil
}

// advertising makes the listeners listen return report addr as their
// address, which kfake puts in its metadata for clients to connect to.
func advertising(listen func(network, address string) (net.Listener, error), addr string) func(network, address string) (net.Listener, error) {
	return func(network, address string) (net.Listener, error) {
		ln, err := listen(network, address)
		if err != nil {
			return nil, err
		}
		tcp, err := net.ResolveTCPAddr("tcp", addr)
		if err != nil {
			ln.Close()
			return nil, fmt.Errorf("devkafka: advertised address %q: %w", addr, err)
		}
		return advertisedListener{Listener: ln, addr: tcp}, nil
	}
}

type advertisedListener struct {
	net.Listener
	addr net.Addr
}

func (l advertisedListener) Addr() net.Addr { return l.addr }
