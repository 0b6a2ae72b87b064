//go:build !race

package manifests

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/types"

	"github.com/linkcredit/linkcredit/pkg/testkit"
)

// The test that would have caught `conversions: config: SECRETS_KEY is
// required`: each service binary, as the Dockerfile builds it, started
// with exactly the environment compose or an overlay gives its container
// (the image's ENV, then the runtime's), with secrets as placeholders of
// the shape their makers produce and every dependency unreachable. It must
// get past configuration: still running, waiting for the database, when it
// is told to stop.

// outsideSecrets are the Secrets an overlay's objects read but do not
// hold, with the keys and value shapes of whoever makes them. Those the
// operators make are named as the operators name them, from the custom
// resources in objs, so that a manifest naming one wrongly fails to start
// here as its pod would fail to mount it there.
func outsideSecrets(t *testing.T, objs []Object) map[string]map[string]string {
	ca := testkit.TestCA(t)
	secrets := map[string]map[string]string{
		// docs/operations.md: kubectl create secret generic linkcredit-tokens ...
		"linkcredit-tokens": {
			"admin-token":   randHex(32),    // openssl rand -hex 32
			"click-id-keys": randHex(32),    // openssl rand -hex 32
			"secrets-key":   randBase64(32), // openssl rand -base64 32
		},
	}
	// CloudNativePG: a Cluster's app user is <cluster>-app, the CA of its
	// server certificate <cluster>-ca.
	for _, c := range OfKind(objs, "Cluster") {
		pgPassword := alnum(64) // 64 alphanumerics
		host := c.Name + "-rw"
		secrets[c.Name+"-app"] = map[string]string{
			"username": "linkcredit", "password": pgPassword, "dbname": "linkcredit", "host": host, "port": "5432",
			"uri":      "postgresql://linkcredit:" + pgPassword + "@" + host + ".linkcredit:5432/linkcredit",
			"jdbc-uri": "jdbc:postgresql://" + host + ".linkcredit:5432/linkcredit?password=" + pgPassword + "&user=linkcredit",
			"pgpass":   host + ":5432:linkcredit:linkcredit:" + pgPassword + "\n",
		}
		secrets[c.Name+"-ca"] = map[string]string{"ca.crt": ca, "ca.key": "placeholder"}
	}
	// Strimzi: a Kafka's cluster CA is <cluster>-cluster-ca-cert
	// (KafkaResources.clusterCaCertificateSecretName); a KafkaUser's
	// credentials (SCRAM-SHA-512) are a Secret of the user's name.
	for _, k := range OfKind(objs, "Kafka") {
		secrets[k.Name+"-cluster-ca-cert"] = map[string]string{"ca.crt": ca, "ca.p12": "placeholder", "ca.password": alnum(12)}
	}
	for _, u := range OfKind(objs, "KafkaUser") {
		pw := alnum(32)
		secrets[u.Name] = map[string]string{"password": pw,
			"sasl.jaas.config": `org.apache.kafka.common.security.scram.ScramLoginModule required username="` + u.Name + `" password="` + pw + `";`}
	}
	for _, s := range services {
		// docs/operations.md: each service's PostgreSQL role's password.
		secrets["linkcredit-pg-"+s] = map[string]string{"username": "linkcredit_" + s, "password": randHex(24)}
	}
	return secrets
}

// containerRun is one container of a deployment as a test runs it: the
// service's binary with the container's arguments, environment (the
// image's, then the runtime's) and mounts.
type containerRun struct {
	name    string // compose/redirect, prod/redirect/migrate, ...
	service string
	args    []string
	env     map[string]string
	mounts  map[string]map[string]string
}

// inParallel runs f(0) ... f(n-1) at once and returns their results in
// order: the container runs spend their time waiting, so a test takes one
// grace period, not one per container.
func inParallel[T any](n int, f func(i int) T) []T {
	out := make([]T, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[i] = f(i)
		}()
	}
	wg.Wait()
	return out
}

// deploymentRuns lists every container of the services in compose and in
// each overlay, with the image's working directory.
func deploymentRuns(t *testing.T) (runs []containerRun, workdir string) {
	t.Helper()
	final := dockerfile(t).Stage("")
	imageEnv, err := final.ImageEnv()
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range final.Instructions {
		if in.Cmd == "WORKDIR" {
			workdir = in.Args
		}
	}

	// docker-compose.yml, with the secrets .env.example says how to make.
	project, _ := loadComposeWithExample(t)
	for _, s := range services {
		svc, ok := project.Services[s]
		if !ok {
			t.Fatalf("compose has no service %s", s)
		}
		if svc.Build == nil || svc.Build.Args["SERVICE"] == nil || *svc.Build.Args["SERVICE"] != s {
			t.Fatalf("compose %s: not built from deploy/Dockerfile with SERVICE=%s", s, s)
		}
		mounts := map[string]map[string]string{}
		for _, v := range svc.Volumes {
			mounts[v.Target] = map[string]string{}
		}
		runs = append(runs, containerRun{"compose/" + s, s, svc.Command, ComposeEnv(svc, imageEnv), mounts})
	}

	// Each overlay: every container and init container of the services.
	for _, name := range overlays {
		objs, decoded := overlay(t, name)
		r := Resolver{Namespace: "linkcredit", Objects: objs, Outside: outsideSecrets(t, objs),
			ImageEnv: func(string) map[string]string { return imageEnv }}
		for wname, tmpl := range workloads(objs, decoded) {
			if !slices.Contains(services, wname) {
				continue
			}
			pod := wname + "-0"
			cs, err := r.Pod(pod, tmpl.Spec)
			if err != nil {
				t.Errorf("%s: %v", name, err)
				continue
			}
			for _, c := range cs {
				image := strings.TrimPrefix(strings.Split(c.Image, ":")[0], "ghcr.io/linkcredit/")
				if image != wname {
					t.Errorf("%s: %s container %s runs image %s", name, wname, c.Name, c.Image)
					continue
				}
				runs = append(runs, containerRun{name + "/" + wname + "/" + c.Name, wname, append(c.Command, c.Args...), c.Env, c.Mounts})
			}
		}
	}
	return runs, workdir
}

func TestServicesGetPastConfiguration(t *testing.T) {
	bins := images(t)
	runs, workdir := deploymentRuns(t)

	// Every process at once: they spend their time waiting, so the test
	// takes one grace period, not one per container.
	type result struct {
		got Run
		env map[string]string
		err error
	}
	parent := t.TempDir()
	results := inParallel(len(runs), func(i int) (res result) {
		r := runs[i]
		res.env, res.got, res.err = startContainer(parent, workdir, filepath.Join(bins, r.service, "out", r.service), r.args, r.env, r.mounts)
		return res
	})
	for i, r := range runs {
		t.Run(r.name, func(t *testing.T) {
			got, err := results[i].got, results[i].err
			if err != nil {
				t.Fatal(err)
			}
			if !got.Isolated {
				t.Log("no network namespace here: listen addresses moved to 127.0.0.1:0")
			}
			if got.ExitedAlone {
				t.Fatalf("%s %v exited during start-up (%v), so it would crash-loop:\n%s\nenvironment: %v",
					r.service, r.args, got.Err, got.Stderr, SortedKeys(results[i].env))
			}
			if !strings.Contains(got.Stderr, "database: not reachable") {
				t.Fatalf("%s %v did not stop while waiting for the database:\n%s", r.service, r.args, got.Stderr)
			}
		})
	}
}

// startContainer lays out the container's volumes and working directory
// under a new directory in parent, moves every value that names a path in
// them along, and starts bin (see Start).
func startContainer(parent, workdir, bin string, args []string, env map[string]string, mounts map[string]map[string]string) (map[string]string, Run, error) {
	fs, moved, err := layOut(parent, workdir, env, mounts)
	if err != nil {
		return nil, Run{}, err
	}
	got, err := Start(context.Background(), bin, args, moved, filepath.Join(fs, workdir), 3*time.Second)
	return moved, got, err
}

// layOut makes a container's file system under parent: the working
// directory and each mount (with its files), and returns it with env's
// paths moved into it.
func layOut(parent, workdir string, env map[string]string, mounts map[string]map[string]string) (fs string, moved map[string]string, err error) {
	fs, err = os.MkdirTemp(parent, "fs-")
	if err != nil {
		return "", nil, err
	}
	paths := map[string]map[string]string{workdir: {}}
	for p, files := range mounts {
		paths[p] = files
	}
	for p, files := range paths {
		dir := filepath.Join(fs, p)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return "", nil, err
		}
		for f, content := range files {
			if err := os.WriteFile(filepath.Join(dir, f), []byte(content), 0o600); err != nil {
				return "", nil, err
			}
		}
	}
	moved = map[string]string{}
	for k, v := range env {
		for p := range paths {
			if v == p || strings.Contains(v, p+"/") {
				v = strings.ReplaceAll(v, p, filepath.Join(fs, p))
			}
		}
		moved[k] = v
	}
	return fs, moved, nil
}

// loadComposeWithExample loads docker-compose.yml with the variables
// .env.example lists, made as its commands say.
func loadComposeWithExample(t *testing.T) (*types.Project, map[string]string) {
	t.Helper()
	vars, secrets, err := EnvExample(filepath.Join(root, ".env.example"))
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{}
	for _, s := range secrets {
		if env[s.Name], err = s.Make(); err != nil {
			t.Fatal(err)
		}
	}
	for _, v := range vars {
		if _, ok := env[v]; !ok {
			t.Errorf(".env.example: no command makes %s", v)
		}
	}
	for name := range env {
		if !slices.Contains(vars, name) {
			t.Errorf(".env.example makes %s but does not list it", name)
		}
	}
	p, err := LoadCompose(context.Background(), filepath.Join(root, "docker-compose.yml"), env)
	if err != nil {
		t.Fatal(err)
	}
	return p, env
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func randBase64(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.StdEncoding.EncodeToString(b)
}

func alnum(n int) string {
	const letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, n)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = letters[int(b[i])%len(letters)]
	}
	return string(b)
}
