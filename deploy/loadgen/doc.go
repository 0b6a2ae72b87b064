// Package loadgen drives a running linkcredit stack on loopback the way
// the outside world does: visitors clicking course links (many links,
// thousands of distinct user agents, crawlers, unfurlers, HEAD requests,
// placements and UTM tags) and partners sending signed webhooks and
// postbacks for a share of those clicks (pending, then approved or
// reversed; some duplicated, some out of order, some sent before their
// click reaches reporting, some in EUR).
//
// It remembers what the stack acknowledged (every 302 with an X-Click-Id,
// every 2xx answer to a conversion event) in a Ledger, and Reconcile
// checks that reporting's reports hold exactly that: every acknowledged
// click counted once per link and day, every acknowledged conversion once
// with its final status and money per partner, purchase day and currency,
// and nothing else for the run's partners.
//
// It is a test and benchmark tool: it refuses any address that is not
// loopback. It is not a monitoring probe.
package loadgen
