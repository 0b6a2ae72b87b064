// Package window remembers keys for a time window in bounded memory: Recent
// answers "was this key seen in the last W?" (unique clicks), Limiter
// counts events per key over a sliding minute (abuse limits). Both are
// fixed-size tables of four-slot sets, allocated once: a lookup reads one
// set (one or two cache lines), time ages the slots out, and a full set
// gives up its least useful slot, so memory never grows and never needs
// a sweep.
package window
