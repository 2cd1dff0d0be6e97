package ledger

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"github.com/stretchr/testify/require"

	"github.com/lattice-federation/lattice/crdt"
)

func TestRaftStoreLogsAndStable(t *testing.T) {
	s, err := OpenRaftStore(t.TempDir())
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })

	first, err := s.FirstIndex()
	require.NoError(t, err)
	last, err := s.LastIndex()
	require.NoError(t, err)
	require.Zero(t, first)
	require.Zero(t, last)

	var l raft.Log
	require.ErrorIs(t, s.GetLog(1, &l), raft.ErrLogNotFound)

	var logs []*raft.Log
	for i := uint64(1); i <= 300; i++ {
		logs = append(logs, &raft.Log{Index: i, Term: i / 10, Type: raft.LogCommand, Data: []byte(fmt.Sprint(i)), AppendedAt: time.Unix(0, int64(i))})
	}
	require.NoError(t, s.StoreLogs(logs[:299]))
	require.NoError(t, s.StoreLog(logs[299]))
	first, _ = s.FirstIndex()
	last, _ = s.LastIndex()
	require.Equal(t, uint64(1), first)
	require.Equal(t, uint64(300), last)
	require.NoError(t, s.GetLog(256, &l))
	require.Equal(t, uint64(256), l.Index)
	require.Equal(t, uint64(25), l.Term)
	require.Equal(t, []byte("256"), l.Data)
	require.True(t, l.AppendedAt.Equal(time.Unix(0, 256)))

	require.NoError(t, s.DeleteRange(1, 100))
	first, _ = s.FirstIndex()
	require.Equal(t, uint64(101), first)
	require.ErrorIs(t, s.GetLog(100, &l), raft.ErrLogNotFound)
	require.NoError(t, s.DeleteRange(250, 300))
	last, _ = s.LastIndex()
	require.Equal(t, uint64(249), last)

	_, err = s.Get([]byte("k"))
	require.EqualError(t, err, "not found")
	require.NoError(t, s.Set([]byte("k"), []byte("v")))
	v, err := s.Get([]byte("k"))
	require.NoError(t, err)
	require.Equal(t, []byte("v"), v)
	require.NoError(t, s.SetUint64([]byte("term"), 42))
	n, err := s.GetUint64([]byte("term"))
	require.NoError(t, err)
	require.Equal(t, uint64(42), n)
	// Stable keys do not show up as logs.
	last, _ = s.LastIndex()
	require.Equal(t, uint64(249), last)
}

type memSink struct {
	bytes.Buffer
	cancelled bool
}

func (s *memSink) ID() string    { return "mem" }
func (s *memSink) Close() error  { return nil }
func (s *memSink) Cancel() error { s.cancelled = true; return nil }

func TestFeedFSMApplySnapshotRestore(t *testing.T) {
	id := newID(t)
	entries := feedOf(t, id, 5)
	fsm := NewFeedFSM(id.DID())
	apply := func(i uint64, e *Entry) interface{} {
		b, err := EncodeEntry(e)
		require.NoError(t, err)
		return fsm.Apply(&raft.Log{Index: i, Type: raft.LogCommand, Data: b})
	}
	for i, e := range entries[:3] {
		require.IsType(t, &Entry{}, apply(uint64(i+1), e))
	}
	// Replay, gap, wrong author, forged signature: rejected, state intact.
	resp := apply(10, entries[1])
	require.ErrorIs(t, resp.(error), ErrNotContinuing)
	resp = apply(11, entries[4])
	require.ErrorIs(t, resp.(error), ErrNotContinuing)
	other := feedOf(t, newID(t), 4)
	resp = apply(12, other[3])
	require.ErrorIs(t, resp.(error), ErrNotContinuing)
	forged := entries[3].Clone()
	forged.Payload = []byte(`{"n":99}`)
	resp = apply(13, forged)
	require.Error(t, resp.(error))
	resp = fsm.Apply(&raft.Log{Index: 14, Type: raft.LogCommand, Data: []byte("junk")})
	require.Error(t, resp.(error))
	require.Nil(t, fsm.Apply(&raft.Log{Index: 15, Type: raft.LogNoop}))
	require.Equal(t, 3, fsm.Len())

	snap, err := fsm.Snapshot()
	require.NoError(t, err)
	var sink memSink
	require.NoError(t, snap.Persist(&sink))
	snap.Release()
	data := sink.Bytes()

	fsm2 := NewFeedFSM(id.DID())
	require.NoError(t, fsm2.Restore(io.NopCloser(bytes.NewReader(data))))
	require.Equal(t, fsm.Entries(), fsm2.Entries())
	_, seq, h := fsm2.Head()
	_, seq1, h1 := fsm.Head()
	require.Equal(t, seq1, seq)
	require.Equal(t, h1, h)

	// A corrupt snapshot is rejected and leaves the state alone.
	bad := append([]byte(nil), data...)
	bad[len(bad)-3] ^= 0xff
	require.Error(t, fsm2.Restore(io.NopCloser(bytes.NewReader(bad))))
	require.Equal(t, fsm.Entries(), fsm2.Entries())
	// Another author's feed cannot be restored.
	require.Error(t, NewFeedFSM(other[0].Author).Restore(io.NopCloser(bytes.NewReader(data))))
}

type raftNode struct {
	id    raft.ServerID
	dir   string
	conf  *raft.Config
	addr  raft.ServerAddress
	trans *raft.InmemTransport
	store *RaftStore
	fsm   *FeedFSM
	raft  *raft.Raft
	feed  *HAFeed
	dead  atomic.Bool
}

func TestRaftFailoverNoForkNoLoss(t *testing.T) {
	id := newID(t)
	const n = 3
	nodes := make([]*raftNode, n)
	var servers []raft.Server
	for i := range nodes {
		addr, trans := raft.NewInmemTransport(raft.ServerAddress(fmt.Sprintf("node%d", i)))
		nodes[i] = &raftNode{id: raft.ServerID(fmt.Sprintf("node%d", i)), addr: addr, trans: trans}
		servers = append(servers, raft.Server{Suffrage: raft.Voter, ID: nodes[i].id, Address: addr})
	}
	for _, a := range nodes {
		for _, b := range nodes {
			if a != b {
				a.trans.Connect(b.addr, b.trans)
			}
		}
	}
	for _, nd := range nodes {
		dir := t.TempDir()
		nd.dir = dir
		store, err := OpenRaftStore(dir)
		require.NoError(t, err)
		nd.store = store
		snaps, err := raft.NewFileSnapshotStore(dir, 2, io.Discard)
		require.NoError(t, err)
		conf := raft.DefaultConfig()
		conf.LocalID = nd.id
		conf.HeartbeatTimeout = 100 * time.Millisecond
		conf.ElectionTimeout = 100 * time.Millisecond
		conf.LeaderLeaseTimeout = 50 * time.Millisecond
		conf.CommitTimeout = 5 * time.Millisecond
		conf.SnapshotInterval = 200 * time.Millisecond
		conf.SnapshotThreshold = 16
		conf.TrailingLogs = 8
		conf.LogOutput = io.Discard
		nd.conf = conf
		require.NoError(t, raft.BootstrapCluster(conf, store, store, snaps, nd.trans, raft.Configuration{Servers: servers}))
		nd.fsm = NewFeedFSM(id.DID())
		r, err := raft.NewRaft(conf, nd.fsm, store, store, snaps, nd.trans)
		require.NoError(t, err)
		nd.raft = r
		nd.feed, err = NewHAFeed(r, nd.fsm, id, 5*time.Second)
		require.NoError(t, err)
	}
	t.Cleanup(func() {
		for _, nd := range nodes {
			_ = nd.raft.Shutdown().Error()
			_ = nd.store.Close()
		}
	})

	// Stream appends through whichever node leads, recording acks.
	var (
		mu         sync.Mutex
		acked      []*Entry
		notLeader  atomic.Int64
		otherErrs  atomic.Int64
		stop       = make(chan struct{})
		streamDone = make(chan struct{})
	)
	ackCount := func() int { mu.Lock(); defer mu.Unlock(); return len(acked) }
	go func() {
		defer close(streamDone)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			var leader *raftNode
			for _, nd := range nodes {
				if !nd.dead.Load() && nd.feed.IsLeader() {
					leader = nd
					break
				}
			}
			if leader == nil {
				time.Sleep(5 * time.Millisecond)
				continue
			}
			e, err := leader.feed.Append(TypeCredential, payload(i), t0+crdt.Timestamp(i))
			if err != nil {
				if errors.Is(err, raft.ErrNotLeader) {
					notLeader.Add(1)
				} else {
					otherErrs.Add(1)
				}
				time.Sleep(5 * time.Millisecond)
				continue
			}
			mu.Lock()
			acked = append(acked, e)
			mu.Unlock()
		}
	}()
	defer func() {
		select {
		case <-stop:
		default:
			close(stop)
		}
		<-streamDone
	}()

	require.Eventually(t, func() bool { return ackCount() >= 30 }, 30*time.Second, 5*time.Millisecond)

	// Kill the leader mid-stream.
	var old *raftNode
	require.Eventually(t, func() bool {
		for _, nd := range nodes {
			if nd.feed.IsLeader() {
				old = nd
				return true
			}
		}
		return false
	}, 10*time.Second, 5*time.Millisecond)
	old.dead.Store(true)
	require.NoError(t, old.raft.Shutdown().Error())
	old.trans.DisconnectAll()
	for _, nd := range nodes {
		if nd != old {
			nd.trans.Disconnect(old.addr)
		}
	}
	killedAt := ackCount()
	t.Logf("killed leader %s after %d acks", old.id, killedAt)

	require.Eventually(t, func() bool { return ackCount() >= killedAt+60 }, 60*time.Second, 10*time.Millisecond)
	close(stop)
	<-streamDone

	var survivors []*raftNode
	for _, nd := range nodes {
		if nd != old {
			survivors = append(survivors, nd)
		}
	}
	mu.Lock()
	acks := append([]*Entry(nil), acked...)
	mu.Unlock()
	maxSeq := uint64(0)
	for _, e := range acks {
		maxSeq = max(maxSeq, e.Seq)
	}
	// The survivors converge on at least every acknowledged seq, identically.
	require.Eventually(t, func() bool {
		for _, nd := range survivors {
			if uint64(nd.fsm.Len()) < maxSeq {
				return false
			}
		}
		return survivors[0].fsm.Len() == survivors[1].fsm.Len()
	}, 30*time.Second, 10*time.Millisecond)

	encAll := func(es []*Entry) [][]byte {
		out := make([][]byte, len(es))
		for i, e := range es {
			b, err := EncodeEntry(e)
			require.NoError(t, err)
			out[i] = b
		}
		return out
	}
	feeds := make([][][]byte, len(survivors))
	for i, nd := range survivors {
		es := nd.fsm.Entries()
		// Contiguous seqs, valid chain and signatures.
		l := New()
		for j, e := range es {
			require.Equal(t, uint64(j+1), e.Seq)
			_, err := l.Apply(e)
			require.NoError(t, err, "seq %d", e.Seq)
		}
		feeds[i] = encAll(es)
	}
	// No fork: identical feeds on the survivors.
	require.Equal(t, feeds[0], feeds[1])
	// Every acknowledged entry is at its seq, and no two acks share a seq.
	seen := map[uint64][]byte{}
	for _, e := range acks {
		b, err := EncodeEntry(e)
		require.NoError(t, err)
		if prev, ok := seen[e.Seq]; ok {
			require.Equal(t, prev, b, "two acknowledged entries at seq %d", e.Seq)
		}
		seen[e.Seq] = b
		for i := range survivors {
			require.Equal(t, b, feeds[i][e.Seq-1], "acked seq %d on %s", e.Seq, survivors[i].id)
		}
	}
	// The dead leader's feed is a prefix of the survivors' (no fork either).
	oldFeed := encAll(old.fsm.Entries())
	require.LessOrEqual(t, len(oldFeed), len(feeds[0]))
	require.Equal(t, feeds[0][:len(oldFeed)], oldFeed)

	// The old leader restarts from its badger store and snapshots and
	// catches up with the same feed.
	require.NoError(t, old.store.Close())
	store, err := OpenRaftStore(old.dir)
	require.NoError(t, err)
	old.store = store
	snaps, err := raft.NewFileSnapshotStore(old.dir, 2, io.Discard)
	require.NoError(t, err)
	_, trans := raft.NewInmemTransport(old.addr)
	for _, nd := range survivors {
		trans.Connect(nd.addr, nd.trans)
		nd.trans.Connect(old.addr, trans)
	}
	old.trans = trans
	old.fsm = NewFeedFSM(id.DID())
	old.raft, err = raft.NewRaft(old.conf, old.fsm, store, store, snaps, trans)
	require.NoError(t, err)
	require.Eventually(t, func() bool { return old.fsm.Len() == len(feeds[0]) }, 30*time.Second, 10*time.Millisecond)
	require.Equal(t, feeds[0], encAll(old.fsm.Entries()))
	t.Logf("snapshot index: survivors %s and %s, restarted %s", survivors[0].raft.Stats()["last_snapshot_index"],
		survivors[1].raft.Stats()["last_snapshot_index"], old.raft.Stats()["last_snapshot_index"])

	t.Logf("acks %d (%d before the kill), feed length %d, not-leader retries %d, other errors %d",
		len(acks), killedAt, len(feeds[0]), notLeader.Load(), otherErrs.Load())
}
