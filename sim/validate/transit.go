package validate

import (
	"hash/maphash"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lattice-federation/lattice/crdt"
	"github.com/lattice-federation/lattice/sim"
)

// transitLog pairs the two ends of every anti-entropy frame of a real run
// (gossip.TransitObserver; every member runs in this process, on one
// clock) and keeps each frame's time in transit: from its sender's loop
// handing it off to its receiver's inbox.
type transitLog struct {
	seed   maphash.Seed
	on     atomic.Bool
	origin time.Time

	mu sync.Mutex
	// sent holds the hand-off times of frames not yet arrived, oldest
	// first per key (identical frames to one receiver queue up).
	sent      map[transitKey][]time.Time
	spans     []commitSpan // each frame's hand-off and arrival, in arrival order
	unmatched int          // arrivals whose sending was not seen
}

// transitKey names a frame by its receiver and a hash of its bytes.
type transitKey struct {
	to crdt.ReplicaID
	h  uint64
}

// maxTransitPending bounds the frames awaiting their arrival (sends that
// fail never arrive); beyond it the log starts afresh.
const maxTransitPending = 1 << 20

func newTransitLog() *transitLog {
	return &transitLog{seed: maphash.MakeSeed(), sent: map[transitKey][]time.Time{}, origin: time.Now()}
}

// start begins recording: frames handed off before are not measured.
func (l *transitLog) start() { l.on.Store(true) }

func (l *transitLog) key(to crdt.ReplicaID, frame []byte) transitKey {
	return transitKey{to: to, h: maphash.Bytes(l.seed, frame)}
}

// Sent implements gossip.TransitObserver.
func (l *transitLog) Sent(to crdt.ReplicaID, frame []byte, at time.Time) {
	if !l.on.Load() {
		return
	}
	k := l.key(to, frame)
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.sent) >= maxTransitPending {
		clear(l.sent)
	}
	l.sent[k] = append(l.sent[k], at)
}

// Arrived implements gossip.TransitObserver.
func (l *transitLog) Arrived(to crdt.ReplicaID, frame []byte, at time.Time) {
	if !l.on.Load() {
		return
	}
	k := l.key(to, frame)
	l.mu.Lock()
	defer l.mu.Unlock()
	q, ok := l.sent[k]
	if !ok {
		l.unmatched++
		return
	}
	start := int64(q[0].Sub(l.origin))
	l.spans = append(l.spans, commitSpan{start: start, end: max(start, int64(at.Sub(l.origin)))})
	if len(q) == 1 {
		delete(l.sent, k)
	} else {
		l.sent[k] = q[1:]
	}
}

// quantiles is the transit times so far as DiskLoadQuantiles evenly
// spaced quantiles (nil when none), and how many frames they summarise.
func (l *transitLog) quantiles() ([]time.Duration, int) {
	l.mu.Lock()
	ds := make([]float64, len(l.spans))
	for i, s := range l.spans {
		ds[i] = s.seconds()
	}
	l.mu.Unlock()
	if len(ds) == 0 {
		return nil, 0
	}
	slices.Sort(ds)
	return loadLevel(0, ds).Quantiles, len(ds)
}

// unmatchedFrames is how many frames arrived whose sending was not seen.
func (l *transitLog) unmatchedFrames() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.unmatched
}

// load is the transit times so far by how many frames were in transit
// when each was handed off (runLoad), and each level's frame count.
func (l *transitLog) load() ([]sim.DiskLoadLevel, []int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return runLoad(l.spans, RunLoadMinSamples)
}
