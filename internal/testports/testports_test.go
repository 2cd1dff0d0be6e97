package testports

import (
	"net"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestFreeGivesDistinctBindablePortsBelowEphemeral(t *testing.T) {
	low := ephemeralLow()
	seen := map[int]bool{}
	for range 50 {
		base := Free(t, "127.0.0.1", 3, 0, 100, 200)
		for _, off := range []int{0, 100, 200} {
			for i := range 3 {
				p := base + off + i
				require.False(t, seen[p], "port %d handed out twice", p)
				seen[p] = true
				require.GreaterOrEqual(t, p, first)
				require.Less(t, p, low)
			}
		}
	}
	// A handed-out port is bindable.
	addr := Addr(t, "127.0.0.1")
	l, err := net.Listen("tcp", addr)
	require.NoError(t, err)
	l.Close()
}

func TestFreeChecksEveryPortOfEveryBlock(t *testing.T) {
	base := Free(t, "127.0.0.1", 3, 0, 100)
	given.Lock()
	defer given.Unlock()
	for _, off := range []int{0, 100} {
		for i := range 3 {
			delete(given.ports, base+off+i)
		}
	}
	require.True(t, free("127.0.0.1", base, 3, []int{0, 100}))
	// A port bound by anyone, for TCP or UDP, in any block, rejects the base.
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(base+102)))
	require.NoError(t, err)
	require.False(t, free("127.0.0.1", base, 3, []int{0, 100}))
	l.Close()
	c, err := net.ListenPacket("udp", net.JoinHostPort("127.0.0.1", strconv.Itoa(base+2)))
	require.NoError(t, err)
	require.False(t, free("127.0.0.1", base, 3, []int{0, 100}))
	c.Close()
	// A port handed out before rejects it too.
	given.ports[base+100] = true
	require.False(t, free("127.0.0.1", base, 3, []int{0, 100}))
}
