package main

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
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
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// "pid (comm) state ppid ...": comm may hold spaces and parentheses.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 2 {
		return 0
	}
	ppid, _ := strconv.Atoi(f[1])
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

// machineBusy is the share of all CPUs' time that was not idle (nor
// waiting for I/O) over d, from /proc/stat.
func machineBusy(d time.Duration) (float64, error) {
	read := func() (busy, total float64, err error) {
		b, err := os.ReadFile("/proc/stat")
		if err != nil {
			return 0, 0, err
		}
		line, _, _ := strings.Cut(string(b), "\n")
		f := strings.Fields(line)
		if len(f) < 6 || f[0] != "cpu" {
			return 0, 0, fmt.Errorf("/proc/stat: unexpected first line %q", line)
		}
		for i, s := range f[1:] {
			v, _ := strconv.ParseFloat(s, 64)
			if i >= 8 { // guest time is already in user time
				break
			}
			total += v
			if i != 3 && i != 4 { // idle, iowait
				busy += v
			}
		}
		return busy, total, nil
	}
	b0, t0, err := read()
	if err != nil {
		return 0, err
	}
	time.Sleep(d)
	b1, t1, err := read()
	if err != nil {
		return 0, err
	}
	if t1 <= t0 {
		return 0, nil
	}
	return (b1 - b0) / (t1 - t0), nil
}
