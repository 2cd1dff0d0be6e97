package gossip

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	stdlog "log"
	"log/slog"
	"maps"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/lattice-federation/lattice/crdt"
	"github.com/lattice-federation/lattice/identity"
)

// Profile names a set of timing defaults.
type Profile string

// Profiles: LAN (memberlist's DefaultLANConfig, fast gossip) and WAN
// (DefaultWANConfig, slower gossip, higher timeouts).
const (
	ProfileLAN Profile = "lan"
	ProfileWAN Profile = "wan"
)

// Config configures a Node.
type Config struct {
	Store     *crdt.Store
	Identity  *identity.Identity
	Admission *identity.Admission
	// Listen is the UDP address for QUIC (host:port). Advertise, if set, is
	// the address peers reach this member at (default: Listen, which must
	// then name a specific IP).
	Listen    string
	Advertise string
	// Join lists addresses of members to join at start.
	Join    []string
	Profile Profile
	Sync    SyncConfig
	// RejoinInterval is how often members known from the store but absent
	// from the membership view are joined again.
	RejoinInterval time.Duration
	// GCInterval is how often causally stable tombstones are collected.
	GCInterval time.Duration
	// AdmissionInterval is how often live connections are re-checked
	// against admission (revocations, expiry).
	AdmissionInterval time.Duration
	// Memberlist overrides memberlist's timing (nil: from Profile). Name,
	// transport, delegates and addresses are set by the node.
	Memberlist *memberlist.Config
	Limits     crdt.Limits
	// Seed fixes anti-entropy's random peer choices (0: random).
	Seed     uint64
	Logger   *slog.Logger
	Registry prometheus.Registerer
	// Transit, if set, is told when each anti-entropy frame leaves this
	// member's loop and when one reaches its inbox (TransitObserver).
	Transit TransitObserver
}

// TransitObserver follows frames between members' loops: Sent is called
// with the frame's bytes, its receiver and the time the sender's loop
// handed it off (before it is written); Arrived with the bytes, this
// member and the time the frame was queued for the loop. Where both ends
// report to one observer with one clock (members in one process), a
// frame's bytes and receiver pair its two calls, and their difference is
// the frame's time in transit: sender goroutine, encoding, QUIC on both
// ends, reading and decoding. Calls come from many goroutines.
type TransitObserver interface {
	Sent(to crdt.ReplicaID, frame []byte, at time.Time)
	Arrived(to crdt.ReplicaID, frame []byte, at time.Time)
}

// DefaultConfig returns the LAN profile's configuration; the caller sets
// Store, Identity, Admission and Listen.
func DefaultConfig() Config {
	return Config{
		Profile:           ProfileLAN,
		Sync:              DefaultSyncConfig(),
		RejoinInterval:    5 * time.Second,
		GCInterval:        30 * time.Second,
		AdmissionInterval: 10 * time.Second,
		Limits:            crdt.DefaultLimits(),
	}
}

// WANConfig returns the WAN profile's configuration.
func WANConfig() Config {
	c := DefaultConfig()
	c.Profile = ProfileWAN
	c.Sync.Interval = 200 * time.Millisecond
	c.Sync.RepairInterval = 30 * time.Second
	c.Sync.AckTimeout = 5 * time.Second
	c.Sync.RepairTimeout = 30 * time.Second
	c.RejoinInterval = 30 * time.Second
	return c
}

// ProfileConfig returns the configuration of a named profile.
func ProfileConfig(p Profile) (Config, error) {
	switch p {
	case ProfileLAN, "":
		return DefaultConfig(), nil
	case ProfileWAN:
		return WANConfig(), nil
	}
	return Config{}, fmt.Errorf("unknown profile %q (want lan or wan)", p)
}

func (c Config) memberlistConfig() *memberlist.Config {
	if c.Memberlist != nil {
		mc := *c.Memberlist
		return &mc
	}
	if c.Profile == ProfileWAN {
		return memberlist.DefaultWANConfig()
	}
	mc := memberlist.DefaultLANConfig()
	// Lifeguard lets a suspicion run up to SuspicionMaxTimeoutMult times
	// its minimum while confirmations are missing (memberlist's default 6:
	// ~19 s at six members). Lattice moves a dead member's workloads on
	// this signal, so on a LAN it caps the stretch at 2 (3–6 s); local
	// health awareness still slows a member that is itself struggling.
	mc.SuspicionMaxTimeoutMult = 2
	return mc
}

// PeerGroup, PeerKind: the store objects by which members publish their
// gossip addresses, so that any member can rejoin any other after a
// partition however long (memberlist alone forgets dead members).
const (
	PeerGroup = "gossip.lattice.dev"
	PeerKind  = "Peer"
)

// PeerRecord is the spec of a Peer object.
type PeerRecord struct {
	DID     string `json:"did"`
	Address string `json:"address"`
}

type peerObject struct {
	APIVersion string     `json:"apiVersion"`
	Kind       string     `json:"kind"`
	Metadata   peerMeta   `json:"metadata"`
	Spec       PeerRecord `json:"spec"`
}

type peerMeta struct {
	Name string `json:"name"`
}

// inbound is a verified frame from a peer.
type inbound struct {
	msg  crdt.Message
	size int
}

// Node is one member's gossip: QUIC transport, memberlist membership and
// anti-entropy, driving the member's store.
type Node struct {
	cfg     Config
	log     *slog.Logger
	metrics *Metrics
	self    crdt.ReplicaID
	t       *Transport
	mlt     *MemberlistTransport
	ml      *memberlist.Memberlist
	sync    *Sync

	// buffered counts frame bytes being read or queued (see readFrame).
	buffered atomic.Int64
	// storePeers is the peer set the store last accepted (loop only).
	storePeers []crdt.ReplicaID

	inbox   chan inbound
	changed chan struct{} // membership changed (coalesced)
	dirty   chan struct{} // store changed (coalesced)
	// viewChanged notifies outside consumers of view changes (coalesced).
	viewChanged chan struct{}
	sends       chan struct{} // bounds concurrent sends

	mu        sync.Mutex
	addrs     map[crdt.ReplicaID]string    // live peers' addresses
	view      map[crdt.ReplicaID]string    // membership view (self included): address
	pushPeers []crdt.ReplicaID             // Sync's push targets, as of the last refresh
	since     map[crdt.ReplicaID]time.Time // when each member last entered the view
	bindings  map[crdt.ReplicaID]string    // replica ID → DID, first seen
	rejoining bool

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// Start starts the node: it listens, joins cfg.Join and gossips until
// Close.
func Start(cfg Config) (*Node, error) {
	if cfg.Store == nil || cfg.Identity == nil || cfg.Admission == nil {
		return nil, errors.New("gossip: store, identity and admission are required")
	}
	if err := cfg.Sync.Validate(); err != nil {
		return nil, err
	}
	if cfg.RejoinInterval <= 0 || cfg.GCInterval <= 0 || cfg.AdmissionInterval <= 0 {
		return nil, errors.New("gossip: rejoin, GC and admission intervals must be positive")
	}
	if cfg.Limits.MaxMessageBytes == 0 {
		cfg.Limits = crdt.DefaultLimits()
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	reg := cfg.Registry
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	n := &Node{
		cfg:         cfg,
		log:         log,
		metrics:     NewMetrics(reg),
		self:        cfg.Store.ID(),
		inbox:       make(chan inbound, 1024),
		changed:     make(chan struct{}, 1),
		dirty:       make(chan struct{}, 1),
		viewChanged: make(chan struct{}, 1),
		sends:       make(chan struct{}, 128),
		addrs:       map[crdt.ReplicaID]string{},
		view:        map[crdt.ReplicaID]string{},
		since:       map[crdt.ReplicaID]time.Time{},
		bindings:    map[crdt.ReplicaID]string{},
	}
	n.ctx, n.cancel = context.WithCancel(context.Background())
	seed := cfg.Seed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	var err error
	n.sync, err = NewSync(cfg.Sync, StoreReplica{Store: cfg.Store, Ctx: n.ctx}, seed)
	if err != nil {
		return nil, err
	}
	did := cfg.Identity.DID()
	n.t, err = NewTransport(TransportConfig{
		Identity:     cfg.Identity,
		Replica:      n.self,
		Authorizer:   cfg.Admission,
		Presentation: func() [][]byte { return cfg.Admission.Presentation(did) },
		Listen:       cfg.Listen,
		KeepAlive:    5 * time.Second,
		IdleTimeout:  30 * time.Second,
		Logger:       log,
		Metrics:      n.metrics,
		Admitted:     cfg.Admission.IsMember,
	}, map[string]ConnHandler{
		ALPNMembership: func(pc *PeerConn) { n.mlt.serve(pc) },
		ALPNSync:       n.serveSync,
	})
	if err != nil {
		return nil, err
	}
	advertise := n.t.Addr()
	if cfg.Advertise != "" {
		advertise, err = net.ResolveUDPAddr("udp", cfg.Advertise)
		if err != nil {
			n.t.Close()
			return nil, fmt.Errorf("advertise address %q: %w", cfg.Advertise, err)
		}
	}
	if advertise.IP == nil || advertise.IP.IsUnspecified() {
		n.t.Close()
		return nil, fmt.Errorf("listening on %s: give an advertise address other members can reach", n.t.Addr())
	}
	n.mlt = newMemberlistTransport(log, n.metrics, advertise)
	n.mlt.t = n.t
	n.t.Start()

	mc := cfg.memberlistConfig()
	mc.Name = string(n.self)
	mc.Transport = n.mlt
	mc.AdvertiseAddr = advertise.IP.String()
	mc.AdvertisePort = advertise.Port
	mc.Delegate = &delegate{meta: []byte(did)}
	mc.Events = &events{n: n}
	mc.Logger = stdlog.New(slogWriter{log}, "", 0)
	mc.LogOutput = nil
	n.ml, err = memberlist.Create(mc)
	if err != nil {
		n.t.Close()
		return nil, fmt.Errorf("start membership: %w", err)
	}
	if err := n.publishSelf(advertise.String()); err != nil {
		n.Close()
		return nil, err
	}
	n.wg.Add(3)
	go n.loop()
	go n.watchStore()
	go n.housekeeping()
	if len(cfg.Join) > 0 {
		// In the background: a join address that is down costs a dial
		// timeout, and the member must serve meanwhile. Failure is not
		// fatal: the rejoin loop keeps trying the join list.
		n.wg.Add(1)
		go func() {
			defer n.wg.Done()
			if k, err := n.ml.Join(cfg.Join); k == 0 && err != nil && n.ctx.Err() == nil {
				log.Warn("initial join failed; retrying in the background", "join", cfg.Join, "err", err)
			}
		}()
	}
	n.signalChanged()
	return n, nil
}

// Addr returns the QUIC address the node listens on.
func (n *Node) Addr() *net.UDPAddr { return n.t.Addr() }

// ID returns the member's replica ID.
func (n *Node) ID() crdt.ReplicaID { return n.self }

// Metrics returns the node's metrics.
func (n *Node) Metrics() *Metrics { return n.metrics }

// Members returns the replica IDs in the membership view (alive or
// suspect), self included, sorted.
func (n *Node) Members() []crdt.ReplicaID {
	n.mu.Lock()
	defer n.mu.Unlock()
	return slices.Sorted(maps.Keys(n.view))
}

// PushPeers returns the peers anti-entropy rounds push to (sorted): every
// live peer up to SyncConfig.FullMesh of them, else the overlay
// neighbours (Ring).
func (n *Node) PushPeers() []crdt.ReplicaID {
	n.mu.Lock()
	defer n.mu.Unlock()
	return slices.Clone(n.pushPeers)
}

// LiveSince returns when each member in the view last entered it.
func (n *Node) LiveSince() map[crdt.ReplicaID]time.Time {
	n.mu.Lock()
	defer n.mu.Unlock()
	out := make(map[crdt.ReplicaID]time.Time, len(n.view))
	for id := range n.view {
		out[id] = n.since[id]
	}
	return out
}

// Close leaves the membership gracefully and stops everything.
func (n *Node) Close() error {
	if n.ml != nil {
		_ = n.ml.Leave(time.Second)
		_ = n.ml.Shutdown()
	}
	n.cancel()
	err := n.t.Close()
	n.wg.Wait()
	return err
}

// publishSelf writes this member's Peer record if it changed.
func (n *Node) publishSelf(addr string) error {
	key, err := crdt.MakeKey(PeerGroup, PeerKind, "", string(n.self))
	if err != nil {
		return err
	}
	rec := PeerRecord{DID: n.cfg.Identity.DID(), Address: addr}
	if o, err := n.cfg.Store.Get(key); err == nil {
		var have peerObject
		if json.Unmarshal(o.Value, &have) == nil && have.Spec == rec {
			return nil
		}
	}
	b, err := json.Marshal(peerObject{APIVersion: PeerGroup + "/v1alpha1", Kind: PeerKind, Metadata: peerMeta{Name: string(n.self)}, Spec: rec})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(n.ctx, 10*time.Second)
	defer cancel()
	if _, err := n.cfg.Store.Put(ctx, key, b, crdt.PutOptions{}); err != nil {
		return fmt.Errorf("publish peer record: %w", err)
	}
	return nil
}

// knownPeers returns the Peer records in the store, by replica ID.
func (n *Node) knownPeers() map[crdt.ReplicaID]PeerRecord {
	objs, _, err := n.cfg.Store.List(PeerGroup + "/" + PeerKind + "/")
	if err != nil {
		return nil
	}
	out := make(map[crdt.ReplicaID]PeerRecord, len(objs))
	for _, o := range objs {
		var p peerObject
		if err := json.Unmarshal(o.Value, &p); err != nil || p.Spec.Address == "" {
			continue
		}
		_, _, _, name := o.Key.Parts()
		out[crdt.ReplicaID(name)] = p.Spec
	}
	return out
}

func (n *Node) signalChanged() {
	select {
	case n.changed <- struct{}{}:
	default:
	}
}

// ViewChanged returns a channel that receives (coalesced) whenever the
// membership view changes, for consumers such as the federation
// controller that act on liveness.
func (n *Node) ViewChanged() <-chan struct{} { return n.viewChanged }

// loop is the single goroutine driving the anti-entropy core.
func (n *Node) loop() {
	defer n.wg.Done()
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-n.ctx.Done():
			return
		case <-timer.C:
		case in := <-n.inbox:
			n.receive(in)
			n.buffered.Add(-int64(in.size))
		case <-n.changed:
			n.refreshPeers()
		case <-n.dirty:
			// The store changed: a local write, or the Step of a message
			// just received, whose round has already run (Changed tells).
			n.sync.Changed(time.Now())
		}
		out, err := n.sync.Tick(time.Now())
		if err != nil && n.ctx.Err() == nil {
			n.log.Warn("anti-entropy round failed", "err", err)
		}
		n.send(out)
		wait := time.Until(n.sync.NextTick())
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		timer.Reset(max(wait, time.Millisecond))
	}
}

func (n *Node) receive(in inbound) {
	now := time.Now()
	if d, ok := in.msg.(*crdt.DeltaMsg); ok {
		var newest crdt.Timestamp
		for _, kd := range d.Docs {
			if kd.Doc != nil {
				newest = max(newest, kd.Doc.Newest().Time)
			}
		}
		if newest != 0 {
			n.metrics.ConvergenceLag.Observe(max(0, now.Sub(newest.Time()).Seconds()))
		}
	}
	out, err := n.sync.Receive(now, in.msg)
	n.metrics.MessageHandling.Observe(time.Since(now).Seconds())
	n.send(out) // a reply is durable and due even if a follow-up failed
	if err != nil {
		if n.ctx.Err() == nil {
			n.metrics.rejected("invalid")
			n.log.Warn("message from peer rejected", "peer", in.msg.Sender(), "type", in.msg.Type(), "err", err)
		}
		return
	}
	n.metrics.MessagesReceived.WithLabelValues(in.msg.Type().String()).Inc()
}

// refreshPeers rebuilds the live peer set from the membership view.
func (n *Node) refreshPeers() {
	n.mu.Lock()
	addrs := maps.Clone(n.view)
	delete(addrs, n.self)
	n.addrs = addrs
	n.mu.Unlock()
	live := slices.Sorted(maps.Keys(addrs))
	if !slices.Equal(live, n.sync.Peers()) {
		n.sync.SetPeers(live)
		push := n.sync.Targets()
		n.mu.Lock()
		n.pushPeers = push
		n.mu.Unlock()
		n.log.Info("live peers changed", "peers", len(live), "push_peers", len(push))
		n.metrics.Peers.Set(float64(len(live)))
		n.metrics.PushPeers.Set(float64(len(push)))
	}
	if n.storePeers != nil && slices.Equal(live, n.storePeers) {
		return
	}
	ctx, cancel := context.WithTimeout(n.ctx, 10*time.Second)
	defer cancel()
	err := n.cfg.Store.SetPeers(ctx, live)
	if err == nil {
		err = n.cfg.Store.SetPushPeers(ctx, n.sync.Targets())
	}
	if err != nil {
		if n.ctx.Err() == nil {
			// Retried: the store's peer set gates tombstone collection.
			n.log.Warn("store peer update failed; retrying", "err", err)
			time.AfterFunc(time.Second, n.signalChanged)
		}
		return
	}
	n.storePeers = append([]crdt.ReplicaID{}, live...)
}

// send ships envelopes, each on its own goroutine (bounded: beyond the
// bound an envelope is dropped; anti-entropy resends on its schedule).
func (n *Node) send(out []Envelope) {
	var handed time.Time
	if n.cfg.Transit != nil && len(out) > 0 {
		handed = time.Now()
	}
	for _, e := range out {
		n.mu.Lock()
		addr, ok := n.addrs[e.To]
		n.mu.Unlock()
		if !ok {
			n.metrics.dropped("no-address")
			continue
		}
		select {
		case n.sends <- struct{}{}:
		default:
			n.metrics.dropped("send-queue")
			continue
		}
		n.wg.Add(1)
		go func() {
			defer n.wg.Done()
			defer func() { <-n.sends }()
			if err := n.sendOne(e, addr, handed); err != nil && n.ctx.Err() == nil {
				n.metrics.dropped("send")
				n.log.Debug("anti-entropy send failed", "to", e.To, "type", e.Msg.Type(), "err", err)
			}
		}()
	}
}

func (n *Node) sendOne(e Envelope, addr string, handed time.Time) error {
	b, err := EncodeFrame(e.Msg)
	if err != nil {
		return err
	}
	if n.cfg.Transit != nil {
		n.cfg.Transit.Sent(e.To, b, handed)
	}
	ctx, cancel := context.WithTimeout(n.ctx, 10*time.Second)
	defer cancel()
	pc, err := n.t.Dial(ctx, ALPNSync, addr)
	if err != nil {
		return err
	}
	if pc.Peer.Replica != e.To {
		return fmt.Errorf("%s answers as %s, not %s", addr, pc.Peer.Replica, e.To)
	}
	if err := pc.Send(ctx, b, 10*time.Second); err != nil {
		return err
	}
	n.metrics.bytesOut(ALPNSync, len(b))
	n.metrics.MessagesSent.WithLabelValues(e.Msg.Type().String()).Inc()
	if e.Msg.Type() == crdt.MsgDigest {
		n.metrics.Repairs.Inc()
	}
	return nil
}

// serveSync reads anti-entropy frames from one connection.
func (n *Node) serveSync(pc *PeerConn) {
	if !n.bind(pc.Peer) {
		n.metrics.rejected("impersonation")
		n.log.Warn("peer claims a replica ID bound to another DID; closing", "replica", pc.Peer.Replica, "did", pc.Peer.DID)
		_ = pc.CloseWithError(codeRevoked, "replica ID bound to another DID")
		return
	}
	limit := n.cfg.Limits.MaxMessageBytes + frameHeader
	// At most maxConnReaders frames are read at once per connection: the
	// rest wait unaccepted, which holds the peer back through QUIC's own
	// stream limit.
	slots := make(chan struct{}, maxConnReaders)
	for {
		select {
		case slots <- struct{}{}:
		case <-pc.Context().Done():
			return
		}
		s, err := pc.AcceptUniStream(pc.Context())
		if err != nil {
			return
		}
		go func() {
			defer func() { <-slots }()
			_ = s.SetReadDeadline(time.Now().Add(30 * time.Second))
			b, err := n.readFrame(s, limit)
			if err != nil {
				s.CancelRead(1)
				kind := "oversized"
				if errors.Is(err, errOverloaded) {
					kind = "overloaded"
				}
				n.metrics.rejected(kind)
				n.log.Warn("frame from peer dropped", "peer", pc.Peer.Replica, "err", err)
				return
			}
			release := func() { n.buffered.Add(-int64(len(b))) }
			n.metrics.bytesIn(ALPNSync, len(b))
			m, err := DecodeFrame(b, n.cfg.Limits)
			if err != nil {
				release()
				n.metrics.rejected("malformed")
				n.log.Warn("frame from peer dropped", "peer", pc.Peer.Replica, "err", err)
				return
			}
			if m.Sender() != pc.Peer.Replica {
				release()
				n.metrics.rejected("misattributed")
				n.log.Warn("frame names another sender; dropped", "peer", pc.Peer.Replica, "sender", m.Sender())
				return
			}
			select {
			case n.inbox <- inbound{msg: m, size: len(b)}:
				// The loop releases the bytes once it has applied the message.
				if n.cfg.Transit != nil {
					n.cfg.Transit.Arrived(n.self, b, time.Now())
				}
			case <-n.ctx.Done():
				release()
			default:
				release()
				n.metrics.dropped("inbox")
			}
		}()
	}
}

// Bounds on what peers can make a member hold in memory.
const (
	// maxConnReaders is how many frames one connection may have in flight.
	maxConnReaders = 8
	// maxBufferedBytes bounds the bytes of frames being read or waiting
	// to be applied, across all peers; beyond it frames are dropped
	// (anti-entropy resends them).
	maxBufferedBytes = 256 << 20
)

var errOverloaded = errors.New("too many frame bytes buffered; dropped")

// readFrame reads one frame of at most limit bytes, counting what it
// holds against the member-wide budget; on success the caller owns the
// frame's share of the budget.
func (n *Node) readFrame(r io.Reader, limit int) ([]byte, error) {
	var buf []byte
	chunk := make([]byte, 32<<10)
	for {
		k, err := r.Read(chunk)
		if k > 0 {
			if len(buf)+k > limit {
				n.buffered.Add(-int64(len(buf)))
				return nil, fmt.Errorf("%w: more than %d bytes", ErrBadFrame, limit)
			}
			if n.buffered.Add(int64(k)) > maxBufferedBytes {
				n.buffered.Add(-int64(len(buf) + k))
				return nil, errOverloaded
			}
			buf = append(buf, chunk[:k]...)
		}
		if errors.Is(err, io.EOF) {
			return buf, nil
		}
		if err != nil {
			n.buffered.Add(-int64(len(buf)))
			return nil, err
		}
	}
}

// bind records which DID owns a replica ID; the first admitted DID to
// claim an ID keeps it, and its own ID is always this member's.
func (n *Node) bind(p Peer) bool {
	if p.Replica == n.self {
		return false
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if have, ok := n.bindings[p.Replica]; ok {
		return have == p.DID
	}
	n.bindings[p.Replica] = p.DID
	return true
}

// watchStore wakes anti-entropy on every change to the store.
func (n *Node) watchStore() {
	defer n.wg.Done()
	for n.ctx.Err() == nil {
		w, err := n.cfg.Store.Watch(n.ctx, "", n.cfg.Store.ResourceVersion())
		if err != nil {
			n.log.Warn("store watch failed", "err", err)
			select {
			case <-n.ctx.Done():
			case <-time.After(time.Second):
			}
			continue
		}
		// Changes made while no watch was open are not replayed: say
		// "changed" once, since an idle Sync waits for Notify (see
		// Sync.NextTick).
		n.markDirty()
		for range w.Events() {
			n.markDirty()
		}
		w.Stop()
	}
}

func (n *Node) markDirty() {
	select {
	case n.dirty <- struct{}{}:
	default:
	}
}

// housekeeping runs the slow periodic duties: rejoin, GC, admission.
func (n *Node) housekeeping() {
	defer n.wg.Done()
	rejoin := time.NewTicker(n.cfg.RejoinInterval)
	gc := time.NewTicker(n.cfg.GCInterval)
	adm := time.NewTicker(n.cfg.AdmissionInterval)
	defer rejoin.Stop()
	defer gc.Stop()
	defer adm.Stop()
	for {
		select {
		case <-n.ctx.Done():
			return
		case <-rejoin.C:
			n.rejoin()
		case <-gc.C:
			n.collectGarbage()
		case <-adm.C:
			n.RecheckAdmission()
		}
	}
}

// collectGarbage runs one tombstone collection and reports it.
func (n *Node) collectGarbage() {
	ctx, cancel := context.WithTimeout(n.ctx, 30*time.Second)
	defer cancel()
	start := time.Now()
	collected, held, err := n.cfg.Store.CollectGarbage(ctx)
	if err != nil {
		if n.ctx.Err() == nil {
			n.log.Warn("tombstone collection failed", "err", err)
		}
		return
	}
	n.metrics.collection(collected, held, time.Since(start))
	if collected > 0 {
		n.log.Debug("tombstones collected", "keys", collected, "still held", held)
	}
}

// rejoin joins every member known from the store (and the join list)
// that the membership view lacks: after a partition longer than the
// failure detector's patience memberlist forgets the other side, so this
// is what heals it.
func (n *Node) rejoin() {
	present := map[string]bool{}
	for _, id := range n.Members() {
		present[string(id)] = true
	}
	var addrs []string
	known := n.knownPeers()
	for _, id := range slices.Sorted(maps.Keys(known)) {
		if id != n.self && !present[string(id)] {
			addrs = append(addrs, known[id].Address)
		}
	}
	if len(present) <= 1 {
		addrs = append(addrs, n.cfg.Join...)
	}
	if len(addrs) == 0 {
		return
	}
	n.mu.Lock()
	if n.rejoining {
		n.mu.Unlock()
		return
	}
	n.rejoining = true
	n.mu.Unlock()
	n.metrics.Rejoins.Inc()
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		defer func() {
			n.mu.Lock()
			n.rejoining = false
			n.mu.Unlock()
		}()
		k, err := n.ml.Join(addrs)
		if k > 0 {
			n.log.Info("rejoined members", "contacted", k, "tried", len(addrs))
		} else if err != nil && n.ctx.Err() == nil {
			n.log.Debug("rejoin failed", "tried", addrs, "err", err)
		}
	}()
}

// RecheckAdmission closes connections of peers no longer admitted
// (revoked, expired). Their handshakes are refused from then on.
func (n *Node) RecheckAdmission() { n.t.Recheck() }

// delegate gives memberlist this member's metadata (its DID).
type delegate struct{ meta []byte }

func (d *delegate) NodeMeta(limit int) []byte {
	if len(d.meta) > limit {
		return nil
	}
	return d.meta
}
func (d *delegate) NotifyMsg([]byte)                           {}
func (d *delegate) GetBroadcasts(overhead, limit int) [][]byte { return nil }
func (d *delegate) LocalState(join bool) []byte                { return nil }
func (d *delegate) MergeRemoteState(buf []byte, join bool)     {}

// events keeps the node's membership view and triggers a refresh of the
// live peer set. memberlist calls them under its state lock, so copying the
// node's fields here is safe (reading Members() later is not: memberlist
// updates those nodes in place).
type events struct{ n *Node }

func (e *events) NotifyJoin(m *memberlist.Node)   { e.set(m, true) }
func (e *events) NotifyUpdate(m *memberlist.Node) { e.set(m, true) }
func (e *events) NotifyLeave(m *memberlist.Node)  { e.set(m, false) }

func (e *events) set(m *memberlist.Node, alive bool) {
	id := crdt.ReplicaID(m.Name)
	e.n.mu.Lock()
	if alive {
		if _, ok := e.n.view[id]; !ok {
			e.n.since[id] = time.Now()
		}
		e.n.view[id] = net.JoinHostPort(m.Addr.String(), strconv.Itoa(int(m.Port)))
	} else {
		delete(e.n.view, id)
	}
	e.n.mu.Unlock()
	e.n.signalChanged()
	select {
	case e.n.viewChanged <- struct{}{}:
	default:
	}
}

// slogWriter routes memberlist's log lines to slog at debug level (its
// "[WARN]" lines at warn).
type slogWriter struct{ log *slog.Logger }

func (w slogWriter) Write(p []byte) (int, error) {
	msg := strings.TrimRight(string(p), "\n")
	level := slog.LevelDebug
	switch {
	case strings.Contains(msg, "Failed fallback") || strings.Contains(msg, "Failed to send") ||
		strings.Contains(msg, "Failed to receive") || strings.Contains(msg, "Push/Pull with"):
		// Expected while a member is down: the failure detector's own
		// business, and very repetitive.
	case strings.Contains(msg, "[WARN]") || strings.Contains(msg, "[ERR]"):
		level = slog.LevelWarn
	}
	w.log.Log(context.Background(), level, "memberlist: "+msg)
	return len(p), nil
}

var _ io.Writer = slogWriter{}
