// Package adapter turns what a partner sends into a canonical conversion.
// Webhooks use linkcredit's own JSON format, decoded strictly (money only
// as decimal strings). Postbacks differ per network, so a Mapping, which is
// data, not code, names the network's parameter for each canonical field,
// maps its status words and decline reasons, supplies defaults for what it
// leaves out (a network that sends no status sends new, pending
// transactions), and says how its amounts are written. The presets
// (presets.go: Impact, Awin, Everflow, CJ, Rakuten Advertising,
// PartnerStack) are built from each network's own documentation of what it
// sends a publisher, and their golden tests feed its documented examples
// (testdata/documented); a partner can carry its own mapping without a
// code change. A Mapping also builds the postback URL a publisher pastes
// into the network (PostbackURL), in the network's macro syntax.
//
// Every path holds a partner to the limits of contract v1.1 before the
// service stores anything: values of at most events.MaxPartnerValueBytes,
// an ISO 4217 currency, amounts within the partner's max_amount (Partner),
// so a conversion it returns always makes an event that validates.
package adapter
