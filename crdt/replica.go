package crdt

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"
)

// ReplicaConfig configures a Replica.
type ReplicaConfig struct {
	// ID is this replica's writer identity (a member's DID).
	ID ReplicaID
	// Clock stamps local writes and checks remote stamps. Required: the
	// store uses a wall-clock HLC, the simulator a virtual one.
	Clock *Clock
	// Limits bounds input.
	Limits Limits
	// MaxBufferEntries and MaxBufferBytes bound the delta buffer. When a
	// bound is hit the oldest entries are dropped and peers that had not
	// acknowledged them are repaired by digest instead.
	MaxBufferEntries int
	MaxBufferBytes   int
	// MaxDeltaBytes bounds the documents in one outgoing delta message; the
	// rest follows in the next round.
	MaxDeltaBytes int
	// Volatile replicas have no durable state (the simulator, tests):
	// nobody calls Meta, so stability reports claim the current clock
	// reading instead of the last persisted one.
	Volatile bool
}

// DefaultReplicaConfig returns the defaults for replica id over clock.
func DefaultReplicaConfig(id ReplicaID, clock *Clock) ReplicaConfig {
	return ReplicaConfig{
		ID:               id,
		Clock:            clock,
		Limits:           DefaultLimits(),
		MaxBufferEntries: 1 << 16,
		MaxBufferBytes:   64 << 20,
		MaxDeltaBytes:    4 << 20,
	}
}

// Errors returned by local operations. They are wrapped with the key; test
// with errors.Is.
var (
	ErrNotFound      = errors.New("not found")
	ErrAlreadyExists = errors.New("already exists")
	ErrConflict      = errors.New("resourceVersion conflict")
	ErrInvalid       = errors.New("invalid")
	// ErrNeedRepair: the peer is missing deltas that were pruned from the
	// buffer; run a digest repair with it.
	ErrNeedRepair = errors.New("peer needs digest repair")
	// ErrUnknownSession: a repair reply arrived for no open session.
	ErrUnknownSession = errors.New("no repair session with peer")
)

// ConflictError reports an optimistic-concurrency failure.
type ConflictError struct {
	Key      Key
	Expected uint64
	Actual   uint64
}

func (e *ConflictError) Error() string {
	return fmt.Sprintf("%s: resourceVersion conflict: expected %d, current %d", e.Key, e.Expected, e.Actual)
}

// Is makes errors.Is(err, ErrConflict) work.
func (e *ConflictError) Is(target error) bool { return target == ErrConflict }

// EventType says how a change looks to a watcher.
type EventType uint8

const (
	// EventNone: internal state changed, the object did not (e.g. tombstone
	// collection). Not delivered to watchers.
	EventNone EventType = iota
	EventAdded
	EventModified
	EventDeleted
)

func (t EventType) String() string {
	return [...]string{"NONE", "ADDED", "MODIFIED", "DELETED"}[t]
}

// Change is one key's state change, to persist and publish.
type Change struct {
	Key Key
	// RV is the key's new resourceVersion: the local sequence number of
	// this change. Invisible changes (EventNone) keep the old one.
	RV   uint64
	Type EventType
	// Doc is the key's new state (nil when it was dropped entirely). It is
	// owned by the replica: read it before the next call, do not modify it.
	Doc *Document
}

// Meta is the replica's own state, persisted with every batch of updates
// (see Replica.Meta).
type Meta struct {
	Seq      uint64
	Clock    Timestamp
	BufFloor uint64
	Context  *Context
	// Acks holds the tracked live peers and what each acknowledged, so a
	// restarted member keeps its buffer for them.
	Acks map[ReplicaID]uint64
}

// Update is the output of every state-changing call: what the driver must
// make durable (in one atomic batch) before it sends any reply messages or
// acknowledges the caller.
type Update struct {
	Changes []Change
	// Entry is a new delta-buffer entry, if any.
	Entry *BufferEntry
	// PrunedThrough: buffer entries with Last <= it were dropped.
	PrunedThrough uint64
}

// Empty reports whether nothing needs persisting beyond Meta.
func (u *Update) Empty() bool {
	return len(u.Changes) == 0 && u.Entry == nil && u.PrunedThrough == 0
}

// BufferEntry is one applied batch in the delta buffer: the documents it
// changed and the dots it made known, covering local sequence numbers
// First..Last.
type BufferEntry struct {
	First, Last uint64
	From        ReplicaID // the peer it came from; empty for local writes
	Dots        []Dot
	Docs        []KeyedDoc
	size        int
}

type keyState struct {
	doc    *Document
	rv     uint64
	spread uint64 // keySpread(key), cached for digests
	hash   Hash
	hashOK bool
	// pending: the digest cache lacks this key's leaf hash (the key
	// changed since it was last folded in); it is in digest.pending.
	pending bool
}

// peerReport is what a peer last told us about itself.
type peerReport struct {
	vv    VersionVector
	clock Timestamp
}

// peerState is what a replica knows of one peer, in one place: every
// message from or to a peer reads or moves several of these, and one map
// lookup and one record, instead of one per map, is most of their cost in
// a member with many peers whose state is cold in the cache.
type peerState struct {
	live     bool   // in the live set (SetPeers)
	push     bool   // anti-entropy pushes to it (SetPushPeers)
	ack      uint64 // the highest of our sequence numbers it acknowledged
	reported bool   // rep holds a report it sent
	rep      peerReport
	stab     stability
}

// stability is CollectGarbage's memory of one live member (a peer, or the
// replica itself): a checkpoint of the member's own counter and clock from
// one collection, and the clock bound the last checkpoint every live
// member had caught up with gave. Each live writer w bounds its future
// writes by the clock of any report of its: writes before that report are
// numbered up to the report's counter, writes after it are stamped above
// its clock. Once every live member reports having w's writes up to a
// report's counter, no write of w stamped below that report's clock can
// still be in flight to anyone. The latest report of w need not be the
// one: with the push overlay most reports reach a member only through
// occasional repairs, so they lag each other, and w's newest counter is
// seldom known to everyone. An older report every member has caught up
// with bounds as well, and the bound advances one checkpoint per
// collection that finds the last one covered.
//
// A bound stays valid while every live member has the writes up to the
// checkpoint that gave it (boundSeq), which each collection checks: a
// member joining the live set holds collection back only until its report
// covers them, instead of restarting every member's checkpoints.
type stability struct {
	ckptSeq   uint64
	ckptClock Timestamp
	ckptSet   bool
	bound     Timestamp
	boundSeq  uint64
	bounded   bool
}

// repairSession is the initiator's memory of one repair. Contexts are
// snapshots taken when each side computed its digest: a side may adopt the
// other's context only for the state the comparison actually covered.
type repairSession struct {
	id      uint64
	mySeq   uint64
	myCtx   *Context
	peerSeq uint64
	peerCtx *Context
}

// Replica is the sans-IO replication core of one member's store. It is not
// safe for concurrent use; the Store serializes calls, the simulator is
// single-threaded.
type Replica struct {
	cfg   ReplicaConfig
	id    ReplicaID
	clock *Clock

	docs  map[Key]*keyState
	tombs map[Key]struct{} // keys holding tombstones or no live object: GC candidates
	// digest caches the bucket hashes of one depth, kept up to date key
	// by key as documents change. Every repair a member starts or answers
	// needs them, and between two repairs few documents change.
	digest digestCache
	ctx    *Context
	seq    uint64

	buf      []*BufferEntry
	bufBytes int
	bufFloor uint64

	// peers holds every live peer's state, and that of other members
	// heard from since the live set was last set (SetPeers drops them).
	peers map[ReplicaID]*peerState
	// livePeers lists the live entries of peers whose acknowledgements
	// gate pruning (the push peers among them, once SetPushPeers narrowed
	// them), for pruneBuffer's pass on every acknowledgement: a slice
	// walk, not a map iteration.
	livePeers []*peerState
	// pushOnly: SetPushPeers narrowed pruning to the push peers.
	pushOnly bool
	// selfStab is CollectGarbage's stability memory of this replica.
	selfStab stability
	// lastID and lastPeer cache peer's previous lookup: handling one
	// message looks its sender up several times.
	lastID      ReplicaID
	lastPeer    *peerState
	sessions    map[ReplicaID]*repairSession
	sessionSeq  uint64
	reportClock Timestamp
	// fresh is ApplyDelta's scratch list of documents not yet covered.
	fresh []KeyedDoc
}

// NewReplica returns an empty replica.
func NewReplica(cfg ReplicaConfig) (*Replica, error) {
	if err := ValidateReplicaID(cfg.ID); err != nil {
		return nil, fmt.Errorf("new replica: %w", err)
	}
	if cfg.Clock == nil {
		return nil, fmt.Errorf("new replica: a clock is required")
	}
	def := DefaultReplicaConfig(cfg.ID, cfg.Clock)
	if cfg.Limits == (Limits{}) {
		cfg.Limits = def.Limits
	}
	if cfg.MaxBufferEntries <= 0 {
		cfg.MaxBufferEntries = def.MaxBufferEntries
	}
	if cfg.MaxBufferBytes <= 0 {
		cfg.MaxBufferBytes = def.MaxBufferBytes
	}
	if cfg.MaxDeltaBytes <= 0 {
		cfg.MaxDeltaBytes = def.MaxDeltaBytes
	}
	return &Replica{
		cfg:      cfg,
		id:       cfg.ID,
		clock:    cfg.Clock,
		docs:     map[Key]*keyState{},
		tombs:    map[Key]struct{}{},
		ctx:      NewContext(),
		peers:    map[ReplicaID]*peerState{},
		sessions: map[ReplicaID]*repairSession{},
	}, nil
}

// ID returns the replica's writer identity.
func (r *Replica) ID() ReplicaID { return r.id }

// Seq returns the last local sequence number (the store's resourceVersion).
func (r *Replica) Seq() uint64 { return r.seq }

// Context returns a copy of the causal context.
func (r *Replica) Context() *Context { return r.ctx.Clone() }

// Get returns the document for key and its resourceVersion. The document
// is owned by the replica: do not modify it.
func (r *Replica) Get(key Key) (*Document, uint64, bool) {
	ks, ok := r.docs[key]
	if !ok {
		return nil, 0, false
	}
	return ks.doc, ks.rv, true
}

// Keys returns every key holding state (live or tombstoned), sorted.
func (r *Replica) Keys() []Key { return slices.Sorted(maps.Keys(r.docs)) }

// Len returns the number of keys holding state.
func (r *Replica) Len() int { return len(r.docs) }

// Tombstones returns the number of keys holding tombstones or no live
// object: what CollectGarbage still has to collect.
func (r *Replica) Tombstones() int { return len(r.tombs) }

// reportClockRefresh bounds how stale the clock in stability reports may
// get on an idle replica (each refresh costs a metadata write).
const reportClockRefresh = time.Second

// Meta returns the replica's own state, for the driver to persist with
// each batch of updates (once per batch: the last call covers every update
// before it). The clock it carries becomes the clock this replica's
// stability reports claim, so the driver must make it durable before it
// sends any reply produced after this call; a restart then never issues
// writes below a reported clock.
func (r *Replica) Meta() Meta {
	m := Meta{Seq: r.seq, Clock: r.clock.Refresh(reportClockRefresh), BufFloor: r.bufFloor, Context: r.ctx.Clone(),
		Acks: make(map[ReplicaID]uint64, len(r.peers))}
	for p, ps := range r.peers {
		if ps.live {
			m.Acks[p] = ps.ack
		}
	}
	r.reportClock = m.Clock
	return m
}

// reportedClock is the clock a stability report may claim: the last one
// made durable by Meta, or, for a volatile replica (nothing is durable),
// the current reading.
func (r *Replica) reportedClock() Timestamp {
	if r.cfg.Volatile {
		r.reportClock = r.clock.Refresh(reportClockRefresh)
	}
	return r.reportClock
}

// --- local operations ---------------------------------------------------

// PutMode selects create/update semantics.
type PutMode uint8

const (
	// PutUpsert creates or updates.
	PutUpsert PutMode = iota
	// PutCreate fails with ErrAlreadyExists if the object exists.
	PutCreate
	// PutUpdate fails with ErrNotFound if the object does not exist.
	PutUpdate
)

// PutOptions qualifies Put.
type PutOptions struct {
	Mode PutMode
	// ExpectRV, when non-zero, must equal the key's current resourceVersion.
	ExpectRV uint64
	// BumpGeneration increments the object's generation counter (the API
	// layer asks for it when the spec changed).
	BumpGeneration bool
}

func (r *Replica) checkRV(key Key, expect uint64) error {
	if expect == 0 {
		return nil
	}
	var cur uint64
	if ks, ok := r.docs[key]; ok && ks.doc.Exists() {
		cur = ks.rv
	}
	if cur != expect {
		return &ConflictError{Key: key, Expected: expect, Actual: cur}
	}
	return nil
}

// Put sets key to the JSON object value, writing only the fields that
// changed. A Put that changes nothing returns an Update without changes.
func (r *Replica) Put(key Key, value []byte, opts PutOptions) (Update, error) {
	obj, err := ParseObject(key, value, r.cfg.Limits)
	if err != nil {
		return Update{}, err
	}
	return r.PutObject(key, obj, opts)
}

// ParsedObject is a validated, decoded JSON object ready for PutObject.
type ParsedObject struct{ m map[string]any }

// ParseObject validates key and decodes value. It is separate from Put so
// drivers can parse on the caller's goroutine, off the single writer.
func ParseObject(key Key, value []byte, lim Limits) (ParsedObject, error) {
	if err := key.Validate(); err != nil {
		return ParsedObject{}, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	obj, err := decodeObject(value, lim)
	if err != nil {
		return ParsedObject{}, fmt.Errorf("%s: %w: %v", key, ErrInvalid, err)
	}
	return ParsedObject{m: obj}, nil
}

// PutObject is Put for an object parsed by ParseObject.
func (r *Replica) PutObject(key Key, parsed ParsedObject, opts PutOptions) (Update, error) {
	obj := parsed.m
	if obj == nil {
		return Update{}, fmt.Errorf("%s: %w: object was not parsed", key, ErrInvalid)
	}
	ks := r.docs[key]
	exists := ks != nil && ks.doc.Exists()
	switch {
	case opts.Mode == PutCreate && exists:
		return Update{}, fmt.Errorf("%s: %w", key, ErrAlreadyExists)
	case opts.Mode == PutUpdate && !exists:
		return Update{}, fmt.Errorf("%s: %w", key, ErrNotFound)
	}
	if err := r.checkRV(key, opts.ExpectRV); err != nil {
		return Update{}, err
	}
	doc := NewDocument()
	if ks != nil {
		doc = ks.doc.Clone()
	}
	// The dot is taken only once we know the operation writes something,
	// so no-op puts leave no holes in the sequence.
	s := Stamp{Time: r.clock.Now(), Writer: r.id, Seq: r.ctx.VV.Get(r.id) + 1}
	// For a key with no state at all the new state is its own delta; the
	// buffer shares the (immutable once installed) document.
	var delta *Document
	if ks != nil {
		delta = NewDocument()
	}
	changed := doc.setObject(obj, s, delta)
	if opts.BumpGeneration || (changed && !exists && doc.Generation() == 0) {
		doc.bumpGeneration(s, delta)
		changed = true
	}
	if !changed {
		return Update{}, nil
	}
	// The state must stay within what the store reloads and peers accept:
	// escapes (\b, \f) grow in canonical JSON, and tombstones and stamps
	// add to the object.
	if raw, err := doc.MarshalBinary(); err != nil || len(raw) > r.cfg.Limits.MaxDocumentBytes {
		return Update{}, fmt.Errorf("%s: %w: the object's stored state would be %d bytes, max %d",
			key, ErrInvalid, len(raw), r.cfg.Limits.MaxDocumentBytes)
	}
	if delta == nil {
		delta = doc
	}
	return r.commitLocal(key, doc, delta, s, exists), nil
}

// Delete tombstones key.
func (r *Replica) Delete(key Key, expectRV uint64) (Update, error) {
	if err := key.Validate(); err != nil {
		return Update{}, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	ks := r.docs[key]
	if ks == nil || !ks.doc.Exists() {
		return Update{}, fmt.Errorf("%s: %w", key, ErrNotFound)
	}
	if err := r.checkRV(key, expectRV); err != nil {
		return Update{}, err
	}
	doc := ks.doc.Clone()
	s := Stamp{Time: r.clock.Now(), Writer: r.id, Seq: r.ctx.VV.Get(r.id) + 1}
	delta := NewDocument()
	doc.deleteObject(s, delta)
	return r.commitLocal(key, doc, delta, s, true), nil
}

func (r *Replica) commitLocal(key Key, doc, delta *Document, s Stamp, existed bool) Update {
	r.ctx.Add(s.Dot())
	r.seq++
	ch := r.install(key, doc, r.seq, existed)
	e := &BufferEntry{First: r.seq, Last: r.seq, Dots: []Dot{s.Dot()}, Docs: []KeyedDoc{{Key: key, Doc: delta}}}
	u := &Update{Changes: []Change{ch}, Entry: e}
	r.appendBuffer(e, u)
	return *u
}

// install stores doc as key's state at rv and returns the change.
func (r *Replica) install(key Key, doc *Document, rv uint64, existed bool) Change {
	ch := Change{Key: key, RV: rv, Doc: doc}
	switch exists := doc.Exists(); {
	case exists && existed:
		ch.Type = EventModified
	case exists:
		ch.Type = EventAdded
	case existed:
		ch.Type = EventDeleted
	default:
		ch.Type = EventNone
	}
	r.unfold(key)
	if doc.IsEmpty() {
		delete(r.docs, key)
		delete(r.tombs, key)
		ch.Doc = nil
		return ch
	}
	ks := r.docs[key]
	if ks == nil {
		ks = &keyState{spread: keySpread(key)}
		r.docs[key] = ks
		r.unfold(key)
	}
	ks.doc, ks.hashOK = doc, false
	if rv != 0 {
		ks.rv = rv
	} else {
		ch.RV = ks.rv
	}
	if doc.hasTombstones() || !doc.Exists() {
		r.tombs[key] = struct{}{}
	} else {
		delete(r.tombs, key)
	}
	return ch
}

// --- delta buffer ----------------------------------------------------------

func (r *Replica) appendBuffer(e *BufferEntry, u *Update) {
	sortDocs(e.Docs)
	for i := range e.Docs {
		if e.Docs[i].Doc != nil {
			raw, err := e.Docs[i].Doc.MarshalBinary()
			if err == nil {
				e.Docs[i].raw = raw
				e.size += len(raw)
			}
		}
		e.size += len(e.Docs[i].Key) + 4
	}
	e.size += len(e.Dots) * 16
	r.buf = append(r.buf, e)
	r.bufBytes += e.size
	r.pruneBuffer(u)
}

// pruneBuffer drops entries every tracked peer acknowledged, then the
// oldest entries beyond the size bounds.
func (r *Replica) pruneBuffer(u *Update) {
	acked := r.seq
	for _, ps := range r.livePeers {
		acked = min(acked, ps.ack)
	}
	n := 0
	for n < len(r.buf) && (r.buf[n].Last <= acked ||
		len(r.buf)-n > r.cfg.MaxBufferEntries || r.bufBytes > r.cfg.MaxBufferBytes) {
		r.bufBytes -= r.buf[n].size
		r.bufFloor = r.buf[n].Last
		n++
	}
	if n == 0 {
		return
	}
	clear(r.buf[:n])
	r.buf = r.buf[n:]
	if u != nil {
		u.PrunedThrough = r.bufFloor
	}
}

// Buffer returns the retained buffer entries (oldest first). They are owned
// by the replica.
func (r *Replica) Buffer() []*BufferEntry { return r.buf }

// SetPeers sets the live peers whose reports gate tombstone collection
// and whose acknowledgements gate buffer pruning (only the push peers'
// among them, once SetPushPeers narrowed it). A removed peer stops holding
// either back.
func (r *Replica) SetPeers(live []ReplicaID) Update {
	for _, p := range live {
		if ps := r.knownPeer(p); p != r.id && (ps == nil || !ps.live) {
			// A peer new to the live set holds pruning back until
			// SetPushPeers says whether it is pushed to.
			r.peer(p).push = r.pushOnly
		}
	}
	for _, ps := range r.peers {
		ps.live = false
	}
	for _, p := range live {
		if p != r.id {
			r.peer(p).live = true
		}
	}
	maps.DeleteFunc(r.peers, func(_ ReplicaID, ps *peerState) bool { return !ps.live })
	r.listLivePeers()
	u := &Update{}
	r.pruneBuffer(u)
	return *u
}

// SetPushPeers narrows buffer pruning to the acknowledgements of the live
// peers anti-entropy pushes deltas to (gossip's overlay neighbours, in a
// federation too large to push to everyone); nil widens it back to every
// live peer. Call it after SetPeers, which keeps the marks of the peers
// that stay live and counts new ones as push peers meanwhile. A live peer
// not pushed to is never asked for a delta, so its acknowledgement would
// hold the buffer until the size bounds dropped it: it catches up by
// digest repair if it becomes a push peer later (ErrNeedRepair).
// Tombstone collection still waits for every live peer's report.
func (r *Replica) SetPushPeers(push []ReplicaID) Update {
	r.pushOnly = push != nil
	for _, ps := range r.peers {
		ps.push = false
	}
	for _, p := range push {
		if ps := r.knownPeer(p); ps != nil && ps.live {
			ps.push = true
		}
	}
	r.listLivePeers()
	u := &Update{}
	r.pruneBuffer(u)
	return *u
}

// DeltaFor returns the join of every buffered delta peer has not
// acknowledged, except those that came from peer itself. It returns nil
// when there is nothing to send and ErrNeedRepair when entries the peer
// needs were pruned.
func (r *Replica) DeltaFor(peer ReplicaID) (*DeltaMsg, error) {
	ps := r.knownPeer(peer)
	var ack uint64
	if ps != nil {
		ack = ps.ack
	}
	if ack < r.bufFloor {
		return nil, fmt.Errorf("%s: %w (acked %d, buffer starts after %d)", peer, ErrNeedRepair, ack, r.bufFloor)
	}
	start, _ := slices.BinarySearchFunc(r.buf, ack+1, func(e *BufferEntry, seq uint64) int {
		return cmpUint(e.Last, seq)
	})
	var (
		sending []*BufferEntry
		size    int
		upTo    = ack
	)
	// What the peer reported having (its acks carry its version vector)
	// need not be sent again: with many members most deltas reach a peer
	// from someone else first.
	var has VersionVector
	if ps != nil {
		has = ps.rep.vv
	}
	for _, e := range r.buf[start:] {
		if size > 0 && size+e.size > r.cfg.MaxDeltaBytes {
			break
		}
		upTo = e.Last
		if e.From == peer || coversAll(has, e.Dots) {
			continue
		}
		size += e.size
		sending = append(sending, e)
	}
	if len(sending) == 0 {
		// Everything unacknowledged came from the peer or is covered by
		// its report: it has it.
		if upTo > ack {
			r.peer(peer).ack = upTo
		}
		return nil, nil
	}
	m := &DeltaMsg{From: r.id, Seq: upTo}
	if len(sending) == 1 {
		// One entry, the usual case: its documents are sorted and distinct
		// already (appendBuffer), so there is nothing to join.
		e := sending[0]
		m.Dots, m.Docs = slices.Clone(e.Dots), slices.Clone(e.Docs)
		return m, nil
	}
	docs := map[Key]KeyedDoc{}
	joined := map[Key]bool{}
	for _, e := range sending {
		m.Dots = append(m.Dots, e.Dots...)
		for _, kd := range e.Docs {
			prev, ok := docs[kd.Key]
			if !ok {
				docs[kd.Key] = kd
				continue
			}
			if !joined[kd.Key] {
				prev = KeyedDoc{Key: kd.Key, Doc: prev.Doc.Clone()}
				joined[kd.Key] = true
			}
			prev.Doc.merge(kd.Doc, nil)
			docs[kd.Key] = prev
		}
	}
	m.Docs = make([]KeyedDoc, 0, len(docs))
	for _, kd := range docs {
		m.Docs = append(m.Docs, kd)
	}
	sortDocs(m.Docs)
	return m, nil
}

// coversAll reports whether vv covers every dot of a non-empty list.
func coversAll(vv VersionVector, dots []Dot) bool {
	if len(dots) == 0 || vv.Len() == 0 {
		return false
	}
	for _, d := range dots {
		if !vv.Covers(d) {
			return false
		}
	}
	return true
}

// Ack returns an acknowledgement of seq carrying this replica's full
// report.
func (r *Replica) Ack(seq uint64) *AckMsg {
	return &AckMsg{From: r.id, Seq: seq, VV: r.ctx.VV.Clone(), Clock: r.reportedClock()}
}

// ackBeyond acknowledges seq with a partial report: the entries of this
// replica's version vector above known's, a context the peer is known to
// hold (reports are lower bounds merged by maximum, so the peer's report
// of us loses nothing), and always this replica's own counter. A report's
// clock bounds the writes numbered above its own counter (tombstone
// collection relies on the pair): the peer may not hold the report known
// came with (it drops one whose clock is too far ahead, or forgets us when
// we leave its live set), and must not pair this clock with an older
// counter of ours.
func (r *Replica) ackBeyond(seq uint64, known *Context) *AckMsg {
	vv := r.ctx.VV.above(known.VV)
	if n := r.ctx.VV.Get(r.id); n > 0 {
		vv.Set(r.id, n)
	}
	return &AckMsg{From: r.id, Seq: seq, VV: vv, Clock: r.reportedClock()}
}

// HandleAck records a peer's acknowledgement and report.
func (r *Replica) HandleAck(m *AckMsg) Update {
	r.noteAck(m.From, m.Seq)
	r.noteReport(m.From, m.VV, m.Clock)
	u := &Update{}
	r.pruneBuffer(u)
	return *u
}

// peer returns id's state, adding it (not live) when it is new.
func (r *Replica) peer(id ReplicaID) *peerState {
	if r.lastPeer != nil && id == r.lastID {
		return r.lastPeer
	}
	ps := r.peers[id]
	if ps == nil {
		ps = &peerState{}
		r.peers[id] = ps
	}
	r.lastID, r.lastPeer = id, ps
	return ps
}

// knownPeer returns id's state, or nil when it has none.
func (r *Replica) knownPeer(id ReplicaID) *peerState {
	if r.lastPeer != nil && id == r.lastID {
		return r.lastPeer
	}
	ps := r.peers[id]
	if ps != nil {
		r.lastID, r.lastPeer = id, ps
	}
	return ps
}

// listLivePeers rebuilds livePeers after the live set changed, and drops
// peer's cached lookup, which may name a removed entry.
func (r *Replica) listLivePeers() {
	clear(r.livePeers)
	r.livePeers = r.livePeers[:0]
	for _, ps := range r.peers {
		if ps.live && (ps.push || !r.pushOnly) {
			r.livePeers = append(r.livePeers, ps)
		}
	}
	r.lastID, r.lastPeer = "", nil
}

func (r *Replica) noteReport(from ReplicaID, vv VersionVector, clock Timestamp) {
	if from == r.id || r.clock.Check(clock) != nil {
		return
	}
	rep := r.report(from)
	rep.vv.Merge(vv)
	if clock > rep.clock {
		rep.clock = clock
	}
}

// --- applying remote state --------------------------------------------------

// checkStamps rejects documents carrying stamps too far in the future and
// folds the newest acceptable stamp into the clock.
func (r *Replica) checkStamps(docs []KeyedDoc) error {
	var newest Timestamp
	for _, kd := range docs {
		if kd.Doc == nil {
			continue
		}
		if s := kd.Doc.maxStamp(); s.Time > newest {
			newest = s.Time
		}
	}
	if newest == 0 {
		return nil
	}
	if err := r.clock.Observe(newest); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return nil
}

// ApplyDelta joins a peer's delta message. The returned ack must be sent
// only after the update is durable.
func (r *Replica) ApplyDelta(m *DeltaMsg) (Update, *AckMsg, error) {
	if m.From == r.id {
		return Update{}, nil, fmt.Errorf("%w: delta from self", ErrInvalid)
	}
	// A document whose every dot this replica holds cannot change it, and
	// most documents a member receives are such copies: they are dropped
	// before their stamps are checked (a stamp is only observed, or
	// refused, with the write it comes with) and before any merge.
	fresh := r.fresh[:0]
	for _, kd := range m.Docs {
		if kd.Doc != nil && !kd.Doc.coveredBy(r.ctx) {
			fresh = append(fresh, kd)
		}
	}
	defer func() {
		clear(fresh)
		r.fresh = fresh[:0]
	}()
	if err := r.checkStamps(fresh); err != nil {
		return Update{}, nil, fmt.Errorf("delta from %s: %w", m.From, err)
	}
	u := &Update{}
	e := &BufferEntry{From: m.From}
	for _, kd := range fresh {
		if ch, ok := r.mergeKey(kd.Key, kd.Doc, nil); ok {
			u.Changes = append(u.Changes, ch)
			e.Docs = append(e.Docs, kd)
		}
	}
	for _, d := range m.Dots {
		if r.ctx.Add(d) {
			e.Dots = append(e.Dots, d)
		}
	}
	r.noteSent(m.From, m.Dots)
	r.bufferRemote(e, u)
	return *u, r.ackDelta(m.Seq, m.Dots), nil
}

// ackDelta acknowledges a delta with a partial report: this replica's
// version-vector entries for the delta's writers and itself, the entries
// the delta can have moved. Reports merge by maximum and are only ever
// read as lower bounds (GC waits, DeltaFor sends), so a partial report is
// safe; the full vector travels with every repair (DigestMsg, KeysMsg) and
// with the acks that end one. A full vector on every delta ack cost a
// clone, an encode, a decode and a merge of an entry per writer the
// federation ever had, for each message: half the simulator's CPU at 1,000
// members with only 60 writers.
func (r *Replica) ackDelta(seq uint64, dots []Dot) *AckMsg {
	var vv VersionVector
	if n := r.ctx.VV.Get(r.id); n > 0 {
		vv.Set(r.id, n)
	}
	for i, d := range dots {
		if i > 0 && dots[i-1].Replica == d.Replica {
			continue // a writer's run of dots: looked up once
		}
		if n := r.ctx.VV.Get(d.Replica); n > 0 {
			vv.Set(d.Replica, n)
		}
	}
	return &AckMsg{From: r.id, Seq: seq, VV: vv, Clock: r.reportedClock()}
}

// noteSent records that a peer has the dots it sent us, where they extend
// its report contiguously (a report's version vector claims every dot up
// to each entry). While a write spreads a member receives it from several
// peers; DeltaFor then skips those peers instead of sending it back to
// each of them, which only an acknowledgement would otherwise prevent.
func (r *Replica) noteSent(from ReplicaID, dots []Dot) {
	if len(dots) == 0 {
		return
	}
	rep := r.report(from)
	for _, d := range dots {
		if i, ok := rep.vv.find(d.Replica); ok {
			if rep.vv.e[i].n == d.Seq-1 {
				rep.vv.e[i].n = d.Seq
			}
		} else if d.Seq == 1 {
			rep.vv.e = slices.Insert(rep.vv.e, i, vvEntry{d.Replica, 1})
		}
	}
}

// report returns from's report, to be updated, creating an empty one.
func (r *Replica) report(from ReplicaID) *peerReport {
	ps := r.peer(from)
	ps.reported = true
	return &ps.rep
}

// bufferRemote assigns sequence numbers to the changes in u and buffers e
// when it carries anything new.
func (r *Replica) bufferRemote(e *BufferEntry, u *Update) {
	if len(e.Docs) == 0 && len(e.Dots) == 0 && len(u.Changes) == 0 {
		return
	}
	slices.SortFunc(u.Changes, func(a, b Change) int { return cmp.Compare(a.Key, b.Key) })
	e.First = r.seq + 1
	for i := range u.Changes {
		r.seq++
		u.Changes[i].RV = r.seq
		r.docs[u.Changes[i].Key].setRV(r.seq)
	}
	if len(u.Changes) == 0 {
		r.seq++ // a dots-only entry still needs a buffer position
	}
	e.Last = r.seq
	if len(e.Docs) == 0 && len(e.Dots) == 0 {
		return
	}
	u.Entry = e
	r.appendBuffer(e, u)
}

func (ks *keyState) setRV(rv uint64) {
	if ks != nil {
		ks.rv = rv
	}
}

// mergeKey joins in into key's state. With rctx set (repair), registers the
// remote has seen but no longer holds are removed first. A delta's
// documents reach it only when not covered (ApplyDelta drops copies), and
// a repair's may be nil (the key is gone at the remote).
func (r *Replica) mergeKey(key Key, in *Document, rctx *Context) (Change, bool) {
	ks := r.docs[key]
	var doc *Document
	existed := false
	if ks != nil {
		doc = ks.doc.Clone()
		existed = ks.doc.Exists()
	} else {
		doc = NewDocument()
	}
	changed := false
	if rctx != nil && doc.removeCovered(in, rctx) {
		changed = true
	}
	if in != nil && doc.merge(in, r.ctx) {
		changed = true
	}
	if !changed {
		return Change{}, false
	}
	ch := r.install(key, doc, 0, existed)
	return ch, true
}

// --- repair -------------------------------------------------------------

func (r *Replica) leaf(key Key, ks *keyState) Hash {
	if !ks.hashOK {
		raw, err := ks.doc.MarshalBinary()
		if err != nil {
			// Unreachable for documents in normal form; hash the key alone
			// so repair still detects the difference.
			raw = nil
		}
		ks.hash, ks.hashOK = leafHash(key, raw), true
	}
	return ks.hash
}

// digestCache is the replica's bucket hashes at depth (none while buckets
// is nil): the XOR of every key's leaf hash but those of the keys pending,
// which changed since and are folded back in when the digest is next read.
type digestCache struct {
	depth   uint8
	buckets []Hash
	pending []Key
}

// unfold takes key's leaf hash out of the digest cache before the key
// changes (or is added), and marks it pending. A key already pending is
// not in the cache.
func (r *Replica) unfold(key Key) {
	c := &r.digest
	if c.buckets == nil {
		return
	}
	ks := r.docs[key]
	if ks == nil || ks.pending {
		return
	}
	if len(c.pending) >= max(16, len(r.docs)) {
		// More pending than a rebuild would hash (keys created and
		// collected with no digest read between): drop the cache.
		for _, k := range c.pending {
			if ks := r.docs[k]; ks != nil {
				ks.pending = false
			}
		}
		r.digest = digestCache{}
		return
	}
	if ks.hashOK {
		xorInto(&c.buckets[bucketAt(ks.spread, c.depth)], ks.hash)
	}
	ks.pending = true
	c.pending = append(c.pending, key)
}

// buckets returns the bucket hashes at depth. The slice is the replica's
// cache: callers must not modify it, and must copy it if they keep it.
// Reading the depth cached costs a hash per key changed since the last
// read; another depth, a hash per key.
func (r *Replica) buckets(depth uint8) []Hash {
	c := &r.digest
	if c.buckets != nil && c.depth == depth {
		for _, k := range c.pending {
			if ks := r.docs[k]; ks != nil && ks.pending {
				ks.pending = false
				xorInto(&c.buckets[bucketAt(ks.spread, depth)], r.leaf(k, ks))
			}
		}
		clear(c.pending)
		c.pending = c.pending[:0]
		return c.buckets
	}
	out := make([]Hash, 1<<depth)
	for k, ks := range r.docs {
		ks.pending = false
		xorInto(&out[bucketAt(ks.spread, depth)], r.leaf(k, ks))
	}
	r.digest = digestCache{depth: depth, buckets: out}
	return out
}

// Digest returns this replica's digest at depth (for tests and tools).
func (r *Replica) Digest(depth uint8) []Hash {
	return slices.Clone(r.buckets(min(depth, maxDigestDepth)))
}

// StartRepair opens a digest repair with peer, replacing any open session
// with it.
func (r *Replica) StartRepair(peer ReplicaID) *DigestMsg {
	depth := digestDepth(len(r.docs))
	r.sessionSeq++
	sess := &repairSession{id: r.sessionSeq, mySeq: r.seq, myCtx: r.ctx.Clone()}
	r.sessions[peer] = sess
	return &DigestMsg{From: r.id, Session: sess.id, Seq: r.seq, Clock: r.reportedClock(), Context: sess.myCtx,
		Depth: depth, Buckets: slices.Clone(r.buckets(depth))}
}

// HandleDigest answers a digest with the differing buckets' keys. When
// nothing differs both sides are equal, so the initiator's context is
// adopted at once.
func (r *Replica) HandleDigest(m *DigestMsg) (Update, *KeysMsg, error) {
	if m.From == r.id || m.Depth > maxDigestDepth || len(m.Buckets) != 1<<m.Depth || m.Context == nil {
		return Update{}, nil, fmt.Errorf("%w: bad digest from %s", ErrInvalid, m.From)
	}
	r.noteReport(m.From, m.Context.VV, m.Clock)
	mine := r.buckets(m.Depth)
	reply := &KeysMsg{From: r.id, Session: m.Session, Seq: r.seq, Clock: r.reportedClock(), Depth: m.Depth}
	diff := map[uint32]bool{}
	for i := range mine {
		if mine[i] != m.Buckets[i] {
			reply.Buckets = append(reply.Buckets, uint32(i))
			diff[uint32(i)] = true
		}
	}
	u := &Update{}
	if len(diff) == 0 {
		// The states are equal: each side adopts the other's context. The
		// initiator holds all of its digest's, so the reply carries only
		// what this context adds to it, which between members in sync is
		// usually nothing (see HandleKeys).
		reply.InSync, reply.AckSeq = true, m.Seq
		reply.Context = r.ctx.beyond(m.Context)
		r.ctx.Merge(m.Context)
		return *u, reply, nil
	}
	reply.Context = r.ctx.Clone()
	for k, ks := range r.docs {
		if diff[bucketAt(ks.spread, m.Depth)] {
			reply.Keys = append(reply.Keys, KeyHash{Key: k, Hash: r.leaf(k, ks)})
		}
	}
	slices.SortFunc(reply.Keys, func(a, b KeyHash) int { return cmp.Compare(a.Key, b.Key) })
	return *u, reply, nil
}

// HandleKeys continues a repair this replica opened: it sends its documents
// for every key that differs and asks for the peer's. When the peer is in
// sync the session ends with an ack.
func (r *Replica) HandleKeys(m *KeysMsg) (Update, Message, error) {
	sess := r.sessions[m.From]
	if sess == nil || sess.id != m.Session || sess.peerCtx != nil {
		return Update{}, nil, fmt.Errorf("keys from %s (session %d): %w", m.From, m.Session, ErrUnknownSession)
	}
	if m.Context == nil {
		return Update{}, nil, fmt.Errorf("%w: keys message without context", ErrInvalid)
	}
	r.noteReport(m.From, m.Context.VV, m.Clock)
	u := &Update{}
	if m.InSync {
		// The peer adopted our digest's context before it answered, and
		// its reply holds only what its own context adds (HandleDigest):
		// its report gains both. The closing ack then carries only what
		// our context holds beyond our digest's: the peer has the rest.
		// Full vectors here cost an encode, a decode and a merge of an
		// entry per writer the federation ever had, on two of the three
		// messages of every periodic repair.
		delete(r.sessions, m.From)
		r.noteReport(m.From, sess.myCtx.VV, m.Clock)
		r.ctx.Merge(m.Context)
		r.noteAck(m.From, m.AckSeq)
		return *u, r.ackBeyond(m.Seq, sess.myCtx), nil
	}
	sess.peerSeq, sess.peerCtx = m.Seq, m.Context
	theirs := make(map[Key]Hash, len(m.Keys))
	diff := make(map[uint32]bool, len(m.Buckets))
	for _, b := range m.Buckets {
		diff[b] = true
	}
	for _, kh := range m.Keys {
		if !diff[bucketOf(kh.Key, m.Depth)] {
			return Update{}, nil, fmt.Errorf("%w: key %s outside the differing buckets", ErrInvalid, kh.Key)
		}
		theirs[kh.Key] = kh.Hash
	}
	out := &RepairMsg{From: r.id, Session: sess.id, Seq: sess.mySeq, Context: sess.myCtx}
	var docs []KeyedDoc
	for k, ks := range r.docs {
		if !diff[bucketAt(ks.spread, m.Depth)] {
			continue
		}
		h, ok := theirs[k]
		if ok && h == r.leaf(k, ks) {
			continue
		}
		docs = append(docs, KeyedDoc{Key: k, Doc: ks.doc})
		if ok {
			out.Want = append(out.Want, k)
		}
	}
	for k := range theirs {
		if _, ok := r.docs[k]; !ok {
			docs = append(docs, KeyedDoc{Key: k})
			out.Want = append(out.Want, k)
		}
	}
	sortDocs(docs)
	slices.Sort(out.Want)
	out.Docs, out.Partial = r.capDocs(docs)
	return *u, out, nil
}

// capDocs keeps a prefix of docs within MaxDeltaBytes (at least one), so a
// repair after a long divergence proceeds in rounds instead of producing a
// message no peer would accept. It reports whether docs were dropped.
func (r *Replica) capDocs(docs []KeyedDoc) ([]KeyedDoc, bool) {
	size := 0
	for i, kd := range docs {
		n := len(kd.Key) + 8
		if kd.Doc != nil {
			if raw, err := kd.Doc.MarshalBinary(); err == nil {
				n += len(raw)
			}
		}
		if i > 0 && size+n > r.cfg.MaxDeltaBytes {
			return docs[:i], true
		}
		size += n
	}
	return docs, false
}

func (r *Replica) noteAck(peer ReplicaID, seq uint64) {
	if seq > r.seq {
		return
	}
	if ps := r.peer(peer); seq > ps.ack {
		ps.ack = seq
	}
}

// HandleRepair applies full documents from a repair. On the responder
// (Final false) it replies with the wanted documents; on the initiator
// (Final true) it closes the session and acknowledges the peer.
func (r *Replica) HandleRepair(m *RepairMsg) (Update, Message, error) {
	var rctx *Context
	var sess *repairSession
	if m.Final {
		if sess = r.sessions[m.From]; sess == nil || sess.id != m.Session || sess.peerCtx == nil {
			return Update{}, nil, fmt.Errorf("repair from %s (session %d): %w", m.From, m.Session, ErrUnknownSession)
		}
		rctx = sess.peerCtx
	} else {
		if m.Context == nil {
			return Update{}, nil, fmt.Errorf("%w: repair without context", ErrInvalid)
		}
		rctx = m.Context
	}
	if err := r.checkStamps(m.Docs); err != nil {
		return Update{}, nil, fmt.Errorf("repair from %s: %w", m.From, err)
	}
	u := &Update{}
	e := &BufferEntry{From: m.From}
	for _, kd := range m.Docs {
		if ch, ok := r.mergeKey(kd.Key, kd.Doc, rctx); ok {
			u.Changes = append(u.Changes, ch)
			if ch.Doc != nil {
				e.Docs = append(e.Docs, KeyedDoc{Key: kd.Key, Doc: ch.Doc.Clone()})
			}
		}
	}
	// After a complete round our state includes everything the peer's
	// context snapshot claims, so the context can be adopted. Adopted dots
	// are not forwarded as dots: others may lack the unchanged keys behind
	// them. After a partial round only the documents count.
	if !m.Partial {
		r.ctx.Merge(rctx)
	}
	r.bufferRemote(e, u)
	if m.Final {
		delete(r.sessions, m.From)
		r.noteAck(m.From, m.AckSeq)
		if m.Partial {
			return *u, nil, nil
		}
		return *u, r.Ack(sess.peerSeq), nil
	}
	reply := &RepairMsg{From: r.id, Session: m.Session, Final: true}
	if !m.Partial {
		reply.AckSeq = m.Seq
	}
	var docs []KeyedDoc
	for _, k := range m.Want {
		var doc *Document
		if ks, ok := r.docs[k]; ok {
			doc = ks.doc
		}
		docs = append(docs, KeyedDoc{Key: k, Doc: doc})
	}
	reply.Docs, reply.Partial = r.capDocs(docs)
	return *u, reply, nil
}

// Step dispatches any incoming message. The reply (possibly nil) must be
// sent only after the update is durable.
func (r *Replica) Step(m Message) (Update, Message, error) {
	if m.Sender() == r.id {
		return Update{}, nil, fmt.Errorf("%w: message from self", ErrInvalid)
	}
	switch t := m.(type) {
	case *DeltaMsg:
		u, ack, err := r.ApplyDelta(t)
		if err != nil {
			return u, nil, err
		}
		return u, ack, nil
	case *AckMsg:
		return r.HandleAck(t), nil, nil
	case *DigestMsg:
		u, k, err := r.HandleDigest(t)
		if err != nil {
			return u, nil, err
		}
		return u, k, nil
	case *KeysMsg:
		return r.HandleKeys(t)
	case *RepairMsg:
		return r.HandleRepair(t)
	}
	return Update{}, nil, fmt.Errorf("%w: unknown message %T", ErrInvalid, m)
}

// --- tombstone collection -----------------------------------------------

// CollectGarbage drops tombstones that are causally stable among this
// replica and its live peers (SetPeers): every live member has seen the
// delete, and no live member can still produce or deliver a write older
// than it. Each live writer w bounds its future writes by the durable
// clock of a report of its, valid once every live member has all of w's
// writes up to that report (stability says which report).
func (r *Replica) CollectGarbage() Update {
	u := &Update{}
	if len(r.tombs) == 0 {
		return *u
	}
	type member struct {
		id    ReplicaID
		vv    VersionVector
		clock Timestamp
		stab  *stability
	}
	live := make([]member, 0, len(r.peers)+1)
	live = append(live, member{r.id, r.ctx.VV, r.reportedClock(), &r.selfStab})
	for p, ps := range r.peers {
		if !ps.live {
			continue
		}
		if !ps.reported {
			return *u // a live peer we know nothing about holds GC back
		}
		live = append(live, member{p, ps.rep.vv, ps.rep.clock, &ps.stab})
	}
	// floor is what every live member reports having: the entrywise
	// minimum of their vectors, taken once. Asking each member's vector
	// for each writer instead cost N² lookups a run, most of them cache
	// misses: 0.4 s at 1,000 members (BenchmarkCollectGarbage), every
	// GC interval, with the store's committer blocked.
	floor := r.ctx.VV.Clone()
	for _, m := range live[1:] {
		floor.meet(m.vv)
	}
	// covered: every live member reports having w's writes up to seq.
	covered := func(w ReplicaID, seq uint64) bool { return floor.Get(w) >= seq }
	var safe Timestamp = ^Timestamp(0)
	usable := true
	for _, w := range live {
		st := w.stab
		if !st.ckptSet {
			st.ckptSeq, st.ckptClock, st.ckptSet = w.vv.Get(w.id), w.clock, true
		}
		if covered(w.id, st.ckptSeq) {
			// The checkpoint bounds w's writes in flight; the next one
			// is w's report now.
			st.bound, st.boundSeq, st.bounded = st.ckptClock, st.ckptSeq, true
			st.ckptSeq, st.ckptClock = w.vv.Get(w.id), w.clock
		}
		// Every live member, a new one too, must have the writes the
		// bound's checkpoint covered.
		if !st.bounded || !covered(w.id, st.boundSeq) {
			usable = false
			continue
		}
		safe = min(safe, st.bound)
	}
	if !usable {
		return *u
	}
	stable := func(s Stamp) bool { return s.Time < safe && floor.Covers(s.Dot()) }
	keys := make([]Key, 0, len(r.tombs))
	for k := range r.tombs {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		ks := r.docs[k]
		doc := ks.doc.Clone()
		if !doc.collectTombstones(stable) {
			continue
		}
		existed := ks.doc.Exists()
		u.Changes = append(u.Changes, r.install(k, doc, 0, existed))
	}
	return *u
}

// --- restore -------------------------------------------------------------

// Restore loads persisted state into an empty replica: meta, every key's
// document and resourceVersion, and the retained buffer entries (oldest
// first). It checks that they are consistent with each other.
func (r *Replica) Restore(meta Meta, docs map[Key]RestoredDoc, buf []*BufferEntry) error {
	if len(r.docs) != 0 || r.seq != 0 {
		return fmt.Errorf("restore: replica is not empty")
	}
	if meta.Context == nil {
		meta.Context = NewContext()
	}
	for k, d := range docs {
		if d.RV > meta.Seq {
			return fmt.Errorf("restore: key %s has resourceVersion %d beyond the stored sequence %d", k, d.RV, meta.Seq)
		}
		ks := &keyState{doc: d.Doc, rv: d.RV, spread: keySpread(k)}
		r.docs[k] = ks
		if d.Doc.hasTombstones() || !d.Doc.Exists() {
			r.tombs[k] = struct{}{}
		}
	}
	prev := meta.BufFloor
	for _, e := range buf {
		if e.First <= prev || e.Last < e.First || e.Last > meta.Seq {
			return fmt.Errorf("restore: buffer entry %d..%d out of order (after %d, sequence %d)", e.First, e.Last, prev, meta.Seq)
		}
		prev = e.Last
		for _, kd := range e.Docs {
			if kd.Doc != nil && kd.raw != nil {
				e.size += len(kd.raw)
			}
			e.size += len(kd.Key) + 4
		}
		e.size += len(e.Dots) * 16
		r.bufBytes += e.size
	}
	r.buf = buf
	r.digest = digestCache{} // the documents were added behind its back
	r.pushOnly = false       // until the driver narrows pruning again
	r.seq, r.bufFloor, r.ctx = meta.Seq, meta.BufFloor, meta.Context.Clone()
	r.clock.Restore(meta.Clock)
	r.reportClock = meta.Clock
	for p, a := range meta.Acks {
		ps := r.peer(p)
		ps.live, ps.ack = true, a
	}
	r.listLivePeers()
	return nil
}

// RestoredDoc is one key's persisted state.
type RestoredDoc struct {
	Doc *Document
	RV  uint64
}
