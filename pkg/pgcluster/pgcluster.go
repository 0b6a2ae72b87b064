package pgcluster

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	_ "github.com/lib/pq" // the driver the readiness probe connects with

	"github.com/linkcredit/linkcredit/pkg/proc"
)

// Options configure a cluster.
type Options struct {
	// DataDir holds the cluster; initdb runs when it has no PG_VERSION.
	DataDir string
	// Port to listen on, on 127.0.0.1. Zero picks a free one.
	Port int
	// Fast turns durability off (fsync, synchronous_commit): for throwaway
	// test clusters only.
	Fast bool
	// Log receives the server's output; nil keeps the last lines in memory
	// for error messages only.
	Log *os.File
	// SeedDir, when set, keeps initialised clusters to copy: a new DataDir
	// is a copy of the one initdb made there for these server binaries
	// (made on first use), which costs a fraction of running initdb. For
	// test clusters, of which a test run makes dozens.
	SeedDir string
}

// Cluster is a running server.
type Cluster struct {
	Port    int
	DataDir string

	proc *proc.Process
	tail *tailBuffer
}

// BinDir finds the directory of initdb and postgres: $PG_BIN, then $PATH,
// then the newest /usr/lib/postgresql/<version>/bin (where Debian's
// postgresql package puts them, off $PATH).
func BinDir() (string, error) {
	if dir := os.Getenv("PG_BIN"); dir != "" {
		return dir, nil
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		if real, err := filepath.EvalSymlinks(p); err == nil {
			p = real
		}
		return filepath.Dir(p), nil
	}
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	sort.Slice(matches, func(i, j int) bool { return version(matches[i]) > version(matches[j]) })
	if len(matches) > 0 {
		return filepath.Dir(matches[0]), nil
	}
	return "", errors.New("pgcluster: PostgreSQL server binaries not found (initdb is not on PATH nor in /usr/lib/postgresql/*/bin); install them with: apt-get install postgresql")
}

func version(initdbPath string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(initdbPath))))
	return v
}

// Start initialises DataDir if needed and starts the server, returning once
// it accepts connections.
func Start(ctx context.Context, opts Options) (*Cluster, error) {
	bin, err := BinDir()
	if err != nil {
		return nil, err
	}
	dataDir, err := filepath.Abs(opts.DataDir)
	if err != nil {
		return nil, err
	}
	cred, err := serverCredential()
	if err != nil {
		return nil, err
	}
	if err := prepareDir(dataDir, cred); err != nil {
		return nil, err
	}
	if _, err := os.Stat(filepath.Join(dataDir, "PG_VERSION")); errors.Is(err, os.ErrNotExist) {
		seeded := false
		// Only into an empty directory: initdb refuses any other, and so
		// the seed's fallback below only ever removes what it copied.
		if opts.SeedDir != "" && emptyDir(dataDir) {
			if err := copySeed(ctx, bin, opts.SeedDir, dataDir, cred); err == nil {
				seeded = true
			} else {
				// The seed is a shortcut: whatever went wrong with it (a
				// directory another user made, a half-deleted seed),
				// initdb as without one, into DataDir emptied again.
				if err := os.RemoveAll(dataDir); err != nil {
					return nil, fmt.Errorf("pgcluster: %w", err)
				}
				if err := prepareDir(dataDir, cred); err != nil {
					return nil, err
				}
			}
		}
		if !seeded {
			if err := initdb(ctx, bin, dataDir, cred); err != nil {
				return nil, err
			}
		}
	}
	removeStalePID(dataDir)

	// A port picked here can be taken by another program before postgres
	// binds it (there is no way to hand postgres a bound socket): then
	// postgres exits at once, and another port is tried.
	for attempt := 1; ; attempt++ {
		port := opts.Port
		if port == 0 {
			if port, err = freePort(); err != nil {
				return nil, err
			}
		}
		c, err := startOn(ctx, bin, dataDir, port, cred, opts)
		if err == nil || opts.Port != 0 || attempt == 5 || !errors.Is(err, errExited) {
			return c, err
		}
	}
}

// errExited: postgres stopped during start-up (a busy port, say).
var errExited = errors.New("postgres exited during start-up")

func startOn(ctx context.Context, bin, dataDir string, port int, cred *syscall.Credential, opts Options) (*Cluster, error) {
	args := []string{"-D", dataDir, "-p", strconv.Itoa(port), "-h", "127.0.0.1",
		"-c", "unix_socket_directories=", "-c", "max_connections=200",
		"-c", "listen_addresses=127.0.0.1", "-c", "log_min_messages=warning",
		// Full-page images dominate WAL volume for insert-heavy tables (the
		// inbox, the outbox, the ledger); compressing them with lz4 is
		// cheap (pglz, what "on" means, took 0.4 s of a 1.8 s COPY of
		// 300,000 clicks after a checkpoint; lz4 costs about nothing). And a
		// new cluster has no WAL segments to recycle: zero-filling each new
		// 16 MB segment stalled every commit behind it (p99 of webhooks at
		// 3,000/s: 41-65 ms with zero-fill, 13-16 ms without).
		"-c", "wal_compression=lz4", "-c", "wal_init_zero=off",
		// Backends write most dirty pages themselves (an insert-heavy load
		// outgrows shared_buffers), and the kernel held them, gigabytes on
		// a large machine, until its writeback sent hundreds of megabytes
		// at once: every commit's WAL flush waited behind it (webhooks at
		// 6,000/s: p99 100-184 ms, stalls of 1-2 s, against 10-34 ms with
		// each backend's writes pushed out every 256 kB, as the
		// checkpointer and background writer already do).
		"-c", "backend_flush_after=256kB"}
	if opts.Fast {
		args = append(args, "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off")
	}
	c := &Cluster{Port: port, DataDir: dataDir, tail: &tailBuffer{max: 8 << 10}}
	cmd := exec.Command(filepath.Join(bin, "postgres"), args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	cmd.Stdout, cmd.Stderr = c.tail, c.tail
	if opts.Log != nil {
		cmd.Stdout, cmd.Stderr = opts.Log, opts.Log
	}
	// SIGQUIT on the parent's death: an immediate shutdown that still
	// removes shared memory, so the directory can be started again.
	var err error
	if c.proc, err = proc.Start(cmd, syscall.SIGQUIT); err != nil {
		return nil, fmt.Errorf("pgcluster: start postgres: %w", err)
	}
	if err := c.waitReady(ctx); err != nil {
		c.Stop()
		return nil, err
	}
	return c, nil
}

func (c *Cluster) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	db, err := sql.Open("postgres", c.URL("postgres"))
	if err != nil {
		return err
	}
	defer db.Close()
	for {
		// Ready means this cluster answers on the port, not another server
		// that holds it.
		var dir string
		pingCtx, cancelPing := context.WithTimeout(ctx, time.Second)
		err = db.QueryRowContext(pingCtx, `SELECT current_setting('data_directory')`).Scan(&dir)
		cancelPing()
		if err == nil && dir == c.DataDir {
			return nil
		}
		if err == nil {
			err = fmt.Errorf("port %d is served by the cluster in %s", c.Port, dir)
		}
		select {
		case <-c.proc.Done():
			return fmt.Errorf("pgcluster: %w (%v):\n%s", errExited, c.proc.Err(), c.tail.String())
		case <-ctx.Done():
			return fmt.Errorf("pgcluster: postgres not ready: %w\n%s", err, c.tail.String())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// URL is a lib/pq URL for database db as the postgres superuser.
func (c *Cluster) URL(db string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", c.Port, db)
}

// Done is closed when the server process has exited.
func (c *Cluster) Done() <-chan struct{} { return c.proc.Done() }

// Err is the server's exit status; valid after Done.
func (c *Cluster) Err() error { return c.proc.Err() }

// Stop shuts the server down (fast shutdown: active sessions are ended,
// everything committed is kept) and waits for it; after 20 s it kills the
// server's process group.
func (c *Cluster) Stop() error {
	if c.proc == nil {
		return nil
	}
	_ = c.proc.Stop(syscall.SIGINT, 20*time.Second)
	return nil
}

// serverCredential is the postgres user's when running as root.
func serverCredential() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, errors.New("pgcluster: running as root, and there is no postgres user to run the server as (install the postgresql package, or run as a normal user)")
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

func prepareDir(dir string, cred *syscall.Credential) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("pgcluster: %w", err)
	}
	if cred == nil {
		return nil
	}
	if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
		return fmt.Errorf("pgcluster: %w", err)
	}
	// The server runs as postgres and must be able to reach its directory.
	for p := filepath.Dir(dir); p != "/"; p = filepath.Dir(p) {
		fi, err := os.Stat(p)
		if err != nil {
			return fmt.Errorf("pgcluster: %w", err)
		}
		if fi.Mode().Perm()&0o001 == 0 {
			return fmt.Errorf("pgcluster: the postgres user cannot enter %s (mode %v); choose a data directory outside it", p, fi.Mode().Perm())
		}
	}
	return nil
}

func runAs(ctx context.Context, cred *syscall.Credential, path string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	cmd.Dir = "/"
	return cmd.CombinedOutput()
}

// removeStalePID deletes postmaster.pid when its process is gone, which is
// what a killed server leaves behind; a live server's file is kept, and
// postgres then refuses to start twice on one directory.
func removeStalePID(dataDir string) {
	pidFile := filepath.Join(dataDir, "postmaster.pid")
	b, err := os.ReadFile(pidFile)
	if err != nil {
		return
	}
	first, _, _ := strings.Cut(string(b), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(first))
	if err != nil || syscall.Kill(pid, 0) == syscall.ESRCH {
		killOrphans(dataDir)
		_ = os.Remove(pidFile)
	}
}

// killOrphans ends what a killed server left running: its backends and
// workers, each in a session of its own (out of reach of a kill of the
// postmaster's process group) and still attached to its shared memory,
// so that no new server could start.
func killOrphans(dataDir string) {
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		left := processesIn(dataDir)
		for _, pid := range left {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		if len(left) == 0 {
			return
		}
	}
}

// processesIn lists the live processes of the cluster in dataDir: found by
// their working directory, the data directory, which only its postmaster,
// backends and workers have (a zombie holds nothing and is left out).
func processesIn(dataDir string) []int {
	// The kernel gives each cwd with its symlinks resolved.
	if real, err := filepath.EvalSymlinks(dataDir); err == nil {
		dataDir = real
	}
	var pids []int
	procs, _ := filepath.Glob("/proc/[0-9]*/cwd")
	for _, p := range procs {
		if cwd, err := os.Readlink(p); err != nil || cwd != dataDir {
			continue
		}
		pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(p)))
		if state, err := proc.State(pid); err != nil || state == 'Z' {
			continue
		}
		pids = append(pids, pid)
	}
	return pids
}

// Continue sends SIGCONT to every process of the cluster: one paused with
// SIGSTOP (as `make run`'s README suggests, to hold the database down)
// stops, and lets its clients stop, only once it runs again.
func (c *Cluster) Continue() {
	for _, pid := range processesIn(c.DataDir) {
		_ = syscall.Kill(pid, syscall.SIGCONT)
	}
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("pgcluster: find a free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
	max int
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf.Write(p)
	if over := t.buf.Len() - t.max; over > 0 {
		t.buf.Next(over)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.buf.String()
}

// initdb initialises dataDir.
func initdb(ctx context.Context, bin, dataDir string, cred *syscall.Credential) error {
	out, err := runAs(ctx, cred, filepath.Join(bin, "initdb"),
		"-D", dataDir, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8", "--no-sync")
	if err != nil {
		// Older initdb versions lack C.UTF-8; C is always there.
		out, err = runAs(ctx, cred, filepath.Join(bin, "initdb"),
			"-D", dataDir, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C", "--no-sync")
		if err != nil {
			return fmt.Errorf("pgcluster: initdb %s: %w\n%s", dataDir, err, out)
		}
	}
	return nil
}

// copySeed fills the empty dataDir with a copy of the cluster that initdb
// of bin made under seeds, making it first if there is none. The seed is
// made under a name of its own and renamed into place once complete, so
// processes starting together never copy half of one: the first rename
// wins, the others remove theirs. seeds must be this user's own directory
// (not a link, writable by no one else): a seed is run as a server.
func copySeed(ctx context.Context, bin, seeds, dataDir string, cred *syscall.Credential) error {
	fi, err := os.Stat(filepath.Join(bin, "initdb"))
	if err != nil {
		return fmt.Errorf("pgcluster: %w", err)
	}
	if err := ownDir(seeds); err != nil {
		return err
	}
	// The seed is named after the initdb that made it: another version or
	// build gets a seed of its own.
	seed := filepath.Join(seeds, fmt.Sprintf("%x", sha256.Sum256([]byte(fmt.Sprintf("%s %d %d", bin, fi.Size(), fi.ModTime().UnixNano()))))[:16])
	if _, err := os.Stat(filepath.Join(seed, "PG_VERSION")); err != nil {
		// None, or what a cleaner of old temporary files left of one.
		if err := os.RemoveAll(seed); err != nil {
			return fmt.Errorf("pgcluster: seed: %w", err)
		}
		sweepBuilding(seeds)
		building, err := os.MkdirTemp(seeds, "building-")
		if err != nil {
			return fmt.Errorf("pgcluster: seeds: %w", err)
		}
		defer os.RemoveAll(building)
		data := filepath.Join(building, "data")
		if err := os.Chmod(building, 0o711); err != nil {
			return fmt.Errorf("pgcluster: seeds: %w", err)
		}
		if err := prepareDir(data, cred); err != nil {
			return err
		}
		if err := initdb(ctx, bin, data, cred); err != nil {
			return err
		}
		if err := os.Rename(data, seed); err != nil {
			if _, statErr := os.Stat(filepath.Join(seed, "PG_VERSION")); statErr != nil {
				return fmt.Errorf("pgcluster: seed: %w", err)
			}
		}
	}
	// cp keeps each file's owner (the postgres user, when running as root)
	// and mode, which the server checks.
	if out, err := exec.CommandContext(ctx, "cp", "-a", seed+"/.", dataDir).CombinedOutput(); err != nil {
		return fmt.Errorf("pgcluster: copy seed %s: %w\n%s", seed, err, out)
	}
	return nil
}

// emptyDir reports whether dir is a directory with nothing in it.
func emptyDir(dir string) bool {
	entries, err := os.ReadDir(dir)
	return err == nil && len(entries) == 0
}

// ownDir makes dir if needed and checks it is a directory of this user's
// that no one else may write, and not a link.
func ownDir(dir string) error {
	if err := os.MkdirAll(dir, 0o711); err != nil {
		return fmt.Errorf("pgcluster: seeds: %w", err)
	}
	fi, err := os.Lstat(dir)
	if err != nil {
		return fmt.Errorf("pgcluster: seeds: %w", err)
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !fi.IsDir() || !ok || int(st.Uid) != os.Geteuid() || fi.Mode().Perm()&0o022 != 0 {
		return fmt.Errorf("pgcluster: seeds: %s is not a directory of this user's that only it may write", dir)
	}
	return nil
}

// sweepBuilding removes what processes killed while making a seed left:
// building directories older than any initdb takes.
func sweepBuilding(seeds string) {
	dirs, _ := filepath.Glob(filepath.Join(seeds, "building-*"))
	for _, d := range dirs {
		if fi, err := os.Lstat(d); err == nil && time.Since(fi.ModTime()) > 10*time.Minute {
			os.RemoveAll(d)
		}
	}
}
