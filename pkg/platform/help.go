package platform

import (
	"fmt"
	"io"
)

// Help writes usage to w and reports true when args ask for help (-h,
// -help, --help or help as the first argument): a service asked for help
// answers it instead of refusing for a missing ADMIN_TOKEN.
func Help(args []string, w io.Writer, usage string) bool {
	if len(args) == 0 {
		return false
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		fmt.Fprint(w, usage)
		return true
	}
	return false
}
