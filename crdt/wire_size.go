package crdt

import "fmt"

// PrepareEncode readies m to be encoded later, possibly on another
// goroutine, and returns the exact length EncodeMessage(m) will have.
//
// A message may share documents with the replica that built it (a repair
// sends the live document, a delta the buffered one), and the replica goes
// on changing its documents after the message leaves it. PrepareEncode
// fixes the encoding of every document m carries now (a document caches
// its encoding, which later changes replace instead of overwrite), so a
// later EncodeMessage(m) reads none of the replica's mutable state: only
// m's own fields and those cached bytes. Every other part of a message
// the replica builds is the message's own (fresh slices, and context
// snapshots the replica never changes).
//
// The length is computed from m's fields without encoding it. The
// simulator uses it to put a message on its modelled link at once and
// encode it on another core.
func PrepareEncode(m Message) (int, error) {
	n := 0
	switch t := m.(type) {
	case *DeltaMsg:
		docs, err := prepareDocs(t.Docs)
		if err != nil {
			return 0, fmt.Errorf("prepare %s message: %w", m.Type(), err)
		}
		n = arrayLenSize(6) + uintSize(WireVersion) + uintSize(uint64(MsgDelta)) + strSize(len(t.From)) +
			uintSize(t.Seq) + dotsSize(t.Dots) + docs
	case *AckMsg:
		n = arrayLenSize(6) + uintSize(WireVersion) + uintSize(uint64(MsgAck)) + strSize(len(t.From)) +
			uintSize(t.Seq) + vvSize(t.VV) + uintSize(uint64(t.Clock))
	case *DigestMsg:
		n = arrayLenSize(9) + uintSize(WireVersion) + uintSize(uint64(MsgDigest)) + strSize(len(t.From)) +
			uintSize(t.Session) + uintSize(t.Seq) + uintSize(uint64(t.Clock)) + contextSize(t.Context) +
			uintSize(uint64(t.Depth)) + arrayLenSize(len(t.Buckets)) + len(t.Buckets)*binSize(len(Hash{}))
	case *KeysMsg:
		n = arrayLenSize(12) + uintSize(WireVersion) + uintSize(uint64(MsgKeys)) + strSize(len(t.From)) +
			uintSize(t.Session) + uintSize(t.Seq) + uintSize(t.AckSeq) + uintSize(uint64(t.Clock)) +
			contextSize(t.Context) + boolSize + uintSize(uint64(t.Depth)) + arrayLenSize(len(t.Buckets))
		for _, b := range t.Buckets {
			n += uintSize(uint64(b))
		}
		n += arrayLenSize(len(t.Keys))
		for _, kh := range t.Keys {
			n += arrayLenSize(2) + strSize(len(kh.Key)) + binSize(len(kh.Hash))
		}
	case *RepairMsg:
		docs, err := prepareDocs(t.Docs)
		if err != nil {
			return 0, fmt.Errorf("prepare %s message: %w", m.Type(), err)
		}
		n = arrayLenSize(11) + uintSize(WireVersion) + uintSize(uint64(MsgRepair)) + strSize(len(t.From)) +
			uintSize(t.Session) + uintSize(t.Seq) + uintSize(t.AckSeq) + boolSize + docs +
			arrayLenSize(len(t.Want)) + boolSize
		if t.Context == nil {
			n += nilSize
		} else {
			n += contextSize(t.Context)
		}
		for _, k := range t.Want {
			n += strSize(len(k))
		}
	default:
		return 0, fmt.Errorf("prepare message: unknown type %T", m)
	}
	return n, nil
}

// prepareDocs fixes each document's encoding in its KeyedDoc (which
// encodeDocs then copies as is) and returns the encoded list's length.
func prepareDocs(docs []KeyedDoc) (int, error) {
	n := arrayLenSize(len(docs))
	for i := range docs {
		kd := &docs[i]
		n += arrayLenSize(2) + strSize(len(kd.Key))
		switch {
		case kd.Doc == nil:
			n += nilSize
			continue
		case kd.raw == nil:
			raw, err := kd.Doc.MarshalBinary()
			if err != nil {
				return 0, fmt.Errorf("document %s: %w", kd.Key, err)
			}
			kd.raw = raw
		}
		n += len(kd.raw)
	}
	return n, nil
}

func dotsSize(dots []Dot) int {
	n := arrayLenSize(len(dots))
	for _, d := range dots {
		n += arrayLenSize(2) + strSize(len(d.Replica)) + uintSize(d.Seq)
	}
	return n
}

func vvSize(vv VersionVector) int {
	n := arrayLenSize(len(vv.e))
	for _, x := range vv.e {
		n += arrayLenSize(2) + strSize(len(x.id)) + uintSize(x.n)
	}
	return n
}

// contextSize mirrors encodeContext, which encodes nil as an empty context.
func contextSize(c *Context) int {
	if c == nil {
		return arrayLenSize(2) + arrayLenSize(0) + arrayLenSize(0)
	}
	n := arrayLenSize(2) + vvSize(c.VV) + arrayLenSize(c.CloudRanges())
	for id, rs := range c.cloud {
		for _, r := range rs {
			n += arrayLenSize(3) + strSize(len(id)) + uintSize(r.lo) + uintSize(r.hi)
		}
	}
	return n
}

// The lengths of msgpack's encodings, as vmihailenco/msgpack writes them
// (the smallest form that holds the value).
const (
	boolSize = 1
	nilSize  = 1
)

func uintSize(v uint64) int {
	switch {
	case v <= 0x7f:
		return 1 // positive fixint
	case v <= 0xff:
		return 2
	case v <= 0xffff:
		return 3
	case v <= 0xffffffff:
		return 5
	}
	return 9
}

// strSize: a short string is a fixstr; longer ones take str8/16/32
// headers the size of bin8/16/32's.
func strSize(l int) int {
	if l < 32 {
		return 1 + l
	}
	return binSize(l)
}

func binSize(l int) int {
	switch {
	case l < 256:
		return 2 + l
	case l <= 0xffff:
		return 3 + l
	}
	return 5 + l
}

func arrayLenSize(l int) int {
	switch {
	case l < 16:
		return 1 // fixarray
	case l <= 0xffff:
		return 3
	}
	return 5
}
