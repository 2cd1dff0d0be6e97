package ledger

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/hashicorp/raft"
)

// Key prefixes of RaftStore's badger database.
var (
	raftLogPrefix    = []byte("l/") // l/ + big-endian index -> encoded raft.Log
	raftStablePrefix = []byte("s/") // s/ + key -> value
)

// RaftStore is a raft.LogStore and raft.StableStore in one badger database.
// Log keys are big-endian indexes under one prefix so badger's key order is
// index order; every write is synced.
type RaftStore struct {
	db *badger.DB
}

var (
	_ raft.LogStore    = (*RaftStore)(nil)
	_ raft.StableStore = (*RaftStore)(nil)
)

// OpenRaftStore opens (or creates) a RaftStore in dir.
func OpenRaftStore(dir string) (*RaftStore, error) {
	if dir == "" {
		return nil, errors.New("open raft store: directory is empty")
	}
	opts := badger.DefaultOptions(dir).
		WithSyncWrites(true).
		WithLogger(nil).
		WithNumVersionsToKeep(1).
		WithMemTableSize(8 << 20).
		WithBlockCacheSize(4 << 20).
		WithIndexCacheSize(2 << 20).
		WithValueLogFileSize(32 << 20).
		WithNumCompactors(2).
		WithDetectConflicts(false)
	db, err := badger.Open(opts)
	if err != nil {
		return nil, fmt.Errorf("open raft store in %s: %w", dir, err)
	}
	return &RaftStore{db: db}, nil
}

// Close closes the database.
func (s *RaftStore) Close() error {
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("close raft store: %w", err)
	}
	return nil
}

func logKey(index uint64) []byte {
	k := make([]byte, len(raftLogPrefix)+8)
	copy(k, raftLogPrefix)
	binary.BigEndian.PutUint64(k[len(raftLogPrefix):], index)
	return k
}

func stableKey(key []byte) []byte {
	k := make([]byte, 0, len(raftStablePrefix)+len(key))
	return append(append(k, raftStablePrefix...), key...)
}

// encodeLog: index, term, type, appendedAt (unix nanos), data, extensions.
func encodeLog(l *raft.Log) []byte {
	b := make([]byte, 0, 8+8+1+8+4+len(l.Data)+4+len(l.Extensions))
	b = binary.BigEndian.AppendUint64(b, l.Index)
	b = binary.BigEndian.AppendUint64(b, l.Term)
	b = append(b, byte(l.Type))
	var at int64
	if !l.AppendedAt.IsZero() {
		at = l.AppendedAt.UnixNano()
	}
	b = binary.BigEndian.AppendUint64(b, uint64(at))
	b = binary.BigEndian.AppendUint32(b, uint32(len(l.Data)))
	b = append(b, l.Data...)
	b = binary.BigEndian.AppendUint32(b, uint32(len(l.Extensions)))
	b = append(b, l.Extensions...)
	return b
}

func decodeLog(b []byte, l *raft.Log) error {
	if len(b) < 8+8+1+8+4 {
		return errors.New("short log record")
	}
	l.Index = binary.BigEndian.Uint64(b)
	l.Term = binary.BigEndian.Uint64(b[8:])
	l.Type = raft.LogType(b[16])
	at := int64(binary.BigEndian.Uint64(b[17:]))
	l.AppendedAt = time.Time{}
	if at != 0 {
		l.AppendedAt = time.Unix(0, at)
	}
	b = b[25:]
	n := binary.BigEndian.Uint32(b)
	b = b[4:]
	if uint64(len(b)) < uint64(n)+4 {
		return errors.New("truncated log data")
	}
	l.Data = append([]byte(nil), b[:n]...)
	b = b[n:]
	m := binary.BigEndian.Uint32(b)
	b = b[4:]
	if uint64(len(b)) != uint64(m) {
		return errors.New("truncated log extensions")
	}
	l.Extensions = nil
	if m > 0 {
		l.Extensions = append([]byte(nil), b...)
	}
	return nil
}

// FirstIndex returns the first stored log index, 0 if none.
func (s *RaftStore) FirstIndex() (uint64, error) {
	return s.edgeIndex(false)
}

// LastIndex returns the last stored log index, 0 if none.
func (s *RaftStore) LastIndex() (uint64, error) {
	return s.edgeIndex(true)
}

func (s *RaftStore) edgeIndex(last bool) (uint64, error) {
	var idx uint64
	err := s.db.View(func(txn *badger.Txn) error {
		opts := badger.DefaultIteratorOptions
		opts.PrefetchValues = false
		opts.Reverse = last
		opts.Prefix = raftLogPrefix
		it := txn.NewIterator(opts)
		defer it.Close()
		seek := raftLogPrefix
		if last {
			seek = logKey(^uint64(0))
		}
		it.Seek(seek)
		if it.ValidForPrefix(raftLogPrefix) {
			k := it.Item().Key()
			if len(k) != len(raftLogPrefix)+8 {
				return fmt.Errorf("bad log key %x", k)
			}
			idx = binary.BigEndian.Uint64(k[len(raftLogPrefix):])
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("raft store: read edge index: %w", err)
	}
	return idx, nil
}

// GetLog reads the log at index into log; raft.ErrLogNotFound if absent.
func (s *RaftStore) GetLog(index uint64, log *raft.Log) error {
	err := s.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(logKey(index))
		if err != nil {
			return err
		}
		return item.Value(func(v []byte) error { return decodeLog(v, log) })
	})
	if errors.Is(err, badger.ErrKeyNotFound) {
		return raft.ErrLogNotFound
	}
	if err != nil {
		return fmt.Errorf("raft store: get log %d: %w", index, err)
	}
	return nil
}

// StoreLog stores one log.
func (s *RaftStore) StoreLog(log *raft.Log) error {
	return s.StoreLogs([]*raft.Log{log})
}

// StoreLogs stores logs in one synced batch (several if the batch is too big).
func (s *RaftStore) StoreLogs(logs []*raft.Log) error {
	txn := s.db.NewTransaction(true)
	defer func() { txn.Discard() }()
	for _, l := range logs {
		k, v := logKey(l.Index), encodeLog(l)
		err := txn.Set(k, v)
		if errors.Is(err, badger.ErrTxnTooBig) {
			if err = txn.Commit(); err != nil {
				return fmt.Errorf("raft store: store logs: %w", err)
			}
			txn = s.db.NewTransaction(true)
			err = txn.Set(k, v)
		}
		if err != nil {
			return fmt.Errorf("raft store: store log %d: %w", l.Index, err)
		}
	}
	if err := txn.Commit(); err != nil {
		return fmt.Errorf("raft store: store logs: %w", err)
	}
	return nil
}

// DeleteRange deletes the logs with indexes min..max inclusive.
func (s *RaftStore) DeleteRange(min, max uint64) error {
	if min > max {
		return nil
	}
	var keys [][]byte
	err := s.db.View(func(txn *badger.Txn) error {
		opts := badger.DefaultIteratorOptions
		opts.PrefetchValues = false
		opts.Prefix = raftLogPrefix
		it := txn.NewIterator(opts)
		defer it.Close()
		end := logKey(max)
		for it.Seek(logKey(min)); it.ValidForPrefix(raftLogPrefix); it.Next() {
			k := it.Item().KeyCopy(nil)
			if bytes.Compare(k, end) > 0 {
				break
			}
			keys = append(keys, k)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("raft store: delete range %d-%d: %w", min, max, err)
	}
	txn := s.db.NewTransaction(true)
	defer func() { txn.Discard() }()
	for _, k := range keys {
		err := txn.Delete(k)
		if errors.Is(err, badger.ErrTxnTooBig) {
			if err = txn.Commit(); err != nil {
				return fmt.Errorf("raft store: delete range %d-%d: %w", min, max, err)
			}
			txn = s.db.NewTransaction(true)
			err = txn.Delete(k)
		}
		if err != nil {
			return fmt.Errorf("raft store: delete range %d-%d: %w", min, max, err)
		}
	}
	if err := txn.Commit(); err != nil {
		return fmt.Errorf("raft store: delete range %d-%d: %w", min, max, err)
	}
	return nil
}

// Set stores a stable value.
func (s *RaftStore) Set(key, val []byte) error {
	err := s.db.Update(func(txn *badger.Txn) error {
		return txn.Set(stableKey(key), append([]byte(nil), val...))
	})
	if err != nil {
		return fmt.Errorf("raft store: set %q: %w", key, err)
	}
	return nil
}

// Get returns a stable value; an absent key yields an empty value and the
// error "not found" that raft expects.
func (s *RaftStore) Get(key []byte) ([]byte, error) {
	var val []byte
	err := s.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(stableKey(key))
		if err != nil {
			return err
		}
		val, err = item.ValueCopy(nil)
		return err
	})
	if errors.Is(err, badger.ErrKeyNotFound) {
		return []byte{}, errNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("raft store: get %q: %w", key, err)
	}
	return val, nil
}

// errNotFound matches the message raft checks for ("not found") on a
// missing stable key.
var errNotFound = errors.New("not found")

// SetUint64 stores a stable uint64, big-endian.
func (s *RaftStore) SetUint64(key []byte, val uint64) error {
	return s.Set(key, binary.BigEndian.AppendUint64(nil, val))
}

// GetUint64 returns a stable uint64; 0 and "not found" if absent.
func (s *RaftStore) GetUint64(key []byte) (uint64, error) {
	v, err := s.Get(key)
	if err != nil {
		return 0, err
	}
	if len(v) != 8 {
		return 0, fmt.Errorf("raft store: %q holds %d bytes, not a uint64", key, len(v))
	}
	return binary.BigEndian.Uint64(v), nil
}
