package sim

import (
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/lattice-federation/lattice/crdt"
	"github.com/lattice-federation/lattice/gossip"
)

// The simulation is one goroutine, but a message's bytes are fixed when
// it is sent and its decoding is a pure function of them (the frame
// codec, with the world's frozen ID table). So while the world runs, the
// host's other cores decode messages in flight ahead of their delivery:
// the receiver then finds its message decoded, or decodes it itself if
// no worker has started on it yet. Which goroutine decodes a message
// changes nothing the simulation computes, so outputs stay byte-identical
// whatever the number of workers.

// Job states: a job is decoded by whoever moves it from queued to taken.
const (
	jobQueued uint32 = iota
	jobTaken
	jobDone
)

// decodeJob is one message's decoding.
type decodeJob struct {
	state atomic.Uint32
	wire  []byte
	msg   crdt.Message
	err   error
}

// run decodes the job's bytes; the caller has taken it.
func (j *decodeJob) run(lim crdt.Limits, ids *crdt.IDTable) {
	j.msg, j.err = gossip.DecodeFrameInterned(j.wire, lim, ids)
	j.state.Store(jobDone)
}

// predecoder hands jobs to worker goroutines in batches: a channel
// operation, and waking a worker that ran out of work, per message would
// cost a good part of a decode.
type predecoder struct {
	workers int
	lim     crdt.Limits
	ids     *crdt.IDTable // frozen: shared by the workers read-only

	batch []*decodeJob // queued by the current event, not yet handed over
	ch    chan []*decodeJob
	stop  atomic.Bool
	wg    sync.WaitGroup
}

// defaultDecodeWorkers leaves one core to the simulation itself.
func defaultDecodeWorkers() int { return min(4, runtime.GOMAXPROCS(0)-1) }

// start launches the workers (none when workers < 1: every message is
// then decoded at its delivery).
func (p *predecoder) start() {
	if p.workers < 1 {
		return
	}
	p.stop.Store(false)
	p.ch = make(chan []*decodeJob, 4096)
	for range p.workers {
		p.wg.Add(1)
		go p.work(p.ch)
	}
}

func (p *predecoder) work(ch <-chan []*decodeJob) {
	defer p.wg.Done()
	for batch := range ch {
		for _, j := range batch {
			if p.stop.Load() {
				return
			}
			if j.state.CompareAndSwap(jobQueued, jobTaken) {
				j.run(p.lim, p.ids)
			}
		}
	}
}

// halt stops the workers and waits for them; jobs they did not take stay
// queued for their receivers to decode.
func (p *predecoder) halt() {
	if p.ch == nil {
		return
	}
	p.stop.Store(true)
	close(p.ch)
	p.wg.Wait()
	p.ch = nil
	p.batch = nil
}

// queue returns a job for wire, to be handed to the workers at the next
// flush (nil when there are no workers).
func (p *predecoder) queue(wire []byte) *decodeJob {
	if p.ch == nil {
		return nil
	}
	j := &decodeJob{wire: wire}
	if p.batch == nil {
		p.batch = make([]*decodeJob, 0, batchJobs)
	}
	p.batch = append(p.batch, j)
	return j
}

// batchJobs is how many jobs a batch holds. Messages are delivered at
// least a link latency after they are sent, hundreds of events later in a
// large run, so a batch is handed over long before its messages are due.
const batchJobs = 64

// flush hands the queued jobs over once there is a batch of them, unless
// the workers are that far behind: the receivers then decode those
// messages themselves, as they do the jobs of a batch never handed over.
func (p *predecoder) flush() {
	if len(p.batch) < batchJobs {
		return
	}
	select {
	case p.ch <- p.batch:
	default:
	}
	p.batch = nil
}

// decode returns wire's message: the job's result when there is one,
// waiting for a worker that has started on it.
func (p *predecoder) decode(j *decodeJob, wire []byte) (crdt.Message, error) {
	if j == nil {
		return gossip.DecodeFrameInterned(wire, p.lim, p.ids)
	}
	if j.state.CompareAndSwap(jobQueued, jobTaken) {
		j.run(p.lim, p.ids)
	}
	for j.state.Load() != jobDone {
		runtime.Gosched()
	}
	return j.msg, j.err
}
