package sim

import (
	"bytes"
	"io"
	"log"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-msgpack/v2/codec"
	"github.com/hashicorp/memberlist"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/lattice-federation/lattice/crdt"
)

// countingTransport is memberlist's mock transport, counting what its
// member sends: packets by message type (their first byte), and stream
// bytes.
type countingTransport struct {
	*memberlist.MockTransport
	packetBytes, packets [32]atomic.Int64
	stream               atomic.Int64
	streams              chan net.Conn
}

func (c *countingTransport) WriteToAddress(b []byte, a memberlist.Address) (time.Time, error) {
	if len(b) > 0 && int(b[0]) < len(c.packets) {
		c.packetBytes[b[0]].Add(int64(len(b)))
		c.packets[b[0]].Add(1)
	}
	// Deliver asynchronously, as UDP does: the mock's unbuffered handoff
	// deadlocks two members acking each other's pings.
	b = bytes.Clone(b)
	go func() { _, _ = c.MockTransport.WriteToAddress(b, a) }()
	return time.Now(), nil
}

func (c *countingTransport) WriteTo(b []byte, addr string) (time.Time, error) {
	return c.WriteToAddress(b, memberlist.Address{Addr: addr})
}

func (c *countingTransport) DialAddressTimeout(a memberlist.Address, d time.Duration) (net.Conn, error) {
	conn, err := c.MockTransport.DialAddressTimeout(a, d)
	if err != nil {
		return nil, err
	}
	return &countingConn{Conn: conn, n: &c.stream}, nil
}

func (c *countingTransport) DialTimeout(addr string, d time.Duration) (net.Conn, error) {
	return c.DialAddressTimeout(memberlist.Address{Addr: addr}, d)
}

func (c *countingTransport) StreamCh() <-chan net.Conn { return c.streams }

// FinalAdvertiseAddr gives the 4-byte form of the mock's IPv4 address, as
// production's transport does (its QUIC listener's address).
func (c *countingTransport) FinalAdvertiseAddr(ip string, port int) (net.IP, int, error) {
	a, p, err := c.MockTransport.FinalAdvertiseAddr(ip, port)
	if v4 := a.To4(); v4 != nil {
		a = v4
	}
	return a, p, err
}

type countingConn struct {
	net.Conn
	n *atomic.Int64
}

func (c *countingConn) Write(b []byte) (int, error) {
	c.n.Add(int64(len(b)))
	return c.Conn.Write(b)
}

// didDelegate publishes the member's DID as its node metadata, as
// gossip/node.go's delegate does.
type didDelegate struct{ meta []byte }

func (d *didDelegate) NodeMeta(int) []byte                 { return d.meta }
func (d *didDelegate) NotifyMsg([]byte)                    {}
func (d *didDelegate) GetBroadcasts(int, int) [][]byte     { return nil }
func (d *didDelegate) LocalState(bool) []byte              { return nil }
func (d *didDelegate) MergeRemoteState(buf []byte, _ bool) {}

// testDID returns a did:key-shaped name of production's length (56), of
// random base58: DIDs do not compress, and push-pull states are.
func testDID(i int) string {
	const b58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
	b := []byte("did:key:z6Mk")
	x := uint64(i)*0x9e3779b97f4a7c15 + 1
	for range 44 {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		b = append(b, b58[x%58])
	}
	return string(b)
}

// Mirrors of memberlist's message types (net.go): the same fields and
// names, so the same encoding.
type (
	mlPing struct {
		SeqNo      uint32
		Node       string
		SourceAddr []byte `codec:",omitempty"`
		SourcePort uint16 `codec:",omitempty"`
		SourceNode string `codec:",omitempty"`
	}
	mlIndirectPingReq struct {
		SeqNo      uint32
		Target     []byte
		Port       uint16
		Node       string
		Nack       bool
		SourceAddr []byte `codec:",omitempty"`
		SourcePort uint16 `codec:",omitempty"`
		SourceNode string `codec:",omitempty"`
	}
	mlNackResp struct{ SeqNo uint32 }
	mlAckResp  struct {
		SeqNo   uint32
		Payload []byte
	}
	mlSuspect struct {
		Incarnation uint32
		Node        string
		From        string
	}
	mlAlive struct {
		Incarnation uint32
		Node        string
		Addr        []byte
		Port        uint16
		Meta        []byte
		Vsn         []uint8
	}
)

// mlEncode is memberlist's encode: a type byte, then the msgpack map.
func mlEncode(t *testing.T, msgType byte, v any) int {
	t.Helper()
	var buf bytes.Buffer
	buf.WriteByte(msgType)
	require.NoError(t, codec.NewEncoder(&buf, &codec.MsgpackHandle{}).Encode(v))
	return buf.Len()
}

// TestMembershipSizesMatchMemberlist checks the membership traffic model's
// message sizes against memberlist. The model's sizes are encodings of
// memberlist's message types (mirrored: same fields, same codec) with
// production's values: did:key names and metadata, IPv4 addresses in
// their 4-byte form (production advertises its QUIC listener's address),
// port 7946, sequence numbers past 65,535. The mirrors are checked against a
// live memberlist cluster's own pings and acks given the cluster's values,
// and the push-pull state against its joins.
func TestMembershipSizesMatchMemberlist(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a memberlist cluster for seconds")
	}
	var mn memberlist.MockNetwork
	var lists []*memberlist.Memberlist
	var trs []*countingTransport
	t.Cleanup(func() {
		for _, l := range lists {
			_ = l.Shutdown()
		}
	})
	add := func(i int) {
		name := testDID(i)
		mt := mn.NewTransport(name)
		ct := &countingTransport{MockTransport: mt, streams: make(chan net.Conn)}
		go func() {
			for c := range mt.StreamCh() {
				ct.streams <- &countingConn{Conn: c, n: &ct.stream}
			}
		}()
		cfg := memberlist.DefaultLANConfig()
		cfg.Name = name
		cfg.Transport = ct
		cfg.Delegate = &didDelegate{meta: []byte(name)}
		cfg.Logger = log.New(io.Discard, "", 0)
		// Sizes do not depend on timing: probe often, never push-pull on
		// a timer (joins do theirs).
		cfg.ProbeInterval = 200 * time.Millisecond
		cfg.PushPullInterval = time.Hour
		ml, err := memberlist.Create(cfg)
		require.NoError(t, err)
		lists, trs = append(lists, ml), append(trs, ct)
	}
	// Push-pull: each joiner pulls the founder's state of the members it
	// knows at that moment.
	add(0)
	var xs, ys []float64
	for n := 1; n <= 32; n++ {
		add(n)
		known := lists[0].NumMembers()
		before := trs[0].stream.Load()
		_, err := lists[n].Join([]string{lists[0].LocalNode().Address()})
		require.NoError(t, err)
		if known >= 4 {
			xs, ys = append(xs, float64(known)), append(ys, float64(trs[0].stream.Load()-before))
		}
	}
	slope, icept := leastSquares(xs, ys)
	t.Logf("push-pull state measured: %.1f + %.1f per member", icept, slope)
	// Production's port (7946) takes 2 bytes more per member than the
	// mock's; the fit is within 5 % of the model either way.
	assert.InEpsilon(t, float64(mlPushPullPerMember), slope, 0.05, "push-pull bytes per member")
	// The fixed part is a member or two's worth, and noisy: whether the
	// founder has merged the previous joiner when it answers.
	assert.InEpsilon(t, float64(mlPushPullBase), icept, 0.5, "push-pull fixed bytes")

	// Probes, once the joins' broadcasts have drained.
	time.Sleep(2 * time.Second)
	for _, tr := range trs {
		for k := range tr.packets {
			tr.packets[k].Store(0)
			tr.packetBytes[k].Store(0)
		}
	}
	time.Sleep(3 * time.Second)
	var n, b [32]int64
	for _, tr := range trs {
		for k := range tr.packets {
			n[k] += tr.packets[k].Load()
			b[k] += tr.packetBytes[k].Load()
		}
	}
	const pingMsg, ackRespMsg = 0, 2
	require.Greater(t, n[pingMsg], int64(50), "the cluster probed")
	require.Greater(t, n[ackRespMsg], int64(50), "the cluster acked")
	// The mock's values: small sequence numbers and ports.
	mockIP := net.ParseIP("127.0.0.1").To4()
	a, c := testDID(1), testDID(2)
	assert.Equal(t, int(b[pingMsg]/n[pingMsg]), mlEncode(t, 0, mlPing{SeqNo: 9, Node: a, SourceAddr: mockIP, SourcePort: 9, SourceNode: c}),
		"the mirror encodes a ping as memberlist does")
	assert.Equal(t, int(b[ackRespMsg]/n[ackRespMsg]), mlEncode(t, 2, mlAckResp{SeqNo: 9, Payload: []byte{}}),
		"the mirror encodes an ack as memberlist does")

	// The model: production's values.
	ip := net.ParseIP("10.0.0.1").To4()
	const seq, port = 1 << 20, 7946
	assert.Equal(t, mlPingBytes, mlEncode(t, 0, mlPing{SeqNo: seq, Node: a, SourceAddr: ip, SourcePort: port, SourceNode: c}))
	assert.Equal(t, mlAckBytes, mlEncode(t, 2, mlAckResp{SeqNo: seq, Payload: []byte{}}))
	assert.Equal(t, mlIndirectPingBytes, mlEncode(t, 1, mlIndirectPingReq{SeqNo: seq, Target: ip, Port: port, Node: a, Nack: true,
		SourceAddr: ip, SourcePort: port, SourceNode: c}))
	assert.Equal(t, mlNackBytes, mlEncode(t, 11, mlNackResp{SeqNo: seq}))
	assert.Equal(t, mlSuspectBytes, mlEncode(t, 3, mlSuspect{Incarnation: 1, Node: a, From: c}))
	assert.Equal(t, mlAliveBytes, mlEncode(t, 4, mlAlive{Incarnation: 1, Node: a, Addr: ip, Port: port, Meta: []byte(a), Vsn: []uint8{1, 5, 2, 0, 0, 0}}))
	assert.Equal(t, mlDeadBytes, mlEncode(t, 5, mlSuspect{Incarnation: 1, Node: a, From: c}), "dead has suspect's fields")
}

func leastSquares(xs, ys []float64) (slope, intercept float64) {
	var mx, my float64
	for i := range xs {
		mx += xs[i]
		my += ys[i]
	}
	mx /= float64(len(xs))
	my /= float64(len(ys))
	var sxy, sxx float64
	for i := range xs {
		sxy += (xs[i] - mx) * (ys[i] - my)
		sxx += (xs[i] - mx) * (xs[i] - mx)
	}
	slope = sxy / sxx
	return slope, my - slope*mx
}

func TestPushPullScalesAsMemberlist(t *testing.T) {
	for _, tc := range []struct {
		n    int
		want time.Duration
	}{{2, 30 * time.Second}, {32, 30 * time.Second}, {33, 60 * time.Second}, {64, 60 * time.Second},
		{1000, 180 * time.Second}, {10000, 300 * time.Second}} {
		assert.Equal(t, tc.want, pushPullEvery(30*time.Second, tc.n), "n=%d", tc.n)
	}
	assert.Equal(t, 4*2, retransmits(4, 10))
	assert.Equal(t, 4*5, retransmits(4, 10000))
}

// A quiet federation's membership traffic is what the model says a member
// sends: a ping and an ack a second, and its push-pulls at memberlist's
// scaled interval (60 s at 50 members) after memberlist's first-interval
// delay; with a crash, the indirect probes and the suspect and dead
// broadcasts come on top.
func TestMembershipTrafficInSummary(t *testing.T) {
	const n = 50
	sc := scenario(t, "steady", n, 300*time.Second)
	sc.Workload.WritesPerSecond = 0.001 // no anti-entropy pushes to speak of
	w, err := NewWorld(sc)
	require.NoError(t, err)
	probes := float64(mlPingBytes+mlAckBytes) / w.sw.cfg.ProbeInterval.Seconds()
	state := float64(pushPullBytes(n))
	require.Equal(t, 60*time.Second, pushPullEvery(w.sw.cfg.PushPullInterval, n))
	series := func() []Sample { return w.Series() }

	// The first minute: no push-pull yet, probes only.
	w.RunUntil(60 * time.Second)
	for _, smp := range series() {
		assert.InDelta(t, probes, smp.MembershipBytesPerMemberPerSecond, 2, "at %.0f s: probes only", smp.TimeSeconds)
	}
	// By two minutes each member has started half a push-pull on average
	// (its first comes a uniform stagger plus one interval after start);
	// by five, 3.5. Each sends the state both ways.
	w.RunUntil(120 * time.Second)
	s := w.Summary()
	assert.InEpsilon(t, probes+2*0.5*state/120, s.MembershipBytesPerMemberPerSecond, 0.02, "two minutes")
	w.RunUntil(300 * time.Second)
	s = w.Summary()
	assert.InEpsilon(t, probes+2*3.5*state/300, s.MembershipBytesPerMemberPerSecond, 0.02, "five minutes")
	last := series()[len(series())-1]
	assert.InEpsilon(t, probes+2*state/60, last.MembershipBytesPerMemberPerSecond, 0.02, "steady: one push-pull per member per interval")
	assert.InDelta(t, s.AntiEntropyBytesPerMemberPerSecond+s.MembershipBytesPerMemberPerSecond, s.BytesPerMemberPerSecond, 1e-9)
	assert.Positive(t, s.AntiEntropyBytesPerMemberPerSecond)
	want := s.MembershipBytesPerMemberPerSecond

	// A crashed member: probes of it fail, go indirect and end in a
	// suspicion, then a death, each broadcast to the others.
	sc = scenario(t, "steady", n, 300*time.Second)
	sc.Workload.WritesPerSecond = 0.001
	crash, err := ParseScenario([]byte("name: x\nmembers: 50\nduration: 300s\nevents:\n  - {at: 10s, crash: {members: [7]}}\n"))
	require.NoError(t, err)
	sc.Events = crash.Events
	w, err = NewWorld(sc)
	require.NoError(t, err)
	w.RunUntil(300 * time.Second)
	require.Equal(t, 1, w.Summary().DeathsDetected)
	t.Logf("quiet %.2f B/s, with a crash %.2f B/s", want, w.Summary().MembershipBytesPerMemberPerSecond)
	assert.Greater(t, w.Summary().MembershipBytesPerMemberPerSecond, want, "failure traffic comes on top")
}

// Simulated members are named as production's are: 56-character did:key
// DIDs, distinct, sorting as the members do, and valid replica IDs.
func TestMemberIDsAreDIDsOfProductionLength(t *testing.T) {
	prev := crdt.ReplicaID("")
	for _, i := range []int32{0, 1, 57, 58, 59, 1000, 9999, 10000, 195111, 1 << 24} {
		id := memberID(i)
		require.Len(t, string(id), didLen)
		require.True(t, strings.HasPrefix(string(id), "did:key:z6Mk"))
		require.NoError(t, crdt.ValidateReplicaID(id))
		require.Greater(t, id, prev, "member %d", i)
		prev = id
	}
	seen := map[crdt.ReplicaID]bool{}
	for i := range int32(20000) {
		id := memberID(i)
		require.False(t, seen[id], "member %d's ID repeats", i)
		seen[id] = true
	}
}
