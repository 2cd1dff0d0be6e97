package ledger

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/hashicorp/raft"

	"github.com/lattice-federation/lattice/crdt"
	"github.com/lattice-federation/lattice/identity"
)

// ErrNotContinuing is returned (as FeedFSM.Apply's response) for a log entry
// that does not continue the feed: wrong author, seq or prev hash, or time
// going backwards.
var ErrNotContinuing = errors.New("entry does not continue the feed")

// FeedFSM is the raft.FSM of one member's feed replicated across the
// member's controller replicas. Each raft command is an encoded Entry
// (EncodeEntry) already signed by the leader's Feed. Apply accepts it only
// if it is valid and continues the chain (Seq = head+1, Prev = hash of the
// head, Time not decreasing); otherwise Apply returns an error value and
// leaves the state unchanged, the same on every replica.
type FeedFSM struct {
	author string

	mu      sync.RWMutex
	entries []*Entry
	head    [32]byte
}

var _ raft.FSM = (*FeedFSM)(nil)

// NewFeedFSM returns an empty FSM for the feed of author (a did:key DID).
func NewFeedFSM(author string) *FeedFSM {
	return &FeedFSM{author: author}
}

// Author returns the feed's author.
func (f *FeedFSM) Author() string { return f.author }

// Head returns the last entry (nil if empty), its seq and hash.
func (f *FeedFSM) Head() (*Entry, uint64, [32]byte) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	if len(f.entries) == 0 {
		return nil, 0, [32]byte{}
	}
	return f.entries[len(f.entries)-1], uint64(len(f.entries)), f.head
}

// Entries returns the feed's entries in order. Do not modify them.
func (f *FeedFSM) Entries() []*Entry {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return append([]*Entry(nil), f.entries...)
}

// Len returns the number of entries.
func (f *FeedFSM) Len() int {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return len(f.entries)
}

// check verifies that e continues a feed whose last entry is last (hash
// head) and returns e's hash.
func (f *FeedFSM) check(e *Entry, last *Entry, head [32]byte) ([32]byte, error) {
	_, h, err := e.Verify()
	if err != nil {
		return h, err
	}
	if e.Author != f.author {
		return h, fmt.Errorf("%w: author %s, feed of %s", ErrNotContinuing, e.Author, f.author)
	}
	var seq uint64
	if last != nil {
		seq = last.Seq
	}
	if e.Seq != seq+1 {
		return h, fmt.Errorf("%w: seq %d after head %d", ErrNotContinuing, e.Seq, seq)
	}
	if e.Prev != head {
		return h, fmt.Errorf("%w: seq %d prev %x, head hash %x", ErrNotContinuing, e.Seq, e.Prev[:6], head[:6])
	}
	if last != nil && e.Time < last.Time {
		return h, fmt.Errorf("%w: seq %d time goes backwards", ErrNotContinuing, e.Seq)
	}
	return h, nil
}

// Apply applies one committed raft log. It returns the appended *Entry or
// an error.
func (f *FeedFSM) Apply(l *raft.Log) interface{} {
	if l.Type != raft.LogCommand {
		return nil
	}
	e, err := DecodeEntry(l.Data)
	if err != nil {
		return fmt.Errorf("feed fsm: log %d: %w", l.Index, err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	var last *Entry
	if n := len(f.entries); n > 0 {
		last = f.entries[n-1]
	}
	h, err := f.check(e, last, f.head)
	if err != nil {
		return fmt.Errorf("feed fsm: log %d: %w", l.Index, err)
	}
	f.entries = append(f.entries, e)
	f.head = h
	return e
}

// Snapshot captures the feed. Entries are immutable, so copying the slice
// header under the lock is enough.
func (f *FeedFSM) Snapshot() (raft.FSMSnapshot, error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return &feedSnapshot{entries: append([]*Entry(nil), f.entries...)}, nil
}

// Restore replaces the feed with a snapshot, after verifying the whole chain.
// On error the state is unchanged.
func (f *FeedFSM) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	r := bufio.NewReader(rc)
	var n uint64
	if err := binary.Read(r, binary.BigEndian, &n); err != nil {
		return fmt.Errorf("feed fsm: restore: read count: %w", err)
	}
	var (
		entries []*Entry
		head    [32]byte
		last    *Entry
	)
	for i := uint64(0); i < n; i++ {
		var size uint32
		if err := binary.Read(r, binary.BigEndian, &size); err != nil {
			return fmt.Errorf("feed fsm: restore: entry %d: %w", i+1, err)
		}
		if size > MaxEntrySize {
			return fmt.Errorf("feed fsm: restore: entry %d: %d bytes: %w", i+1, size, ErrMalformed)
		}
		b := make([]byte, size)
		if _, err := io.ReadFull(r, b); err != nil {
			return fmt.Errorf("feed fsm: restore: entry %d: %w", i+1, err)
		}
		e, err := DecodeEntry(b)
		if err != nil {
			return fmt.Errorf("feed fsm: restore: entry %d: %w", i+1, err)
		}
		h, err := f.check(e, last, head)
		if err != nil {
			return fmt.Errorf("feed fsm: restore: %w", err)
		}
		entries = append(entries, e)
		head, last = h, e
	}
	f.mu.Lock()
	f.entries, f.head = entries, head
	f.mu.Unlock()
	return nil
}

type feedSnapshot struct {
	entries []*Entry
}

// Persist writes the count, then each entry's length and canonical encoding.
func (s *feedSnapshot) Persist(sink raft.SnapshotSink) error {
	err := func() error {
		w := bufio.NewWriter(sink)
		if err := binary.Write(w, binary.BigEndian, uint64(len(s.entries))); err != nil {
			return err
		}
		for _, e := range s.entries {
			b, err := EncodeEntry(e)
			if err != nil {
				return err
			}
			if err := binary.Write(w, binary.BigEndian, uint32(len(b))); err != nil {
				return err
			}
			if _, err := w.Write(b); err != nil {
				return err
			}
		}
		return w.Flush()
	}()
	if err != nil {
		_ = sink.Cancel()
		return fmt.Errorf("feed fsm: persist snapshot: %w", err)
	}
	if err := sink.Close(); err != nil {
		return fmt.Errorf("feed fsm: persist snapshot: %w", err)
	}
	return nil
}

func (s *feedSnapshot) Release() {}

// DefaultApplyTimeout bounds how long HAFeed.Append waits for a commit.
const DefaultApplyTimeout = 5 * time.Second

// HAFeed writes one member's feed through a raft group of the member's
// controller replicas, which share the member's signing key. Only the leader
// appends: it builds the next entry from the committed head in its FSM, signs
// it and commits it through raft, so a failover can never fork the feed.
type HAFeed struct {
	raft    *raft.Raft
	fsm     *FeedFSM
	signer  identity.Signer
	timeout time.Duration

	mu sync.Mutex // serializes this replica's appends
}

// NewHAFeed wraps a raft node whose FSM is fsm. signer must be fsm's author.
// timeout bounds each raft round (DefaultApplyTimeout if 0).
func NewHAFeed(r *raft.Raft, fsm *FeedFSM, signer identity.Signer, timeout time.Duration) (*HAFeed, error) {
	if r == nil || fsm == nil || signer == nil {
		return nil, errors.New("ha feed: raft, fsm and signer are required")
	}
	if signer.DID() != fsm.Author() {
		return nil, fmt.Errorf("ha feed: signer %s does not write the feed of %s", signer.DID(), fsm.Author())
	}
	if timeout <= 0 {
		timeout = DefaultApplyTimeout
	}
	return &HAFeed{raft: r, fsm: fsm, signer: signer, timeout: timeout}, nil
}

// FSM returns the replica's state machine.
func (h *HAFeed) FSM() *FeedFSM { return h.fsm }

// Raft returns the raft node.
func (h *HAFeed) Raft() *raft.Raft { return h.raft }

// IsLeader reports whether this replica is the raft leader.
func (h *HAFeed) IsLeader() bool { return h.raft.State() == raft.Leader }

// Append appends the next entry and returns it once it is committed and
// applied on this replica. On a follower it returns an error wrapping
// raft.ErrNotLeader; other raft errors (raft.ErrLeadershipLost, ...) are
// wrapped too. An error other than ErrNotLeader may leave the entry
// committed or not: the caller must not count it as acknowledged, and a
// retry appends at the next free seq, never a second entry at one seq.
func (h *HAFeed) Append(typ string, payload []byte, now crdt.Timestamp) (*Entry, error) {
	if h.raft.State() != raft.Leader {
		addr, id := h.raft.LeaderWithID()
		return nil, fmt.Errorf("ha feed: append on a follower (leader %s at %s): %w", id, addr, raft.ErrNotLeader)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	// Make the FSM reflect every log committed before this point, including
	// those of a previous leader, so the head below is the committed head.
	if err := h.raft.Barrier(h.timeout).Error(); err != nil {
		return nil, fmt.Errorf("ha feed: barrier: %w", err)
	}
	last, _, _ := h.fsm.Head()
	var feed *Feed
	if last == nil {
		feed = NewFeed(h.signer)
	} else {
		var err error
		if feed, err = RestoreFeed(h.signer, last); err != nil {
			return nil, fmt.Errorf("ha feed: restore feed at seq %d: %w", last.Seq, err)
		}
	}
	e, err := feed.Append(typ, payload, now)
	if err != nil {
		return nil, fmt.Errorf("ha feed: %w", err)
	}
	b, err := EncodeEntry(e)
	if err != nil {
		return nil, fmt.Errorf("ha feed: %w", err)
	}
	fut := h.raft.Apply(b, h.timeout)
	if err := fut.Error(); err != nil {
		return nil, fmt.Errorf("ha feed: apply seq %d: %w", e.Seq, err)
	}
	switch resp := fut.Response().(type) {
	case error:
		return nil, fmt.Errorf("ha feed: apply seq %d: %w", e.Seq, resp)
	case *Entry:
		return resp, nil
	default:
		return nil, fmt.Errorf("ha feed: apply seq %d: unexpected response %T", e.Seq, resp)
	}
}
