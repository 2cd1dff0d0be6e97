package apiserver

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metainternalversion "k8s.io/apimachinery/pkg/apis/meta/internalversion"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
	genericapirequest "k8s.io/apiserver/pkg/endpoints/request"
	"k8s.io/apiserver/pkg/registry/rest"

	"github.com/lattice-federation/lattice/crdt"
)

// readStorage serves get, list, watch and tables of one resource from a
// backend. Writable resources embed it.
type readStorage struct {
	b     backend
	store *crdt.Store
	gr    schema.GroupResource
}

var (
	_ rest.Storage              = (*readStorage)(nil)
	_ rest.Scoper               = (*readStorage)(nil)
	_ rest.SingularNameProvider = (*readStorage)(nil)
	_ rest.ShortNamesProvider   = (*readStorage)(nil)
	_ rest.CategoriesProvider   = (*readStorage)(nil)
	_ rest.Getter               = (*readStorage)(nil)
	_ rest.Lister               = (*readStorage)(nil)
	_ rest.Watcher              = (*readStorage)(nil)
)

func newReadStorage(b backend, store *crdt.Store) *readStorage {
	return &readStorage{b: b, store: store, gr: GroupVersion.WithResource(b.info().plural).GroupResource()}
}

func (s *readStorage) New() runtime.Object     { return s.b.newObject() }
func (s *readStorage) Destroy()                {}
func (s *readStorage) NamespaceScoped() bool   { return s.b.info().namespaced }
func (s *readStorage) GetSingularName() string { return s.b.info().singular }
func (s *readStorage) ShortNames() []string    { return s.b.info().shortNames }
func (s *readStorage) Categories() []string    { return s.b.info().categories }
func (s *readStorage) NewList() runtime.Object { return s.b.newList(nil) }
func (s *readStorage) namespace(ctx context.Context) string {
	if !s.b.info().namespaced {
		return ""
	}
	return genericapirequest.NamespaceValue(ctx)
}

// Get returns one object.
func (s *readStorage) Get(ctx context.Context, name string, _ *metav1.GetOptions) (runtime.Object, error) {
	return s.b.get(ctx, s.namespace(ctx), name)
}

// continueToken is the opaque list continuation: the namespace/name after
// which the next page starts. Pages are read from the current state (the
// store keeps no snapshots), so a paginated list is not one consistent
// snapshot; each page is consistent, and a watch from the first page's
// resourceVersion sees every later change.
type continueToken struct {
	Version int    `json:"v"`
	RV      uint64 `json:"rv"`
	After   string `json:"after"`
}

func encodeContinue(t continueToken) string {
	b, _ := json.Marshal(t)
	return base64.RawURLEncoding.EncodeToString(b)
}

// maxContinueLen bounds a continue token before it is decoded.
const maxContinueLen = 1024

func decodeContinue(s string) (continueToken, error) {
	var t continueToken
	if len(s) > maxContinueLen {
		return t, apierrors.NewBadRequest("continue token is too long")
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || json.Unmarshal(b, &t) != nil || t.Version != 1 || t.After == "" {
		return t, apierrors.NewBadRequest("continue token is not valid: re-list without it")
	}
	return t, nil
}

func objectKey(m metav1.Object) string { return m.GetNamespace() + "/" + m.GetName() }

// parseRV parses a client resourceVersion ("" means none).
func parseRV(s string) (uint64, error) {
	if s == "" {
		return 0, nil
	}
	rv, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, apierrors.NewBadRequest(fmt.Sprintf("resourceVersion %q is not a number", s))
	}
	return rv, nil
}

// List returns the objects matching the options' selectors, a page at a
// time when a limit is given.
func (s *readStorage) List(ctx context.Context, opts *metainternalversion.ListOptions) (runtime.Object, error) {
	if opts == nil {
		opts = &metainternalversion.ListOptions{}
	}
	current := s.store.ResourceVersion()
	want, err := parseRV(opts.ResourceVersion)
	if err != nil {
		return nil, err
	}
	switch {
	case want > current:
		return nil, apierrors.NewTimeoutError(fmt.Sprintf("Too large resource version: %d, current: %d", want, current), 1)
	case opts.ResourceVersionMatch == metav1.ResourceVersionMatchExact && want != current:
		// Only the current state is kept.
		return nil, apierrors.NewResourceExpired(fmt.Sprintf("resourceVersion %d: only the current state (%d) can be listed", want, current))
	}
	var after string
	if opts.Continue != "" {
		t, err := decodeContinue(opts.Continue)
		if err != nil {
			return nil, err
		}
		after = t.After
	}
	objs, err := s.b.list(ctx, s.namespace(ctx))
	if err != nil {
		return nil, err
	}
	items := make([]runtime.Object, 0, len(objs))
	var next string
	for _, o := range objs {
		m, err := meta.Accessor(o)
		if err != nil {
			return nil, apierrors.NewInternalError(err)
		}
		if after != "" && objectKey(m) <= after {
			continue
		}
		if !s.matches(opts, o, m) {
			continue
		}
		if opts.Limit > 0 && int64(len(items)) == opts.Limit {
			next = objectKey(metaOf(items[len(items)-1]))
			break
		}
		items = append(items, o)
	}
	list := s.b.newList(items)
	lm, err := meta.ListAccessor(list)
	if err != nil {
		return nil, apierrors.NewInternalError(err)
	}
	lm.SetResourceVersion(strconv.FormatUint(current, 10))
	if next != "" {
		lm.SetContinue(encodeContinue(continueToken{Version: 1, RV: current, After: next}))
	}
	return list, nil
}

func metaOf(o runtime.Object) metav1.Object {
	m, err := meta.Accessor(o)
	if err != nil {
		panic(fmt.Sprintf("apiserver: %T has no metadata: %v", o, err))
	}
	return m
}

func (s *readStorage) matches(opts *metainternalversion.ListOptions, o runtime.Object, m metav1.Object) bool {
	if opts.LabelSelector != nil && !opts.LabelSelector.Empty() && !opts.LabelSelector.Matches(labels.Set(m.GetLabels())) {
		return false
	}
	if opts.FieldSelector != nil && !opts.FieldSelector.Empty() &&
		!opts.FieldSelector.Matches(s.b.info().objectFields(m, s.b.fieldSet(o))) {
		return false
	}
	return true
}

// Watch streams changes; see watcher.
func (s *readStorage) Watch(ctx context.Context, opts *metainternalversion.ListOptions) (watch.Interface, error) {
	if opts == nil {
		opts = &metainternalversion.ListOptions{}
	}
	return s.watch(ctx, s.namespace(ctx), opts)
}

// ConvertToTable renders objects for kubectl.
func (s *readStorage) ConvertToTable(_ context.Context, obj runtime.Object, _ runtime.Object) (*metav1.Table, error) {
	var objs []runtime.Object
	t := &metav1.Table{}
	if meta.IsListType(obj) {
		items, err := meta.ExtractList(obj)
		if err != nil {
			return nil, apierrors.NewInternalError(err)
		}
		objs = items
		if lm, err := meta.ListAccessor(obj); err == nil {
			t.ResourceVersion, t.Continue = lm.GetResourceVersion(), lm.GetContinue()
		}
	} else {
		objs = []runtime.Object{obj}
		t.ResourceVersion = metaOf(obj).GetResourceVersion()
	}
	t.ColumnDefinitions = s.b.columns()
	t.Rows = make([]metav1.TableRow, 0, len(objs))
	for _, o := range objs {
		t.Rows = append(t.Rows, metav1.TableRow{Cells: s.b.cells(o), Object: runtime.RawExtension{Object: o}})
	}
	return t, nil
}
