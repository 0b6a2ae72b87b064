//go:build !race

package manifests

import (
	"debug/buildinfo"
	"debug/elf"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
)

// dockerServices is every SERVICE deploy/Dockerfile builds.
var dockerServices = []string{"redirect", "conversions", "reporting", "devbroker"}

const testVersion = "dockerfile-test-3f9c1a"

var (
	imagesOnce sync.Once
	imagesDir  string
	imagesErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if imagesDir != "" {
		os.RemoveAll(imagesDir)
	}
	os.Exit(code)
}

func dockerfile(t *testing.T) *Dockerfile {
	t.Helper()
	d, err := ParseDockerfile(filepath.Join(root, "deploy", "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// images runs the build stage of deploy/Dockerfile for every SERVICE, as
// `docker build` would: each RUN in order, with the stage's ARGs and ENVs,
// in the checkout (the stage's WORKDIR after COPY . .), with /out moved to
// a temporary directory. It returns that directory: <dir>/<service>/out is
// what the build stage leaves in /out.
func images(t *testing.T) string {
	t.Helper()
	imagesOnce.Do(func() {
		imagesDir, imagesErr = os.MkdirTemp("", "linkcredit-images-")
		if imagesErr != nil {
			return
		}
		d, err := ParseDockerfile(filepath.Join(root, "deploy", "Dockerfile"))
		if err != nil {
			imagesErr = err
			return
		}
		build := d.Stage("build")
		if build == nil {
			imagesErr = fmt.Errorf("deploy/Dockerfile has no stage named build")
			return
		}
		abs, _ := filepath.Abs(root)
		for _, svc := range dockerServices {
			out := filepath.Join(imagesDir, svc, "out")
			env, err := build.Env(map[string]string{"SERVICE": svc, "VERSION": testVersion})
			if err != nil {
				imagesErr = err
				return
			}
			for _, in := range build.Instructions {
				if in.Cmd != "RUN" {
					continue
				}
				script := strings.ReplaceAll(RunCommand(in), "/out/", out+"/")
				cmd := exec.Command("sh", "-ec", script)
				cmd.Dir = abs
				cmd.Env = os.Environ()
				for k, v := range env {
					cmd.Env = append(cmd.Env, k+"="+v)
				}
				if b, err := cmd.CombinedOutput(); err != nil {
					imagesErr = fmt.Errorf("SERVICE=%s: Dockerfile line %d: %v\n%s\n%s", svc, in.Line, err, script, b)
					return
				}
			}
		}
	})
	if imagesErr != nil {
		t.Fatal(imagesErr)
	}
	return imagesDir
}

// TestDockerfileBuildsEveryBinary runs the Dockerfile's go build commands
// with its flags for every SERVICE and checks what comes out: static
// binaries, built with -trimpath and CGO off, stamped with the version,
// and the directories the services write to.
func TestDockerfileBuildsEveryBinary(t *testing.T) {
	dir := images(t)
	for _, svc := range dockerServices {
		out := filepath.Join(dir, svc, "out")
		for _, bin := range []string{svc, "probe"} {
			path := filepath.Join(out, bin)
			f, err := elf.Open(path)
			if err != nil {
				t.Fatalf("%s: %v", svc, err)
			}
			for _, p := range f.Progs {
				if p.Type == elf.PT_INTERP {
					t.Errorf("%s/%s: dynamically linked (PT_INTERP): distroless static cannot run it", svc, bin)
				}
			}
			f.Close()
			info, err := buildinfo.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			settings := map[string]string{}
			for _, s := range info.Settings {
				settings[s.Key] = s.Value
			}
			if settings["CGO_ENABLED"] != "0" || settings["-trimpath"] != "true" {
				t.Errorf("%s/%s: CGO_ENABLED=%s -trimpath=%s", svc, bin, settings["CGO_ENABLED"], settings["-trimpath"])
			}
			if bin == svc && svc != "devbroker" { // devbroker reports no version
				// -trimpath keeps -ldflags out of the build info, so the
				// version is in the binary only if main.version took it.
				b, _ := os.ReadFile(path)
				if !strings.Contains(string(b), testVersion) {
					t.Errorf("%s: -X main.version=%s did not reach the binary", svc, testVersion)
				}
			}
		}
		if fi, err := os.Stat(filepath.Join(out, "state", "clicklog")); err != nil || !fi.IsDir() {
			t.Errorf("%s: the build stage makes no state/clicklog: %v", svc, err)
		}
	}
}

// TestDockerfileImage checks the runtime stage and .dockerignore: non-root,
// distroless static, DATA_DIR owned by the runtime user, and no local
// state, history or build output in the build context.
func TestDockerfileImage(t *testing.T) {
	final := dockerfile(t).Stage("")
	if !strings.Contains(final.From, "distroless/static") {
		t.Errorf("runtime stage FROM %s, want distroless static", final.From)
	}
	env, err := final.ImageEnv()
	if err != nil {
		t.Fatal(err)
	}
	var user, workdir string
	var stateOwned bool
	for _, in := range final.Instructions {
		switch in.Cmd {
		case "USER":
			user = in.Args
		case "WORKDIR":
			workdir = in.Args
		case "COPY":
			if strings.Contains(in.Args, "--chown=65532:65532") && strings.HasSuffix(in.Args, " "+env["DATA_DIR"]) {
				stateOwned = true
			}
		}
	}
	if user != "65532:65532" {
		t.Errorf("USER %q, want 65532:65532 (distroless nonroot, numeric so runAsNonRoot can verify it)", user)
	}
	if env["DATA_DIR"] == "" || !stateOwned || workdir != env["DATA_DIR"] {
		t.Errorf("DATA_DIR %q must be COPY --chown=65532:65532 into the image and be the WORKDIR (%q)", env["DATA_DIR"], workdir)
	}
	b, err := os.ReadFile(filepath.Join(root, ".dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	ignored := strings.Fields(string(b))
	for _, must := range []string{".git", ".run", "bin", ".cache", ".artifacts"} {
		if !slices.Contains(ignored, must) {
			t.Errorf(".dockerignore does not exclude %s", must)
		}
	}
}
