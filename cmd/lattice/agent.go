package main

import (
	"fmt"
	"log/slog"
	"maps"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/lattice-federation/lattice/apiserver"
	"github.com/lattice-federation/lattice/crdt"
	"github.com/lattice-federation/lattice/federation"
	"github.com/lattice-federation/lattice/gossip"
	"github.com/lattice-federation/lattice/identity"
	"github.com/lattice-federation/lattice/internal/member"
)

// agentFlags are lattice agent's flags.
type agentFlags struct {
	dir, id, listen, advertise, credential, metrics, profile, logLevel string
	join                                                               []string
	apiListen, apiMode, apiAuthKubeconfig                              string
	apiSANs                                                            []string
	cluster                                                            string
	labels                                                             map[string]string
	embedded                                                           federation.EmbeddedConfig
}

func newAgentCmd() *cobra.Command {
	var f agentFlags
	cmd := &cobra.Command{
		Use:   "agent --data-dir DIR [--listen HOST:PORT] [--join HOST:PORT,...] [--credential FILE]",
		Short: "Run one member",
		Long: `Run one Lattice member on data directory DIR until interrupted (Ctrl-C or
SIGTERM), then stop it cleanly (it leaves the membership gracefully).

DIR is created if needed (mode 0700) and holds:
  DIR/id               the member's replica ID
  DIR/identity/key     its did:key identity ('lattice did create')
  DIR/federation.json  the federation it belongs to
  DIR/membership.json  its membership credential (not for the founder)
  DIR/store/           its replicated store
  DIR/admin.sock       the local admin socket, while it runs

With --listen the member gossips over QUIC (UDP) on HOST:PORT with the
members of its federation: peers authenticate with their did:key keys and
must hold a membership credential chaining to the founder. --join names
members to contact at start; afterwards the member rejoins any member it
knows from the replicated store by itself, however long a partition lasted.
An invited member passes the credential 'lattice invite' wrote with
--credential FILE on its first start (it is installed into DIR).

HOST must be an IP other members can reach (or give --advertise). The
profile sets failure-detection and gossip timing: lan (memberlist's LAN
defaults: ~1 s probes, anti-entropy every 50 ms) or wan (~5 s probes,
every 200 ms).

With --cluster the member runs its share of every FederatedDeployment:
embedded is a simulated cluster inside the process (--embedded-* size it),
kubeconfig=PATH a real cluster reached with client-go (Lattice creates one
Deployment per federated deployment, labelled
federation.lattice.dev/managed-by=lattice, and only ever touches those).
--labels are the member's labels that placement selects on (e.g.
topology.kubernetes.io/region=eu).

The member serves the federation API (kubectl) on --api-listen (default: an
ephemeral loopback port; "none" turns it off). In standalone mode it has its
own CA and token in DIR/api and writes DIR/api/kubeconfig; in aggregated
mode a host kube-apiserver fronts it through an APIService and
authentication and authorization are delegated to that host
(--authentication-kubeconfig reaches it; see deploy/). --api-tls-san adds
names to the serving certificate (aggregated: SERVICE.NAMESPACE.svc).

With --metrics-listen it serves Prometheus metrics on /metrics and a health
check on /healthz.

Without --listen the member does not gossip: it serves its store to
'lattice store dump' and 'lattice apply' through the admin socket.`,
		Example: `  lattice federation init --name acme --data-dir /var/lib/lattice
  lattice agent --data-dir /var/lib/lattice --listen 10.0.0.1:7946 --metrics-listen 127.0.0.1:9100 \
      --cluster kubeconfig=/etc/lattice/kubeconfig --labels topology.kubernetes.io/region=eu

  lattice agent --data-dir /var/lib/lattice --listen 10.0.0.2:7946 \
      --join 10.0.0.1:7946 --credential member-2.json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := f.config(cmd)
			if err != nil {
				return err
			}
			return runMemberConfig(cmd, cfg, f.logLevel)
		},
	}
	addDataDirFlag(cmd, &f.dir, "data directory of the member (required)")
	fl := cmd.Flags()
	fl.StringVar(&f.id, "id", "", "member ID for a new data directory (default: generated)")
	fl.StringVar(&f.listen, "listen", "", "gossip over QUIC on this UDP address (HOST:PORT)")
	fl.StringVar(&f.advertise, "advertise", "", "address other members reach this one at (default: --listen)")
	fl.StringSliceVar(&f.join, "join", nil, "members to join at start (HOST:PORT, comma-separated)")
	fl.StringVar(&f.credential, "credential", "", "membership credential to install (from 'lattice invite')")
	fl.StringVar(&f.metrics, "metrics-listen", "", "serve /metrics and /healthz on this TCP address (HOST:PORT)")
	fl.StringVar(&f.apiListen, "api-listen", "127.0.0.1:0", `serve the federation API on this TCP address (HOST:PORT; "none": off)`)
	fl.StringVar(&f.apiMode, "api-mode", string(apiserver.Standalone), "API authentication: standalone (own CA and token) or aggregated (delegated to a host kube-apiserver)")
	fl.StringSliceVar(&f.apiSANs, "api-tls-san", nil, "extra DNS names or IPs for the API serving certificate (comma-separated)")
	fl.StringVar(&f.apiAuthKubeconfig, "authentication-kubeconfig", "", "aggregated mode: kubeconfig of the host kube-apiserver (default: in-cluster)")
	fl.StringVar(&f.profile, "profile", "lan", "timing profile: lan or wan")
	fl.StringVar(&f.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	fl.StringVar(&f.cluster, "cluster", "", "run workloads on this cluster: embedded (a simulated cluster in the process), in-cluster (the pod's own cluster) or kubeconfig=PATH[,context=NAME] (a real one)")
	fl.StringToStringVar(&f.labels, "labels", nil, "the member's labels, e.g. topology.kubernetes.io/region=eu,tier=edge")
	f.embedded = federation.DefaultEmbeddedConfig()
	fl.IntVar(&f.embedded.Nodes, "embedded-nodes", f.embedded.Nodes, "embedded cluster: number of nodes")
	fl.Var(quantityFlag{&f.embedded.NodeCPU}, "embedded-node-cpu", "embedded cluster: CPUs per node (a Kubernetes quantity)")
	fl.Var(quantityFlag{&f.embedded.NodeMemory}, "embedded-node-memory", "embedded cluster: memory per node (a Kubernetes quantity)")
	fl.DurationVar(&f.embedded.StartDelay, "embedded-start-delay", f.embedded.StartDelay, "embedded cluster: time from placing a pod to its being ready")
	return cmd
}

// config checks the flags and builds the member configuration.
func (f *agentFlags) config(cmd *cobra.Command) (member.Config, error) {
	cfg := member.Config{Dir: f.dir, ID: crdt.ReplicaID(f.id)}
	if f.dir == "" {
		return cfg, usageErrorf(cmd, "--data-dir must not be empty")
	}
	if f.id != "" {
		if err := crdt.ValidateReplicaID(cfg.ID); err != nil {
			return cfg, usageErrorf(cmd, "--id: %v", err)
		}
	}
	if _, err := parseLogLevel(f.logLevel); err != nil {
		return cfg, usageErrorf(cmd, "--log-level: %v", err)
	}
	if f.listen == "" {
		for _, fl := range []struct {
			name string
			set  bool
		}{{"--join", len(f.join) > 0}, {"--advertise", f.advertise != ""}, {"--credential", f.credential != ""}} {
			if fl.set {
				return cfg, usageErrorf(cmd, "%s needs --listen (the member only gossips with --listen)", fl.name)
			}
		}
	} else {
		if err := checkHostPort(f.listen, true); err != nil {
			return cfg, usageErrorf(cmd, "--listen: %v", err)
		}
		if f.advertise != "" {
			if err := checkHostPort(f.advertise, false); err != nil {
				return cfg, usageErrorf(cmd, "--advertise: %v", err)
			}
		}
		for _, j := range f.join {
			if err := checkHostPort(j, false); err != nil {
				return cfg, usageErrorf(cmd, "--join: %v", err)
			}
		}
		if _, err := gossip.ProfileConfig(gossip.Profile(f.profile)); err != nil {
			return cfg, usageErrorf(cmd, "--profile: %v", err)
		}
		cfg.Gossip = &member.GossipConfig{Listen: f.listen, Advertise: f.advertise, Join: f.join, Profile: gossip.Profile(f.profile)}
	}
	if f.cluster != "" {
		if cfg.Gossip == nil {
			return cfg, usageErrorf(cmd, "--cluster needs --listen (a member runs workloads as part of a federation)")
		}
		for _, k := range slices.Sorted(maps.Keys(f.labels)) {
			v := f.labels[k]
			if errs := validation.IsQualifiedName(k); len(errs) > 0 {
				return cfg, usageErrorf(cmd, "--labels: key %q: %s", k, strings.Join(errs, "; "))
			}
			if errs := validation.IsValidLabelValue(v); len(errs) > 0 {
				return cfg, usageErrorf(cmd, "--labels: value %q: %s", v, strings.Join(errs, "; "))
			}
		}
		switch {
		case f.cluster == "embedded":
			if err := f.embedded.Validate(); err != nil {
				return cfg, usageErrorf(cmd, "%v", err)
			}
			drv, err := federation.NewEmbedded(f.embedded, nil)
			if err != nil {
				return cfg, err
			}
			cfg.Cluster = &member.ClusterConfig{Driver: drv, Kind: "embedded", Labels: f.labels}
		case f.cluster == "in-cluster":
			// The pod's service account (deploy/controller.yaml).
			if os.Getenv("KUBERNETES_SERVICE_HOST") == "" {
				return cfg, usageErrorf(cmd, "--cluster in-cluster: not running in a Kubernetes pod (KUBERNETES_SERVICE_HOST is unset)")
			}
			drv, err := federation.NewKube(cmd.Context(), federation.KubeConfig{Member: f.id})
			if err != nil {
				return cfg, err
			}
			cfg.Cluster = &member.ClusterConfig{Driver: drv, Kind: "kube", Labels: f.labels}
		case strings.HasPrefix(f.cluster, "kubeconfig="):
			path := strings.TrimPrefix(f.cluster, "kubeconfig=")
			kctx := ""
			if p, c, ok := strings.Cut(path, ",context="); ok {
				path, kctx = p, c
			}
			if path == "" {
				return cfg, usageErrorf(cmd, "--cluster kubeconfig=PATH: PATH is empty")
			}
			if _, err := os.Stat(path); err != nil {
				return cfg, fmt.Errorf("--cluster: %w", err)
			}
			drv, err := federation.NewKube(cmd.Context(), federation.KubeConfig{Kubeconfig: path, Context: kctx, Member: f.id})
			if err != nil {
				return cfg, err
			}
			cfg.Cluster = &member.ClusterConfig{Driver: drv, Kind: "kube", Labels: f.labels}
		default:
			return cfg, usageErrorf(cmd, "--cluster %q: want embedded, in-cluster or kubeconfig=PATH[,context=NAME]", f.cluster)
		}
	}
	if f.metrics != "" {
		if err := checkHostPort(f.metrics, true); err != nil {
			return cfg, usageErrorf(cmd, "--metrics-listen: %v", err)
		}
		cfg.MetricsListen = f.metrics
	}
	if err := f.apiConfig(cmd, &cfg); err != nil {
		return cfg, err
	}
	if f.credential != "" {
		raw, err := member.ReadLimited(f.credential, identity.MaxCredentialSize)
		if err != nil {
			return cfg, fmt.Errorf("--credential: %w", err)
		}
		if len(raw) > identity.MaxCredentialSize {
			return cfg, fmt.Errorf("--credential %s: more than %d bytes; not a membership credential", f.credential, identity.MaxCredentialSize)
		}
		cfg.Credential = raw
	}
	return cfg, nil
}

// checkHostPort checks a HOST:PORT flag value; port 0 is allowed only for
// addresses to listen on.
func checkHostPort(s string, listen bool) error {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return fmt.Errorf("%q is not HOST:PORT: %v", s, err)
	}
	if !listen && host == "" {
		return fmt.Errorf("%q names no host", s)
	}
	if strings.ContainsAny(host, " /") {
		return fmt.Errorf("%q: invalid host %q", s, host)
	}
	p, err := strconv.Atoi(port)
	if err != nil || p < 0 || p > 65535 || (!listen && p == 0) {
		return fmt.Errorf("%q: invalid port %q", s, port)
	}
	return nil
}

func parseLogLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return l, fmt.Errorf("%q is not one of debug, info, warn, error", s)
	}
	return l, nil
}

// quantityFlag is a pflag.Value for a Kubernetes quantity.
type quantityFlag struct{ q *resource.Quantity }

func (f quantityFlag) String() string {
	if f.q == nil {
		return ""
	}
	return f.q.String()
}

func (f quantityFlag) Set(s string) error {
	q, err := resource.ParseQuantity(s)
	if err != nil {
		return fmt.Errorf("%q is not a quantity such as 4, 500m or 8Gi", s)
	}
	if q.Sign() <= 0 {
		return fmt.Errorf("%q must be positive", s)
	}
	*f.q = q
	return nil
}

func (quantityFlag) Type() string { return "quantity" }

// apiConfig checks the API flags.
func (f *agentFlags) apiConfig(cmd *cobra.Command, cfg *member.Config) error {
	if f.apiListen == "none" {
		return nil
	}
	if err := checkHostPort(f.apiListen, true); err != nil {
		return usageErrorf(cmd, "--api-listen: %v", err)
	}
	mode := apiserver.Mode(f.apiMode)
	switch mode {
	case apiserver.Standalone:
		if f.apiAuthKubeconfig != "" {
			return usageErrorf(cmd, "--authentication-kubeconfig is for --api-mode aggregated")
		}
	case apiserver.Aggregated:
		if f.apiAuthKubeconfig != "" {
			if _, err := os.Stat(f.apiAuthKubeconfig); err != nil {
				return usageErrorf(cmd, "--authentication-kubeconfig: %v", err)
			}
		}
	default:
		return usageErrorf(cmd, "--api-mode %q: want standalone or aggregated", f.apiMode)
	}
	for _, n := range f.apiSANs {
		if n == "" || len(n) > 253 || validation.IsDNS1123Subdomain(n) != nil && net.ParseIP(n) == nil {
			return usageErrorf(cmd, "--api-tls-san %q: want a DNS name or an IP address", n)
		}
	}
	cfg.API = &member.APIConfig{Listen: f.apiListen, Mode: mode, SANs: f.apiSANs, AuthenticationKubeconfig: f.apiAuthKubeconfig}
	return nil
}
