package main

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/lattice-federation/lattice/internal/admin"
	"github.com/lattice-federation/lattice/internal/member"
	"github.com/lattice-federation/lattice/internal/testports"
)

// agentProc is one 'lattice agent' process of a test federation.
type agentProc struct {
	name, dir, addr, metrics string
	// prefix, if set, wraps the command (e.g. ip netns exec NS).
	prefix []string
	cmd    *exec.Cmd
	exited chan error
	stderr *lockedBuffer
}

// federationHarness runs a federation of agent processes: member-1 founds
// it, every other member is invited by member-1 and joins with its
// credential.
type federationHarness struct {
	t      *testing.T
	bin    string
	root   string
	agents []*agentProc
	extra  []string // extra agent flags
	// deployment is what ownReport looks at (default: default/web).
	deployment string
	// perAgent are extra flags of one agent, by index.
	perAgent map[int][]string
	creds    []string // credential ID of each member (none for member-1)
}

// freeUDPPort returns a port free on host (UDP and TCP) right now.
func freeUDPPort(t *testing.T, host string) int {
	t.Helper()
	return testports.Free(t, host, 1, 0)
}

func freeTCPAddr(t *testing.T) string {
	t.Helper()
	return testports.Addr(t, "127.0.0.1")
}

// freeUpBase returns a --base-port for 'lattice up' with members members:
// gossip ports at base, metrics at +100 and the API at +200.
func freeUpBase(t *testing.T, members int) int {
	t.Helper()
	return testports.Free(t, "127.0.0.1", members, 0, 100, 200)
}

// newFederationHarness prepares n members (identities, federation,
// credentials) without starting them. hosts[i] is member i's IP (nil: all
// 127.0.0.1); prefixes[i] wraps its commands (nil: none).
func newFederationHarness(t *testing.T, bin string, n int, hosts []string, prefixes [][]string) *federationHarness {
	t.Helper()
	h := &federationHarness{t: t, bin: bin, root: shortDir(t), creds: []string{""}}
	for i := range n {
		host := "127.0.0.1"
		if hosts != nil {
			host = hosts[i]
		}
		a := &agentProc{name: fmt.Sprintf("member-%d", i+1), dir: filepath.Join(h.root, fmt.Sprintf("m%d", i+1)), metrics: freeTCPAddr(t)}
		if prefixes != nil {
			a.prefix = prefixes[i]
		}
		port := 7946
		if prefixes == nil {
			port = freeUDPPort(t, host)
		}
		a.addr = net.JoinHostPort(host, strconv.Itoa(port))
		h.agents = append(h.agents, a)
	}
	_, errOut, code := runBin(t, bin, "", "federation", "init", "--name", "e2e", "--data-dir", h.agents[0].dir)
	require.Equal(t, 0, code, errOut)
	// The founder's store was created by init, with its DID as replica ID.
	rid, err := member.ReadID(h.agents[0].dir)
	require.NoError(t, err)
	h.agents[0].name = string(rid)
	for _, a := range h.agents[1:] {
		out, errOut, code := runBin(t, bin, "", "did", "create", "--data-dir", a.dir)
		require.Equal(t, 0, code, errOut)
		did := strings.TrimSpace(out)
		out, errOut, code = runBin(t, bin, "", "invite", "--data-dir", h.agents[0].dir, "--did", did, "--out", a.dir+".cred")
		require.Equal(t, 0, code, errOut)
		h.creds = append(h.creds, strings.Fields(out)[1])
	}
	t.Cleanup(h.killAll)
	return h
}

// start starts agent i, joining member-1 (and the given others).
func (h *federationHarness) start(i int) {
	t := h.t
	t.Helper()
	a := h.agents[i]
	args := []string{"agent", "--data-dir", a.dir, "--listen", a.addr, "--metrics-listen", a.metrics}
	if i > 0 {
		args = append(args, "--id", a.name, "--join", h.agents[0].addr)
		if _, err := os.Stat(a.dir + ".cred"); err == nil {
			args = append(args, "--credential", a.dir+".cred")
		}
	}
	args = append(args, h.extra...)
	args = append(args, h.perAgent[i]...)
	argv := append(append([]string{}, a.prefix...), h.bin)
	argv = append(argv, args...)
	a.cmd = exec.Command(argv[0], argv[1:]...)
	a.stderr = &lockedBuffer{}
	a.cmd.Stderr = a.stderr
	a.cmd.Stdout = a.stderr
	require.NoError(t, a.cmd.Start())
	a.exited = make(chan error, 1)
	go func(cmd *exec.Cmd, ch chan error) { ch <- cmd.Wait() }(a.cmd, a.exited)
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := admin.Dial(a.dir)
		if err == nil {
			c.Close()
			return
		}
		select {
		case err := <-a.exited:
			t.Fatalf("%s exited early (%v): %s", a.name, err, a.stderr.String())
		default:
		}
		require.True(t, time.Now().Before(deadline), "%s not ready after 30s: %s", a.name, a.stderr.String())
		time.Sleep(20 * time.Millisecond)
	}
}

func (h *federationHarness) startAll() {
	for i := range h.agents {
		h.start(i)
	}
}

// stop sends SIGTERM to agent i and waits for a clean exit.
func (h *federationHarness) stop(i int) {
	t := h.t
	t.Helper()
	a := h.agents[i]
	require.NoError(t, a.cmd.Process.Signal(syscall.SIGTERM))
	select {
	case err := <-a.exited:
		require.NoError(t, err, "%s exit; stderr: %s", a.name, a.stderr.String())
	case <-time.After(30 * time.Second):
		t.Fatalf("%s still running 30s after SIGTERM", a.name)
	}
	a.cmd = nil
	require.NotContains(t, a.stderr.String(), "level=ERROR", a.name)
}

func (h *federationHarness) killAll() {
	for _, a := range h.agents {
		if a.cmd != nil && a.cmd.ProcessState == nil {
			_ = a.cmd.Process.Kill()
			<-a.exited
		}
	}
}

// dump returns agent i's canonical store dump.
func (h *federationHarness) dump(i int) string {
	out, err := h.tryDump(i)
	require.NoError(h.t, err)
	return out
}

// tryDump is dump without failing the test, for use off its goroutine.
func (h *federationHarness) tryDump(i int) (string, error) {
	var errOut bytes.Buffer
	cmd := exec.Command(h.bin, "store", "dump", "--canonical", "--data-dir", h.agents[i].dir)
	cmd.Stderr = &errOut
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("store dump of %s: %w: %s", h.agents[i].name, err, errOut.String())
	}
	return string(out), nil
}

// heartbeatRE matches the fields every member's controller rewrites every
// few seconds on its own Member object. Ten members refresh one of them
// about twice a second between them, so under load (ten dump processes
// one after another on two busy cores) a sweep of exact dumps may never
// line up although replication works; everything else must match exactly.
var heartbeatRE = regexp.MustCompile(`"(lastHeartbeat|lastTransitionTime)":"[^"]*"`)

// converged reports whether the agents in idx have identical dumps (taken
// at once, heartbeat times aside).
func (h *federationHarness) converged(idx []int) bool {
	dumps := make([]string, len(idx))
	errs := make([]error, len(idx))
	var wg sync.WaitGroup
	for k, i := range idx {
		wg.Go(func() {
			out, err := h.tryDump(i)
			dumps[k], errs[k] = heartbeatRE.ReplaceAllString(out, `"$1":""`), err
		})
	}
	wg.Wait()
	for k, d := range dumps {
		if errs[k] != nil || d != dumps[0] {
			return false
		}
	}
	return true
}

func (h *federationHarness) waitConverged(idx []int, timeout time.Duration) {
	h.t.Helper()
	require.Eventually(h.t, func() bool { return h.converged(idx) }, timeout, 300*time.Millisecond,
		"members %v did not converge", idx)
}

// viewSize returns how many members agent i's membership view holds, from
// its admin socket (a unix socket: reachable across network namespaces).
func (h *federationHarness) viewSize(i int) int {
	c, err := admin.Dial(h.agents[i].dir)
	if err != nil {
		return -1
	}
	defer c.Close()
	st, err := c.Status(context.Background())
	if err != nil {
		return -1
	}
	return len(st.Members)
}

// apply writes one object through agent i.
func (h *federationHarness) apply(i int, name string, n int) {
	h.t.Helper()
	obj := fmt.Sprintf(`{"apiVersion":"test.lattice.dev/v1","kind":"Thing","metadata":{"name":%q},"spec":{"n":%d,"by":%q}}`, name, n, h.agents[i].name)
	_, errOut, code := runBin(h.t, h.bin, obj, "apply", "-f", "-", "--data-dir", h.agents[i].dir)
	require.Equal(h.t, 0, code, errOut)
}

// webFederatedDeployment returns FederatedDeployment "web" in namespace ns
// (none given when empty): spec lines specLines (each indented two spaces,
// newline-terminated), then a one-container template requesting
// 100m CPU and 64Mi.
func webFederatedDeployment(ns, specLines string) string {
	meta := "{name: web}"
	if ns != "" {
		meta = "{name: web, namespace: " + ns + "}"
	}
	return `apiVersion: federation.lattice.dev/v1alpha1
kind: FederatedDeployment
metadata: ` + meta + `
spec:
` + specLines + `  template:
    template:
      spec:
        containers:
        - name: web
          image: nginx:1.27
          resources: {requests: {cpu: 100m, memory: 64Mi}}
`
}

// applyManifest writes manifest to DIR/web.yaml and applies it through the
// member of dataDir, returning the command's output; it must succeed.
func applyManifest(t *testing.T, bin, dir, dataDir, manifest string) string {
	t.Helper()
	path := filepath.Join(dir, "web.yaml")
	require.NoError(t, os.WriteFile(path, []byte(manifest), 0o600))
	out, errOut, code := runBin(t, bin, "", "apply", "-f", path, "--data-dir", dataDir)
	require.Equal(t, 0, code, errOut)
	return out
}

func indices(from, to int) []int {
	var out []int
	for i := from; i < to; i++ {
		out = append(out, i)
	}
	return out
}

// TestAgentsConverge runs ten 'lattice agent' processes gossiping over
// real QUIC on loopback; writes on random members reach every member, and
// every 'lattice store dump --canonical' becomes identical.
func TestAgentsConverge(t *testing.T) {
	if testing.Short() {
		t.Skip("runs ten agent processes")
	}
	bin := buildLattice(t)
	h := newFederationHarness(t, bin, 10, nil, nil)
	h.startAll()
	rng := rand.New(rand.NewPCG(5, 6))
	for i := range 30 {
		h.apply(rng.IntN(10), fmt.Sprintf("thing-%d", rng.IntN(12)), i)
	}
	h.waitConverged(indices(0, 10), 60*time.Second)
	dump := h.dump(0)
	require.Equal(t, 10, strings.Count(dump, `"kind":"Peer"`), "every member's peer record")
	require.GreaterOrEqual(t, strings.Count(dump, `"kind":"Thing"`), 8)
	for i := range 10 {
		require.Equal(t, 10, h.viewSize(i), "member %d sees all ten", i+1)
	}
	var buf bytes.Buffer
	for i := range 10 {
		h.stop(i)
		buf.WriteString(h.agents[i].stderr.String())
	}
	require.NotContains(t, buf.String(), "rejected", "no frame between honest members was rejected")
}

// A credential revoked on a running member reaches every member through
// the replicated ledger; they cut the revoked member off, and it cannot
// rejoin.
func TestAgentsRevocation(t *testing.T) {
	if testing.Short() {
		t.Skip("runs agent processes")
	}
	bin := buildLattice(t)
	h := newFederationHarness(t, bin, 4, nil, nil)
	h.startAll()
	h.waitViews(indices(0, 4), 4, 30*time.Second)
	out, errOut, code := runBin(t, bin, "", "revoke", "--data-dir", h.agents[0].dir, "--credential", h.creds[3])
	require.Equal(t, 0, code, errOut)
	require.Equal(t, "revoked "+h.creds[3]+"\n", out)
	h.waitViews(indices(0, 3), 3, 30*time.Second)
	h.waitViews([]int{3}, 1, 30*time.Second)
	// It stays out (its rejoin attempts are refused at the handshake).
	time.Sleep(3 * time.Second)
	require.Equal(t, 3, h.viewSize(0))
	require.Contains(t, h.agents[0].stderr.String(), "membership credential revoked")
	show, errOut, code := runBin(t, bin, "", "ledger", "show", "--data-dir", h.agents[2].dir)
	require.Equal(t, 0, code, errOut)
	require.Contains(t, show, " revocation ")
	for i := range 4 {
		h.stop(i)
	}
}
