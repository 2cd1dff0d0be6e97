package gossip

import (
	"context"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/lattice-federation/lattice/crdt"
	"github.com/lattice-federation/lattice/identity"
)

// A member whose key is not admitted cannot join, connect or inject
// deltas; its handshakes are refused and counted.
func TestUnadmittedMemberIsRefused(t *testing.T) {
	c := startCluster(t, 3)
	c.waitMembers(3, 10*time.Second)

	// The intruder believes it is in the federation but holds no
	// credential any member accepts (it admitted itself).
	intruder, err := identity.Generate()
	require.NoError(t, err)
	self, err := identity.Generate()
	require.NoError(t, err)
	raw, err := identity.IssueMembershipWithFounder(self, testFederation, c.fed.founder.DID(), intruder.DID(), nil, time.Hour, time.Now())
	require.NoError(t, err)
	adm, err := identity.NewAdmission(testFederation, c.fed.founder.DID(), nil)
	require.NoError(t, err)
	_, _ = adm.Learn(raw)
	st := openStore(t, t.TempDir(), "intruder")
	defer st.Close()
	putRandom(t, rand.New(rand.NewPCG(7, 7)), st, 1)
	node, err := Start(testNodeConfig(t, st, &member{id: intruder, adm: adm}, []string{c.nodes[0].Addr().String()}))
	require.NoError(t, err, "starting alone works; joining does not")
	defer node.Close()

	// A direct anti-entropy connection is refused too.
	requireRefused(t, node.t, c.nodes[1].Addr().String())

	time.Sleep(2 * time.Second)
	require.Equal(t, []crdt.ReplicaID{"intruder"}, node.Members())
	for i, n := range c.nodes {
		require.NotContains(t, n.Members(), crdt.ReplicaID("intruder"))
		for k := range snapshot(t, c.st[i]) {
			require.NotContains(t, string(k), "Thing", "no intruder data reached member %d", i)
		}
	}
	refused := 0.0
	for _, n := range c.nodes {
		refused += testutil.ToFloat64(n.metrics.HandshakesRefused)
	}
	require.Positive(t, refused)
}

// Malformed, oversized and misattributed frames from an admitted peer are
// dropped and counted; the member keeps working and a good frame on the
// same connection still lands.
func TestBadFramesAreDroppedAndCounted(t *testing.T) {
	c := startCluster(t, 1)
	// The rogue is admitted: it may connect, but its frames are checked.
	rogue := c.fed.admitNew(t, false)
	rt, err := NewTransport(TransportConfig{
		Identity: rogue.id, Replica: "rogue", Authorizer: rogue.adm,
		Presentation: func() [][]byte { return rogue.adm.Presentation(rogue.id.DID()) },
		Listen:       "127.0.0.1:0", Logger: testLogger(t),
	}, map[string]ConnHandler{ALPNSync: func(*PeerConn) {}})
	require.NoError(t, err)
	rt.Start()
	defer rt.Close()
	pc, err := rt.Dial(context.Background(), ALPNSync, c.nodes[0].Addr().String())
	require.NoError(t, err)
	require.Equal(t, crdt.ReplicaID("m0"), pc.Peer.Replica)

	send := func(b []byte) {
		s, err := pc.OpenUniStreamSync(context.Background())
		require.NoError(t, err)
		_, err = s.Write(b)
		require.NoError(t, err)
		require.NoError(t, s.Close())
	}
	r, err := crdt.NewReplica(crdt.DefaultReplicaConfig("rogue", crdt.NewClock(nil, 0)))
	require.NoError(t, err)
	r.SetPeers([]crdt.ReplicaID{"m0"})
	_, err = r.Put("test.lattice.dev/Thing/default/good", []byte(`{"kind":"Thing","metadata":{"name":"good"}}`), crdt.PutOptions{})
	require.NoError(t, err)
	good, err := r.DeltaFor("m0")
	require.NoError(t, err)
	goodFrame, err := EncodeFrame(good)
	require.NoError(t, err)

	impostor := *good
	impostor.From = "someone-else"
	badSender, err := EncodeFrame(&impostor)
	require.NoError(t, err)

	send([]byte("garbage"))
	send(append([]byte{frameMagic, 99}, goodFrame[2:]...))
	send(goodFrame[:len(goodFrame)-3])
	send(badSender)
	big := make([]byte, crdt.DefaultLimits().MaxMessageBytes+frameHeader+10)
	copy(big, goodFrame)
	send(big)

	m := c.nodes[0].metrics
	require.Eventually(t, func() bool {
		return testutil.ToFloat64(m.Rejected.WithLabelValues("malformed")) == 3 &&
			testutil.ToFloat64(m.Rejected.WithLabelValues("misattributed")) == 1 &&
			testutil.ToFloat64(m.Rejected.WithLabelValues("oversized")) == 1
	}, 10*time.Second, 20*time.Millisecond)
	_, err = c.st[0].Get("test.lattice.dev/Thing/default/good")
	require.ErrorIs(t, err, crdt.ErrNotFound, "nothing from the bad frames was applied")

	send(goodFrame)
	require.Eventually(t, func() bool {
		_, err := c.st[0].Get("test.lattice.dev/Thing/default/good")
		return err == nil
	}, 10*time.Second, 20*time.Millisecond, "a good frame on the same connection still lands")
}

// A member whose credential is revoked is cut off: its connections are
// closed and its handshakes refused.
func TestRevokedMemberIsCutOff(t *testing.T) {
	c := startCluster(t, 3)
	c.waitMembers(3, 10*time.Second)
	victim := c.mem[2]
	creds := victim.adm.Presentation(victim.id.DID())
	require.Len(t, creds, 1)
	m, err := identity.VerifyMembership(creds[0], testFederation, time.Now())
	require.NoError(t, err)
	for i := range 2 {
		counts, err := c.mem[i].adm.Revoke(m.ID, c.fed.founder.DID())
		require.NoError(t, err)
		require.True(t, counts)
		c.nodes[i].RecheckAdmission()
	}
	require.Eventually(t, func() bool {
		for i := range 2 {
			if len(c.nodes[i].Members()) != 2 {
				return false
			}
		}
		return true
	}, 20*time.Second, 50*time.Millisecond, "the revoked member leaves the others' view")
	requireRefused(t, c.nodes[2].t, c.nodes[0].Addr().String())
}

// requireRefused checks that the server at addr refuses tr: in TLS 1.3 the
// server checks the client's certificate after the client considers the
// handshake done, so the dial may succeed and the connection then die.
func requireRefused(t *testing.T, tr *Transport, addr string) {
	t.Helper()
	pc, err := tr.Dial(context.Background(), ALPNSync, addr)
	if err != nil {
		return
	}
	select {
	case <-pc.Context().Done():
	case <-time.After(5 * time.Second):
		t.Fatalf("connection to %s still open: the handshake was not refused", addr)
	}
}
