package dashboard

import (
	"fmt"
	"testing"
	"time"

	"github.com/linkcredit/linkcredit/services/reporting/internal/minor"
	"github.com/linkcredit/linkcredit/services/reporting/internal/report"
)

func TestHealthState(t *testing.T) {
	day := 24 * time.Hour
	for _, tt := range []struct {
		since time.Duration
		want  string
	}{
		{0, "sending"},
		{day, "sending"},
		{day + time.Second, "quiet"},
		{8 * day, "quiet"},
		{8*day + time.Second, "inactive"},
		{30 * day, "inactive"},
	} {
		if got := healthState(tt.since, day); got != tt.want {
			t.Errorf("healthState(%v, 24h) = %s, want %s", tt.since, got, tt.want)
		}
	}
}

func TestInCurrency(t *testing.T) {
	rows := []report.Row{
		{Keys: []string{"coursera"}, Currency: "JPY", Clicks: 5, UniqueClicks: 4, BotClicks: 1, Conversions: 1, Approved: minor.Of(100)},
		{Keys: []string{"coursera"}, Currency: "USD", Clicks: 5, UniqueClicks: 4, BotClicks: 1, Conversions: 2, Approved: minor.Of(1234)},
		{Keys: []string{"edx"}, Currency: "JPY", Clicks: 3, UniqueClicks: 3, Conversions: 1, Approved: minor.Of(500)},
		{Keys: []string{"udemy"}, Currency: "", Clicks: 7, UniqueClicks: 6},
	}
	got := inCurrency(rows, "USD")
	want := []report.Row{
		{Keys: []string{"coursera"}, Currency: "USD", Clicks: 5, UniqueClicks: 4, BotClicks: 1, Conversions: 2, Approved: minor.Of(1234)},
		{Keys: []string{"edx"}, Currency: "USD", Clicks: 3, UniqueClicks: 3},
		{Keys: []string{"udemy"}, Currency: "USD", Clicks: 7, UniqueClicks: 6},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("inCurrency =\n%v\nwant\n%v", got, want)
	}
}

func TestHumanDuration(t *testing.T) {
	for _, tt := range []struct {
		d    time.Duration
		want string
	}{
		{24 * time.Hour, "24 hours"},
		{72 * time.Hour, "3 days"},
		{time.Hour, "1 hour"},
		{90 * time.Minute, "90 minutes"},
		{time.Minute, "1 minute"},
		{90 * time.Second, "1m30s"},
	} {
		if got := humanDuration(tt.d); got != tt.want {
			t.Errorf("humanDuration(%s) = %q, want %q", tt.d, got, tt.want)
		}
	}
}
