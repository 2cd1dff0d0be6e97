package crdt

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
)

// Replication entry points. The gossip layer calls these; each runs in the
// committer, so a reply returned here is sent only after the state it
// acknowledges is durable.

// Step applies a message from a peer and returns the reply to send back
// (nil when none). The caller must have authenticated m.Sender().
func (s *Store) Step(ctx context.Context, m Message) (Message, error) {
	res, err := s.do(ctx, func(r *Replica) ([]Update, any, error) {
		u, reply, err := r.Step(m)
		if err != nil {
			return nil, nil, err
		}
		return []Update{u}, reply, nil
	})
	if err != nil {
		return nil, fmt.Errorf("step %s from %s: %w", m.Type(), m.Sender(), err)
	}
	reply, _ := res.(Message)
	return reply, nil
}

// DeltaFor returns the deltas peer has not acknowledged (nil when none),
// or an error wrapping ErrNeedRepair.
func (s *Store) DeltaFor(ctx context.Context, peer ReplicaID) (*DeltaMsg, error) {
	res, err := s.do(ctx, func(r *Replica) ([]Update, any, error) {
		m, err := r.DeltaFor(peer)
		return nil, m, err
	})
	if err != nil {
		return nil, err
	}
	m, _ := res.(*DeltaMsg)
	return m, nil
}

// StartRepair opens a digest repair with peer.
func (s *Store) StartRepair(ctx context.Context, peer ReplicaID) (*DigestMsg, error) {
	res, err := s.do(ctx, func(r *Replica) ([]Update, any, error) {
		return nil, r.StartRepair(peer), nil
	})
	if err != nil {
		return nil, err
	}
	return res.(*DigestMsg), nil
}

// SetPeers sets the live peers (see Replica.SetPeers).
func (s *Store) SetPeers(ctx context.Context, live []ReplicaID) error {
	_, err := s.do(ctx, func(r *Replica) ([]Update, any, error) {
		return []Update{r.SetPeers(live)}, nil, nil
	})
	return err
}

// SetPushPeers narrows buffer pruning to the peers anti-entropy pushes to
// (Replica.SetPushPeers); call it after SetPeers.
func (s *Store) SetPushPeers(ctx context.Context, push []ReplicaID) error {
	_, err := s.do(ctx, func(r *Replica) ([]Update, any, error) {
		return []Update{r.SetPushPeers(push)}, nil, nil
	})
	return err
}

// CollectGarbage prunes causally stable tombstones. It returns how many
// keys it changed and how many still hold tombstones (Replica.Tombstones):
// beyond the push overlay a tombstone waits for reports that repairs
// bring, about 1.7 repair cycles, so operators watch the second.
func (s *Store) CollectGarbage(ctx context.Context) (collected, held int, err error) {
	_, err = s.do(ctx, func(r *Replica) ([]Update, any, error) {
		u := r.CollectGarbage()
		collected, held = len(u.Changes), r.Tombstones()
		return []Update{u}, nil, nil
	})
	if err != nil {
		return 0, 0, err
	}
	return collected, held, nil
}

// Inspect runs fn on the replica inside the committer, for read-only
// diagnostics and tests (digests, buffer, context).
func (s *Store) Inspect(ctx context.Context, fn func(r *Replica)) error {
	_, err := s.do(ctx, func(r *Replica) ([]Update, any, error) {
		fn(r)
		return nil, nil, nil
	})
	return err
}

// badgerLogger routes badger's logs to slog, demoting its chatty info
// output to debug, and counts memtable flushes: badger reports them only
// in its log.
type badgerLogger struct {
	log     *slog.Logger
	flushes *atomic.Int64
}

// badgerFlushLog begins the format of the debug line badger logs when it
// hands a full memtable to its flusher (db.ensureRoomForWrite).
const badgerFlushLog = "Flushing memtable, mt.size="

func (l badgerLogger) Errorf(f string, a ...any) {
	l.log.Error(fmt.Sprintf(f, a...), "component", "badger")
}
func (l badgerLogger) Warningf(f string, a ...any) {
	l.log.Warn(fmt.Sprintf(f, a...), "component", "badger")
}
func (l badgerLogger) Infof(f string, a ...any) {
	l.log.Debug(fmt.Sprintf(f, a...), "component", "badger")
}
func (l badgerLogger) Debugf(f string, a ...any) {
	if l.flushes != nil && strings.HasPrefix(f, badgerFlushLog) {
		l.flushes.Add(1)
	}
	l.log.Debug(fmt.Sprintf(f, a...), "component", "badger")
}
