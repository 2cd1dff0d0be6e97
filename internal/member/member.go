// Package member owns a member's data directory and runs a member process:
// the store, its local admin socket, the ledger follower, gossip, the
// federation controller, the federation API server and metrics.
//
// Data directory layout (DIR is --data-dir; 'lattice up --dir D' uses
// D/member-1 ... D/member-N):
//
//	DIR/          mode 0700
//	  id          the member's replica ID, one line of text (later a DID)
//	  store/      the badger store (crdt.Store)
//	  admin.sock  admin API socket, present while the member runs (see internal/admin)
//	  identity/   the member's did:key key (identity package)
//	  api/        federation API credentials: ca.crt, ca.key, serving.crt,
//	              serving.key, token (keys and token 0600) and, standalone,
//	              kubeconfig (see api.go)
//
// A directory is a Lattice data directory when it holds store/ and id.
// Only one process may open the store; other commands reach a running
// member through admin.sock.
package member

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/lattice-federation/lattice/crdt"
	"github.com/lattice-federation/lattice/federation"
	"github.com/lattice-federation/lattice/gossip"
	"github.com/lattice-federation/lattice/identity"
	"github.com/lattice-federation/lattice/internal/admin"
	"github.com/lattice-federation/lattice/internal/fsutil"
)

// File names inside a data directory.
const (
	StoreDirName = "store"
	IDFileName   = "id"
)

// StorePath returns the badger directory of data directory dir.
func StorePath(dir string) string { return filepath.Join(dir, StoreDirName) }

// IDPath returns the replica-ID file of data directory dir.
func IDPath(dir string) string { return filepath.Join(dir, IDFileName) }

// ErrNotDataDir means a directory holds no Lattice store.
var ErrNotDataDir = errors.New("not a Lattice data directory")

// ErrInUse means another process has the store open, yet no member
// answers on its admin socket (it is starting or stopping).
var ErrInUse = errors.New("data directory in use")

// dirError is an error message of its own that matches a sentinel
// (ErrNotDataDir, ErrInUse) with errors.Is.
type dirError struct {
	msg  string
	kind error
}

func (e *dirError) Error() string        { return e.msg }
func (e *dirError) Is(target error) bool { return target == e.kind }

// Init prepares data directory dir for a member and returns its replica ID.
// A new directory is created (mode 0700) with id, or a generated
// "member-XXXXXXXX" when id is empty. An existing one keeps its ID; asking
// for a different id is an error.
func Init(dir string, id crdt.ReplicaID) (crdt.ReplicaID, error) {
	if id != "" {
		if err := crdt.ValidateReplicaID(id); err != nil {
			return "", fmt.Errorf("invalid member id: %w", err)
		}
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("create data directory: %w", err)
	}
	have, err := ReadID(dir)
	switch {
	case err == nil:
		if id != "" && id != have {
			return "", fmt.Errorf("%s belongs to member %q, not %q; drop --id or use another data directory", dir, have, id)
		}
		return have, nil
	case !errors.Is(err, os.ErrNotExist):
		return "", err
	}
	if fi, err := os.Stat(StorePath(dir)); err == nil && fi.IsDir() {
		return "", fmt.Errorf("%s has a store but no %s file; the data directory is damaged (restore %s or start from an empty directory)", dir, IDFileName, IDPath(dir))
	}
	if id == "" {
		if id, err = GenerateID(); err != nil {
			return "", err
		}
	}
	if err := fsutil.WriteFile(IDPath(dir), []byte(string(id)+"\n"), 0o600, false); err != nil {
		return "", fmt.Errorf("write member id: %w", err)
	}
	return id, nil
}

// GenerateID returns a new random member ID, "member-" and 8 hex digits.
func GenerateID() (crdt.ReplicaID, error) {
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("generate member id: %w", err)
	}
	return crdt.ReplicaID("member-" + hex.EncodeToString(b[:])), nil
}

// ReadID reads the replica ID of data directory dir. The error wraps
// os.ErrNotExist if there is no ID file.
func ReadID(dir string) (crdt.ReplicaID, error) {
	b, err := os.ReadFile(IDPath(dir))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return "", err
		}
		return "", fmt.Errorf("read member id: %w", err)
	}
	id := crdt.ReplicaID(strings.TrimSpace(string(b)))
	if err := crdt.ValidateReplicaID(id); err != nil {
		return "", fmt.Errorf("%s: invalid member id: %w", IDPath(dir), err)
	}
	return id, nil
}

// CheckDataDir reports whether dir is an existing data directory (see
// the package doc); the error wraps ErrNotDataDir if not.
func CheckDataDir(dir string) error {
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return &dirError{fmt.Sprintf("%s does not exist", dir), ErrNotDataDir}
	case err != nil:
		return err
	case !fi.IsDir():
		return &dirError{fmt.Sprintf("%s is not a directory", dir), ErrNotDataDir}
	}
	if fi, err := os.Stat(StorePath(dir)); err != nil || !fi.IsDir() {
		return &dirError{fmt.Sprintf("%s is not a Lattice data directory (no store)", dir), ErrNotDataDir}
	}
	return nil
}

// OpenStore opens the store of the existing data directory dir, for a
// command working on a stopped member. It never creates a store.
func OpenStore(dir string, log *slog.Logger) (*crdt.Store, error) {
	if err := CheckDataDir(dir); err != nil {
		return nil, err
	}
	id, err := ReadID(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%s has a store but no %s file; the data directory is damaged", dir, IDFileName)
	}
	if err != nil {
		return nil, err
	}
	return openStore(dir, id, log)
}

func openStore(dir string, id crdt.ReplicaID, log *slog.Logger) (*crdt.Store, error) {
	cfg := crdt.DefaultStoreConfig(StorePath(dir), id)
	cfg.Logger = log
	st, err := crdt.OpenStore(cfg)
	if err != nil {
		// Badger holds a flock on its directory while open.
		if strings.Contains(err.Error(), "Cannot acquire directory lock") {
			return nil, &dirError{fmt.Sprintf("%s is in use by another process but no member answers on its admin socket (is one starting or stopping?); try again in a moment", dir), ErrInUse}
		}
		return nil, err
	}
	return st, nil
}

// Config configures Run.
type Config struct {
	// Dir is the data directory, created if needed.
	Dir string
	// ID is the member's replica ID; empty keeps the directory's ID or
	// generates one for a new directory.
	ID crdt.ReplicaID
	// Logger receives the member's logs (slog.Default when nil).
	Logger *slog.Logger
	// Ready, if set, is called once the member serves, with its ID.
	Ready func(id crdt.ReplicaID)
	// ShutdownTimeout bounds how long admin requests in flight may finish
	// after ctx ends (default 10s).
	ShutdownTimeout time.Duration
	// Credential, if set, is a membership credential to install first
	// (InstallCredential): how an invited member joins its federation.
	Credential []byte
	// Gossip, if set, makes the member gossip with its federation; the
	// data directory must then belong to one (federation.json).
	Gossip *GossipConfig
	// Cluster, if set (and the member gossips), runs the federation
	// controller on this cluster.
	Cluster *ClusterConfig
	// MetricsListen, if set, serves /metrics and /healthz over HTTP there.
	MetricsListen string
	// MetricsReady, if set, is called with the metrics address once it
	// listens.
	MetricsReady func(addr string)
	// API, if set, serves the federation API (kubectl) for this member.
	API *APIConfig
}

// ClusterConfig is the member's cluster and how it describes itself.
type ClusterConfig struct {
	// Driver runs the workloads; Kind names it ("embedded", "kube").
	Driver federation.ClusterDriver
	Kind   string
	// Labels are the Member's labels (region, zone, provider, …).
	Labels map[string]string
	// Tune, if set, adjusts the controller configuration (tests).
	Tune func(*federation.ControllerConfig)
}

// GossipConfig configures a member's gossip.
type GossipConfig struct {
	// Listen is the QUIC (UDP) address; Advertise the address peers reach
	// this member at (default: Listen).
	Listen    string
	Advertise string
	// Join lists members to join at start.
	Join    []string
	Profile gossip.Profile
	// Tune, if set, adjusts the gossip configuration (tests speed it up).
	Tune func(*gossip.Config)
	// Ready, if set, is called with the started node.
	Ready func(n *gossip.Node)
}

// Run runs one member until ctx ends, then shuts it down cleanly: the
// admin socket stops and is removed, and the store is closed. It returns
// nil after a clean shutdown caused by ctx.
func Run(ctx context.Context, cfg Config) (err error) {
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	if cfg.ShutdownTimeout <= 0 {
		cfg.ShutdownTimeout = 10 * time.Second
	}
	// Fail before creating anything if the socket path cannot work.
	if err := admin.CheckSocketPath(admin.SocketPath(cfg.Dir)); err != nil {
		return err
	}
	id, err := Init(cfg.Dir, cfg.ID)
	if err != nil {
		return err
	}
	log = log.With("member", string(id))
	st, err := openStore(cfg.Dir, id, log)
	if err != nil {
		if errors.Is(err, ErrInUse) {
			return fmt.Errorf("%s is in use by another process: is a member already running on it?", cfg.Dir)
		}
		return err
	}
	defer func() {
		if cerr := st.Close(); cerr != nil {
			log.Error("closing store failed", "err", cerr)
			if err == nil {
				err = fmt.Errorf("close store: %w", cerr)
			}
		} else {
			log.Info("store closed")
		}
	}()
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	defer observeStoreCommits(st, reg)()
	// A member with an identity keeps a ledger feed, written here only.
	var lw *ledgerWriter
	switch id, err := identity.Load(cfg.Dir); {
	case err == nil:
		lw = &ledgerWriter{st: st, signer: id}
	case !errors.Is(err, identity.ErrNoIdentity):
		return err
	}
	var node *gossip.Node
	if cfg.Gossip != nil || cfg.Credential != nil {
		stop, n, err := startGossip(ctx, cfg, st, lw, reg, log)
		if err != nil {
			return err
		}
		defer stop()
		node = n
	}
	if cfg.Cluster != nil {
		if node == nil {
			return errors.New("a member runs workloads only as part of a federation: give it a gossip address (--listen)")
		}
		stop, err := startController(ctx, cfg, st, node, lw, reg, log)
		if err != nil {
			return err
		}
		defer stop()
	}
	if cfg.API != nil {
		stop, err := startAPI(ctx, cfg, st, id, node, log)
		if err != nil {
			return err
		}
		defer stop()
	}
	if cfg.MetricsListen != "" {
		stop, err := serveMetrics(cfg, reg, node, log)
		if err != nil {
			return err
		}
		defer stop()
	}
	var opts []admin.Option
	if lw != nil {
		opts = append(opts, admin.WithLedger(lw.appendEntry))
	}
	if node != nil {
		opts = append(opts, admin.WithMembers(func() []string {
			var out []string
			for _, m := range node.Members() {
				out = append(out, string(m))
			}
			return out
		}))
	}
	srv, err := admin.Listen(cfg.Dir, st, log, opts...)
	if err != nil {
		return err
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve() }()
	log.Debug("admin socket listening", "path", srv.Path())
	if cfg.Ready != nil {
		cfg.Ready(id)
	}

	select {
	case <-ctx.Done():
		log.Info("shutting down")
	case err := <-serveErr:
		shutdown(srv, cfg.ShutdownTimeout, log)
		return fmt.Errorf("admin socket: %w", err)
	}
	shutdown(srv, cfg.ShutdownTimeout, log)
	<-serveErr
	return nil
}

func shutdown(srv *admin.Server, timeout time.Duration, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		log.Warn("admin requests cut off at shutdown", "err", err)
	}
}
