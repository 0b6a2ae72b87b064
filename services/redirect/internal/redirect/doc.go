// Package redirect is the redirect service's domain: course links and the
// click on /c/{code}. It decides where a visitor goes, what the click
// record says (click id, visitor hash, bot verdict, unique flag) and hands
// the record to a ClickRecorder before the answer is given. What the
// visitor sent is capped to the contract's limits first (capVisit), so
// nothing here hashes, counts or records more than a click may carry. It
// knows neither HTTP nor Kafka nor SQL: those are adapters passed to New.
package redirect
