//go:build blockprofile

package main

import "runtime"

// Built with -tags blockprofile (go build -tags blockprofile ./cmd/redirect),
// the binary samples blocking and lock contention, so that
// /debug/pprof/block and /debug/pprof/mutex on PPROF_ADDR show where
// clicks wait. Sampling costs time on every blocking event, so release
// builds leave it off.
func init() {
	runtime.SetBlockProfileRate(10_000) // one sample per 10 µs blocked
	runtime.SetMutexProfileFraction(10)
}
