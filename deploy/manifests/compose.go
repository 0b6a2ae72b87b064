//go:build !race

package manifests

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
)

// LoadCompose loads a compose file as `docker compose` does, interpolating
// ${...} from env alone (not from the caller's environment or a .env file).
func LoadCompose(ctx context.Context, file string, env map[string]string) (*types.Project, error) {
	var list []string
	for k, v := range env {
		list = append(list, k+"="+v)
	}
	abs, err := filepath.Abs(file)
	if err != nil {
		return nil, err
	}
	opts, err := cli.NewProjectOptions([]string{abs}, cli.WithWorkingDirectory(filepath.Dir(abs)), cli.WithEnv(list), cli.WithName("linkcredit"))
	if err != nil {
		return nil, err
	}
	return opts.LoadProject(ctx)
}

// ComposeEnv is the environment a compose service's container gets: the
// image's ENV (imageEnv, may be nil), then the service's environment.
func ComposeEnv(s types.ServiceConfig, imageEnv map[string]string) map[string]string {
	env := map[string]string{"HOSTNAME": s.Name}
	for k, v := range imageEnv {
		env[k] = v
	}
	for k, v := range s.Environment {
		if v != nil { // nil: taken from the host, which the test does not give
			env[k] = *v
		}
	}
	return env
}

// Secret is a variable .env.example asks for, with the command it names
// to make a value.
type Secret struct {
	Name    string
	Command string // e.g. "openssl rand -hex 32"
}

var makeLine = regexp.MustCompile(`^#\s+echo "([A-Z0-9_]+)=\$\((openssl rand -(?:hex|base64) \d+)\)"`)

// EnvExample reads .env.example: the variables it lists (VAR= lines) and
// the `echo "VAR=$(openssl rand ...)"` lines in its comments that make them.
func EnvExample(path string) (vars []string, secrets []Secret, err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if m := makeLine.FindStringSubmatch(line); m != nil {
			secrets = append(secrets, Secret{Name: m[1], Command: m[2]})
			continue
		}
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, _, ok := strings.Cut(line, "=")
		if !ok {
			return nil, nil, fmt.Errorf("%s: %q is not VAR=value", path, line)
		}
		vars = append(vars, name)
	}
	return vars, secrets, sc.Err()
}

// Make runs the command's equivalent in Go: the value has the shape
// `openssl rand -hex N` or `-base64 N` gives.
func (s Secret) Make() (string, error) {
	f := strings.Fields(s.Command)
	if len(f) != 4 || f[0] != "openssl" || f[1] != "rand" {
		return "", fmt.Errorf("%s: cannot make %q", s.Name, s.Command)
	}
	n, err := strconv.Atoi(f[3])
	if err != nil {
		return "", err
	}
	b := make([]byte, n)
	_, _ = rand.Read(b)
	switch f[2] {
	case "-hex":
		return hex.EncodeToString(b), nil
	case "-base64":
		return base64.StdEncoding.EncodeToString(b), nil
	}
	return "", fmt.Errorf("%s: cannot make %q", s.Name, s.Command)
}
