package main

import (
	"strings"
	"time"

	"github.com/linkcredit/linkcredit/pkg/config"
)

// financeZone reads FINANCE_TIME_ZONE (default UTC): the IANA zone months
// are closed in (contract v1.1, "Closed months are frozen"). An unknown
// zone stops start-up, naming the variable.
func financeZone(env *config.Reader) *time.Location {
	name := env.String("FINANCE_TIME_ZONE", "UTC")
	loc, err := time.LoadLocation(name)
	if err != nil || name == "" || name == "Local" || strings.HasPrefix(name, "/") || strings.Contains(name, "..") {
		env.Fail("FINANCE_TIME_ZONE", name, "is not an IANA time zone (such as UTC or Europe/Berlin)")
		return time.UTC
	}
	return loc
}
