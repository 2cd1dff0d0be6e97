package member

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/lattice-federation/lattice/crdt"
)

// observeStoreCommits exports how long the store takes to make batches
// durable, split by whether a batch took a synced write: under load a
// member's anti-entropy loop spends most of its time waiting here (see
// BENCHMARKS.md, validation), so it belongs on /metrics. The returned
// func detaches the observer.
func observeStoreCommits(st *crdt.Store, reg prometheus.Registerer) (stop func()) {
	h := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "lattice_store_commit_seconds",
		Help:    "Time to make a batch of store operations durable, by whether it took a synced write (synced=false: nothing kept had changed).",
		Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, 1, 5},
	}, []string{"synced"})
	reg.MustRegister(h)
	st.ObserveCommits(func(d time.Duration, synced bool) {
		h.WithLabelValues(strconv.FormatBool(synced)).Observe(d.Seconds())
	})
	return func() { st.ObserveCommits(nil) }
}
