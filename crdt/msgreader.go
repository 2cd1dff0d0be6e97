package crdt

import (
	"bytes"
	"fmt"

	"github.com/vmihailenco/msgpack/v5"
)

// msgReader wraps a msgpack decoder over an in-memory buffer and checks
// every declared length against the bytes actually left, so a forged
// length cannot make us allocate more than the input's size.
type msgReader struct {
	r   *bytes.Reader
	rd  bytes.Reader     // r's storage
	dec *msgpack.Decoder // from msgpack's pool: see release
	ids *IDTable         // nil: replica IDs are decoded as fresh strings
	// idBuf receives a replica ID before it is looked up or copied.
	idBuf [MaxReplicaIDLen]byte
	// scratch receives a string before it is copied into one: reading it
	// into its own buffer and converting would allocate twice.
	scratch []byte
}

// newMsgReader reads b; the caller releases the reader when done.
func newMsgReader(b []byte) *msgReader {
	m := &msgReader{dec: msgpack.GetDecoder()}
	m.rd.Reset(b)
	m.r = &m.rd
	m.dec.Reset(m.r)
	return m
}

// release returns the reader's decoder to msgpack's pool: a decoder is
// several allocations, and the simulator decodes a message per event.
func (m *msgReader) release() {
	msgpack.PutDecoder(m.dec)
	m.dec = nil
}

func (m *msgReader) remaining() int { return m.r.Len() }

func (m *msgReader) wrap(what string, err error) error {
	return fmt.Errorf("%w: %s: %v", ErrMalformed, what, err)
}

func (m *msgReader) arrayLen(min, max int) (int, error) {
	n, err := m.dec.DecodeArrayLen()
	if err != nil {
		return 0, err
	}
	return m.checkLen(n, min, max)
}

func (m *msgReader) mapLen(min, max int) (int, error) {
	n, err := m.dec.DecodeMapLen()
	if err != nil {
		return 0, err
	}
	return m.checkLen(n, min, max)
}

func (m *msgReader) checkLen(n, min, max int) (int, error) {
	switch {
	case n < 0:
		return 0, fmt.Errorf("unexpected nil")
	case n < min || n > max:
		return 0, fmt.Errorf("length %d outside [%d, %d]", n, min, max)
	case n > m.r.Len():
		return 0, fmt.Errorf("length %d exceeds the %d bytes left", n, m.r.Len())
	}
	return n, nil
}

func (m *msgReader) uint() (uint64, error) {
	c, err := m.dec.PeekCode()
	if err != nil {
		return 0, err
	}
	// Accept only unsigned encodings (positive fixint, uint8..64) so one
	// value has one encoding.
	if !(c <= 0x7f || (c >= 0xcc && c <= 0xcf)) {
		return 0, fmt.Errorf("expected unsigned integer, got code 0x%x", c)
	}
	return m.dec.DecodeUint64()
}

func (m *msgReader) boolean() (bool, error) { return m.dec.DecodeBool() }

func (m *msgReader) str(max int) (string, error) {
	b, err := m.strScratch(max)
	if err != nil {
		return "", err
	}
	return string(b), nil
}

// name reads a string like str, but returns the shared copy of a
// well-known field name instead of allocating one.
func (m *msgReader) name(max int) (string, error) {
	b, err := m.strScratch(max)
	if err != nil {
		return "", err
	}
	if s, ok := wellKnownNames[string(b)]; ok {
		return s, nil
	}
	return string(b), nil
}

// strBytes reads a string's contents into a new slice of their own.
func (m *msgReader) strBytes(max int) ([]byte, error) {
	if err := m.expectStr(); err != nil {
		return nil, err
	}
	return m.body("string", max)
}

// strScratch reads a string's contents into the reader's scratch buffer,
// valid until the next read.
func (m *msgReader) strScratch(max int) ([]byte, error) {
	if err := m.expectStr(); err != nil {
		return nil, err
	}
	n, err := m.bodyLen("string", max)
	if err != nil {
		return nil, err
	}
	if cap(m.scratch) < n {
		m.scratch = make([]byte, n)
	}
	b := m.scratch[:n]
	if err := m.dec.ReadFull(b); err != nil {
		return nil, err
	}
	return b, nil
}

// expectStr checks that a str value comes next.
func (m *msgReader) expectStr() error {
	c, err := m.dec.PeekCode()
	if err != nil {
		return err
	}
	if !(c >= 0xa0 && c <= 0xbf) && c != 0xd9 && c != 0xda && c != 0xdb {
		return fmt.Errorf("expected string, got code 0x%x", c)
	}
	return nil
}

// replicaID reads and validates a replica ID, through the ID table when
// the reader has one (an interned ID was validated when it was added).
func (m *msgReader) replicaID() (ReplicaID, error) {
	if err := m.expectStr(); err != nil {
		return "", err
	}
	n, err := m.bodyLen("replica id", MaxReplicaIDLen)
	if err != nil {
		return "", err
	}
	b := m.idBuf[:n]
	if err := m.dec.ReadFull(b); err != nil {
		return "", err
	}
	if id, ok := m.ids.lookup(b); ok {
		return id, nil
	}
	id := ReplicaID(b)
	if err := ValidateReplicaID(id); err != nil {
		return "", err
	}
	if m.ids != nil {
		m.ids.add(id)
	}
	return id, nil
}

func (m *msgReader) bytes(max int) ([]byte, error) {
	c, err := m.dec.PeekCode()
	if err != nil {
		return nil, err
	}
	if c != 0xc4 && c != 0xc5 && c != 0xc6 {
		return nil, fmt.Errorf("expected bytes, got code 0x%x", c)
	}
	return m.body("bytes", max)
}

// body reads a str or bin header and its contents. The declared length is
// checked against max and the bytes left before anything is allocated:
// msgpack's DecodeBytes would allocate it in full, up to 4 GiB.
func (m *msgReader) body(what string, max int) ([]byte, error) {
	n, err := m.bodyLen(what, max)
	if err != nil {
		return nil, err
	}
	b := make([]byte, n)
	if err := m.dec.ReadFull(b); err != nil {
		return nil, err
	}
	return b, nil
}

// bodyLen reads a str or bin header and checks its length against max and
// the bytes left.
func (m *msgReader) bodyLen(what string, max int) (int, error) {
	n, err := m.dec.DecodeBytesLen()
	if err != nil {
		return 0, err
	}
	switch {
	case n > max:
		return 0, fmt.Errorf("%s of %d bytes exceeds max %d", what, n, max)
	case n > m.r.Len():
		return 0, fmt.Errorf("%s length %d exceeds the %d bytes left", what, n, m.r.Len())
	}
	return n, nil
}
