package gossip

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/quic-go/quic-go"
)

// maxPacketBytes bounds one memberlist packet; memberlist composes packets
// of at most its UDPBufferSize (1400 bytes by default).
const maxPacketBytes = 64 << 10

// maxPacketSends bounds the packets being sent at once (each may wait for
// a dial); beyond it packets are dropped, as UDP would.
const maxPacketSends = 256

// MemberlistTransport is a memberlist.Transport over the member's QUIC
// transport, on ALPN lattice-membership/1: memberlist's packets travel as
// one QUIC unidirectional stream each, its streams as bidirectional QUIC
// streams. Every peer is thereby authenticated and admitted by DID before
// memberlist sees a byte from it.
//
// Packets use streams, not QUIC datagrams: datagrams dropped 10–24 % under
// bursts on loopback here, enough to make SWIM suspect live members. A
// stream retransmits, so a lost packet arrives late instead; memberlist
// tolerates a late ack (the probe already counted it missing) just as it
// tolerates a lost one.
type MemberlistTransport struct {
	t         *Transport
	log       *slog.Logger
	metrics   *Metrics
	packetCh  chan *memberlist.Packet
	streamCh  chan net.Conn
	sends     chan struct{}
	advertise *net.UDPAddr
	ctx       context.Context
	cancel    context.CancelFunc
}

var _ memberlist.Transport = (*MemberlistTransport)(nil)

func newMemberlistTransport(log *slog.Logger, m *Metrics, advertise *net.UDPAddr) *MemberlistTransport {
	ctx, cancel := context.WithCancel(context.Background())
	return &MemberlistTransport{
		log:       log,
		metrics:   m,
		packetCh:  make(chan *memberlist.Packet, 1024),
		streamCh:  make(chan net.Conn, 64),
		sends:     make(chan struct{}, maxPacketSends),
		advertise: advertise,
		ctx:       ctx,
		cancel:    cancel,
	}
}

// serve is the ConnHandler for ALPNMembership connections.
func (m *MemberlistTransport) serve(pc *PeerConn) {
	go func() {
		for {
			s, err := pc.AcceptStream(pc.Context())
			if err != nil {
				return
			}
			select {
			case m.streamCh <- &streamConn{Stream: s, pc: pc, metrics: m.metrics}:
			case <-m.ctx.Done():
				s.CancelRead(0)
				s.CancelWrite(0)
				return
			}
		}
	}()
	for {
		s, err := pc.AcceptUniStream(pc.Context())
		if err != nil {
			return
		}
		go m.readPacket(pc, s)
	}
}

func (m *MemberlistTransport) readPacket(pc *PeerConn, s *quic.ReceiveStream) {
	_ = s.SetReadDeadline(time.Now().Add(10 * time.Second))
	b, err := readAllLimited(s, maxPacketBytes)
	if err != nil {
		s.CancelRead(1)
		m.metrics.rejected("packet")
		m.log.Debug("membership packet dropped", "peer", pc.Peer.Replica, "err", err)
		return
	}
	m.metrics.bytesIn(ALPNMembership, len(b))
	select {
	case m.packetCh <- &memberlist.Packet{Buf: b, From: pc.RemoteAddr(), Timestamp: time.Now()}:
	case <-m.ctx.Done():
	default:
		m.metrics.dropped("packet")
	}
}

// FinalAdvertiseAddr returns the address memberlist gossips for this
// member: the configured one, else the listen address if specific.
func (m *MemberlistTransport) FinalAdvertiseAddr(ip string, port int) (net.IP, int, error) {
	if ip != "" {
		parsed := net.ParseIP(ip)
		if parsed == nil {
			return nil, 0, fmt.Errorf("advertise address %q is not an IP", ip)
		}
		return parsed, port, nil
	}
	a := m.advertise
	if a.IP == nil || a.IP.IsUnspecified() {
		return nil, 0, fmt.Errorf("listening on %s: set an advertise address other peers can reach", a)
	}
	return a.IP, a.Port, nil
}

// WriteTo sends a packet without waiting: memberlist's probe timers must
// not stall behind a dial to a dead peer. A packet that cannot be sent is
// dropped, as UDP would drop it.
func (m *MemberlistTransport) WriteTo(b []byte, addr string) (time.Time, error) {
	now := time.Now()
	select {
	case m.sends <- struct{}{}:
	default:
		m.metrics.dropped("packet")
		return now, nil
	}
	buf := append([]byte(nil), b...)
	go func() {
		defer func() { <-m.sends }()
		if err := m.send(buf, addr); err != nil {
			m.metrics.dropped("packet")
			m.log.Debug("membership packet not sent", "to", addr, "err", err)
		}
	}()
	return now, nil
}

func (m *MemberlistTransport) send(b []byte, addr string) error {
	ctx, cancel := context.WithTimeout(m.ctx, 5*time.Second)
	defer cancel()
	pc, err := m.t.Dial(ctx, ALPNMembership, addr)
	if err != nil {
		return err
	}
	if err := pc.Send(ctx, b, 5*time.Second); err != nil {
		return err
	}
	m.metrics.bytesOut(ALPNMembership, len(b))
	return nil
}

// PacketCh returns the channel of received packets.
func (m *MemberlistTransport) PacketCh() <-chan *memberlist.Packet { return m.packetCh }

// DialTimeout opens a stream to addr.
func (m *MemberlistTransport) DialTimeout(addr string, timeout time.Duration) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(m.ctx, timeout)
	defer cancel()
	pc, err := m.t.Dial(ctx, ALPNMembership, addr)
	if err != nil {
		return nil, err
	}
	s, err := pc.OpenStreamSync(ctx)
	if err != nil {
		return nil, fmt.Errorf("open stream to %s: %w", addr, err)
	}
	return &streamConn{Stream: s, pc: pc, metrics: m.metrics}, nil
}

// StreamCh returns the channel of accepted streams.
func (m *MemberlistTransport) StreamCh() <-chan net.Conn { return m.streamCh }

// Shutdown stops delivering packets and streams; the QUIC transport itself
// is closed by its owner.
func (m *MemberlistTransport) Shutdown() error {
	m.cancel()
	return nil
}

// streamConn adapts a QUIC stream to the net.Conn memberlist expects, and
// counts its bytes (memberlist's push-pull state exchanges) with the
// packets', as membership traffic.
type streamConn struct {
	*quic.Stream
	pc      *PeerConn
	metrics *Metrics
}

func (c *streamConn) Read(b []byte) (int, error) {
	n, err := c.Stream.Read(b)
	c.metrics.bytesIn(ALPNMembership, n)
	return n, err
}

func (c *streamConn) Write(b []byte) (int, error) {
	n, err := c.Stream.Write(b)
	c.metrics.bytesOut(ALPNMembership, n)
	return n, err
}

func (c *streamConn) LocalAddr() net.Addr  { return c.pc.LocalAddr() }
func (c *streamConn) RemoteAddr() net.Addr { return c.pc.RemoteAddr() }

// Close ends both directions: memberlist closes a stream only when done
// with it.
func (c *streamConn) Close() error {
	c.Stream.CancelRead(0)
	err := c.Stream.Close()
	if errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}
