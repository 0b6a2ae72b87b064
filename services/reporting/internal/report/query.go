package report

import (
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/linkcredit/linkcredit/pkg/errs"
	"github.com/linkcredit/linkcredit/pkg/httpx"
	"github.com/linkcredit/linkcredit/pkg/money"
)

// Group keys a report can be grouped by, in the order columns appear.
var GroupKeys = []string{"partner", "course", "link", "placement", "day", "month"}

// Query is a validated report request.
type Query struct {
	From, To time.Time // local midnights in TZ; To exclusive
	FromDate string
	ToDate   string
	TZ       *time.Location
	GroupBy  []string // a subset of GroupKeys, in GroupKeys order
	Currency string   // convert to this; "" keeps original currencies
	Format   string   // "json" or "csv"
}

// maxSpan bounds a report's period.
const maxSpan = 100 * 366 * 24 * time.Hour

// repeated refuses, 400 repeated_parameter, a parameter given twice with
// different values (httpx.RepeatedParameter): a report would silently use
// the first, and an export built with a stray second from= would cover
// another period than its author thought.
func repeated(v url.Values) error {
	if err := httpx.RepeatedParameter(url.Values{"group_by": v["group_by"]}); err != nil {
		return errs.New(errs.Invalid, "repeated_parameter",
			err.Error()+"; give every key in one, comma-separated (group_by=partner,day)")
	}
	return httpx.RepeatedParameter(v)
}

// ParseQuery reads a report query from URL parameters. from and to default
// to the current month in tz; format defaults to json, or csv when accept
// asks for text/csv.
func ParseQuery(v url.Values, accept string, now time.Time) (Query, error) {
	if err := repeated(v); err != nil {
		return Query{}, err
	}
	var f errs.Fields
	q := Query{TZ: time.UTC, Format: "json"}
	httpx.UnknownParameters(&f, v, "from", "to", "group_by", "tz", "currency", "format")
	if tz := v.Get("tz"); tz != "" {
		loc, err := time.LoadLocation(tz)
		// "Local" is Go's name for the process's own zone, not an IANA
		// name: PostgreSQL does not know it, and a report's zone is kept
		// (daily rollups in it) by name.
		if err != nil || tz == "Local" || strings.HasPrefix(tz, "/") || strings.Contains(tz, "..") {
			f.Add("tz", "%q is not an IANA time zone (such as Europe/Berlin)", tz)
		} else {
			q.TZ = loc
		}
	}
	local := now.In(q.TZ)
	q.From = DayStart(local.Year(), local.Month(), 1, q.TZ)
	q.To = DayStart(local.Year(), local.Month()+1, 1, q.TZ)
	for _, d := range []struct {
		name string
		dst  *time.Time
	}{{"from", &q.From}, {"to", &q.To}} {
		s := v.Get(d.name)
		if s == "" {
			continue
		}
		t, err := time.Parse(time.DateOnly, s)
		if err != nil {
			f.Add(d.name, "%q is not a date (YYYY-MM-DD)", s)
			continue
		}
		*d.dst = DayStart(t.Year(), t.Month(), t.Day(), q.TZ)
	}
	if len(f) == 0 {
		switch {
		case !q.To.After(q.From) && v.Get("from") == "":
			f.Add("to", "to must be after from, which defaults to the first day of the running month (%s): give from too", q.From.Format(time.DateOnly))
		case !q.To.After(q.From) && v.Get("to") == "":
			f.Add("from", "from must be before to, which defaults to the first day of the next month (%s): give to too", q.To.Format(time.DateOnly))
		case !q.To.After(q.From):
			f.Add("to", "to must be after from")
		case q.To.Sub(q.From) > maxSpan:
			f.Add("to", "a report covers at most a hundred years")
		}
	}
	q.FromDate, q.ToDate = q.From.Format(time.DateOnly), q.To.Format(time.DateOnly)
	if g := v.Get("group_by"); g != "" {
		seen := map[string]bool{}
		for _, k := range strings.Split(g, ",") {
			k = strings.TrimSpace(k)
			if !slices.Contains(GroupKeys, k) {
				f.Add("group_by", "%q is not one of %s", k, strings.Join(GroupKeys, ", "))
				continue
			}
			seen[k] = true
		}
		for _, k := range GroupKeys {
			if seen[k] {
				q.GroupBy = append(q.GroupBy, k)
			}
		}
	}
	if c := v.Get("currency"); c != "" {
		if !money.IsCurrency(c) {
			f.Add("currency", "%q is not an ISO 4217 currency code", c)
		}
		q.Currency = c
	}
	switch format := v.Get("format"); format {
	case "":
		if strings.Contains(accept, "text/csv") {
			q.Format = "csv"
		}
	case "json", "csv":
		q.Format = format
	default:
		f.Add("format", "%q is not csv or json", format)
	}
	if len(f) == 0 && q.TZ != time.UTC {
		if day, ok := offQuarterOffset(q); ok {
			f.Add("tz", "%s is %s from UTC on %s; reports cut days on quarter-hours", q.TZ, offsetString(day), day.Format(time.DateOnly))
		}
	}
	return q, f.Err("invalid_query")
}

// offQuarterOffset finds a day in the period whose midnight is not a whole
// number of quarter-hours from UTC: the rollups (quarter-hours) cannot
// cut there. No zone has had such an offset since 1979 (Asia/Kolkata is
// +05:30, Asia/Kathmandu +05:45, Pacific/Chatham +12:45 or +13:45).
func offQuarterOffset(q Query) (time.Time, bool) {
	for d := q.From; d.Before(q.To); d = d.AddDate(0, 0, 1) {
		if _, off := d.Zone(); off%900 != 0 {
			return d, true
		}
	}
	return time.Time{}, false
}

// OffTheHour reports whether some day of the period starts off the whole
// hour in its zone (Asia/Kolkata, Australia/Adelaide): such a report needs
// quarter-hour rollups for the whole period.
func (q Query) OffTheHour() bool {
	for d := q.From; d.Before(q.To); d = d.AddDate(0, 0, 1) {
		if _, off := d.Zone(); off%3600 != 0 {
			return true
		}
	}
	return false
}

func offsetString(t time.Time) string { return t.Format("-07:00") }

// MonthBounds are the first instant of month (its year and month) in zone
// and the first of the next month.
func MonthBounds(month time.Time, zone *time.Location) (start, end time.Time) {
	return DayStart(month.Year(), month.Month(), 1, zone), DayStart(month.Year(), month.Month()+1, 1, zone)
}

// DayStart is the first instant of the calendar day y-m-d (normalised as
// time.Date normalises it) in zone. On a day whose midnight a change of
// offset skips (America/Santiago on 2026-09-06: 00:00 is 01:00), time.Date
// may answer an instant of the day before (23:00 on the 5th), which put a
// report's from on the wrong day and stopped FinalDays' walk over days;
// the day then starts at the change, as PostgreSQL cuts it.
func DayStart(y int, m time.Month, d int, zone *time.Location) time.Time {
	t := time.Date(y, m, d, 0, 0, 0, 0, zone)
	want := time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
	if l := t.In(zone); l.YearDay() != want.YearDay() || l.Year() != want.Year() {
		if _, end := t.ZoneBounds(); !end.IsZero() {
			return end
		}
	}
	return t
}
