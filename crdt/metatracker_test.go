package crdt

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// The tracker writes when a batch changes a document or the buffer, or
// when the metadata differs from the last written; nothing else.
func TestMetaTrackerRule(t *testing.T) {
	ctx := NewContext()
	var tr MetaTracker
	cases := []struct {
		name  string
		meta  Meta
		dirty bool
		want  bool
	}{
		{"first batch", Meta{Seq: 1, Context: ctx}, false, true},
		{"same metadata", Meta{Seq: 1, Context: ctx}, false, false},
		{"same metadata, a document", Meta{Seq: 1, Context: ctx}, true, true},
		{"sequence moved", Meta{Seq: 2, Context: ctx}, false, true},
		{"acks moved", Meta{Seq: 2, Context: ctx, Acks: map[ReplicaID]uint64{"b": 3}}, false, true},
		{"unchanged again", Meta{Seq: 2, Context: ctx, Acks: map[ReplicaID]uint64{"b": 3}}, false, false},
	}
	for _, c := range cases {
		_, need, err := tr.Record(c.meta, c.dirty)
		require.NoError(t, err, c.name)
		require.Equal(t, c.want, need, c.name)
	}
}

// Driven by a replica: a new delta needs a write at its receiver, the
// same delta again does not, exactly as the store commits them
// (TestStoreObservesCommits).
func TestMetaTrackerFollowsAReplica(t *testing.T) {
	tn := newTestNet(t, 13, 2, nil)
	a, b := tn.reps[0], tn.reps[1]
	var tr MetaTracker
	need, err := tr.Batch(b.Meta())
	require.NoError(t, err)
	require.True(t, need, "nothing written yet")

	_, err = a.Put(testKeys[0], []byte(`{"a":1}`), PutOptions{})
	require.NoError(t, err)
	m, err := a.DeltaFor(b.ID())
	require.NoError(t, err)
	u, _, err := b.Step(m)
	require.NoError(t, err)
	need, err = tr.Batch(b.Meta(), u)
	require.NoError(t, err)
	require.True(t, need, "a new delta")

	u, _, err = b.Step(m)
	require.NoError(t, err)
	need, err = tr.Batch(b.Meta(), u)
	require.NoError(t, err)
	require.False(t, need, "a duplicate changes nothing kept")
}
