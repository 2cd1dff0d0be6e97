package member

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/lattice-federation/lattice/crdt"
	"github.com/lattice-federation/lattice/internal/admin"
	"github.com/lattice-federation/lattice/internal/manifest"
)

// shortDir returns a fresh directory with a short path (admin socket paths
// are limited to 107 bytes).
func shortDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "lat")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

func TestInit(t *testing.T) {
	root := shortDir(t)

	dir := filepath.Join(root, "a")
	id, err := Init(dir, "")
	require.NoError(t, err)
	require.Regexp(t, `^member-[0-9a-f]{8}$`, string(id))
	fi, err := os.Stat(dir)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o700), fi.Mode().Perm())
	b, err := os.ReadFile(IDPath(dir))
	require.NoError(t, err)
	require.Equal(t, string(id)+"\n", string(b))

	again, err := Init(dir, "")
	require.NoError(t, err)
	require.Equal(t, id, again, "an existing directory keeps its ID")
	again, err = Init(dir, id)
	require.NoError(t, err)
	require.Equal(t, id, again)
	_, err = Init(dir, "other")
	require.ErrorContains(t, err, `belongs to member "`+string(id)+`", not "other"`)

	dir = filepath.Join(root, "b")
	id, err = Init(dir, "edge-1")
	require.NoError(t, err)
	require.Equal(t, crdt.ReplicaID("edge-1"), id)

	_, err = Init(filepath.Join(root, "c"), "has space")
	require.ErrorContains(t, err, "invalid member id")

	dir = filepath.Join(root, "damaged")
	require.NoError(t, os.MkdirAll(StorePath(dir), 0o700))
	_, err = Init(dir, "x")
	require.ErrorContains(t, err, "has a store but no id file; the data directory is damaged")
}

func TestOpenStoreNeedsDataDir(t *testing.T) {
	root := shortDir(t)
	_, err := OpenStore(filepath.Join(root, "missing"), nil)
	require.ErrorIs(t, err, ErrNotDataDir)
	require.EqualError(t, err, filepath.Join(root, "missing")+" does not exist")

	_, err = OpenStore(root, nil)
	require.ErrorIs(t, err, ErrNotDataDir)
	require.EqualError(t, err, root+" is not a Lattice data directory (no store)")
	_, err = os.Stat(StorePath(root))
	require.ErrorIs(t, err, os.ErrNotExist, "OpenStore never creates a store")

	require.NoError(t, os.MkdirAll(StorePath(root), 0o700))
	_, err = OpenStore(root, nil)
	require.ErrorContains(t, err, "has a store but no id file")
}

// startMember runs a member on dir and returns its stop function, which
// returns Run's result.
func startMember(t *testing.T, dir string, id crdt.ReplicaID) func() error {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan crdt.ReplicaID, 1)
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Config{Dir: dir, ID: id, Ready: func(id crdt.ReplicaID) { ready <- id }})
	}()
	select {
	case got := <-ready:
		require.Equal(t, id, got)
	case err := <-done:
		cancel()
		t.Fatalf("member exited early: %v", err)
	case <-time.After(30 * time.Second):
		cancel()
		t.Fatal("member not ready after 30s")
	}
	var once bool
	stop := func() error {
		if once {
			return nil
		}
		once = true
		cancel()
		return <-done
	}
	t.Cleanup(func() { stop() })
	return stop
}

func TestRunServesAndResumesFromDisk(t *testing.T) {
	dir := filepath.Join(shortDir(t), "m1")
	ctx := context.Background()
	stop := startMember(t, dir, "m1")

	// A second member on the same directory is refused.
	err := Run(ctx, Config{Dir: dir})
	require.ErrorContains(t, err, "is in use by another process: is a member already running on it?")

	c, err := admin.Dial(dir)
	require.NoError(t, err)
	objs, err := manifest.ParseBytes([]byte(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a"},"data":{"k":"v"}}`), "x.json")
	require.NoError(t, err)
	res, err := c.Apply(ctx, objs)
	require.NoError(t, err)
	require.Equal(t, admin.Created, res[0].Action)
	var running bytes.Buffer
	require.NoError(t, c.Dump(ctx, &running, false))
	c.Close()

	require.NoError(t, stop(), "a cancelled member stops cleanly")
	_, err = os.Lstat(admin.SocketPath(dir))
	require.ErrorIs(t, err, os.ErrNotExist, "the admin socket is removed")
	_, err = admin.Dial(dir)
	require.ErrorIs(t, err, admin.ErrNoMember)

	// The stopped member's store opens directly and holds the same objects.
	st, err := OpenStore(dir, nil)
	require.NoError(t, err)
	var stopped bytes.Buffer
	require.NoError(t, admin.Dump(&stopped, st, false))
	require.NoError(t, st.Close())
	require.Equal(t, running.String(), stopped.String())
	require.Equal(t, 1, strings.Count(stopped.String(), "\n"))

	// And the member restarts from disk.
	stop = startMember(t, dir, "m1")
	c, err = admin.Dial(dir)
	require.NoError(t, err)
	defer c.Close()
	s, err := c.Status(ctx)
	require.NoError(t, err)
	require.Equal(t, admin.Status{ID: "m1", ResourceVersion: 1, Objects: 1}, s)
	require.NoError(t, stop())
}

func TestRunRejectsLongSocketPathBeforeCreatingAnything(t *testing.T) {
	dir := filepath.Join(shortDir(t), strings.Repeat("x", 110))
	err := Run(context.Background(), Config{Dir: dir, ID: "m"})
	require.ErrorContains(t, err, "-byte limit of unix socket paths")
	_, err = os.Stat(dir)
	require.ErrorIs(t, err, os.ErrNotExist)
}
