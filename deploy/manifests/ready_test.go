//go:build !race

package manifests

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/linkcredit/linkcredit/pkg/testkit"
)

// TestServicesBecomeReadyWithTheDeploymentsEnv goes on where
// TestServicesGetPastConfiguration stops (at the unreachable database):
// each service gets exactly its deployment's environment but for
// DATABASE_URL (and PGPASSWORD), which name a reachable, empty database,
// and must log "<service> ready"; each migrate init container must exit
// 0. So every setting a service checks once it has its database is
// checked too: METRICS_ADDR (bound after the migrations), CLICKLOG_* and
// DATA_DIR (the click log), REPORT_TIME_ZONES and FINANCE_TIME_ZONE
// (stored), KAFKA_TLS_CA_FILE (read when the writers are made). A review
// showed METRICS_ADDR=0.0.0.0:99999, CLICKLOG_SYNC=alwayz and
// REPORT_TIME_ZONES=UTC,Europe/Berln passing the other test.
//
// The database is on the host's loopback, so the processes run outside a
// network namespace, all at once: each listen address (*_ADDR) must be a
// host and a port 1-65535, and is then served on 127.0.0.1:0 instead, so
// that the runs and whatever else this machine serves do not collide.
func TestServicesBecomeReadyWithTheDeploymentsEnv(t *testing.T) {
	bins := images(t)
	runs, workdir := deploymentRuns(t)
	parent := t.TempDir()
	envs := make([]map[string]string, len(runs))
	for i, r := range runs {
		env := map[string]string{}
		for k, v := range r.env {
			if strings.HasSuffix(k, "_ADDR") {
				if err := listenAddr(v); err != nil {
					t.Fatalf("%s: %s=%q: %v", r.name, k, v, err)
				}
				v = "127.0.0.1:0"
			}
			env[k] = v
		}
		env["DATABASE_URL"] = testkit.DatabaseURL(t)
		delete(env, "PGPASSWORD")
		envs[i] = env
	}
	// Every process at once (not as parallel subtests, which run two at a
	// time on two cores): each is held for startNoNetns' grace period.
	type result struct {
		got Run
		err error
	}
	results := inParallel(len(runs), func(i int) (res result) {
		r := runs[i]
		res.got, res.err = startNoNetns(parent, workdir, filepath.Join(bins, r.service, "out", r.service), r.args, envs[i], r.mounts)
		return res
	})
	for i, r := range runs {
		t.Run(r.name, func(t *testing.T) {
			got, err := results[i].got, results[i].err
			if err != nil {
				t.Fatal(err)
			}
			if len(r.args) > 0 && r.args[0] == "migrate" {
				if !got.ExitedAlone || got.Err != nil {
					t.Fatalf("%s migrate: exited=%v err=%v\n%s", r.service, got.ExitedAlone, got.Err, got.Stderr)
				}
				return
			}
			if got.ExitedAlone {
				t.Fatalf("%s exited during start-up with its deployment's environment and a reachable database (%v): it would crash-loop:\n%s",
					r.service, got.Err, got.Stderr)
			}
			if !strings.Contains(got.Stderr, r.service+" ready") {
				t.Fatalf("%s never became ready:\n%s", r.service, got.Stderr)
			}
		})
	}
}

// listenAddr checks a listen address as net.Listen will read it.
func listenAddr(addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("port %q is not 1-65535", port)
	}
	return nil
}

// startNoNetns is startContainer without the network namespace: the
// binary runs with its listen addresses as given.
func startNoNetns(parent, workdir, bin string, args []string, env map[string]string, mounts map[string]map[string]string) (Run, error) {
	fs, moved, err := layOut(parent, workdir, env, mounts)
	if err != nil {
		return Run{}, err
	}
	return start(context.Background(), bin, args, moved, filepath.Join(fs, workdir), 8*time.Second, false)
}
