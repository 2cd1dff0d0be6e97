package crdt

import (
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestPrepareEncodeIsExact: PrepareEncode's length is EncodeMessage's, for
// every message type and across every msgpack length boundary (fixint,
// fixstr, fixarray and their 8-, 16- and 32-bit forms).
func TestPrepareEncodeIsExact(t *testing.T) {
	id := func(n int) ReplicaID { return ReplicaID(strings.Repeat("r", n)) }
	bigVV := func(n int) VersionVector {
		vv := make(map[ReplicaID]uint64, n)
		for i := range n {
			vv[ReplicaID("w"+strconv.Itoa(i))] = uint64(i)
		}
		return MakeVersionVector(vv)
	}
	uints := []uint64{0, 0x7f, 0x80, 0xff, 0x100, 0xffff, 0x10000, 0xffffffff, 0x100000000, 1<<64 - 1}
	cases := map[string]Message{}
	for i, m := range fzSeedMessages(t) {
		cases["seed "+strconv.Itoa(i)+" "+m.Type().String()] = m
	}
	for _, l := range []int{0, 31, 32, 255, 256, 0xffff, 0x10000} {
		cases["id of "+strconv.Itoa(l)] = &AckMsg{From: id(l), VV: MakeVersionVector(map[ReplicaID]uint64{id(l): 1})}
	}
	for _, v := range uints {
		s := strconv.FormatUint(v, 10)
		cases["seq "+s] = &DeltaMsg{From: "a", Seq: v, Dots: []Dot{{"b", v}}}
		cases["clock "+s] = &AckMsg{From: "a", Clock: Timestamp(v), VV: MakeVersionVector(map[ReplicaID]uint64{"a": v})}
		cases["session "+s] = &KeysMsg{From: "a", Session: v, Seq: v, AckSeq: v, Clock: Timestamp(v),
			Buckets: []uint32{uint32(v)}, Context: NewContext()}
		ctx := NewContext()
		ctx.addRange("c", dotRange{v | 2, v | 3})
		cases["cloud "+s] = &DigestMsg{From: "a", Session: v, Context: ctx}
	}
	for _, n := range []int{15, 16, 0xffff, 0x10000} {
		s := strconv.Itoa(n)
		cases["vv of "+s] = &AckMsg{From: "a", VV: bigVV(n)}
		cases["context of "+s] = &RepairMsg{From: "a", Context: &Context{VV: bigVV(n)}}
		cases["buckets "+s] = &DigestMsg{From: "a", Buckets: make([]Hash, n)}
		cases["keys "+s] = &KeysMsg{From: "a", Keys: make([]KeyHash, n), Buckets: make([]uint32, n)}
		cases["want "+s] = &RepairMsg{From: "a", Want: make([]Key, n)}
		cases["dots "+s] = &DeltaMsg{From: "a", Dots: make([]Dot, n)}
		cases["nil docs "+s] = &RepairMsg{From: "a", Docs: make([]KeyedDoc, n)}
	}
	for name, m := range cases {
		t.Run(name, func(t *testing.T) {
			size, err := PrepareEncode(m)
			require.NoError(t, err)
			b, err := EncodeMessage(m)
			require.NoError(t, err)
			require.Equal(t, len(b), size)
			// Appended after a prefix into exactly that room: the same
			// bytes, in dst's own array.
			dst := append(make([]byte, 0, 2+size), 0xc1, 0x01)
			out, err := AppendMessage(dst, m)
			require.NoError(t, err)
			require.Equal(t, append([]byte{0xc1, 0x01}, b...), out)
			require.Same(t, &dst[:1][0], &out[0], "AppendMessage grew a buffer that had room")
		})
	}
}

// TestPrepareEncodeDetachesDocuments: once prepared, a message encodes the
// same bytes however its replica changes the documents it shares, which is
// what lets the simulator encode it later on another goroutine.
func TestPrepareEncodeDetachesDocuments(t *testing.T) {
	b := fzBuild(t).set(`{"spec":{"replicas":1}}`, fzStamp(1, "a", 1))
	m := &RepairMsg{From: "a", Final: true, Docs: []KeyedDoc{{Key: fzKeys[0], Doc: b.doc}}}
	want, err := EncodeMessage(m)
	require.NoError(t, err)
	size, err := PrepareEncode(m)
	require.NoError(t, err)
	require.Equal(t, len(want), size)

	b.set(`{"spec":{"replicas":2,"paused":true}}`, fzStamp(2, "a", 2))
	changed, err := EncodeMessage(&RepairMsg{From: "a", Final: true, Docs: []KeyedDoc{{Key: fzKeys[0], Doc: b.doc}}})
	require.NoError(t, err)
	require.NotEqual(t, want, changed, "the test must change the document's encoding")
	got, err := EncodeMessage(m)
	require.NoError(t, err)
	require.Equal(t, want, got, "a prepared message's document changed with its replica's")
}

func TestPrepareEncodeRejectsUnknownType(t *testing.T) {
	_, err := PrepareEncode(nil)
	require.ErrorContains(t, err, "unknown type")
}

// TestDecodedDocumentCachesItsStamps: a decoded document lists its
// distinct stamps, the cached answers agree with a walk of its nodes, and
// any change to the document drops the list.
func TestDecodedDocumentCachesItsStamps(t *testing.T) {
	for i, want := range fzSeedDocuments(t) {
		raw, err := want.MarshalBinary()
		require.NoError(t, err)
		d, err := UnmarshalDocument(raw, DefaultLimits())
		require.NoError(t, err)
		require.True(t, d.stampsOK, "document %d", i)
		var walked []Stamp
		d.walkStamps(func(s Stamp) {
			if !slices.Contains(walked, s) {
				walked = append(walked, s)
			}
		})
		require.ElementsMatch(t, walked, d.stamps, "document %d", i)
		require.Equal(t, want.maxStamp(), d.maxStamp(), "document %d", i)
		// A context holding all but one of the stamps does not cover it.
		for skip := range d.stamps {
			ctx := NewContext()
			for j, s := range d.stamps {
				if j != skip && s.Dot() != d.stamps[skip].Dot() {
					ctx.Add(s.Dot())
				}
			}
			require.False(t, d.coveredBy(ctx), "document %d without stamp %d", i, skip)
			ctx.Add(d.stamps[skip].Dot())
			require.True(t, d.coveredBy(ctx), "document %d", i)
		}
		d.merge(fzBuild(t).set(`{"zz":1}`, fzStamp(5000, "z", 9)).doc, nil)
		require.False(t, d.stampsOK, "document %d: a merge kept the stamp cache", i)
		require.Equal(t, Stamp{Time: MakeTimestamp(5000, 0), Writer: "z", Seq: 9}, d.maxStamp())
	}
}
