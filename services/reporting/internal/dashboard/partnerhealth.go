package dashboard

import (
	"context"
	"fmt"
	"html/template"
	"net/http"
	"time"

	"github.com/linkcredit/linkcredit/pkg/clock"
	"github.com/linkcredit/linkcredit/pkg/httpx"
	"github.com/linkcredit/linkcredit/services/reporting/internal/reporting"
)

// PartnerActivity is what the partner-health panel reads
// (reporting.PartnerHealth).
type PartnerActivity interface {
	Activity(ctx context.Context) ([]reporting.PartnerActivity, error)
}

// RegisterPartnerHealth adds the partner-health panel, signed in like the
// dashboard:
//
//	GET /partners/health   a table per partner: last purchase, conversions
//	                       in 24 h and 7 days, and the unattributed ones
//
// It shows what reached the ledger. Rejected deliveries never do: they
// are in conversions' GET /v1/partner-health and its alerting metrics,
// which the panel points to.
func RegisterPartnerHealth(rt *httpx.Router, src PartnerActivity, silentAfter time.Duration, cfg Config) {
	h := &Handler{tokens: cfg.Tokens, sessions: cfg.Sessions, now: clock.OrSystem(cfg.Now), logger: cfg.Logger,
		tmpl: template.Must(template.New("").Funcs(funcs).ParseFS(templateFiles, "templates/*.html"))}
	if silentAfter <= 0 {
		silentAfter = 24 * time.Hour
	}
	rt.HandleFunc("GET /partners/health", func(w http.ResponseWriter, r *http.Request) {
		csrf, ok := h.signedIn(w, r)
		if !ok {
			return
		}
		activity, err := src.Activity(r.Context())
		if err != nil {
			httpx.WriteError(w, r, h.logger, err)
			return
		}
		now := h.now().UTC()
		page := healthPage{CSRF: csrf, AsOf: now.Format("2006-01-02 15:04 MST"), SilentAfter: humanDuration(silentAfter)}
		for _, a := range activity {
			row := healthRow{Partner: a.Partner, Last: "never", Day: a.Conversions24h, Week: a.Conversions7d,
				NoClick: a.NoClickID7d, UnknownClick: a.UnknownClick7d, State: "inactive"}
			if a.LastPurchaseAt != nil {
				row.Last = a.LastPurchaseAt.UTC().Format("2006-01-02 15:04")
				row.State = healthState(now.Sub(*a.LastPurchaseAt), silentAfter)
			}
			if a.Conversions7d > 0 {
				row.UnattributedShare = fmt.Sprintf("%d%%", (a.NoClickID7d+a.UnknownClick7d)*100/a.Conversions7d)
			}
			page.Rows = append(page.Rows, row)
		}
		h.render(w, r, http.StatusOK, "partner_health.html", page)
	})
}

type healthPage struct {
	CSRF, AsOf, SilentAfter string
	Rows                    []healthRow
}

type healthRow struct {
	Partner, Last, UnattributedShare string
	Day, Week, NoClick, UnknownClick int64
	State                            string // healthState
}

// healthState names a partner's state by how long ago its last purchase
// was: "sending" within silentAfter; "quiet" when it sold in the week
// before and nothing since for more than silentAfter (the one to look
// at); "inactive" when nothing for longer, or never.
func healthState(since, silentAfter time.Duration) string {
	switch {
	case since <= silentAfter:
		return "sending"
	case since <= silentAfter+7*24*time.Hour:
		return "quiet"
	}
	return "inactive"
}

// humanDuration says d as a person would read it: "24 hours", "3 days",
// "90 minutes"; not Go's "24h0m0s".
func humanDuration(d time.Duration) string {
	plural := func(n int64, unit string) string {
		if n == 1 {
			return "1 " + unit
		}
		return fmt.Sprintf("%d %ss", n, unit)
	}
	switch {
	case d >= 48*time.Hour && d%(24*time.Hour) == 0:
		return plural(int64(d/(24*time.Hour)), "day")
	case d >= time.Hour && d%time.Hour == 0:
		return plural(int64(d/time.Hour), "hour")
	case d >= time.Minute && d%time.Minute == 0:
		return plural(int64(d/time.Minute), "minute")
	}
	return d.String()
}
