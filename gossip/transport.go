package gossip

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"sync"
	"time"

	"github.com/quic-go/quic-go"

	"github.com/lattice-federation/lattice/crdt"
	"github.com/lattice-federation/lattice/identity"
)

// ALPNs: one per protocol, so each protocol has connections of its own and
// a peer speaking an unknown protocol fails the handshake.
const (
	ALPNMembership = "lattice-membership/1"
	ALPNSync       = "lattice-sync/1"
)

// QUIC application error codes used when closing connections.
const (
	codeShutdown quic.ApplicationErrorCode = 0
	codeRevoked  quic.ApplicationErrorCode = 0x10
)

// ConnHandler serves one authenticated connection of an ALPN until it ends.
type ConnHandler func(pc *PeerConn)

// PeerConn is an authenticated QUIC connection to a member.
type PeerConn struct {
	*quic.Conn
	Peer Peer
	ALPN string
	// Addr is the peer's UDP address (its listen address: a member dials
	// from the socket it listens on).
	Addr string
}

// TransportConfig configures a Transport.
type TransportConfig struct {
	// Identity is the member's did:key identity; its key is the TLS key.
	Identity *identity.Identity
	// Replica is the member's replica ID, claimed in its certificate.
	Replica crdt.ReplicaID
	// Authorizer admits peers at the handshake.
	Authorizer identity.PeerAuthorizer
	// Presentation returns the credentials to present (nil: none).
	Presentation func() [][]byte
	// Listen is the UDP address to listen on (host:port; port 0 picks one).
	Listen string
	// HandshakeTimeout bounds a handshake; IdleTimeout closes a silent
	// connection; KeepAlive pings an idle one (0: none).
	HandshakeTimeout time.Duration
	IdleTimeout      time.Duration
	KeepAlive        time.Duration
	// DialBackoff is how long a failed dial to an address is not retried.
	DialBackoff time.Duration
	// Now is the clock for certificate validity (nil: time.Now).
	Now    func() time.Time
	Logger *slog.Logger
	// Metrics, if set, counts handshakes and refusals.
	Metrics *Metrics
	// Admitted, if set, re-checks a peer's DID when its connection is
	// pooled and on Recheck: a revocation that lands during a handshake
	// must not leave the connection open.
	Admitted func(did string) error
}

// Transport is a member's QUIC endpoint: one UDP socket for listening and
// dialing, mutual TLS with did:key certificates, connections pooled per
// (ALPN, address) and shared by both directions.
type Transport struct {
	cfg      TransportConfig
	log      *slog.Logger
	udp      *net.UDPConn
	qt       *quic.Transport
	ln       *quic.Listener
	quicConf *quic.Config

	handlers map[string]ConnHandler

	certMu  sync.Mutex
	cert    *tls.Certificate
	certKey [32]byte
	certAt  time.Time

	mu     sync.Mutex
	conns  map[poolKey][]*PeerConn
	dials  map[poolKey]*dialCall
	failed map[poolKey]time.Time
	closed bool
	wg     sync.WaitGroup
	ctx    context.Context
	cancel context.CancelFunc
}

type poolKey struct{ alpn, addr string }

type dialCall struct {
	done chan struct{}
	pc   *PeerConn
	err  error
}

// NewTransport listens on cfg.Listen. handlers serve accepted and dialed
// connections per ALPN; Start begins accepting.
func NewTransport(cfg TransportConfig, handlers map[string]ConnHandler) (*Transport, error) {
	if cfg.Identity == nil || cfg.Authorizer == nil {
		return nil, errors.New("gossip transport: identity and authorizer are required")
	}
	if err := crdt.ValidateReplicaID(cfg.Replica); err != nil {
		return nil, fmt.Errorf("gossip transport: %w", err)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Presentation == nil {
		cfg.Presentation = func() [][]byte { return nil }
	}
	if cfg.HandshakeTimeout <= 0 {
		cfg.HandshakeTimeout = 5 * time.Second
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = 30 * time.Second
	}
	if cfg.DialBackoff <= 0 {
		cfg.DialBackoff = time.Second
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	addr, err := net.ResolveUDPAddr("udp", cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("gossip listen address %q: %w", cfg.Listen, err)
	}
	udp, err := net.ListenUDP("udp", addr)
	if err != nil {
		return nil, fmt.Errorf("gossip listen on %s: %w", cfg.Listen, err)
	}
	t := &Transport{
		cfg:      cfg,
		log:      log,
		udp:      udp,
		qt:       &quic.Transport{Conn: udp},
		handlers: handlers,
		conns:    map[poolKey][]*PeerConn{},
		dials:    map[poolKey]*dialCall{},
		failed:   map[poolKey]time.Time{},
	}
	t.ctx, t.cancel = context.WithCancel(context.Background())
	t.quicConf = &quic.Config{
		HandshakeIdleTimeout:  cfg.HandshakeTimeout,
		MaxIdleTimeout:        cfg.IdleTimeout,
		KeepAlivePeriod:       cfg.KeepAlive,
		MaxIncomingStreams:    64,
		MaxIncomingUniStreams: 256,
	}
	protos := make([]string, 0, len(handlers))
	for p := range handlers {
		protos = append(protos, p)
	}
	slices.Sort(protos)
	srv := t.tlsConfig()
	srv.NextProtos = protos
	srv.ClientAuth = tls.RequireAnyClientCert
	// A resumed session skips VerifyPeerCertificate: every connection must
	// be a full handshake, so admission (and revocation) is always checked.
	srv.SessionTicketsDisabled = true
	srv.GetCertificate = func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return t.certificate() }
	t.ln, err = t.qt.Listen(srv, t.quicConf)
	if err != nil {
		udp.Close()
		return nil, fmt.Errorf("gossip listen: %w", err)
	}
	return t, nil
}

// Addr returns the address the transport listens on.
func (t *Transport) Addr() *net.UDPAddr { return t.udp.LocalAddr().(*net.UDPAddr) }

// Start accepts connections until Close.
func (t *Transport) Start() {
	t.wg.Add(1)
	go t.acceptLoop()
}

func (t *Transport) tlsConfig() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS13,
		// Peers are self-signed did:key certificates; verifyPeer does the
		// whole check (x509 chains to a CA do not apply).
		InsecureSkipVerify: true,
		VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error {
			_, err := verifyPeerCertificate(raw, t.cfg.Authorizer, t.cfg.Now())
			if err != nil {
				t.cfg.Metrics.handshakeRefused()
				t.log.Warn("peer refused at handshake", "err", err)
			}
			return err
		},
	}
}

// certificate returns the current certificate, renewing it when it ages or
// the presentation changes (new credentials, a revocation).
func (t *Transport) certificate() (*tls.Certificate, error) {
	creds := t.cfg.Presentation()
	h := sha256.New()
	for _, c := range creds {
		fmt.Fprintf(h, "%d:", len(c))
		h.Write(c)
	}
	var key [32]byte
	h.Sum(key[:0])
	now := t.cfg.Now()
	t.certMu.Lock()
	defer t.certMu.Unlock()
	if t.cert != nil && key == t.certKey && now.Sub(t.certAt) < certRenewal {
		return t.cert, nil
	}
	c, err := newCertificate(t.cfg.Identity, Claim{Replica: t.cfg.Replica, Credentials: creds}, now)
	if err != nil {
		return nil, err
	}
	t.cert, t.certKey, t.certAt = c, key, now
	return c, nil
}

func (t *Transport) acceptLoop() {
	defer t.wg.Done()
	for {
		conn, err := t.ln.Accept(t.ctx)
		if err != nil {
			if t.ctx.Err() == nil && !errors.Is(err, net.ErrClosed) {
				t.log.Warn("gossip accept failed", "err", err)
			}
			return
		}
		pc, err := t.wrap(conn)
		if err != nil {
			t.log.Warn("accepted connection unusable", "remote", conn.RemoteAddr(), "err", err)
			_ = conn.CloseWithError(codeRevoked, "unusable")
			continue
		}
		t.cfg.Metrics.handshake()
		_ = t.register(pc, nil)
	}
}

// wrap reads the authenticated peer from an established connection (the
// handshake already verified and admitted its certificate).
func (t *Transport) wrap(conn *quic.Conn) (*PeerConn, error) {
	st := conn.ConnectionState().TLS
	if len(st.PeerCertificates) != 1 {
		return nil, errors.New("no peer certificate")
	}
	cert := st.PeerCertificates[0]
	var claim Claim
	for _, e := range cert.Extensions {
		if e.Id.Equal(claimOID) {
			c, err := DecodeClaim(e.Value)
			if err != nil {
				return nil, err
			}
			claim = c
		}
	}
	pub, err := publicKeyOf(cert)
	if err != nil {
		return nil, err
	}
	did, err := identity.DIDFromPublicKey(pub)
	if err != nil {
		return nil, err
	}
	alpn := st.NegotiatedProtocol
	if _, ok := t.handlers[alpn]; !ok {
		return nil, fmt.Errorf("unknown protocol %q", alpn)
	}
	return &PeerConn{Conn: conn, Peer: Peer{DID: did, Replica: claim.Replica}, ALPN: alpn, Addr: conn.RemoteAddr().String()}, nil
}

// register pools pc and serves it with its ALPN's handler until it ends.
// underLock, if set, runs first under the pool lock (Dial uses it to retire
// its in-flight entry atomically with pooling, so no concurrent Dial sees
// neither and dials again). A refused connection is closed and its error
// returned.
func (t *Transport) register(pc *PeerConn, underLock func()) error {
	k := poolKey{pc.ALPN, pc.Addr}
	t.mu.Lock()
	if underLock != nil {
		underLock()
	}
	if t.closed {
		t.mu.Unlock()
		_ = pc.CloseWithError(codeShutdown, "shutting down")
		return net.ErrClosed
	}
	// Checked under the lock that Recheck holds, so no connection
	// escapes a revocation by being pooled while Recheck runs.
	if t.cfg.Admitted != nil {
		if err := t.cfg.Admitted(pc.Peer.DID); err != nil {
			t.mu.Unlock()
			t.log.Warn("peer no longer admitted; closing its new connection", "peer", pc.Peer.Replica, "err", err)
			_ = pc.CloseWithError(codeRevoked, "no longer admitted")
			return fmt.Errorf("%w: %w", errNotAdmitted, err)
		}
	}
	t.conns[k] = append(t.conns[k], pc)
	delete(t.failed, k)
	t.wg.Add(2)
	t.mu.Unlock()
	go func() {
		defer t.wg.Done()
		t.handlers[pc.ALPN](pc)
	}()
	go func() {
		defer t.wg.Done()
		<-pc.Context().Done()
		t.mu.Lock()
		t.conns[k] = slices.DeleteFunc(t.conns[k], func(c *PeerConn) bool { return c == pc })
		if len(t.conns[k]) == 0 {
			delete(t.conns, k)
		}
		t.mu.Unlock()
	}()
	return nil
}

// Send writes b as one unidirectional stream on pc (a frame or a
// membership packet: the stream's end delimits it), giving the write at
// most writeTimeout.
func (pc *PeerConn) Send(ctx context.Context, b []byte, writeTimeout time.Duration) error {
	s, err := pc.OpenUniStreamSync(ctx)
	if err != nil {
		return err
	}
	_ = s.SetWriteDeadline(time.Now().Add(writeTimeout))
	if _, err := s.Write(b); err != nil {
		s.CancelWrite(1)
		return err
	}
	return s.Close()
}

// ErrBackoff means a recent dial to the address failed; the caller should
// drop what it wanted to send (gossip retries on its own schedule).
var ErrBackoff = errors.New("peer unreachable recently; not redialing yet")

// Dial returns a pooled connection to addr for alpn, dialing one if there
// is none. Concurrent callers share one dial.
func (t *Transport) Dial(ctx context.Context, alpn, addr string) (*PeerConn, error) {
	k := poolKey{alpn, addr}
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return nil, net.ErrClosed
	}
	for _, pc := range t.conns[k] {
		if pc.Context().Err() == nil {
			t.mu.Unlock()
			return pc, nil
		}
	}
	if call, ok := t.dials[k]; ok {
		t.mu.Unlock()
		select {
		case <-call.done:
			return call.pc, call.err
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if at, ok := t.failed[k]; ok && time.Since(at) < t.cfg.DialBackoff {
		t.mu.Unlock()
		return nil, fmt.Errorf("%s: %w", addr, ErrBackoff)
	}
	call := &dialCall{done: make(chan struct{})}
	t.dials[k] = call
	t.mu.Unlock()

	call.pc, call.err = t.dial(ctx, alpn, addr)
	if call.err == nil {
		if call.err = t.register(call.pc, func() { delete(t.dials, k) }); call.err != nil {
			call.pc = nil
		}
	} else {
		t.mu.Lock()
		delete(t.dials, k)
		if ctx.Err() == nil {
			t.failed[k] = time.Now()
		}
		t.mu.Unlock()
	}
	close(call.done)
	return call.pc, call.err
}

func (t *Transport) dial(ctx context.Context, alpn, addr string) (*PeerConn, error) {
	ua, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		return nil, fmt.Errorf("peer address %q: %w", addr, err)
	}
	conf := t.tlsConfig()
	conf.NextProtos = []string{alpn}
	conf.ServerName = "lattice"
	conf.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return t.certificate() }
	ctx, cancel := context.WithTimeout(ctx, t.cfg.HandshakeTimeout)
	defer cancel()
	conn, err := t.qt.Dial(ctx, ua, conf, t.quicConf)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", addr, err)
	}
	t.cfg.Metrics.handshake()
	pc, err := t.wrap(conn)
	if err != nil {
		_ = conn.CloseWithError(codeRevoked, "unusable")
		return nil, fmt.Errorf("dial %s: %w", addr, err)
	}
	return pc, nil
}

// Recheck closes every connection whose peer is no longer admitted
// (cfg.Admitted), and returns how many it closed.
func (t *Transport) Recheck() int {
	if t.cfg.Admitted == nil {
		return 0
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for _, cs := range t.conns {
		for _, pc := range cs {
			if err := t.cfg.Admitted(pc.Peer.DID); err != nil {
				t.log.Warn("closing connection of a peer no longer admitted", "peer", pc.Peer.Replica, "did", pc.Peer.DID, "err", err)
				_ = pc.CloseWithError(codeRevoked, "no longer admitted")
				n++
			}
		}
	}
	return n
}

// Conns returns the live connections.
func (t *Transport) Conns() []*PeerConn {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []*PeerConn
	for _, cs := range t.conns {
		out = append(out, cs...)
	}
	return out
}

// Close closes every connection and the socket, and waits for the
// handlers to return.
func (t *Transport) Close() error {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return nil
	}
	t.closed = true
	var all []*PeerConn
	for _, cs := range t.conns {
		all = append(all, cs...)
	}
	t.mu.Unlock()
	t.cancel()
	for _, pc := range all {
		_ = pc.CloseWithError(codeShutdown, "shutting down")
	}
	err := t.ln.Close()
	if cerr := t.qt.Close(); err == nil {
		err = cerr
	}
	_ = t.udp.Close()
	t.wg.Wait()
	if errors.Is(err, net.ErrClosed) {
		err = nil
	}
	return err
}
