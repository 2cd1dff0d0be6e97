package crdt

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// StoreConfig configures a Store.
type StoreConfig struct {
	// Dir holds the badger files. Ignored when InMemory.
	Dir string
	// InMemory keeps everything in memory (unit tests only: nothing is
	// durable).
	InMemory bool
	// ID is the member's writer identity.
	ID ReplicaID
	// PhysicalClock feeds the HLC (WallClock when nil).
	PhysicalClock PhysicalClock
	// MaxDrift bounds accepted remote clock skew.
	MaxDrift time.Duration
	// Replica tunes the replication core; ID, Clock are filled in.
	Replica ReplicaConfig
	// WatchHistory is how many recent events are kept so watches can
	// resume from an older resourceVersion.
	WatchHistory int
	// WatchQueue bounds the events queued for one slow watcher before the
	// watch is terminated (the client re-lists, as with Kubernetes).
	WatchQueue int
	// MaxBatch bounds how many queued operations share one durable commit.
	MaxBatch int
	// Logger receives store logs (slog.Default when nil).
	Logger *slog.Logger
}

// DefaultStoreConfig returns defaults for a member with id storing in dir.
func DefaultStoreConfig(dir string, id ReplicaID) StoreConfig {
	return StoreConfig{
		Dir:          dir,
		ID:           id,
		MaxDrift:     DefaultMaxDrift,
		Replica:      DefaultReplicaConfig(id, nil),
		WatchHistory: 10000,
		WatchQueue:   4096,
		MaxBatch:     512,
	}
}

// Object is a stored API object as served to clients.
type Object struct {
	Key             Key
	ResourceVersion uint64
	Generation      uint64
	// Value is canonical JSON. Shared: do not modify.
	Value []byte
}

// Event is one change seen by a watcher.
type Event struct {
	Type   EventType
	Object Object
}

// ErrClosed is returned after Close.
var ErrClosed = errors.New("store is closed")

// ErrCompacted is returned by Watch when the requested resourceVersion is
// older than the retained history (Kubernetes answers 410 Gone).
var ErrCompacted = errors.New("resourceVersion is too old: history compacted")

// ErrFailed wraps a persistence failure; the store stops accepting writes
// because memory may be ahead of disk. Reopen it to recover from disk.
var ErrFailed = errors.New("store failed")

const (
	prefixDoc    = "d/"
	prefixBuffer = "b/"
	keyMeta      = "m/meta"
)

// Store is a member's replicated database: a Replica made durable in
// badger, with a materialized view for reads and watch. Writes from all
// goroutines funnel into one committer that batches them into a single
// synced transaction (group commit); a write is acknowledged only after its
// batch is on disk.
type Store struct {
	cfg StoreConfig
	log *slog.Logger
	db  *badger.DB
	rep *Replica

	reqs chan *storeReq
	quit chan struct{}
	done chan struct{}

	mu      sync.RWMutex
	view    map[Key]Object
	rv      uint64
	history []Event // recent events, oldest first
	// historyFloor: every event with a resourceVersion above it is in
	// history (after a restart, nothing before the restart is).
	historyFloor uint64
	watchers     map[*Watcher]struct{}
	failed       error
	closed       bool

	meta MetaTracker // decides which batches need a synced write
	// commitObs hears of every batch commit (see ObserveCommits).
	commitObs atomic.Pointer[CommitObserver]
	// flushes counts badger's memtable flushes (MemtableFlushes).
	flushes *atomic.Int64
}

// MemtableFlushes is how many times badger has begun flushing a full
// memtable to disk since the store opened. A flush writes a whole table
// (16 MB here) beside the store's synced commits, which then wait longer:
// stores sharing a disk that flush together stall each other.
func (s *Store) MemtableFlushes() int64 { return s.flushes.Load() }

// CommitObserver is told, after each batch of state-changing operations
// (writes, applied peer messages, peer-set changes), how long making it
// durable took and whether that took a synced write (false: nothing the
// store keeps had changed, e.g. a duplicate delta). A member's loop waits for this on every message it applies, so
// it is the first thing to look at when convergence slows under load.
type CommitObserver func(d time.Duration, synced bool)

// ObserveCommits installs obs (nil: none). It is called on the store's
// committer goroutine and must not block.
func (s *Store) ObserveCommits(obs CommitObserver) {
	if obs == nil {
		s.commitObs.Store(nil)
		return
	}
	s.commitObs.Store(&obs)
}

type storeReq struct {
	fn   func(r *Replica) ([]Update, any, error)
	res  any
	err  error
	done chan struct{}
}

// OpenStore opens (or creates) the store and restores its state.
func OpenStore(cfg StoreConfig) (*Store, error) {
	def := DefaultStoreConfig(cfg.Dir, cfg.ID)
	if cfg.WatchHistory <= 0 {
		cfg.WatchHistory = def.WatchHistory
	}
	if cfg.WatchQueue <= 0 {
		cfg.WatchQueue = def.WatchQueue
	}
	if cfg.MaxBatch <= 0 {
		cfg.MaxBatch = def.MaxBatch
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	rc := cfg.Replica
	rc.ID = cfg.ID
	rc.Clock = NewClock(cfg.PhysicalClock, cfg.MaxDrift)
	rep, err := NewReplica(rc)
	if err != nil {
		return nil, err
	}
	flushes := new(atomic.Int64)
	opts := badger.DefaultOptions(cfg.Dir).
		WithSyncWrites(true).
		WithLogger(badgerLogger{log: log, flushes: flushes}).
		WithNumVersionsToKeep(1).
		WithMemTableSize(16 << 20).
		WithBlockCacheSize(16 << 20).
		WithIndexCacheSize(8 << 20).
		WithValueLogFileSize(64 << 20).
		WithNumCompactors(2).
		WithDetectConflicts(false)
	if cfg.InMemory {
		opts = opts.WithInMemory(true).WithDir("").WithValueDir("")
	} else if cfg.Dir == "" {
		return nil, fmt.Errorf("open store: data directory is empty")
	}
	db, err := badger.Open(opts)
	if err != nil {
		return nil, fmt.Errorf("open store in %s: %w", cfg.Dir, err)
	}
	s := &Store{
		cfg: cfg, log: log, db: db, rep: rep, flushes: flushes,
		reqs:     make(chan *storeReq, cfg.MaxBatch),
		quit:     make(chan struct{}),
		done:     make(chan struct{}),
		view:     map[Key]Object{},
		watchers: map[*Watcher]struct{}{},
	}
	if err := s.load(); err != nil {
		db.Close()
		return nil, fmt.Errorf("open store in %s: %w", cfg.Dir, err)
	}
	go s.commitLoop()
	return s, nil
}

// load restores the replica and the view from disk.
func (s *Store) load() error {
	lim := s.rep.cfg.Limits
	docs := map[Key]RestoredDoc{}
	var buf []*BufferEntry
	meta := Meta{Context: NewContext()}
	err := s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.DefaultIteratorOptions)
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			item := it.Item()
			k := string(item.Key())
			v, err := item.ValueCopy(nil)
			if err != nil {
				return fmt.Errorf("read record %q: %w", k, err)
			}
			switch {
			case strings.HasPrefix(k, prefixDoc):
				key := Key(k[len(prefixDoc):])
				rv, doc, err := decodeDocRecord(v, lim)
				if err != nil {
					return fmt.Errorf("corrupt record for key %s: %w", key, err)
				}
				docs[key] = RestoredDoc{Doc: doc, RV: rv}
			case strings.HasPrefix(k, prefixBuffer):
				e, err := decodeBufferEntry(v, lim)
				if err != nil {
					return fmt.Errorf("corrupt delta-buffer record %q: %w", k, err)
				}
				buf = append(buf, e)
			case k == keyMeta:
				m, err := decodeMeta(v, lim)
				if err != nil {
					return fmt.Errorf("corrupt store metadata record %q: %w", k, err)
				}
				meta = m
				s.meta.Restore(v)
			default:
				return fmt.Errorf("unexpected record %q", k)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	if err := s.rep.Restore(meta, docs, buf); err != nil {
		return err
	}
	for k, d := range docs {
		if d.Doc.Exists() {
			s.view[k] = Object{Key: k, ResourceVersion: d.RV, Generation: d.Doc.Generation(), Value: d.Doc.JSON()}
		}
	}
	s.rv, s.historyFloor = meta.Seq, meta.Seq
	return nil
}

// Close stops the committer and closes badger. Watches end.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	for w := range s.watchers {
		w.terminate(ErrClosed)
	}
	s.watchers = map[*Watcher]struct{}{}
	s.mu.Unlock()
	close(s.quit)
	<-s.done
	return s.db.Close()
}

// ID returns the member identity the store writes as.
func (s *Store) ID() ReplicaID { return s.cfg.ID }

// --- committer --------------------------------------------------------------

// do runs fn on the replica inside the committer and waits until its
// update is durable.
func (s *Store) do(ctx context.Context, fn func(r *Replica) ([]Update, any, error)) (any, error) {
	req := &storeReq{fn: fn, done: make(chan struct{})}
	select {
	case s.reqs <- req:
	case <-s.quit:
		return nil, ErrClosed
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	// Once queued the operation may commit; wait for the outcome even if
	// ctx ends, so an acknowledged-or-not answer is never a guess. If the
	// committer has exited, nothing will ever run the request.
	select {
	case <-req.done:
		return req.res, req.err
	case <-s.done:
		select {
		case <-req.done:
			return req.res, req.err
		default:
			return nil, ErrClosed
		}
	}
}

func (s *Store) commitLoop() {
	defer close(s.done)
	for {
		var batch []*storeReq
		select {
		case req := <-s.reqs:
			batch = append(batch, req)
		case <-s.quit:
			s.drain()
			return
		}
	more:
		for len(batch) < s.cfg.MaxBatch {
			select {
			case req := <-s.reqs:
				batch = append(batch, req)
			default:
				break more
			}
		}
		s.runBatch(batch)
	}
}

func (s *Store) drain() {
	for {
		select {
		case req := <-s.reqs:
			req.err = ErrClosed
			close(req.done)
		default:
			return
		}
	}
}

func (s *Store) runBatch(batch []*storeReq) {
	s.mu.RLock()
	failed := s.failed
	s.mu.RUnlock()
	if failed != nil {
		for _, req := range batch {
			req.err = failed
			close(req.done)
		}
		return
	}
	var updates []Update
	for _, req := range batch {
		us, res, err := req.fn(s.rep)
		req.res, req.err = res, err
		updates = append(updates, us...)
	}
	if len(updates) == 0 {
		for _, req := range batch {
			close(req.done)
		}
		return
	}
	// One metadata snapshot covers the whole batch: the replica is not
	// touched between the operations above and this commit.
	meta := s.rep.Meta()
	start := time.Now()
	synced, err := s.persist(updates, meta)
	if obs := s.commitObs.Load(); obs != nil && err == nil {
		(*obs)(time.Since(start), synced)
	}
	if err != nil {
		err = fmt.Errorf("%w: %v (reopen the store to recover from disk)", ErrFailed, err)
		s.log.Error("store persistence failed; refusing further writes", "err", err)
		s.mu.Lock()
		s.failed = err
		s.mu.Unlock()
		for _, req := range batch {
			req.res, req.err = nil, err
			close(req.done)
		}
		return
	}
	s.publish(updates, meta.Seq)
	for _, req := range batch {
		close(req.done)
	}
}

// persist writes every update of a batch in as few synced transactions as
// badger allows (one, unless the batch is huge); false when there was
// nothing to write.
func (s *Store) persist(updates []Update, meta Meta) (bool, error) {
	txn := s.db.NewTransaction(true)
	defer func() { txn.Discard() }()
	dirty := false
	set := func(k, v []byte) error {
		err := txn.Set(k, v)
		if errors.Is(err, badger.ErrTxnTooBig) {
			if err := txn.Commit(); err != nil {
				return err
			}
			txn = s.db.NewTransaction(true)
			err = txn.Set(k, v)
		}
		dirty = true
		return err
	}
	del := func(k []byte) error {
		err := txn.Delete(k)
		if errors.Is(err, badger.ErrTxnTooBig) {
			if err := txn.Commit(); err != nil {
				return err
			}
			txn = s.db.NewTransaction(true)
			err = txn.Delete(k)
		}
		dirty = true
		return err
	}
	// Entries pruned within this same batch were never committed: skip
	// them, since deleteBufferThrough only sees committed records.
	var prunedThrough uint64
	for _, u := range updates {
		prunedThrough = max(prunedThrough, u.PrunedThrough)
	}
	for _, u := range updates {
		for _, ch := range u.Changes {
			k := []byte(prefixDoc + string(ch.Key))
			if ch.Doc == nil {
				if err := del(k); err != nil {
					return false, fmt.Errorf("delete %s: %w", ch.Key, err)
				}
				continue
			}
			rec, err := encodeDocRecord(ch.RV, ch.Doc)
			if err != nil {
				return false, fmt.Errorf("encode %s: %w", ch.Key, err)
			}
			if err := set(k, rec); err != nil {
				return false, fmt.Errorf("write %s: %w", ch.Key, err)
			}
		}
		if u.Entry != nil && u.Entry.Last > prunedThrough {
			rec, err := encodeBufferEntry(u.Entry)
			if err != nil {
				return false, fmt.Errorf("encode buffer entry %d: %w", u.Entry.Last, err)
			}
			if err := set(bufferKey(u.Entry.Last), rec); err != nil {
				return false, fmt.Errorf("write buffer entry %d: %w", u.Entry.Last, err)
			}
		}
		if u.PrunedThrough > 0 {
			if err := s.deleteBufferThrough(u.PrunedThrough, del); err != nil {
				return false, err
			}
		}
	}
	rec, need, err := s.meta.Record(meta, dirty)
	if err != nil || !need {
		return false, err
	}
	if err := set([]byte(keyMeta), rec); err != nil {
		return false, fmt.Errorf("write meta: %w", err)
	}
	if err := txn.Commit(); err != nil {
		return false, err
	}
	return true, nil
}

func bufferKey(last uint64) []byte {
	return binary.BigEndian.AppendUint64([]byte(prefixBuffer), last)
}

// deleteBufferThrough removes persisted buffer entries with Last <= seq.
func (s *Store) deleteBufferThrough(seq uint64, del func([]byte) error) error {
	var keys [][]byte
	err := s.db.View(func(txn *badger.Txn) error {
		opts := badger.DefaultIteratorOptions
		opts.PrefetchValues = false
		opts.Prefix = []byte(prefixBuffer)
		it := txn.NewIterator(opts)
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			k := it.Item().KeyCopy(nil)
			if binary.BigEndian.Uint64(k[len(prefixBuffer):]) > seq {
				break
			}
			keys = append(keys, k)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("scan buffer: %w", err)
	}
	for _, k := range keys {
		if err := del(k); err != nil {
			return fmt.Errorf("prune buffer: %w", err)
		}
	}
	return nil
}

// publish applies durable updates to the view and notifies watchers.
func (s *Store) publish(updates []Update, seq uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, u := range updates {
		for _, ch := range u.Changes {
			var ev Event
			switch ch.Type {
			case EventNone:
				continue
			case EventDeleted:
				old := s.view[ch.Key]
				delete(s.view, ch.Key)
				old.ResourceVersion = ch.RV
				ev = Event{Type: EventDeleted, Object: old}
			default:
				obj := Object{Key: ch.Key, ResourceVersion: ch.RV, Generation: ch.Doc.Generation(), Value: ch.Doc.JSON()}
				s.view[ch.Key] = obj
				ev = Event{Type: ch.Type, Object: obj}
			}
			s.history = append(s.history, ev)
			for w := range s.watchers {
				w.offer(ev)
			}
		}
	}
	if seq > s.rv {
		s.rv = seq
	}
	if over := len(s.history) - s.cfg.WatchHistory; over > 0 {
		s.historyFloor = s.history[over-1].Object.ResourceVersion
		clear(s.history[:over])
		s.history = s.history[over:]
	}
}

// --- reads ----------------------------------------------------------------

// Get returns the live object at key or an error wrapping ErrNotFound.
func (s *Store) Get(key Key) (Object, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return Object{}, ErrClosed
	}
	obj, ok := s.view[key]
	if !ok {
		return Object{}, fmt.Errorf("%s: %w", key, ErrNotFound)
	}
	return obj, nil
}

// List returns the live objects whose key starts with prefix, sorted by
// key, and the store's resourceVersion at that moment.
func (s *Store) List(prefix string) ([]Object, uint64, error) {
	if err := ValidatePrefix(prefix); err != nil {
		return nil, 0, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return nil, 0, ErrClosed
	}
	out := make([]Object, 0, 16)
	for k, obj := range s.view {
		if strings.HasPrefix(string(k), prefix) {
			out = append(out, obj)
		}
	}
	slices.SortFunc(out, func(a, b Object) int { return strings.Compare(string(a.Key), string(b.Key)) })
	return out, s.rv, nil
}

// ResourceVersion returns the latest applied local sequence number.
func (s *Store) ResourceVersion() uint64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.rv
}

// --- writes ---------------------------------------------------------------

func objectFrom(r *Replica, key Key) Object {
	doc, rv, ok := r.Get(key)
	if !ok || !doc.Exists() {
		return Object{Key: key, ResourceVersion: rv}
	}
	return Object{Key: key, ResourceVersion: rv, Generation: doc.Generation(), Value: doc.JSON()}
}

func (s *Store) put(ctx context.Context, key Key, value []byte, opts PutOptions) (Object, error) {
	// Parse on the caller's goroutine: the committer is the bottleneck.
	obj, err := ParseObject(key, value, s.rep.cfg.Limits)
	if err != nil {
		return Object{}, err
	}
	res, err := s.do(ctx, func(r *Replica) ([]Update, any, error) {
		u, err := r.PutObject(key, obj, opts)
		if err != nil {
			return nil, nil, err
		}
		return []Update{u}, objectFrom(r, key), nil
	})
	if err != nil {
		return Object{}, err
	}
	return res.(Object), nil
}

// Create stores a new object; it fails with ErrAlreadyExists if key is live.
func (s *Store) Create(ctx context.Context, key Key, value []byte) (Object, error) {
	return s.put(ctx, key, value, PutOptions{Mode: PutCreate})
}

// Update replaces a live object. expectRV, when non-zero, must match the
// current resourceVersion or a *ConflictError is returned.
func (s *Store) Update(ctx context.Context, key Key, value []byte, expectRV uint64, bumpGeneration bool) (Object, error) {
	return s.put(ctx, key, value, PutOptions{Mode: PutUpdate, ExpectRV: expectRV, BumpGeneration: bumpGeneration})
}

// Put creates or updates with full options.
func (s *Store) Put(ctx context.Context, key Key, value []byte, opts PutOptions) (Object, error) {
	return s.put(ctx, key, value, opts)
}

// Delete tombstones a live object and returns its last state.
func (s *Store) Delete(ctx context.Context, key Key, expectRV uint64) (Object, error) {
	res, err := s.do(ctx, func(r *Replica) ([]Update, any, error) {
		before := objectFrom(r, key)
		u, err := r.Delete(key, expectRV)
		if err != nil {
			return nil, nil, err
		}
		before.ResourceVersion = r.Seq()
		return []Update{u}, before, nil
	})
	if err != nil {
		return Object{}, err
	}
	return res.(Object), nil
}

// Op is one write in a Batch.
type Op struct {
	Key    Key
	Value  []byte // nil: delete
	Put    PutOptions
	Delete struct{ ExpectRV uint64 }
}

// OpResult is the outcome of one Op.
type OpResult struct {
	Object Object
	Err    error
}

// Batch applies ops in order and makes them durable in one commit. Each op
// succeeds or fails on its own (a conflict does not undo the others).
func (s *Store) Batch(ctx context.Context, ops []Op) ([]OpResult, error) {
	parsed := make([]ParsedObject, len(ops))
	perr := make([]error, len(ops))
	for i, op := range ops {
		if op.Value != nil {
			parsed[i], perr[i] = ParseObject(op.Key, op.Value, s.rep.cfg.Limits)
		}
	}
	res, err := s.do(ctx, func(r *Replica) ([]Update, any, error) {
		out := make([]OpResult, len(ops))
		var updates []Update
		for i, op := range ops {
			var u Update
			var err error
			if perr[i] != nil {
				out[i].Err = perr[i]
				continue
			}
			if op.Value == nil {
				before := objectFrom(r, op.Key)
				u, err = r.Delete(op.Key, op.Delete.ExpectRV)
				before.ResourceVersion = r.Seq()
				out[i] = OpResult{Object: before, Err: err}
			} else {
				u, err = r.PutObject(op.Key, parsed[i], op.Put)
				out[i] = OpResult{Object: objectFrom(r, op.Key), Err: err}
			}
			if err != nil {
				out[i].Object = Object{}
				continue
			}
			updates = append(updates, u)
		}
		return updates, out, nil
	})
	if err != nil {
		return nil, err
	}
	return res.([]OpResult), nil
}
