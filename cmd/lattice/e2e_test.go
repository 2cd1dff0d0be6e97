package main

import (
	"bytes"
	"encoding/json"
	"errors"
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

// TestEndToEnd runs 'lattice up' as a real process, applies and dumps
// through its admin socket, stops it with SIGINT and dumps the stopped
// store directly.
func TestEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildLattice(t)
	root := shortDir(t)
	dataDir := filepath.Join(root, "member-1")

	up := exec.Command(bin, "up", "--dir", root)
	var upOut, upErr lockedBuffer
	up.Stdout, up.Stderr = &upOut, &upErr
	require.NoError(t, up.Start())
	exited := make(chan error, 1)
	go func() { exited <- up.Wait() }()
	t.Cleanup(func() {
		if up.ProcessState == nil {
			up.Process.Kill()
			<-exited
		}
	})

	// Wait for the admin socket to answer.
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := admin.Dial(dataDir)
		if err == nil {
			c.Close()
			break
		}
		select {
		case err := <-exited:
			t.Fatalf("lattice up exited early (%v): %s", err, upErr.String())
		default:
		}
		require.True(t, time.Now().Before(deadline), "admin socket not ready after 30s: %v; stderr: %s", err, upErr.String())
		time.Sleep(20 * time.Millisecond)
	}
	require.Contains(t, upErr.String(), "member-1 ready: data in "+dataDir+"; try: lattice store dump --data-dir "+dataDir)

	manifest := filepath.Join(root, "web.yaml")
	require.NoError(t, os.WriteFile(manifest, []byte(`apiVersion: federation.lattice.dev/v1alpha1
kind: FederatedDeployment
metadata:
  name: web
spec:
  replicas: 3
  template:
    image: nginx:1.27
---
apiVersion: federation.lattice.dev/v1alpha1
kind: Member
metadata:
  name: eu-1
  labels: {region: eu}
`), 0o600))

	out, errOut, code := runBin(t, bin, "", "apply", "-f", manifest, "--data-dir", dataDir)
	require.Equal(t, 0, code, errOut)
	require.Equal(t, "federateddeployment.federation.lattice.dev/web created\nmember.federation.lattice.dev/eu-1 created\n", out)

	// Again, from stdin, with one change.
	changed, err := os.ReadFile(manifest)
	require.NoError(t, err)
	out, errOut, code = runBin(t, bin, strings.Replace(string(changed), "replicas: 3", "replicas: 4", 1), "apply", "-f", "-", "--data-dir", dataDir)
	require.Equal(t, 0, code, errOut)
	require.Equal(t, "federateddeployment.federation.lattice.dev/web configured\nmember.federation.lattice.dev/eu-1 unchanged\n", out)

	running, errOut, code := runBin(t, bin, "", "store", "dump", "--data-dir", dataDir)
	require.Equal(t, 0, code, errOut)
	lines := parseDump(t, running)
	require.Len(t, lines, 2)
	require.Equal(t, "federation.lattice.dev/FederatedDeployment/default/web", lines[0].Key)
	require.Equal(t, uint64(3), *lines[0].ResourceVersion)
	require.Equal(t, uint64(2), lines[0].Generation)
	require.JSONEq(t, `{"apiVersion":"federation.lattice.dev/v1alpha1","kind":"FederatedDeployment","metadata":{"name":"web","namespace":"default"},"spec":{"replicas":4,"template":{"image":"nginx:1.27"}}}`, string(lines[0].Value))
	require.Equal(t, "federation.lattice.dev/Member//eu-1", lines[1].Key)
	require.Equal(t, uint64(1), lines[1].Generation)

	canonical, _, code := runBin(t, bin, "", "store", "dump", "--data-dir", dataDir, "--canonical")
	require.Equal(t, 0, code)
	require.NotContains(t, canonical, "resourceVersion")
	require.Len(t, parseDump(t, canonical), 2)

	// SIGINT stops the member cleanly.
	require.NoError(t, up.Process.Signal(syscall.SIGINT))
	select {
	case err := <-exited:
		require.NoError(t, err, "lattice up exit; stderr: %s", upErr.String())
	case <-time.After(30 * time.Second):
		t.Fatalf("lattice up still running 30s after SIGINT; stderr: %s", upErr.String())
	}
	require.Contains(t, upErr.String(), "shutting down")
	require.Contains(t, upErr.String(), "store closed")
	require.NotContains(t, upErr.String(), "level=ERROR")
	require.Empty(t, upOut.String())
	_, err = os.Lstat(admin.SocketPath(dataDir))
	require.ErrorIs(t, err, os.ErrNotExist, "admin socket removed on shutdown")

	// The stopped member's store dumps the same objects.
	stopped, errOut, code := runBin(t, bin, "", "store", "dump", "--data-dir", dataDir)
	require.Equal(t, 0, code, errOut)
	require.Equal(t, running, stopped)
	stoppedCanonical, _, code := runBin(t, bin, "", "store", "dump", "--data-dir", dataDir, "--canonical")
	require.Equal(t, 0, code)
	require.Equal(t, canonical, stoppedCanonical)

	// A bad --data-dir is one line on stderr and exit status 1.
	out, errOut, code = runBin(t, bin, "", "store", "dump", "--data-dir", root)
	require.Equal(t, 1, code)
	require.Empty(t, out)
	require.True(t, strings.HasPrefix(errOut, "lattice: "+root+" is not a Lattice data directory (no store); "), errOut)
	require.Equal(t, 1, strings.Count(errOut, "\n"), errOut)
}
