package main

import (
	"math"
	"os"
	"os/exec"
	"slices"
	"testing"
)

func TestBelow(t *testing.T) {
	for _, tc := range []struct {
		name     string
		children map[int][]int
		pid      int
		want     []int
	}{
		{"none", map[int][]int{1: {10}}, 10, nil},
		{"a tree, breadth first", map[int][]int{1: {10, 11}, 10: {20, 21}, 21: {30}, 11: {40}}, 10, []int{20, 21, 30}},
		// 20 was read as 10's child; 10 then exited and its pid went to
		// a new child of 20: each is the other's parent in the table.
		{"a loop through a reused pid", map[int][]int{1: {10}, 10: {20}, 20: {10, 30}}, 1, []int{10, 20, 30}},
		{"a loop back to the root", map[int][]int{10: {20}, 20: {10}}, 10, []int{20}},
		{"a process its own parent", map[int][]int{10: {10, 20}, 20: {20}}, 10, []int{20}},
		{"a child listed twice", map[int][]int{10: {20, 20}, 20: {30}}, 10, []int{20, 30}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := below(tc.children, tc.pid); !slices.Equal(got, tc.want) {
				t.Errorf("below(%v, %d) = %v, want %v", tc.children, tc.pid, got, tc.want)
			}
		})
	}
}

func TestDescendantsOfThisProcess(t *testing.T) {
	child := exec.Command("sleep", "30")
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = child.Process.Kill(); _ = child.Wait() }()
	got := descendants(os.Getpid())
	if !slices.Contains(got, child.Process.Pid) {
		t.Errorf("descendants(%d) = %v, lacks its child %d", os.Getpid(), got, child.Process.Pid)
	}
	seen := map[int]bool{}
	for _, p := range got {
		if seen[p] {
			t.Fatalf("descendants lists %d twice", p)
		}
		seen[p] = true
	}
}

func TestParseCPUTicks(t *testing.T) {
	const before = "cpu  300 0 100 500 0 0 50 50 0 0\ncpu0 200 0 50 200 0 0 25 25 0 0\ncpu1 100 0 50 300 0 0 25 25 0 0\nintr 12345\n"
	const after = "cpu  500 10 140 600 20 0 70 110 30 0\ncpu0 380 10 70 210 0 0 40 85 30 0\ncpu1 120 0 70 390 20 0 30 25 0 0\nintr 23456\n"
	t0, err := parseCPUTicks(before)
	if err != nil {
		t.Fatal(err)
	}
	t1, err := parseCPUTicks(after)
	if err != nil {
		t.Fatal(err)
	}
	got := coresSince(t0, t1)
	// cpu0: user 190 (nice 10; guest's 30 is in user already), system 20,
	// idle 10, softirq 15, steal 60: 295 ticks.
	want := map[string]coreShares{
		"cpu0": {Busy: 225.0 / 295, IRQ: 15.0 / 295, Steal: 60.0 / 295, Idle: 10.0 / 295},
		"cpu1": {Busy: 45.0 / 155, IRQ: 5.0 / 155, Idle: 110.0 / 155},
	}
	for name, w := range want {
		g := got[name]
		if !near(g.Busy, w.Busy) || !near(g.IRQ, w.IRQ) || !near(g.Steal, w.Steal) || !near(g.Idle, w.Idle) {
			t.Errorf("%s: got %+v, want %+v", name, g, w)
		}
		if !near(g.Busy+g.Steal+g.Idle, 1) {
			t.Errorf("%s: shares sum to %v", name, g.Busy+g.Steal+g.Idle)
		}
	}
	if _, ok := got["cpu"]; ok || len(got) != 2 {
		t.Errorf("cores: %v, want cpu0 and cpu1 only", got)
	}
	for _, bad := range []string{"", "intr 1\n", "cpu 1 2 3\n"} {
		if _, err := parseCPUTicks(bad); err == nil {
			t.Errorf("parseCPUTicks(%q): no error", bad)
		}
	}
	if got := coresSince(nil, t1); got != nil {
		t.Errorf("coresSince without a first reading: %v", got)
	}
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

func TestWriteback(t *testing.T) {
	debian := map[string]string{"dirty_expire_centisecs": "3000\n", "dirty_writeback_centisecs": "500\n",
		"dirty_background_ratio": "10\n", "dirty_ratio": "20\n", "dirty_background_bytes": "0\n", "dirty_bytes": "0\n"}
	tuned := map[string]string{"dirty_expire_centisecs": "300\n", "dirty_writeback_centisecs": "100\n",
		"dirty_background_ratio": "0\n", "dirty_ratio": "0\n", "dirty_background_bytes": "67108864\n", "dirty_bytes": "268435456\n"}
	for _, tc := range []struct {
		name  string
		files map[string]string
		want  string
	}{
		{"the kernel's defaults", debian, "dirty pages written after 30s, checked every 5s, from 10 % of dirtyable memory in the background, writers held at 20 % of dirtyable memory"},
		{"bytes instead of ratios", tuned, "dirty pages written after 3s, checked every 1s, from 64 MiB in the background, writers held at 256 MiB"},
		{"under a MiB, no periodic writeback, a ratio unreadable", map[string]string{"dirty_expire_centisecs": "3000", "dirty_writeback_centisecs": "0",
			"dirty_background_bytes": "524288"}, "dirty pages written after 30s, no periodic writeback, from 512 KiB in the background, writers held at ?"},
		{"unreadable", map[string]string{}, ""},
		{"not a number", map[string]string{"dirty_expire_centisecs": "x", "dirty_writeback_centisecs": "500"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := writeback(func(name string) ([]byte, error) {
				v, ok := tc.files[name]
				if !ok {
					return nil, os.ErrNotExist
				}
				return []byte(v), nil
			})
			if got != tc.want {
				t.Errorf("writeback() = %q, want %q", got, tc.want)
			}
		})
	}
}
