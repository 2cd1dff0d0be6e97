// Package k8stest runs a real Kubernetes control plane for tests: etcd
// (Debian's etcd-server), kube-apiserver, and optionally
// kube-controller-manager, kube-scheduler and kwok with fake nodes, so that
// Deployments get ReplicaSets and pods that become Running and Ready
// without kubelets. The Kubernetes binaries are the ones 'make k8s-tools'
// builds into .cache/k8s/VERSION; tests skip (with the reason) when they
// are missing, and 'make test' always builds them first.
package k8stest

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lattice-federation/lattice/internal/testports"
)

// Version is the Kubernetes version 'make k8s-tools' builds.
const Version = "v1.37.2"

// KwokVersion is the kwok version 'make k8s-tools' installs.
const KwokVersion = "v0.8.0"

// Token is the bearer token of the control plane's admin user.
const Token = "lattice-test-admin-token"

// Options selects what to run.
type Options struct {
	// Controllers runs kube-controller-manager, kube-scheduler and kwok.
	Controllers bool
	// Nodes are fake nodes (kwok) to create, when Controllers is set.
	Nodes []Node
	// Aggregation configures the front proxy (a front-proxy CA and the
	// client certificate the apiserver presents to aggregated servers), so
	// APIServices can be served.
	Aggregation bool
}

// Node is a fake node's size.
type Node struct {
	Name   string
	CPU    string // e.g. "8"
	Memory string // e.g. "16Gi"
}

// ControlPlane is a running control plane.
type ControlPlane struct {
	Dir        string
	URL        string
	Kubeconfig string
	bin        string
	logs       map[string]*lockedBuffer
	procs      []*exec.Cmd
	done       []chan error
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.b.Len() > 8<<20 {
		return len(p), nil
	}
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// BinDir returns the directory holding the built Kubernetes binaries:
// .cache/k8s/VERSION at the repository root (found from the working
// directory upwards), or $LATTICE_K8S_BIN.
func BinDir() (string, error) {
	if d := os.Getenv("LATTICE_K8S_BIN"); d != "" {
		return d, nil
	}
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for d := wd; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			if _, err := os.Stat(filepath.Join(d, "tools", "k8s")); err == nil {
				return filepath.Join(d, ".cache", "k8s", Version), nil
			}
		}
		if filepath.Dir(d) == d {
			return "", errors.New("repository root not found")
		}
	}
}

// Available reports why the control plane cannot run here ("" if it can).
func Available(opts Options) string {
	bin, err := BinDir()
	if err != nil {
		return err.Error()
	}
	need := []string{"kube-apiserver"}
	if opts.Controllers {
		need = append(need, "kube-controller-manager", "kube-scheduler", "kwok")
	}
	for _, n := range need {
		if _, err := os.Stat(filepath.Join(bin, n)); err != nil {
			return fmt.Sprintf("%s not built (run 'make k8s-tools')", filepath.Join(bin, n))
		}
	}
	if _, err := exec.LookPath("etcd"); err != nil {
		return "etcd not installed (Debian: apt-get install etcd-server; 'make k8s-tools' does it as root)"
	}
	if opts.Controllers {
		if _, err := kwokStages(); err != nil {
			return err.Error()
		}
	}
	return ""
}

func freePort(t testing.TB) int {
	t.Helper()
	return testports.Free(t, "127.0.0.1", 1, 0)
}

// Start runs a control plane for the test, skipping it if the binaries
// are missing; everything stops at the test's cleanup.
func Start(t testing.TB, opts Options) *ControlPlane {
	t.Helper()
	if why := Available(opts); why != "" {
		t.Skip("no Kubernetes control plane: " + why)
	}
	bin, _ := BinDir()
	dir, err := os.MkdirTemp("", "k8s")
	if err != nil {
		t.Fatal(err)
	}
	cp := &ControlPlane{Dir: dir, bin: bin, logs: map[string]*lockedBuffer{}}
	t.Cleanup(func() {
		cp.stop()
		if t.Failed() {
			for name, l := range cp.logs {
				s := l.String()
				if len(s) > 4000 {
					s = s[len(s)-4000:]
				}
				t.Logf("--- %s log (tail) ---\n%s", name, s)
			}
		}
		os.RemoveAll(dir)
	})

	// Service-account key pair.
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := x509.MarshalPKIXPublicKey(&key.PublicKey)
	write(t, dir, "sa.key", pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}))
	write(t, dir, "sa.pub", pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub}))
	write(t, dir, "tokens.csv", []byte(Token+",admin,admin-uid,system:masters\n"))

	etcdClient, etcdPeer := freePort(t), freePort(t)
	cp.run(t, "etcd", "etcd", "--data-dir", filepath.Join(dir, "etcd"), "--name", "test",
		"--listen-client-urls", fmt.Sprintf("http://127.0.0.1:%d", etcdClient),
		"--advertise-client-urls", fmt.Sprintf("http://127.0.0.1:%d", etcdClient),
		"--listen-peer-urls", fmt.Sprintf("http://127.0.0.1:%d", etcdPeer),
		"--initial-advertise-peer-urls", fmt.Sprintf("http://127.0.0.1:%d", etcdPeer),
		"--initial-cluster", fmt.Sprintf("test=http://127.0.0.1:%d", etcdPeer))

	port := freePort(t)
	cp.URL = fmt.Sprintf("https://127.0.0.1:%d", port)
	var aggregation []string
	if opts.Aggregation {
		aggregation = frontProxy(t, dir)
	}
	cp.run(t, "kube-apiserver", filepath.Join(bin, "kube-apiserver"), append(aggregation,
		"--etcd-servers", fmt.Sprintf("http://127.0.0.1:%d", etcdClient),
		"--bind-address=127.0.0.1", "--advertise-address=127.0.0.1", "--secure-port", strconv.Itoa(port),
		"--service-cluster-ip-range=10.0.0.0/24", "--endpoint-reconciler-type=none",
		"--cert-dir", filepath.Join(dir, "certs"), "--token-auth-file", filepath.Join(dir, "tokens.csv"),
		"--authorization-mode=RBAC", "--service-account-issuer=https://kubernetes.default.svc",
		"--service-account-key-file", filepath.Join(dir, "sa.pub"),
		"--service-account-signing-key-file", filepath.Join(dir, "sa.key"))...)
	cp.waitReady(t, 90*time.Second)
	ca, err := os.ReadFile(filepath.Join(dir, "certs", "apiserver.crt"))
	if err != nil {
		t.Fatalf("apiserver certificate: %v", err)
	}
	cp.Kubeconfig = filepath.Join(dir, "kubeconfig")
	write(t, dir, "ca.crt", ca)
	write(t, dir, "kubeconfig", []byte(fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: test
  cluster: {server: %q, certificate-authority: %q}
users:
- name: admin
  user: {token: %q}
contexts:
- name: test
  context: {cluster: test, user: admin}
current-context: test
`, cp.URL, filepath.Join(dir, "ca.crt"), Token)))

	if !opts.Controllers {
		return cp
	}
	cp.run(t, "kube-controller-manager", filepath.Join(bin, "kube-controller-manager"),
		"--kubeconfig", cp.Kubeconfig, "--leader-elect=false", "--bind-address=127.0.0.1",
		"--secure-port", strconv.Itoa(freePort(t)),
		"--service-account-private-key-file", filepath.Join(dir, "sa.key"))
	cp.run(t, "kube-scheduler", filepath.Join(bin, "kube-scheduler"),
		"--kubeconfig", cp.Kubeconfig, "--leader-elect=false", "--bind-address=127.0.0.1",
		"--secure-port", strconv.Itoa(freePort(t)))
	stages, err := kwokStages()
	if err != nil {
		t.Fatal(err)
	}
	write(t, dir, "stages.yaml", stages)
	cp.run(t, "kwok", filepath.Join(bin, "kwok"), "--kubeconfig", cp.Kubeconfig,
		"--config", filepath.Join(dir, "stages.yaml"), "--manage-all-nodes=true", "--node-ip=127.0.0.1",
		"--server-address", "127.0.0.1:"+strconv.Itoa(freePort(t)))
	for _, n := range opts.Nodes {
		cp.Kubectl(t, "apply", "-f", "-", fmt.Sprintf(`apiVersion: v1
kind: Node
metadata:
  name: %s
  annotations: {kwok.x-k8s.io/node: fake}
  labels: {type: kwok, kubernetes.io/hostname: %s}
status:
  allocatable: {cpu: %q, memory: %q, pods: "110"}
  capacity: {cpu: %q, memory: %q, pods: "110"}
`, n.Name, n.Name, n.CPU, n.Memory, n.CPU, n.Memory))
	}
	return cp
}

// Kubectl runs the built kubectl against the control plane; the last
// argument, if it follows "-", is its standard input.
func (cp *ControlPlane) Kubectl(t testing.TB, args ...string) string {
	t.Helper()
	var stdin string
	if n := len(args); n >= 2 && args[n-2] == "-" {
		stdin, args = args[n-1], args[:n-1]
	}
	c := exec.Command(filepath.Join(cp.bin, "kubectl"), append([]string{"--kubeconfig", cp.Kubeconfig}, args...)...)
	c.Stdin = strings.NewReader(stdin)
	out, err := c.CombinedOutput()
	if err != nil {
		t.Fatalf("kubectl %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// KubectlCmd returns a kubectl command against the control plane.
func (cp *ControlPlane) KubectlCmd(args ...string) *exec.Cmd {
	return exec.Command(filepath.Join(cp.bin, "kubectl"), append([]string{"--kubeconfig", cp.Kubeconfig}, args...)...)
}

func write(t testing.TB, dir, name string, b []byte) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func (cp *ControlPlane) run(t testing.TB, name, path string, args ...string) {
	t.Helper()
	c := exec.Command(path, args...)
	l := &lockedBuffer{}
	c.Stdout, c.Stderr = l, l
	if err := c.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	done := make(chan error, 1)
	go func() { done <- c.Wait() }()
	cp.logs[name] = l
	cp.procs = append(cp.procs, c)
	cp.done = append(cp.done, done)
}

func (cp *ControlPlane) waitReady(t testing.TB, timeout time.Duration) {
	t.Helper()
	hc := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, cp.URL+"/readyz", nil)
		req.Header.Set("Authorization", "Bearer "+Token)
		if resp, err := hc.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("kube-apiserver not ready after %s", timeout)
}

// stop stops the processes in reverse order.
func (cp *ControlPlane) stop() {
	for i := len(cp.procs) - 1; i >= 0; i-- {
		p := cp.procs[i]
		_ = p.Process.Signal(os.Interrupt)
		select {
		case <-cp.done[i]:
		case <-time.After(10 * time.Second):
			_ = p.Process.Kill()
			<-cp.done[i]
		}
	}
}

// kwokStages joins kwok's fast node and pod stages from its module
// directory (go install put the module in the module cache).
func kwokStages() ([]byte, error) {
	out, err := exec.Command("go", "env", "GOMODCACHE").Output()
	if err != nil {
		return nil, fmt.Errorf("go env GOMODCACHE: %w", err)
	}
	root := filepath.Join(strings.TrimSpace(string(out)), "sigs.k8s.io", "kwok@"+KwokVersion, "kustomize", "stage")
	var b bytes.Buffer
	for _, f := range []string{"node/fast/node-initialize.yaml", "node/heartbeat/node-heartbeat.yaml", "pod/fast/pod-ready.yaml", "pod/fast/pod-complete.yaml", "pod/fast/pod-delete.yaml"} {
		data, err := os.ReadFile(filepath.Join(root, f))
		if err != nil {
			return nil, fmt.Errorf("kwok stage %s not found (run 'make k8s-tools'): %w", f, err)
		}
		if b.Len() > 0 {
			b.WriteString("\n---\n")
		}
		b.Write(data)
	}
	return b.Bytes(), nil
}

// frontProxy writes a front-proxy CA and client certificate into dir and
// returns the kube-apiserver flags that use them.
func frontProxy(t testing.TB, dir string) []string {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "front-proxy-ca"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "front-proxy-client"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalECPrivateKey(key)
	write(t, dir, "front-proxy-ca.crt", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}))
	write(t, dir, "front-proxy-client.crt", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	write(t, dir, "front-proxy-client.key", pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}))
	return []string{
		"--requestheader-client-ca-file", filepath.Join(dir, "front-proxy-ca.crt"),
		"--requestheader-allowed-names=front-proxy-client",
		"--requestheader-username-headers=X-Remote-User", "--requestheader-group-headers=X-Remote-Group",
		"--requestheader-extra-headers-prefix=X-Remote-Extra-",
		"--proxy-client-cert-file", filepath.Join(dir, "front-proxy-client.crt"),
		"--proxy-client-key-file", filepath.Join(dir, "front-proxy-client.key"),
	}
}
