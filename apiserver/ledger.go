package apiserver

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/lattice-federation/lattice/crdt"
	"github.com/lattice-federation/lattice/federation"
	"github.com/lattice-federation/lattice/ledger"
)

// Served names of ledger-derived objects. A DID's name is its ledger
// namespace (':' replaced by '-', injective for did:key); an entry's is
// "<did name>.<seq>".

var entryPrefix = ledger.LedgerGroup + "/" + ledger.EntryKind + "/"

func didFromName(name string) (string, bool) {
	if !strings.HasPrefix(name, "did-key-") {
		return "", false
	}
	did := "did:key:" + strings.TrimPrefix(name, "did-key-")
	if _, err := ledger.AuthorNamespace(did); err != nil {
		return "", false
	}
	return did, true
}

// --- ledgerentries -----------------------------------------------------------

var ledgerEntriesInfo = resourceInfo{
	kind: federation.KindLedgerEntry, plural: "ledgerentries", singular: "ledgerentry",
	shortNames: []string{"le"}, categories: []string{"lattice"}, fields: []string{"spec.author", "spec.type"},
}

// ledgerEntries serves the feeds' entries, decoded and signature-checked
// on read. Read-only: entries are appended by their author only.
type ledgerEntries struct{ store *crdt.Store }

func (l *ledgerEntries) info() resourceInfo        { return ledgerEntriesInfo }
func (l *ledgerEntries) newObject() runtime.Object { return &federation.LedgerEntry{} }
func (l *ledgerEntries) newList(items []runtime.Object) runtime.Object {
	return &federation.LedgerEntryList{Items: itemsOf[federation.LedgerEntry](items)}
}

func entryName(author string, seq uint64) string {
	ns, _ := ledger.AuthorNamespace(author)
	return ns + "." + strconv.FormatUint(seq, 10)
}

func decodeEntry(o crdt.Object) (*federation.LedgerEntry, error) {
	e, err := ledger.EntryFromObject(o.Value)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", o.Key, err)
	}
	_, _, verr := e.Verify()
	h, err := e.Hash()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", o.Key, err)
	}
	payload := e.Payload
	if !json.Valid(payload) {
		payload = nil
	}
	return &federation.LedgerEntry{
		TypeMeta: metav1.TypeMeta{APIVersion: federation.APIVersion, Kind: federation.KindLedgerEntry},
		ObjectMeta: metav1.ObjectMeta{Name: entryName(e.Author, e.Seq), ResourceVersion: strconv.FormatUint(o.ResourceVersion, 10),
			CreationTimestamp: metav1.NewTime(e.Time.Time())},
		Spec: federation.LedgerEntrySpec{Author: e.Author, Seq: int64(e.Seq), Type: e.Type, Time: metav1.NewTime(e.Time.Time()),
			Prev: hex.EncodeToString(e.Prev[:]), Hash: hex.EncodeToString(h[:]), Verified: verr == nil,
			Payload: runtime.RawExtension{Raw: payload}},
	}, nil
}

func (l *ledgerEntries) get(_ context.Context, _, name string) (runtime.Object, error) {
	ns, seqStr, ok := strings.Cut(name, ".")
	did, okDID := didFromName(ns)
	seq, err := strconv.ParseUint(seqStr, 10, 64)
	if !ok || !okDID || err != nil || seq == 0 {
		return nil, notFound(ledgerEntriesInfo.plural, name)
	}
	key, err := ledger.EntryKey(did, seq)
	if err != nil {
		return nil, notFound(ledgerEntriesInfo.plural, name)
	}
	o, err := l.store.Get(key)
	if err != nil {
		if errors.Is(err, crdt.ErrNotFound) {
			return nil, notFound(ledgerEntriesInfo.plural, name)
		}
		return nil, storeError(err)
	}
	e, err := decodeEntry(o)
	if err != nil {
		return nil, apierrors.NewInternalError(err)
	}
	return e, nil
}

func (l *ledgerEntries) list(context.Context, string) ([]runtime.Object, error) {
	objs, _, err := l.store.List(entryPrefix)
	if err != nil {
		return nil, storeError(err)
	}
	out := make([]runtime.Object, 0, len(objs))
	for _, o := range objs {
		if e, err := decodeEntry(o); err == nil {
			out = append(out, e)
		}
	}
	// Store keys order seq by its zero-padded form; names are unpadded,
	// and list pages continue after a name, so sort by name.
	slices.SortFunc(out, func(a, b runtime.Object) int { return strings.Compare(metaOf(a).GetName(), metaOf(b).GetName()) })
	return out, nil
}

func (l *ledgerEntries) affected(ev crdt.Event) (string, string, bool, bool) {
	if !strings.HasPrefix(string(ev.Object.Key), entryPrefix) {
		return "", "", false, false
	}
	e, err := decodeEntry(ev.Object)
	if err != nil {
		return "", "", false, false
	}
	return "", e.Name, true, true
}

func (l *ledgerEntries) deleted(ev crdt.Event) (runtime.Object, error) { return decodeEntry(ev.Object) }

func (l *ledgerEntries) fieldSet(o runtime.Object) fields.Set {
	e := o.(*federation.LedgerEntry)
	return fields.Set{"spec.author": e.Spec.Author, "spec.type": e.Spec.Type}
}

func (l *ledgerEntries) columns() []metav1.TableColumnDefinition {
	return []metav1.TableColumnDefinition{
		nameColumn(),
		{Name: "Type", Type: "string", Description: "Entry type."},
		{Name: "Seq", Type: "integer", Description: "Position in the author's feed."},
		{Name: "Verified", Type: "boolean", Description: "The signature verified with the author's key."},
		{Name: "Author", Type: "string", Priority: 1, Description: "The author's DID."},
		{Name: "Hash", Type: "string", Priority: 1, Description: "The entry's SHA-256."},
		ageColumn(),
	}
}

func (l *ledgerEntries) cells(o runtime.Object) []any {
	e := o.(*federation.LedgerEntry)
	return []any{e.Name, e.Spec.Type, e.Spec.Seq, e.Spec.Verified, e.Spec.Author, e.Spec.Hash, age(e.CreationTimestamp)}
}

// --- identities --------------------------------------------------------------

var identitiesInfo = resourceInfo{
	kind: federation.KindIdentity, plural: "identities", singular: "identity",
	shortNames: []string{"did", "dids"}, categories: []string{"lattice"}, fields: []string{"spec.did"},
}

// identities serves the DIDs the federation knows: ledger feed authors and
// members. Read-only; derived from the entries and Member objects.
type identities struct{ store *crdt.Store }

func (i *identities) info() resourceInfo        { return identitiesInfo }
func (i *identities) newObject() runtime.Object { return &federation.Identity{} }
func (i *identities) newList(items []runtime.Object) runtime.Object {
	return &federation.IdentityList{Items: itemsOf[federation.Identity](items)}
}

// build assembles identities from entry and member objects.
func (i *identities) build(entries, members []crdt.Object) map[string]*federation.Identity {
	ids := map[string]*federation.Identity{}
	ensure := func(did string) *federation.Identity {
		name, err := ledger.AuthorNamespace(did)
		if err != nil {
			return nil
		}
		id := ids[name]
		if id == nil {
			id = &federation.Identity{
				TypeMeta:   metav1.TypeMeta{APIVersion: federation.APIVersion, Kind: federation.KindIdentity},
				ObjectMeta: metav1.ObjectMeta{Name: name, ResourceVersion: "0"},
				Spec:       federation.IdentitySpec{DID: did, PublicKeyMultibase: strings.TrimPrefix(did, "did:key:")},
			}
			ids[name] = id
		}
		return id
	}
	bump := func(id *federation.Identity, rv uint64) {
		cur, _ := strconv.ParseUint(id.ResourceVersion, 10, 64)
		id.ResourceVersion = strconv.FormatUint(max(cur, rv), 10)
	}
	for _, o := range entries {
		e, err := ledger.EntryFromObject(o.Value)
		if err != nil {
			continue
		}
		id := ensure(e.Author)
		if id == nil {
			continue
		}
		id.Status.LedgerEntries++
		id.Status.LedgerHead = max(id.Status.LedgerHead, int64(e.Seq))
		if e.Type == ledger.TypeDIDRegistration {
			id.Status.Registered = true
			if t := metav1.NewTime(e.Time.Time()); id.CreationTimestamp.IsZero() || t.Before(&id.CreationTimestamp) {
				id.CreationTimestamp = t
			}
		}
		bump(id, o.ResourceVersion)
	}
	for _, o := range members {
		var m federation.Member
		if json.Unmarshal(o.Value, &m) != nil {
			continue
		}
		id := ensure(m.Spec.DID)
		if id == nil {
			continue
		}
		_, _, _, id.Status.Member = o.Key.Parts()
		bump(id, o.ResourceVersion)
	}
	return ids
}

func (i *identities) read(entryScope string) (map[string]*federation.Identity, error) {
	entries, _, err := i.store.List(entryScope)
	if err != nil {
		return nil, storeError(err)
	}
	members, _, err := i.store.List(federation.MemberPrefix)
	if err != nil {
		return nil, storeError(err)
	}
	return i.build(entries, members), nil
}

func (i *identities) get(_ context.Context, _, name string) (runtime.Object, error) {
	did, ok := didFromName(name)
	if !ok {
		return nil, notFound(identitiesInfo.plural, name)
	}
	prefix, err := ledger.EntryPrefix(did)
	if err != nil {
		return nil, notFound(identitiesInfo.plural, name)
	}
	ids, err := i.read(prefix)
	if err != nil {
		return nil, err
	}
	id := ids[name]
	if id == nil {
		return nil, notFound(identitiesInfo.plural, name)
	}
	return id, nil
}

func (i *identities) list(context.Context, string) ([]runtime.Object, error) {
	ids, err := i.read(entryPrefix)
	if err != nil {
		return nil, err
	}
	out := make([]runtime.Object, 0, len(ids))
	for _, name := range slices.Sorted(maps.Keys(ids)) {
		out = append(out, ids[name])
	}
	return out, nil
}

func (i *identities) affected(ev crdt.Event) (string, string, bool, bool) {
	var did string
	switch k := string(ev.Object.Key); {
	case strings.HasPrefix(k, entryPrefix):
		_, _, ns, _ := ev.Object.Key.Parts()
		return "", ns, false, true
	case strings.HasPrefix(k, federation.MemberPrefix):
		var m federation.Member
		if json.Unmarshal(ev.Object.Value, &m) != nil {
			return "", "", false, false
		}
		did = m.Spec.DID
	default:
		return "", "", false, false
	}
	name, err := ledger.AuthorNamespace(did)
	if err != nil {
		return "", "", false, false
	}
	return "", name, false, true
}

func (i *identities) deleted(crdt.Event) (runtime.Object, error) {
	return nil, errors.New("identities have no key of their own")
}

func (i *identities) fieldSet(o runtime.Object) fields.Set {
	return fields.Set{"spec.did": o.(*federation.Identity).Spec.DID}
}

func (i *identities) columns() []metav1.TableColumnDefinition {
	return []metav1.TableColumnDefinition{
		nameColumn(),
		{Name: "Member", Type: "string", Description: "The Member with this DID."},
		{Name: "Registered", Type: "boolean", Description: "The DID's feed holds its registration."},
		{Name: "Entries", Type: "integer", Description: "Ledger entries held."},
		{Name: "DID", Type: "string", Priority: 1, Description: "The did:key identifier."},
		ageColumn(),
	}
}

func (i *identities) cells(o runtime.Object) []any {
	id := o.(*federation.Identity)
	return []any{id.Name, id.Status.Member, id.Status.Registered, id.Status.LedgerEntries, id.Spec.DID, age(id.CreationTimestamp)}
}
