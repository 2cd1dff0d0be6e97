package sim

import (
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// Sample is one row of the time series, taken every sample interval.
type Sample struct {
	TimeSeconds float64
	// BytesPerSecond and BytesPerMemberPerSecond count all gossip traffic:
	// anti-entropy and membership, whose shares per member follow.
	BytesPerSecond                     float64
	BytesPerMemberPerSecond            float64
	AntiEntropyBytesPerMemberPerSecond float64
	MembershipBytesPerMemberPerSecond  float64
	LiveMembers                        int
	PendingWrites                      int
	ReadyReplicas                      int32
	DesiredReplicas                    int32
	Events                             uint64
	// TombstonesPerMember is the mean number of keys holding tombstones
	// per live member.
	TombstonesPerMember float64
}

// sample records a time-series row and checks heal convergence.
func (w *World) sample() {
	iv := int64(w.sc.SampleInterval)
	w.eng.Schedule(w.eng.now+iv, evSample, -1, 0)
	secs := float64(w.eng.now-w.lastSmp) / 1e9
	if secs <= 0 {
		return
	}
	w.pushPullWindow(secs)
	s := Sample{
		TimeSeconds:     float64(w.eng.now) / 1e9,
		BytesPerSecond:  float64(w.met.bytesWindow+w.met.memberWindow) / secs,
		LiveMembers:     w.aliveCount,
		PendingWrites:   len(w.met.pending),
		ReadyReplicas:   w.met.lastReady,
		DesiredReplicas: w.met.desired,
		Events:          w.eng.Processed() - w.evAtSmp,
	}
	if w.gcInterval > 0 {
		s.TombstonesPerMember = w.tombstonesPerMember()
	}
	if w.aliveCount > 0 {
		n := float64(w.aliveCount)
		s.BytesPerMemberPerSecond = s.BytesPerSecond / n
		s.AntiEntropyBytesPerMemberPerSecond = float64(w.met.bytesWindow) / secs / n
		s.MembershipBytesPerMemberPerSecond = float64(w.met.memberWindow) / secs / n
	}
	w.met.memberSecs += float64(w.aliveCount) * secs
	w.series = append(w.series, s)
	w.met.bytesWindow, w.met.memberWindow = 0, 0
	w.lastSmp = w.eng.now
	w.evAtSmp = w.eng.Processed()
	if w.met.healAt >= 0 && w.replicasAgree() {
		w.met.healConv = append(w.met.healConv, w.eng.now-w.met.healAt)
		w.met.healAt = -1
	}
}

// replicasAgree reports whether every alive member's replica has the same
// digest root: the federation's state has converged.
func (w *World) replicasAgree() bool {
	var first []byte
	for _, m := range w.members {
		if !m.alive {
			continue
		}
		d := m.rep.r.Digest(0)
		if len(d) == 0 {
			return false
		}
		if first == nil {
			first = d[0][:]
			continue
		}
		if string(first) != string(d[0][:]) {
			return false
		}
	}
	return true
}

// Summary is summary.json. Every field is a function of the scenario and
// seed except WallSeconds, EventsPerSecond and PeakHeapBytes, which are
// measured on the host (HostFields lists them) and differ between runs.
type Summary struct {
	Scenario         string `json:"scenario"`
	Seed             uint64 `json:"seed"`
	Profile          string `json:"profile"`
	Members          int    `json:"members"`
	MembersCreated   int    `json:"members_created"`
	LiveMembersAtEnd int    `json:"live_members_at_end"`
	// PushPeersMean is the mean number of peers live members' gossip
	// rounds push to at the end: every live peer up to the full-mesh
	// bound, else the overlay neighbours.
	PushPeersMean float64 `json:"push_peers_mean"`
	// AntiEntropyPeers: "all live" when members are handed every live
	// member, as production's are; "overlay" beyond 256 members, when
	// they are handed only their overlay neighbours (sim/peers.go).
	AntiEntropyPeers      string  `json:"anti_entropy_peers"`
	VirtualSeconds        float64 `json:"virtual_seconds"`
	Events                uint64  `json:"events"`
	Writes                int     `json:"writes"`
	ConvergedWrites       int     `json:"converged_writes"`
	UnconvergedWrites     int     `json:"unconverged_writes"`
	ConvergenceP50Seconds float64 `json:"convergence_p50_seconds"`
	ConvergenceP99Seconds float64 `json:"convergence_p99_seconds"`
	ConvergenceMaxSeconds float64 `json:"convergence_max_seconds"`
	Messages              uint64  `json:"messages"`
	// BytesPerMemberPerSecond is a member's whole gossip traffic sent: the
	// anti-entropy frames' exact encoded sizes plus membership traffic
	// (memberlist's, modelled: sim/membership.go).
	BytesPerMemberPerSecond            float64  `json:"bytes_per_member_per_second"`
	AntiEntropyBytesPerMemberPerSecond float64  `json:"anti_entropy_bytes_per_member_per_second"`
	MembershipBytesPerMemberPerSecond  float64  `json:"membership_bytes_per_member_per_second"`
	DeathsDetected                     int      `json:"deaths_detected"`
	DetectionP50Seconds                float64  `json:"detection_p50_seconds"`
	DetectionMaxSeconds                float64  `json:"detection_max_seconds"`
	AliveMembersDeclaredDead           int      `json:"alive_members_declared_dead"`
	HealConvergenceSeconds             *float64 `json:"heal_convergence_seconds,omitempty"`
	DesiredReplicas                    int32    `json:"desired_replicas"`
	ReadyReplicasAtEnd                 int32    `json:"ready_replicas_at_end"`
	ReplicasBelowDesiredSeconds        float64  `json:"replicas_below_desired_seconds"`
	ProtocolErrors                     uint64   `json:"protocol_errors"`
	// DurableWrites is how many synced writes the members' modelled disks
	// made (0 without a two-step processing model).
	DurableWrites uint64 `json:"durable_writes,omitempty"`
	// Tombstone collection, in runs whose workload deletes (tombstones.go):
	// deletes made; those whose tombstone every target member collected,
	// with the time from the delete until the last did; those a later
	// write of the object superseded first; those still held somewhere;
	// and the keys holding tombstones per live member at the end.
	Deletes                       int     `json:"deletes,omitempty"`
	TombstonesCollected           int     `json:"tombstones_collected,omitempty"`
	TombstoneCollectionP50Seconds float64 `json:"tombstone_collection_p50_seconds,omitempty"`
	TombstoneCollectionP99Seconds float64 `json:"tombstone_collection_p99_seconds,omitempty"`
	TombstoneCollectionMaxSeconds float64 `json:"tombstone_collection_max_seconds,omitempty"`
	TombstonesSuperseded          int     `json:"tombstones_superseded,omitempty"`
	TombstonesPending             int     `json:"tombstones_pending,omitempty"`
	TombstonesPerMemberAtEnd      float64 `json:"tombstones_per_member_at_end,omitempty"`

	WallSeconds     float64 `json:"wall_seconds"`
	EventsPerSecond float64 `json:"events_per_second"`
	PeakHeapBytes   uint64  `json:"peak_heap_bytes"`
}

// HostFields returns the summary.json keys measured on the host, which a
// determinism comparison must ignore.
func HostFields() []string { return []string{"wall_seconds", "events_per_second", "peak_heap_bytes"} }

// Summary computes the summary of the run so far (host fields zero).
func (w *World) Summary() Summary {
	lat := slices.Clone(w.met.latencies)
	slices.Sort(lat)
	det := slices.Clone(w.met.detections)
	slices.Sort(det)
	s := Summary{
		Scenario:                 w.sc.Name,
		Seed:                     w.sc.Seed,
		Profile:                  w.sc.Profile,
		Members:                  w.sc.Members,
		MembersCreated:           len(w.members),
		LiveMembersAtEnd:         w.aliveCount,
		VirtualSeconds:           float64(w.eng.now) / 1e9,
		Events:                   w.eng.Processed(),
		Writes:                   w.met.writes,
		ConvergedWrites:          len(lat),
		UnconvergedWrites:        len(w.met.pending),
		ConvergenceP50Seconds:    quantile(lat, 0.50),
		ConvergenceP99Seconds:    quantile(lat, 0.99),
		ConvergenceMaxSeconds:    quantile(lat, 1),
		Messages:                 w.met.msgsTotal,
		DeathsDetected:           len(det),
		DetectionP50Seconds:      quantile(det, 0.5),
		DetectionMaxSeconds:      quantile(det, 1),
		AliveMembersDeclaredDead: w.met.falseDeaths,
		DesiredReplicas:          w.met.desired,
		ReadyReplicasAtEnd:       w.met.lastReady,
		ProtocolErrors:           w.met.syncErrors,
		DurableWrites:            w.nw.writes,
	}
	s.AntiEntropyPeers = "all live"
	if w.ring != nil {
		s.AntiEntropyPeers = "overlay"
	}
	var targets, live int
	for _, m := range w.members {
		if m.alive {
			targets += len(m.sync.Targets())
			live++
		}
	}
	if live > 0 {
		s.PushPeersMean = float64(targets) / float64(live)
	}
	if w.met.memberSecs > 0 {
		s.AntiEntropyBytesPerMemberPerSecond = float64(w.met.bytesTotal) / w.met.memberSecs
		s.MembershipBytesPerMemberPerSecond = float64(w.met.memberTotal) / w.met.memberSecs
		s.BytesPerMemberPerSecond = s.AntiEntropyBytesPerMemberPerSecond + s.MembershipBytesPerMemberPerSecond
	}
	if len(w.met.healConv) > 0 {
		h := float64(w.met.healConv[len(w.met.healConv)-1]) / 1e9
		s.HealConvergenceSeconds = &h
	}
	below := w.met.belowDesired
	if w.fed != nil && w.fed.created && w.met.lastReady < w.met.desired {
		below += w.eng.now - w.met.lastReadyAt
	}
	s.ReplicasBelowDesiredSeconds = float64(below) / 1e9
	if w.gcInterval > 0 {
		tl := slices.Clone(w.met.tombLatencies)
		slices.Sort(tl)
		s.Deletes = w.met.deletes
		s.TombstonesCollected = len(tl)
		s.TombstoneCollectionP50Seconds = quantile(tl, 0.5)
		s.TombstoneCollectionP99Seconds = quantile(tl, 0.99)
		s.TombstoneCollectionMaxSeconds = quantile(tl, 1)
		s.TombstonesSuperseded = w.met.tombsSuperseded
		s.TombstonesPending = len(w.met.tombs)
		s.TombstonesPerMemberAtEnd = w.tombstonesPerMember()
	}
	return s
}

// Latencies returns the converged writes' convergence times in seconds,
// sorted.
func (w *World) Latencies() []float64 {
	lat := slices.Clone(w.met.latencies)
	slices.Sort(lat)
	out := make([]float64, len(lat))
	for i, l := range lat {
		out[i] = float64(l) / 1e9
	}
	return out
}

// Series returns the time series so far.
func (w *World) Series() []Sample { return slices.Clone(w.series) }

// fmtFloat renders a float with fixed, platform-independent formatting.
func fmtFloat(f float64) string {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return "0"
	}
	return strconv.FormatFloat(f, 'f', 6, 64)
}

// WriteOutputs writes summary.json, timeseries.csv, convergence.csv and
// the SVG plots into dir (created if missing).
func WriteOutputs(dir string, sum Summary, series []Sample, lat []float64) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("output dir: %w", err)
	}
	b, err := json.MarshalIndent(sum, "", "  ")
	if err != nil {
		return fmt.Errorf("summary: %w", err)
	}
	files := map[string][]byte{"summary.json": append(b, '\n')}
	var ts strings.Builder
	ts.WriteString("time_seconds,bytes_per_second,bytes_per_member_per_second,live_members,pending_writes,ready_replicas,desired_replicas,events," +
		"anti_entropy_bytes_per_member_per_second,membership_bytes_per_member_per_second,tombstones_per_member\n")
	for _, s := range series {
		fmt.Fprintf(&ts, "%s,%s,%s,%d,%d,%d,%d,%d,%s,%s,%s\n", fmtFloat(s.TimeSeconds), fmtFloat(s.BytesPerSecond), fmtFloat(s.BytesPerMemberPerSecond),
			s.LiveMembers, s.PendingWrites, s.ReadyReplicas, s.DesiredReplicas, s.Events,
			fmtFloat(s.AntiEntropyBytesPerMemberPerSecond), fmtFloat(s.MembershipBytesPerMemberPerSecond), fmtFloat(s.TombstonesPerMember))
	}
	files["timeseries.csv"] = []byte(ts.String())
	var cv strings.Builder
	cv.WriteString("convergence_seconds,cumulative_fraction\n")
	for i, l := range lat {
		fmt.Fprintf(&cv, "%s,%s\n", fmtFloat(l), fmtFloat(float64(i+1)/float64(len(lat))))
	}
	files["convergence.csv"] = []byte(cv.String())
	files["convergence_cdf.svg"] = cdfPlot(lat)
	files["bandwidth.svg"] = seriesPlot("Gossip bandwidth per live member (anti-entropy dashed)", "bytes/s per member", series,
		func(s Sample) float64 { return s.BytesPerMemberPerSecond }, func(s Sample) float64 { return s.AntiEntropyBytesPerMemberPerSecond })
	if sum.Deletes > 0 {
		files["tombstones.svg"] = seriesPlot("Keys holding tombstones per live member", "keys per member", series,
			func(s Sample) float64 { return s.TombstonesPerMember }, nil)
	}
	files["ready_replicas.svg"] = seriesPlot("Ready replicas (desired dashed)", "replicas", series,
		func(s Sample) float64 { return float64(s.ReadyReplicas) }, func(s Sample) float64 { return float64(s.DesiredReplicas) })
	for _, name := range slices.Sorted(maps.Keys(files)) {
		if err := os.WriteFile(filepath.Join(dir, name), files[name], 0o644); err != nil {
			return fmt.Errorf("write %s: %w", name, err)
		}
	}
	return nil
}
