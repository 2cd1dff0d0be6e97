package crdt

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
)

// ErrWatchOverflow ends a watch whose consumer fell too far behind.
var ErrWatchOverflow = errors.New("watch consumer too slow: events dropped, re-list and watch again")

// Watcher delivers ordered events for keys under a prefix. Read Events
// until it is closed, then Err says why (nil after Stop).
type Watcher struct {
	prefix string
	out    chan Event
	stopCh chan struct{}
	s      *Store

	mu      sync.Mutex
	pending []Event
	signal  chan struct{}
	err     error
	ended   bool
	limit   int
}

// Events returns the event channel; it is closed when the watch ends.
func (w *Watcher) Events() <-chan Event { return w.out }

// Err returns why the watch ended (nil if still running or stopped).
func (w *Watcher) Err() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

// Stop ends the watch.
func (w *Watcher) Stop() {
	w.s.mu.Lock()
	delete(w.s.watchers, w)
	w.s.mu.Unlock()
	w.terminate(nil)
}

// Watch streams changes to keys starting with prefix. With fromRV 0 it
// first sends the current objects as ADDED events, then every later change;
// with fromRV > 0 it replays retained changes after fromRV (ErrCompacted if
// they are no longer retained) and continues live. Events arrive in
// resourceVersion order.
func (s *Store) Watch(ctx context.Context, prefix string, fromRV uint64) (*Watcher, error) {
	if err := ValidatePrefix(prefix); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	w := &Watcher{
		prefix: prefix,
		out:    make(chan Event, 64),
		stopCh: make(chan struct{}),
		signal: make(chan struct{}, 1),
		s:      s,
		limit:  s.cfg.WatchQueue,
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, ErrClosed
	}
	var initial []Event
	switch {
	case fromRV == 0:
		for k, obj := range s.view {
			if strings.HasPrefix(string(k), prefix) {
				initial = append(initial, Event{Type: EventAdded, Object: obj})
			}
		}
		slices.SortFunc(initial, func(a, b Event) int { return strings.Compare(string(a.Object.Key), string(b.Object.Key)) })
	case fromRV > s.rv:
		s.mu.Unlock()
		return nil, fmt.Errorf("%w: resourceVersion %d is newer than the store's %d", ErrInvalid, fromRV, s.rv)
	default:
		// History holds every event after historyFloor.
		if fromRV < s.historyFloor {
			s.mu.Unlock()
			return nil, fmt.Errorf("watch from %d (oldest resumable %d): %w", fromRV, s.historyFloor, ErrCompacted)
		}
		i, _ := slices.BinarySearchFunc(s.history, fromRV+1, func(e Event, rv uint64) int {
			return cmpUint(e.Object.ResourceVersion, rv)
		})
		for _, ev := range s.history[i:] {
			if strings.HasPrefix(string(ev.Object.Key), prefix) {
				initial = append(initial, ev)
			}
		}
	}
	w.pending = initial
	// The bound is on live events queued behind the consumer; the initial
	// snapshot or replay may be larger.
	w.limit += len(initial)
	s.watchers[w] = struct{}{}
	s.mu.Unlock()
	w.kick()
	go w.run(ctx)
	return w, nil
}

// offer queues ev; called with the store lock held.
func (w *Watcher) offer(ev Event) {
	if !strings.HasPrefix(string(ev.Object.Key), w.prefix) {
		return
	}
	w.mu.Lock()
	if w.ended {
		w.mu.Unlock()
		return
	}
	if len(w.pending) >= w.limit {
		w.mu.Unlock()
		delete(w.s.watchers, w)
		w.terminate(ErrWatchOverflow)
		return
	}
	w.pending = append(w.pending, ev)
	w.mu.Unlock()
	w.kick()
}

func (w *Watcher) kick() {
	select {
	case w.signal <- struct{}{}:
	default:
	}
}

func (w *Watcher) terminate(err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.ended {
		return
	}
	w.ended, w.err = true, err
	close(w.stopCh)
}

func (w *Watcher) run(ctx context.Context) {
	defer close(w.out)
	for {
		w.mu.Lock()
		batch := w.pending
		w.pending = nil
		w.mu.Unlock()
		for _, ev := range batch {
			select {
			case w.out <- ev:
			case <-w.stopCh:
				return
			case <-ctx.Done():
				w.Stop()
				return
			}
		}
		select {
		case <-w.signal:
		case <-w.stopCh:
			return
		case <-ctx.Done():
			w.Stop()
			return
		}
	}
}
