package sim

import (
	"math"
	"math/rand/v2"
	"time"
)

// network models the links between members: a one-way delay drawn from a
// log-normal or a measured distribution per region pair (or, for members
// sharing one host, the host's measured transit by load in its place)
// plus serialization at the link's bandwidth, independent loss, and
// partition sides. It has no queues: a link never congests. That is a
// deliberate simplification; the scenarios keep traffic far below link
// capacity (bytes_per_member_per_second in the summary shows how far), so
// queueing would not change the result.
type network struct {
	nRegions int
	links    []linkModel // nRegions*nRegions, row-major by (from, to)
	process  int64       // receiver's durable write time (median), ns
	procSig  float64     // log-normal sigma of the durable write time
	cpu      int64       // receiver's computation per message, ns
	side     []int32     // partition side per member; all 0 when healed
	cores    servers     // shared host cores (nil: unshared)
	disk     servers     // shared disk channels (nil: unshared)
	journal  *journal    // shared journal with group commit (nil: none)
	loaded   *byLoad     // shared disk with measured latency by load (nil: none)
	// transit is the host's measured time for a message between two
	// members' loops by messages in transit (nil: the links' latency).
	transit *byLoad
	shared  *sharedCores // host cores under processor sharing (nil: FIFO cores)
	// writesChanged: only messages that change what a store keeps take a
	// durable write (Topology.DiskWrites "changed").
	writesChanged bool
	handoffs      handoffs // waits for cores in transit (none: n == 0)
	writes        uint64   // durable writes made
}

// servers is a FIFO pool of identical servers: when each is next free.
type servers []int64

// serve schedules work of length d that can start at ready on the
// earliest-free server (at once when the pool is nil) and returns when it
// is done.
func (s servers) serve(ready, d int64) int64 {
	if s == nil {
		return ready + d
	}
	c := 0
	for i, free := range s {
		if free < s[c] {
			c = i
		}
	}
	done := max(ready, s[c]) + d
	s[c] = done
	return done
}

// journal is a disk whose synced writes group-commit: a write ready while
// a commit runs joins the next one, which starts when the running one
// ends and grows by perWrite for each write it takes in (see
// Topology.DiskCommitPerWrite). Joiners are done in the order they joined,
// each perWrite after the one before: a journal written out in order.
type journal struct {
	perWrite int64
	start    int64 // when the newest commit starts
	end      int64 // when it ends
}

// commit returns when a write ready at ready, which alone would take
// alone, is durable.
func (j *journal) commit(ready, alone int64) int64 {
	if ready < j.start { // the newest commit has not started: join it
		j.end += j.perWrite
		return j.end
	}
	j.start = max(ready, j.end)
	j.end = j.start + alone
	return j.end
}

type linkModel struct {
	median    float64 // ns (of the measured latency too)
	sigma     float64
	quantiles []time.Duration // measured latency (nil: log-normal)
	loss      float64
	nsPerB    float64 // serialization: ns per byte (0: unlimited)
}

func newLinkModel(l Link) linkModel {
	m := linkModel{median: float64(l.Latency.Median), sigma: l.Latency.Sigma, quantiles: l.Latency.Quantiles, loss: l.Loss}
	if l.BandwidthMbps > 0 {
		m.nsPerB = 8e3 / l.BandwidthMbps // 8 bits per byte / (Mbps = bits per µs) → ns
	}
	if len(m.quantiles) > 0 {
		m.median = float64(quantileAt(m.quantiles, 0.5))
	}
	return m
}

func newNetwork(t Topology, regionIdx map[string]int, members int) *network {
	n := len(t.Regions)
	nw := &network{nRegions: n, links: make([]linkModel, n*n), process: int64(t.ProcessDelay), procSig: t.ProcessSigma,
		cpu: int64(t.ProcessCPU), side: make([]int32, members), writesChanged: t.DiskWrites == DiskWritesChanged}
	if t.HostCores > 0 {
		nw.cores = make(servers, t.HostCores)
	}
	if t.DiskChannels > 0 {
		nw.disk = make(servers, t.DiskChannels)
	}
	if t.DiskCommitPerWrite > 0 {
		nw.journal = &journal{perWrite: int64(t.DiskCommitPerWrite)}
	}
	nw.handoffs = handoffs{n: t.TransitHandoffs, quantiles: t.HandoffLatency}
	if t.HostScheduler == HostShared {
		nw.shared = &sharedCores{cores: float64(t.HostCores)}
	}
	if len(t.DiskLoad) > 0 {
		nw.loaded = &byLoad{levels: t.DiskLoad}
	}
	if len(t.TransitLoad) > 0 {
		nw.transit = &byLoad{levels: t.TransitLoad}
	}
	def := newLinkModel(t.DefaultLink)
	inter := def
	if t.InterRegionLink != nil {
		inter = newLinkModel(*t.InterRegionLink)
	}
	for a := range n {
		for b := range n {
			if a == b {
				nw.links[a*n+b] = def
			} else {
				nw.links[a*n+b] = inter
			}
		}
	}
	for _, pl := range t.Links {
		a, b := regionIdx[pl.From], regionIdx[pl.To]
		m := newLinkModel(pl.Link)
		nw.links[a*n+b], nw.links[b*n+a] = m, m
	}
	return nw
}

func (nw *network) link(ra, rb int32) *linkModel { return &nw.links[int(ra)*nw.nRegions+int(rb)] }

// delay draws the one-way delivery delay of a message of size bytes.
func (lm *linkModel) delay(rng *rand.Rand, size int) int64 {
	if lm.quantiles != nil {
		return quantileAt(lm.quantiles, rng.Float64()) + lm.serialization(size)
	}
	d := lm.median
	if lm.sigma > 0 {
		d *= math.Exp(lm.sigma * rng.NormFloat64())
	}
	return int64(d + lm.nsPerB*float64(size))
}

// processTime draws one message's processing time at the receiver.
func (nw *network) processTime(rng *rand.Rand) int64 {
	if nw.procSig == 0 {
		return nw.process
	}
	return int64(float64(nw.process) * math.Exp(nw.procSig*rng.NormFloat64()))
}

// processing reports whether messages take any time at the receiver.
func (nw *network) processing() bool { return nw.process > 0 || nw.cpu > 0 }

// handle schedules the handling, at the engine's time now, of one message
// that can start at ready: its computation on the host cores, then its
// durable write on the disk (without ProcessCPU, the older one-step
// model: the write's time on the cores). It returns when the message is
// handled.
func (nw *network) handle(rng *rand.Rand, now, ready int64) int64 {
	if nw.cpu == 0 {
		return nw.cores.serve(ready, nw.processTime(rng))
	}
	return nw.write(rng, now, nw.cores.serve(ready, nw.cpu))
}

// write schedules, at the engine's time now, a durable write that starts
// at start on the disk model the topology chose, and returns when it is
// done.
func (nw *network) write(rng *rand.Rand, now, start int64) int64 {
	nw.writes++
	switch {
	case nw.loaded != nil:
		return nw.loaded.run(rng, now, start)
	case nw.journal != nil:
		return nw.journal.commit(start, nw.processTime(rng))
	default:
		return nw.disk.serve(start, nw.processTime(rng))
	}
}

// serialization is the time size bytes take at the link's bandwidth.
func (lm *linkModel) serialization(size int) int64 { return int64(lm.nsPerB * float64(size)) }

// arrival draws when a message of size bytes sent at the engine's time
// now on link lm reaches its receiver: the link's delay, or the host's
// transit by load in its place, then the waits for cores in transit.
func (nw *network) arrival(rng *rand.Rand, lm *linkModel, now int64, size int) int64 {
	var at int64
	if nw.transit != nil {
		at = nw.transit.run(rng, now, now) + lm.serialization(size)
	} else {
		at = now + lm.delay(rng, size)
	}
	return at + nw.handoffs.delay(rng)
}

// lost draws whether a message is dropped.
func (lm *linkModel) lost(rng *rand.Rand) bool { return lm.loss > 0 && rng.Float64() < lm.loss }

// sameSide reports whether a and b can reach each other (partitions only;
// liveness is the caller's business).
func (nw *network) sameSide(a, b int32) bool { return nw.side[a] == nw.side[b] }

// grow makes room for a joining member.
func (nw *network) grow(n int) {
	for len(nw.side) < n {
		nw.side = append(nw.side, 0)
	}
}
