package member

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/lattice-federation/lattice/crdt"
	"github.com/lattice-federation/lattice/federation"
	"github.com/lattice-federation/lattice/gossip"
	"github.com/lattice-federation/lattice/identity"
	"github.com/lattice-federation/lattice/ledger"
)

// startGossip installs cfg.Credential if given, builds the member's
// admission view, starts following the ledger and, if cfg.Gossip is set,
// starts the gossip node. stop undoes it all.
func startGossip(ctx context.Context, cfg Config, st *crdt.Store, lw *ledgerWriter, reg prometheus.Registerer, log *slog.Logger) (stop func(), node *gossip.Node, err error) {
	if lw == nil {
		return nil, nil, fmt.Errorf("%s has no identity: create one with 'lattice did create --data-dir %s', have it invited ('lattice invite --did DID' on a member) or found a federation ('lattice federation init')", cfg.Dir, cfg.Dir)
	}
	id, ok := lw.signer.(*identity.Identity)
	if !ok {
		return nil, nil, errors.New("gossip needs the member's own identity")
	}
	if cfg.Credential != nil {
		fed, err := InstallCredential(cfg.Dir, id, cfg.Credential, time.Now())
		if err != nil {
			return nil, nil, err
		}
		log.Info("membership credential installed", "federation", fed.Name, "founder", fed.Founder)
	}
	fed, adm, err := NewAdmission(cfg.Dir, id)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, fmt.Errorf("%s belongs to no federation: found one with 'lattice federation init', or join one with --credential FILE from 'lattice invite'", cfg.Dir)
	}
	if err != nil {
		return nil, nil, err
	}
	log = log.With("did", id.DID())
	if err := lw.ensureDIDRegistration(ctx, id.Document()); err != nil {
		return nil, nil, fmt.Errorf("publish DID registration: %w", err)
	}
	ctx, cancel := context.WithCancel(ctx)
	follower := &ledgerFollower{st: st, adm: adm, l: ledger.New(), log: log}
	done := make(chan struct{})
	go func() {
		defer close(done)
		follower.run(ctx)
	}()
	stop = func() {
		if node != nil {
			if err := node.Close(); err != nil {
				log.Warn("gossip shutdown", "err", err)
			}
		}
		cancel()
		<-done
	}
	if cfg.Gossip == nil {
		return stop, nil, nil
	}
	g := cfg.Gossip
	gc, err := gossip.ProfileConfig(g.Profile)
	if err != nil {
		stop()
		return nil, nil, err
	}
	gc.Store, gc.Identity, gc.Admission = st, id, adm
	gc.Listen, gc.Advertise, gc.Join = g.Listen, g.Advertise, g.Join
	gc.Logger, gc.Registry = log, reg
	if g.Tune != nil {
		g.Tune(&gc)
	}
	node, err = gossip.Start(gc)
	if err != nil {
		stop()
		return nil, nil, fmt.Errorf("start gossip: %w", err)
	}
	recheck := node.RecheckAdmission
	follower.onRevoke.Store(&recheck)
	log.Info("gossiping", "federation", fed.Name, "listen", node.Addr().String(), "join", g.Join)
	if g.Ready != nil {
		g.Ready(node)
	}
	return stop, node, nil
}

// serveMetrics serves /metrics (Prometheus) and /healthz.
func serveMetrics(cfg Config, reg *prometheus.Registry, node *gossip.Node, log *slog.Logger) (stop func(), err error) {
	ln, err := net.Listen("tcp", cfg.MetricsListen)
	if err != nil {
		return nil, fmt.Errorf("metrics listen on %s: %w", cfg.MetricsListen, err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if node != nil {
			fmt.Fprintf(w, "ok: %d members in view\n", len(node.Members()))
			return
		}
		fmt.Fprintln(w, "ok")
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics server failed", "err", err)
		}
	}()
	log.Info("serving metrics", "addr", ln.Addr().String())
	if cfg.MetricsReady != nil {
		cfg.MetricsReady(ln.Addr().String())
	}
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	}, nil
}

// startController runs the federation controller for the member's cluster.
func startController(ctx context.Context, cfg Config, st *crdt.Store, node *gossip.Node, lw *ledgerWriter, reg prometheus.Registerer, log *slog.Logger) (stop func(), err error) {
	cc := federation.DefaultControllerConfig()
	cc.Member = string(st.ID())
	cc.DID = lw.signer.DID()
	cc.Labels = cfg.Cluster.Labels
	cc.ClusterName = cfg.Cluster.Kind
	cc.Endpoints = []string{"quic://" + node.Addr().String()}
	cc.Store, cc.Driver = st, cfg.Cluster.Driver
	cc.Live = func() []string {
		var out []string
		for _, m := range node.Members() {
			out = append(out, string(m))
		}
		return out
	}
	cc.LiveSince = func() map[string]time.Time {
		out := map[string]time.Time{}
		for id, t := range node.LiveSince() {
			out[string(id)] = t
		}
		return out
	}
	cc.LiveChanged = node.ViewChanged()
	cc.Logger, cc.Registry = log.With("component", "federation"), reg
	if cfg.Cluster.Tune != nil {
		cfg.Cluster.Tune(&cc)
	}
	ctl, err := federation.NewController(cc)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = ctl.Run(ctx)
	}()
	log.Info("federation controller running", "cluster", cc.ClusterName, "labels", cc.Labels)
	return func() { cancel(); <-done }, nil
}
