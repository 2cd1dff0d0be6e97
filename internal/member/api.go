package member

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/lattice-federation/lattice/apiserver"
	"github.com/lattice-federation/lattice/crdt"
	"github.com/lattice-federation/lattice/gossip"
)

// APIDirName holds the member's API credentials and kubeconfig.
const APIDirName = "api"

// APIDir returns the API credentials directory of data directory dir.
func APIDir(dir string) string { return filepath.Join(dir, APIDirName) }

// KubeconfigPath is the kubeconfig a standalone member writes for itself.
func KubeconfigPath(dir string) string { return filepath.Join(APIDir(dir), "kubeconfig") }

// APIConfig configures the member's federation API server.
type APIConfig struct {
	// Listen is the HTTPS address (host:port; port 0 picks one).
	Listen string
	Mode   apiserver.Mode
	// SANs are extra names for the serving certificate (an aggregated
	// server needs <service>.<namespace>.svc).
	SANs []string
	// AuthenticationKubeconfig: see apiserver.Config.
	AuthenticationKubeconfig string
	// Ready, if set, is called with the address once the API serves.
	Ready func(addr string)
}

// startAPI serves the federation API for the member's store. The server's
// credentials live in DIR/api; a standalone member also writes
// DIR/api/kubeconfig with one context named after the member.
func startAPI(ctx context.Context, cfg Config, st *crdt.Store, id crdt.ReplicaID, node *gossip.Node, log *slog.Logger) (func(), error) {
	creds, err := apiserver.EnsureCredentials(APIDir(cfg.Dir), cfg.API.SANs)
	if err != nil {
		return nil, err
	}
	acfg := apiserver.DefaultConfig()
	acfg.Store, acfg.Credentials, acfg.Logger = st, creds, log
	acfg.Listen, acfg.Mode, acfg.AuthenticationKubeconfig = cfg.API.Listen, cfg.API.Mode, cfg.API.AuthenticationKubeconfig
	acfg.Live = func() []string {
		if node == nil {
			return []string{string(id)}
		}
		out := []string{string(id)}
		for _, m := range node.Members() {
			out = append(out, string(m))
		}
		return out
	}
	srv, err := apiserver.New(acfg)
	if err != nil {
		return nil, err
	}
	if cfg.API.Mode == apiserver.Standalone {
		kc := Kubeconfig(map[string]KubeContext{string(id): {Server: "https://" + srv.Addr(), CA: creds.CA, Token: creds.Token}})
		if err := clientcmd.WriteToFile(*kc, KubeconfigPath(cfg.Dir)); err != nil {
			return nil, fmt.Errorf("write kubeconfig: %w", err)
		}
		if err := os.Chmod(KubeconfigPath(cfg.Dir), 0o600); err != nil {
			return nil, err
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	log.Info("federation API serving", "addr", srv.Addr(), "mode", string(cfg.API.Mode))
	if cfg.API.Ready != nil {
		cfg.API.Ready(srv.Addr())
	}
	return func() {
		cancel()
		select {
		case err := <-done:
			if err != nil && !errors.Is(err, context.Canceled) {
				log.Warn("federation API stopped with an error", "err", err)
			}
		case <-time.After(30 * time.Second):
			log.Warn("federation API did not stop within 30s")
		}
	}, nil
}

// KubeContext is one member's entry in a kubeconfig.
type KubeContext struct {
	Server string
	CA     []byte
	Token  string
}

// Kubeconfig builds a kubeconfig with one cluster, user and context per
// entry, all named by its key; the first key in sorted order is current.
func Kubeconfig(contexts map[string]KubeContext) *clientcmdapi.Config {
	c := clientcmdapi.NewConfig()
	var first string
	for name, kc := range contexts {
		c.Clusters[name] = &clientcmdapi.Cluster{Server: kc.Server, CertificateAuthorityData: kc.CA}
		c.AuthInfos[name] = &clientcmdapi.AuthInfo{Token: kc.Token}
		c.Contexts[name] = &clientcmdapi.Context{Cluster: name, AuthInfo: name, Namespace: "default"}
		if first == "" || name < first {
			first = name
		}
	}
	c.CurrentContext = first
	return c
}
