package crdt

import (
	"bytes"
	"encoding/json"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vmihailenco/msgpack/v5"
)

// --- hand-built msgpack ---------------------------------------------------

// mpMap is a msgpack map written in the given order, so tests can forge
// unsorted or duplicate keys.
type mpMap []mpKV

type mpKV struct {
	K string
	V any
}

// mpInt is written as a signed integer, an encoding the decoders refuse
// where they want an unsigned one.
type mpInt int64

// mpRaw is written verbatim.
type mpRaw []byte

// mpEncode writes v with msgpack.Encoder: []any as arrays, int, uint64 and
// nodeKind as (minimal) unsigned integers, string as str, []byte as bin, mpMap, mpInt,
// mpRaw, bool and nil.
func mpEncode(tb testing.TB, v any) []byte {
	tb.Helper()
	var buf bytes.Buffer
	mpWrite(tb, msgpack.NewEncoder(&buf), v)
	return buf.Bytes()
}

func mpWrite(tb testing.TB, enc *msgpack.Encoder, v any) {
	tb.Helper()
	var err error
	switch x := v.(type) {
	case nil:
		err = enc.EncodeNil()
	case bool:
		err = enc.EncodeBool(x)
	case int:
		require.GreaterOrEqual(tb, x, 0, "use mpInt for signed integers")
		err = enc.EncodeUint(uint64(x))
	case uint64:
		err = enc.EncodeUint(x)
	case nodeKind:
		err = enc.EncodeUint(uint64(x))
	case mpInt:
		err = enc.EncodeInt(int64(x))
	case string:
		err = enc.EncodeString(x)
	case []byte:
		err = enc.EncodeBytes(x)
	case mpRaw:
		err = enc.Encode(msgpack.RawMessage(x))
	case []any:
		err = enc.EncodeArrayLen(len(x))
		for _, c := range x {
			mpWrite(tb, enc, c)
		}
	case mpMap:
		err = enc.EncodeMapLen(len(x))
		for _, kv := range x {
			mpWrite(tb, enc, kv.K)
			mpWrite(tb, enc, kv.V)
		}
	default:
		tb.Fatalf("mpWrite: unsupported %T", v)
	}
	require.NoError(tb, err)
}

// --- document round trip ----------------------------------------------------

func TestDocumentRoundTrip(t *testing.T) {
	// Concurrent edits of one object by two writers.
	concurrent := func(t *testing.T) *Document {
		base := fzBuild(t).set(`{"spec":{}}`, fzStamp(1000, "a", 1))
		left := &fzBuilder{tb: t, doc: base.doc.Clone()}
		left.set(`{"spec":{"a":1},"x":1}`, fzStamp(1001, "a", 2))
		right := &fzBuilder{tb: t, doc: base.doc.Clone()}
		right.set(`{"spec":{"b":2},"y":2}`, fzStamp(1001, "b", 1)).bump(fzStamp(1001, "b", 1))
		return left.merge(right.doc).doc
	}
	// A write concurrent with a delete, newer than it: the tombstone stays
	// under the newer field.
	resurrected := func(t *testing.T) *Document {
		base := fzBuild(t).set(`{"a":1,"b":2}`, fzStamp(1000, "a", 1))
		edit := &fzBuilder{tb: t, doc: base.doc.Clone()}
		edit.set(`{"a":1,"b":3}`, fzStamp(1002, "c", 1))
		return base.del(fzStamp(1001, "b", 1)).merge(edit.deltas[0]).doc
	}
	tests := []struct {
		name   string
		build  func(t *testing.T) *Document
		json   string // "" when the object does not exist
		gen    uint64
		tombs  bool
		exists bool
	}{
		{
			name:  "empty document",
			build: func(t *testing.T) *Document { return NewDocument() },
		},
		{
			name: "scalars",
			build: func(t *testing.T) *Document {
				return fzBuild(t).set(`{"s":"x","n":-1.5e3,"i":42,"t":true,"f":false,"z":null}`, fzStamp(1000, "a", 1)).doc
			},
			json:   `{"f":false,"i":42,"n":-1.5e3,"s":"x","t":true,"z":null}`,
			exists: true,
		},
		{
			name: "lists",
			build: func(t *testing.T) *Document {
				return fzBuild(t).set(`{"l":[1, "two", {"x": null, "a": []}, []], "e": []}`, fzStamp(1000, "a", 1)).doc
			},
			json:   `{"e":[],"l":[1,"two",{"a":[],"x":null},[]]}`,
			exists: true,
		},
		{
			name: "nested maps",
			build: func(t *testing.T) *Document {
				return fzBuild(t).set(`{"a":{"b":{"c":{}}},"d":{"e":1,"f":{"g":"h"}}}`, fzStamp(1000, "a", 1)).doc
			},
			json:   `{"a":{"b":{"c":{}}},"d":{"e":1,"f":{"g":"h"}}}`,
			exists: true,
		},
		{
			name: "field tombstones",
			build: func(t *testing.T) *Document {
				return fzBuild(t).
					set(`{"a":1,"b":{"c":2,"d":3}}`, fzStamp(1000, "a", 1)).
					set(`{"a":1,"b":{"c":2}}`, fzStamp(1001, "b", 1)).doc
			},
			json:   `{"a":1,"b":{"c":2}}`,
			tombs:  true,
			exists: true,
		},
		{
			name: "object tombstone",
			build: func(t *testing.T) *Document {
				return fzBuild(t).set(`{"a":1}`, fzStamp(1000, "a", 1)).del(fzStamp(1001, "a", 2)).doc
			},
			tombs: true,
		},
		{
			name: "recreated after delete",
			build: func(t *testing.T) *Document {
				return fzBuild(t).
					set(`{"a":1,"b":2}`, fzStamp(1000, "a", 1)).
					del(fzStamp(1001, "b", 1)).
					set(`{"b":3}`, fzStamp(1002, "a", 2)).doc
			},
			json:   `{"b":3}`,
			exists: true,
		},
		{
			name:   "newer write under a delete",
			build:  resurrected,
			json:   `{"b":3}`,
			tombs:  true,
			exists: true,
		},
		{
			name: "generation entries of several writers",
			build: func(t *testing.T) *Document {
				return fzBuild(t).
					set(`{"spec":1}`, fzStamp(1000, "a", 1)).bump(fzStamp(1000, "a", 1)).
					set(`{"spec":2}`, fzStamp(1001, "b", 1)).bump(fzStamp(1001, "b", 1)).
					set(`{"spec":3}`, fzStamp(1002, "a", 2)).bump(fzStamp(1002, "a", 2)).doc
			},
			json:   `{"spec":3}`,
			gen:    3,
			exists: true,
		},
		{
			name: "generation only",
			build: func(t *testing.T) *Document {
				return fzBuild(t).bump(fzStamp(1000, "a", 1)).doc
			},
			gen: 1,
		},
		{
			name:   "concurrent writers merged",
			build:  concurrent,
			json:   `{"spec":{"a":1,"b":2},"x":1,"y":2}`,
			gen:    1,
			exists: true,
		},
		{
			name: "delta",
			build: func(t *testing.T) *Document {
				b := fzBuild(t).set(`{"a":1,"b":{"c":2}}`, fzStamp(1000, "a", 1)).set(`{"a":1,"b":{"d":[3]}}`, fzStamp(1001, "a", 2))
				return b.deltas[1]
			},
			json:   `{"b":{"d":[3]}}`,
			tombs:  true,
			exists: true,
		},
		{
			name: "unicode keys and escaped strings",
			build: func(t *testing.T) *Document {
				return fzBuild(t).set(`{"ü":"ß","q\"\\":"\u0001\n<>&","日本":"\u2028"}`, fzStamp(1000, "did:key:z6Mk", 1)).doc
			},
			json:   "{\"q\\\"\\\\\":\"\\u0001\\n<>&\",\"ü\":\"ß\",\"日本\":\"\u2028\"}",
			exists: true,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := tc.build(t)
			enc, err := d.MarshalBinary()
			require.NoError(t, err)
			got, err := UnmarshalDocument(enc, DefaultLimits())
			require.NoError(t, err)

			reenc, err := got.MarshalBinary()
			require.NoError(t, err)
			assert.Equal(t, enc, reenc, "re-encoding differs")
			assert.True(t, got.Equal(d))
			if tc.json == "" {
				assert.Nil(t, got.JSON())
			} else {
				assert.Equal(t, tc.json, string(got.JSON()))
				assert.True(t, json.Valid(got.JSON()))
			}
			assert.Equal(t, string(d.JSON()), string(got.JSON()))
			assert.Equal(t, tc.exists, got.Exists())
			assert.Equal(t, tc.gen, got.Generation())
			assert.Equal(t, tc.tombs, got.hasTombstones())
			assert.Equal(t, d.IsEmpty(), got.IsEmpty())
			assert.Equal(t, d.maxStamp(), got.maxStamp())
		})
	}
}

// TestDocumentEncodingFormat pins the encoding of a small document.
func TestDocumentEncodingFormat(t *testing.T) {
	s1 := fzStamp(1000, "w", 1)
	s2 := fzStamp(1001, "v", 1)
	d := fzBuild(t).
		set(`{"a":1,"m":{"x":"y"},"z":true}`, s1).
		set(`{"a":1,"m":{"x":"y"}}`, s2).
		bump(s2).doc
	want := mpEncode(t, []any{
		documentFormat,
		[]any{"v", "w"},
		[]any{
			[]any{uint64(s1.Time), 1, 1},
			[]any{uint64(s2.Time), 0, 1},
		},
		[]any{[]any{1, 1}},
		[]any{kindMap, 0, mpMap{
			{"a", []any{kindValue, 0, "1"}},
			{"m", []any{kindMap, 0, mpMap{{"x", []any{kindValue, 0, `"y"`}}}}},
			{"z", []any{kindDeleted, 1}},
		}},
	})
	got, err := d.MarshalBinary()
	require.NoError(t, err)
	require.Equal(t, want, got)
}

// TestDocumentEncodingCanonical: equal states encode to equal bytes, however
// they were reached.
func TestDocumentEncodingCanonical(t *testing.T) {
	join := func(docs ...*Document) *Document {
		out := NewDocument()
		for _, d := range docs {
			out.merge(d, nil)
		}
		return out
	}
	base := fzBuild(t).set(`{"spec":{"x":1,"y":1},"meta":{"n":"a"}}`, fzStamp(1000, "a", 1))
	// Three concurrent edits of base by different writers.
	da := base.doc.Clone()
	deltaA := NewDocument()
	da.setObject(fzObject(t, `{"spec":{"x":2,"y":1},"meta":{"n":"a"}}`), fzStamp(1002, "a", 2), deltaA)
	db := base.doc.Clone()
	deltaB := NewDocument()
	db.setObject(fzObject(t, `{"spec":{"x":1},"meta":{"n":"a","l":{"k":"v"}}}`), fzStamp(1003, "b", 1), deltaB)
	db.bumpGeneration(fzStamp(1003, "b", 1), deltaB)
	dc := base.doc.Clone()
	deltaC := NewDocument()
	dc.deleteObject(fzStamp(1001, "c", 1), deltaC)

	// A single writer's history versus the join of its deltas.
	hist := fzBuild(t).
		set(`{"a":1,"b":{"c":2}}`, fzStamp(2000, "h", 1)).
		set(`{"a":2,"d":[1]}`, fzStamp(2001, "h", 2)).
		bump(fzStamp(2001, "h", 2)).
		del(fzStamp(2002, "h", 3)).
		set(`{"b":{"c":3}}`, fzStamp(2003, "h", 4))
	rev := make([]*Document, 0, len(hist.deltas))
	for i := len(hist.deltas) - 1; i >= 0; i-- {
		rev = append(rev, hist.deltas[i])
	}

	tests := []struct {
		name string
		a, b *Document
	}{
		{"deltas in either order", join(base.doc, deltaA, deltaB, deltaC), join(deltaC, deltaB, base.doc, deltaA)},
		{"full states in either order", join(da, db, dc), join(dc, db, da)},
		{"deltas versus full states", join(base.doc, deltaA, deltaB, deltaC), join(dc, da, db)},
		{"duplicated deltas", join(base.doc, deltaA, deltaB, deltaC), join(deltaB, deltaA, base.doc, deltaB, deltaC, deltaA, deltaC)},
		{"history versus its deltas reversed", hist.doc, join(rev...)},
		{"history versus its deltas", hist.doc, join(hist.deltas...)},
		{"decoded versus built", hist.doc, func() *Document {
			d, err := UnmarshalDocument(fzMarshal(t, hist.doc), DefaultLimits())
			require.NoError(t, err)
			return d
		}()},
	}
	// The delete (1001) removes what it saw; the newer edits survive it.
	all := join(base.doc, deltaA, deltaB, deltaC)
	require.Equal(t, `{"meta":{"l":{"k":"v"}},"spec":{"x":2}}`, string(all.JSON()))
	require.Equal(t, uint64(1), all.Generation())
	require.Equal(t, `{"b":{"c":3}}`, string(hist.doc.JSON()))

	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, b := fzMarshal(t, tc.a), fzMarshal(t, tc.b)
			require.Equal(t, a, b)
			require.Equal(t, string(tc.a.JSON()), string(tc.b.JSON()))
		})
	}
	// Encoding is deterministic despite map iteration order.
	want := fzMarshal(t, hist.doc)
	for i := 0; i < 20; i++ {
		require.Equal(t, want, fzMarshal(t, hist.doc.Clone()))
	}
}

// --- document rejections --------------------------------------------------

// cdRawDoc holds the five parts of an encoded document, for forging.
type cdRawDoc struct {
	format  any
	writers []any
	stamps  []any
	gen     []any
	root    any
	extra   []any  // extra top-level elements
	trail   []byte // bytes after the document
}

var cdT1 = uint64(MakeTimestamp(1000, 0))

// cdValidDoc is a valid document: root map at a's stamp, "k" a value,
// "m" an empty map, and a generation entry of b.
func cdValidDoc() cdRawDoc {
	return cdRawDoc{
		format:  documentFormat,
		writers: []any{"a", "b"},
		stamps:  []any{[]any{cdT1, 0, 1}, []any{cdT1 + 1, 1, 1}},
		gen:     []any{[]any{2, 1}},
		root: []any{kindMap, 0, mpMap{
			{"k", []any{kindValue, 1, "1"}},
			{"m", []any{kindMap, 1}},
		}},
	}
}

func (r cdRawDoc) encode(tb testing.TB) []byte {
	tb.Helper()
	parts := append([]any{r.format, r.writers, r.stamps, r.gen, r.root}, r.extra...)
	return append(mpEncode(tb, parts), r.trail...)
}

// cdNest returns a chain of depth maps ending in a value at that depth.
func cdNest(depth int) any {
	var n any = []any{kindValue, 0, "1"}
	for i := 0; i < depth; i++ {
		n = []any{kindMap, 0, mpMap{{"n", n}}}
	}
	return n
}

func TestUnmarshalDocumentValidBase(t *testing.T) {
	d, err := UnmarshalDocument(cdValidDoc().encode(t), DefaultLimits())
	require.NoError(t, err)
	assert.Equal(t, `{"k":1,"m":{}}`, string(d.JSON()))
	assert.Equal(t, uint64(2), d.Generation())

	// Nesting up to the limit is fine.
	lim := DefaultLimits()
	lim.MaxDepth = 3
	raw := cdValidDoc()
	raw.root = cdNest(3)
	_, err = UnmarshalDocument(raw.encode(t), lim)
	require.NoError(t, err)
	raw.root = cdNest(DefaultLimits().MaxDepth)
	_, err = UnmarshalDocument(raw.encode(t), DefaultLimits())
	require.NoError(t, err)
}

func TestUnmarshalDocumentRejects(t *testing.T) {
	tests := []struct {
		name string
		mut  func(r *cdRawDoc)
		lim  func(l *Limits, valid []byte)
		raw  []byte // used instead of the mutated document when set
		want string
	}{
		{name: "bad format version", mut: func(r *cdRawDoc) { r.format = 2 }, want: "unsupported document format 2"},
		{name: "format version zero", mut: func(r *cdRawDoc) { r.format = 0 }, want: "unsupported document format 0"},
		{name: "signed integer encoding", mut: func(r *cdRawDoc) { r.format = mpInt(-1) }, want: "expected unsigned integer"},
		{name: "unsorted writers", mut: func(r *cdRawDoc) { r.writers = []any{"b", "a"} }, want: "writers not sorted and unique"},
		{name: "duplicate writers", mut: func(r *cdRawDoc) { r.writers = []any{"a", "a"} }, want: "writers not sorted and unique"},
		{name: "invalid writer id", mut: func(r *cdRawDoc) { r.writers = []any{"a b", "b"} }, want: "control or space character"},
		{name: "empty writer id", mut: func(r *cdRawDoc) { r.writers = []any{"", "b"} }, want: "replica id is empty"},
		{name: "writer id not a string", mut: func(r *cdRawDoc) { r.writers = []any{[]byte("a"), "b"} }, want: "expected string"},
		{name: "stamp writer index out of range", mut: func(r *cdRawDoc) { r.stamps[1] = []any{cdT1 + 1, 2, 1} }, want: "stamp writer index 2 out of range"},
		{name: "stamp with zero sequence", mut: func(r *cdRawDoc) { r.stamps[1] = []any{cdT1 + 1, 1, 0} }, want: "zero time or sequence"},
		{name: "stamp with zero time", mut: func(r *cdRawDoc) { r.stamps[0] = []any{0, 0, 1} }, want: "zero time or sequence"},
		{name: "stamp with two elements", mut: func(r *cdRawDoc) { r.stamps[1] = []any{cdT1 + 1, 1} }, want: "stamp"},
		{name: "unsorted stamps", mut: func(r *cdRawDoc) { r.stamps[0], r.stamps[1] = r.stamps[1], r.stamps[0] }, want: "stamps not sorted and unique"},
		{name: "duplicate stamps", mut: func(r *cdRawDoc) { r.stamps[1] = r.stamps[0] }, want: "stamps not sorted and unique"},
		{name: "node stamp index out of range", mut: func(r *cdRawDoc) { r.root = []any{kindMap, 2} }, want: "node stamp index 2 out of range"},
		{name: "generation stamp index out of range", mut: func(r *cdRawDoc) { r.gen = []any{[]any{2, 7}} }, want: "generation stamp index 7 out of range"},
		{name: "duplicate generation entry", mut: func(r *cdRawDoc) { r.gen = []any{[]any{2, 1}, []any{3, 1}} }, want: "duplicate generation entry for b"},
		{name: "more generation entries than writers", mut: func(r *cdRawDoc) { r.gen = []any{[]any{1, 0}, []any{1, 1}, []any{1, 1}} }, want: "length 3 outside [0, 2]"},
		{name: "unknown node kind", mut: func(r *cdRawDoc) { r.root = []any{int(numKinds), 0} }, want: "unknown node kind 4"},
		{name: "unknown child kind", mut: func(r *cdRawDoc) { r.root = []any{kindMap, 0, mpMap{{"k", []any{200, 0}}}} }, want: "unknown node kind 200"},
		{name: "value that is a JSON object", mut: func(r *cdRawDoc) { r.root = []any{kindMap, 0, mpMap{{"k", []any{kindValue, 0, `{"x":1}`}}}} }, want: "value is a JSON object"},
		{name: "value that is a JSON object after whitespace", mut: func(r *cdRawDoc) { r.root = []any{kindMap, 0, mpMap{{"k", []any{kindValue, 0, " \n\t{}"}}}} }, want: "value is a JSON object"},
		{name: "root value that is a JSON object", mut: func(r *cdRawDoc) { r.root = []any{kindValue, 0, `{}`} }, want: "value is a JSON object"},
		{name: "invalid JSON value", mut: func(r *cdRawDoc) { r.root = []any{kindMap, 0, mpMap{{"k", []any{kindValue, 0, `[1,`}}}} }, want: "value is not valid JSON"},
		{name: "two JSON values", mut: func(r *cdRawDoc) { r.root = []any{kindMap, 0, mpMap{{"k", []any{kindValue, 0, `1 2`}}}} }, want: "value is not valid JSON"},
		{name: "empty JSON value", mut: func(r *cdRawDoc) { r.root = []any{kindMap, 0, mpMap{{"k", []any{kindValue, 0, ""}}}} }, want: "value is not valid JSON"},
		{name: "value as bin", mut: func(r *cdRawDoc) { r.root = []any{kindMap, 0, mpMap{{"k", []any{kindValue, 0, []byte("1")}}}} }, want: "expected string"},
		{name: "node with extra element", mut: func(r *cdRawDoc) { r.root = []any{kindNone, mpMap{{"k", []any{kindValue, 0, "1"}}}, 1} }, want: "node of kind 0 has 3 elements"},
		{name: "value node without value", mut: func(r *cdRawDoc) {
			r.root = []any{kindMap, 0, mpMap{{"k", []any{kindValue, 0}}, {"l", []any{kindMap, 0}}}}
		}, want: "value"},
		{name: "node with five elements", mut: func(r *cdRawDoc) { r.root = []any{kindValue, 0, "1", mpMap{{"k", []any{kindMap, 0}}}, 1} }, want: "length 5 outside [1, 4]"},
		{name: "empty node array", mut: func(r *cdRawDoc) { r.root = []any{} }, want: "length 0 outside [1, 4]"},
		{name: "empty fields map", mut: func(r *cdRawDoc) { r.root = []any{kindMap, 0, mpMap{}} }, want: "length 0 outside"},
		{name: "unsorted field names", mut: func(r *cdRawDoc) {
			r.root = []any{kindMap, 0, mpMap{{"m", []any{kindMap, 1}}, {"k", []any{kindMap, 1}}}}
		}, want: "field names not sorted and unique"},
		{name: "duplicate field names", mut: func(r *cdRawDoc) {
			r.root = []any{kindMap, 0, mpMap{{"k", []any{kindMap, 1}}, {"k", []any{kindMap, 1}}}}
		}, want: "field names not sorted and unique"},
		{name: "field name not valid UTF-8", mut: func(r *cdRawDoc) { r.root = []any{kindMap, 0, mpMap{{"k\xff", []any{kindMap, 1}}}} }, want: "field name is not valid UTF-8"},
		{name: "depth over the limit", mut: func(r *cdRawDoc) { r.root = cdNest(4) }, lim: func(l *Limits, _ []byte) { l.MaxDepth = 3 }, want: "document nests deeper than 3"},
		{name: "depth over the default limit", mut: func(r *cdRawDoc) { r.root = cdNest(DefaultLimits().MaxDepth + 1) }, want: "document nests deeper than 64"},
		{name: "trailing bytes", mut: func(r *cdRawDoc) { r.trail = []byte{0xc0} }, want: "1 trailing bytes after document"},
		{name: "extra top-level element", mut: func(r *cdRawDoc) { r.extra = []any{1} }, want: "length 6 outside [5, 5]"},
		{name: "oversized", lim: func(l *Limits, valid []byte) { l.MaxDocumentBytes = len(valid) - 1 }, want: "max"},
		{name: "value longer than the document limit", mut: func(r *cdRawDoc) {
			r.root = []any{kindMap, 0, mpMap{{"k", []any{kindValue, 0, `"` + strings.Repeat("x", 100) + `"`}}}}
		}, lim: func(l *Limits, valid []byte) { l.MaxDocumentBytes = 100 }, want: "max 100"},
		{name: "field name longer than the object limit", mut: func(r *cdRawDoc) {
			r.root = []any{kindMap, 0, mpMap{{strings.Repeat("k", 65), []any{kindMap, 0}}}}
		}, lim: func(l *Limits, valid []byte) { l.MaxObjectBytes = 64 }, want: "exceeds max 64"},
		{name: "writer count exceeds input", raw: []byte{0x95, 0x01, 0xdd, 0x00, 0x00, 0xff, 0xff}, want: "exceeds the"},
		{name: "fields count exceeds input", mut: func(r *cdRawDoc) { r.root = mpRaw{0x92, 0x00, 0xdf, 0x00, 0x0f, 0xff, 0xff} }, want: "exceeds the"},
		{name: "document is nil", raw: []byte{0xc0}, want: "unexpected nil"},
		{name: "document is a map", raw: mpEncode(t, mpMap{{"a", 1}}), want: "document"},
		{name: "empty input", raw: []byte{}, want: "EOF"},
		{name: "truncated", raw: func() []byte { b := cdValidDoc().encode(t); return b[:len(b)-1] }(), want: "exceeds the 1 bytes left"},
		{name: "truncated inside a string", raw: func() []byte { b := cdValidDoc().encode(t); return b[:len(b)-5] }(), want: "EOF"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := tc.raw
			if b == nil {
				r := cdValidDoc()
				if tc.mut != nil {
					tc.mut(&r)
				}
				b = r.encode(t)
			}
			lim := DefaultLimits()
			if tc.lim != nil {
				tc.lim(&lim, b)
			}
			d, err := UnmarshalDocument(b, lim)
			require.Error(t, err)
			require.Nil(t, d)
			require.ErrorIs(t, err, ErrMalformed)
			require.ErrorContains(t, err, tc.want)
		})
	}
}

// --- message rejections -----------------------------------------------------

func cdHash(n byte) []byte { return bytes.Repeat([]byte{n}, 16) }

func TestDecodeMessageRejects(t *testing.T) {
	key := string(fzKeys[0])
	valid := map[MessageType][]any{
		MsgDelta:  {1, int(MsgDelta), "a", 1, []any{[]any{"a", 1}}, []any{[]any{key, nil}}},
		MsgAck:    {1, int(MsgAck), "a", 1, []any{[]any{"a", 1}}, 5},
		MsgDigest: {1, int(MsgDigest), "a", 3, 1, 5, []any{[]any{}, []any{}}, 1, []any{cdHash(1), cdHash(2)}},
		MsgKeys:   {1, int(MsgKeys), "a", 3, 1, 0, 5, []any{[]any{}, []any{}}, false, 1, []any{1}, []any{[]any{key, cdHash(3)}}},
		MsgRepair: {1, int(MsgRepair), "a", 3, 1, 0, false, []any{[]any{}, []any{}}, []any{}, []any{key}, false},
	}
	for typ, fields := range valid {
		m, err := DecodeMessage(mpEncode(t, fields), DefaultLimits())
		require.NoError(t, err, "valid %s message", typ)
		require.Equal(t, typ, m.Type())
	}
	// Field positions in the messages above.
	const (
		deltaDots, deltaDocs                         = 4, 5
		ackSeq, ackVV                                = 3, 4
		digestContext, digestDepth, digestBuckets    = 6, 7, 8
		keysInSync, keysDepth, keysBuckets, keysKeys = 8, 9, 10, 11
		repairContext, repairDocs, repairWant        = 7, 8, 9
	)
	with := func(typ MessageType, i int, v any) []any {
		out := append([]any(nil), valid[typ]...)
		out[i] = v
		return out
	}
	docRaw := func(mut func(*cdRawDoc)) mpRaw {
		r := cdValidDoc()
		mut(&r)
		return mpRaw(r.encode(t))
	}
	validAck := mpEncode(t, valid[MsgAck])

	tests := []struct {
		name string
		msg  []any
		raw  []byte
		lim  func(*Limits)
		want string
	}{
		{name: "unknown version", msg: with(MsgAck, 0, 2), want: "unsupported wire version 2"},
		{name: "version zero", msg: with(MsgAck, 0, 0), want: "unsupported wire version 0"},
		{name: "unknown type", msg: with(MsgAck, 1, 9), want: "unknown message type 9"},
		{name: "type zero", msg: with(MsgAck, 1, 0), want: "unknown message type 0"},
		{name: "too few fields", msg: valid[MsgAck][:5], want: "ack message has 5 fields, want 6"},
		{name: "too many fields", msg: append(append([]any(nil), valid[MsgAck]...), 0), want: "ack message has 7 fields, want 6"},
		{name: "delta with digest field count", msg: append(append([]any(nil), valid[MsgDelta]...), 0, 0), want: "delta message has 8 fields, want 6"},
		{name: "fewer than three elements", msg: []any{1, 2}, want: "length 2 outside [3, 16]"},
		{name: "not an array", raw: mpEncode(t, "hello"), want: "message"},
		{name: "nil", raw: []byte{0xc0}, want: "unexpected nil"},
		{name: "empty", raw: []byte{}, want: "EOF"},
		{name: "oversized", raw: validAck, lim: func(l *Limits) { l.MaxMessageBytes = len(validAck) - 1 }, want: fmt.Sprintf("message is %d bytes, max %d", len(validAck), len(validAck)-1)},
		{name: "trailing bytes", raw: append(append([]byte(nil), validAck...), 0xc0), want: "1 trailing bytes after ack message"},
		{name: "empty sender", msg: with(MsgAck, 2, ""), want: "replica id is empty"},
		{name: "sender with space", msg: with(MsgAck, 2, "a b"), want: "control or space character"},
		{name: "bad key", msg: with(MsgDelta, deltaDocs, []any{[]any{"no-slashes", nil}}), want: "must have the form"},
		{name: "key with empty name", msg: with(MsgDelta, deltaDocs, []any{[]any{"apps/Deployment/default/", nil}}), want: "empty name"},
		{name: "key with control character", msg: with(MsgRepair, repairWant, []any{"/Pod/ns/a\x01b"}), want: "control character"},
		{name: "key too long", msg: with(MsgDelta, deltaDocs, []any{[]any{"/Pod/ns/" + strings.Repeat("n", MaxKeyLen), nil}}), want: "max 768"},
		{name: "key as bin", msg: with(MsgDelta, deltaDocs, []any{[]any{[]byte(key), nil}}), want: "expected string"},
		{name: "duplicate keys in docs", msg: with(MsgDelta, deltaDocs, []any{[]any{key, nil}, []any{key, nil}}), want: "duplicate key " + key},
		{name: "duplicate keys in repair docs", msg: with(MsgRepair, repairDocs, []any{[]any{key, nil}, []any{key, docRaw(func(*cdRawDoc) {})}}), want: "duplicate key"},
		{name: "doc entry with three elements", msg: with(MsgDelta, deltaDocs, []any{[]any{key, nil, 1}}), want: "length 3 outside [0, 2]"},
		{name: "doc entry with one element", msg: with(MsgDelta, deltaDocs, []any{[]any{key}}), want: "entry has 1 elements"},
		{name: "malformed document", msg: with(MsgDelta, deltaDocs, []any{[]any{key, docRaw(func(r *cdRawDoc) { r.format = 7 })}}), want: "unsupported document format 7"},
		{name: "document over the limit", msg: with(MsgDelta, deltaDocs, []any{[]any{key, docRaw(func(*cdRawDoc) {})}}), lim: func(l *Limits) { l.MaxDocumentBytes = 20 }, want: "max 20"},
		{name: "too many docs", msg: with(MsgDelta, deltaDocs, []any{[]any{key, nil}, []any{string(fzKeys[1]), nil}}), lim: func(l *Limits) { l.MaxDocsPerMessage = 1 }, want: "length 2 outside [0, 1]"},
		{name: "zero dot seq", msg: with(MsgDelta, deltaDots, []any{[]any{"a", 1}, []any{"b", 0}}), want: "dot with sequence 0"},
		{name: "zero seq in context range", msg: with(MsgDigest, digestContext, []any{[]any{}, []any{[]any{"a", 0, 3}}}), want: "bad cloud range 0..3"},
		{name: "inverted context range", msg: with(MsgDigest, digestContext, []any{[]any{}, []any{[]any{"a", 5, 3}}}), want: "bad cloud range 5..3"},
		{name: "context range with two elements", msg: with(MsgDigest, digestContext, []any{[]any{}, []any{[]any{"a", 1}}}), want: "cloud range has 2 elements"},
		{name: "dot with three elements", msg: with(MsgDelta, deltaDots, []any{[]any{"a", 1, 1}}), want: "length 3 outside [0, 2]"},
		{name: "dot with one element", msg: with(MsgDelta, deltaDots, []any{[]any{"a"}}), want: "dot has 1 elements"},
		{name: "dot with bad replica", msg: with(MsgDelta, deltaDots, []any{[]any{"", 1}}), want: "replica id is empty"},
		{name: "too many dots", msg: with(MsgDelta, deltaDots, []any{[]any{"a", 1}, []any{"a", 2}}), lim: func(l *Limits) { l.MaxDotsPerMessage = 1 }, want: "length 2 outside [0, 1]"},
		{name: "duplicate version vector entry", msg: with(MsgAck, ackVV, []any{[]any{"a", 1}, []any{"a", 2}}), want: "duplicate entry for a"},
		{name: "unsorted version vector", msg: with(MsgAck, ackVV, []any{[]any{"b", 1}, []any{"a", 2}}), want: "entries not sorted (a after b)"},
		{name: "version vector entry with one element", msg: with(MsgAck, ackVV, []any{[]any{"a"}}), want: "entry has 1 elements"},
		{name: "context with three parts", msg: with(MsgDigest, digestContext, []any{[]any{}, []any{}, []any{}}), want: "context"},
		{name: "digest with wrong bucket count", msg: with(MsgDigest, digestBuckets, []any{cdHash(1), cdHash(2), cdHash(3)}), want: "digest has 3 buckets, want 2 for depth 1"},
		{name: "digest without buckets", msg: with(MsgDigest, digestBuckets, []any{}), want: "digest has 0 buckets, want 2 for depth 1"},
		{name: "digest depth over the maximum", msg: with(MsgDigest, digestDepth, maxDigestDepth+1), want: "digest depth 17 exceeds 16"},
		{name: "digest depth over the bucket limit", msg: func() []any {
			m := with(MsgDigest, digestDepth, 3)
			m[digestBuckets] = []any{cdHash(0), cdHash(1), cdHash(2), cdHash(3), cdHash(4), cdHash(5), cdHash(6), cdHash(7)}
			return m
		}(), lim: func(l *Limits) { l.MaxDigestBuckets = 4 }, want: "length 8 outside [0, 4]"},
		{name: "bucket hash too short", msg: with(MsgDigest, digestBuckets, []any{cdHash(1), cdHash(2)[:15]}), want: "hash is 15 bytes, want 16"},
		{name: "bucket hash too long", msg: with(MsgDigest, digestBuckets, []any{cdHash(1), append(cdHash(2), 0)}), want: "max 16"},
		{name: "bucket hash nil", msg: with(MsgDigest, digestBuckets, []any{cdHash(1), nil}), want: "bucket"},
		{name: "keys bucket out of range", msg: with(MsgKeys, keysBuckets, []any{2}), want: "bucket 2 out of range for depth 1"},
		{name: "keys depth over the maximum", msg: with(MsgKeys, keysDepth, 17), want: "digest depth 17 exceeds 16"},
		{name: "keys in-sync not a bool", msg: with(MsgKeys, keysInSync, 1), want: "in sync"},
		{name: "keys hash with bad key", msg: with(MsgKeys, keysKeys, []any{[]any{"bad", cdHash(3)}}), want: "must have the form"},
		{name: "keys hash with one element", msg: with(MsgKeys, keysKeys, []any{[]any{key}}), want: "key hash has 1 elements"},
		{name: "repair initiator without context", msg: with(MsgRepair, repairContext, nil), want: "initiator repair message without context"},
		{name: "seq as signed integer", msg: with(MsgAck, ackSeq, mpInt(-1)), want: "expected unsigned integer"},
		{name: "seq as string", msg: with(MsgAck, ackSeq, "1"), want: "expected unsigned integer"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := tc.raw
			if b == nil {
				b = mpEncode(t, tc.msg)
			}
			lim := DefaultLimits()
			if tc.lim != nil {
				tc.lim(&lim)
			}
			m, err := DecodeMessage(b, lim)
			require.Error(t, err)
			require.Nil(t, m)
			require.ErrorIs(t, err, ErrMalformed)
			require.ErrorContains(t, err, tc.want)
		})
	}
}

// TestDecodeForgedLengthsAllocateLittle: a str or bin length larger than
// the input is refused before anything is allocated for it, as
// DecodeMessage promises (at most in proportion to len(b)).
func TestDecodeForgedLengthsAllocateLittle(t *testing.T) {
	const forged = 64 << 20
	hdr := func(code byte) mpRaw {
		return mpRaw{code, forged >> 24 & 0xff, forged >> 16 & 0xff, forged >> 8 & 0xff, forged & 0xff, 'x'}
	}
	ctx := []any{[]any{}, []any{}}
	key := string(fzKeys[0])
	tests := []struct {
		name   string
		decode func(b []byte) error
		input  []byte
	}{
		{"message sender", nil, mpEncode(t, []any{1, int(MsgAck), hdr(0xdb)})},
		{"delta key", nil, mpEncode(t, []any{1, int(MsgDelta), "a", 1, []any{}, []any{[]any{hdr(0xdb), nil}}})},
		{"digest bucket", nil, mpEncode(t, []any{1, int(MsgDigest), "a", 1, 1, 5, ctx, 0, []any{hdr(0xc6)}})},
		{"keys hash", nil, mpEncode(t, []any{1, int(MsgKeys), "a", 1, 1, 0, 5, ctx, false, 0, []any{}, []any{[]any{key, hdr(0xc6)}}})},
		{"document value", func(b []byte) error { _, err := UnmarshalDocument(b, DefaultLimits()); return err },
			mpEncode(t, []any{1, []any{"a"}, []any{[]any{cdT1, 0, 1}}, []any{}, []any{kindMap, 0, mpMap{{"k", []any{kindValue, 0, hdr(0xdb)}}}}})},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			decode := tc.decode
			if decode == nil {
				decode = func(b []byte) error { _, err := DecodeMessage(b, DefaultLimits()); return err }
			}
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			err := decode(tc.input)
			runtime.ReadMemStats(&after)
			require.ErrorIs(t, err, ErrMalformed)
			allocated := after.TotalAlloc - before.TotalAlloc
			require.Less(t, allocated, uint64(256<<10),
				"decoding %d bytes that declare a %d-byte string allocated %d bytes", len(tc.input), forged, allocated)
		})
	}
}

// TestMessageRoundTrip: every message type survives encoding and decoding.
func TestMessageRoundTrip(t *testing.T) {
	for _, m := range fzSeedMessages(t) {
		t.Run(m.Type().String(), func(t *testing.T) {
			b, err := EncodeMessage(m)
			require.NoError(t, err)
			got, err := DecodeMessage(b, DefaultLimits())
			require.NoError(t, err)
			require.Equal(t, m.Type(), got.Type())
			require.Equal(t, m.Sender(), got.Sender())
			switch want := m.(type) {
			case *DeltaMsg:
				g := got.(*DeltaMsg)
				assert.Equal(t, want.Seq, g.Seq)
				assert.Equal(t, len(want.Dots), len(g.Dots))
				if len(want.Dots) > 0 {
					assert.Equal(t, want.Dots, g.Dots)
				}
				cdRequireDocsEqual(t, want.Docs, g.Docs)
			case *AckMsg:
				g := got.(*AckMsg)
				assert.Equal(t, want.Seq, g.Seq)
				assert.Equal(t, want.Clock, g.Clock)
				assert.Equal(t, want.VV.Map(), g.VV.Map())
			case *DigestMsg:
				g := got.(*DigestMsg)
				assert.Equal(t, want.Session, g.Session)
				assert.Equal(t, want.Seq, g.Seq)
				assert.Equal(t, want.Clock, g.Clock)
				assert.Equal(t, want.Depth, g.Depth)
				assert.Equal(t, want.Buckets, g.Buckets)
				wantCtx := want.Context
				if wantCtx == nil {
					wantCtx = NewContext()
				}
				assert.True(t, wantCtx.Equal(g.Context))
			case *KeysMsg:
				g := got.(*KeysMsg)
				assert.Equal(t, want.Session, g.Session)
				assert.Equal(t, want.Seq, g.Seq)
				assert.Equal(t, want.AckSeq, g.AckSeq)
				assert.Equal(t, want.Clock, g.Clock)
				assert.Equal(t, want.InSync, g.InSync)
				assert.Equal(t, want.Depth, g.Depth)
				assert.Equal(t, len(want.Buckets), len(g.Buckets))
				assert.Equal(t, len(want.Keys), len(g.Keys))
				if len(want.Keys) > 0 {
					assert.Equal(t, want.Buckets, g.Buckets)
					assert.Equal(t, want.Keys, g.Keys)
				}
				assert.True(t, want.Context.Equal(g.Context))
			case *RepairMsg:
				g := got.(*RepairMsg)
				assert.Equal(t, want.Session, g.Session)
				assert.Equal(t, want.Seq, g.Seq)
				assert.Equal(t, want.AckSeq, g.AckSeq)
				assert.Equal(t, want.Final, g.Final)
				assert.Equal(t, len(want.Want), len(g.Want))
				if len(want.Want) > 0 {
					assert.Equal(t, want.Want, g.Want)
				}
				if want.Context == nil {
					assert.Nil(t, g.Context)
				} else {
					assert.True(t, want.Context.Equal(g.Context))
				}
				cdRequireDocsEqual(t, want.Docs, g.Docs)
			}
			b2, err := EncodeMessage(got)
			require.NoError(t, err)
			require.Equal(t, b, b2)
		})
	}
}

func cdRequireDocsEqual(t *testing.T, want, got []KeyedDoc) {
	t.Helper()
	require.Equal(t, len(want), len(got))
	for i := range want {
		require.Equal(t, want[i].Key, got[i].Key)
		if want[i].Doc == nil {
			require.Nil(t, got[i].Doc)
			continue
		}
		require.NotNil(t, got[i].Doc)
		require.True(t, want[i].Doc.Equal(got[i].Doc), "document %s", want[i].Key)
	}
}

// --- record framing -----------------------------------------------------------

func TestRecordFraming(t *testing.T) {
	docs := fzSeedDocuments(t)
	docRec, err := encodeDocRecord(12345, docs[2])
	require.NoError(t, err)
	meta := Meta{Seq: 9, Clock: MakeTimestamp(1000, 1), BufFloor: 4, Context: fzContext(), Acks: map[ReplicaID]uint64{"b": 3}}
	metaRec, err := encodeMeta(meta)
	require.NoError(t, err)
	entry := &BufferEntry{First: 2, Last: 5, From: "b", Dots: []Dot{{"b", 1}, {"b", 2}}, Docs: []KeyedDoc{
		{Key: fzKeys[0], Doc: docs[2]}, {Key: fzKeys[1]},
	}}
	bufRec, err := encodeBufferEntry(entry)
	require.NoError(t, err)

	lim := DefaultLimits()
	records := []struct {
		name   string
		rec    []byte
		decode func([]byte) error
	}{
		{"document", docRec, func(b []byte) error { _, _, err := decodeDocRecord(b, lim); return err }},
		{"meta", metaRec, func(b []byte) error { _, err := decodeMeta(b, lim); return err }},
		{"buffer entry", bufRec, func(b []byte) error { _, err := decodeBufferEntry(b, lim); return err }},
	}

	t.Run("round trip", func(t *testing.T) {
		rv, d, err := decodeDocRecord(docRec, lim)
		require.NoError(t, err)
		assert.Equal(t, uint64(12345), rv)
		assert.True(t, d.Equal(docs[2]))

		m, err := decodeMeta(metaRec, lim)
		require.NoError(t, err)
		assert.Equal(t, meta.Seq, m.Seq)
		assert.Equal(t, meta.Clock, m.Clock)
		assert.Equal(t, meta.BufFloor, m.BufFloor)
		assert.True(t, meta.Context.Equal(m.Context))
		assert.Equal(t, meta.Acks, m.Acks)

		e, err := decodeBufferEntry(bufRec, lim)
		require.NoError(t, err)
		assert.Equal(t, entry.First, e.First)
		assert.Equal(t, entry.Last, e.Last)
		assert.Equal(t, entry.From, e.From)
		assert.Equal(t, entry.Dots, e.Dots)
		cdRequireDocsEqual(t, entry.Docs, e.Docs)
		assert.NotNil(t, e.Docs[0].raw, "decoded buffer entries cache their encodings")
	})

	for _, r := range records {
		t.Run(r.name, func(t *testing.T) {
			require.NoError(t, r.decode(r.rec))
			// Every single-bit flip after the format byte is caught by the
			// checksum.
			for i := 1; i < len(r.rec); i++ {
				for bit := 0; bit < 8; bit++ {
					b := bytes.Clone(r.rec)
					b[i] ^= 1 << bit
					err := r.decode(b)
					require.Error(t, err, "bit %d of byte %d", bit, i)
					require.ErrorContains(t, err, "checksum mismatch", "bit %d of byte %d", bit, i)
				}
			}
			for bit := 0; bit < 8; bit++ {
				b := bytes.Clone(r.rec)
				b[0] ^= 1 << bit
				require.ErrorContains(t, r.decode(b), "unknown record format")
			}
			for n := 0; n < 5; n++ {
				require.ErrorContains(t, r.decode(r.rec[:n]), "shorter than its header")
			}
			require.ErrorContains(t, r.decode(r.rec[:len(r.rec)-1]), "checksum mismatch")
		})
	}

	t.Run("payload errors", func(t *testing.T) {
		_, _, err := decodeDocRecord(frameRecord(nil), lim)
		require.ErrorContains(t, err, "bad resourceVersion varint")
		_, _, err = decodeDocRecord(frameRecord([]byte{0x80}), lim)
		require.ErrorContains(t, err, "bad resourceVersion varint")
		_, _, err = decodeDocRecord(frameRecord([]byte{0x01, 0xc0}), lim)
		require.ErrorIs(t, err, ErrMalformed)
		_, err = decodeMeta(frameRecord([]byte{0x94, 0, 0, 0, 0}), lim)
		require.ErrorIs(t, err, ErrMalformed)
		_, err = decodeBufferEntry(frameRecord(mpEncode(t, []any{1, 1, "b", []any{[]any{"b", 0}}, []any{}})), lim)
		require.ErrorContains(t, err, "dot with sequence 0")
	})
}

// --- keys -------------------------------------------------------------------

func TestKeyValidate(t *testing.T) {
	maxName := strings.Repeat("n", MaxKeyLen-len("/Pod/ns/"))
	valid := []struct {
		key                          Key
		group, kind, namespace, name string
	}{
		{"apps/Deployment/default/web", "apps", "Deployment", "default", "web"},
		{"/Pod/default/web", "", "Pod", "default", "web"},
		{"apps/ClusterRole//admin", "apps", "ClusterRole", "", "admin"},
		{"/Namespace//prod", "", "Namespace", "", "prod"},
		{"federation.lattice.dev/Member//did:key:z6Mk", "federation.lattice.dev", "Member", "", "did:key:z6Mk"},
		{"/ConfigMap/ns/ñame-日本", "", "ConfigMap", "ns", "ñame-日本"},
		{"/ConfigMap/ns/a b~", "", "ConfigMap", "ns", "a b~"},
		{Key("/Pod/ns/" + maxName), "", "Pod", "ns", maxName},
	}
	for _, tc := range valid {
		t.Run("valid "+string(tc.key[:min(len(tc.key), 40)]), func(t *testing.T) {
			require.NoError(t, tc.key.Validate())
			g, k, ns, n := tc.key.Parts()
			assert.Equal(t, []string{tc.group, tc.kind, tc.namespace, tc.name}, []string{g, k, ns, n})
			made, err := MakeKey(g, k, ns, n)
			require.NoError(t, err)
			assert.Equal(t, tc.key, made)
		})
	}
	invalid := []struct {
		name string
		key  Key
		want string
	}{
		{"empty", "", "empty"},
		{"one segment", "Pod", "must have the form"},
		{"three segments", "/Pod/name", "must have the form"},
		{"five segments", "/Pod/ns/name/extra", "must have the form"},
		{"only slashes", "///", "empty kind"},
		{"empty kind", "apps//ns/name", "empty kind"},
		{"empty name", "apps/Deployment/ns/", "empty name"},
		{"NUL", "/Pod/ns/a\x00b", "control character"},
		{"newline", "/Pod/ns/a\nb", "control character"},
		{"tab", "/Pod/ns\t/a", "control character"},
		{"DEL", "/Pod/ns/a\x7f", "control character"},
		{"too long", Key("/Pod/ns/" + maxName + "n"), "max 768"},
		{"invalid UTF-8", "/Pod/ns/a\xffb", "not valid UTF-8"},
		{"truncated UTF-8", "/Pod/ns/\xe6\x97", "not valid UTF-8"},
		{"overlong UTF-8 slash", "/Pod/ns\xc0\xafname", "not valid UTF-8"},
	}
	for _, tc := range invalid {
		t.Run("invalid "+tc.name, func(t *testing.T) {
			err := tc.key.Validate()
			require.Error(t, err)
			require.ErrorContains(t, err, tc.want)
			g, k, ns, n := tc.key.Parts()
			if strings.Count(string(tc.key), "/") == 3 {
				_, err = MakeKey(g, k, ns, n)
				require.Error(t, err)
			}
		})
	}
}

// --- JSON strings -------------------------------------------------------------

func TestAppendQuoted(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string
	}{
		{"empty", "", `""`},
		{"plain", "plain text", `"plain text"`},
		{"quotes", `say "hi"`, `"say \"hi\""`},
		{"backslash", `a\b`, `"a\\b"`},
		{"newline, return, tab", "a\nb\rc\td", `"a\nb\rc\td"`},
		{"other control characters", "\x00\x01\x1b\x1f", `"\u0000\u0001\u001b\u001f"`},
		{"DEL is not escaped", "\x7f", "\"\x7f\""},
		{"space and slash", " / ", `" / "`},
		{"HTML characters kept", "<a&b>", `"<a&b>"`},
		{"non-ASCII kept", "héllo 日本 🎉", `"héllo 日本 🎉"`},
		{"line separators kept", "\u2028\u2029", "\"\u2028\u2029\""},
		{"U+FFFD kept", "\ufffd", "\"\ufffd\""},
		{"invalid byte", "a\xffb", `"a\ufffdb"`},
		{"lone continuation byte", "\x80", `"\ufffd"`},
		{"truncated sequence", "\xe6\x97", `"\ufffd\ufffd"`},
		{"overlong encoding", "\xc0\xaf", `"\ufffd\ufffd"`},
		{"surrogate half", "\xed\xa0\x80", `"\ufffd\ufffd\ufffd"`},
		{"invalid between valid", "ü\xffü", `"ü\ufffdü"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := appendQuoted([]byte("prefix:"), tc.in)
			require.Equal(t, "prefix:"+tc.want, string(got))
			require.True(t, json.Valid(got[len("prefix:"):]))
		})
	}
}

// TestAppendQuotedAgreesWithEncodingJSON: decoding appendQuoted's output
// gives what decoding encoding/json's output gives.
func TestAppendQuotedAgreesWithEncodingJSON(t *testing.T) {
	inputs := []string{
		"", "x", `"`, `\`, "\b\f\n\r\t", "<script>&amp;</script>", "\u2028 \u2029",
		"héllo 日本 🎉", "\x7f", "\ufeff", "\U0010ffff", "a\"b\\c/d",
	}
	for c := 0; c < 0x80; c++ {
		inputs = append(inputs, string(rune(c)), "a"+string(rune(c))+"b")
	}
	for _, r := range []rune{0x80, 0x7ff, 0x800, 0xfffd, 0xffff, 0x10000, 0x1f600} {
		inputs = append(inputs, string(r))
	}
	// Invalid UTF-8 too: both replace each bad byte with U+FFFD.
	inputs = append(inputs, "\xff", "a\xfe\xffb", "\xe6\x97", "\xc0\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80")
	for _, s := range inputs {
		var fromOurs, fromStd string
		require.NoError(t, json.Unmarshal(appendQuoted(nil, s), &fromOurs), "%q", s)
		std, err := json.Marshal(s)
		require.NoError(t, err)
		require.NoError(t, json.Unmarshal(std, &fromStd))
		require.Equal(t, fromStd, fromOurs, "%q", s)
		if utf8.ValidString(s) {
			require.Equal(t, s, fromOurs, "%q", s)
		}
	}
}

// A correct peer's document is in normal form and decodes as it is; one
// holding dominated registers, older generation entries or empty nodes
// is brought to normal form by a merge. Either way the result is normal.
func TestUnmarshalDocumentNormalizes(t *testing.T) {
	valid := cdValidDoc()
	d, err := UnmarshalDocument(valid.encode(t), DefaultLimits())
	require.NoError(t, err)
	require.True(t, d.normal())
	require.Equal(t, valid.encode(t), fzMarshal(t, d), "a normal document re-encodes to its input")

	tests := []struct {
		name string
		root any
		gen  []any
		json string
		gens uint64
	}{
		{name: "child older than its parent's register", json: `{"m":{}}`, gens: 2,
			root: []any{kindMap, 1, mpMap{{"k", []any{kindValue, 0, "1"}}, {"m", []any{kindMap, 1}}}}},
		{name: "generation older than the root", json: `{"k":1,"m":{}}`, gens: 0, gen: []any{[]any{2, 0}},
			root: []any{kindMap, 1, mpMap{{"k", []any{kindValue, 1, "1"}}, {"m", []any{kindMap, 1}}}}},
		{name: "empty node", json: `{"k":1}`, gens: 2,
			root: []any{kindMap, 0, mpMap{{"e", []any{kindNone}}, {"k", []any{kindValue, 1, "1"}}}}},
		{name: "empty below a fieldless register", json: `{"k":1,"m":{}}`, gens: 2,
			root: []any{kindMap, 0, mpMap{{"k", []any{kindValue, 1, "1"}}, {"m", []any{kindMap, 1, mpMap{{"x", []any{kindNone}}}}}}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			raw := cdValidDoc()
			raw.root = tc.root
			if tc.gen != nil {
				raw.gen = tc.gen
			}
			in := raw.encode(t)
			d, err := UnmarshalDocument(in, DefaultLimits())
			require.NoError(t, err)
			require.True(t, d.normal())
			require.Equal(t, tc.json, string(d.JSON()))
			require.Equal(t, tc.gens, d.Generation())
			require.NotEqual(t, in, fzMarshal(t, d), "the input was not normal: its re-encoding differs")
		})
	}
}
