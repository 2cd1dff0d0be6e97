package crdt

import (
	"bytes"
	"slices"
	"strings"
)

// Stamp orders register writes: by HLC time, then writer, so every replica
// picks the same winner. Seq is the writer's dot counter for the operation
// that made the write; causal stability uses it to tell who has seen it.
type Stamp struct {
	Time   Timestamp
	Writer ReplicaID
	Seq    uint64
}

// Dot returns the operation identifier of the stamp.
func (s Stamp) Dot() Dot { return Dot{Replica: s.Writer, Seq: s.Seq} }

// Compare orders stamps by (Time, Writer, Seq).
func (s Stamp) Compare(o Stamp) int {
	if s.Time != o.Time {
		return cmpUint(uint64(s.Time), uint64(o.Time))
	}
	if c := strings.Compare(string(s.Writer), string(o.Writer)); c != 0 {
		return c
	}
	return cmpUint(s.Seq, o.Seq)
}

// nodeKind is what the register at a path says about it.
type nodeKind uint8

const (
	// kindNone: no register; the node exists only to hold children.
	kindNone nodeKind = iota
	// kindMap: the path was set to a map at stamp; older children are gone.
	kindMap
	// kindValue: the path holds a scalar or list (canonical JSON in value).
	kindValue
	// kindDeleted: tombstone; the path and older children were removed.
	kindDeleted
	numKinds
)

// node is one path of a document. Its register (kind, stamp, value) is an
// LWW register; children merge recursively. Invariant after every operation
// (normal form): no register below a node is older than the node's register,
// because a newer write to a path replaces its whole subtree, and nodes with
// neither register nor children are removed. Keeping dominated state out
// makes stored state canonical and lets it shrink.
type node struct {
	kind   nodeKind
	stamp  Stamp
	value  []byte
	fields map[string]*node
}

// genEntry is one writer's share of the generation grow-only counter, stamped
// with the operation that last set it.
type genEntry struct {
	N     uint64
	Stamp Stamp
}

// Document is the CRDT for one API object: a JSON tree whose maps merge per
// key and whose scalars and lists are LWW registers ordered by Stamp, plus a
// grow-only generation counter summed over writers (so two concurrent spec
// edits merge to a generation above both).
//
// Semantics of concurrent edits: edits to different fields both survive. A
// delete (of a field or of the whole object) is a tombstone register: a
// concurrent write to the same path, or below it, wins if and only if its
// stamp is newer. A field written below a deleted path after the delete
// resurrects the path with only the newer fields.
type Document struct {
	root node
	gen  map[ReplicaID]genEntry
	// enc caches the canonical encoding. Installed documents are never
	// mutated (copy-on-write), so the cache is computed once per version;
	// every mutating method clears it.
	enc []byte
	// json caches the materialized JSON, like enc.
	json []byte
	// stamps lists the distinct stamps of d's registers and generation
	// entries, when stampsOK (like enc). A replica checks each document
	// it receives against its context and its clock before anything else,
	// and the decoder fills this in on its way: most documents hold one or
	// two stamps, behind a walk of every node.
	stamps   []Stamp
	stampsOK bool
}

// dropCaches forgets what d caches about its state; every mutating method
// calls it first.
func (d *Document) dropCaches() {
	d.enc, d.json = nil, nil
	d.stamps, d.stampsOK = nil, false
}

// cacheStamps fills the stamps cache.
func (d *Document) cacheStamps() {
	d.stamps = d.stamps[:0]
	d.walkStamps(func(s Stamp) {
		if !slices.Contains(d.stamps, s) {
			d.stamps = append(d.stamps, s)
		}
	})
	d.stampsOK = true
}

// NewDocument returns an empty document (no state at all).
func NewDocument() *Document { return &Document{} }

// Exists reports whether the object is present (not deleted, not empty).
func (d *Document) Exists() bool { return d.root.present() }

// IsEmpty reports whether the document holds no state at all and can be
// dropped from storage.
func (d *Document) IsEmpty() bool {
	return d.root.kind == kindNone && len(d.root.fields) == 0 && len(d.gen) == 0
}

// JSON materializes the object as canonical JSON (sorted keys, no
// whitespace), or nil when it does not exist.
// The result is shared with the document's cache: do not modify it.
func (d *Document) JSON() []byte {
	if d.json != nil {
		return d.json
	}
	if !d.Exists() {
		return nil
	}
	d.json = d.root.appendJSON(make([]byte, 0, max(256, len(d.enc))))
	return d.json
}

// Generation is the sum over writers of the generation counter.
func (d *Document) Generation() uint64 {
	var sum uint64
	for _, e := range d.gen {
		sum += e.N
	}
	return sum
}

// Clone returns a deep copy (value bytes are shared; they are immutable).
func (d *Document) Clone() *Document {
	out := &Document{root: *d.root.clone()}
	if len(d.gen) > 0 {
		out.gen = make(map[ReplicaID]genEntry, len(d.gen))
		for k, v := range d.gen {
			out.gen[k] = v
		}
	}
	return out
}

// Equal reports whether two documents hold identical state.
func (d *Document) Equal(o *Document) bool {
	a, errA := d.MarshalBinary()
	b, errB := o.MarshalBinary()
	return errA == nil && errB == nil && bytes.Equal(a, b)
}

func (n *node) clone() *node {
	c := &node{kind: n.kind, stamp: n.stamp, value: n.value}
	if len(n.fields) > 0 {
		c.fields = make(map[string]*node, len(n.fields))
		for k, v := range n.fields {
			c.fields[k] = v.clone()
		}
	}
	return c
}

func (n *node) empty() bool { return n.kind == kindNone && len(n.fields) == 0 }

func (n *node) child(k string) *node {
	if n.fields == nil {
		n.fields = make(map[string]*node, 4)
	}
	c := n.fields[k]
	if c == nil {
		c = &node{}
		n.fields[k] = c
	}
	return c
}

// dropIfEmpty removes child k when it carries no state.
func (n *node) dropIfEmpty(k string) {
	if c := n.fields[k]; c != nil && c.empty() {
		delete(n.fields, k)
	}
}

// present reports whether the path materializes to a value.
func (n *node) present() bool {
	if n.kind == kindMap || n.kind == kindValue {
		return true
	}
	return n.anyPresentChild()
}

func (n *node) anyPresentChild() bool {
	for _, c := range n.fields {
		if c.present() {
			return true
		}
	}
	return false
}

// isMapView reports whether the path materializes to a JSON object. Children
// newer than a scalar register turn the path back into a map: the later
// write wins.
func (n *node) isMapView() bool {
	return n.kind == kindMap || n.anyPresentChild()
}

// sortedKeys returns the field names in order, using scratch when it is
// large enough (callers pass a stack array to avoid an allocation per node).
func (n *node) sortedKeys(scratch []string) []string {
	keys := scratch[:0]
	for k := range n.fields {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func (n *node) appendJSON(b []byte) []byte {
	if n.kind == kindValue && !n.anyPresentChild() {
		return append(b, n.value...)
	}
	b = append(b, '{')
	first := true
	var scratch [32]string
	for _, k := range n.sortedKeys(scratch[:]) {
		c := n.fields[k]
		if !c.present() {
			continue
		}
		if !first {
			b = append(b, ',')
		}
		first = false
		b = appendQuoted(b, k)
		b = append(b, ':')
		b = c.appendJSON(b)
	}
	return append(b, '}')
}

// setRegister overwrites the register and removes every descendant register
// older than s: the write replaced the whole subtree.
func (n *node) setRegister(kind nodeKind, s Stamp, value []byte) {
	n.kind, n.stamp, n.value = kind, s, value
	if kind != kindValue {
		n.value = nil
	}
	n.pruneBelow(s)
}

func (n *node) pruneBelow(s Stamp) {
	if len(n.fields) == 0 {
		return
	}
	for k, c := range n.fields {
		if c.kind != kindNone && c.stamp.Compare(s) < 0 {
			c.kind, c.stamp, c.value = kindNone, Stamp{}, nil
		}
		c.pruneBelow(s)
		if c.empty() {
			delete(n.fields, k)
		}
	}
}

// pruneGen drops generation entries older than the root register: a root
// reset starts the object's generation afresh.
func (d *Document) pruneGen() {
	if d.root.kind == kindNone {
		return
	}
	for w, e := range d.gen {
		if e.Stamp.Compare(d.root.stamp) < 0 {
			delete(d.gen, w)
		}
	}
}

func (d *Document) setRootRegister(kind nodeKind, s Stamp) {
	d.dropCaches()
	d.root.setRegister(kind, s, nil)
	for w, e := range d.gen {
		if e.Stamp.Compare(s) < 0 {
			delete(d.gen, w)
		}
	}
}

// --- local operations -------------------------------------------------------

// setObject makes the document equal to obj, writing only the paths that
// differ, each at stamp s; the writes are recorded in delta (if not nil). It reports
// whether anything changed.
func (d *Document) setObject(obj map[string]any, s Stamp, delta *Document) bool {
	d.dropCaches()
	var out *node
	if delta != nil {
		out = &delta.root
	}
	if d.root.isMapView() {
		changed := d.root.assignMap(obj, s, out)
		// Setting the object to {} resets the root register: the
		// generation entries it dominates go too, as on every receiver.
		d.pruneGen()
		return changed
	}
	d.setRootRegister(kindMap, s)
	out.record(kindMap, s, nil)
	d.root.assignMap(obj, s, out)
	return true
}

// deleteObject tombstones the whole object.
func (d *Document) deleteObject(s Stamp, delta *Document) bool {
	d.dropCaches()
	if !d.Exists() {
		return false
	}
	d.setRootRegister(kindDeleted, s)
	delta.root.setRegister(kindDeleted, s, nil)
	return true
}

// bumpGeneration increments writer's share of the generation counter.
func (d *Document) bumpGeneration(s Stamp, delta *Document) {
	d.dropCaches()
	if d.gen == nil {
		d.gen = make(map[ReplicaID]genEntry)
	}
	e := genEntry{N: d.gen[s.Writer].N + 1, Stamp: s}
	d.gen[s.Writer] = e
	if delta == nil {
		return
	}
	if delta.gen == nil {
		delta.gen = make(map[ReplicaID]genEntry)
	}
	delta.gen[s.Writer] = e
}

// assignMap diffs the map view of n against obj.
func (n *node) assignMap(obj map[string]any, s Stamp, out *node) bool {
	if len(obj) == 0 {
		if n.kind == kindMap && !n.anyPresentChild() {
			return false
		}
		n.setRegister(kindMap, s, nil)
		out.record(kindMap, s, nil)
		return true
	}
	changed := false
	if n.fields == nil {
		n.fields = make(map[string]*node, len(obj))
	}
	for k, v := range obj {
		c := n.child(k)
		oc := out.sub(k)
		if c.assign(v, s, oc) {
			changed = true
		}
		n.dropIfEmpty(k)
		out.dropIfEmptyNil(k)
	}
	// Every key of obj is a child now, so other children exist only if
	// there are more children than keys.
	for k, c := range n.fields {
		if len(n.fields) == len(obj) {
			break
		}
		if _, keep := obj[k]; keep || !c.present() {
			continue
		}
		c.setRegister(kindDeleted, s, nil)
		out.sub(k).record(kindDeleted, s, nil)
		changed = true
	}
	return changed
}

// assign writes the decoded JSON value v at n.
func (n *node) assign(v any, s Stamp, out *node) bool {
	if obj, ok := v.(map[string]any); ok {
		if n.isMapView() {
			return n.assignMap(obj, s, out)
		}
		n.setRegister(kindMap, s, nil)
		out.record(kindMap, s, nil)
		n.assignMap(obj, s, out)
		return true
	}
	b := appendJSONValue(nil, v)
	if n.kind == kindValue && bytes.Equal(n.value, b) && !n.anyPresentChild() {
		return false
	}
	n.setRegister(kindValue, s, b)
	out.record(kindValue, s, b)
	return true
}

// The delta side of a local operation may be nil (a create records no
// separate delta: the new state is its own delta); these helpers make
// recording into it a no-op then.

func (n *node) record(kind nodeKind, s Stamp, value []byte) {
	if n != nil {
		n.setRegister(kind, s, value)
	}
}

func (n *node) sub(k string) *node {
	if n == nil {
		return nil
	}
	return n.child(k)
}

func (n *node) dropIfEmptyNil(k string) {
	if n != nil {
		n.dropIfEmpty(k)
	}
}

// --- merge ---------------------------------------------------------------

// merge joins in into d. Registers whose dot ctx already holds are skipped:
// this replica has seen that write and kept it or something that superseded
// it (possibly a tombstone since collected), so re-adding it could only
// resurrect stale data. ctx may be nil. It reports whether d changed.
func (d *Document) merge(in *Document, ctx *Context) bool {
	d.dropCaches()
	changed := false
	rootWas := d.root.stamp
	if d.root.mergeRegister(&in.root, Stamp{}, ctx) {
		changed = true
		if d.root.stamp != rootWas {
			d.pruneGen()
		}
	}
	if d.root.mergeChildren(&in.root, Stamp{}, ctx) {
		changed = true
	}
	floor := d.root.registerFloor(Stamp{})
	for w, e := range in.gen {
		if e.Stamp.Compare(floor) < 0 || (ctx != nil && ctx.Contains(e.Stamp.Dot())) {
			continue
		}
		cur, ok := d.gen[w]
		if ok && e.Stamp.Compare(cur.Stamp) <= 0 {
			continue
		}
		if d.gen == nil {
			d.gen = make(map[ReplicaID]genEntry)
		}
		d.gen[w] = e
		changed = true
	}
	return changed
}

// coveredBy reports whether ctx holds the dot of every register and
// generation entry of d. Merging such a d with ctx as the context changes
// nothing (merge skips every entry whose dot the context holds), so a
// replica can tell a duplicate delta without cloning its own document
// to merge into.
func (d *Document) coveredBy(ctx *Context) bool {
	if d.stampsOK {
		for _, s := range d.stamps {
			if !ctx.Contains(s.Dot()) {
				return false
			}
		}
		return true
	}
	for _, e := range d.gen {
		if !ctx.Contains(e.Stamp.Dot()) {
			return false
		}
	}
	return d.root.coveredBy(ctx)
}

func (n *node) coveredBy(ctx *Context) bool {
	if n.kind != kindNone && !ctx.Contains(n.stamp.Dot()) {
		return false
	}
	for _, c := range n.fields {
		if !c.coveredBy(ctx) {
			return false
		}
	}
	return true
}

// normal reports whether d is in normal form: merging it into an empty
// document would leave it as it is. No register or generation entry is
// older than a register above it, and no node below the root is empty.
func (d *Document) normal() bool {
	floor := d.root.registerFloor(Stamp{})
	for _, e := range d.gen {
		if e.Stamp.Compare(floor) < 0 {
			return false
		}
	}
	return d.root.childrenNormal(floor)
}

func (n *node) childrenNormal(floor Stamp) bool {
	for _, c := range n.fields {
		switch {
		case c.kind == kindNone && len(c.fields) == 0:
			return false
		case c.kind != kindNone && c.stamp.Compare(floor) < 0:
			return false
		case !c.childrenNormal(c.registerFloor(floor)):
			return false
		}
	}
	return true
}

// registerFloor is the stamp below which children of n are dominated.
func (n *node) registerFloor(floor Stamp) Stamp {
	if n.kind != kindNone && n.stamp.Compare(floor) > 0 {
		return n.stamp
	}
	return floor
}

// mergeRegister joins in's register into n's. Equal stamps with different
// contents (only possible from a faulty or hostile writer) are resolved by
// comparing contents, so every replica still picks the same winner.
func (n *node) mergeRegister(in *node, floor Stamp, ctx *Context) bool {
	if in.kind == kindNone || in.kind >= numKinds || in.stamp.Compare(floor) < 0 {
		return false
	}
	if ctx != nil && ctx.Contains(in.stamp.Dot()) {
		return false
	}
	if n.kind != kindNone {
		c := in.stamp.Compare(n.stamp)
		if c < 0 {
			return false
		}
		if c == 0 {
			if in.kind < n.kind || (in.kind == n.kind && bytes.Compare(in.value, n.value) <= 0) {
				return false
			}
		}
	}
	n.setRegister(in.kind, in.stamp, in.value)
	return true
}

func (n *node) mergeChildren(in *node, floor Stamp, ctx *Context) bool {
	if len(in.fields) == 0 {
		return false
	}
	floor = n.registerFloor(floor)
	changed := false
	for k, ic := range in.fields {
		c := n.child(k)
		if c.mergeRegister(ic, floor, ctx) {
			changed = true
		}
		if c.mergeChildren(ic, floor, ctx) {
			changed = true
		}
		n.dropIfEmpty(k)
	}
	return changed
}

// removeCovered applies the causal half of a full-state join during repair:
// every register of d whose dot the remote context holds, but which the
// remote's full state for this key (nil when the remote has none) does not
// contain, was superseded or collected at the remote and is dropped here.
func (d *Document) removeCovered(remote *Document, rctx *Context) bool {
	d.dropCaches()
	var rroot *node
	var rgen map[ReplicaID]genEntry
	if remote != nil {
		rroot, rgen = &remote.root, remote.gen
	}
	changed := d.root.removeCovered(rroot, rctx)
	for w, e := range d.gen {
		if !rctx.Contains(e.Stamp.Dot()) {
			continue
		}
		if re, ok := rgen[w]; ok && re == e {
			continue
		}
		delete(d.gen, w)
		changed = true
	}
	return changed
}

func (n *node) removeCovered(remote *node, rctx *Context) bool {
	changed := false
	if n.kind != kindNone && rctx.Contains(n.stamp.Dot()) &&
		(remote == nil || remote.kind != n.kind || remote.stamp != n.stamp || !bytes.Equal(remote.value, n.value)) {
		n.kind, n.stamp, n.value = kindNone, Stamp{}, nil
		changed = true
	}
	for k, c := range n.fields {
		var rc *node
		if remote != nil {
			rc = remote.fields[k]
		}
		if c.removeCovered(rc, rctx) {
			changed = true
		}
		n.dropIfEmpty(k)
	}
	return changed
}

// --- tombstones -------------------------------------------------------------

// hasTombstones reports whether any tombstone register is held.
func (d *Document) hasTombstones() bool { return d.root.hasTombstones() }

func (n *node) hasTombstones() bool {
	if n.kind == kindDeleted {
		return true
	}
	for _, c := range n.fields {
		if c.hasTombstones() {
			return true
		}
	}
	return false
}

// collectTombstones drops every tombstone for which stable reports true.
// Materialized content is unchanged: a tombstone with no newer children
// materializes as absent either way.
// Generation entries of an object that no longer exists (a generation bump
// concurrent with the delete) are collected with it, once stable.
func (d *Document) collectTombstones(stable func(Stamp) bool) bool {
	d.dropCaches()
	changed := d.root.collectTombstones(stable)
	if d.root.present() || d.root.hasTombstones() {
		return changed
	}
	for w, e := range d.gen {
		if stable(e.Stamp) {
			delete(d.gen, w)
			changed = true
		}
	}
	return changed
}

func (n *node) collectTombstones(stable func(Stamp) bool) bool {
	changed := false
	if n.kind == kindDeleted && stable(n.stamp) {
		n.kind, n.stamp = kindNone, Stamp{}
		changed = true
	}
	for k, c := range n.fields {
		if c.collectTombstones(stable) {
			changed = true
		}
		n.dropIfEmpty(k)
	}
	return changed
}

// maxStamp returns the newest stamp anywhere in d.
func (d *Document) maxStamp() Stamp {
	var m Stamp
	d.forEachStamp(func(s Stamp) {
		if s.Compare(m) > 0 {
			m = s
		}
	})
	return m
}

// forEachStamp calls fn for every stamp in d, each distinct one at least
// once.
func (d *Document) forEachStamp(fn func(Stamp)) {
	if d.stampsOK {
		for _, s := range d.stamps {
			fn(s)
		}
		return
	}
	d.walkStamps(fn)
}

// walkStamps calls fn for the stamp of every register and generation entry.
func (d *Document) walkStamps(fn func(Stamp)) {
	d.root.forEachStamp(fn)
	for _, e := range d.gen {
		fn(e.Stamp)
	}
}

func (n *node) forEachStamp(fn func(Stamp)) {
	if n.kind != kindNone {
		fn(n.stamp)
	}
	for _, c := range n.fields {
		c.forEachStamp(fn)
	}
}

// Newest returns the newest stamp anywhere in d: when the last write it
// carries was made, for measuring how long replication took.
func (d *Document) Newest() Stamp { return d.maxStamp() }
