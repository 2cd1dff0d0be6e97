package crdt

import (
	"bytes"
	"cmp"
	"fmt"
	"slices"

	"github.com/vmihailenco/msgpack/v5"
)

// WireVersion is the replication message format version. A receiver
// refuses versions it does not know rather than guessing.
const WireVersion = 1

// MessageType tags a replication message.
type MessageType uint8

// Replication messages. A driver (the QUIC gossip layer, or the simulator)
// carries them between replicas and must check that From matches the
// authenticated peer before handing a message to Step.
const (
	MsgDelta  MessageType = 1 // deltas a peer has not acknowledged
	MsgAck    MessageType = 2 // acknowledgement + causal-stability report
	MsgDigest MessageType = 3 // repair step 1: bucket hashes
	MsgKeys   MessageType = 4 // repair step 2: key hashes of differing buckets
	MsgRepair MessageType = 5 // repair steps 3 and 4: full documents
)

func (t MessageType) String() string {
	switch t {
	case MsgDelta:
		return "delta"
	case MsgAck:
		return "ack"
	case MsgDigest:
		return "digest"
	case MsgKeys:
		return "keys"
	case MsgRepair:
		return "repair"
	}
	return fmt.Sprintf("type(%d)", uint8(t))
}

// Message is any replication message.
type Message interface {
	Type() MessageType
	Sender() ReplicaID
}

// KeyedDoc is one object's document; Doc nil means the sender holds no
// state for Key (used in repair so the receiver can apply removals).
type KeyedDoc struct {
	Key Key
	Doc *Document
	raw []byte // cached encoding of Doc, when known
}

// DeltaMsg ships the join of buffered deltas the receiver has not
// acknowledged. Seq is the sender's buffer position the receiver acks.
type DeltaMsg struct {
	From ReplicaID
	Seq  uint64
	Dots []Dot
	Docs []KeyedDoc
}

// AckMsg acknowledges deltas up to Seq and reports the sender's version
// vector (all of it, or for a delta's ack only the entries the delta
// touched: see Replica.ackDelta) and durable clock, from which peers
// derive causal stability.
type AckMsg struct {
	From  ReplicaID
	Seq   uint64
	VV    VersionVector
	Clock Timestamp
}

// DigestMsg opens a repair: the sender's bucket hashes at Depth, and a
// snapshot of its causal context, clock and buffer head.
type DigestMsg struct {
	From    ReplicaID
	Session uint64
	Seq     uint64
	Clock   Timestamp
	Context *Context
	Depth   uint8
	Buckets []Hash
}

// KeysMsg answers a digest: which buckets differ and the responder's keys
// and hashes in them, with a snapshot of the responder's context. InSync
// means nothing differs; AckSeq then acknowledges the digest's Seq.
type KeysMsg struct {
	From    ReplicaID
	Session uint64
	Seq     uint64
	AckSeq  uint64
	Clock   Timestamp
	Context *Context
	InSync  bool
	Depth   uint8
	Buckets []uint32
	Keys    []KeyHash
}

// RepairMsg carries full documents for keys that differ. The initiator's
// message (Final false) holds its context snapshot and the keys it wants;
// the responder's reply (Final true) holds the wanted documents and
// acknowledges the initiator's Seq.
type RepairMsg struct {
	From    ReplicaID
	Session uint64
	Seq     uint64
	AckSeq  uint64
	Final   bool
	Context *Context
	Docs    []KeyedDoc
	Want    []Key
	// Partial: Docs stop short of every differing key (the message size
	// cap). The receiver merges them but must not adopt the sender's
	// context; a later repair round continues.
	Partial bool
}

// KeyHash is one key's digest leaf.
type KeyHash struct {
	Key  Key
	Hash Hash
}

// Hash is a 128-bit content hash.
type Hash [16]byte

func (*DeltaMsg) Type() MessageType  { return MsgDelta }
func (*AckMsg) Type() MessageType    { return MsgAck }
func (*DigestMsg) Type() MessageType { return MsgDigest }
func (*KeysMsg) Type() MessageType   { return MsgKeys }
func (*RepairMsg) Type() MessageType { return MsgRepair }

func (m *DeltaMsg) Sender() ReplicaID  { return m.From }
func (m *AckMsg) Sender() ReplicaID    { return m.From }
func (m *DigestMsg) Sender() ReplicaID { return m.From }
func (m *KeysMsg) Sender() ReplicaID   { return m.From }
func (m *RepairMsg) Sender() ReplicaID { return m.From }

// EncodeMessage encodes m as [version, type, fields...].
func EncodeMessage(m Message) ([]byte, error) { return AppendMessage(nil, m) }

// AppendMessage appends m's encoding (see EncodeMessage) to dst: with the
// room PrepareEncode reports, it encodes without growing dst.
func AppendMessage(dst []byte, m Message) ([]byte, error) {
	buf := bytes.NewBuffer(dst)
	enc := msgpack.GetEncoder()
	defer msgpack.PutEncoder(enc)
	enc.Reset(buf)
	e := &errWriter{enc: enc}
	switch t := m.(type) {
	case *DeltaMsg:
		e.arrayLen(6)
		e.uint(WireVersion)
		e.uint(uint64(MsgDelta))
		e.str(string(t.From))
		e.uint(t.Seq)
		encodeDots(e, t.Dots)
		encodeDocs(e, t.Docs)
	case *AckMsg:
		e.arrayLen(6)
		e.uint(WireVersion)
		e.uint(uint64(MsgAck))
		e.str(string(t.From))
		e.uint(t.Seq)
		encodeVV(e, t.VV)
		e.uint(uint64(t.Clock))
	case *DigestMsg:
		e.arrayLen(9)
		e.uint(WireVersion)
		e.uint(uint64(MsgDigest))
		e.str(string(t.From))
		e.uint(t.Session)
		e.uint(t.Seq)
		e.uint(uint64(t.Clock))
		encodeContext(e, t.Context)
		e.uint(uint64(t.Depth))
		e.arrayLen(len(t.Buckets))
		for _, h := range t.Buckets {
			e.bytes(h[:])
		}
	case *KeysMsg:
		e.arrayLen(12)
		e.uint(WireVersion)
		e.uint(uint64(MsgKeys))
		e.str(string(t.From))
		e.uint(t.Session)
		e.uint(t.Seq)
		e.uint(t.AckSeq)
		e.uint(uint64(t.Clock))
		encodeContext(e, t.Context)
		e.boolean(t.InSync)
		e.uint(uint64(t.Depth))
		e.arrayLen(len(t.Buckets))
		for _, b := range t.Buckets {
			e.uint(uint64(b))
		}
		e.arrayLen(len(t.Keys))
		for _, kh := range t.Keys {
			e.arrayLen(2)
			e.str(string(kh.Key))
			e.bytes(kh.Hash[:])
		}
	case *RepairMsg:
		e.arrayLen(11)
		e.uint(WireVersion)
		e.uint(uint64(MsgRepair))
		e.str(string(t.From))
		e.uint(t.Session)
		e.uint(t.Seq)
		e.uint(t.AckSeq)
		e.boolean(t.Final)
		if t.Context == nil {
			e.keep(enc.EncodeNil())
		} else {
			encodeContext(e, t.Context)
		}
		encodeDocs(e, t.Docs)
		e.arrayLen(len(t.Want))
		for _, k := range t.Want {
			e.str(string(k))
		}
		e.boolean(t.Partial)
	default:
		return nil, fmt.Errorf("encode message: unknown type %T", m)
	}
	if e.err != nil {
		return nil, fmt.Errorf("encode %s message: %w", m.Type(), e.err)
	}
	return buf.Bytes(), nil
}

func encodeDots(e *errWriter, dots []Dot) {
	e.arrayLen(len(dots))
	for _, d := range dots {
		e.arrayLen(2)
		e.str(string(d.Replica))
		e.uint(d.Seq)
	}
}

func encodeVV(e *errWriter, vv VersionVector) {
	e.arrayLen(len(vv.e))
	for _, x := range vv.e { // sorted: the canonical order
		e.arrayLen(2)
		e.str(string(x.id))
		e.uint(x.n)
	}
}

func encodeContext(e *errWriter, c *Context) {
	if c == nil {
		c = NewContext()
	}
	e.arrayLen(2)
	encodeVV(e, c.VV)
	e.arrayLen(c.CloudRanges())
	for _, id := range c.cloudReplicas() {
		for _, r := range c.cloud[id] {
			e.arrayLen(3)
			e.str(string(id))
			e.uint(r.lo)
			e.uint(r.hi)
		}
	}
}

func encodeDocs(e *errWriter, docs []KeyedDoc) {
	e.arrayLen(len(docs))
	for _, kd := range docs {
		e.arrayLen(2)
		e.str(string(kd.Key))
		switch {
		case kd.Doc == nil:
			e.keep(e.enc.EncodeNil())
		case kd.raw != nil:
			e.keep(e.enc.Encode(msgpack.RawMessage(kd.raw)))
		default:
			e.keep(kd.Doc.encode(e.enc))
		}
	}
}

// DecodeMessage decodes and validates a replication message. It never
// panics, allocates at most in proportion to len(b), and wraps ErrMalformed.
func DecodeMessage(b []byte, lim Limits) (Message, error) {
	return DecodeMessageInterned(b, lim, nil)
}

// DecodeMessageInterned is DecodeMessage with the replica IDs it decodes
// interned in ids (see IDTable); nil ids is DecodeMessage.
func DecodeMessageInterned(b []byte, lim Limits, ids *IDTable) (Message, error) {
	if len(b) > lim.MaxMessageBytes {
		return nil, fmt.Errorf("%w: message is %d bytes, max %d", ErrMalformed, len(b), lim.MaxMessageBytes)
	}
	r := newMsgReader(b)
	defer r.release()
	r.ids = ids
	n, err := r.arrayLen(3, 16)
	if err != nil {
		return nil, r.wrap("message", err)
	}
	v, err := r.uint()
	if err != nil {
		return nil, r.wrap("message version", err)
	}
	if v != WireVersion {
		return nil, fmt.Errorf("%w: unsupported wire version %d (this build speaks %d)", ErrMalformed, v, WireVersion)
	}
	t, err := r.uint()
	if err != nil {
		return nil, r.wrap("message type", err)
	}
	from, err := decodeReplicaID(r)
	if err != nil {
		return nil, err
	}
	d := &msgDecoder{r: r, lim: lim}
	var m Message
	want := 0
	switch MessageType(t) {
	case MsgDelta:
		want = 6
		m = d.delta(from)
	case MsgAck:
		want = 6
		m = d.ack(from)
	case MsgDigest:
		want = 9
		m = d.digest(from)
	case MsgKeys:
		want = 12
		m = d.keys(from)
	case MsgRepair:
		want = 11
		m = d.repair(from)
	default:
		return nil, fmt.Errorf("%w: unknown message type %d", ErrMalformed, t)
	}
	if n != want {
		return nil, fmt.Errorf("%w: %s message has %d fields, want %d", ErrMalformed, MessageType(t), n, want)
	}
	if d.err != nil {
		return nil, fmt.Errorf("%s message: %w", MessageType(t), d.err)
	}
	if r.remaining() != 0 {
		return nil, fmt.Errorf("%w: %d trailing bytes after %s message", ErrMalformed, r.remaining(), MessageType(t))
	}
	return m, nil
}

func decodeReplicaID(r *msgReader) (ReplicaID, error) {
	id, err := r.replicaID()
	if err != nil {
		return "", r.wrap("replica id", err)
	}
	return id, nil
}

// msgDecoder keeps the first error so message decoders read straight.
type msgDecoder struct {
	r   *msgReader
	lim Limits
	err error
}

func (d *msgDecoder) fail(what string, err error) {
	if d.err == nil && err != nil {
		d.err = d.r.wrap(what, err)
	}
}

func (d *msgDecoder) failf(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, args...))
	}
}

func (d *msgDecoder) uint(what string) uint64 {
	if d.err != nil {
		return 0
	}
	v, err := d.r.uint()
	d.fail(what, err)
	return v
}

func (d *msgDecoder) boolean(what string) bool {
	if d.err != nil {
		return false
	}
	v, err := d.r.boolean()
	d.fail(what, err)
	return v
}

func (d *msgDecoder) arrayLen(what string, max int) int {
	if d.err != nil {
		return 0
	}
	n, err := d.r.arrayLen(0, max)
	d.fail(what, err)
	return n
}

func (d *msgDecoder) replica(what string) ReplicaID {
	if d.err != nil {
		return ""
	}
	id, err := decodeReplicaID(d.r)
	if err != nil && d.err == nil {
		d.err = fmt.Errorf("%s: %w", what, err)
	}
	return id
}

func (d *msgDecoder) key(what string) Key {
	if d.err != nil {
		return ""
	}
	s, err := d.r.str(MaxKeyLen)
	if err != nil {
		d.fail(what, err)
		return ""
	}
	k := Key(s)
	if err := k.Validate(); err != nil {
		d.failf("%s: %v", what, err)
	}
	return k
}

func (d *msgDecoder) hash(what string) Hash {
	var h Hash
	if d.err != nil {
		return h
	}
	b, err := d.r.bytes(len(h))
	if err == nil && len(b) != len(h) {
		err = fmt.Errorf("hash is %d bytes, want %d", len(b), len(h))
	}
	d.fail(what, err)
	copy(h[:], b)
	return h
}

func (d *msgDecoder) dots(what string) []Dot {
	n := d.arrayLen(what, d.lim.MaxDotsPerMessage)
	out := make([]Dot, 0, n)
	for i := 0; i < n && d.err == nil; i++ {
		if k := d.arrayLen(what, 2); k != 2 && d.err == nil {
			d.failf("%s: dot has %d elements", what, k)
		}
		id := d.replica(what)
		seq := d.uint(what)
		if d.err == nil && seq == 0 {
			d.failf("%s: dot with sequence 0", what)
		}
		out = append(out, Dot{Replica: id, Seq: seq})
	}
	return out
}

// vv decodes a version vector. Its entries must come in strictly
// increasing replica order, as encodeVV writes them: that is the
// canonical encoding, and it rules out duplicates with one comparison per
// entry.
func (d *msgDecoder) vv(what string) VersionVector {
	n := d.arrayLen(what, d.lim.MaxDotsPerMessage)
	var vv VersionVector
	vv.e = make([]vvEntry, 0, n)
	for i := 0; i < n && d.err == nil; i++ {
		if k := d.arrayLen(what, 2); k != 2 && d.err == nil {
			d.failf("%s: entry has %d elements", what, k)
		}
		id := d.replica(what)
		seq := d.uint(what)
		if d.err != nil {
			break
		}
		if i > 0 && id <= vv.e[i-1].id {
			if id == vv.e[i-1].id {
				d.failf("%s: duplicate entry for %s", what, id)
			} else {
				d.failf("%s: entries not sorted (%s after %s)", what, id, vv.e[i-1].id)
			}
			break
		}
		vv.e = append(vv.e, vvEntry{id, seq})
	}
	return vv
}

func (d *msgDecoder) context(what string) *Context {
	if k := d.arrayLen(what, 2); k != 2 && d.err == nil {
		d.failf("%s: context has %d elements", what, k)
	}
	c := &Context{VV: d.vv(what)}
	c.VV.dropZeros()
	n := d.arrayLen(what, d.lim.MaxDotsPerMessage)
	for i := 0; i < n && d.err == nil; i++ {
		if k := d.arrayLen(what, 3); k != 3 && d.err == nil {
			d.failf("%s: cloud range has %d elements", what, k)
		}
		id := d.replica(what)
		lo, hi := d.uint(what), d.uint(what)
		if d.err == nil && (lo == 0 || hi < lo) {
			d.failf("%s: bad cloud range %d..%d", what, lo, hi)
		}
		if d.err == nil {
			c.addRange(id, dotRange{lo, hi})
		}
	}
	return c
}

func (d *msgDecoder) docs(what string) []KeyedDoc {
	n := d.arrayLen(what, d.lim.MaxDocsPerMessage)
	out := make([]KeyedDoc, 0, min(n, 1024))
	seen := make(map[Key]struct{}, min(n, 1024))
	for i := 0; i < n && d.err == nil; i++ {
		if k := d.arrayLen(what, 2); k != 2 && d.err == nil {
			d.failf("%s: entry has %d elements", what, k)
		}
		key := d.key(what)
		if d.err != nil {
			break
		}
		if _, dup := seen[key]; dup {
			d.failf("%s: duplicate key %s", what, key)
			break
		}
		seen[key] = struct{}{}
		c, err := d.r.dec.PeekCode()
		if err != nil {
			d.fail(what, err)
			break
		}
		if c == msgpackNil {
			_ = d.r.dec.DecodeNil()
			out = append(out, KeyedDoc{Key: key})
			continue
		}
		before := d.r.remaining()
		doc, err := decodeDocument(d.r, d.lim)
		if err != nil {
			d.err = fmt.Errorf("%s: document %s: %w", what, key, err)
			break
		}
		if size := before - d.r.remaining(); size > d.lim.MaxDocumentBytes {
			d.failf("%s: document %s is %d bytes, max %d", what, key, size, d.lim.MaxDocumentBytes)
		}
		out = append(out, KeyedDoc{Key: key, Doc: doc})
	}
	return out
}

const msgpackNil = 0xc0

func (d *msgDecoder) delta(from ReplicaID) *DeltaMsg {
	m := &DeltaMsg{From: from}
	m.Seq = d.uint("seq")
	m.Dots = d.dots("dots")
	m.Docs = d.docs("docs")
	return m
}

func (d *msgDecoder) ack(from ReplicaID) *AckMsg {
	m := &AckMsg{From: from}
	m.Seq = d.uint("seq")
	m.VV = d.vv("version vector")
	m.Clock = Timestamp(d.uint("clock"))
	return m
}

func (d *msgDecoder) digest(from ReplicaID) *DigestMsg {
	m := &DigestMsg{From: from}
	m.Session = d.uint("session")
	m.Seq = d.uint("seq")
	m.Clock = Timestamp(d.uint("clock"))
	m.Context = d.context("context")
	depth := d.uint("depth")
	if d.err == nil && depth > maxDigestDepth {
		d.failf("digest depth %d exceeds %d", depth, maxDigestDepth)
	}
	m.Depth = uint8(depth)
	n := d.arrayLen("buckets", d.lim.MaxDigestBuckets)
	if d.err == nil && n != 1<<m.Depth {
		d.failf("digest has %d buckets, want %d for depth %d", n, 1<<m.Depth, m.Depth)
	}
	m.Buckets = make([]Hash, 0, n)
	for i := 0; i < n && d.err == nil; i++ {
		m.Buckets = append(m.Buckets, d.hash("bucket"))
	}
	return m
}

func (d *msgDecoder) keys(from ReplicaID) *KeysMsg {
	m := &KeysMsg{From: from}
	m.Session = d.uint("session")
	m.Seq = d.uint("seq")
	m.AckSeq = d.uint("ack seq")
	m.Clock = Timestamp(d.uint("clock"))
	m.Context = d.context("context")
	m.InSync = d.boolean("in sync")
	depth := d.uint("depth")
	if d.err == nil && depth > maxDigestDepth {
		d.failf("digest depth %d exceeds %d", depth, maxDigestDepth)
	}
	m.Depth = uint8(depth)
	n := d.arrayLen("buckets", d.lim.MaxDigestBuckets)
	m.Buckets = make([]uint32, 0, n)
	for i := 0; i < n && d.err == nil; i++ {
		b := d.uint("bucket")
		if d.err == nil && b >= 1<<m.Depth {
			d.failf("bucket %d out of range for depth %d", b, m.Depth)
		}
		m.Buckets = append(m.Buckets, uint32(b))
	}
	n = d.arrayLen("keys", d.lim.MaxDocsPerMessage*4)
	m.Keys = make([]KeyHash, 0, min(n, 1024))
	for i := 0; i < n && d.err == nil; i++ {
		if k := d.arrayLen("key hash", 2); k != 2 && d.err == nil {
			d.failf("key hash has %d elements", k)
		}
		kh := KeyHash{Key: d.key("key")}
		kh.Hash = d.hash("hash")
		m.Keys = append(m.Keys, kh)
	}
	return m
}

func (d *msgDecoder) repair(from ReplicaID) *RepairMsg {
	m := &RepairMsg{From: from}
	m.Session = d.uint("session")
	m.Seq = d.uint("seq")
	m.AckSeq = d.uint("ack seq")
	m.Final = d.boolean("final")
	if d.err == nil {
		if c, err := d.r.dec.PeekCode(); err != nil {
			d.fail("context", err)
		} else if c == msgpackNil {
			_ = d.r.dec.DecodeNil()
		} else {
			m.Context = d.context("context")
		}
	}
	m.Docs = d.docs("docs")
	n := d.arrayLen("want", d.lim.MaxDocsPerMessage)
	m.Want = make([]Key, 0, min(n, 1024))
	for i := 0; i < n && d.err == nil; i++ {
		m.Want = append(m.Want, d.key("want"))
	}
	m.Partial = d.boolean("partial")
	if d.err == nil && !m.Final && m.Context == nil {
		d.failf("initiator repair message without context")
	}
	return m
}

// sortDocs orders documents by key so encodings are deterministic.
func sortDocs(docs []KeyedDoc) {
	slices.SortFunc(docs, func(a, b KeyedDoc) int { return cmp.Compare(a.Key, b.Key) })
}
