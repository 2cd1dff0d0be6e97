package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"syscall"
	"time"

	"github.com/lattice-federation/lattice/crdt"
	"github.com/lattice-federation/lattice/internal/manifest"
)

// SocketName is the admin socket's file name inside a data directory.
const SocketName = "admin.sock"

// MaxRequestBytes bounds a request body (an apply of many objects is split
// by the client).
const MaxRequestBytes = 8 << 20

// SocketPath returns the admin socket of the member whose data directory
// is dir.
func SocketPath(dir string) string { return filepath.Join(dir, SocketName) }

// maxSocketPathLen is the longest unix socket path the kernel accepts:
// sun_path holds 108 bytes on Linux and 104 on the BSDs and macOS,
// including the terminating NUL.
func maxSocketPathLen() int {
	if runtime.GOOS == "linux" {
		return 107
	}
	return 103
}

// CheckSocketPath reports a socket path the kernel would refuse.
func CheckSocketPath(path string) error {
	if n, limit := len(path), maxSocketPathLen(); n > limit {
		return fmt.Errorf("admin socket path %s is %d bytes, over the %d-byte limit of unix socket paths; use a shorter data directory path (a relative path also works)", path, n, limit)
	}
	return nil
}

// ApplyRequest is the body of POST /v1/apply.
type ApplyRequest struct {
	Objects []json.RawMessage `json:"objects"`
}

// ApplyResponse answers POST /v1/apply: one result per object, in order.
type ApplyResponse struct {
	Results []ApplyResult `json:"results"`
}

type errorBody struct {
	Error string `json:"error"`
}

// Server serves the admin API of one store on its data directory's socket.
type Server struct {
	path string
	ln   *net.UnixListener
	srv  *http.Server
	log  *slog.Logger
}

// Listen creates the admin socket DIR/admin.sock (mode 0600) for st. A
// socket file left behind by a member that died is removed; one that a
// process still answers on is an error, as is a non-socket file in its
// place.
func Listen(dir string, st *crdt.Store, log *slog.Logger, opts ...Option) (*Server, error) {
	if log == nil {
		log = slog.Default()
	}
	path := SocketPath(dir)
	if err := CheckSocketPath(path); err != nil {
		return nil, err
	}
	if err := removeStale(path, log); err != nil {
		return nil, err
	}
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("listen on admin socket: %w", err)
	}
	ln.SetUnlinkOnClose(true)
	// The data directory is 0700, so the socket is private even before
	// this; 0600 keeps it so if the directory is opened up.
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("restrict admin socket: %w", err)
	}
	return &Server{
		path: path,
		ln:   ln,
		log:  log,
		srv: &http.Server{
			Handler:           NewHandler(st, log, opts...),
			ReadHeaderTimeout: 10 * time.Second,
			ReadTimeout:       time.Minute,
			IdleTimeout:       time.Minute,
			ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		},
	}, nil
}

// removeStale removes a socket file at path that nothing listens on.
func removeStale(path string, log *slog.Logger) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("check admin socket: %w", err)
	}
	if fi.Mode()&os.ModeSocket == 0 {
		return fmt.Errorf("%s exists and is not a socket; move it away", path)
	}
	conn, err := net.DialTimeout("unix", path, 2*time.Second)
	if err == nil {
		conn.Close()
		return fmt.Errorf("another process is serving %s: is a member already running on this data directory?", path)
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		return fmt.Errorf("check admin socket: %w", err)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove stale admin socket: %w", err)
	}
	log.Info("removed stale admin socket", "path", path)
	return nil
}

// Path returns the socket path.
func (s *Server) Path() string { return s.path }

// Serve answers requests until Shutdown; it then returns nil.
func (s *Server) Serve() error {
	err := s.srv.Serve(s.ln)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Shutdown stops accepting connections, waits for requests in flight until
// ctx ends (then cuts them off) and removes the socket file.
func (s *Server) Shutdown(ctx context.Context) error {
	err := s.srv.Shutdown(ctx)
	if err != nil {
		s.srv.Close()
	}
	s.ln.Close() // in case Serve never ran; unlinks the socket
	return err
}

type handler struct {
	st      *crdt.Store
	log     *slog.Logger
	members func() []string
	ledger  LedgerAppender
}

// Option adds to the admin API what a running member knows beyond its
// store.
type Option func(*handler)

// WithMembers makes status report the gossip membership view.
func WithMembers(fn func() []string) Option { return func(h *handler) { h.members = fn } }

// NewHandler returns the admin API for st (see the package doc).
func NewHandler(st *crdt.Store, log *slog.Logger, opts ...Option) http.Handler {
	if log == nil {
		log = slog.Default()
	}
	h := &handler{st: st, log: log}
	for _, o := range opts {
		o(h)
	}
	return h
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.log.Debug("admin request", "method", r.Method, "path", r.URL.Path)
	switch r.URL.Path {
	case "/v1/status":
		if allow(w, r, http.MethodGet) {
			h.status(w)
		}
	case "/v1/dump":
		if allow(w, r, http.MethodGet) {
			h.dump(w, r)
		}
	case "/v1/apply":
		if allow(w, r, http.MethodPost) {
			h.apply(w, r)
		}
	case "/v1/ledger/append":
		if allow(w, r, http.MethodPost) {
			h.ledgerAppend(w, r)
		}
	default:
		writeError(w, http.StatusNotFound, fmt.Sprintf("no such endpoint %s (have /v1/status, /v1/dump, /v1/apply, /v1/ledger/append)", r.URL.Path))
	}
}

func allow(w http.ResponseWriter, r *http.Request, method string) bool {
	if r.Method == method {
		return true
	}
	w.Header().Set("Allow", method)
	writeError(w, http.StatusMethodNotAllowed, fmt.Sprintf("method %s is not allowed on %s; use %s", r.Method, r.URL.Path, method))
	return false
}

func (h *handler) status(w http.ResponseWriter) {
	st, err := StatusOf(h.st)
	if err != nil {
		h.storeError(w, err)
		return
	}
	if h.members != nil {
		st.Members = h.members()
	}
	writeJSON(w, http.StatusOK, st)
}

func (h *handler) dump(w http.ResponseWriter, r *http.Request) {
	canonical := false
	if v := r.URL.Query().Get("canonical"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("canonical=%q is not a boolean; use canonical=1 or canonical=0", v))
			return
		}
		canonical = b
	}
	objs, _, err := h.st.List("")
	if err != nil {
		h.storeError(w, err)
		return
	}
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.WriteHeader(http.StatusOK)
	if err := DumpObjects(w, objs, canonical); err != nil {
		// The status is sent; the client sees a truncated stream.
		h.log.Warn("admin dump: write failed", "err", err)
	}
}

func (h *handler) apply(w http.ResponseWriter, r *http.Request) {
	if r.ContentLength > MaxRequestBytes {
		writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("request body is %d bytes, over the %d MiB limit; apply fewer objects per request", r.ContentLength, MaxRequestBytes>>20))
		return
	}
	var req ApplyRequest
	if err := decodeBody(w, r, MaxRequestBytes, &req); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("request body is over the %d MiB limit; apply fewer objects per request", MaxRequestBytes>>20))
			return
		}
		if errors.Is(err, io.EOF) {
			err = errors.New("body is empty")
		}
		writeError(w, http.StatusBadRequest, fmt.Sprintf(`malformed apply request: %v; want {"objects":[...]}`, err))
		return
	}
	if req.Objects == nil {
		writeError(w, http.StatusBadRequest, `malformed apply request: "objects" is missing; want {"objects":[...]}`)
		return
	}

	results := make([]ApplyResult, len(req.Objects))
	var valid []manifest.Object
	var at []int // index in results of each valid object
	for i, raw := range req.Objects {
		o, err := manifest.FromJSON(raw)
		if err != nil {
			results[i].Error = err.Error()
			if o.Key != "" {
				results[i].Key = string(o.Key)
			}
			continue
		}
		valid = append(valid, o)
		at = append(at, i)
	}
	if len(valid) > 0 {
		res, err := Apply(r.Context(), h.st, valid)
		if err != nil {
			h.storeError(w, err)
			return
		}
		for j, i := range at {
			results[i] = res[j]
		}
	}
	for _, res := range results {
		if res.Error != "" {
			h.log.Info("apply: object rejected", "key", res.Key, "err", res.Error)
		} else {
			h.log.Debug("apply", "key", res.Key, "action", res.Action, "resourceVersion", res.ResourceVersion)
		}
	}
	writeJSON(w, http.StatusOK, ApplyResponse{Results: results})
}

func (h *handler) storeError(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, crdt.ErrClosed):
		writeError(w, http.StatusServiceUnavailable, "the member is shutting down; retry once it is stopped or restarted")
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		writeError(w, http.StatusServiceUnavailable, "request cancelled")
	default:
		h.log.Error("admin request failed", "err", err)
		writeError(w, http.StatusInternalServerError, err.Error())
	}
}

// decodeBody decodes exactly one JSON value of at most limit bytes, with
// no unknown fields, from the request body; an empty body is io.EOF.
func decodeBody(w http.ResponseWriter, r *http.Request, limit int64, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, limit))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errors.New("trailing data after the JSON body")
	}
	return nil
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v) // a failed write means the client is gone
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, errorBody{Error: msg})
}
