package report

import (
	"bytes"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/linkcredit/linkcredit/pkg/errs"
	"github.com/linkcredit/linkcredit/pkg/testkit"
	"github.com/linkcredit/linkcredit/services/reporting/internal/minor"
)

var now = time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)

func TestParseQuery(t *testing.T) {
	tests := []struct {
		query   string
		accept  string
		wantErr string // a field named in the 422, or ""
		check   func(t *testing.T, q Query)
	}{
		{"", "", "", func(t *testing.T, q Query) {
			if q.FromDate != "2026-11-01" || q.ToDate != "2026-12-01" || q.Format != "json" || q.TZ != time.UTC {
				t.Errorf("defaults: %+v", q)
			}
		}},
		{"group_by=day,partner,partner&format=csv", "", "", func(t *testing.T, q Query) {
			if strings.Join(q.GroupBy, ",") != "partner,day" || q.Format != "csv" {
				t.Errorf("group_by %v format %s", q.GroupBy, q.Format)
			}
		}},
		{"", "text/csv", "", func(t *testing.T, q Query) {
			if q.Format != "csv" {
				t.Errorf("Accept text/csv gives %s", q.Format)
			}
		}},
		{"from=2026-03-29&to=2026-03-30&tz=Europe/Berlin", "", "", func(t *testing.T, q Query) {
			// The day DST starts is 23 hours long.
			if d := q.To.Sub(q.From); d != 23*time.Hour {
				t.Errorf("2026-03-29 in Berlin lasts %v", d)
			}
			if q.From.UTC().Hour() != 23 {
				t.Errorf("Berlin midnight is %v UTC", q.From.UTC())
			}
		}},
		{"group_by=colour", "", "group_by", nil},
		{"from=2026-02-30", "", "from", nil},
		{"from=2026-11-02&to=2026-11-01", "", "to", nil},
		{"to=2026-10-01", "", "to", nil},     // from defaults to the running month's first day, and the 422 says so
		{"from=2027-01-01", "", "from", nil}, // to defaults to the next month's first day
		{"tz=Mars/Olympus", "", "tz", nil},
		{"tz=../../etc/passwd", "", "tz", nil},
		{"tz=Local", "", "tz", nil}, // Go's name for its own zone; PostgreSQL has no such zone
		{"tz=Asia/Kolkata", "", "", func(t *testing.T, q Query) {
			if q.TZ.String() != "Asia/Kolkata" || !q.OffTheHour() {
				t.Errorf("Kolkata: %v", q.TZ)
			}
		}},
		{"tz=Asia/Kathmandu&from=2026-01-01&to=2026-02-01", "", "", func(*testing.T, Query) {}},
		{"tz=Pacific/Chatham&from=2026-01-01&to=2026-02-01", "", "", func(*testing.T, Query) {}},
		{"tz=Australia/Adelaide&from=2026-01-01&to=2026-12-01", "", "", func(*testing.T, Query) {}},
		{"tz=Asia/Kolkata&from=1900-01-01&to=1900-02-01", "", "tz", nil}, // +05:21:10 then: no quarter-hour
		{"currency=usd", "", "currency", nil},
		{"format=xml", "", "format", nil},
		{"limit=5", "", "limit", nil},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			v, _ := url.ParseQuery(tt.query)
			q, err := ParseQuery(v, tt.accept, now)
			if tt.wantErr != "" {
				if errs.HTTPStatus(err) != 422 {
					t.Fatalf("err = %v, want a 422", err)
				}
				found := false
				for _, f := range errs.FieldsOf(err) {
					found = found || f.Field == tt.wantErr
				}
				if !found {
					t.Fatalf("err %v does not name %s", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, q)
		})
	}
}

func TestSafeCell(t *testing.T) {
	for in, want := range map[string]string{
		"coursera": "coursera", "=HYPERLINK(\"x\")": "'=HYPERLINK(\"x\")", "+1+1": "'+1+1", "-2+3": "'-2+3",
		"@SUM(A1)": "'@SUM(A1)", "\tx": "'\tx", "\rx": "'\rx", "-7.35": "'-7.35", "-3": "'-3", "": "", "-": "'-", "-.5": "'-.5", "course-3": "course-3",
		" =lead space": "' =lead space", "  +1": "'  +1", "\nx": "'\nx", "  ": "  ", " plain": " plain",
	} {
		if got := SafeCell(in); got != want {
			t.Errorf("SafeCell(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestConverter(t *testing.T) {
	c, err := NewConverter("USD", []Rate{
		{"2026-11-01", "EUR", "USD", "1.25"},
		{"2026-11-15", "EUR", "USD", "1.5"},
		{"2026-11-01", "USD", "JPY", "150"},
		{"2026-11-01", "KWD", "USD", "3.25"},
	})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		cur, date string
		minor     int64
		want      int64
		wantErr   bool
	}{
		{"USD", "2020-01-01", 735, 735, false},
		{"EUR", "2026-11-10", 1000, 1250, false},
		{"EUR", "2026-11-15", 1000, 1500, false}, // the new rate holds from its date
		{"EUR", "2026-10-31", 1000, 0, true},     // before any rate: no guessing
		{"JPY", "2026-11-20", 1500, 1000, false}, // inverse of USD/JPY, 0 -> 2 decimals
		{"JPY", "2026-11-20", 1, 1, false},       // 0.67 cents rounds to 1
		{"KWD", "2026-11-20", 1001, 325, false},  // 3 -> 2 decimals: 3.2532 -> 3.25
		{"GBP", "2026-11-20", 100, 0, true},
	}
	for _, tt := range tests {
		got, err := c.Convert(Row{Currency: tt.cur, Approved: minor.Of(tt.minor)}, tt.date)
		if tt.wantErr {
			if err == nil || !strings.Contains(err.Error(), tt.date) || !strings.Contains(err.Error(), tt.cur) {
				t.Errorf("%s %s: err %v, want one naming the date and currency", tt.cur, tt.date, err)
			}
			continue
		}
		if err != nil || got.Approved.Cmp(minor.Of(tt.want)) != 0 || got.Currency != "USD" {
			t.Errorf("%d %s on %s = %+v %v, want %d USD", tt.minor, tt.cur, tt.date, got, err, tt.want)
		}
	}
}

// TestCSVWriterCRLF: RFC 4180 records end in CRLF, a line break inside a
// quoted cell included; what a reader gets back is the cells written.
func TestCSVWriterCRLF(t *testing.T) {
	tests := []struct {
		name string
		rows [][]string
		want string
	}{
		{"one record", [][]string{{"a", "b"}}, "a,b\r\n"},
		{"header and rows", [][]string{{"partner", "epc"}, {"coursera", "1.40"}, {"edx", ""}}, "partner,epc\r\ncoursera,1.40\r\nedx,\r\n"},
		{"quoted comma and quote", [][]string{{"Machine Learning, Part 1", `say "hi"`}}, "\"Machine Learning, Part 1\",\"say \"\"hi\"\"\"\r\n"},
		{"line break in a cell", [][]string{{"two\nlines", "x"}}, "\"two\r\nlines\",x\r\n"},
		{"no records", nil, ""},
	}
	for _, tt := range tests {
		var b bytes.Buffer
		w := NewCSVWriter(&b)
		for _, r := range tt.rows {
			if err := w.Write(r); err != nil {
				t.Fatal(err)
			}
		}
		w.Flush()
		if b.String() != tt.want {
			t.Errorf("%s: %q, want %q", tt.name, b.String(), tt.want)
		}
		if strings.Contains(strings.ReplaceAll(b.String(), "\r\n", ""), "\n") {
			t.Errorf("%s: a bare LF in %q", tt.name, b.String())
		}
	}
}

func TestParseRate(t *testing.T) {
	for _, r := range []Rate{
		{"2026-11-01", "EUR", "USD", "0"}, {"2026-11-01", "EUR", "USD", "-1"}, {"2026-11-01", "EUR", "USD", "1e3"},
		{"2026-11-01", "EUR", "EUR", "1"}, {"2026-13-01", "EUR", "USD", "1"}, {"2026-11-01", "XXX", "USD", "1"},
		{"2026-11-01", "EUR", "USD", ""}, {"2026-11-01", "EUR", "USD", "1.2.3"}, {"2026-11-01", "EUR", "USD", "1e999999"},
		{"2026-11-01", "EUR", "USD", strings.Repeat("1", 41)},
	} {
		if _, err := ParseRate(r); errs.HTTPStatus(err) != 422 {
			t.Errorf("ParseRate(%+v) = %v, want a 422", r, err)
		}
	}
}

// BenchmarkParseRateExponent is the cost of refusing a rate written with
// a huge exponent, which big.Rat would expand before the grammar refused
// it (about 30 ms a rate; now the grammar first).
func BenchmarkParseRateExponent(b *testing.B) {
	for b.Loop() {
		if _, err := ParseRate(Rate{"2026-11-01", "EUR", "USD", "1e999999"}); err == nil {
			b.Fatal("accepted")
		}
	}
}

func TestEncoders(t *testing.T) {
	// as_of to the millisecond, as X-Report-As-Of and meta.as_of write it
	meta := Meta{From: "2026-11-01", To: "2026-12-01", TZ: "UTC", GroupBy: []string{"partner"}, AsOf: now.Add(125 * time.Millisecond)}
	row := Row{Keys: []string{"=cmd|' /C calc'!A0"}, Currency: "USD", Clicks: 3, Approved: minor.Of(420), Sale: minor.Of(11000),
		Reversed: minor.Of(400)}
	var b bytes.Buffer
	enc, _ := NewCSV(&b, meta)
	enc.Row(row)
	enc.Close()
	want := "partner,currency,clicks,unique_clicks,bot_clicks,conversions,direct_conversions,cross_sell_conversions,sale_amount,commission_pending,commission_approved,commission_reversed,commission_paid,epc,as_of\r\n" +
		"'=cmd|' /C calc'!A0,USD,3,0,0,0,0,0,110.00,0.00,4.20,4.00,0.00,1.40,2026-11-21T12:00:00.125Z\r\n"
	if b.String() != want {
		t.Errorf("csv:\n%q\nwant\n%q", b.String(), want)
	}
	b.Reset()
	enc, _ = NewJSON(&b, meta)
	enc.Row(Row{Keys: []string{"a\"b"}, Currency: "JPY", Approved: minor.Of(1200)})
	enc.Close()
	if !strings.Contains(b.String(), `"rows":[{"partner":"a\"b","currency":"JPY","clicks":0,`) ||
		!strings.Contains(b.String(), `"commission_approved":"1200","commission_reversed":"0","commission_paid":"0","epc":null}`) {
		t.Errorf("json: %s", b.String())
	}
}

// Totals beyond int64 (a large amount at a large rate, or the sum of
// many) are converted, summed and written exactly, never wrapped.
func TestTotalsBeyondInt64(t *testing.T) {
	c, err := NewConverter("IDR", []Rate{{"2026-11-01", "USD", "IDR", "16000000.5"}})
	if err != nil {
		t.Fatal(err)
	}
	ceiling := minor.Of(1_000_000_000_000) // events.MaxAmountMinor: 10,000,000,000.00 USD
	var total Row
	for range 3 {
		r, err := c.Convert(Row{Currency: "USD", Approved: ceiling, Paid: ceiling, Clicks: 1}, "2026-11-20")
		if err != nil {
			t.Fatal(err)
		}
		total.AddMoney(r)
		total.Clicks += r.Clicks
	}
	total.Currency = "IDR"
	// 3 x 10^12 cents x 16,000,000.5 IDR per USD, IDR having 2 decimals.
	if got := total.Approved.In("IDR"); got != "480000015000000000.00" {
		t.Fatalf("approved = %s", got)
	}
	epc, _ := total.EPC()
	if got := epc.In("IDR"); got != "320000010000000000.00" {
		t.Fatalf("epc = %s", got)
	}
	var b bytes.Buffer
	enc, _ := NewJSON(&b, Meta{AsOf: now})
	enc.Row(total)
	enc.Close()
	if !strings.Contains(b.String(), `"commission_approved":"480000015000000000.00","commission_reversed":"0.00","commission_paid":"480000015000000000.00","epc":"320000010000000000.00"`) {
		t.Fatalf("json: %s", b.String())
	}
}

// With no from and to, a report covers the month running at the instant
// in its zone, from local midnight to local midnight, at every instant
// where that goes wrong: month and year ends in UTC and in Berlin, and
// DST change days (whose month is an hour short or long).
func TestParseQueryDefaultsAtEveryInstant(t *testing.T) {
	for _, inst := range testkit.Instants() {
		for _, tz := range []string{"UTC", "Europe/Berlin", "America/Chicago"} {
			t.Run(inst.Name+"/"+tz, func(t *testing.T) {
				q, err := ParseQuery(url.Values{"tz": {tz}}, "", inst.At)
				if err != nil {
					t.Fatal(err)
				}
				local := inst.At.In(q.TZ)
				if want := local.Format("2006-01") + "-01"; q.FromDate != want {
					t.Errorf("at %s: from %s, want %s", local.Format(time.RFC3339), q.FromDate, want)
				}
				if inst.At.Before(q.From) || !inst.At.Before(q.To) {
					t.Errorf("at %s: the period %s..%s does not hold the instant", local.Format(time.RFC3339), q.From, q.To)
				}
				for _, edge := range []time.Time{q.From.In(q.TZ), q.To.In(q.TZ)} {
					if edge.Day() != 1 || edge.Hour() != 0 || edge.Minute() != 0 {
						t.Errorf("at %s: %s is not the local midnight starting a month", local.Format(time.RFC3339), edge)
					}
				}
				if q.To.In(q.TZ).Month() == q.From.In(q.TZ).Month() || q.To.Format(time.DateOnly) != q.ToDate {
					t.Errorf("at %s: to %s (%s) is not the next month's first day", local.Format(time.RFC3339), q.To, q.ToDate)
				}
			})
		}
	}
}

// A parameter given twice with different values is refused (400): which
// the client meant is not defined, and taking the first would report
// another period than the one asked for. The same value twice is taken.
func TestParseQueryRepeatedParameter(t *testing.T) {
	for _, tt := range []struct {
		query, want string // want: a part of the message, "" for none
	}{
		{"from=2026-11-01&to=2026-12-01&from=2026-10-01", `"from" is given more than once`},
		{"group_by=partner&group_by=day", "group_by=partner,day"},
		{"tz=UTC&tz=Europe/Berlin", `"tz"`},
		{"from=2026-11-01&from=2026-11-01&to=2026-12-01", ""},
	} {
		v, _ := url.ParseQuery(tt.query)
		_, err := ParseQuery(v, "", now)
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%s: %v", tt.query, err)
		case tt.want != "" && (err == nil || errs.HTTPStatus(err) != 400 || !strings.Contains(err.Error(), tt.want) || !hasCode(err, "repeated_parameter")):
			t.Errorf("%s: %v, want 400 repeated_parameter saying %s", tt.query, err, tt.want)
		}
	}
}

func hasCode(err error, code string) bool {
	c, _ := errs.Public(err)
	return c == code
}

// A day starts at its first instant, also where a change of offset skips
// its midnight and time.Date answers an instant of the day before
// (Santiago, Havana), not only where it answers one after (Cairo): a
// report from such a day started on the day before, and a closed month
// made FinalDays walk the same day for ever (from a time check).
func TestDayStartWithoutMidnight(t *testing.T) {
	for _, tt := range []struct {
		zone, date, want string // want in UTC
	}{
		{"America/Santiago", "2026-09-06", "2026-09-06T04:00:00Z"},
		{"America/Havana", "2026-03-08", "2026-03-08T05:00:00Z"},
		{"Africa/Cairo", "2026-04-24", "2026-04-23T22:00:00Z"},
		{"Europe/Berlin", "2026-03-29", "2026-03-28T23:00:00Z"},
		{"Asia/Kathmandu", "2026-12-01", "2026-11-30T18:15:00Z"},
		{"UTC", "2026-12-31", "2026-12-31T00:00:00Z"},
	} {
		zone, err := time.LoadLocation(tt.zone)
		if err != nil {
			t.Fatal(err)
		}
		d, _ := time.Parse(time.DateOnly, tt.date)
		got := DayStart(d.Year(), d.Month(), d.Day(), zone)
		if got.UTC().Format(time.RFC3339) != tt.want || got.In(zone).Format(time.DateOnly) != tt.date {
			t.Errorf("%s %s starts %s (%s there), want %s", tt.zone, tt.date, got.UTC().Format(time.RFC3339), got.In(zone), tt.want)
		}
		before := got.Add(-time.Nanosecond).In(zone)
		if before.Format(time.DateOnly) == tt.date {
			t.Errorf("%s %s: %s is on that day too", tt.zone, tt.date, before)
		}
		q, err := ParseQuery(url.Values{"from": {tt.date}, "to": {d.AddDate(0, 0, 1).Format(time.DateOnly)}, "tz": {tt.zone}}, "", now)
		if err != nil || !q.From.Equal(got) || q.FromDate != tt.date {
			t.Errorf("%s from=%s: From %s (%s), %v", tt.zone, tt.date, q.From, q.FromDate, err)
		}
	}
}
