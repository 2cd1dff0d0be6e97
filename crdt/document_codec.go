package crdt

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"unicode/utf8"
	"unsafe"

	"github.com/vmihailenco/msgpack/v5"
)

// documentFormat is the version of the document encoding; bump it on any
// incompatible change and keep a decoder for the old one.
const documentFormat = 1

// Document encoding (msgpack, canonical: equal states encode to equal bytes):
//
//	[format, writers[str...], stamps[[time, writerIdx, seq]...], gen[[n, stampIdx]...], root]
//	node: [0, fields?] | [1|3, stampIdx, fields?] | [2, stampIdx, value, fields?]
//	fields: map str -> node, keys sorted
//
// Writers and stamps are interned in sorted tables so the many registers an
// operation writes share one stamp entry; that keeps the metadata overhead
// of an object close to its JSON size.

// MarshalBinary encodes the document canonically.
// The result is shared with the document's cache: do not modify it.
func (d *Document) MarshalBinary() ([]byte, error) {
	if d.enc != nil {
		return d.enc, nil
	}
	buf := encodeBuffers.Get().(*bytes.Buffer)
	defer encodeBuffers.Put(buf)
	buf.Reset()
	enc := msgpack.GetEncoder()
	defer msgpack.PutEncoder(enc)
	enc.Reset(buf)
	if err := d.encode(enc); err != nil {
		return nil, err
	}
	// An exact copy: the encoding is cached for the document's life, and
	// a replica holds many documents.
	d.enc = bytes.Clone(buf.Bytes())
	return d.enc, nil
}

// encodeBuffers are scratch buffers for document encodings.
var encodeBuffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

type stampTable struct {
	writers  []ReplicaID
	widx     map[ReplicaID]int
	stamps   []Stamp
	stampIdx map[Stamp]int
	// last caches the previous lookup: neighbouring registers usually
	// share the stamp of the operation that wrote them.
	last    Stamp
	lastIdx int
}

func (t *stampTable) index(s Stamp) int {
	if s == t.last {
		return t.lastIdx
	}
	t.last, t.lastIdx = s, t.stampIdx[s]
	return t.lastIdx
}

func buildStampTable(d *Document) *stampTable {
	t := &stampTable{widx: map[ReplicaID]int{}, stampIdx: map[Stamp]int{}, lastIdx: -1}
	var prev Stamp
	d.forEachStamp(func(s Stamp) {
		if s == prev {
			return
		}
		prev = s
		if _, ok := t.stampIdx[s]; !ok {
			t.stampIdx[s] = 0
			t.stamps = append(t.stamps, s)
		}
		if _, ok := t.widx[s.Writer]; !ok {
			t.widx[s.Writer] = 0
			t.writers = append(t.writers, s.Writer)
		}
	})
	slices.SortFunc(t.stamps, Stamp.Compare)
	slices.Sort(t.writers)
	for i, s := range t.stamps {
		t.stampIdx[s] = i
	}
	t.last, t.lastIdx = Stamp{}, t.stampIdx[Stamp{}]
	for i, w := range t.writers {
		t.widx[w] = i
	}
	return t
}

func (d *Document) encode(enc *msgpack.Encoder) error {
	t := buildStampTable(d)
	e := errWriter{enc: enc}
	e.arrayLen(5)
	e.uint(documentFormat)
	e.arrayLen(len(t.writers))
	for _, w := range t.writers {
		e.str(string(w))
	}
	e.arrayLen(len(t.stamps))
	for _, s := range t.stamps {
		e.arrayLen(3)
		e.uint(uint64(s.Time))
		e.uint(uint64(t.widx[s.Writer]))
		e.uint(s.Seq)
	}
	gw := make([]ReplicaID, 0, len(d.gen))
	for w := range d.gen {
		gw = append(gw, w)
	}
	slices.Sort(gw)
	e.arrayLen(len(gw))
	for _, w := range gw {
		g := d.gen[w]
		e.arrayLen(2)
		e.uint(g.N)
		e.uint(uint64(t.index(g.Stamp)))
	}
	d.root.encode(&e, t)
	return e.err
}

func (n *node) encode(e *errWriter, t *stampTable) {
	l := 1
	if n.kind != kindNone {
		l++
	}
	if n.kind == kindValue {
		l++
	}
	if len(n.fields) > 0 {
		l++
	}
	e.arrayLen(l)
	e.uint(uint64(n.kind))
	if n.kind != kindNone {
		e.uint(uint64(t.index(n.stamp)))
	}
	if n.kind == kindValue {
		e.bytesAsStr(n.value)
	}
	if len(n.fields) > 0 {
		e.mapLen(len(n.fields))
		var scratch [32]string
		for _, k := range n.sortedKeys(scratch[:]) {
			e.str(k)
			n.fields[k].encode(e, t)
		}
	}
}

// errWriter keeps the first encoding error so encoders read straight.
type errWriter struct {
	enc *msgpack.Encoder
	err error
}

func (e *errWriter) keep(err error) {
	if e.err == nil && err != nil {
		e.err = err
	}
}
func (e *errWriter) arrayLen(n int) { e.keep(e.enc.EncodeArrayLen(n)) }
func (e *errWriter) mapLen(n int)   { e.keep(e.enc.EncodeMapLen(n)) }
func (e *errWriter) uint(v uint64)  { e.keep(e.enc.EncodeUint(v)) }
func (e *errWriter) str(s string)   { e.keep(e.enc.EncodeString(s)) }

// bytesAsStr writes b as a msgpack str without copying it: the encoder only
// reads the string, and register values are immutable.
func (e *errWriter) bytesAsStr(b []byte) {
	e.keep(e.enc.EncodeString(unsafe.String(unsafe.SliceData(b), len(b))))
}
func (e *errWriter) bytes(b []byte) { e.keep(e.enc.EncodeBytes(b)) }
func (e *errWriter) boolean(v bool) { e.keep(e.enc.EncodeBool(v)) }

// ErrMalformed is wrapped by every decoding error.
var ErrMalformed = errors.New("malformed input")

// UnmarshalDocument decodes a document, enforcing lim. It never panics on
// hostile input and the result is in normal form.
func UnmarshalDocument(b []byte, lim Limits) (*Document, error) {
	if len(b) > lim.MaxDocumentBytes {
		return nil, fmt.Errorf("%w: document is %d bytes, max %d", ErrMalformed, len(b), lim.MaxDocumentBytes)
	}
	r := newMsgReader(b)
	defer r.release()
	d, err := decodeDocument(r, lim)
	if err != nil {
		return nil, err
	}
	if r.remaining() != 0 {
		return nil, fmt.Errorf("%w: %d trailing bytes after document", ErrMalformed, r.remaining())
	}
	return d, nil
}

func decodeDocument(r *msgReader, lim Limits) (*Document, error) {
	n, err := r.arrayLen(5, 5)
	if err != nil {
		return nil, r.wrap("document", err)
	}
	_ = n
	v, err := r.uint()
	if err != nil {
		return nil, r.wrap("document format", err)
	}
	if v != documentFormat {
		return nil, fmt.Errorf("%w: unsupported document format %d", ErrMalformed, v)
	}
	nw, err := r.arrayLen(0, 1<<16)
	if err != nil {
		return nil, r.wrap("writers", err)
	}
	writers := make([]ReplicaID, nw)
	for i := range writers {
		id, err := r.replicaID()
		if err != nil {
			return nil, r.wrap("writer", err)
		}
		if i > 0 && id <= writers[i-1] {
			return nil, fmt.Errorf("%w: writers not sorted and unique", ErrMalformed)
		}
		writers[i] = id
	}
	ns, err := r.arrayLen(0, 1<<20)
	if err != nil {
		return nil, r.wrap("stamps", err)
	}
	stamps := make([]Stamp, ns)
	for i := range stamps {
		if _, err := r.arrayLen(3, 3); err != nil {
			return nil, r.wrap("stamp", err)
		}
		tm, err1 := r.uint()
		wi, err2 := r.uint()
		seq, err3 := r.uint()
		if err := errors.Join(err1, err2, err3); err != nil {
			return nil, r.wrap("stamp", err)
		}
		if wi >= uint64(len(writers)) {
			return nil, fmt.Errorf("%w: stamp writer index %d out of range", ErrMalformed, wi)
		}
		if seq == 0 || tm == 0 {
			return nil, fmt.Errorf("%w: stamp with zero time or sequence", ErrMalformed)
		}
		stamps[i] = Stamp{Time: Timestamp(tm), Writer: writers[wi], Seq: seq}
		if i > 0 && stamps[i].Compare(stamps[i-1]) <= 0 {
			return nil, fmt.Errorf("%w: stamps not sorted and unique", ErrMalformed)
		}
	}
	stampAt := func(what string) (Stamp, error) {
		i, err := r.uint()
		if err != nil {
			return Stamp{}, r.wrap(what, err)
		}
		if i >= uint64(len(stamps)) {
			return Stamp{}, fmt.Errorf("%w: %s stamp index %d out of range", ErrMalformed, what, i)
		}
		return stamps[i], nil
	}
	d := &Document{}
	ng, err := r.arrayLen(0, len(writers))
	if err != nil {
		return nil, r.wrap("generation", err)
	}
	for i := 0; i < ng; i++ {
		if _, err := r.arrayLen(2, 2); err != nil {
			return nil, r.wrap("generation entry", err)
		}
		cnt, err := r.uint()
		if err != nil {
			return nil, r.wrap("generation count", err)
		}
		s, err := stampAt("generation")
		if err != nil {
			return nil, err
		}
		if d.gen == nil {
			d.gen = make(map[ReplicaID]genEntry, ng)
		}
		if _, dup := d.gen[s.Writer]; dup {
			return nil, fmt.Errorf("%w: duplicate generation entry for %s", ErrMalformed, s.Writer)
		}
		d.gen[s.Writer] = genEntry{N: cnt, Stamp: s}
	}
	var root node
	if err := decodeNode(r, &root, stampAt, lim, 0); err != nil {
		return nil, err
	}
	if root.kind == kindValue {
		// Only maps and tombstones are written at the root: an object is
		// never a scalar or a list.
		return nil, fmt.Errorf("%w: document root is a scalar register", ErrMalformed)
	}
	// Bring hostile or foreign input to normal form: merging it into an
	// empty document prunes dominated registers and empty nodes. A correct
	// peer's document is in normal form already (its encoder wrote one),
	// and checking that walks the tree once, where the merge builds a
	// second one.
	out := &Document{root: root, gen: d.gen}
	if !out.normal() {
		out = &Document{}
		out.merge(&Document{root: root, gen: d.gen}, nil)
	}
	out.cacheStamps()
	return out, nil
}

func decodeNode(r *msgReader, n *node, stampAt func(string) (Stamp, error), lim Limits, depth int) error {
	if depth > lim.MaxDepth {
		return fmt.Errorf("%w: document nests deeper than %d", ErrMalformed, lim.MaxDepth)
	}
	l, err := r.arrayLen(1, 4)
	if err != nil {
		return r.wrap("node", err)
	}
	k, err := r.uint()
	if err != nil {
		return r.wrap("node kind", err)
	}
	if k >= uint64(numKinds) {
		return fmt.Errorf("%w: unknown node kind %d", ErrMalformed, k)
	}
	n.kind = nodeKind(k)
	want := 1
	if n.kind != kindNone {
		want++
		if n.stamp, err = stampAt("node"); err != nil {
			return err
		}
	}
	if n.kind == kindValue {
		want++
		b, err := r.strBytes(lim.MaxDocumentBytes)
		if err != nil {
			return r.wrap("value", err)
		}
		if err := validateLeaf(b, lim.MaxDepth-depth); err != nil {
			return err
		}
		n.value = b
	}
	switch l {
	case want:
		return nil
	case want + 1:
	default:
		return fmt.Errorf("%w: node of kind %d has %d elements", ErrMalformed, k, l)
	}
	nf, err := r.mapLen(1, 1<<20)
	if err != nil {
		return r.wrap("fields", err)
	}
	n.fields = make(map[string]*node, min(nf, 64))
	// The fields' nodes come from one allocation (bounded like the map's
	// hint, so a forged count cannot make it large).
	kids := make([]node, min(nf, 64))
	prev := ""
	for i := 0; i < nf; i++ {
		name, err := r.name(lim.MaxObjectBytes)
		if err != nil {
			return r.wrap("field name", err)
		}
		if !utf8.ValidString(name) {
			return fmt.Errorf("%w: field name is not valid UTF-8", ErrMalformed)
		}
		if i > 0 && name <= prev {
			return fmt.Errorf("%w: field names not sorted and unique", ErrMalformed)
		}
		prev = name
		var c *node
		if i < len(kids) {
			c = &kids[i]
		} else {
			c = &node{}
		}
		if err := decodeNode(r, c, stampAt, lim, depth+1); err != nil {
			return err
		}
		n.fields[name] = c
	}
	return nil
}

// validateLeaf checks a register value: JSON in the canonical form
// appendJSONValue writes (so equal values have equal bytes and JSON()
// stays canonical), nesting at most maxDepth levels, and not an object
// (objects are maps of registers, never a single register).
func validateLeaf(b []byte, maxDepth int) error {
	if !json.Valid(b) {
		return fmt.Errorf("%w: value is not valid JSON", ErrMalformed)
	}
	if t := bytes.TrimLeft(b, " \t\r\n"); len(t) > 0 && t[0] == '{' {
		return fmt.Errorf("%w: value is a JSON object", ErrMalformed)
	}
	canonical := false
	switch last := b[len(b)-1]; b[0] {
	case 't', 'f', 'n', '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		// A literal or a number (kept as written) is canonical unless
		// followed by whitespace.
		canonical = last != ' ' && last != '\t' && last != '\r' && last != '\n'
	case '"':
		if bytes.IndexByte(b, '\\') < 0 {
			// No escapes: canonical unless followed by whitespace or not
			// UTF-8 (json.Valid does not check encoding).
			canonical = last == '"' && utf8.Valid(b)
			break
		}
		var s string
		canonical = json.Unmarshal(b, &s) == nil && bytes.Equal(appendQuoted(make([]byte, 0, len(b)), s), b)
	default:
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.UseNumber()
		var v any
		if err := dec.Decode(&v); err != nil {
			return fmt.Errorf("%w: value is not valid JSON: %v", ErrMalformed, err)
		}
		if jsonDepth(v) > maxDepth {
			return fmt.Errorf("%w: value nests deeper than the depth limit", ErrMalformed)
		}
		canonical = bytes.Equal(appendJSONValue(make([]byte, 0, len(b)), v), b)
	}
	if !canonical {
		return fmt.Errorf("%w: value is not canonical JSON", ErrMalformed)
	}
	return nil
}
