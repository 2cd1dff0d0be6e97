package gossip

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/lattice-federation/lattice/crdt"
)

func FuzzDecodeFrame(f *testing.F) {
	r, err := crdt.NewReplica(crdt.DefaultReplicaConfig("a", crdt.NewClock(nil, 0)))
	require.NoError(f, err)
	r.SetPeers([]crdt.ReplicaID{"b"})
	_, err = r.Put("g/K/ns/n", []byte(`{"kind":"K","spec":{"x":[1,2]}}`), crdt.PutOptions{})
	require.NoError(f, err)
	d, err := r.DeltaFor("b")
	require.NoError(f, err)
	for _, m := range []crdt.Message{d, r.StartRepair("b"), r.Ack(1)} {
		b, err := EncodeFrame(m)
		require.NoError(f, err)
		f.Add(b)
	}
	f.Add([]byte{frameMagic, frameVersion})
	f.Add([]byte{frameMagic})
	lim := crdt.DefaultLimits()
	lim.MaxMessageBytes = 1 << 16
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := DecodeFrame(b, lim)
		if err != nil {
			require.ErrorIs(t, err, ErrBadFrame)
			return
		}
		// What decodes re-encodes and decodes to the same message.
		again, err := EncodeFrame(m)
		require.NoError(t, err)
		size, err := PrepareFrame(m)
		require.NoError(t, err)
		require.Equal(t, len(again), size, "PrepareFrame's length")
		m2, err := DecodeFrame(again, lim)
		require.NoError(t, err)
		require.Equal(t, m.Type(), m2.Type())
		require.Equal(t, m.Sender(), m2.Sender())
	})
}

func FuzzDecodeClaim(f *testing.F) {
	for _, c := range []Claim{
		{Replica: "m1"},
		{Replica: "member-1", Credentials: [][]byte{[]byte(`{"a":1}`), {}}},
	} {
		b, err := EncodeClaim(c)
		require.NoError(f, err)
		f.Add(b)
	}
	f.Add([]byte{0x93, 0x01, 0xa1, 'x', 0xdd, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := DecodeClaim(b)
		if err != nil {
			require.ErrorIs(t, err, ErrBadFrame)
			return
		}
		again, err := EncodeClaim(c)
		require.NoError(t, err)
		c2, err := DecodeClaim(again)
		require.NoError(t, err)
		require.Equal(t, c.Replica, c2.Replica)
		require.Len(t, c2.Credentials, len(c.Credentials))
	})
}
