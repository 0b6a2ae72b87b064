package devkafka

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
)

// TestDataDirKeepsTopicsAndOffsets restarts the broker on the same address
// and directory: messages and the group's committed offset are still there.
func TestDataDirKeepsTopicsAndOffsets(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	c, err := Start(Options{Addr: "127.0.0.1:0", DataDir: dir, AutoCreateTopics: true, MinSessionTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	addr := c.ListenAddrs()[0] // the restart below binds it again
	if got := c.ListenAddrs(); len(got) != 1 || got[0] != addr || strings.HasSuffix(addr, ":0") {
		t.Fatalf("listening on %v, want %s", got, addr)
	}
	w := &kafka.Writer{Addr: kafka.TCP(addr), Topic: "t", Balancer: &kafka.Hash{}, BatchTimeout: time.Millisecond, AllowAutoTopicCreation: true}
	if err := w.WriteMessages(ctx, kafka.Message{Key: []byte("k"), Value: []byte("one")}, kafka.Message{Key: []byte("k"), Value: []byte("two")}); err != nil {
		t.Fatal(err)
	}
	w.Close()
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: []string{addr}, GroupID: "g", Topic: "t", MaxWait: 100 * time.Millisecond,
		SessionTimeout: 2 * time.Second, StartOffset: kafka.FirstOffset})
	m, err := r.FetchMessage(ctx)
	if err != nil || string(m.Value) != "one" {
		t.Fatalf("fetch = %q, %v", m.Value, err)
	}
	if err := r.CommitMessages(ctx, m); err != nil {
		t.Fatal(err)
	}
	r.Close()
	c.Close()

	c, err = Start(Options{Addr: addr, DataDir: dir, MinSessionTimeout: time.Second})
	if err != nil {
		t.Fatalf("restart: %v", err)
	}
	defer c.Close()
	r = kafka.NewReader(kafka.ReaderConfig{Brokers: []string{addr}, GroupID: "g", Topic: "t", MaxWait: 100 * time.Millisecond,
		SessionTimeout: 2 * time.Second, StartOffset: kafka.FirstOffset})
	defer r.Close()
	m, err = r.FetchMessage(ctx)
	if err != nil || string(m.Value) != "two" {
		t.Fatalf("after restart the group read %q (%v), want two: the commit was lost", m.Value, err)
	}
}

func TestStartRejectsBadAddress(t *testing.T) {
	if _, err := Start(Options{Addr: "nonsense"}); err == nil {
		t.Fatal("a bad address was accepted")
	}
}

// localstack hands the broker a bound socket as a descriptor.
func TestStartServesAnInheritedSocket(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	f, err := ln.(*net.TCPListener).File()
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	c, err := Start(Options{Addr: fmt.Sprintf("fd:%d", f.Fd()), AutoCreateTopics: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if got := c.ListenAddrs(); len(got) != 1 || got[0] != ln.Addr().String() {
		t.Fatalf("listening on %v, want %s", got, ln.Addr())
	}
	if _, err := Start(Options{Addr: "fd:1"}); err == nil {
		t.Fatal("fd:1 was accepted")
	}
}

// TestAdvertise: the broker names the advertised address in its metadata,
// so clients that found it through a proxy keep going through the proxy.
func TestAdvertise(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	c, err := Start(Options{Addr: addr, Advertise: "127.0.0.1:19999", AutoCreateTopics: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	conn, err := kafka.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	brokers, err := conn.Brokers()
	if err != nil {
		t.Fatal(err)
	}
	if len(brokers) != 1 || fmt.Sprintf("%s:%d", brokers[0].Host, brokers[0].Port) != "127.0.0.1:19999" {
		t.Fatalf("metadata names %+v, want 127.0.0.1:19999", brokers)
	}
	if _, err := Start(Options{Addr: "127.0.0.1:0", Advertise: "no port"}); err == nil {
		t.Error("an advertised address without a port was accepted")
	}
}
