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
// state by a least-squares fit over joins of up to 40 members (compressed
// as memberlist's LAN and WAN profiles do), the rest by encoding
// memberlist's own message types.
//
// What is counted, when:
//   - Probes, at each probe: the ping, the ack if the ping arrived; for an
//     indirect probe, per relay, the ping request, the relay's ping, the
//     target's ack and the relay's ack (or its nack), each if the message
//     before it arrived.
//   - Push-pull, as a rate: every member starts one every
//     pushPullScale(PushPullInterval, n) with a random member, and both
//     send their whole state of n members, so a member sends
//     2*pushPullBytes(n) per interval on average. It is added at each
//     sample for the window, with n its side's alive members: a mean, not
//     exchange by exchange (those are staggered at random), and no events,
//     so the simulation itself is unchanged by it.
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

// pushPullWindow adds the periodic push-pulls of a window of secs seconds
// (see above): each alive member sends 2*pushPullBytes(n) per
// pushPullEvery(n), n being its side's alive members.
func (w *World) pushPullWindow(secs float64) {
	sides := map[int32]int{}
	for j, m := range w.members {
		if m.alive {
			sides[w.nw.side[j]]++
		}
	}
	var bytes float64
	for _, side := range slices.Sorted(maps.Keys(sides)) { // a fixed order: float sums
		n := sides[side]
		if n < 2 {
			continue
		}
		every := pushPullEvery(w.sw.cfg.PushPullInterval, n).Seconds()
		bytes += float64(n) * 2 * float64(pushPullBytes(n)) / every * secs
	}
	w.met.memberSent(int64(math.Round(bytes)))
}
