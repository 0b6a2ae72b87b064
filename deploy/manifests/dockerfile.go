//go:build !race

package manifests

import (
	"bufio"
	"fmt"
	"os"
	"strings"
)

// Dockerfile is a parsed Dockerfile: its stages in order.
type Dockerfile struct {
	Stages []Stage
}

// Stage is one FROM and what follows it.
type Stage struct {
	Name         string // AS name, or ""
	From         string
	Instructions []Instruction
}

// Instruction is one instruction, continuation lines joined.
type Instruction struct {
	Cmd  string // upper case: RUN, COPY, ENV, ...
	Args string
	Line int
}

// ParseDockerfile reads a Dockerfile: comments dropped, lines ending in a
// backslash joined (comment lines inside them skipped, as docker does).
func ParseDockerfile(path string) (*Dockerfile, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	d := &Dockerfile{}
	var cur strings.Builder
	start, n := 0, 0
	flush := func() error {
		text := strings.TrimSpace(cur.String())
		cur.Reset()
		if text == "" {
			return nil
		}
		cmd, args, _ := strings.Cut(text, " ")
		in := Instruction{Cmd: strings.ToUpper(cmd), Args: strings.TrimSpace(args), Line: start}
		if in.Cmd == "FROM" {
			from, name, _ := strings.Cut(in.Args, " AS ")
			if !strings.Contains(in.Args, " AS ") {
				from, name, _ = strings.Cut(in.Args, " as ")
			}
			d.Stages = append(d.Stages, Stage{From: strings.TrimSpace(from), Name: strings.TrimSpace(name)})
			return nil
		}
		if len(d.Stages) == 0 {
			if in.Cmd == "ARG" {
				return nil // global ARG, before the first FROM
			}
			return fmt.Errorf("%s:%d: %s before FROM", path, start, in.Cmd)
		}
		s := &d.Stages[len(d.Stages)-1]
		s.Instructions = append(s.Instructions, in)
		return nil
	}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		n++
		line := sc.Text()
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "#") {
			continue
		}
		if cur.Len() == 0 {
			start = n
		}
		if strings.HasSuffix(trimmed, "\\") {
			cur.WriteString(strings.TrimSuffix(trimmed, "\\"))
			cur.WriteByte(' ')
			continue
		}
		cur.WriteString(trimmed)
		if err := flush(); err != nil {
			return nil, err
		}
	}
	if err := flush(); err != nil {
		return nil, err
	}
	return d, sc.Err()
}

// Stage returns the stage named name, or the last stage for "".
func (d *Dockerfile) Stage(name string) *Stage {
	if name == "" && len(d.Stages) > 0 {
		return &d.Stages[len(d.Stages)-1]
	}
	for i := range d.Stages {
		if d.Stages[i].Name == name {
			return &d.Stages[i]
		}
	}
	return nil
}

// Env is the environment the stage's instructions and container see: its
// ARGs (defaults overridden by buildArgs) and ENVs, in order, with $VAR and
// ${VAR} expanded as docker does.
func (s *Stage) Env(buildArgs map[string]string) (map[string]string, error) {
	env := map[string]string{}
	for _, in := range s.Instructions {
		switch in.Cmd {
		case "ARG":
			name, def, _ := strings.Cut(in.Args, "=")
			if v, ok := buildArgs[name]; ok {
				env[name] = v
			} else {
				env[name] = unquote(def)
			}
		case "ENV":
			pairs, err := envPairs(in.Args)
			if err != nil {
				return nil, fmt.Errorf("line %d: %w", in.Line, err)
			}
			for _, p := range pairs {
				env[p[0]] = os.Expand(p[1], func(k string) string { return env[k] })
			}
		}
	}
	return env, nil
}

// ImageEnv is the ENV a container of the stage's image starts with (its
// ARGs do not reach the container).
func (s *Stage) ImageEnv() (map[string]string, error) {
	env := map[string]string{}
	for _, in := range s.Instructions {
		if in.Cmd != "ENV" {
			continue
		}
		pairs, err := envPairs(in.Args)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", in.Line, err)
		}
		for _, p := range pairs {
			env[p[0]] = p[1]
		}
	}
	return env, nil
}

// RunCommand is a RUN instruction's shell command without its --mount and
// other flags.
func RunCommand(in Instruction) string {
	args := in.Args
	for strings.HasPrefix(args, "--") {
		_, rest, _ := strings.Cut(args, " ")
		args = strings.TrimSpace(rest)
	}
	return args
}

func envPairs(s string) ([][2]string, error) {
	var out [][2]string
	for _, f := range fieldsQuoted(s) {
		k, v, ok := strings.Cut(f, "=")
		if !ok {
			return nil, fmt.Errorf("ENV %q: use KEY=value", s)
		}
		out = append(out, [2]string{k, unquote(v)})
	}
	return out, nil
}

// fieldsQuoted splits on spaces outside double quotes.
func fieldsQuoted(s string) []string {
	var out []string
	var b strings.Builder
	quoted := false
	for _, r := range s {
		switch {
		case r == '"':
			quoted = !quoted
			b.WriteRune(r)
		case r == ' ' && !quoted:
			if b.Len() > 0 {
				out = append(out, b.String())
				b.Reset()
			}
		default:
			b.WriteRune(r)
		}
	}
	if b.Len() > 0 {
		out = append(out, b.String())
	}
	return out
}

func unquote(s string) string {
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		return s[1 : len(s)-1]
	}
	return s
}
