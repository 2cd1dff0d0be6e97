package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/lattice-federation/lattice/internal/admin"
)

// lockedBuffer collects a subprocess's output while the test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// buildLattice builds the lattice binary into a temporary directory.
func buildLattice(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "lattice")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	require.NoError(t, err, "go build: %s", out)
	return bin
}

// runBin runs the binary to completion and returns stdout, stderr and the
// exit status.
func runBin(t *testing.T, bin, stdin string, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return out.String(), errOut.String(), exit.ExitCode()
	}
	require.NoError(t, err)
	return out.String(), errOut.String(), 0
}

type dumpLine struct {
	Key             string          `json:"key"`
	ResourceVersion *uint64         `json:"resourceVersion"`
	Generation      uint64          `json:"generation"`
	Value           json.RawMessage `json:"value"`
}

func parseDump(t *testing.T, out string) []dumpLine {
	t.Helper()
	var lines []dumpLine
	for _, l := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		var d dumpLine
		require.NoError(t, json.Unmarshal([]byte(l), &d), "dump line %q", l)
		lines = append(lines, d)
	}
	return lines
}

// upHandle is a running 'lattice up'.
type upHandle struct {
	cmd         *exec.Cmd
	out, errOut *lockedBuffer
	exited      chan error
}

// startUp runs 'lattice up' on root with three members and free ports,
// and waits until it is ready; the test's cleanup kills it if still running.
func startUp(t *testing.T, bin, root string) *upHandle {
	t.Helper()
	port := freeUpBase(t, 3)
	h := &upHandle{out: &lockedBuffer{}, errOut: &lockedBuffer{}, exited: make(chan error, 1)}
	h.cmd = exec.Command(bin, "up", "--dir", root, "--base-port", fmt.Sprint(port), "--embedded-start-delay", "500ms")
	h.cmd.Stdout, h.cmd.Stderr = h.out, h.errOut
	require.NoError(t, h.cmd.Start())
	go func() { h.exited <- h.cmd.Wait() }()
	t.Cleanup(func() {
		if h.cmd.ProcessState != nil {
			return
		}
		// SIGINT: lattice up stops its members (own process groups, so a
		// SIGKILL here would orphan them).
		_ = h.cmd.Process.Signal(syscall.SIGINT)
		select {
		case <-h.exited:
		case <-time.After(60 * time.Second):
			h.cmd.Process.Kill()
			<-h.exited
		}
	})
	require.Eventually(t, func() bool {
		select {
		case err := <-h.exited:
			t.Fatalf("lattice up exited early (%v): %s %s", err, h.out.String(), h.errOut.String())
		default:
		}
		return strings.Contains(h.out.String(), "Try:")
	}, 60*time.Second, 50*time.Millisecond, "lattice up not ready: %s", h.errOut.String())
	return h
}

// TestEndToEnd runs 'lattice up' (three member processes with embedded
// clusters), applies a FederatedDeployment through one member, watches it
// become available on every member's view with 'lattice status', dumps
// through a running member, stops everything with SIGINT and dumps the
// stopped store directly.
func TestEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildLattice(t)
	root := shortDir(t)
	dataDir := filepath.Join(root, "member-2")
	up := startUp(t, bin, root)
	upOut, upErr, exited := up.out, up.errOut, up.exited
	require.Contains(t, upOut.String(), `Lattice federation "local" is up: 3 members`)
	require.Contains(t, upOut.String(), "lattice status --dir "+root)

	out := applyManifest(t, bin, root, dataDir, webFederatedDeployment("", "  replicas: 5\n"))
	require.Equal(t, "federateddeployment.federation.lattice.dev/web created\n", out)

	// Every member runs its share; the status agrees.
	require.Eventually(t, func() bool {
		out, _, code := runBin(t, bin, "", "status", "--dir", root)
		return code == 0 && strings.Contains(out, "default    web   5         5        5      0              True")
	}, 30*time.Second, 200*time.Millisecond)
	status, _, _ := runBin(t, bin, "", "status", "--dir", root)
	require.Equal(t, 3, strings.Count(status, "  Ready  "), status)
	require.Contains(t, status, "member-1=")
	require.Contains(t, status, "member-3=")

	running, errOut, code := runBin(t, bin, "", "store", "dump", "--data-dir", dataDir)
	require.Equal(t, 0, code, errOut)
	require.Contains(t, running, `"key":"federation.lattice.dev/FederatedDeployment/default/web"`)
	canonical, _, code := runBin(t, bin, "", "store", "dump", "--data-dir", dataDir, "--canonical")
	require.Equal(t, 0, code)
	require.NotContains(t, canonical, "resourceVersion")

	// SIGINT stops every member cleanly.
	require.NoError(t, up.cmd.Process.Signal(syscall.SIGINT))
	select {
	case err := <-exited:
		require.NoError(t, err, "lattice up exit; stderr: %s", upErr.String())
	case <-time.After(60 * time.Second):
		t.Fatalf("lattice up still running 60s after SIGINT; stderr: %s", upErr.String())
	}
	require.NotContains(t, upErr.String(), "exited unexpectedly")
	for i := 1; i <= 3; i++ {
		d := filepath.Join(root, fmt.Sprintf("member-%d", i))
		_, err := os.Lstat(admin.SocketPath(d))
		require.ErrorIs(t, err, os.ErrNotExist, "admin socket removed on shutdown")
		log, err := os.ReadFile(filepath.Join(d, "agent.log"))
		require.NoError(t, err)
		require.Contains(t, string(log), "store closed")
		require.NotContains(t, string(log), "level=ERROR")
	}

	// The stopped member's store dumps the same objects (canonically:
	// heartbeats may have landed after the running dump).
	stopped, errOut, code := runBin(t, bin, "", "store", "dump", "--data-dir", dataDir, "--canonical")
	require.Equal(t, 0, code, errOut)
	require.Contains(t, stopped, `"key":"federation.lattice.dev/FederatedDeployment/default/web"`)

	// A bad --data-dir is one line on stderr and exit status 1.
	out, errOut, code = runBin(t, bin, "", "store", "dump", "--data-dir", root)
	require.Equal(t, 1, code)
	require.Empty(t, out)
	require.True(t, strings.HasPrefix(errOut, "lattice: "+root+" is not a Lattice data directory (no store); "), errOut)
	require.Equal(t, 1, strings.Count(errOut, "\n"), errOut)

	// Status with nothing running says so.
	_, errOut, code = runBin(t, bin, "", "status", "--dir", root)
	require.Equal(t, 1, code)
	require.Contains(t, errOut, "no member of "+root+" is running")
}
