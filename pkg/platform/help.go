package platform

import (
	"fmt"
	"io"
)

// Help writes usage to w and reports true when args ask for help (-h,
// -help, --help or help as the first argument, or after migrate): a
// service asked for help answers it instead of refusing for a missing
// ADMIN_TOKEN or trying to reach its database.
func Help(args []string, w io.Writer, usage string) bool {
	if len(args) == 0 {
		return false
	}
	if IsHelp(args[0]) || args[0] == "help" || len(args) > 1 && args[0] == "migrate" && IsHelp(args[1]) {
		fmt.Fprint(w, usage)
		return true
	}
	return false
}

// IsHelp reports whether arg asks for help: -h, -help or --help.
func IsHelp(arg string) bool { return arg == "-h" || arg == "-help" || arg == "--help" }
