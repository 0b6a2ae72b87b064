package proc

import (
	"os"
	"testing"
)

func TestParentInStat(t *testing.T) {
	for _, tc := range []struct {
		stat string
		want int
		ok   bool
	}{
		{"123 (postgres) S 45 123 123 0 -1", 45, true},
		{"7 (a (b) c) R 1 7 7 0", 1, true}, // a command with parentheses and spaces
		{"9 (x) Z 0 0 0", 0, true},
		{"9 x S 1", 0, false},
		{"9 (x) S", 0, false},
		{"9 (x) S ?", 0, false},
		{"", 0, false},
	} {
		got, err := parentInStat(tc.stat)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("parentInStat(%q) = %d, %v; want %d, ok %v", tc.stat, got, err, tc.want, tc.ok)
		}
	}
}

func TestParentOfThisProcess(t *testing.T) {
	if got, err := Parent(os.Getpid()); err != nil || got != os.Getppid() {
		t.Errorf("Parent(self) = %d, %v; want %d", got, err, os.Getppid())
	}
	if _, err := Parent(-1); err == nil {
		t.Error("Parent(-1): no error")
	}
}
