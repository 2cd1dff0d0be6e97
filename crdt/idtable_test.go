package crdt

import (
	"testing"
	"unsafe"

	"github.com/stretchr/testify/require"
)

func sameString(a, b ReplicaID) bool {
	return len(a) == len(b) && unsafe.StringData(string(a)) == unsafe.StringData(string(b))
}

// Decoding through a table yields the table's strings, so every message
// naming a replica shares one copy; past its capacity the table stops
// growing and IDs decode as fresh strings; malformed IDs are refused
// either way.
func TestDecodeInternsReplicaIDs(t *testing.T) {
	ids := NewIDTable(2)
	a := ids.Intern(ReplicaID([]byte("did:key:a")))
	msg := &AckMsg{From: "did:key:a", Seq: 3, VV: MakeVersionVector(map[ReplicaID]uint64{"did:key:a": 2, "did:key:b": 1, "did:key:c": 4})}
	b, err := EncodeMessage(msg)
	require.NoError(t, err)

	for range 2 {
		m, err := DecodeMessageInterned(b, DefaultLimits(), ids)
		require.NoError(t, err)
		ack := m.(*AckMsg)
		require.Equal(t, msg.VV.Map(), ack.VV.Map())
		require.True(t, sameString(a, ack.From), "the sender is the interned copy")
		for id := range ack.VV.All() {
			if id == "did:key:a" {
				require.True(t, sameString(a, id))
			}
		}
	}
	require.Equal(t, 2, ids.Len(), "b was added, c did not fit")
	require.True(t, sameString(ids.Intern("did:key:b"), ids.Intern(ReplicaID([]byte("did:key:b")))))
	require.False(t, sameString(ids.Intern("did:key:c"), ids.Intern(ReplicaID([]byte("did:key:c")))))

	plain, err := DecodeMessage(b, DefaultLimits())
	require.NoError(t, err)
	require.False(t, sameString(a, plain.(*AckMsg).From), "no table: a fresh string")

	bad, err := EncodeMessage(&AckMsg{From: "did:key:a", VV: MakeVersionVector(map[ReplicaID]uint64{"with space": 1})})
	require.NoError(t, err)
	_, err = DecodeMessageInterned(bad, DefaultLimits(), ids)
	require.ErrorIs(t, err, ErrMalformed)
	require.Equal(t, 2, ids.Len(), "a refused ID is not interned")
}

// A frozen table keeps what it holds and adds nothing, so goroutines can
// decode with it at once; run under -race, the concurrent decoders here
// fail if decoding wrote to it.
func TestFrozenTableIsReadOnly(t *testing.T) {
	ids := NewIDTable(8)
	a := ids.Intern("did:key:a")
	ids.Freeze()
	b, err := EncodeMessage(&AckMsg{From: "did:key:a", Seq: 1, VV: MakeVersionVector(map[ReplicaID]uint64{"did:key:a": 2, "did:key:new": 1})})
	require.NoError(t, err)

	done := make(chan *AckMsg, 4)
	for range cap(done) {
		go func() {
			m, err := DecodeMessageInterned(b, DefaultLimits(), ids)
			if err != nil {
				done <- nil
				return
			}
			done <- m.(*AckMsg)
		}()
	}
	for range cap(done) {
		ack := <-done
		require.NotNil(t, ack)
		require.True(t, sameString(a, ack.From), "held IDs still decode as the table's copy")
		require.Equal(t, uint64(1), ack.VV.Get("did:key:new"))
	}
	require.Equal(t, 1, ids.Len(), "a frozen table adds nothing")
	require.False(t, sameString(ids.Intern("did:key:new"), ids.Intern(ReplicaID([]byte("did:key:new")))))
}
