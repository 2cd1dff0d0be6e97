package main

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/lattice-federation/lattice/internal/k8stest"
)

// A federation of two members, member-2 on a real Kubernetes control plane
// (etcd, kube-apiserver, controller-manager, scheduler, kwok fake node)
// through the kube driver: its Deployment appears with the override
// applied, its ready replicas come back into the federation, and it is
// removed once no longer assigned.
func TestKubeDriverFederation(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a Kubernetes control plane and agent processes")
	}
	cp := k8stest.Start(t, k8stest.Options{Controllers: true, Nodes: []k8stest.Node{{Name: "fake-1", CPU: "8", Memory: "16Gi"}}})
	bin := buildLattice(t)
	h := newFederationHarness(t, bin, 2, nil, nil)
	h.deployment = "shop/web"
	h.perAgent = map[int][]string{
		0: {"--cluster", "embedded", "--embedded-start-delay", "500ms"},
		1: {"--cluster", "kubeconfig=" + cp.Kubeconfig, "--labels", "env=kube"},
	}
	h.startAll()
	h.waitViews(indices(0, 2), 2, 30*time.Second)
	write := func(specLines string) {
		applyManifest(t, bin, h.root, h.agents[0].dir, webFederatedDeployment("shop", specLines))
	}
	write(`  replicas: 4
  overrides:
  - cluster: member-2
    images: {web: "nginx:1.28"}
    labels: {tier: edge}
`)

	// The Deployment appears in the real cluster with the override.
	require.Eventually(t, func() bool {
		out := kubectlOut(cp, "get", "deployment", "web", "-n", "shop", "-o", "jsonpath={.spec.replicas} {.spec.template.spec.containers[0].image} {.metadata.labels.tier} {.status.readyReplicas}")
		return out == "2 nginx:1.28 edge 2"
	}, 90*time.Second, 500*time.Millisecond, "deployment in the real cluster: %s", kubectlOut(cp, "get", "deployment,pods", "-A"))
	// Its ready replicas come back into the federation.
	require.Eventually(t, func() bool {
		r, ok := h.ownReport(1)
		return ok && r.Ready == 2 && r.Desired == 2
	}, 30*time.Second, 250*time.Millisecond)
	var status string
	require.Eventually(t, func() bool {
		out, errOut, code := runBin(t, bin, "", "status", "--data-dir", h.agents[0].dir)
		status = out + errOut
		return code == 0 && strings.Contains(out, "member-2=2/2")
	}, 30*time.Second, 250*time.Millisecond, "status: %s", status)

	// No longer assigned: the Deployment is removed from the cluster.
	write("  replicas: 4\n  placement: {clusterSelector: {matchExpressions: [{key: env, operator: DoesNotExist}]}}\n")
	require.Eventually(t, func() bool {
		return strings.Contains(kubectlOut(cp, "get", "deployment", "web", "-n", "shop"), "NotFound")
	}, 60*time.Second, 500*time.Millisecond)
	r, _ := h.readyDesired([]int{0})
	require.Equal(t, int32(4), r, "member-1 runs all four")
	h.stop(0)
	h.stop(1)
}

// kubectlOut runs kubectl and returns its combined output, errors included.
func kubectlOut(cp *k8stest.ControlPlane, args ...string) string {
	c := cp.KubectlCmd(args...)
	out, _ := c.CombinedOutput()
	return strings.TrimSpace(string(out))
}
