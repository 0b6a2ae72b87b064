// Package proc starts child processes that cannot outlive their parent: the
// kernel sends them a signal when the parent dies (Pdeathsig), even by
// SIGKILL. Each runs in its own process group so a terminal's Ctrl-C
// reaches only the parent, which then stops children in order.
//
// Used by the local stack and the test harness; services never fork.
package proc
