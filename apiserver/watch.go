package apiserver

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metainternalversion "k8s.io/apimachinery/pkg/apis/meta/internalversion"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/lattice-federation/lattice/crdt"
)

// bookmarkInterval is how often a watch that allows bookmarks gets one.
const bookmarkInterval = 30 * time.Second

// watcher turns the store's change stream into API watch events of one
// resource. The store stream is ordered by resourceVersion and an event's
// object carries that event's resourceVersion, so clients see increasing
// resourceVersions and can resume from any of them. A change to a key an
// object is built from (a placement report for a deployment's status)
// becomes a MODIFIED event of that object; an object whose newest
// contributing change is still ahead in the stream is skipped, that later
// change emits it.
type watcher struct {
	s       *readStorage
	ns      string
	opts    *metainternalversion.ListOptions
	sw      *crdt.Watcher
	initial bool
	startRV uint64

	out    chan watch.Event
	cancel context.CancelFunc
	once   sync.Once
	// matched holds the objects the client is known to hold (after an
	// initial listing) or was sent, so selector transitions become ADDED
	// and DELETED events.
	matched map[string]bool
}

func (w *watcher) ResultChan() <-chan watch.Event { return w.out }

func (w *watcher) Stop() { w.once.Do(w.cancel) }

func (s *readStorage) watch(ctx context.Context, ns string, opts *metainternalversion.ListOptions) (watch.Interface, error) {
	rv, err := parseRV(opts.ResourceVersion)
	if err != nil {
		return nil, err
	}
	initial := rv == 0
	if opts.SendInitialEvents != nil {
		initial = *opts.SendInitialEvents
	}
	if initial {
		// List, then stream from the state before the list: changes racing
		// with the listing arrive again, as MODIFIED.
		rv = s.store.ResourceVersion()
	}
	ctx, cancel := context.WithCancel(ctx)
	sw, err := s.store.Watch(ctx, "", rv)
	if err != nil {
		cancel()
		switch {
		case errors.Is(err, crdt.ErrCompacted):
			return nil, apierrors.NewResourceExpired(err.Error())
		case errors.Is(err, crdt.ErrInvalid):
			return nil, apierrors.NewTimeoutError(fmt.Sprintf("Too large resource version: %d, current: %d", rv, s.store.ResourceVersion()), 1)
		}
		return nil, apierrors.NewInternalError(err)
	}
	w := &watcher{
		s: s, ns: ns, opts: opts, sw: sw, initial: initial, startRV: rv,
		out: make(chan watch.Event, 16), cancel: cancel, matched: map[string]bool{},
	}
	go w.run(ctx)
	return w, nil
}

func (w *watcher) send(ctx context.Context, t watch.EventType, o runtime.Object) bool {
	select {
	case w.out <- watch.Event{Type: t, Object: o}:
		return true
	case <-ctx.Done():
		return false
	}
}

func (w *watcher) bookmark(ctx context.Context, rv uint64, initialEnd bool) bool {
	o := w.s.b.newObject()
	m := metaOf(o)
	m.SetResourceVersion(strconv.FormatUint(rv, 10))
	if initialEnd {
		m.SetAnnotations(map[string]string{metav1.InitialEventsAnnotationKey: "true"})
	}
	return w.send(ctx, watch.Bookmark, o)
}

func (w *watcher) fail(ctx context.Context, err error) {
	var st apierrors.APIStatus
	if !errors.As(err, &st) {
		st = apierrors.NewInternalError(err)
	}
	s := st.Status()
	w.send(ctx, watch.Error, &s)
}

func (w *watcher) run(ctx context.Context) {
	defer close(w.out)
	defer w.sw.Stop()
	defer w.Stop()
	lastRV := w.startRV
	if w.initial {
		objs, err := w.s.b.list(ctx, w.ns)
		if err != nil {
			w.fail(ctx, err)
			return
		}
		for _, o := range objs {
			m := metaOf(o)
			if !w.s.matches(w.opts, o, m) {
				continue
			}
			w.matched[objectKey(m)] = true
			if !w.send(ctx, watch.Added, o) {
				return
			}
		}
		if w.opts.SendInitialEvents != nil && *w.opts.SendInitialEvents && w.opts.AllowWatchBookmarks {
			if !w.bookmark(ctx, lastRV, true) {
				return
			}
		}
	}
	tick := time.NewTicker(bookmarkInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			if w.opts.AllowWatchBookmarks && !w.bookmark(ctx, lastRV, false) {
				return
			}
		case ev, ok := <-w.sw.Events():
			if !ok {
				if err := w.sw.Err(); err != nil {
					w.fail(ctx, apierrors.NewResourceExpired(err.Error()))
				}
				return
			}
			lastRV = ev.Object.ResourceVersion
			if !w.handle(ctx, ev) {
				return
			}
		}
	}
}

// handle emits the API event (if any) a store event causes.
func (w *watcher) handle(ctx context.Context, ev crdt.Event) bool {
	ns, name, primary, ok := w.s.b.affected(ev)
	if !ok || w.ns != "" && ns != w.ns {
		return true
	}
	key := ns + "/" + name
	rv := strconv.FormatUint(ev.Object.ResourceVersion, 10)
	if primary && ev.Type == crdt.EventDeleted {
		o, err := w.s.b.deleted(ev)
		if err != nil {
			return true // an undecodable object was never served
		}
		metaOf(o).SetResourceVersion(rv)
		was := w.matched[key]
		delete(w.matched, key)
		if was || w.s.matches(w.opts, o, metaOf(o)) {
			return w.send(ctx, watch.Deleted, o)
		}
		return true
	}
	o, err := w.s.b.get(ctx, ns, name)
	if err != nil {
		// Gone (a report of a deleted deployment) or undecodable.
		return true
	}
	m := metaOf(o)
	if cur, err := strconv.ParseUint(m.GetResourceVersion(), 10, 64); err == nil && cur > ev.Object.ResourceVersion {
		return true // a later change to this object is still in the stream
	}
	m.SetResourceVersion(rv)
	was := w.matched[key]
	if !w.s.matches(w.opts, o, m) {
		if was {
			delete(w.matched, key)
			return w.send(ctx, watch.Deleted, o)
		}
		return true
	}
	w.matched[key] = true
	t := watch.Modified
	if !was && (w.initial || primary && ev.Type == crdt.EventAdded) {
		t = watch.Added
	}
	return w.send(ctx, t, o)
}
