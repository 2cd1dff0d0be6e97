package crdt

import "fmt"

// MetaTracker is the rule by which a Store decides whether a batch needs
// a synced write: it does when it changes something the store keeps (a
// document, the delta buffer) or when the replica's encoded metadata
// differs from the last metadata written. A batch that does neither (a
// duplicate delta, say) commits nothing. The Store persists by this rule,
// and the simulator uses it to charge a durable write only where a store
// would make one.
type MetaTracker struct {
	last []byte // the metadata record last written
}

// Restore records rec, a metadata record read back from disk, as the last
// written.
func (t *MetaTracker) Restore(rec []byte) { t.last = rec }

// Record returns meta's record and whether a batch with dirty set (it
// writes a document or buffer entry) needs a synced write; when it does,
// the record becomes the last written. A caller that then fails to write
// must not use the tracker again.
func (t *MetaTracker) Record(meta Meta, dirty bool) ([]byte, bool, error) {
	rec, err := encodeMeta(meta)
	if err != nil {
		return nil, false, fmt.Errorf("encode meta: %w", err)
	}
	if !dirty && string(rec) == string(t.last) {
		return rec, false, nil
	}
	t.last = rec
	return rec, true, nil
}

// Batch reports whether a batch of updates with meta needs a synced write
// (Record, with a batch dirty when any update is non-empty).
func (t *MetaTracker) Batch(meta Meta, updates ...Update) (bool, error) {
	dirty := false
	for i := range updates {
		dirty = dirty || !updates[i].Empty()
	}
	_, need, err := t.Record(meta, dirty)
	return need, err
}
