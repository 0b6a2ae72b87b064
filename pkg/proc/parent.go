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

// State is the state letter of process pid ('R', 'S', 'T' stopped, 'Z'
// zombie, ...), from /proc (Linux). An error means pid has exited.
func State(pid int) (byte, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	f, err := statFields(string(b))
	if err != nil {
		return 0, err
	}
	return f[0][0], nil
}

// statFields are the fields of a /proc/<pid>/stat line after "pid
// (comm)", from the state on: comm may hold spaces and parentheses, so
// they are counted from the last ')'.
func statFields(stat string) ([]string, error) {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return nil, fmt.Errorf("proc: stat %q: no command", stat)
	}
	f := strings.Fields(stat[i+1:])
	if len(f) == 0 {
		return nil, fmt.Errorf("proc: stat %q: no state", stat)
	}
	return f, nil
}

// parentInStat reads the ppid from a /proc/<pid>/stat line, "pid (comm)
// state ppid ...".
func parentInStat(stat string) (int, error) {
	f, err := statFields(stat)
	if err != nil {
		return 0, err
	}
	if len(f) < 2 {
		return 0, fmt.Errorf("proc: stat %q: no parent", stat)
	}
	ppid, err := strconv.Atoi(f[1])
	if err != nil {
		return 0, fmt.Errorf("proc: stat %q: parent: %w", stat, err)
	}
	return ppid, nil
}
