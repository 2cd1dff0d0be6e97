package validate

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/lattice-federation/lattice/crdt"
	"github.com/lattice-federation/lattice/gossip"
	"github.com/lattice-federation/lattice/identity"
	"github.com/lattice-federation/lattice/sim"
)

// RealConfig is a run on real members.
type RealConfig struct {
	Members int
	// Writes is how many sequential writes are measured.
	Writes int
	// Gap is the pause after a write reached every member.
	Gap time.Duration
	// RepairInterval is anti-entropy's digest repair period.
	RepairInterval time.Duration
	// Dir holds the members' stores (required; the caller removes it).
	Dir string
	// Seed picks the writing members.
	Seed uint64
	// Settle is how long to wait after the membership formed before the
	// first write (peer records, initial repairs).
	Settle time.Duration
	// WriteTimeout bounds one write's convergence.
	WriteTimeout time.Duration
	Logger       *slog.Logger
}

// DefaultRealConfig returns the validation workload at n members.
func DefaultRealConfig(n int) RealConfig {
	return RealConfig{
		Members:        n,
		Writes:         100,
		Gap:            100 * time.Millisecond,
		RepairInterval: time.Second,
		Seed:           1,
		Settle:         3 * time.Second,
		WriteTimeout:   30 * time.Second,
	}
}

// MaxMembers bounds a real run: every member is goroutines, a QUIC socket
// and a badger store in this one process.
const MaxMembers = 64

// MaxWrites bounds the writes of a real run.
const MaxWrites = 100_000

func (c RealConfig) validate() error {
	switch {
	case c.Members < 2 || c.Members > MaxMembers:
		return fmt.Errorf("members %d: want 2 to %d", c.Members, MaxMembers)
	case c.Writes < 1 || c.Writes > MaxWrites:
		return fmt.Errorf("writes %d: want 1 to %d", c.Writes, MaxWrites)
	case c.Gap < 0 || c.Settle < 0:
		return errors.New("gap and settle must not be negative")
	case c.RepairInterval <= 0 || c.WriteTimeout <= 0:
		return errors.New("repair interval and write timeout must be positive")
	case c.Dir == "":
		return errors.New("a directory for the stores is required")
	}
	return nil
}

// RealResult is what a real run measured.
type RealResult struct {
	Members int
	// Latencies are each write's convergence times in seconds (from the
	// start of the Put to the last member's watch event), sorted.
	Latencies []float64
	// BytesPerMemberPerSecond is QUIC payload (anti-entropy and
	// memberlist, each byte counted once) per member during the writes;
	// MembershipBytesPerMemberPerSecond is memberlist's share, and
	// AntiEntropyBytes the anti-entropy frames' bytes in all.
	BytesPerMemberPerSecond           float64
	MembershipBytesPerMemberPerSecond float64
	AntiEntropyBytes                  float64
	// Window is when the writes ran, in seconds since the first member
	// started: memberlist's traffic depends on the members' age (its
	// first push-pull comes one to two intervals after start).
	Window [2]float64
	// Messages is how many anti-entropy messages the members handled
	// during the writes, and CPUSeconds the process CPU time meanwhile
	// (every member runs in this process).
	Messages   float64
	CPUSeconds float64
	// HandlingSeconds is the members' loops' time on those messages
	// (gossip's message-handling histogram): CPU, commits, and the waits
	// for the host's cores in between.
	HandlingSeconds float64
	// Commits is how the members' stores made their batches durable
	// during the writes.
	Commits CommitStats
	// CommitLoad is the synced commits' latency by concurrency (runLoad):
	// the disk as the run loaded it.
	CommitLoad []sim.DiskLoadLevel
	// CommitLoadCommits is how many commits each CommitLoad level holds.
	CommitLoadCommits []int
	// SchedLatency is how long the process's goroutines waited for a core
	// once runnable, during the writes (evenly spaced quantiles).
	SchedLatency []time.Duration
	// Transit is the anti-entropy frames' time from their sender's loop
	// to their receiver's inbox during the writes (evenly spaced
	// quantiles), measured on TransitFrames frames; TransitUnmatched
	// arrived without their sending seen (sent before the writes).
	Transit          []time.Duration
	TransitFrames    int
	TransitUnmatched int
	// TransitLoad is the same frames' time in transit by how many frames
	// were in transit when each was handed off (runLoad), and
	// TransitLoadFrames how many frames each level holds.
	TransitLoad       []sim.DiskLoadLevel
	TransitLoadFrames []int
	// StoresFlushed is how many members' stores began flushing a badger
	// memtable during the writes. In this one process they share a disk
	// and cores, and members writing in lockstep flush together: a
	// host-wide stall the simulator does not model.
	StoresFlushed int
}

// CommitStats summarises store commits (crdt.Store.ObserveCommits): under
// this workload a member's gossip loop spends most of its time waiting for
// them, so they are what a model of the host must get right.
type CommitStats struct {
	Batches int `json:"batches"`
	// SyncedFraction is the share of batches that took a synced write
	// (the rest changed nothing kept).
	SyncedFraction float64 `json:"synced_fraction"`
	// SyncedP50Seconds and SyncedP99Seconds are percentiles of the synced
	// commits' durations.
	SyncedP50Seconds  float64 `json:"synced_p50_seconds"`
	SyncedP99Seconds  float64 `json:"synced_p99_seconds"`
	SyncedMeanSeconds float64 `json:"synced_mean_seconds"`
}

// commitLog collects every member's commits (observers run on each
// store's committer goroutine).
type commitLog struct {
	origin  time.Time
	mu      sync.Mutex
	batches int
	synced  []commitSpan // the synced commits
}

func newCommitLog() *commitLog { return &commitLog{origin: time.Now()} }

func (l *commitLog) observe(d time.Duration, synced bool) {
	end := time.Since(l.origin)
	l.mu.Lock()
	defer l.mu.Unlock()
	l.batches++
	if synced {
		l.synced = append(l.synced, commitSpan{start: int64(end - d), end: int64(end)})
	}
}

// load is the synced commits so far by load (runLoad).
func (l *commitLog) load() ([]sim.DiskLoadLevel, []int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return runLoad(l.synced, RunLoadMinSamples)
}

// stats summarises the commits observed so far.
func (l *commitLog) stats() CommitStats {
	l.mu.Lock()
	defer l.mu.Unlock()
	durs := make([]float64, len(l.synced))
	var sum float64
	for i, s := range l.synced {
		durs[i] = s.seconds()
		sum += durs[i]
	}
	slices.Sort(durs)
	cs := CommitStats{Batches: l.batches}
	if l.batches > 0 {
		cs.SyncedFraction = float64(len(durs)) / float64(l.batches)
	}
	cs.SyncedP50Seconds = sim.Quantile(durs, 0.50)
	cs.SyncedP99Seconds = sim.Quantile(durs, 0.99)
	if len(durs) > 0 {
		cs.SyncedMeanSeconds = sum / float64(len(durs))
	}
	return cs
}

// realMember is one running member.
type realMember struct {
	st   *crdt.Store
	node *gossip.Node
	reg  *prometheus.Registry
}

// RunReal starts cfg.Members real members on loopback, waits for the
// membership to form, runs the workload and stops them.
func RunReal(ctx context.Context, cfg RealConfig) (RealResult, error) {
	if err := cfg.validate(); err != nil {
		return RealResult{}, fmt.Errorf("validation run: %w", err)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	transit := newTransitLog()
	born := time.Now()
	members, err := startMembers(cfg, log, transit)
	defer func() {
		for _, m := range members {
			if m.node != nil {
				_ = m.node.Close()
			}
			_ = m.st.Close()
		}
	}()
	if err != nil {
		return RealResult{}, err
	}
	if err := waitMembership(ctx, members, 60*time.Second); err != nil {
		return RealResult{}, err
	}
	select {
	case <-time.After(cfg.Settle):
	case <-ctx.Done():
		return RealResult{}, ctx.Err()
	}
	return measure(ctx, cfg, members, transit, born)
}

const realFederation = "validation"

func startMembers(cfg RealConfig, log *slog.Logger, transit *transitLog) ([]*realMember, error) {
	founder, err := identity.Generate()
	if err != nil {
		return nil, fmt.Errorf("founder identity: %w", err)
	}
	var members []*realMember
	var join []string
	for i := range cfg.Members {
		id := founder
		if i > 0 {
			if id, err = identity.Generate(); err != nil {
				return members, fmt.Errorf("member %d identity: %w", i, err)
			}
		}
		adm, err := identity.NewAdmission(realFederation, founder.DID(), nil)
		if err != nil {
			return members, fmt.Errorf("member %d admission: %w", i, err)
		}
		if i > 0 {
			cred, err := identity.IssueMembershipWithFounder(founder, realFederation, founder.DID(), id.DID(), nil, 24*time.Hour, time.Now())
			if err != nil {
				return members, fmt.Errorf("member %d credential: %w", i, err)
			}
			if _, err := adm.Learn(cred); err != nil {
				return members, fmt.Errorf("member %d credential: %w", i, err)
			}
		}
		sc := crdt.DefaultStoreConfig(filepath.Join(cfg.Dir, "member-"+strconv.Itoa(i+1)), crdt.ReplicaID(id.DID()))
		sc.Logger = log
		st, err := crdt.OpenStore(sc)
		if err != nil {
			return members, fmt.Errorf("member %d store: %w", i, err)
		}
		m := &realMember{st: st, reg: prometheus.NewRegistry()}
		members = append(members, m)
		nc := gossip.DefaultConfig()
		nc.Store = st
		nc.Identity = id
		nc.Admission = adm
		nc.Listen = "127.0.0.1:0"
		nc.Join = join
		nc.Sync.RepairInterval = cfg.RepairInterval
		nc.Seed = cfg.Seed<<8 ^ uint64(i+1)
		nc.Logger = log
		nc.Registry = m.reg
		nc.Transit = transit
		if m.node, err = gossip.Start(nc); err != nil {
			return members, fmt.Errorf("member %d: %w", i, err)
		}
		if i == 0 {
			join = []string{m.node.Addr().String()}
		}
	}
	return members, nil
}

func waitMembership(ctx context.Context, members []*realMember, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		formed := true
		for _, m := range members {
			if len(m.node.Members()) != len(members) {
				formed = false
				break
			}
		}
		if formed {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("membership of %d members did not form in %s", len(members), timeout)
		}
		select {
		case <-time.After(50 * time.Millisecond):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

type arrival struct {
	member int
	at     time.Time
	val    string
}

const validationKey = crdt.Key("validation.lattice.dev/Probe/default/w")

// probeValue is the i-th value written to validationKey (the real run's
// writes and the calibration's are the same size).
func probeValue(i int) []byte {
	return []byte(`{"kind":"Probe","metadata":{"name":"w"},"spec":{"i":` + strconv.Itoa(i) + `}}`)
}

func measure(ctx context.Context, cfg RealConfig, members []*realMember, transit *transitLog, born time.Time) (RealResult, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	arrivals := make(chan arrival, 64*len(members))
	for i, m := range members {
		w, err := m.st.Watch(ctx, "validation.lattice.dev/", m.st.ResourceVersion())
		if err != nil {
			return RealResult{}, fmt.Errorf("member %d watch: %w", i, err)
		}
		go func() {
			defer w.Stop()
			for ev := range w.Events() {
				select {
				case arrivals <- arrival{i, time.Now(), string(ev.Object.Value)}:
				case <-ctx.Done():
					return
				}
			}
		}()
	}
	commits := newCommitLog()
	for _, m := range members {
		m.st.ObserveCommits(commits.observe)
	}
	defer func() {
		for _, m := range members {
			m.st.ObserveCommits(nil)
		}
	}()
	rng := rand.New(rand.NewPCG(cfg.Seed, uint64(len(members))))
	res := RealResult{Members: len(members)}
	startBytes, startMsgs, startCPU, start := totalBytes(members), sumCounter(members, receivedMetric), processCPU(), time.Now()
	startMember, startSync := protocolBytes(members, gossip.ALPNMembership), protocolBytes(members, gossip.ALPNSync)
	startHandling, startSched := sumCounter(members, handlingMetric), readSched()
	startFlushes := make([]int64, len(members))
	for i, m := range members {
		startFlushes[i] = m.st.MemtableFlushes()
	}
	transit.start()
	for i := range cfg.Writes {
		st := members[rng.IntN(len(members))].st
		t0 := time.Now()
		o, err := st.Put(ctx, validationKey, probeValue(i), crdt.PutOptions{})
		if err != nil {
			return res, fmt.Errorf("write %d: %w", i, err)
		}
		want := string(o.Value)
		seen := make([]bool, len(members))
		left := len(members)
		timeout := time.After(cfg.WriteTimeout)
		for left > 0 {
			select {
			case a := <-arrivals:
				if a.val == want && !seen[a.member] {
					seen[a.member] = true
					if left--; left == 0 {
						res.Latencies = append(res.Latencies, a.at.Sub(t0).Seconds())
					}
				}
			case <-timeout:
				return res, fmt.Errorf("write %d reached %d of %d members in %s", i, len(members)-left, len(members), cfg.WriteTimeout)
			case <-ctx.Done():
				return res, ctx.Err()
			}
		}
		select {
		case <-time.After(cfg.Gap):
		case <-ctx.Done():
			return res, ctx.Err()
		}
	}
	res.Window = [2]float64{start.Sub(born).Seconds(), time.Since(born).Seconds()}
	if el := time.Since(start).Seconds(); el > 0 {
		res.BytesPerMemberPerSecond = (totalBytes(members) - startBytes) / el / float64(len(members))
		res.MembershipBytesPerMemberPerSecond = (protocolBytes(members, gossip.ALPNMembership) - startMember) / el / float64(len(members))
	}
	res.AntiEntropyBytes = protocolBytes(members, gossip.ALPNSync) - startSync
	res.Messages = sumCounter(members, receivedMetric) - startMsgs
	res.CPUSeconds = processCPU() - startCPU
	res.HandlingSeconds = sumCounter(members, handlingMetric) - startHandling
	res.SchedLatency = schedLatencySince(startSched)
	res.Commits = commits.stats()
	res.CommitLoad, res.CommitLoadCommits = commits.load()
	res.Transit, res.TransitFrames = transit.quantiles()
	res.TransitLoad, res.TransitLoadFrames = transit.load()
	res.TransitUnmatched = transit.unmatchedFrames()
	for i, m := range members {
		if m.st.MemtableFlushes() > startFlushes[i] {
			res.StoresFlushed++
		}
	}
	slices.Sort(res.Latencies)
	return res, nil
}

// Metric names of gossip.Metrics.Bytes and MessagesReceived.
const (
	bytesMetric    = "lattice_gossip_bytes_total"
	receivedMetric = "lattice_gossip_messages_received_total"
	handlingMetric = "lattice_gossip_message_handling_seconds"
)

// totalBytes is the QUIC payload all members sent and received, each byte
// counted once.
func totalBytes(members []*realMember) float64 {
	return sumCounter(members, bytesMetric) / 2
}

// protocolBytes is the QUIC payload of one protocol all members sent and
// received, each byte counted once.
func protocolBytes(members []*realMember, proto string) float64 {
	return sumCounterWhere(members, bytesMetric, "protocol", proto) / 2
}

// sumCounter sums a counter over its labels and every member.
func sumCounter(members []*realMember, name string) float64 {
	return sumCounterWhere(members, name, "", "")
}

// sumCounterWhere sums a counter over every member, keeping only the
// series whose label has value (every series when label is "").
func sumCounterWhere(members []*realMember, name, label, value string) float64 {
	var sum float64
	for _, m := range members {
		mfs, err := m.reg.Gather()
		if err != nil {
			continue
		}
		for _, mf := range mfs {
			if mf.GetName() != name {
				continue
			}
			for _, mt := range mf.GetMetric() {
				if label == "" || hasLabel(mt, label, value) {
					sum += counterValue(mt)
				}
			}
		}
	}
	return sum
}

// hasLabel reports whether m carries label with value.
func hasLabel(m *dto.Metric, label, value string) bool {
	for _, l := range m.GetLabel() {
		if l.GetName() == label && l.GetValue() == value {
			return true
		}
	}
	return false
}

// processCPU is this process's user+system CPU time in seconds.
func processCPU() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

// counterValue is a counter's value, or a histogram's sum of samples.
func counterValue(m *dto.Metric) float64 {
	if c := m.GetCounter(); c != nil {
		return c.GetValue()
	}
	if h := m.GetHistogram(); h != nil {
		return h.GetSampleSum()
	}
	return 0
}
