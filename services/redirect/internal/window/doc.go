// Package window remembers keys for a time window in bounded memory: Recent
// answers "was this key seen in the last W?" (unique clicks), Limiter
// counts events per key over a sliding minute (abuse limits). Both keep two
// generations of sharded maps and drop the older generation each window,
// so memory holds at most two windows of keys and never needs a sweep.
package window
