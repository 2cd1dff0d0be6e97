package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/lattice-federation/lattice/crdt"
	"github.com/lattice-federation/lattice/internal/manifest"
)

func memStore(t *testing.T) *crdt.Store {
	t.Helper()
	cfg := crdt.DefaultStoreConfig("", "member-test")
	cfg.InMemory = true
	st, err := crdt.OpenStore(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { st.Close() })
	return st
}

// shortDir returns a temporary directory with a short path, so that the
// socket path stays under the kernel's limit whatever the test's name.
func shortDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "lat")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

func do(t *testing.T, h http.Handler, method, target string, body io.Reader) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, target, body)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func errorOf(t *testing.T, rec *httptest.ResponseRecorder) string {
	t.Helper()
	require.Equal(t, "application/json", rec.Header().Get("Content-Type"))
	var eb errorBody
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &eb), "body %q", rec.Body.String())
	require.NotEmpty(t, eb.Error)
	return eb.Error
}

func cm(name string, spec string) string {
	return fmt.Sprintf(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":%q},"spec":%s}`, name, spec)
}

func applyBody(objs ...string) io.Reader {
	return strings.NewReader(`{"objects":[` + strings.Join(objs, ",") + `]}`)
}

func TestHandlerRejectsWrongMethods(t *testing.T) {
	h := NewHandler(memStore(t), nil)
	for _, tc := range []struct{ method, path, allow string }{
		{http.MethodGet, "/v1/apply", "POST"},
		{http.MethodPut, "/v1/apply", "POST"},
		{http.MethodPost, "/v1/dump", "GET"},
		{http.MethodDelete, "/v1/status", "GET"},
	} {
		rec := do(t, h, tc.method, tc.path, nil)
		require.Equal(t, http.StatusMethodNotAllowed, rec.Code, "%s %s", tc.method, tc.path)
		require.Equal(t, tc.allow, rec.Header().Get("Allow"))
		require.Contains(t, errorOf(t, rec), "method "+tc.method+" is not allowed")
	}
	rec := do(t, h, http.MethodGet, "/v1/nope", nil)
	require.Equal(t, http.StatusNotFound, rec.Code)
	require.Contains(t, errorOf(t, rec), "no such endpoint /v1/nope")
}

func TestHandlerRejectsOversizedBody(t *testing.T) {
	h := NewHandler(memStore(t), nil)
	big := bytes.Repeat([]byte(" "), MaxRequestBytes+1)

	// Declared length over the limit: refused before reading.
	rec := do(t, h, http.MethodPost, "/v1/apply", bytes.NewReader(big))
	require.Equal(t, http.StatusRequestEntityTooLarge, rec.Code)
	require.Contains(t, errorOf(t, rec), "over the 8 MiB limit")

	// Unknown length (chunked): cut off while reading.
	req := httptest.NewRequest(http.MethodPost, "/v1/apply", io.MultiReader(strings.NewReader(`{"objects":[`), bytes.NewReader(big)))
	req.ContentLength = -1
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	require.Equal(t, http.StatusRequestEntityTooLarge, rec.Code)
	require.Contains(t, errorOf(t, rec), "over the 8 MiB limit")
}

func TestHandlerRejectsMalformedJSON(t *testing.T) {
	h := NewHandler(memStore(t), nil)
	for body, want := range map[string]string{
		``:                           "malformed apply request: body is empty",
		`{"objects":[`:               "malformed apply request: unexpected EOF",
		`not json`:                   "malformed apply request: invalid character",
		`{"objects":{}}`:             "malformed apply request: json: cannot unmarshal object",
		`{"objects":[],"extra":1}`:   `unknown field "extra"`,
		`{}`:                         `"objects" is missing`,
		`{"objects":[]} {"again":1}`: "trailing data",
	} {
		rec := do(t, h, http.MethodPost, "/v1/apply", strings.NewReader(body))
		require.Equal(t, http.StatusBadRequest, rec.Code, "body %q", body)
		require.Contains(t, errorOf(t, rec), want, "body %q", body)
	}
	rec := do(t, h, http.MethodGet, "/v1/dump?canonical=maybe", nil)
	require.Equal(t, http.StatusBadRequest, rec.Code)
	require.Contains(t, errorOf(t, rec), `canonical="maybe" is not a boolean`)
}

func applyOK(t *testing.T, h http.Handler, objs ...string) []ApplyResult {
	t.Helper()
	rec := do(t, h, http.MethodPost, "/v1/apply", applyBody(objs...))
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	var ar ApplyResponse
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &ar))
	require.Len(t, ar.Results, len(objs))
	return ar.Results
}

func TestHandlerApplyActionsAndGenerations(t *testing.T) {
	st := memStore(t)
	h := NewHandler(st, nil)

	res := applyOK(t, h, cm("a", `{"n":1}`), cm("b", `{"n":1}`))
	require.Equal(t, ApplyResult{Key: "/ConfigMap/default/a", ResourceVersion: 1, Action: Created}, res[0])
	require.Equal(t, ApplyResult{Key: "/ConfigMap/default/b", ResourceVersion: 2, Action: Created}, res[1])

	res = applyOK(t, h, cm("a", `{"n":1}`))
	require.Equal(t, Unchanged, res[0].Action)
	require.Equal(t, uint64(1), res[0].ResourceVersion)

	gen := func(name string) uint64 {
		o, err := st.Get(crdt.Key("/ConfigMap/default/" + name))
		require.NoError(t, err)
		return o.Generation
	}
	require.Equal(t, uint64(1), gen("a"))

	// A change outside spec: configured, same generation.
	res = applyOK(t, h, `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a","labels":{"x":"y"}},"spec":{"n":1}}`)
	require.Equal(t, Configured, res[0].Action)
	require.Equal(t, uint64(1), gen("a"))

	// A spec change bumps the generation.
	res = applyOK(t, h, cm("a", `{"n":2}`))
	require.Equal(t, Configured, res[0].Action)
	require.Equal(t, uint64(2), gen("a"))

	// The same key twice in one request: the second sees the first.
	res = applyOK(t, h, cm("c", `{"n":1}`), cm("c", `{"n":1}`), cm("c", `{"n":2}`))
	require.Equal(t, []Action{Created, Unchanged, Configured}, []Action{res[0].Action, res[1].Action, res[2].Action})
	require.Equal(t, uint64(2), gen("c"))

	// An invalid object fails alone.
	res = applyOK(t, h, `{"apiVersion":"v1","kind":"ConfigMap","metadata":{}}`, cm("d", `{}`))
	require.Equal(t, "metadata.name is missing", res[0].Error)
	require.Empty(t, res[0].Action)
	require.Equal(t, Created, res[1].Action)

	// Status and dump.
	rec := do(t, h, http.MethodGet, "/v1/status", nil)
	require.Equal(t, http.StatusOK, rec.Code)
	var s Status
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &s))
	require.Equal(t, Status{ID: "member-test", ResourceVersion: st.ResourceVersion(), Objects: 4}, s)

	rec = do(t, h, http.MethodGet, "/v1/dump", nil)
	require.Equal(t, http.StatusOK, rec.Code)
	require.Equal(t, "application/x-ndjson", rec.Header().Get("Content-Type"))
	lines := strings.Split(strings.TrimSpace(rec.Body.String()), "\n")
	require.Len(t, lines, 4)
	// Apply replaces the object: the label of the earlier apply is gone.
	require.Equal(t, `{"key":"/ConfigMap/default/a","resourceVersion":4,"generation":2,"value":{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a","namespace":"default"},"spec":{"n":2}}}`, lines[0])

	rec = do(t, h, http.MethodGet, "/v1/dump?canonical=1", nil)
	require.True(t, strings.HasPrefix(rec.Body.String(), `{"key":"/ConfigMap/default/a","generation":2,"value":`), rec.Body.String())
	require.NotContains(t, rec.Body.String(), "resourceVersion")
}

func TestHandlerStoreClosed(t *testing.T) {
	st := memStore(t)
	h := NewHandler(st, nil)
	require.NoError(t, st.Close())
	rec := do(t, h, http.MethodPost, "/v1/apply", applyBody(cm("a", `{}`)))
	require.Equal(t, http.StatusServiceUnavailable, rec.Code)
	require.Contains(t, errorOf(t, rec), "shutting down")
	rec = do(t, h, http.MethodGet, "/v1/dump", nil)
	require.Equal(t, http.StatusServiceUnavailable, rec.Code)
}

func TestServerAndClientOverSocket(t *testing.T) {
	dir := shortDir(t)
	ctx := context.Background()

	_, err := Dial(dir)
	require.ErrorIs(t, err, ErrNoMember)
	require.Contains(t, err.Error(), "no admin socket")

	st := memStore(t)
	srv, err := Listen(dir, st, nil)
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- srv.Serve() }()

	fi, err := os.Stat(SocketPath(dir))
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
	require.NotZero(t, fi.Mode()&os.ModeSocket)

	// A second server on the same directory is refused.
	_, err = Listen(dir, st, nil)
	require.ErrorContains(t, err, "is a member already running on this data directory?")

	c, err := Dial(dir)
	require.NoError(t, err)
	defer c.Close()

	objs, err := manifest.ParseBytes([]byte(cm("a", `{"n":1}`)+cm("b", `{}`)), "x.json")
	require.NoError(t, err)
	res, err := c.Apply(ctx, objs)
	require.NoError(t, err)
	require.Equal(t, []ApplyResult{
		{Key: "/ConfigMap/default/a", ResourceVersion: 1, Action: Created},
		{Key: "/ConfigMap/default/b", ResourceVersion: 2, Action: Created},
	}, res)

	s, err := c.Status(ctx)
	require.NoError(t, err)
	require.Equal(t, Status{ID: "member-test", ResourceVersion: 2, Objects: 2}, s)

	var viaSocket, direct bytes.Buffer
	require.NoError(t, c.Dump(ctx, &viaSocket, false))
	require.NoError(t, Dump(&direct, st, false))
	require.Equal(t, direct.String(), viaSocket.String())
	require.Equal(t, 2, strings.Count(viaSocket.String(), "\n"))

	// Errors from the server come back as one clear line.
	_, err = c.do(ctx, http.MethodGet, "/v1/apply", nil, nil)
	require.ErrorContains(t, err, "method GET is not allowed on /v1/apply; use POST (HTTP 405)")

	require.NoError(t, srv.Shutdown(ctx))
	require.NoError(t, <-done)
	_, err = os.Lstat(SocketPath(dir))
	require.ErrorIs(t, err, os.ErrNotExist, "the socket is removed at shutdown")
	_, err = Dial(dir)
	require.ErrorIs(t, err, ErrNoMember)
}

func TestClientSplitsLargeApplies(t *testing.T) {
	dir := shortDir(t)
	// On disk: badger's in-memory mode refuses values over 1 MiB.
	st, err := crdt.OpenStore(crdt.DefaultStoreConfig(t.TempDir(), "member-test"))
	require.NoError(t, err)
	defer st.Close()
	srv, err := Listen(dir, st, nil)
	require.NoError(t, err)
	requests := 0
	srv.srv.Handler = countRequests(srv.srv.Handler, &requests)
	go srv.Serve()
	defer srv.Shutdown(context.Background())

	// Seven objects of 1.4 MiB: over the 8 MiB request limit together.
	var in strings.Builder
	pad := strings.Repeat("x", 1400<<10)
	for i := 0; i < 7; i++ {
		in.WriteString(cm(fmt.Sprintf("o%d", i), `{"pad":"`+pad+`"}`))
	}
	objs, err := manifest.ParseBytes([]byte(in.String()), "big.json")
	require.NoError(t, err)
	c, err := Dial(dir)
	require.NoError(t, err)
	defer c.Close()
	res, err := c.Apply(context.Background(), objs)
	require.NoError(t, err)
	require.Len(t, res, 7)
	for i, r := range res {
		require.Equal(t, Created, r.Action, "object %d: %s", i, r.Error)
	}
	require.Equal(t, 2, requests)
}

func countRequests(h http.Handler, n *int) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		*n++ // requests are sequential
		h.ServeHTTP(w, r)
	})
}

func TestStaleSocket(t *testing.T) {
	dir := shortDir(t)
	path := SocketPath(dir)
	// A socket file nothing listens on, as a killed member leaves behind.
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	require.NoError(t, err)
	ln.SetUnlinkOnClose(false)
	require.NoError(t, ln.Close())
	_, err = os.Lstat(path)
	require.NoError(t, err)

	_, err = Dial(dir)
	require.ErrorIs(t, err, ErrNoMember)
	require.ErrorContains(t, err, "stale admin socket")

	srv, err := Listen(dir, memStore(t), nil)
	require.NoError(t, err, "a stale socket is replaced")
	go srv.Serve()
	c, err := Dial(dir)
	require.NoError(t, err)
	c.Close()
	require.NoError(t, srv.Shutdown(context.Background()))
}

func TestSocketPathProblems(t *testing.T) {
	dir := shortDir(t)
	require.NoError(t, os.WriteFile(SocketPath(dir), []byte("not a socket"), 0o600))
	_, err := Listen(dir, memStore(t), nil)
	require.ErrorContains(t, err, "exists and is not a socket; move it away")
	_, err = Dial(dir)
	require.ErrorContains(t, err, "is not a socket")
	require.NotErrorIs(t, err, ErrNoMember)

	long := filepath.Join(dir, strings.Repeat("d", 120))
	_, err = Listen(long, memStore(t), nil)
	require.ErrorContains(t, err, "-byte limit of unix socket paths; use a shorter data directory path")
	_, err = Dial(long)
	require.ErrorIs(t, err, ErrNoMember, "no member can listen on a path that long")
}
