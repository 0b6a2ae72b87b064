// Package adapter turns what a partner sends into a canonical conversion.
// Webhooks use linkcredit's own JSON format, decoded strictly (money only
// as decimal strings). Postbacks differ per network, so a Mapping, which is
// data, not code, names the partner's parameter for each canonical field and
// maps its status words; presets cover Impact, Awin and Everflow, and a
// partner can carry its own mapping without a code change.
//
// Every path holds a partner to the limits of contract v1.1 before the
// service stores anything: values of at most events.MaxPartnerValueBytes,
// an ISO 4217 currency, amounts within the partner's max_amount (Partner),
// so a conversion it returns always makes an event that validates.
package adapter
