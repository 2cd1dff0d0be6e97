package gossip

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/stretchr/testify/require"

	"github.com/lattice-federation/lattice/crdt"
	"github.com/lattice-federation/lattice/identity"
)

const testFederation = "test"

// federation is a founder and the means to admit members, for tests.
type federation struct {
	founder *identity.Identity
}

func newFederation(t testing.TB) *federation {
	t.Helper()
	f, err := identity.Generate()
	require.NoError(t, err)
	return &federation{founder: f}
}

// member is an identity with the admission view it runs with.
type member struct {
	id  *identity.Identity
	adm *identity.Admission
}

// admitNew creates a member admitted by the founder (or, for the founder's
// own identity, none needed).
func (f *federation) admitNew(t testing.TB, founder bool) *member {
	t.Helper()
	id := f.founder
	if !founder {
		var err error
		id, err = identity.Generate()
		require.NoError(t, err)
	}
	adm, err := identity.NewAdmission(testFederation, f.founder.DID(), nil)
	require.NoError(t, err)
	if !founder {
		raw, err := identity.IssueMembershipWithFounder(f.founder, testFederation, f.founder.DID(), id.DID(), nil, time.Hour, time.Now())
		require.NoError(t, err)
		_, err = adm.Learn(raw)
		require.NoError(t, err)
	}
	return &member{id: id, adm: adm}
}

func testLogger(t testing.TB) *slog.Logger {
	if os.Getenv("LATTICE_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(bytes.NewBuffer(nil), nil))
}

func openStore(t testing.TB, dir string, id crdt.ReplicaID) *crdt.Store {
	t.Helper()
	cfg := crdt.DefaultStoreConfig(dir, id)
	cfg.Logger = testLogger(t)
	st, err := crdt.OpenStore(cfg)
	require.NoError(t, err)
	return st
}

// fastMemberlist is memberlist's local profile, sped up for tests.
func fastMemberlist() *memberlist.Config {
	c := memberlist.DefaultLocalConfig()
	c.ProbeInterval = 200 * time.Millisecond
	c.ProbeTimeout = 100 * time.Millisecond
	c.GossipInterval = 50 * time.Millisecond
	c.PushPullInterval = 2 * time.Second
	c.SuspicionMult = 2
	c.RetransmitMult = 2
	return c
}

// cluster is n nodes on loopback, each with its own store.
type cluster struct {
	t     testing.TB
	fed   *federation
	nodes []*Node
	st    []*crdt.Store
	mem   []*member
}

func testNodeConfig(t testing.TB, st *crdt.Store, m *member, join []string) Config {
	cfg := DefaultConfig()
	cfg.Store = st
	cfg.Identity = m.id
	cfg.Admission = m.adm
	cfg.Listen = "127.0.0.1:0"
	cfg.Join = join
	cfg.Memberlist = fastMemberlist()
	cfg.RejoinInterval = time.Second
	cfg.Sync.RepairInterval = time.Second
	cfg.Logger = testLogger(t)
	return cfg
}

func startCluster(t testing.TB, n int) *cluster {
	t.Helper()
	return startClusterWith(t, n, nil)
}

// startClusterWith starts n members, each configured further by mod.
func startClusterWith(t testing.TB, n int, mod func(*Config)) *cluster {
	t.Helper()
	c := &cluster{t: t, fed: newFederation(t)}
	var join []string
	for i := range n {
		m := c.fed.admitNew(t, i == 0)
		st := openStore(t, t.TempDir(), crdt.ReplicaID(fmt.Sprintf("m%d", i)))
		cfg := testNodeConfig(t, st, m, join)
		if mod != nil {
			mod(&cfg)
		}
		node, err := Start(cfg)
		require.NoError(t, err)
		if i == 0 {
			join = []string{node.Addr().String()}
		}
		c.nodes = append(c.nodes, node)
		c.st = append(c.st, st)
		c.mem = append(c.mem, m)
	}
	t.Cleanup(c.close)
	return c
}

func (c *cluster) close() {
	for i, n := range c.nodes {
		if n != nil {
			_ = n.Close()
			c.nodes[i] = nil
		}
		if c.st[i] != nil {
			_ = c.st[i].Close()
			c.st[i] = nil
		}
	}
}

// snapshot is a store's objects (key → canonical JSON), for comparison.
func snapshot(t testing.TB, st *crdt.Store) map[crdt.Key]string {
	objs, _, err := st.List("")
	require.NoError(t, err)
	out := make(map[crdt.Key]string, len(objs))
	for _, o := range objs {
		out[o.Key] = string(o.Value)
	}
	return out
}

// converged reports whether all stores hold the same objects.
func converged(t testing.TB, stores []*crdt.Store) bool {
	first := snapshot(t, stores[0])
	for _, st := range stores[1:] {
		s := snapshot(t, st)
		if len(s) != len(first) {
			return false
		}
		for k, v := range first {
			if s[k] != v {
				return false
			}
		}
	}
	return true
}

func (c *cluster) waitMembers(want int, timeout time.Duration) {
	c.t.Helper()
	require.Eventually(c.t, func() bool {
		for _, n := range c.nodes {
			if n != nil && len(n.Members()) != want {
				return false
			}
		}
		return true
	}, timeout, 50*time.Millisecond, "membership did not reach %d", want)
}

func putRandom(t testing.TB, rng *rand.Rand, st *crdt.Store, i int) {
	t.Helper()
	key := crdt.Key(fmt.Sprintf("test.lattice.dev/Thing/default/obj-%d", rng.IntN(50)))
	val := fmt.Sprintf(`{"apiVersion":"test.lattice.dev/v1","kind":"Thing","metadata":{"name":"x"},"spec":{"n":%d,"f%d":"%s"}}`, i, rng.IntN(5), st.ID())
	_, err := st.Put(context.Background(), key, []byte(val), crdt.PutOptions{})
	require.NoError(t, err)
}
