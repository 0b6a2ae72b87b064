package faultproxy

import (
	"bufio"
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"time"
)

// echo serves lines back with its name in front.
func echo(t *testing.T, name string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				sc := bufio.NewScanner(c)
				for sc.Scan() {
					if _, err := io.WriteString(c, name+":"+sc.Text()+"\n"); err != nil {
						return
					}
				}
			}()
		}
	}()
	return ln.Addr().String()
}

func roundTrip(c net.Conn, msg string) (string, error) {
	_ = c.SetDeadline(time.Now().Add(300 * time.Millisecond))
	if _, err := io.WriteString(c, msg+"\n"); err != nil {
		return "", err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	return strings.TrimSpace(line), err
}

func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestCutAndRestore(t *testing.T) {
	p, err := Start("127.0.0.1:0", echo(t, "a"))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	c := dial(t, p.Addr())
	if got, err := roundTrip(c, "1"); got != "a:1" {
		t.Fatalf("through the proxy: %q %v", got, err)
	}

	p.Cut(Reset)
	if _, err := roundTrip(c, "2"); err == nil {
		t.Error("a reset cut left the connection working")
	}
	if _, err := roundTrip(dial(t, p.Addr()), "3"); err == nil || isTimeout(err) {
		t.Errorf("a new connection during a reset cut: %v, want it closed", err)
	}
	p.Restore()
	if got, err := roundTrip(dial(t, p.Addr()), "4"); got != "a:4" {
		t.Fatalf("after restore: %q %v", got, err)
	}

	held := dial(t, p.Addr())
	if got, _ := roundTrip(held, "5"); got != "a:5" {
		t.Fatal("before the blackhole")
	}
	p.Cut(Blackhole)
	if _, err := roundTrip(held, "6"); !isTimeout(err) {
		t.Errorf("an open connection in a blackhole: %v, want silence (a timeout)", err)
	}
	if _, err := roundTrip(dial(t, p.Addr()), "7"); !isTimeout(err) {
		t.Errorf("a new connection in a blackhole: %v, want silence (a timeout)", err)
	}
	p.Restore()
	_ = held.SetDeadline(time.Now().Add(time.Second))
	if _, err := held.Read(make([]byte, 1)); err == nil || isTimeout(err) {
		t.Errorf("a held connection after restore: %v, want it closed", err)
	}
	if got, err := roundTrip(dial(t, p.Addr()), "8"); got != "a:8" {
		t.Fatalf("after the blackhole: %q %v", got, err)
	}
}

func TestRoundRobinSkipsADeadTarget(t *testing.T) {
	dead, _ := net.Listen("tcp", "127.0.0.1:0")
	deadAddr := dead.Addr().String()
	dead.Close()
	p, err := Start("127.0.0.1:0", echo(t, "a"), deadAddr, echo(t, "b"))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	seen := map[string]int{}
	for range 6 {
		got, err := roundTrip(dial(t, p.Addr()), "x")
		if err != nil {
			t.Fatal(err)
		}
		seen[got]++
	}
	if seen["a:x"] == 0 || seen["b:x"] == 0 || seen["a:x"]+seen["b:x"] != 6 {
		t.Errorf("answers %v", seen)
	}
}

func TestLoopbackOnly(t *testing.T) {
	if _, err := Start("127.0.0.1:0", "10.0.0.1:9092"); err == nil {
		t.Error("a non-loopback target was accepted")
	}
	if _, err := Start("0.0.0.0:0", "127.0.0.1:9092"); err == nil {
		t.Error("listening beyond loopback was accepted")
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout() || errors.Is(err, os.ErrDeadlineExceeded)
}
