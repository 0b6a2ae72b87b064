package main

import (
	"bufio"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/linkcredit/linkcredit/pkg/proc"
)

// clockTicks is USER_HZ, the unit of utime and stime in /proc/<pid>/stat:
// 100 on every Linux this runs on.
const clockTicks = 100

// cpuSeconds is the CPU time (user + system, all threads) pid has used.
func cpuSeconds(pid int) (float64, error) { return cpuTime(pid, false) }

// cpuSecondsWithReaped is pid's CPU time and that of its children that
// exited and were waited for (a PostgreSQL backend that closed).
func cpuSecondsWithReaped(pid int) (float64, error) { return cpuTime(pid, true) }

func cpuTime(pid int, reaped bool) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// Fields after the command name, which is in parentheses and may hold spaces.
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	if len(f) < 15 {
		return 0, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f))
	}
	last := 12 // utime, stime
	if reaped {
		last = 14 // and cutime, cstime
	}
	var ticks int64
	for _, field := range f[11 : last+1] {
		n, err := strconv.ParseInt(field, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc/%d/stat: bad CPU time %q", pid, field)
		}
		ticks += n
	}
	return float64(ticks) / clockTicks, nil
}

// parentOf is the parent pid of pid (0 if it is gone).
func parentOf(pid int) int {
	ppid, _ := proc.Parent(pid) // 0 once pid has exited
	return ppid
}

func comm(pid int) string {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
	return strings.TrimSpace(string(b))
}

// descendants returns every live process below pid.
func descendants(pid int) []int {
	children := map[int][]int{}
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		p, err := strconv.Atoi(filepath.Base(d))
		if err != nil {
			continue
		}
		parent := parentOf(p)
		children[parent] = append(children[parent], p)
	}
	return below(children, pid)
}

// below walks children (parent to children) down from pid, each process
// once. The table is read from /proc one process at a time while
// processes come and go, and pids are reused (pid_max is 32,768 here, and
// PostgreSQL starts a backend per connection): a process read before
// its parent exited and a new process given that parent's pid can make
// a loop. Walked without a visited set, one such loop once grew the
// bench's process to 24 GB until the kernel killed it.
func below(children map[int][]int, pid int) []int {
	seen := map[int]bool{pid: true}
	var out []int
	queue := []int{pid}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		for _, c := range children[p] {
			if seen[c] {
				continue
			}
			seen[c] = true
			out = append(out, c)
			queue = append(queue, c)
		}
	}
	return out
}

// memory is a process's resident set now and at its peak, in MiB, and
// its proportional share (shared pages divided among their users).
type memory struct {
	RSS, Peak, PSS float64
}

func memoryOf(pid int) memory {
	var m memory
	read := func(path string, fields map[string]*float64) {
		f, err := os.Open(path)
		if err != nil {
			return
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			k, v, ok := strings.Cut(sc.Text(), ":")
			if dst := fields[k]; ok && dst != nil {
				kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
				*dst = kb / 1024
			}
		}
	}
	read(fmt.Sprintf("/proc/%d/status", pid), map[string]*float64{"VmRSS": &m.RSS, "VmHWM": &m.Peak})
	read(fmt.Sprintf("/proc/%d/smaps_rollup", pid), map[string]*float64{"Pss": &m.PSS})
	return m
}

// pin sets the CPUs of every thread of pid (taskset -a).
func pin(pid int, cpus string) error {
	out, err := exec.Command("taskset", "-a", "-cp", cpus, strconv.Itoa(pid)).CombinedOutput()
	if err != nil {
		return fmt.Errorf("taskset -a -cp %s %d: %v: %s", cpus, pid, err, out)
	}
	return nil
}

// cpuTicks is one line of /proc/stat: a CPU's (or, "cpu", all CPUs')
// time since boot, in clock ticks, by what it was spent on.
type cpuTicks struct {
	User, System, Idle, IRQ, Steal, Total float64
}

// readCPUTicks reads every cpu line of /proc/stat, by name ("cpu" for
// all, "cpu0", "cpu1", ...).
func readCPUTicks() (map[string]cpuTicks, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return nil, err
	}
	return parseCPUTicks(string(b))
}

func parseCPUTicks(stat string) (map[string]cpuTicks, error) {
	out := map[string]cpuTicks{}
	for _, line := range splitLines(stat) {
		f := strings.Fields(line)
		if len(f) == 0 || !strings.HasPrefix(f[0], "cpu") {
			continue
		}
		if len(f) < 9 {
			return nil, fmt.Errorf("/proc/stat: short line %q", line)
		}
		// user nice system idle iowait irq softirq steal [guest guest_nice]:
		// guest time is already in user time.
		var v [8]float64
		for i := range v {
			v[i], _ = strconv.ParseFloat(f[i+1], 64)
		}
		t := cpuTicks{User: v[0] + v[1], System: v[2], Idle: v[3] + v[4], IRQ: v[5] + v[6], Steal: v[7]}
		t.Total = t.User + t.System + t.Idle + t.IRQ + t.Steal
		out[f[0]] = t
	}
	if _, ok := out["cpu"]; !ok {
		return nil, errors.New("/proc/stat: no cpu line")
	}
	return out, nil
}

// coreShares is how a CPU's time was spent between two readings, each a
// share of the whole: steal is time the hypervisor gave to another
// machine (on a VM the CPU was not ours, and what ran on it got less).
type coreShares struct {
	Busy  float64 `json:"busy"` // user, system, interrupts
	IRQ   float64 `json:"irq"`  // hard and soft interrupts, in Busy
	Steal float64 `json:"steal"`
	Idle  float64 `json:"idle"` // with I/O wait
}

func (t cpuTicks) since(before cpuTicks) coreShares {
	total := t.Total - before.Total
	if total <= 0 {
		return coreShares{}
	}
	busy := t.User + t.System + t.IRQ - before.User - before.System - before.IRQ
	return coreShares{Busy: busy / total, IRQ: (t.IRQ - before.IRQ) / total, Steal: (t.Steal - before.Steal) / total,
		Idle: (t.Idle - before.Idle) / total}
}

// coresSince is each CPU's shares between two readings of readCPUTicks
// (nil if either failed).
func coresSince(before, after map[string]cpuTicks) map[string]coreShares {
	if before == nil || after == nil {
		return nil
	}
	out := map[string]coreShares{}
	for name, t := range after {
		if name == "cpu" {
			continue
		}
		if b, ok := before[name]; ok {
			out[name] = t.since(b)
		}
	}
	return out
}

// coresLine is coresSince's shares as the log prints them, by CPU.
func coresLine(cores map[string]coreShares) string {
	names := slices.Sorted(maps.Keys(cores))
	parts := make([]string, 0, len(names))
	for _, n := range names {
		c := cores[n]
		parts = append(parts, fmt.Sprintf("%s busy %.0f %% (interrupts %.0f %%), stolen %.0f %%, idle %.0f %%", n, 100*c.Busy, 100*c.IRQ, 100*c.Steal, 100*c.Idle))
	}
	return strings.Join(parts, "; ")
}

// machineBusy is the share of all CPUs' time that was not idle (nor
// waiting for I/O) over d, from /proc/stat.
func machineBusy(d time.Duration) (float64, error) {
	t0, err := readCPUTicks()
	if err != nil {
		return 0, err
	}
	time.Sleep(d)
	t1, err := readCPUTicks()
	if err != nil {
		return 0, err
	}
	return t1["cpu"].since(t0["cpu"]).Busy, nil
}
