package testports

import (
	"io"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// first is the lowest port handed out: above the well-known and most
// registered service ports.
const first = 10000

// given remembers every port handed out in this process, so two children of
// one test never share one before either binds it.
var given struct {
	sync.Mutex
	ports map[int]bool
	rng   *rand.Rand
}

// Free returns a base port such that base+off+i is free on host, for TCP and
// UDP, for every offset off (ascending) and every i < count, and none was
// handed out before. It fails the test if there is none.
func Free(t testing.TB, host string, count int, offsets ...int) int {
	t.Helper()
	if count < 1 || len(offsets) == 0 {
		t.Fatalf("testports.Free: want count ≥ 1 and an offset, got %d and %v", count, offsets)
	}
	low := ephemeralLow()
	span := low - first - count - offsets[len(offsets)-1]
	if span <= 0 {
		t.Fatalf("testports: ephemeral ports start at %d: no room below", low)
	}
	given.Lock()
	defer given.Unlock()
	if given.rng == nil {
		given.ports = map[int]bool{}
		given.rng = rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), uint64(os.Getpid())))
	}
	for range 1000 {
		base := first + given.rng.IntN(span)
		if free(host, base, count, offsets) {
			for _, off := range offsets {
				for i := range count {
					given.ports[base+off+i] = true
				}
			}
			return base
		}
	}
	t.Fatalf("testports: no free ports on %s below %d", host, low)
	return 0
}

// Addr returns "host:port" with a port from Free.
func Addr(t testing.TB, host string) string {
	t.Helper()
	return net.JoinHostPort(host, strconv.Itoa(Free(t, host, 1, 0)))
}

// ephemeralLow is the first port of the kernel's ephemeral range (Linux's
// default when it cannot be read).
func ephemeralLow() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 32768
	}
	f := strings.Fields(string(b))
	if len(f) != 2 {
		return 32768
	}
	v, err := strconv.Atoi(f[0])
	if err != nil {
		return 32768
	}
	return v
}

// free reports whether every port of the blocks is unused by this process's
// tests and free on host, by binding and releasing each. The caller holds
// given's lock.
func free(host string, base, count int, offsets []int) bool {
	var closers []io.Closer
	defer func() {
		for _, c := range closers {
			c.Close()
		}
	}()
	for _, off := range offsets {
		for i := range count {
			port := base + off + i
			if given.ports[port] {
				return false
			}
			addr := net.JoinHostPort(host, strconv.Itoa(port))
			l, err := net.Listen("tcp", addr)
			if err != nil {
				return false
			}
			closers = append(closers, l)
			c, err := net.ListenPacket("udp", addr)
			if err != nil {
				return false
			}
			closers = append(closers, c)
		}
	}
	return true
}
