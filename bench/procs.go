package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// binaries are astro-runner and the example target, built once per command
// run into a temporary directory.
type binaries struct {
	dir    string
	root   string // The repository, where examples/ is.
	astro  string
	target string
}

// buildBinaries builds ./cmd/astro-runner and ./examples/target of the
// repository that holds this module (its parent directory).
func buildBinaries(ctx context.Context) (*binaries, error) {
	root, err := filepath.Abs("..")
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(filepath.Join(root, "cmd", "astro-runner")); err != nil {
		return nil, fmt.Errorf("run the bench from bench/ in the repository: %w", err)
	}
	dir, err := os.MkdirTemp("", "astro-bench-bin-")
	if err != nil {
		return nil, err
	}
	b := &binaries{dir: dir, root: root, astro: filepath.Join(dir, "astro-runner"), target: filepath.Join(dir, "target")}
	for out, pkg := range map[string]string{b.astro: "./cmd/astro-runner", b.target: "./examples/target"} {
		cmd := exec.CommandContext(ctx, "go", "build", "-o", out, pkg)
		cmd.Dir = root
		if msg, err := cmd.CombinedOutput(); err != nil {
			_ = os.RemoveAll(dir)
			return nil, fmt.Errorf("go build %s: %w\n%s", pkg, err, msg)
		}
	}
	return b, nil
}

func (b *binaries) close() { _ = os.RemoveAll(b.dir) }

// freeAddr returns a loopback address with a port that was free a moment
// ago.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	addr := ln.Addr().String()
	return addr, ln.Close()
}

// process is a subprocess whose stderr and stdout go to a log file.
type process struct {
	name   string
	cmd    *exec.Cmd
	log    string
	exited chan struct{}
	err    error // Set when exited is closed.
}

// startProcess starts bin with args and env (added to a copy of this
// process's environment without any variable the product reads).
func startProcess(name, bin, logFile string, env []string, args ...string) (*process, error) {
	f, err := os.Create(logFile)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(productFreeEnv(), env...)
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &process{name: name, cmd: cmd, log: logFile, exited: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		_ = f.Close()
		close(p.exited)
	}()
	return p, nil
}

// productFreeEnv is this process's environment without the variables that
// astro-runner reads, so that nothing but what the bench sets configures it.
func productFreeEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch {
		case strings.HasPrefix(k, "ASTRO_"), strings.HasPrefix(k, "OTEL_"),
			k == "STORAGE_BACKEND", k == "SQLITE_PATH", k == "POSTGRESQL_URL", k == "NO_COLOR":
			continue
		}
		env = append(env, kv)
	}
	return env
}

// waitHTTP polls url until it answers 200, the process exits, or timeout
// passes.
func (p *process) waitHTTP(ctx context.Context, url string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	client := &http.Client{Timeout: time.Second}
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		if resp, err := client.Do(req); err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-p.exited:
			return fmt.Errorf("%s exited before it was ready (%v):\n%s", p.name, p.err, p.tail())
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready at %s after %s:\n%s", p.name, url, timeout, p.tail())
		}
	}
}

// stop asks the process to stop (SIGTERM), and kills it after 30 s.
func (p *process) stop() error {
	select {
	case <-p.exited:
		return p.exitErr()
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
		return p.exitErr()
	case <-time.After(30 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.exited
		return fmt.Errorf("%s did not stop within 30s of SIGTERM", p.name)
	}
}

func (p *process) exitErr() error {
	var ee *exec.ExitError
	if errors.As(p.err, &ee) && ee.Exited() && ee.ExitCode() == 0 {
		return nil
	}
	if errors.As(p.err, &ee) && !ee.Exited() {
		// Ended by the SIGTERM this command sent.
		return nil
	}
	return p.err
}

// tail returns the last lines of the process's log.
func (p *process) tail() string {
	b, err := os.ReadFile(p.log)
	if err != nil {
		return ""
	}
	lines := bytes.Split(bytes.TrimRight(b, "\n"), []byte("\n"))
	return string(bytes.Join(lines[max(0, len(lines)-20):], []byte("\n")))
}

// startTarget runs the example target on a free loopback port and returns
// it and its address.
func startTarget(ctx context.Context, bins *binaries) (*process, string, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, "", err
	}
	p, err := startProcess("example target", bins.target, filepath.Join(bins.dir, "target.log"), nil, "-addr", addr)
	if err != nil {
		return nil, "", err
	}
	if err := p.waitHTTP(ctx, "http://"+addr+"/api/v1/health", 30*time.Second); err != nil {
		_ = p.stop()
		return nil, "", err
	}
	return p, addr, nil
}
