package netem

import (
	"encoding/binary"
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// udpFrame builds an Ethernet/IPv4/UDP frame with a wrong checksum.
func udpFrame(payload []byte) []byte {
	f := make([]byte, 14+20+8+len(payload))
	binary.BigEndian.PutUint16(f[12:], 0x0800)
	ip := f[14:]
	ip[0] = 0x45
	binary.BigEndian.PutUint16(ip[2:], uint16(20+8+len(payload)))
	ip[8], ip[9] = 64, 17
	copy(ip[12:], []byte{10, 78, 0, 1, 10, 78, 0, 2})
	udp := ip[20:]
	binary.BigEndian.PutUint16(udp[0:], 4242)
	binary.BigEndian.PutUint16(udp[2:], 7946)
	binary.BigEndian.PutUint16(udp[4:], uint16(8+len(payload)))
	binary.BigEndian.PutUint16(udp[6:], 0x1234)
	copy(udp[8:], payload)
	return f
}

// verifies reports whether the UDP checksum of frame f checks out (the
// ones'-complement sum over pseudo-header and datagram is all ones).
func verifies(f []byte) bool {
	ip := f[14:]
	udp := ip[20:]
	var sum uint32
	for i := 12; i < 20; i += 2 {
		sum += uint32(binary.BigEndian.Uint16(ip[i:]))
	}
	sum += 17 + uint32(len(udp))
	for i := 0; i+1 < len(udp); i += 2 {
		sum += uint32(binary.BigEndian.Uint16(udp[i:]))
	}
	if len(udp)%2 == 1 {
		sum += uint32(udp[len(udp)-1]) << 8
	}
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	return sum == 0xffff
}

func TestFixUDPChecksum(t *testing.T) {
	for _, p := range [][]byte{nil, []byte("a"), []byte("hello, quic"), make([]byte, 1200)} {
		f := udpFrame(p)
		require.False(t, verifies(f))
		fixUDPChecksum(f)
		require.True(t, verifies(f), "payload %d bytes", len(p))
	}
	// Not IPv4/UDP, truncated or a fragment: left alone.
	f := udpFrame([]byte("x"))
	f[14+9] = 6 // TCP
	before := append([]byte(nil), f...)
	fixUDPChecksum(f)
	require.Equal(t, before, f)
	frag := udpFrame([]byte("x"))
	binary.BigEndian.PutUint16(frag[14+6:], 0x2000) // more fragments
	before = append([]byte(nil), frag...)
	fixUDPChecksum(frag)
	require.Equal(t, before, frag)
	short := udpFrame([]byte("xyz"))[:30]
	fixUDPChecksum(short)
	lying := udpFrame([]byte("xyz"))
	binary.BigEndian.PutUint16(lying[14+2:], 9000)
	fixUDPChecksum(lying)
}

func TestLinkConfigValidate(t *testing.T) {
	require.NoError(t, LinkConfig{Delay: 100 * time.Millisecond, Loss: 0.05}.Validate())
	for _, c := range []LinkConfig{
		{Delay: -1}, {Jitter: -1}, {Delay: 2 * time.Minute}, {Loss: 1}, {Loss: -0.1}, {Loss: math.NaN()}, {MaxQueue: -1},
	} {
		require.Error(t, c.Validate(), "%+v", c)
	}
	_, err := NewRelay("lo", "lo", LinkConfig{})
	require.Error(t, err)
	_, err = NewRelay("no-such-if0", "lo", LinkConfig{})
	require.Error(t, err)
}
