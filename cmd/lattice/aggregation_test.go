package main

import (
	"encoding/base64"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/lattice-federation/lattice/apiserver"
	"github.com/lattice-federation/lattice/internal/k8stest"
	"github.com/lattice-federation/lattice/internal/member"
)

// TestAggregatedAPI registers a member's API with a real kube-apiserver
// (etcd, front proxy) through an APIService and drives it with kubectl
// through the host: discovery, members, a FederatedDeployment that
// replicates to the other member, delegated authorization (an
// unauthorized user is refused by the host's RBAC), and the APIService
// staying Available when the other member dies.
func TestAggregatedAPI(t *testing.T) {
	if testing.Short() {
		t.Skip("runs kube-apiserver, etcd and two members")
	}
	cp := k8stest.Start(t, k8stest.Options{Aggregation: true})
	bin := buildLattice(t)
	h := newFederationHarness(t, bin, 2, nil, nil)
	apiAddr := freeTCPAddr(t)
	_, port, _ := net.SplitHostPort(apiAddr)
	h.perAgent = map[int][]string{0: {
		"--api-mode", "aggregated", "--api-listen", apiAddr,
		"--authentication-kubeconfig", cp.Kubeconfig,
		"--api-tls-san", "lattice-api.lattice-system.svc",
		"--cluster", "embedded", "--embedded-start-delay", "200ms",
	}, 1: {"--cluster", "embedded", "--embedded-start-delay", "200ms"}}
	h.startAll()

	// The shipped manifests are valid for this apiserver.
	cp.Kubectl(t, "apply", "-f", filepath.Join("..", "..", "deploy", "rbac.yaml"))
	cp.Kubectl(t, "apply", "--dry-run=server", "-f", filepath.Join("..", "..", "deploy", "apiservice.yaml"))
	cp.Kubectl(t, "apply", "--dry-run=server", "-f", filepath.Join("..", "..", "deploy", "controller.yaml"))

	// On this machine the server listens on loopback: an ExternalName
	// Service to localhost makes the apiserver dial it there, verifying
	// the certificate for lattice-api.lattice-system.svc.
	ca, err := os.ReadFile(filepath.Join(member.APIDir(h.agents[0].dir), apiserver.CAFile))
	require.NoError(t, err)
	cp.Kubectl(t, "apply", "-f", "-", fmt.Sprintf(`apiVersion: v1
kind: Service
metadata: {name: lattice-api, namespace: lattice-system}
spec: {type: ExternalName, externalName: localhost}
---
apiVersion: apiregistration.k8s.io/v1
kind: APIService
metadata: {name: v1alpha1.federation.lattice.dev}
spec:
  group: federation.lattice.dev
  version: v1alpha1
  groupPriorityMinimum: 1000
  versionPriority: 15
  caBundle: %s
  service: {name: lattice-api, namespace: lattice-system, port: %s}
`, base64.StdEncoding.EncodeToString(ca), port))
	available := func() bool {
		out, err := cp.KubectlCmd("get", "apiservice", "v1alpha1.federation.lattice.dev",
			"-o", `jsonpath={.status.conditions[?(@.type=="Available")].status}`).CombinedOutput()
		return err == nil && strings.TrimSpace(string(out)) == "True"
	}
	require.Eventually(t, available, 60*time.Second, 250*time.Millisecond, "APIService not Available")

	out := cp.Kubectl(t, "api-resources", "--api-group", "federation.lattice.dev")
	assert.Contains(t, out, "federateddeployments")
	require.Eventually(t, func() bool {
		out, err := cp.KubectlCmd("get", "members", "-o", "name").CombinedOutput()
		return err == nil && strings.Count(string(out), "member.federation.lattice.dev/") == 2
	}, 60*time.Second, 250*time.Millisecond, "both members listed through the host")

	// Write through the host; the other member receives it by gossip.
	cp.Kubectl(t, "create", "namespace", "shop")
	cp.Kubectl(t, "apply", "-f", "-", webFederatedDeployment("shop", "  replicas: 2\n"))
	require.Eventually(t, func() bool {
		return strings.Contains(h.dump(1), `"key":"federation.lattice.dev/FederatedDeployment/shop/web"`)
	}, 30*time.Second, 200*time.Millisecond)
	require.Eventually(t, func() bool {
		out, err := cp.KubectlCmd("-n", "shop", "get", "fd", "web").CombinedOutput()
		return err == nil && strings.Contains(string(out), "2/2")
	}, 60*time.Second, 250*time.Millisecond)

	// Authorization is the host's: a user RBAC grants nothing is refused.
	out2, err := cp.KubectlCmd("--as", "mallory", "-n", "shop", "get", "fd").CombinedOutput()
	require.Error(t, err)
	assert.Contains(t, string(out2), "forbidden")
	assert.Contains(t, string(out2), "mallory")
	// With the shipped view role bound, the same user can read.
	cp.Kubectl(t, "create", "clusterrolebinding", "mallory-view", "--clusterrole", "lattice-federation-view", "--user", "mallory")
	require.Eventually(t, func() bool {
		out, err := cp.KubectlCmd("--as", "mallory", "-n", "shop", "get", "fd", "web").CombinedOutput()
		return err == nil && strings.Contains(string(out), "web")
	}, 30*time.Second, 250*time.Millisecond)

	// The other member dies: discovery and the APIService stay available,
	// and the member reads as unreachable.
	h.stop(1)
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		require.True(t, available(), "APIService must stay Available while the federation is degraded")
		_, err := cp.KubectlCmd("api-resources").CombinedOutput()
		require.NoError(t, err, "discovery must not fail")
		time.Sleep(time.Second)
	}
	require.Eventually(t, func() bool {
		out, err := cp.KubectlCmd("get", "members").CombinedOutput()
		return err == nil && strings.Contains(string(out), "False")
	}, 30*time.Second, 500*time.Millisecond, "the dead member reads as not reachable")
	cp.Kubectl(t, "-n", "shop", "delete", "fd", "web")
}
