package main

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
)

// cpuSnapshot is the CPU time, in seconds, that each process of the stack
// and the load tool had used at one moment, with PostgreSQL's processes
// apart so that their time can be split by whom it served.
type cpuSnapshot struct {
	procs    map[string]float64 // the services, the broker, bare302, bareinsert, "loadgen" (this process)
	backends map[int]backendCPU // PostgreSQL's processes but the postmaster
	// reaped is the postmaster's own time and that of its children that
	// closed (a backend whose connection a pool let go).
	reaped float64
}

type backendCPU struct {
	owner string // pgOwner of the backend's role
	cpu   float64
}

// pgBackground is PostgreSQL's time that served no role: the postmaster,
// the checkpointer, the WAL writer, autovacuum, and the backends that
// closed during a measurement (their share of it cannot be told apart).
const pgBackground = "postgres: background"

// pgOwner names PostgreSQL's time spent for a database role.
func pgOwner(role string) string { return "postgres: " + role }

// cpuNow takes a snapshot. The roles come from pg_stat_activity; a
// process it does not list (or that query failing) counts as background.
func (b *bench) cpuNow(ctx context.Context) cpuSnapshot {
	s := cpuSnapshot{procs: map[string]float64{}, backends: map[int]backendCPU{}}
	roles := b.backendRoles(ctx)
	for name, pid := range b.st.pids() {
		if name != "postgres" {
			s.procs[name], _ = cpuSeconds(pid)
			continue
		}
		s.reaped, _ = cpuSecondsWithReaped(pid)
		for _, p := range descendants(pid) {
			owner := pgBackground
			if r, ok := roles[p]; ok {
				owner = pgOwner(r)
			}
			c, _ := cpuSeconds(p)
			s.backends[p] = backendCPU{owner, c}
		}
	}
	for _, x := range b.extras {
		s.procs[comm(x.Process.Pid)], _ = cpuSeconds(x.Process.Pid)
	}
	s.procs["loadgen"], _ = cpuSeconds(os.Getpid())
	return s
}

// backendRoles maps each PostgreSQL backend's pid to its role.
func (b *bench) backendRoles(ctx context.Context) map[int]string {
	out, err := b.psql(ctx, `SELECT pid || ' ' || usename FROM pg_stat_activity WHERE usename IS NOT NULL`)
	roles := map[int]string{}
	if err != nil {
		return roles
	}
	for _, line := range splitLines(out) {
		pid, role, ok := strings.Cut(line, " ")
		if p, err := strconv.Atoi(pid); err == nil && ok {
			roles[p] = role
		}
	}
	return roles
}

// since is each owner's CPU seconds from before to s: a process by its
// name, PostgreSQL by role (pgOwner) and pgBackground.
func (s cpuSnapshot) since(before cpuSnapshot) map[string]float64 {
	out := map[string]float64{}
	for name, c := range s.procs {
		out[name] += c - before.procs[name]
	}
	closed := 0.0 // what the backends that closed had used before
	for pid, was := range before.backends {
		if _, ok := s.backends[pid]; !ok {
			closed += was.cpu
		}
	}
	for pid, now := range s.backends {
		out[now.owner] += now.cpu - before.backends[pid].cpu
	}
	out[pgBackground] += max(0, s.reaped-before.reaped-closed)
	return out
}

// perRequest is each owner's CPU seconds (since's) in µs for each of n
// requests.
func perRequest(used map[string]float64, n int64) map[string]float64 {
	out := map[string]float64{}
	if n <= 0 {
		return out
	}
	for owner, c := range used {
		out[owner] = 1e6 * c / float64(n)
	}
	return out
}

// cpuOrder is the order cpuLine lists owners in: the servers, then
// PostgreSQL for each, then the rest. Owners not named come after, by
// name.
var cpuOrder = []string{"conversions", "bareinsert", pgOwner("linkcredit_conversions"), "reporting",
	pgOwner("linkcredit_reporting"), "devbroker", pgBackground, "loadgen"}

// cpuLine is a per-request CPU map as the table prints it: each owner of
// at least 1 µs, then the sum of all.
func cpuLine(perRequest map[string]float64) string {
	if len(perRequest) == 0 {
		return "-"
	}
	owners := make([]string, 0, len(perRequest))
	total := 0.0
	for o, us := range perRequest {
		total += us
		if us >= 1 {
			owners = append(owners, o)
		}
	}
	rank := func(o string) int {
		if i := slices.Index(cpuOrder, o); i >= 0 {
			return i
		}
		return len(cpuOrder)
	}
	slices.SortFunc(owners, func(a, b string) int {
		if ra, rb := rank(a), rank(b); ra != rb {
			return ra - rb
		}
		return strings.Compare(a, b)
	})
	parts := make([]string, len(owners))
	for i, o := range owners {
		label := o
		if o == pgBackground {
			label = "postgres background"
		} else if role, ok := strings.CutPrefix(o, "postgres: "); ok {
			label = "postgres for " + strings.TrimPrefix(role, "linkcredit_")
		}
		parts[i] = fmt.Sprintf("%s %.0f", label, perRequest[o])
	}
	return fmt.Sprintf("%s = %.0f", strings.Join(parts, ", "), total)
}
