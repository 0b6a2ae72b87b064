package cli

import (
	"strings"
	"testing"
)

func TestHelp(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want bool
	}{
		{nil, false},
		{[]string{"-h"}, true},
		{[]string{"-help"}, true},
		{[]string{"--help"}, true},
		{[]string{"help"}, true},
		{[]string{"migrate"}, false},
		{[]string{"migrate", "-h"}, true},
		{[]string{"migrate", "help"}, true},
		{[]string{"verify", "--help"}, true},
		{[]string{"replay", "-h"}, false}, // replay's own flags answer
		{[]string{"-test.run=X"}, false},
	} {
		var out strings.Builder
		if got := Help(tt.args, &out, "usage: x\n", "migrate", "verify"); got != tt.want || (out.Len() > 0) != tt.want {
			t.Errorf("Help(%q) = %v writing %q, want %v", tt.args, got, out.String(), tt.want)
		}
	}
}

func TestHelpAsked(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want bool
	}{
		{nil, false},
		{[]string{"-dry-run", "-h"}, true},
		{[]string{"-partner", "coursera"}, false},
		{[]string{"help"}, true},
		{[]string{"-partner", "help"}, false},
	} {
		if got := HelpAsked(tt.args); got != tt.want {
			t.Errorf("HelpAsked(%q) = %v, want %v", tt.args, got, tt.want)
		}
	}
}

func TestNoArguments(t *testing.T) {
	for _, tt := range []struct {
		args           []string
		code           int
		answered       bool
		stdout, stderr bool
	}{
		{nil, 0, false, false, false},
		{[]string{"-h"}, 0, true, true, false},
		{[]string{"--help"}, 0, true, true, false},
		{[]string{"start"}, 2, true, false, true},
	} {
		var out, errOut strings.Builder
		code, answered := NoArguments(tt.args, &out, &errOut, "usage: x\n")
		if code != tt.code || answered != tt.answered || (out.Len() > 0) != tt.stdout || (errOut.Len() > 0) != tt.stderr {
			t.Errorf("NoArguments(%q) = %d, %v (stdout %q, stderr %q)", tt.args, code, answered, out.String(), errOut.String())
		}
	}
}
