package proc

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// Parent is the parent's pid of the live process pid, from /proc (Linux).
// An error means pid has exited (or was never there).
func Parent(pid int) (int, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	return parentInStat(string(b))
}

// parentInStat reads the ppid from a /proc/<pid>/stat line, "pid (comm)
// state ppid ...": comm may hold spaces and parentheses, so the fields
// are counted from the last ')'.
func parentInStat(stat string) (int, error) {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, fmt.Errorf("proc: stat %q: no command", stat)
	}
	f := strings.Fields(stat[i+1:])
	if len(f) < 2 {
		return 0, fmt.Errorf("proc: stat %q: no parent", stat)
	}
	ppid, err := strconv.Atoi(f[1])
	if err != nil {
		return 0, fmt.Errorf("proc: stat %q: parent: %w", stat, err)
	}
	return ppid, nil
}
