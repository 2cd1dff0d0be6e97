package main

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// netLab is a set of network namespaces on this machine: one per member,
// plus a hub namespace holding two bridges (group A, group B). The bridges
// are joined either directly (a veth pair: link-down cuts it) or through a
// 'lattice emulate link' relay (delay and loss; this kernel has no netem).
//
//	member ns  mK: eth eK 10.78.0.K/24 ──veth── hK ─┐
//	hub ns:   bra ── lka ══ lkb ── brb           (direct link)
//	          bra ── rla ══ rpa ⇄ relay ⇄ rpb ══ rlb ── brb
type netLab struct {
	t       *testing.T
	id      string
	hub     string
	members []string // namespace names
	ifaces  []string // hub-side veth of each member
	relay   *exec.Cmd
	relayWG chan error
}

func requireRoot(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("partition tests run agent processes in network namespaces")
	}
	if os.Geteuid() != 0 {
		t.Skip("partition tests need root for network namespaces (CI runs as root)")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("partition tests need iproute2's ip (Debian: apt-get install iproute2)")
	}
}

func (l *netLab) ip(args ...string) {
	l.t.Helper()
	out, err := exec.Command("ip", args...).CombinedOutput()
	require.NoError(l.t, err, "ip %s: %s", strings.Join(args, " "), out)
}

// newNetLab creates n member namespaces; groupA[i] puts member i on bridge A.
func newNetLab(t *testing.T, n int, groupA func(i int) bool) *netLab {
	t.Helper()
	l := &netLab{t: t, id: fmt.Sprintf("%x", os.Getpid()%0xfffff)}
	l.hub = "lat" + l.id + "hub"
	t.Cleanup(l.destroy)
	l.ip("netns", "add", l.hub)
	l.ip("-n", l.hub, "link", "set", "lo", "up")
	for _, br := range []string{"bra", "brb"} {
		l.ip("-n", l.hub, "link", "add", br, "type", "bridge")
		l.ip("-n", l.hub, "link", "set", br, "up")
	}
	l.veth("lka", "bra", "lkb", "brb", true)
	l.veth("rla", "bra", "rpa", "", false)
	l.veth("rlb", "brb", "rpb", "", false)
	for i := range n {
		ns := fmt.Sprintf("lat%sm%d", l.id, i+1)
		hostIf, memberIf := fmt.Sprintf("h%s%d", l.id, i+1), fmt.Sprintf("e%s%d", l.id, i+1)
		l.ip("netns", "add", ns)
		l.members = append(l.members, ns)
		l.ifaces = append(l.ifaces, hostIf)
		l.ip("-n", ns, "link", "set", "lo", "up")
		l.ip("link", "add", hostIf, "type", "veth", "peer", "name", memberIf)
		l.ip("link", "set", hostIf, "netns", l.hub)
		l.ip("link", "set", memberIf, "netns", ns)
		l.ip("-n", ns, "addr", "add", fmt.Sprintf("10.78.0.%d/24", i+1), "dev", memberIf)
		l.ip("-n", ns, "link", "set", memberIf, "up")
		br := "brb"
		if groupA(i) {
			br = "bra"
		}
		l.ip("-n", l.hub, "link", "set", hostIf, "master", br)
		l.ip("-n", l.hub, "link", "set", hostIf, "up")
	}
	return l
}

// veth creates a veth pair in the hub, each end on a bridge (or none).
func (l *netLab) veth(a, brA, b, brB string, up bool) {
	l.ip("-n", l.hub, "link", "add", a, "type", "veth", "peer", "name", b)
	for _, e := range [][2]string{{a, brA}, {b, brB}} {
		if e[1] != "" {
			l.ip("-n", l.hub, "link", "set", e[0], "master", e[1])
		}
		state := "down"
		if up || e[1] == "" {
			state = "up"
		}
		l.ip("-n", l.hub, "link", "set", e[0], state)
	}
}

func (l *netLab) addr(i int) string { return fmt.Sprintf("10.78.0.%d", i+1) }

// prefix wraps a command to run in member i's namespace (GSO off, so the
// relay can forward every frame).
func (l *netLab) prefix(i int) []string {
	return []string{"ip", "netns", "exec", l.members[i], "env", "QUIC_GO_DISABLE_GSO=true"}
}

func (l *netLab) setLink(up bool) {
	state := map[bool]string{true: "up", false: "down"}[up]
	l.ip("-n", l.hub, "link", "set", "lka", state)
}

func (l *netLab) setMember(i int, up bool) {
	state := map[bool]string{true: "up", false: "down"}[up]
	l.ip("-n", l.hub, "link", "set", l.ifaces[i], state)
}

// impair replaces the direct link between the groups by a relay adding
// delay and loss each way.
func (l *netLab) impair(bin string, delay time.Duration, loss float64) {
	l.t.Helper()
	l.setLink(false)
	l.relay = exec.Command("ip", "netns", "exec", l.hub, bin, "emulate", "link", "--a", "rpa", "--b", "rpb",
		"--delay", delay.String(), "--loss", fmt.Sprint(loss), "--seed", "1", "--report", "5s")
	var out lockedBuffer
	l.relay.Stdout, l.relay.Stderr = &out, &out
	require.NoError(l.t, l.relay.Start())
	l.relayWG = make(chan error, 1)
	go func() { l.relayWG <- l.relay.Wait() }()
	time.Sleep(200 * time.Millisecond)
	l.ip("-n", l.hub, "link", "set", "rla", "up")
	l.ip("-n", l.hub, "link", "set", "rlb", "up")
	l.t.Cleanup(func() { l.t.Logf("relay: %s", out.String()) })
}

func (l *netLab) destroy() {
	if l.relay != nil && l.relay.Process != nil {
		_ = l.relay.Process.Signal(syscall.SIGTERM)
		select {
		case <-l.relayWG:
		case <-time.After(5 * time.Second):
			_ = l.relay.Process.Kill()
		}
	}
	for _, ns := range append(l.members, l.hub) {
		_ = exec.Command("ip", "netns", "del", ns).Run()
	}
}

// labHarness starts a federation of n agents, one per namespace.
func labHarness(t *testing.T, bin string, l *netLab, extra ...string) *federationHarness {
	n := len(l.members)
	hosts := make([]string, n)
	prefixes := make([][]string, n)
	for i := range n {
		hosts[i], prefixes[i] = l.addr(i), l.prefix(i)
	}
	h := newFederationHarness(t, bin, n, hosts, prefixes)
	h.extra = extra
	return h
}

// waitViews waits until every member in idx has want members in view.
func (h *federationHarness) waitViews(idx []int, want int, timeout time.Duration) time.Duration {
	h.t.Helper()
	start := time.Now()
	require.Eventually(h.t, func() bool {
		for _, i := range idx {
			if h.viewSize(i) != want {
				return false
			}
		}
		return true
	}, timeout, 250*time.Millisecond, "members %v did not all see %d members", idx, want)
	return time.Since(start)
}

// 6 members split 3/3 for longer than the WAN failure detector needs to
// declare the other side dead; both sides take writes; on heal every
// member converges and sees all six alive, with no restart.
func TestPartitionSplitAndHeal(t *testing.T) {
	requireRoot(t)
	bin := buildLattice(t)
	l := newNetLab(t, 6, func(i int) bool { return i < 3 })
	h := labHarness(t, bin, l, "--profile", "wan")
	h.startAll()
	all, sideA, sideB := indices(0, 6), indices(0, 3), indices(3, 6)
	// Formation with the WAN profile (5 s probes, 60 s push-pull) once
	// took over 60 s under make test's parallel load on 2 cores.
	h.waitViews(all, 6, 2*time.Minute)
	h.apply(0, "before", 1)
	h.waitConverged(all, 60*time.Second)

	l.setLink(false)
	detect := h.waitViews(sideA, 3, 3*time.Minute)
	h.waitViews(sideB, 3, time.Minute)
	t.Logf("WAN failure detection declared the other side dead after %s", detect.Round(time.Second))
	for i := range 5 {
		h.apply(i%3, fmt.Sprintf("side-a-%d", i), i)
		h.apply(3+i%3, fmt.Sprintf("side-b-%d", i), i)
	}
	h.apply(0, "contested", 1)
	h.apply(4, "contested", 2)
	h.waitConverged(sideA, 60*time.Second)
	h.waitConverged(sideB, 60*time.Second)
	require.NotEqual(t, h.dump(0), h.dump(3), "the sides diverged while cut")

	l.setLink(true)
	healed := time.Now()
	h.waitViews(all, 6, 3*time.Minute)
	h.waitConverged(all, 2*time.Minute)
	t.Logf("healed: all six in view and converged %s after the link came back", time.Since(healed).Round(time.Second))
	dump := h.dump(0)
	for i := range 5 {
		require.Contains(t, dump, fmt.Sprintf(`"side-a-%d"`, i))
		require.Contains(t, dump, fmt.Sprintf(`"side-b-%d"`, i))
	}
	for i := range 6 {
		h.stop(i)
	}
}

// One member cut off alone, then reconnected, catches up and is seen
// alive again.
func TestPartitionIsolatedMemberRejoins(t *testing.T) {
	requireRoot(t)
	bin := buildLattice(t)
	l := newNetLab(t, 6, func(i int) bool { return i < 3 })
	h := labHarness(t, bin, l)
	h.startAll()
	all := indices(0, 6)
	h.waitViews(all, 6, 60*time.Second)

	l.setMember(5, false)
	h.waitViews(indices(0, 5), 5, time.Minute)
	h.waitViews([]int{5}, 1, time.Minute)
	for i := range 6 {
		h.apply(i, fmt.Sprintf("while-cut-%d", i), i)
	}
	l.setMember(5, true)
	h.waitViews(all, 6, 2*time.Minute)
	h.waitConverged(all, time.Minute)
	require.Contains(t, h.dump(0), `"while-cut-5"`)
	require.Contains(t, h.dump(5), `"while-cut-0"`)
	for i := range 6 {
		h.stop(i)
	}
}

// 100 ms one-way latency and 5 % loss each way between the groups (a
// userspace relay: no netem here) still converge, and membership holds.
func TestPartitionLatencyAndLoss(t *testing.T) {
	requireRoot(t)
	bin := buildLattice(t)
	l := newNetLab(t, 6, func(i int) bool { return i%2 == 0 })
	l.impair(bin, 100*time.Millisecond, 0.05)
	h := labHarness(t, bin, l)
	h.startAll()
	all := indices(0, 6)
	h.waitViews(all, 6, 2*time.Minute)
	start := time.Now()
	for i := range 12 {
		h.apply(i%6, fmt.Sprintf("thing-%d", i%7), i)
	}
	h.waitConverged(all, 2*time.Minute)
	t.Logf("converged %s after the last of 12 writes over the impaired link", time.Since(start).Round(10*time.Millisecond))
	// Membership stays whole for a while under loss.
	time.Sleep(5 * time.Second)
	h.waitViews(all, 6, 30*time.Second)
	for i := range 6 {
		h.stop(i)
	}
}
