package gossip

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are a member's gossip metrics, registered on a registry of the
// caller's (no global state). A nil *Metrics counts nothing.
type Metrics struct {
	Peers             prometheus.Gauge
	PushPeers         prometheus.Gauge
	Bytes             *prometheus.CounterVec
	MessagesSent      *prometheus.CounterVec
	MessagesReceived  *prometheus.CounterVec
	Repairs           prometheus.Counter
	Rejected          *prometheus.CounterVec
	Dropped           *prometheus.CounterVec
	Handshakes        prometheus.Counter
	HandshakesRefused prometheus.Counter
	Rejoins           prometheus.Counter
	ConvergenceLag    prometheus.Histogram
	// MessageHandling is the loop's time on one received message: apply,
	// durable commit and the round it triggers (sends are asynchronous).
	// A member's inbox drains at this pace.
	MessageHandling prometheus.Histogram
	// Tombstones, TombstonesCollected and TombstoneCollection follow the
	// periodic tombstone collection: keys still holding tombstones after
	// the last run, keys collected, and how long a run took (waiting for
	// and holding the store's committer, which no write passes meanwhile).
	Tombstones          prometheus.Gauge
	TombstonesCollected prometheus.Counter
	TombstoneCollection prometheus.Histogram
}

// NewMetrics creates the gossip metrics and registers them on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Peers: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "lattice_gossip_peers", Help: "Live peers in the membership view (excluding this member).",
		}),
		PushPeers: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "lattice_gossip_push_peers", Help: "Peers anti-entropy rounds push to: every live peer up to the full-mesh size, else the overlay neighbours.",
		}),
		Bytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lattice_gossip_bytes_total", Help: "Application bytes sent and received, by direction and protocol.",
		}, []string{"direction", "protocol"}),
		MessagesSent: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lattice_gossip_messages_sent_total", Help: "Anti-entropy messages sent, by type.",
		}, []string{"type"}),
		MessagesReceived: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lattice_gossip_messages_received_total", Help: "Anti-entropy messages received and applied, by type.",
		}, []string{"type"}),
		Repairs: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "lattice_gossip_repair_runs_total", Help: "Digest repair sessions started.",
		}),
		Rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lattice_gossip_frames_rejected_total", Help: "Frames from peers dropped as malformed, oversized, misattributed or invalid, by kind.",
		}, []string{"kind"}),
		Dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lattice_gossip_dropped_total", Help: "Frames dropped for lack of capacity or an unreachable peer, by kind.",
		}, []string{"kind"}),
		Handshakes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "lattice_gossip_handshakes_total", Help: "QUIC handshakes completed with admitted peers.",
		}),
		HandshakesRefused: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "lattice_gossip_handshakes_refused_total", Help: "Peers refused at the handshake (not admitted, revoked, bad certificate).",
		}),
		Rejoins: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "lattice_gossip_rejoin_attempts_total", Help: "Attempts to rejoin members known from the store but absent from the membership view.",
		}),
		ConvergenceLag: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "lattice_gossip_convergence_lag_seconds",
			Help:    "Time from a write (its HLC) to its arrival here in a delta from a peer.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
		}),
		MessageHandling: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "lattice_gossip_message_handling_seconds",
			Help:    "Time the anti-entropy loop spends on one received message: applying it, its durable commit and the round it triggers.",
			Buckets: prometheus.ExponentialBuckets(50e-6, 2, 16), // 50 µs to 1.6 s
		}),
		Tombstones: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "lattice_gossip_tombstones", Help: "Keys holding tombstones (deleted objects or fields) not yet collected, after the last collection run.",
		}),
		TombstonesCollected: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "lattice_gossip_tombstones_collected_total", Help: "Keys whose causally stable tombstones collection dropped.",
		}),
		TombstoneCollection: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "lattice_gossip_tombstone_collection_seconds",
			Help:    "Time one tombstone collection run took, waiting for and holding the store's committer.",
			Buckets: prometheus.ExponentialBuckets(50e-6, 4, 10), // 50 µs to 13 s
		}),
	}
	reg.MustRegister(m.Peers, m.PushPeers, m.Bytes, m.MessagesSent, m.MessagesReceived, m.Repairs, m.Rejected,
		m.Dropped, m.Handshakes, m.HandshakesRefused, m.Rejoins, m.ConvergenceLag, m.MessageHandling,
		m.Tombstones, m.TombstonesCollected, m.TombstoneCollection)
	return m
}

func (m *Metrics) bytesIn(proto string, n int) {
	if m != nil {
		m.Bytes.WithLabelValues("in", proto).Add(float64(n))
	}
}

func (m *Metrics) bytesOut(proto string, n int) {
	if m != nil {
		m.Bytes.WithLabelValues("out", proto).Add(float64(n))
	}
}

func (m *Metrics) rejected(kind string) {
	if m != nil {
		m.Rejected.WithLabelValues(kind).Inc()
	}
}

func (m *Metrics) dropped(kind string) {
	if m != nil {
		m.Dropped.WithLabelValues(kind).Inc()
	}
}

func (m *Metrics) handshake() {
	if m != nil {
		m.Handshakes.Inc()
	}
}

func (m *Metrics) collection(collected, held int, took time.Duration) {
	if m != nil {
		m.Tombstones.Set(float64(held))
		m.TombstonesCollected.Add(float64(collected))
		m.TombstoneCollection.Observe(took.Seconds())
	}
}

func (m *Metrics) handshakeRefused() {
	if m != nil {
		m.HandshakesRefused.Inc()
	}
}
