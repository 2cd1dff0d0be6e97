package gossip

import (
	"errors"
	"fmt"
	"io"

	"github.com/lattice-federation/lattice/crdt"
)

// ErrBadFrame marks input from a peer that is malformed or over a limit.
// The frame is dropped and counted; the connection survives (a peer that
// keeps sending them is still an admitted member, merely a buggy one).
var ErrBadFrame = errors.New("bad frame")

// An anti-entropy frame is one QUIC unidirectional stream: a two-byte
// header (magic, version) and one crdt message (crdt.EncodeMessage). The
// stream's end delimits it, so no length prefix can lie.
const (
	frameMagic   = 0x4c // 'L'
	frameVersion = 1
	frameHeader  = 2
)

// EncodeFrame encodes m as a frame.
func EncodeFrame(m crdt.Message) ([]byte, error) { return AppendFrame(nil, m) }

// AppendFrame appends m's frame to dst: with the room PrepareFrame
// reports, it encodes without growing dst.
func AppendFrame(dst []byte, m crdt.Message) ([]byte, error) {
	return crdt.AppendMessage(append(dst, frameMagic, frameVersion), m)
}

// PrepareFrame readies m to be encoded as a frame later, possibly on
// another goroutine, and returns the frame's exact length (see
// crdt.PrepareEncode).
func PrepareFrame(m crdt.Message) (int, error) {
	n, err := crdt.PrepareEncode(m)
	if err != nil {
		return 0, err
	}
	return frameHeader + n, nil
}

// DecodeFrame decodes one frame, within lim.
func DecodeFrame(b []byte, lim crdt.Limits) (crdt.Message, error) {
	return DecodeFrameInterned(b, lim, nil)
}

// DecodeFrameInterned is DecodeFrame interning replica IDs in ids (see
// crdt.IDTable); nil ids is DecodeFrame.
func DecodeFrameInterned(b []byte, lim crdt.Limits, ids *crdt.IDTable) (crdt.Message, error) {
	if len(b) < frameHeader {
		return nil, fmt.Errorf("%w: %d bytes, shorter than the header", ErrBadFrame, len(b))
	}
	if b[0] != frameMagic {
		return nil, fmt.Errorf("%w: bad magic %#x", ErrBadFrame, b[0])
	}
	if b[1] != frameVersion {
		return nil, fmt.Errorf("%w: version %d not supported (want %d)", ErrBadFrame, b[1], frameVersion)
	}
	if len(b)-frameHeader > lim.MaxMessageBytes {
		return nil, fmt.Errorf("%w: message of %d bytes, max %d", ErrBadFrame, len(b)-frameHeader, lim.MaxMessageBytes)
	}
	m, err := crdt.DecodeMessageInterned(b[frameHeader:], lim, ids)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadFrame, err)
	}
	return m, nil
}

// readAllLimited reads r to its end, refusing more than limit bytes
// without reading them all.
func readAllLimited(r io.Reader, limit int) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, int64(limit)+1))
	if err != nil {
		return nil, err
	}
	if len(b) > limit {
		return nil, fmt.Errorf("%w: more than %d bytes", ErrBadFrame, limit)
	}
	return b, nil
}
