// Package kafkatransport feeds clicks.v1 and conversions.v1 into the
// reporting store: it decodes a batch, sets its poison aside for the
// dead-letter topic, and writes the rest in one transaction per topic
// before the subscriber commits the offsets.
package kafkatransport
