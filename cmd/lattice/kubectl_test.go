package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/lattice-federation/lattice/internal/k8stest"
)

// kubectlRun runs kubectl against the federation's kubeconfig and returns
// stdout, stderr and the exit status.
func kubectlRun(t *testing.T, kubectl, kubeconfig string, args ...string) (string, string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, kubectl, append([]string{"--kubeconfig", kubeconfig}, args...)...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	if exit, ok := err.(*exec.ExitError); ok {
		return out.String(), errOut.String(), exit.ExitCode()
	}
	require.NoError(t, err)
	return out.String(), errOut.String(), 0
}

// kubectlOK runs kubectl and requires it to succeed.
func kubectlOK(t *testing.T, kubectl, kubeconfig string, args ...string) string {
	t.Helper()
	out, errOut, code := kubectlRun(t, kubectl, kubeconfig, args...)
	require.Equal(t, 0, code, "kubectl %s: %s", strings.Join(args, " "), errOut)
	return out
}

// kubectls returns the kubectl binaries to test with: the one 'make
// k8s-tools' builds (v1.37) and, if the machine has one on the PATH, that
// one too (a different version: skew coverage).
func kubectls(t *testing.T) []string {
	var out []string
	if dir, err := k8stest.BinDir(); err == nil {
		if p := filepath.Join(dir, "kubectl"); fileExists(p) {
			out = append(out, p)
		}
	}
	if p, err := exec.LookPath("kubectl"); err == nil {
		out = append(out, p)
	}
	if len(out) == 0 {
		t.Skip("no kubectl: run 'make k8s-tools'")
	}
	return out
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

// TestKubectl drives a 'lattice up' federation with real kubectl binaries:
// discovery, apply on one member and read on another after convergence,
// every output format, describe, scale, patch, wait, watch, explain,
// delete, and the errors (422, 409, 401).
func TestKubectl(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary and kubectl")
	}
	ks := kubectls(t)
	bin := buildLattice(t)
	root := shortDir(t)
	startUp(t, bin, root)
	kc := filepath.Join(root, "kubeconfig")
	cfg, err := clientcmd.LoadFromFile(kc)
	require.NoError(t, err)
	require.Len(t, cfg.Contexts, 3)
	for _, c := range []string{"member-1", "member-2", "member-3"} {
		require.Contains(t, cfg.Contexts, c)
	}

	for i, k := range ks {
		name := []string{"web", "api"}[i%2]
		t.Run(filepath.Base(filepath.Dir(k))+"/"+name, func(t *testing.T) {
			kubectlScenario(t, k, kc, root, name)
		})
	}

	// No token, or a wrong one: 401. (kubectl without credentials would
	// prompt for a password, so the tokenless request is plain HTTPS.)
	cluster := cfg.Clusters["member-1"]
	pool := x509.NewCertPool()
	require.True(t, pool.AppendCertsFromPEM(cluster.CertificateAuthorityData))
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}, Timeout: 10 * time.Second}
	resp, err := hc.Get(cluster.Server + "/apis/federation.lattice.dev/v1alpha1/namespaces/default/federateddeployments")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	_, errOut, code := kubectlRun(t, ks[0], kc, "--context", "member-2", "--token", "not-the-token", "get", "members")
	assert.NotEqual(t, 0, code)
	assert.Contains(t, errOut, "Unauthorized")
}

func kubectlScenario(t *testing.T, k, kc, root, name string) {
	run := func(ctx string, args ...string) string {
		t.Helper()
		return kubectlOK(t, k, kc, append([]string{"--context", ctx}, args...)...)
	}
	out := run("member-1", "api-resources", "--api-group", "federation.lattice.dev")
	for _, r := range []string{"federateddeployments", "members", "identities", "ledgerentries"} {
		assert.Contains(t, out, r)
	}

	manifest := filepath.Join(root, name+".yaml")
	m := strings.Replace(webFederatedDeployment("", "  replicas: 3\n"), "{name: web}", "{name: "+name+", labels: {tier: frontend}}", 1)
	require.NoError(t, os.WriteFile(manifest, []byte(m), 0o600))
	assert.Contains(t, run("member-1", "apply", "-f", manifest), name+" created")

	// Replicated to member-3 by gossip, and run: 3/3 ready there.
	require.Eventually(t, func() bool {
		out, _, code := kubectlRun(t, k, kc, "--context", "member-3", "get", "fd", name)
		return code == 0 && strings.Contains(out, "3/3")
	}, 60*time.Second, 250*time.Millisecond, "%s not ready on member-3", name)
	table := run("member-3", "get", "federateddeployments")
	assert.Regexp(t, `NAME\s+READY\s+MEMBERS\s+AVAILABLE\s+AGE`, table)
	assert.Contains(t, run("member-3", "get", "fd", name, "-o", "yaml"), "kind: FederatedDeployment")
	var obj struct {
		Metadata struct {
			ResourceVersion string `json:"resourceVersion"`
			Generation      int64  `json:"generation"`
		} `json:"metadata"`
		Status struct {
			ReadyReplicas int32 `json:"readyReplicas"`
		} `json:"status"`
	}
	require.NoError(t, json.Unmarshal([]byte(run("member-3", "get", "fd", name, "-o", "json")), &obj))
	assert.Equal(t, int32(3), obj.Status.ReadyReplicas)
	assert.Equal(t, int64(1), obj.Metadata.Generation)
	assert.Contains(t, run("member-3", "describe", "fd", name), "MinimumReplicasAvailable")

	// A watch on member-3 sees a scale made on member-1.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	watch := exec.CommandContext(ctx, k, "--kubeconfig", kc, "--context", "member-3", "get", "fd", name, "--watch", "-o", `jsonpath={.spec.replicas}{"\n"}`)
	var watchOut lockedBuffer
	watch.Stdout, watch.Stderr = &watchOut, &watchOut
	require.NoError(t, watch.Start())
	defer func() { cancel(); _ = watch.Wait() }()
	require.Eventually(t, func() bool { return strings.Contains(watchOut.String(), "3\n") }, 30*time.Second, 100*time.Millisecond, watchOut.String())
	assert.Contains(t, run("member-1", "scale", "fd", name, "--replicas", "5"), "scaled")
	require.Eventually(t, func() bool { return strings.Contains(watchOut.String(), "5\n") }, 30*time.Second, 100*time.Millisecond,
		"watch on member-3 saw: %s", watchOut.String())

	assert.Contains(t, run("member-2", "patch", "fd", name, "--type", "merge", "-p", `{"metadata":{"labels":{"patched":"yes"}}}`), "patched")
	require.Eventually(t, func() bool {
		out, _, code := kubectlRun(t, k, kc, "--context", "member-1", "get", "fd", "-l", "patched=yes", "-o", "name")
		return code == 0 && strings.Contains(out, "/"+name)
	}, 30*time.Second, 200*time.Millisecond)
	assert.Contains(t, run("member-2", "wait", "--for=condition=Available", "fd/"+name, "--timeout=90s"), "condition met")
	assert.Contains(t, run("member-1", "explain", "federateddeployments.spec.replicaScheduling"), "weights")

	// 422 naming the field.
	bad := filepath.Join(root, "bad.yaml")
	require.NoError(t, os.WriteFile(bad, []byte("apiVersion: federation.lattice.dev/v1alpha1\nkind: FederatedDeployment\nmetadata: {name: bad}\nspec:\n  replicas: -1\n  template: {}\n"), 0o600))
	_, errOut, code := kubectlRun(t, k, kc, "--context", "member-1", "apply", "-f", bad)
	assert.NotEqual(t, 0, code)
	assert.Contains(t, errOut, "is invalid")
	assert.Contains(t, errOut, "spec.replicas")
	assert.Contains(t, errOut, "spec.template.template.spec.containers")

	// 409: replacing with a resourceVersion that is no longer current.
	stale := filepath.Join(root, name+"-stale.json")
	require.NoError(t, os.WriteFile(stale, []byte(run("member-1", "get", "fd", name, "-o", "json")), 0o600))
	run("member-1", "scale", "fd", name, "--replicas", "4")
	_, errOut, code = kubectlRun(t, k, kc, "--context", "member-1", "replace", "-f", stale)
	assert.NotEqual(t, 0, code)
	assert.Contains(t, errOut, "the object has been modified")

	assert.Contains(t, run("member-2", "delete", "fd", name), "deleted")
	require.Eventually(t, func() bool {
		_, errOut, code := kubectlRun(t, k, kc, "--context", "member-3", "get", "fd", name)
		return code != 0 && strings.Contains(errOut, "NotFound")
	}, 30*time.Second, 200*time.Millisecond)
}
