// Package redirect is the redirect service's domain: course links and the
// click on /c/{code}. It decides where a visitor goes, what the click
// record says (click id, visitor hash, bot verdict, unique flag) and hands
// the record to a ClickRecorder before the answer is given. It knows
// neither HTTP nor Kafka nor SQL: those are adapters passed to New.
package redirect
