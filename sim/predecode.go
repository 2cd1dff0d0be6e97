package sim

import (
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lattice-federation/lattice/crdt"
	"github.com/lattice-federation/lattice/gossip"
)

// The simulation is one goroutine, but a message is fixed when it is
// sent (gossip.PrepareFrame detaches it from its sender's replica and
// gives its exact length, which is all the link model needs), and its
// encoding and the receiver's decoding are pure functions of it (the
// frame codec, with the world's frozen ID table). So while the world
// runs, the host's other cores encode and decode messages in flight ahead
// of their delivery: the receiver then finds its message decoded, or
// does both itself if no worker has started on it yet. Which goroutine
// does it changes nothing the simulation computes, so outputs stay
// byte-identical whatever the number of workers.

// Job states: a job is run (encoded and decoded) by whoever moves it from
// queued to taken.
const (
	jobQueued uint32 = iota
	jobTaken
	jobDone
)

// decodeJob is one message's trip over the wire: the sender's prepared
// message in, the receiver's decoded copy out.
type decodeJob struct {
	state atomic.Uint32
	sent  crdt.Message
	size  int // PrepareFrame's length
	msg   crdt.Message
	err   error
}

// run encodes and decodes the job's message; the caller has taken it.
func (j *decodeJob) run(lim crdt.Limits, ids *crdt.IDTable) {
	j.msg, j.err = transmit(j.sent, j.size, lim, ids)
	j.sent = nil
	j.state.Store(jobDone)
}

// transmit is what the wire does to a message: the sender's real frame
// encoding and the receiver's real decoding, so members never share
// memory, as over QUIC.
func transmit(sent crdt.Message, size int, lim crdt.Limits, ids *crdt.IDTable) (crdt.Message, error) {
	wire, err := gossip.AppendFrame(make([]byte, 0, size), sent)
	if err != nil {
		return nil, err
	}
	if len(wire) != size {
		return nil, fmt.Errorf("%s frame of %d bytes, prepared as %d", sent.Type(), len(wire), size)
	}
	return gossip.DecodeFrameInterned(wire, lim, ids)
}

// predecoder hands jobs to worker goroutines through one shared queue:
// each event's jobs are appended under one lock, and a worker is woken
// only when one waits. Workers take a few jobs at a time, oldest first,
// so a message sent in a quiet stretch is on another core within
// microseconds, not once enough others have been sent to fill a batch.
type predecoder struct {
	workers int
	spinFor time.Duration // how long an idle worker polls (0: it sleeps at once)
	lim     crdt.Limits
	ids     *crdt.IDTable // frozen: shared by the workers read-only

	batch []*decodeJob // queued by the current event, not yet handed over

	mu      sync.Mutex
	cond    *sync.Cond
	pending []*decodeJob // handed over, not yet taken by a worker
	waiting int          // workers waiting for jobs
	avail   atomic.Int64 // len(pending), for workers polling without the lock
	closed  bool
	running bool
	stop    atomic.Bool
	wg      sync.WaitGroup
}

// Bounds of the shared queue: a worker takes up to takeJobs jobs at a
// time; the queue holds at most maxPendingJobs (beyond, the workers are
// that far behind and the receivers do the jobs themselves).
const (
	takeJobs       = 16
	maxPendingJobs = 1 << 16
)

// defaultDecodeWorkers leaves one core to the simulation itself.
func defaultDecodeWorkers() int { return min(4, runtime.GOMAXPROCS(0)-1) }

// start launches the workers (none when workers < 1: every message is
// then encoded and decoded at its delivery).
func (p *predecoder) start() {
	if p.workers < 1 {
		return
	}
	p.stop.Store(false)
	p.cond = sync.NewCond(&p.mu)
	p.closed, p.running = false, true
	for range p.workers {
		p.wg.Add(1)
		go p.work()
	}
}

func (p *predecoder) work() {
	defer p.wg.Done()
	take := make([]*decodeJob, 0, takeJobs)
	for {
		p.spin()
		p.mu.Lock()
		for len(p.pending) == 0 && !p.closed {
			p.waiting++
			p.cond.Wait()
			p.waiting--
		}
		if p.closed {
			p.mu.Unlock()
			return
		}
		n := min(len(p.pending), takeJobs)
		take = append(take[:0], p.pending[:n]...)
		if n == len(p.pending) {
			clear(p.pending)
			p.pending = p.pending[:0]
		} else {
			p.pending = p.pending[n:]
		}
		p.avail.Store(int64(len(p.pending)))
		p.mu.Unlock()
		for _, j := range take {
			if p.stop.Load() {
				return
			}
			if j.state.CompareAndSwap(jobQueued, jobTaken) {
				j.run(p.lim, p.ids)
			}
		}
	}
}

// spin polls for jobs for up to spinFor before the worker sleeps. In a
// quiet stretch the simulation reaches a message's delivery a few events
// after sending it: a worker woken from sleep would start on it too late,
// and the simulation would encode and decode it itself.
func (p *predecoder) spin() {
	if p.spinFor <= 0 {
		return
	}
	// A bare loop: a Gosched per poll would cost as much as the work it
	// waits for, and the runtime preempts the loop when the collector
	// needs the core.
	deadline := time.Now().Add(p.spinFor)
	for i := 0; p.avail.Load() == 0 && !p.stop.Load(); i++ {
		if i%256 == 255 && time.Now().After(deadline) {
			return
		}
	}
}

// An idle worker polls for spinFor before it sleeps, in worlds of at
// least spinMembers members. Polling took a tenth off a 1,000-member
// run's wall time, but it keeps a core busy while the world runs, which
// a small world (a test, next to others) does not repay.
const (
	spinFor     = 50 * time.Microsecond
	spinMembers = 256
)

// halt stops the workers and waits for them; jobs they did not take stay
// queued for their receivers to do.
func (p *predecoder) halt() {
	if !p.running {
		return
	}
	p.stop.Store(true)
	p.mu.Lock()
	p.closed, p.pending = true, nil
	p.mu.Unlock()
	p.cond.Broadcast()
	p.wg.Wait()
	p.running = false
	p.batch = nil
}

// queue returns a job for a prepared message of size bytes, to be handed
// to the workers at the next flush (nil when there are no workers).
func (p *predecoder) queue(sent crdt.Message, size int) *decodeJob {
	if !p.running {
		return nil
	}
	j := &decodeJob{sent: sent, size: size}
	p.batch = append(p.batch, j)
	return j
}

// flush hands the jobs the current event queued to the workers, unless
// they are maxPendingJobs behind: the receivers then do those jobs
// themselves, as they do any job no worker has taken by its delivery.
func (p *predecoder) flush() {
	if len(p.batch) == 0 {
		return
	}
	p.mu.Lock()
	if len(p.pending) < maxPendingJobs {
		p.pending = append(p.pending, p.batch...)
		p.avail.Store(int64(len(p.pending)))
	}
	wake := p.waiting > 0
	p.mu.Unlock()
	if wake {
		p.cond.Signal()
	}
	clear(p.batch)
	p.batch = p.batch[:0]
}

// decode returns the receiver's copy of a sent message: the job's result
// when there is one, waiting for a worker that has started on it.
func (p *predecoder) decode(j *decodeJob, sent crdt.Message, size int) (crdt.Message, error) {
	if j == nil {
		return transmit(sent, size, p.lim, p.ids)
	}
	if j.state.CompareAndSwap(jobQueued, jobTaken) {
		j.run(p.lim, p.ids)
	}
	// The worker that took the job is running it: wait for it without
	// giving up the core, but yield now and then in case the worker's
	// core was taken from it.
	for i := 1; j.state.Load() != jobDone; i++ {
		if i%1024 == 0 {
			runtime.Gosched()
		}
	}
	return j.msg, j.err
}
