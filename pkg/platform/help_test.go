package platform

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
		{[]string{"replay", "-h"}, false}, // replay's own flags answer
		{[]string{"-test.run=X"}, false},
	} {
		var out strings.Builder
		if got := Help(tt.args, &out, "usage: x\n"); got != tt.want || (out.Len() > 0) != tt.want {
			t.Errorf("Help(%q) = %v writing %q, want %v", tt.args, got, out.String(), tt.want)
		}
	}
}
