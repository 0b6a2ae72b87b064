// Package events is the wire contract of linkcredit's bus: the Go type of
// every event, the topic each travels on, its Kafka key, and its JSON form.
//
// Every event is one JSON object per message with a unique "id", a "type"
// and a "schema_version". Producers only ever add optional fields within a
// version; a change that breaks readers gets a new version and a new topic
// (clicks.v2). Golden files in testdata pin the bytes; docs/events.md
// describes each field. Decoders accept unknown fields (forward compatible)
// and reject, as errs.Invalid so consumers dead-letter them, events that
// miss required fields or come from a newer major version.
package events
