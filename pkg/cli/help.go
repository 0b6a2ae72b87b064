// Package cli answers what every linkcredit program is asked on its
// command line before it does anything: -h.
package cli

import (
	"fmt"
	"io"
	"os"
	"slices"
)

// AsksHelp reports whether arg asks for help: -h, -help, --help or help.
func AsksHelp(arg string) bool {
	return arg == "-h" || arg == "-help" || arg == "--help" || arg == "help"
}

// HelpAsked reports whether any of args is -h, -help or --help, or the
// first is help: a command's flags asked for help wherever it stands
// among them (replay -dry-run -h).
func HelpAsked(args []string) bool {
	for i, a := range args {
		if AsksHelp(a) && (a != "help" || i == 0) {
			return true
		}
	}
	return false
}

// Help writes usage to w and reports true when args ask for help: the
// first argument does, or it is one of plain, commands that take no flags
// (migrate, verify), and a later one does. A program asked for help
// answers it instead of refusing for a missing ADMIN_TOKEN or trying to
// reach its database. Commands with flags answer -h themselves.
func Help(args []string, w io.Writer, usage string, plain ...string) bool {
	if len(args) == 0 {
		return false
	}
	if AsksHelp(args[0]) || slices.Contains(plain, args[0]) && HelpAsked(args[1:]) {
		fmt.Fprint(w, usage)
		return true
	}
	return false
}

// NoArguments answers the arguments of a program that takes none (it is
// configured by its environment): with none, answered is false and the
// program goes on; -h and the like print usage to stdout, exit code 0;
// anything else prints it to stderr, exit code 2. Either way it is a
// question, not a server to start on the default ports.
func NoArguments(args []string, stdout, stderr io.Writer, usage string) (code int, answered bool) {
	switch {
	case len(args) == 0:
		return 0, false
	case AsksHelp(args[0]):
		fmt.Fprint(stdout, usage)
		return 0, true
	default:
		fmt.Fprint(stderr, usage)
		return 2, true
	}
}

// IsTerminal reports whether w is a terminal (a character device), where
// a progress line may rewrite itself with a carriage return; into a file
// or a pipe it should not.
func IsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
