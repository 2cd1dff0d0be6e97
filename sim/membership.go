package sim

import (
	"maps"
	"math"
	"slices"
	"time"
)

// Membership traffic: what memberlist itself sends between Lattice
// members, so bytes_per_member_per_second is a member's whole gossip
// traffic, not only anti-entropy.
//
// Message sizes are memberlist's encodings (msgpack maps, a type byte in
// front) between members whose node names and node metadata are did:key
// DIDs of 56 characters, as production's are (gossip/node.go), on IPv4
// (addresses in their 4-byte form, as production's transport advertises).
// TestMembershipSizesMatchMemberlist checks every one against memberlist:
// ping and ack as a live memberlist cluster sends them, the push-pull
// state by a least-squares fit over joins of up to 32 members (compressed
// as memberlist's LAN and WAN profiles do), the rest by encoding
// memberlist's own message types.
//
// What is counted, when:
//   - Probes, at each probe: the ping, the ack if the ping arrived; for an
//     indirect probe, per relay, the ping request, the relay's ping, the
//     target's ack and the relay's ack (or its nack), each if the message
//     before it arrived.
//   - Push-pull, as its expectation: every member starts one every
//     I = pushPullScale(PushPullInterval, n) with a random member, the
//     first a random stagger in [0, I) plus I after it started (memberlist's
//     pushPullTrigger), and both send their whole state of n members. So a
//     member of age a has started pushPulls(a/I) of them on average (none
//     in its first interval, a ramp over the second, one per interval
//     after), and answered as many as its side's members started, spread
//     over them. Both are added at each sample for the window, with n its
//     side's alive members: no events, so the simulation itself is
//     unchanged by it.
//   - A join or a restart: one push-pull with a seed, both ways.
//   - Broadcasts (suspect, alive, dead): every member of the side sends
//     each RetransmitMult*ceil(log10(n+1)) times, piggybacked in gossip
//     packets, when the model disseminates it.
const (
	mlPingBytes         = 177 // ping: SeqNo, Node, SourceAddr, SourcePort, SourceNode
	mlAckBytes          = 22  // ackResp: SeqNo, Payload (empty)
	mlNackBytes         = 13  // nackResp: SeqNo
	mlIndirectPingBytes = 203 // indirectPingReq: ping's fields, Target, Port, Nack
	mlSuspectBytes      = 143 // suspect: Incarnation, Node, From
	mlAliveBytes        = 172 // alive: Incarnation, Node, Addr, Port, Meta, Vsn
	mlDeadBytes         = 143 // dead: Incarnation, Node, From
	// A push-pull state of n members is mlPushPullBase + n*mlPushPullPerMember.
	mlPushPullBase      = 232
	mlPushPullPerMember = 102
)

// pushPullBytes is the size of one side of a push-pull of n members' state.
func pushPullBytes(n int) int64 { return mlPushPullBase + int64(n)*mlPushPullPerMember }

// pushPullEvery is memberlist's pushPullScale: the push-pull interval
// grows with the log of the cluster size beyond 32 members.
func pushPullEvery(interval time.Duration, n int) time.Duration {
	const threshold = 32
	if n <= threshold {
		return interval
	}
	mult := math.Ceil(math.Log2(float64(n))-math.Log2(threshold)) + 1
	return time.Duration(mult) * interval
}

// retransmits is how many times each member sends a broadcast to a
// cluster of n (memberlist's retransmitLimit).
func retransmits(mult, n int) int {
	return mult * int(math.Ceil(math.Log10(float64(n+1))))
}

// memberSent counts membership bytes sent.
func (m *metrics) memberSent(bytes int64) {
	m.memberTotal += uint64(bytes)
	m.memberWindow += uint64(bytes)
}

// broadcast counts one membership broadcast of size bytes spread over a
// side of n alive members.
func (w *World) broadcast(size int64, n int) {
	if n <= 0 {
		return
	}
	w.met.memberSent(size * int64(n) * int64(retransmits(w.sw.cfg.RetransmitMult, n)))
}

// sideAlive counts the alive members on side.
func (w *World) sideAlive(side int32) int {
	n := 0
	for j, m := range w.members {
		if m.alive && w.nw.side[j] == side {
			n++
		}
	}
	return n
}

// pushPullWindow adds the periodic push-pulls of the window that ends now
// and lasted secs seconds (see above).
func (w *World) pushPullWindow(secs float64) {
	t1 := float64(w.eng.now) / 1e9
	t0 := t1 - secs
	type side struct {
		n       int
		started float64 // push-pulls its members started in the window
	}
	sides := map[int32]*side{}
	for j, m := range w.members {
		if m.alive {
			s := sides[w.nw.side[j]]
			if s == nil {
				s = &side{}
				sides[w.nw.side[j]] = s
			}
			s.n++
		}
	}
	for j, m := range w.members {
		if !m.alive {
			continue
		}
		s := sides[w.nw.side[j]]
		every := pushPullEvery(w.sw.cfg.PushPullInterval, s.n).Seconds()
		born := float64(m.bornAt) / 1e9
		s.started += pushPulls((t1-born)/every) - pushPulls((t0-born)/every)
	}
	var bytes float64
	for _, id := range slices.Sorted(maps.Keys(sides)) { // a fixed order: float sums
		if s := sides[id]; s.n >= 2 {
			// Each started exchange sends the state both ways.
			bytes += 2 * s.started * float64(pushPullBytes(s.n))
		}
	}
	w.met.memberSent(int64(math.Round(bytes)))
}

// pushPulls is how many push-pulls a member has started on average by
// age x intervals: its first comes after a stagger uniform in [0, 1) plus
// one interval.
func pushPulls(x float64) float64 {
	switch {
	case x <= 1:
		return 0
	case x <= 2:
		return (x - 1) * (x - 1) / 2
	default:
		return x - 1.5
	}
}
