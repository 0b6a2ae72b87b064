package adapter

import (
	"net/url"
	"testing"
	"time"
)

// Times are cut to the microsecond, the precision reporting stores
// occurred_at with, whatever form they come in.
func TestParseTimeTruncatesToTheMicrosecond(t *testing.T) {
	at := func(nsec int) time.Time { return time.Date(2026, 11, 11, 10, 0, 0, nsec, time.UTC) }
	for _, tt := range []struct {
		in   string
		want time.Time
	}{
		{"2026-11-11T10:00:00Z", at(0)},
		{"2026-11-11T10:00:00.000001Z", at(1000)},
		{"2026-11-11T10:00:00.000000001Z", at(0)},
		{"2026-11-11T10:00:00.000000999Z", at(0)},
		{"2026-11-11T10:00:00.123456789Z", at(123456000)},
		{"2026-11-11T10:00:00.999999999Z", at(999999000)},
		{"2026-11-11T11:00:00.000001999+01:00", at(1000)},
		{"2026-11-11T10:00:00.000002500", at(2000)}, // naive UTC with a fraction
		{"2026-11-11 10:00:00.000000001", at(0)},    // naive UTC, space
		{"1794391200", at(0)},                       // unix seconds
		{"1794391200123", at(123000000)},            // unix milliseconds
		{"2026-11-11T10:00:00.123+00:00", at(123000000)},
	} {
		t.Run(tt.in, func(t *testing.T) {
			got, err := parseTime(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if !got.Equal(tt.want) || got.Nanosecond()%1000 != 0 {
				t.Fatalf("parseTime(%q) = %s, want %s", tt.in, got.Format(time.RFC3339Nano), tt.want.Format(time.RFC3339Nano))
			}
		})
	}
}

// Every way a conversion comes in (a webhook, a postback's parameters,
// its JSON body, a JSON parameter) reads occurred_at through parseTime.
func TestOccurredAtIsMicroseconds(t *testing.T) {
	want := time.Date(2026, 11, 11, 10, 0, 0, 123456000, time.UTC)
	const nanos = "2026-11-11T10:00:00.123456789Z"
	awin, err := Mapping{Preset: "awin"}.Resolve()
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name   string
		decode func(m Mapping) (Conversion, error)
		m      Mapping
	}{
		{"webhook", func(m Mapping) (Conversion, error) {
			body := `{"order_id":"A-1","status":"pending","sale_amount":"49.00","commission":"7.35","currency":"USD","occurred_at":"` + nanos + `"}`
			return m.DecodeWebhook([]byte(body), usd, now)
		}, standard(t)},
		{"postback parameters", func(m Mapping) (Conversion, error) {
			return m.FromParams(url.Values{"order_id": {"A-1"}, "status": {"pending"}, "sale_amount": {"49.00"},
				"commission": {"7.35"}, "currency": {"USD"}, "occurred_at": {nanos}}, usd, now)
		}, standard(t)},
		{"postback JSON body", func(m Mapping) (Conversion, error) {
			body := `{"order_id":"A-1","status":"pending","sale_amount":"49.00","commission":"7.35","currency":"USD","occurred_at":"` + nanos + `"}`
			return m.FromJSON([]byte(body), usd, now)
		}, standard(t)},
		{"postback JSON parameter", func(m Mapping) (Conversion, error) {
			push := `{"transactionId":"1","transactionDate":"` + nanos + `","transactionCurrency":"USD","transactionAmount":"49.00",` +
				`"commission":"7.35"}`
			return m.FromParams(url.Values{m.JSONParam: {push}}, usd, now)
		}, awin},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, err := tt.decode(tt.m)
			if err != nil {
				t.Fatal(err)
			}
			if !c.OccurredAt.Equal(want) {
				t.Fatalf("occurred_at = %s, want %s", c.OccurredAt.Format(time.RFC3339Nano), want.Format(time.RFC3339Nano))
			}
		})
	}
}

// RFC 3339 offsets run from -23:59 to +23:59; the time package also takes
// +24:00 and a minute of 60, which no place uses and which would move the
// sale by a day (or an hour): such a time is not a time.
func TestParseTimeOffsets(t *testing.T) {
	for _, tt := range []struct {
		in string
		ok bool
	}{
		{"2026-11-11T10:00:00Z", true},
		{"2026-11-11T10:00:00+23:59", true},
		{"2026-11-11T10:00:00-23:59", true},
		{"2026-11-11T10:00:00+05:45", true},
		{"2026-11-11T10:00:00.5-09:30", true},
		{"2026-11-11T10:00:00+24:00", false},
		{"2026-11-11T10:00:00-24:00", false},
		{"2026-11-11T10:00:00+23:60", false},
		{"2026-11-11T10:00:00+01:60", false},
		{"2026-11-11T10:00:00.000+24:00", false},
	} {
		t.Run(tt.in, func(t *testing.T) {
			_, err := parseTime(tt.in)
			if (err == nil) != tt.ok {
				t.Fatalf("parseTime(%q) error %v, want ok %v", tt.in, err, tt.ok)
			}
		})
	}
}

// Rakuten Advertising sends transaction_date as JavaScript prints a date
// (its Affiliate APIs OpenAPI, eventsAPIResponse: "Wed Apr 15 2020
// 21:20:27 GMT+0000 (UTC)"); through a query string that does not
// percent-encode it, the offset's '+' reads back as a space.
func TestParseTimeJavaScriptDate(t *testing.T) {
	for _, tt := range []struct {
		in, want string // want "" for not a time
	}{
		{"Wed Apr 15 2020 21:20:27 GMT+0000 (UTC)", "2020-04-15T21:20:27Z"},
		{"Wed Apr 15 2020 21:20:27 GMT 0000 (UTC)", "2020-04-15T21:20:27Z"},
		{"Wed Apr 15 2020 21:20:27 GMT+0000 (Coordinated Universal Time)", "2020-04-15T21:20:27Z"},
		{"Wed Apr 15 2020 21:20:27 GMT+0000", "2020-04-15T21:20:27Z"},
		{"Wed Apr 15 2020 23:20:27 GMT+0200 (CEST)", "2020-04-15T21:20:27Z"},
		{"Wed Apr 15 2020 16:05:27 GMT-0515", "2020-04-15T21:20:27Z"},
		{"Sun Mar 01 2026 00:00:00 GMT+0545 (Nepal Time)", "2026-02-28T18:15:00Z"},
		{"Wed Apr 15 2020 21:20:27 GMT+2400 (UTC)", ""},
		{"Wed Apr 15 2020 21:20:27 GMT+0060", ""},
		{"Wed Apr 31 2020 21:20:27 GMT+0000 (UTC)", ""},
		{"Wed Apr 15 2020 21:20:27 GMT+00 (UTC)", ""},
		{"Wed Apr 15 2020 21:20:27 GMTx0000", ""},
		{"Wed Apr 15 2020 21:20:27 (UTC)", ""},
		{"GMT+0000", ""},
		{" (UTC)", ""},
	} {
		t.Run(tt.in, func(t *testing.T) {
			got, err := parseTime(tt.in)
			if tt.want == "" {
				if err == nil {
					t.Fatalf("parseTime(%q) = %s, want an error", tt.in, got.Format(time.RFC3339Nano))
				}
				return
			}
			if err != nil || !got.Equal(mustTime(t, tt.want)) {
				t.Fatalf("parseTime(%q) = %s, %v, want %s", tt.in, got.Format(time.RFC3339Nano), err, tt.want)
			}
		})
	}
}

func mustTime(t *testing.T, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// A webhook's occurred_at must say its offset from UTC; JavaScript's date
// string says it ("GMT+0000"), a naive date-time does not.
func TestWithoutOffset(t *testing.T) {
	for in, want := range map[string]bool{
		"2026-11-20T10:00:00Z":                    false,
		"2026-11-20T10:00:00+05:45":               false,
		"Wed Apr 15 2020 21:20:27 GMT+0000 (UTC)": false,
		"1763632800":                              false,
		"":                                        false,
		"not a time":                              false,
		"2026-11-20T10:00:00":                     true,
		"2026-11-20 10:00:00":                     true,
	} {
		if got := withoutOffset(in); got != want {
			t.Errorf("withoutOffset(%q) = %v, want %v", in, got, want)
		}
	}
}
