package crdt

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"

	"github.com/vmihailenco/msgpack/v5"
)

// On-disk records are framed as [format byte][crc32c(payload) 4 bytes][payload]
// so a flipped bit anywhere is reported as corruption of a named key rather
// than decoded into wrong state. Badger does not verify table checksums by
// default; this check is ours.

const recordFormat = 1

var crcTable = crc32.MakeTable(crc32.Castagnoli)

func frameRecord(payload []byte) []byte {
	out := make([]byte, 5+len(payload))
	copy(out[5:], payload)
	return sealRecord(out)
}

// sealRecord fills in the header of a record whose payload already sits
// after 5 reserved bytes.
func sealRecord(out []byte) []byte {
	out[0] = recordFormat
	binary.BigEndian.PutUint32(out[1:5], crc32.Checksum(out[5:], crcTable))
	return out
}

func unframeRecord(b []byte) ([]byte, error) {
	if len(b) < 5 {
		return nil, fmt.Errorf("record is %d bytes, shorter than its header", len(b))
	}
	if b[0] != recordFormat {
		return nil, fmt.Errorf("unknown record format %d", b[0])
	}
	payload := b[5:]
	if got, want := crc32.Checksum(payload, crcTable), binary.BigEndian.Uint32(b[1:5]); got != want {
		return nil, fmt.Errorf("checksum mismatch (stored %08x, computed %08x)", want, got)
	}
	return payload, nil
}

// encodeDocRecord stores a key's resourceVersion and document.
func encodeDocRecord(rv uint64, doc *Document) ([]byte, error) {
	raw, err := doc.MarshalBinary()
	if err != nil {
		return nil, err
	}
	out := make([]byte, 5, 5+binary.MaxVarintLen64+len(raw))
	out = binary.AppendUvarint(out, rv)
	out = append(out, raw...)
	return sealRecord(out), nil
}

// ownRecordLimits loosens the document bound for records this member wrote
// itself: merging concurrent writes can grow a document past what one peer
// may send, and a member must always be able to reload its own state.
func ownRecordLimits(lim Limits) Limits {
	lim.MaxDocumentBytes *= 4
	return lim
}

func decodeDocRecord(b []byte, lim Limits) (uint64, *Document, error) {
	payload, err := unframeRecord(b)
	if err != nil {
		return 0, nil, err
	}
	rv, n := binary.Uvarint(payload)
	if n <= 0 {
		return 0, nil, fmt.Errorf("bad resourceVersion varint")
	}
	doc, err := UnmarshalDocument(payload[n:], ownRecordLimits(lim))
	if err != nil {
		return 0, nil, err
	}
	return rv, doc, nil
}

func encodeMeta(m Meta) ([]byte, error) {
	var buf bytes.Buffer
	e := &errWriter{enc: msgpack.NewEncoder(&buf)}
	e.arrayLen(5)
	e.uint(m.Seq)
	e.uint(uint64(m.Clock))
	e.uint(m.BufFloor)
	encodeContext(e, m.Context)
	encodeVV(e, MakeVersionVector(m.Acks))
	if e.err != nil {
		return nil, e.err
	}
	return frameRecord(buf.Bytes()), nil
}

func decodeMeta(b []byte, lim Limits) (Meta, error) {
	payload, err := unframeRecord(b)
	if err != nil {
		return Meta{}, err
	}
	r := newMsgReader(payload)
	defer r.release()
	if _, err := r.arrayLen(5, 5); err != nil {
		return Meta{}, r.wrap("meta", err)
	}
	d := &msgDecoder{r: r, lim: lim}
	m := Meta{}
	m.Seq = d.uint("seq")
	m.Clock = Timestamp(d.uint("clock"))
	m.BufFloor = d.uint("buffer floor")
	m.Context = d.context("context")
	m.Acks = d.vv("acks").Map()
	if d.err != nil {
		return Meta{}, d.err
	}
	if r.remaining() != 0 {
		return Meta{}, fmt.Errorf("%w: %d trailing bytes after meta", ErrMalformed, r.remaining())
	}
	return m, nil
}

func encodeBufferEntry(e *BufferEntry) ([]byte, error) {
	var buf bytes.Buffer
	w := &errWriter{enc: msgpack.NewEncoder(&buf)}
	w.arrayLen(5)
	w.uint(e.First)
	w.uint(e.Last)
	w.str(string(e.From))
	encodeDots(w, e.Dots)
	encodeDocs(w, e.Docs)
	if w.err != nil {
		return nil, w.err
	}
	return frameRecord(buf.Bytes()), nil
}

func decodeBufferEntry(b []byte, lim Limits) (*BufferEntry, error) {
	payload, err := unframeRecord(b)
	if err != nil {
		return nil, err
	}
	r := newMsgReader(payload)
	defer r.release()
	if _, err := r.arrayLen(5, 5); err != nil {
		return nil, r.wrap("buffer entry", err)
	}
	d := &msgDecoder{r: r, lim: ownRecordLimits(lim)}
	e := &BufferEntry{}
	e.First = d.uint("first")
	e.Last = d.uint("last")
	if d.err == nil {
		from, err := r.str(MaxReplicaIDLen)
		d.fail("from", err)
		e.From = ReplicaID(from)
		if err == nil && from != "" {
			if err := ValidateReplicaID(e.From); err != nil {
				d.failf("from: %v", err)
			}
		}
	}
	e.Dots = d.dots("dots")
	e.Docs = d.docs("docs")
	if d.err != nil {
		return nil, d.err
	}
	if r.remaining() != 0 {
		return nil, fmt.Errorf("%w: %d trailing bytes after buffer entry", ErrMalformed, r.remaining())
	}
	for i := range e.Docs {
		if e.Docs[i].Doc != nil {
			raw, err := e.Docs[i].Doc.MarshalBinary()
			if err != nil {
				return nil, err
			}
			e.Docs[i].raw = raw
		}
	}
	return e, nil
}
