package member

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/lattice-federation/lattice/crdt"
	"github.com/lattice-federation/lattice/identity"
	"github.com/lattice-federation/lattice/internal/admin"
	"github.com/lattice-federation/lattice/ledger"
)

// AppendLedger continues signer's feed from its last entry in st, signs an
// entry of type typ with payload and stores it (write-once). The caller
// must be the feed's only writer: one process, one goroutine at a time (a
// running member serializes through its LedgerWriter).
func AppendLedger(ctx context.Context, st *crdt.Store, signer identity.Signer, typ string, payload []byte, now time.Time) (*ledger.Entry, error) {
	prefix, err := ledger.EntryPrefix(signer.DID())
	if err != nil {
		return nil, err
	}
	objs, _, err := st.List(prefix)
	if err != nil {
		return nil, err
	}
	feed := ledger.NewFeed(signer)
	if len(objs) > 0 {
		// Keys end in the zero-padded seq: the last one is the head.
		last, err := ledger.EntryFromObject(objs[len(objs)-1].Value)
		if err != nil {
			return nil, fmt.Errorf("last ledger entry %s: %w", objs[len(objs)-1].Key, err)
		}
		if feed, err = ledger.RestoreFeed(signer, last); err != nil {
			return nil, fmt.Errorf("last ledger entry %s: %w", objs[len(objs)-1].Key, err)
		}
	}
	e, err := feed.Append(typ, payload, crdt.MakeTimestamp(now.UnixMilli(), 0))
	if err != nil {
		return nil, err
	}
	key, err := ledger.EntryKey(e.Author, e.Seq)
	if err != nil {
		return nil, err
	}
	obj, err := ledger.EntryObject(e)
	if err != nil {
		return nil, err
	}
	if _, err := st.Create(ctx, key, obj); err != nil {
		return nil, fmt.Errorf("store ledger entry %s: %w", key, err)
	}
	return e, nil
}

// ledgerWriter is a running member's single writer of its feed.
type ledgerWriter struct {
	mu     sync.Mutex
	st     *crdt.Store
	signer identity.Signer
}

// appendEntry serves admin ledger appends: it checks the request, then
// signs and stores the entry.
func (w *ledgerWriter) appendEntry(ctx context.Context, typ string, payload []byte) (admin.LedgerAppendResult, error) {
	var res admin.LedgerAppendResult
	if !ledger.KnownType(typ) {
		return res, fmt.Errorf("%w: unknown ledger entry type %q", admin.ErrBadRequest, typ)
	}
	if len(payload) > ledger.MaxPayloadSize {
		return res, fmt.Errorf("%w: payload of %d bytes, max %d", admin.ErrBadRequest, len(payload), ledger.MaxPayloadSize)
	}
	if !json.Valid(payload) {
		return res, fmt.Errorf("%w: payload is not JSON", admin.ErrBadRequest)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	e, err := AppendLedger(ctx, w.st, w.signer, typ, payload, time.Now())
	if err != nil {
		return res, err
	}
	h, err := e.Hash()
	if err != nil {
		return res, err
	}
	return admin.LedgerAppendResult{Author: e.Author, Seq: e.Seq, Hash: hex.EncodeToString(h[:])}, nil
}

// ensureDIDRegistration publishes the member's DID document in its feed if
// no entry of the feed registers it yet.
func (w *ledgerWriter) ensureDIDRegistration(ctx context.Context, doc *identity.DIDDocument) error {
	prefix, err := ledger.EntryPrefix(w.signer.DID())
	if err != nil {
		return err
	}
	objs, _, err := w.st.List(prefix)
	if err != nil {
		return err
	}
	for _, o := range objs {
		if e, err := ledger.EntryFromObject(o.Value); err == nil && e.Type == ledger.TypeDIDRegistration {
			return nil
		}
	}
	b, err := json.Marshal(doc)
	if err != nil {
		return err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	_, err = AppendLedger(ctx, w.st, w.signer, ledger.TypeDIDRegistration, b, time.Now())
	return err
}
