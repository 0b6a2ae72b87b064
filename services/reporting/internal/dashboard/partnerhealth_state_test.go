package dashboard

import (
	"testing"
	"time"
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
