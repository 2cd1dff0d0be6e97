package crdt

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Fuzz targets for every decoder that reads bytes from a peer, a client or
// the disk. Each is seeded with real encodings produced by the code plus a
// few malformed byte strings; run one with e.g.
//
//	go test -run '^$' -fuzz '^FuzzDecodeMessage$' -fuzztime 20s -fuzzminimizetime 2s ./crdt/
//
// (the default minimization budget of 60s per new interesting input can
// stall short runs). Inputs that once failed live in testdata/fuzz and run
// with every go test.

// fuzzLimits are small so that fuzzing reaches every limit check quickly.
func fuzzLimits() Limits {
	return Limits{
		MaxObjectBytes:    2048,
		MaxDocumentBytes:  4096,
		MaxDepth:          8,
		MaxMessageBytes:   16384,
		MaxDocsPerMessage: 8,
		MaxDotsPerMessage: 32,
		MaxDigestBuckets:  16,
	}
}

// fzStamp builds a stamp at physical time ms.
func fzStamp(ms int64, w ReplicaID, seq uint64) Stamp {
	return Stamp{Time: MakeTimestamp(ms, 0), Writer: w, Seq: seq}
}

// fzObject parses a JSON object literal the way Put does.
func fzObject(tb testing.TB, js string) map[string]any {
	tb.Helper()
	obj, err := decodeObject([]byte(js), DefaultLimits())
	require.NoError(tb, err, "seed object %s", js)
	return obj
}

// fzBuilder applies local operations to a document and keeps every delta.
type fzBuilder struct {
	tb     testing.TB
	doc    *Document
	deltas []*Document
}

func fzBuild(tb testing.TB) *fzBuilder { return &fzBuilder{tb: tb, doc: NewDocument()} }

func (b *fzBuilder) set(js string, s Stamp) *fzBuilder {
	delta := NewDocument()
	b.doc.setObject(fzObject(b.tb, js), s, delta)
	b.deltas = append(b.deltas, delta)
	return b
}

func (b *fzBuilder) del(s Stamp) *fzBuilder {
	delta := NewDocument()
	b.doc.deleteObject(s, delta)
	b.deltas = append(b.deltas, delta)
	return b
}

func (b *fzBuilder) bump(s Stamp) *fzBuilder {
	delta := NewDocument()
	b.doc.bumpGeneration(s, delta)
	b.deltas = append(b.deltas, delta)
	return b
}

func (b *fzBuilder) merge(o *Document) *fzBuilder {
	b.doc.merge(o, nil)
	return b
}

// fzSeedDocuments returns documents covering every node kind, tombstones,
// generation entries and several writers, followed by the deltas that
// built them (deltas are documents too, and travel on the wire).
func fzSeedDocuments(tb testing.TB) []*Document {
	tb.Helper()
	var docs, deltas []*Document
	add := func(b *fzBuilder) {
		docs = append(docs, b.doc)
		deltas = append(deltas, b.deltas...)
	}
	// Scalars of every JSON type, then a generation bump.
	add(fzBuild(tb).
		set(`{"s":"x","n":-1.5e3,"i":42,"t":true,"f":false,"z":null}`, fzStamp(1000, "a", 1)).
		bump(fzStamp(1000, "a", 1)))
	// Nested maps and lists, an empty map and an empty list.
	add(fzBuild(tb).set(`{"metadata":{"name":"web","labels":{"app":"web","tier":"fe"}},`+
		`"spec":{"replicas":3,"ports":[80,443],"tmpl":[{"x":1},[],"y"],"empty":{},"none":[]}}`,
		fzStamp(1000, "a", 1)))
	// Field tombstones from a second writer, generation from both.
	add(fzBuild(tb).
		set(`{"a":1,"b":{"c":2,"d":3},"e":[1]}`, fzStamp(1000, "a", 1)).
		bump(fzStamp(1000, "a", 1)).
		set(`{"a":2,"b":{"c":2}}`, fzStamp(1001, "b", 1)).
		bump(fzStamp(1001, "b", 1)))
	// Object tombstone.
	add(fzBuild(tb).
		set(`{"a":1}`, fzStamp(1000, "a", 1)).
		del(fzStamp(1002, "a", 2)))
	// Deleted, then recreated.
	add(fzBuild(tb).
		set(`{"a":1,"b":2}`, fzStamp(1000, "a", 1)).
		del(fzStamp(1001, "b", 1)).
		set(`{"b":3}`, fzStamp(1002, "c", 1)))
	// Deleted while a newer concurrent edit was made: tombstone register
	// under a newer child.
	base := fzBuild(tb).set(`{"a":1,"b":{"c":2}}`, fzStamp(1000, "a", 1))
	edit := &fzBuilder{tb: tb, doc: base.doc.Clone()}
	edit.set(`{"a":1,"b":{"c":3}}`, fzStamp(1002, "c", 1))
	add(base.del(fzStamp(1001, "b", 1)).merge(edit.deltas[0]))
	// Empty object.
	add(fzBuild(tb).set(`{}`, fzStamp(5, "a", 1)))
	// Scalar replaced by a map and back, with unicode keys and escapes.
	add(fzBuild(tb).
		set(`{"k":"v","ü":"ß","q\"\\":"\u0001\n<>&","\u2028":"日本"}`, fzStamp(1000, "did:key:z6Mk", 1)).
		set(`{"k":{"x":1},"ü":"ß"}`, fzStamp(2000, "did:key:z6Mk", 2)).
		set(`{"k":[1,{"y":2}],"ü":"ß"}`, fzStamp(3000, "did:key:z6Mk", 3)))
	// Concurrent edits of two replicas merged, then edited again; and
	// concurrent creations, of which the newer wins.
	created := fzBuild(tb).set(`{"spec":{}}`, fzStamp(1000, "a", 1))
	left := &fzBuilder{tb: tb, doc: created.doc.Clone()}
	left.set(`{"spec":{"a":1},"x":1}`, fzStamp(1001, "a", 2))
	right := &fzBuilder{tb: tb, doc: created.doc.Clone()}
	right.set(`{"spec":{"b":2},"y":2}`, fzStamp(1001, "b", 1))
	add(left.merge(right.doc).set(`{"spec":{"a":1,"b":3},"x":1,"y":2}`, fzStamp(1005, "a", 3)))
	add(fzBuild(tb).set(`{"x":1}`, fzStamp(1000, "a", 1)).merge(fzBuild(tb).set(`{"y":1}`, fzStamp(1000, "b", 1)).doc))
	// Several logical ticks at the same physical time.
	d := NewDocument()
	for i := uint16(0); i < 3; i++ {
		delta := NewDocument()
		s := Stamp{Time: MakeTimestamp(1000, i), Writer: "a", Seq: uint64(i) + 1}
		d.setObject(fzObject(tb, `{"c":`+string(rune('0'+i))+`}`), s, delta)
		deltas = append(deltas, delta)
	}
	docs = append(docs, d, NewDocument())
	return append(docs, deltas...)
}

func fzMarshal(tb testing.TB, d *Document) []byte {
	tb.Helper()
	b, err := d.MarshalBinary()
	require.NoError(tb, err)
	return b
}

// fzContext is a causal context with a version vector and a cloud.
func fzContext() *Context {
	c := NewContext()
	for _, d := range []Dot{{"a", 1}, {"a", 2}, {"b", 5}, {"b", 7}, {"c", 1}} {
		c.Add(d)
	}
	return c
}

var fzKeys = []Key{
	"apps/Deployment/default/web",
	"/ConfigMap/kube-system/cm",
	"/Namespace//prod",
}

// fzSeedMessages returns one or more messages of every type.
func fzSeedMessages(tb testing.TB) []Message {
	tb.Helper()
	docs := fzSeedDocuments(tb)
	ts := MakeTimestamp(1_700_000_000_000, 3)
	raw := fzMarshal(tb, docs[2])
	buckets := func(n int) []Hash {
		out := make([]Hash, n)
		for i := range out {
			out[i][0], out[i][15] = byte(i), byte(0xf0|i)
		}
		return out
	}
	return []Message{
		&DeltaMsg{From: "a", Seq: 7, Dots: []Dot{{"a", 1}, {"a", 2}, {"b", 9}}, Docs: []KeyedDoc{
			{Key: fzKeys[0], Doc: docs[0]},
			{Key: fzKeys[1], Doc: docs[2], raw: raw},
			{Key: fzKeys[2]},
		}},
		&DeltaMsg{From: "b", Seq: 1, Dots: []Dot{{"b", 1}}, Docs: []KeyedDoc{{Key: fzKeys[0], Doc: docs[len(docs)-1]}}},
		&DeltaMsg{From: "b"},
		&AckMsg{From: "b", Seq: 7, VV: MakeVersionVector(map[ReplicaID]uint64{"a": 2, "b": 9, "c": 0}), Clock: ts},
		&AckMsg{From: "a"},
		&DigestMsg{From: "a", Session: 11, Seq: 3, Clock: ts, Context: fzContext(), Depth: 0, Buckets: buckets(1)},
		&DigestMsg{From: "a", Session: 11, Seq: 3, Clock: ts, Depth: 2, Buckets: buckets(4)},
		&KeysMsg{From: "b", Session: 11, Seq: 4, AckSeq: 3, Clock: ts, Context: fzContext(), InSync: true},
		&KeysMsg{From: "b", Session: 11, Seq: 4, AckSeq: 3, Clock: ts, Context: NewContext(), Depth: 2,
			Buckets: []uint32{1, 3}, Keys: []KeyHash{{fzKeys[0], buckets(2)[1]}, {fzKeys[1], buckets(3)[2]}}},
		&RepairMsg{From: "a", Session: 12, Seq: 5, Context: fzContext(), Want: []Key{fzKeys[0], fzKeys[2]}},
		&RepairMsg{From: "b", Session: 1 << 40, Seq: 6, AckSeq: 5, Final: true, Docs: []KeyedDoc{
			{Key: fzKeys[0], Doc: docs[1]},
			{Key: fzKeys[1]},
			{Key: fzKeys[2], Doc: docs[3]},
		}},
		&RepairMsg{From: "b", Session: 1 << 40, Seq: 6, AckSeq: 5, Final: true, Context: fzContext()},
	}
}

// fzMalformed are byte strings no decoder should accept (or choke on).
var fzMalformed = [][]byte{
	nil,
	{0xc0},
	{0x90},
	{0x95, 0x01, 0x90, 0x90, 0x90, 0x91, 0x00, 0x00},
	{0x96, 0x01, 0x01, 0xa1, 'a', 0x01, 0x90},
	{0xdd, 0xff, 0xff, 0xff, 0xff},
	{0xdf, 0xff, 0xff, 0xff, 0xff},
	{0x93, 0x01, 0x01, 0xdb, 0xff, 0xff, 0xff, 0xff},
	{0x01, 0x00, 0x00, 0x00, 0x00},
	[]byte("\x01\xde\xad\xbe\xef\x95\x01\x90\x90\x90\x91\x00"),
	[]byte(`{"a":1}`),
}

func FuzzDecodeMessage(f *testing.F) {
	for _, m := range fzSeedMessages(f) {
		b, err := EncodeMessage(m)
		require.NoError(f, err)
		f.Add(b)
		f.Add(b[:len(b)/2])
	}
	for _, b := range fzMalformed {
		f.Add(b)
	}
	lim := fuzzLimits()
	ids := NewIDTable(4) // small: both the interned and the overflow paths run
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := DecodeMessage(b, lim)
		mi, erri := DecodeMessageInterned(b, lim, ids)
		require.Equal(t, err == nil, erri == nil, "interning changed whether %x decodes: %v / %v", b, err, erri)
		require.LessOrEqual(t, ids.Len(), 4)
		if err != nil {
			require.ErrorIs(t, err, ErrMalformed)
			require.ErrorIs(t, erri, ErrMalformed)
			return
		}
		enc, err := EncodeMessage(m)
		require.NoError(t, err, "re-encoding a decoded %s message", m.Type())
		size, err := PrepareEncode(mi)
		require.NoError(t, err)
		require.Equal(t, len(enc), size, "PrepareEncode's length of a decoded %s message", m.Type())
		enci, err := EncodeMessage(mi)
		require.NoError(t, err)
		require.Equal(t, enc, enci, "interning changed the decoded message")
		m2, err := DecodeMessage(enc, lim)
		require.NoError(t, err, "decoding a re-encoded %s message", m.Type())
		enc2, err := EncodeMessage(m2)
		require.NoError(t, err)
		require.Equal(t, enc, enc2, "%s message does not round-trip canonically", m.Type())
	})
}

// fzCheckDocument checks the invariants of a successfully decoded document.
func fzCheckDocument(t *testing.T, d *Document, lim Limits) {
	enc, err := d.MarshalBinary()
	require.NoError(t, err)
	// Decoding yields normal form, whether the input was normal or had to
	// be normalised: merging the result into an empty document changes
	// nothing.
	normalized := &Document{}
	normalized.merge(d, nil)
	again, err := normalized.MarshalBinary()
	require.NoError(t, err)
	require.Equal(t, enc, again, "a decoded document is not in normal form")
	d2, err := UnmarshalDocument(enc, lim)
	require.NoError(t, err, "decoding a re-encoded document")
	enc2, err := d2.MarshalBinary()
	require.NoError(t, err)
	require.Equal(t, enc, enc2, "document does not round-trip canonically")

	// JSON() is the object as canonical JSON, as its doc comment promises.
	js := d.JSON()
	require.Equal(t, d.Exists(), js != nil)
	if js != nil {
		require.True(t, json.Valid(js), "JSON() is not valid JSON: %q", js)
		require.Equal(t, byte('{'), js[0], "JSON() is not an object: %q", js)
		require.Equal(t, string(js), string(fzCanonical(t, js)), "JSON() is not canonical")
	}

	// Idempotence: merging an identical copy, or the document itself.
	self := d.Clone()
	require.False(t, self.merge(d, nil), "merging a document into its copy changed it")
	require.Equal(t, enc, fzMarshal(t, self))
	require.False(t, self.merge(self, nil), "merging a document into itself changed it")
	require.Equal(t, enc, fzMarshal(t, self))

	// Merging into the empty document yields the document.
	empty := NewDocument()
	require.Equal(t, !d.IsEmpty(), empty.merge(d, nil))
	require.True(t, empty.Equal(d), "merge into empty document differs")
}

// fzCanonical re-encodes valid JSON text canonically.
func fzCanonical(t *testing.T, js []byte) []byte {
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.UseNumber()
	var v any
	require.NoError(t, dec.Decode(&v))
	return appendJSONValue(nil, v)
}

func FuzzUnmarshalDocument(f *testing.F) {
	for _, d := range fzSeedDocuments(f) {
		b := fzMarshal(f, d)
		f.Add(b)
		f.Add(append(b[:len(b):len(b)], 0xc0))
		f.Add(b[:len(b)-1])
	}
	for _, b := range fzMalformed {
		f.Add(b)
	}
	lim := fuzzLimits()
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := UnmarshalDocument(b, lim)
		if err != nil {
			require.ErrorIs(t, err, ErrMalformed)
			return
		}
		fzCheckDocument(t, d, lim)
	})
}

func FuzzDecodeObject(f *testing.F) {
	for _, s := range []string{
		`{}`,
		`{"a":1,"b":"x","c":null,"d":true,"e":[1,2.5e10,-0,"s",[],{}]}`,
		`{"metadata":{"name":"web","labels":{"a":"b"}},"spec":{"replicas":3}}`,
		`{"k":"\u0000\b\f\n\r\t\"\\\/ü日本🎉\u2028\ud83d\ude00"}`,
		`{"a":1,"a":2}`,
		` { "z" : [ { "y" : { } } ] } `,
		`{"big":123456789012345678901234567890,"neg":-1E-300}`,
		`{"a":{"b":{"c":{"d":{"e":{"f":{"g":{"h":1}}}}}}}}`,
		`{"a":[[[[[[[[[1]]]]]]]]]}`,
		"{\"bad\xff\":\"\xfe\"}",
		`[1,2]`,
		`"s"`,
		`{"a":1} {}`,
		`{"a":`,
		`nul`,
	} {
		f.Add([]byte(s))
	}
	lim := fuzzLimits()
	f.Fuzz(func(t *testing.T, b []byte) {
		obj, err := decodeObject(b, lim)
		if err != nil {
			return
		}
		out := appendJSONValue(nil, obj)
		require.True(t, json.Valid(out), "canonical JSON is invalid: %q", out)

		// Canonical JSON is a fixed point. It can be larger than the input
		// (invalid UTF-8 becomes \ufffd), so allow for that when re-reading.
		lim2 := lim
		lim2.MaxObjectBytes = max(lim.MaxObjectBytes, len(out))
		obj2, err := decodeObject(out, lim2)
		require.NoError(t, err, "re-decoding canonical JSON %q", out)
		require.Equal(t, string(out), string(appendJSONValue(nil, obj2)))

		// The document state of the object materializes exactly the
		// canonical JSON.
		d, delta := NewDocument(), NewDocument()
		d.setObject(obj, fzStamp(1000, "a", 1), delta)
		require.Equal(t, string(out), string(d.JSON()))

		// A Put the replica accepts must be storable and replicable: the
		// document it creates decodes under the limits that accepted it,
		// as the store does on restart and peers do on receipt.
		r := fzReplica(t, lim)
		if _, err := r.Put(fzKeys[0], b, PutOptions{}); err != nil {
			require.ErrorIs(t, err, ErrInvalid)
			return
		}
		got, _, ok := r.Get(fzKeys[0])
		require.True(t, ok)
		enc := fzMarshal(t, got)
		d2, err := UnmarshalDocument(enc, lim)
		require.NoError(t, err, "document of an accepted %d-byte object (%d bytes encoded)", len(b), len(enc))
		require.Equal(t, string(out), string(d2.JSON()))
		require.True(t, bytes.Equal(enc, fzMarshal(t, d2)))
	})
}

// fzClock is a physical clock stopped at a fixed instant.
type fzClock struct{}

func (fzClock) Now() time.Time { return time.UnixMilli(1_700_000_000_000) }

// fzReplica is a fresh replica enforcing lim.
func fzReplica(tb testing.TB, lim Limits) *Replica {
	tb.Helper()
	cfg := DefaultReplicaConfig("fuzz", NewClock(fzClock{}, time.Minute))
	cfg.Limits = lim
	r, err := NewReplica(cfg)
	require.NoError(tb, err)
	return r
}

// fzSeedRecords returns framed document records, meta records and
// delta-buffer records.
func fzSeedRecords(tb testing.TB) (docRecs, metaRecs, bufRecs [][]byte) {
	tb.Helper()
	docs := fzSeedDocuments(tb)
	for i, d := range docs {
		rec, err := encodeDocRecord(uint64(i)*300, d)
		require.NoError(tb, err)
		docRecs = append(docRecs, rec)
	}
	for _, m := range []Meta{
		{},
		{Seq: 9, Clock: MakeTimestamp(1000, 1), BufFloor: 4, Context: fzContext(), Acks: map[ReplicaID]uint64{"b": 3, "c": 9}},
	} {
		rec, err := encodeMeta(m)
		require.NoError(tb, err)
		metaRecs = append(metaRecs, rec)
	}
	for _, e := range []*BufferEntry{
		{First: 1, Last: 1, Dots: []Dot{{"a", 1}}, Docs: []KeyedDoc{{Key: fzKeys[0], Doc: docs[0]}}},
		{First: 2, Last: 5, From: "b", Dots: []Dot{{"b", 1}, {"b", 2}}, Docs: []KeyedDoc{
			{Key: fzKeys[0], Doc: docs[2]}, {Key: fzKeys[1]}, {Key: fzKeys[2], Doc: docs[3]},
		}},
	} {
		rec, err := encodeBufferEntry(e)
		require.NoError(tb, err)
		bufRecs = append(bufRecs, rec)
	}
	return docRecs, metaRecs, bufRecs
}

func FuzzDecodeRecords(f *testing.F) {
	docRecs, metaRecs, bufRecs := fzSeedRecords(f)
	seeds := append(append(docRecs, metaRecs...), bufRecs...)
	for _, rec := range seeds {
		// The target also tries each input as a payload to frame, so the
		// bare payloads let mutations get past the checksum.
		f.Add(rec)
		f.Add(rec[5:])
	}
	for _, b := range fzMalformed {
		f.Add(b)
	}
	lim := fuzzLimits()
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, rec := range [][]byte{b, frameRecord(b)} {
			if rv, d, err := decodeDocRecord(rec, lim); err == nil {
				enc, err := encodeDocRecord(rv, d)
				require.NoError(t, err)
				rv2, d2, err := decodeDocRecord(enc, lim)
				require.NoError(t, err, "decoding a re-encoded document record")
				require.Equal(t, rv, rv2)
				enc2, err := encodeDocRecord(rv2, d2)
				require.NoError(t, err)
				require.Equal(t, enc, enc2, "document record does not round-trip canonically")
			}
			if m, err := decodeMeta(rec, lim); err == nil {
				enc, err := encodeMeta(m)
				require.NoError(t, err)
				m2, err := decodeMeta(enc, lim)
				require.NoError(t, err, "decoding a re-encoded meta record")
				enc2, err := encodeMeta(m2)
				require.NoError(t, err)
				require.Equal(t, enc, enc2, "meta record does not round-trip canonically")
			}
			if e, err := decodeBufferEntry(rec, lim); err == nil {
				enc, err := encodeBufferEntry(e)
				require.NoError(t, err)
				e2, err := decodeBufferEntry(enc, lim)
				require.NoError(t, err, "decoding a re-encoded buffer entry")
				enc2, err := encodeBufferEntry(e2)
				require.NoError(t, err)
				require.Equal(t, enc, enc2, "buffer entry does not round-trip canonically")
			}
		}
	})
}

// TestFuzzSeedsAreValid keeps the seed corpora meaningful: every real
// encoding decodes under fuzzLimits and round-trips canonically, and every
// malformed seed is rejected.
func TestFuzzSeedsAreValid(t *testing.T) {
	lim := fuzzLimits()
	for i, d := range fzSeedDocuments(t) {
		b := fzMarshal(t, d)
		d2, err := UnmarshalDocument(b, lim)
		require.NoError(t, err, "seed document %d", i)
		require.Equal(t, b, fzMarshal(t, d2), "seed document %d", i)
	}
	for _, m := range fzSeedMessages(t) {
		b, err := EncodeMessage(m)
		require.NoError(t, err)
		m2, err := DecodeMessage(b, lim)
		require.NoError(t, err, "seed %s message", m.Type())
		b2, err := EncodeMessage(m2)
		require.NoError(t, err)
		require.Equal(t, b, b2, "seed %s message", m.Type())
	}
	docRecs, metaRecs, bufRecs := fzSeedRecords(t)
	for _, rec := range docRecs {
		_, _, err := decodeDocRecord(rec, lim)
		require.NoError(t, err)
	}
	for _, rec := range metaRecs {
		_, err := decodeMeta(rec, lim)
		require.NoError(t, err)
	}
	for _, rec := range bufRecs {
		_, err := decodeBufferEntry(rec, lim)
		require.NoError(t, err)
	}
	for _, b := range fzMalformed {
		_, err := DecodeMessage(b, lim)
		require.ErrorIs(t, err, ErrMalformed, "%q", b)
		_, err = UnmarshalDocument(b, lim)
		require.ErrorIs(t, err, ErrMalformed, "%q", b)
		_, _, err = decodeDocRecord(b, lim)
		require.Error(t, err, "%q", b)
	}
}
