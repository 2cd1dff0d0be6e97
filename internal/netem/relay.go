// Package netem impairs links in userspace, for kernels without the netem
// qdisc: a Relay forwards Ethernet frames between two interfaces (AF_PACKET
// raw sockets) with added delay, jitter and random loss, like a cable with
// a bad modem in the middle. Tests put it between two bridges of network
// namespaces to give groups of members a slow, lossy WAN link; an emulator
// can use it the same way.
//
// Linux only; it needs CAP_NET_RAW.
package netem

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// LinkConfig is the impairment of each direction of a link.
type LinkConfig struct {
	// Delay is added to every frame; Jitter adds a uniform random extra in
	// [0, Jitter). Frames stay in order.
	Delay, Jitter time.Duration
	// Loss is the probability a frame is dropped, in [0, 1).
	Loss float64
	// Seed fixes the random choices (0: from the clock).
	Seed uint64
	// MaxQueue bounds the frames held per direction (default 4096);
	// beyond it frames are dropped, as a full router queue would.
	MaxQueue int
}

// Validate checks the configuration.
func (c LinkConfig) Validate() error {
	switch {
	case c.Delay < 0 || c.Jitter < 0:
		return errors.New("delay and jitter must not be negative")
	case c.Delay > time.Minute || c.Jitter > time.Minute:
		return errors.New("delay and jitter must be at most a minute")
	case c.Loss < 0 || c.Loss >= 1 || c.Loss != c.Loss:
		return fmt.Errorf("loss %v: must be in [0, 1)", c.Loss)
	case c.MaxQueue < 0:
		return errors.New("queue bound must not be negative")
	}
	return nil
}

// Stats counts what a relay did, both directions together.
type Stats struct {
	Forwarded, Lost, Overflow, Oversize, WriteErrors uint64
}

// Relay forwards frames between two interfaces.
type Relay struct {
	cfg   LinkConfig
	a, b  *port
	stats struct{ forwarded, lost, overflow, oversize, writeErrors atomic.Uint64 }
}

// port is one interface's raw socket.
type port struct {
	name  string
	fd    int
	index int
}

const (
	maxFrame = 1518 // Ethernet with a VLAN tag; larger (GSO) frames cannot be sent
	ethPAll  = 0x0003
)

func htons(v uint16) uint16 { return v<<8 | v>>8 }

func openPort(name string) (*port, error) {
	ifi, err := net.InterfaceByName(name)
	if err != nil {
		return nil, fmt.Errorf("interface %s: %w", name, err)
	}
	fd, err := syscall.Socket(syscall.AF_PACKET, syscall.SOCK_RAW, int(htons(ethPAll)))
	if err != nil {
		return nil, fmt.Errorf("raw socket on %s (needs CAP_NET_RAW): %w", name, err)
	}
	if err := syscall.Bind(fd, &syscall.SockaddrLinklayer{Protocol: htons(ethPAll), Ifindex: ifi.Index}); err != nil {
		syscall.Close(fd)
		return nil, fmt.Errorf("bind raw socket to %s: %w", name, err)
	}
	// Receive frames for any address: the relay is a bridge.
	mreq := &unix.PacketMreq{Ifindex: int32(ifi.Index), Type: unix.PACKET_MR_PROMISC}
	if err := unix.SetsockoptPacketMreq(fd, unix.SOL_PACKET, unix.PACKET_ADD_MEMBERSHIP, mreq); err != nil {
		syscall.Close(fd)
		return nil, fmt.Errorf("promiscuous mode on %s: %w", name, err)
	}
	// A receive timeout lets the reader notice cancellation.
	tv := syscall.NsecToTimeval(int64(100 * time.Millisecond))
	if err := syscall.SetsockoptTimeval(fd, syscall.SOL_SOCKET, syscall.SO_RCVTIMEO, &tv); err != nil {
		syscall.Close(fd)
		return nil, fmt.Errorf("receive timeout on %s: %w", name, err)
	}
	return &port{name: name, fd: fd, index: ifi.Index}, nil
}

// NewRelay opens raw sockets on interfaces a and b.
func NewRelay(a, b string, cfg LinkConfig) (*Relay, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if a == b {
		return nil, errors.New("the two interfaces must differ")
	}
	if cfg.MaxQueue == 0 {
		cfg.MaxQueue = 4096
	}
	pa, err := openPort(a)
	if err != nil {
		return nil, err
	}
	pb, err := openPort(b)
	if err != nil {
		syscall.Close(pa.fd)
		return nil, err
	}
	return &Relay{cfg: cfg, a: pa, b: pb}, nil
}

// Stats returns the counters.
func (r *Relay) Stats() Stats {
	return Stats{
		Forwarded: r.stats.forwarded.Load(), Lost: r.stats.lost.Load(), Overflow: r.stats.overflow.Load(),
		Oversize: r.stats.oversize.Load(), WriteErrors: r.stats.writeErrors.Load(),
	}
}

// Run forwards frames both ways until ctx ends, then closes the sockets.
func (r *Relay) Run(ctx context.Context) error {
	seed := r.cfg.Seed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	// A fatal error in one direction stops both: a silently one-way link
	// would mislead whoever relies on it.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for i, dir := range [][2]*port{{r.a, r.b}, {r.b, r.a}} {
		q := make(chan held, r.cfg.MaxQueue)
		rng := rand.New(rand.NewPCG(seed, uint64(i)))
		wg.Add(2)
		go func() {
			defer wg.Done()
			err := r.read(ctx, dir[0], q, rng)
			if err != nil {
				cancel()
			}
			errs <- err
		}()
		go func() { defer wg.Done(); r.deliver(ctx, dir[1], q) }()
	}
	wg.Wait()
	syscall.Close(r.a.fd)
	syscall.Close(r.b.fd)
	close(errs)
	for err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

type held struct {
	frame []byte
	at    time.Time
}

func (r *Relay) read(ctx context.Context, from *port, q chan<- held, rng *rand.Rand) error {
	defer close(q)
	buf := make([]byte, 65536)
	var last time.Time
	for ctx.Err() == nil {
		n, sa, err := syscall.Recvfrom(from.fd, buf, 0)
		if err != nil {
			if errors.Is(err, syscall.EAGAIN) || errors.Is(err, syscall.EINTR) || errors.Is(err, syscall.ENETDOWN) {
				continue
			}
			return fmt.Errorf("read %s: %w", from.name, err)
		}
		if ll, ok := sa.(*syscall.SockaddrLinklayer); ok && ll.Pkttype == syscall.PACKET_OUTGOING {
			continue // our own writes
		}
		if n > maxFrame {
			r.stats.oversize.Add(1)
			continue
		}
		if r.cfg.Loss > 0 && rng.Float64() < r.cfg.Loss {
			r.stats.lost.Add(1)
			continue
		}
		frame := append([]byte(nil), buf[:n]...)
		fixUDPChecksum(frame)
		at := time.Now().Add(r.cfg.Delay)
		if r.cfg.Jitter > 0 {
			at = at.Add(time.Duration(rng.Int64N(int64(r.cfg.Jitter))))
		}
		if at.Before(last) {
			at = last // keep order
		}
		last = at
		select {
		case q <- held{frame, at}:
		default:
			r.stats.overflow.Add(1)
		}
	}
	return nil
}

func (r *Relay) deliver(ctx context.Context, to *port, q <-chan held) {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for h := range q {
		if d := time.Until(h.at); d > 0 {
			timer.Reset(d)
			select {
			case <-timer.C:
			case <-ctx.Done():
				continue // drain until the reader closes q
			}
		}
		if _, err := syscall.Write(to.fd, h.frame); err != nil {
			r.stats.writeErrors.Add(1)
			continue
		}
		r.stats.forwarded.Add(1)
	}
}

// fixUDPChecksum recomputes the UDP checksum of an IPv4 frame. Frames
// captured on a veth may carry a partial checksum (checksum offload: the
// kernel never computed it), which the receiver would drop once re-sent.
func fixUDPChecksum(f []byte) {
	const eth = 14
	if len(f) < eth+20 || binary.BigEndian.Uint16(f[12:14]) != 0x0800 {
		return
	}
	ip := f[eth:]
	ihl := int(ip[0]&0x0f) * 4
	if ip[0]>>4 != 4 || ihl < 20 || len(ip) < ihl+8 || ip[9] != syscall.IPPROTO_UDP {
		return
	}
	if off := binary.BigEndian.Uint16(ip[6:8]); off&0x3fff != 0 {
		return // a fragment: the checksum spans fragments
	}
	total := int(binary.BigEndian.Uint16(ip[2:4]))
	if total > len(ip) || total < ihl+8 {
		return
	}
	udp := ip[ihl:total]
	ulen := int(binary.BigEndian.Uint16(udp[4:6]))
	if ulen != len(udp) {
		return
	}
	udp[6], udp[7] = 0, 0
	var sum uint32
	add := func(b []byte) {
		for len(b) >= 2 {
			sum += uint32(binary.BigEndian.Uint16(b))
			b = b[2:]
		}
		if len(b) == 1 {
			sum += uint32(b[0]) << 8
		}
	}
	add(ip[12:20]) // source and destination addresses
	sum += uint32(syscall.IPPROTO_UDP) + uint32(ulen)
	add(udp)
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	c := ^uint16(sum)
	if c == 0 {
		c = 0xffff
	}
	binary.BigEndian.PutUint16(udp[6:8], c)
}
