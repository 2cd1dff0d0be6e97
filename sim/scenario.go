package sim

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/lattice-federation/lattice/gossip"
)

//go:embed scenarios/*.yaml
var builtin embed.FS

// Limits on scenario input: generous for real use, tight enough that a bad
// file cannot ask for a simulation that never ends or exhausts memory.
const (
	MaxMembers    = 100_000
	MaxDuration   = 24 * time.Hour
	maxRegions    = 64
	maxEvents     = 10_000
	maxKeys       = 100_000
	maxValueBytes = 64 << 10
	maxWriteRate  = 100_000
	maxScenario   = 1 << 20
)

// Scenario is a simulation input: topology, timing profile, workload and a
// timeline of faults. Field names are the YAML keys; unknown keys are
// rejected.
type Scenario struct {
	Name        string `yaml:"name"`
	Description string `yaml:"description"`
	// Members is the initial member count (CLI --members overrides).
	Members int `yaml:"members"`
	// Duration is the virtual time simulated (CLI --duration overrides).
	Duration time.Duration `yaml:"duration"`
	// Seed fixes every random choice (CLI --seed overrides).
	Seed uint64 `yaml:"seed"`
	// Profile selects memberlist's and anti-entropy's timing: lan or wan.
	Profile string `yaml:"profile"`
	// Sync overrides the profile's anti-entropy timing (gossip.SyncConfig).
	Sync     SyncOverrides `yaml:"sync"`
	Topology Topology      `yaml:"topology"`
	Workload Workload      `yaml:"workload"`
	Events   []Event       `yaml:"events"`
	Deploy   *DeploySpec   `yaml:"deployment"`
	// SampleInterval is the time-series resolution (default 1s).
	SampleInterval time.Duration `yaml:"sample_interval"`
}

// SyncOverrides adjusts gossip.SyncConfig; zero fields keep the profile's
// value.
type SyncOverrides struct {
	Fanout         int           `yaml:"fanout"`
	Interval       time.Duration `yaml:"interval"`
	RepairInterval time.Duration `yaml:"repair_interval"`
	AckTimeout     time.Duration `yaml:"ack_timeout"`
	// FullMesh: up to this many live peers a member pushes to any of
	// them, beyond only to its overlay neighbours (gossip.Ring).
	FullMesh int `yaml:"full_mesh"`
	// GCInterval is how often each member collects stable tombstones
	// (gossip.Config.GCInterval; 0: production's). Members collect only
	// in runs whose workload deletes.
	GCInterval time.Duration `yaml:"gc_interval"`
}

// apply returns c with the overrides set.
func (o SyncOverrides) apply(c gossip.SyncConfig) gossip.SyncConfig {
	if o.Fanout != 0 {
		c.Fanout = o.Fanout
	}
	if o.Interval != 0 {
		c.Interval = o.Interval
	}
	if o.RepairInterval != 0 {
		c.RepairInterval = o.RepairInterval
	}
	if o.AckTimeout != 0 {
		c.AckTimeout = o.AckTimeout
	}
	if o.FullMesh != 0 {
		c.FullMesh = o.FullMesh
	}
	return c
}

// Topology is the network: regions, links between them, and the per-message
// processing delay at the receiver.
type Topology struct {
	Regions []Region `yaml:"regions"`
	// DefaultLink applies within a region; InterRegionLink between regions,
	// unless Links names the pair.
	DefaultLink     Link       `yaml:"default_link"`
	InterRegionLink *Link      `yaml:"inter_region_link"`
	Links           []PairLink `yaml:"links"`
	// A member handles its messages one at a time (gossip.Node's loop),
	// each in two steps: ProcessCPU of computation (decode, apply, encode
	// the reply), then ProcessDelay waiting for the durable write (badger
	// sync) it completes before it acts on or acknowledges the message.
	ProcessDelay time.Duration `yaml:"process_delay"`
	// ProcessSigma makes the durable write's time log-normal around
	// ProcessDelay (the sigma of the underlying normal; 0: fixed).
	ProcessSigma float64 `yaml:"process_sigma"`
	// ProcessCPU is the computation per message (0: none modelled).
	ProcessCPU time.Duration `yaml:"process_cpu"`
	// HostCores, if set, makes every member's computation share this many
	// CPU cores (a global FIFO): it models members run in one process on
	// one machine, as the real side of `lattice sim validate` does, where
	// the cores, not the network, set the pace. 0: every member has its
	// own CPU. Without ProcessCPU the whole processing time is served by
	// the cores (the model of earlier scenario files).
	HostCores int `yaml:"host_cores"`
	// HostScheduler is the order the shared cores serve members in:
	// "fifo" (the default) serves messages in the order they became ready,
	// host-wide; "shared" runs every member with a message in computation
	// at once, at an equal share of the cores (processor sharing, as
	// goroutines are time-sliced), each member still handling its own
	// messages one at a time. "shared" needs HostCores and ProcessCPU.
	HostScheduler string `yaml:"host_scheduler"`
	// DiskChannels, if set, makes every member's durable writes share a
	// disk that completes this many at once (FIFO). 0: unshared.
	DiskChannels int `yaml:"disk_channels"`
	// DiskCommitPerWrite, if set, makes every member's durable writes
	// share one journal with group commit instead (as ext4's, under
	// badger's fsyncs): a write ready while a commit runs joins the next
	// commit, which starts when the running one ends and takes
	// ProcessDelay (a lone write's time) plus DiskCommitPerWrite for every
	// further write it holds. So a write's latency grows with the load on
	// the disk, and throughput tends to one write per DiskCommitPerWrite.
	// At most ProcessDelay; not with DiskChannels; needs ProcessCPU.
	DiskCommitPerWrite time.Duration `yaml:"disk_commit_per_write"`
	// DiskLoad, if set, makes every member's durable writes share a disk
	// whose latency was measured at several loads: a write that starts
	// while k-1 others are in flight takes a latency drawn from the
	// measured distribution at k concurrent writers (interpolated between
	// the levels that bracket k). Levels are in increasing Writers order.
	// It replaces ProcessDelay and ProcessSigma; not with DiskChannels or
	// DiskCommitPerWrite; needs ProcessCPU.
	DiskLoad []DiskLoadLevel `yaml:"disk_load"`
	// TransitHandoffs and HandoffLatency model the wait for a core a
	// message meets between its sender's loop and its receiver's inbox,
	// beyond its link: each of the TransitHandoffs goroutine hand-offs on
	// that path (sender goroutine, QUIC on both ends, stream reader,
	// receiver's loop) adds a draw from HandoffLatency, evenly spaced
	// quantiles of the time a readied goroutine waited for a core on the
	// measured host. Set both or neither.
	TransitHandoffs int             `yaml:"transit_handoffs"`
	HandoffLatency  []time.Duration `yaml:"handoff_latency"`
	// TransitLoad, if set, replaces the links' latency with the host's
	// measured time for a message between two members' loops (sending,
	// encoding, the transport on both ends, reading, decoding and the
	// waits for cores among them) by how many messages are in transit at
	// once (Writers: itself included), as disk_load levels: the model of
	// members that share one host, as in the validation. Links keep their
	// bandwidth and loss. Not with transit_handoffs, which the measured
	// transit includes.
	TransitLoad []DiskLoadLevel `yaml:"transit_load"`
	// DiskWrites is which handled messages take a durable write: "every"
	// (the default) charges one to each; "changed" charges one only to a
	// message after which the member's store would make a synced write
	// (crdt.MetaTracker: a document, the delta buffer or the replica's
	// metadata changed; a duplicate delta writes nothing). "changed"
	// applies a message when its computation ends, then holds its replies
	// and its delivery until the write is durable, as a store does, and a
	// workload write is durable at its origin before it spreads; it needs
	// host_scheduler "shared".
	DiskWrites string `yaml:"disk_writes"`
}

// Topology.HostScheduler values.
const (
	HostFIFO   = "fifo"
	HostShared = "shared"
)

// Topology.DiskWrites values.
const (
	DiskWritesEvery   = "every"
	DiskWritesChanged = "changed"
)

// Region is a group of members; Weight is its share of members.
type Region struct {
	Name   string  `yaml:"name"`
	Weight float64 `yaml:"weight"`
}

// Link is a one-way network path model.
type Link struct {
	// Latency is log-normal (Median and Sigma of the underlying normal)
	// or measured (Quantiles).
	Latency Latency `yaml:"latency"`
	// Loss is the probability a message is dropped.
	Loss float64 `yaml:"loss"`
	// BandwidthMbps adds serialization delay size*8/bandwidth (no queueing).
	BandwidthMbps float64 `yaml:"bandwidth_mbps"`
}

// Latency is a one-way delay distribution: log-normal with Median and
// Sigma, or, with Quantiles, a measured one given as evenly spaced
// quantiles (from the fastest to the slowest), drawn by interpolating
// between them. Set Median or Quantiles, not both.
type Latency struct {
	Median    time.Duration   `yaml:"median"`
	Sigma     float64         `yaml:"sigma"`
	Quantiles []time.Duration `yaml:"quantiles"`
}

func (l Latency) validate(what string) error {
	if len(l.Quantiles) > 0 {
		if l.Median != 0 || l.Sigma != 0 {
			return fmt.Errorf("%s: latency: set median and sigma or quantiles, not both", what)
		}
		if err := validateQuantiles(l.Quantiles, false); err != nil {
			return fmt.Errorf("%s: latency quantiles: %w", what, err)
		}
		return nil
	}
	switch {
	case l.Median <= 0 || l.Median > time.Minute:
		return fmt.Errorf("%s: latency median %s: want (0, 1m]", what, l.Median)
	case !finite(l.Sigma) || l.Sigma < 0 || l.Sigma > 3:
		return fmt.Errorf("%s: latency sigma %v: want [0, 3]", what, l.Sigma)
	}
	return nil
}

// PairLink overrides the link between two regions (both directions).
type PairLink struct {
	From string `yaml:"from"`
	To   string `yaml:"to"`
	Link Link   `yaml:",inline"`
}

// Workload is the write load on replicated objects.
type Workload struct {
	// WritesPerSecond across the federation; each write goes to a random
	// alive member (0: no writes).
	WritesPerSecond float64 `yaml:"writes_per_second"`
	// Arrival is poisson (exponential gaps), periodic, or sequential: the
	// next write Gap after the previous one converged (a closed loop, as
	// gossip's BenchmarkConvergence does with a 100 ms gap).
	Arrival string `yaml:"arrival"`
	// Gap is the pause after convergence for sequential arrival.
	Gap time.Duration `yaml:"gap"`
	// Keys is the number of distinct objects written (default 100).
	Keys int `yaml:"keys"`
	// ValueBytes pads each object to about this size (default 256).
	ValueBytes int `yaml:"value_bytes"`
	// Start and Stop bound the writes in virtual time (Stop 0: the end).
	Start time.Duration `yaml:"start"`
	Stop  time.Duration `yaml:"stop"`
	// Deletes is the fraction of writes that delete an object: one of the
	// objects the write's member holds, picked at random (a put when it
	// holds none). The members then collect tombstones as production's
	// do, every sync.gc_interval.
	Deletes float64 `yaml:"deletes"`
}

// Event is one timeline entry; exactly one action is set.
type Event struct {
	At        time.Duration `yaml:"at"`
	Partition *Partition    `yaml:"partition"`
	Heal      bool          `yaml:"heal"`
	Crash     *Selector     `yaml:"crash"`
	Restart   *Selector     `yaml:"restart"`
	Churn     *Churn        `yaml:"churn"`
	WriteRate *float64      `yaml:"write_rate"`
}

// Partition splits the members into sides that cannot reach each other.
type Partition struct {
	// Fraction puts the first Fraction of members (by index) on side 1.
	Fraction float64 `yaml:"fraction"`
	// Regions lists the sides by region name; unlisted regions join side 0.
	Regions [][]string `yaml:"regions"`
}

// Selector picks members: by index, by fraction (the first of a random
// permutation), by region, or every crashed member (restart only).
type Selector struct {
	Members  []int   `yaml:"members"`
	Fraction float64 `yaml:"fraction"`
	Region   string  `yaml:"region"`
	Crashed  bool    `yaml:"crashed"`
}

// Churn replaces Fraction of the members over Over: each step one random
// alive member leaves and one new member joins.
type Churn struct {
	Fraction float64       `yaml:"fraction"`
	Over     time.Duration `yaml:"over"`
}

// DeploySpec adds one FederatedDeployment and runs the real federation
// controller logic (Reconcile, Schedule) on every member.
type DeploySpec struct {
	At       time.Duration `yaml:"at"`
	Replicas int32         `yaml:"replicas"`
	// MaxClusters bounds the members used (0: all).
	MaxClusters int32 `yaml:"max_clusters"`
	// PodStartDelay is how long a placed pod takes to become ready
	// (federation.Embedded's StartDelay).
	PodStartDelay time.Duration `yaml:"pod_start_delay"`
	// ControllerInterval is how often each member reconciles (and at once
	// when its live view changes).
	ControllerInterval time.Duration `yaml:"controller_interval"`
}

// fullViewLimit: up to this many members each member's Sync is handed
// every live member, as production's is; beyond, only its overlay
// neighbours (peers.go says why).
const fullViewLimit = 256

// Overrides are the CLI's adjustments to a scenario (zero: keep).
type Overrides struct {
	Members  int
	Seed     *uint64
	Duration time.Duration
}

// LoadScenario reads a scenario by built-in name ("steady") or file path.
func LoadScenario(nameOrPath string) (*Scenario, error) {
	var raw []byte
	var err error
	if strings.ContainsAny(nameOrPath, "/\\") || strings.HasSuffix(nameOrPath, ".yaml") || strings.HasSuffix(nameOrPath, ".yml") {
		raw, err = os.ReadFile(nameOrPath)
		if err != nil {
			return nil, fmt.Errorf("scenario file: %w", err)
		}
	} else {
		raw, err = builtin.ReadFile(path.Join("scenarios", nameOrPath+".yaml"))
		if err != nil {
			return nil, fmt.Errorf("no built-in scenario %q (built-in: %s; or give a path to a .yaml file)", nameOrPath, strings.Join(BuiltinScenarios(), ", "))
		}
	}
	sc, err := ParseScenario(raw)
	if err != nil {
		return nil, fmt.Errorf("scenario %s: %w", nameOrPath, err)
	}
	return sc, nil
}

// BuiltinScenarios lists the embedded scenario names.
func BuiltinScenarios() []string {
	ents, _ := builtin.ReadDir("scenarios")
	var out []string
	for _, e := range ents {
		out = append(out, strings.TrimSuffix(e.Name(), ".yaml"))
	}
	slices.Sort(out)
	return out
}

// ParseScenario decodes and validates a scenario, applying defaults.
// Unknown fields, trailing documents and out-of-range values are errors.
func ParseScenario(raw []byte) (*Scenario, error) {
	if len(raw) > maxScenario {
		return nil, fmt.Errorf("scenario is %d bytes, max %d", len(raw), maxScenario)
	}
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	var sc Scenario
	if err := dec.Decode(&sc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("scenario is empty")
		}
		return nil, fmt.Errorf("decode: %w", err)
	}
	var extra any
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, errors.New("decode: more than one YAML document")
	}
	sc.applyDefaults()
	if err := sc.Validate(); err != nil {
		return nil, err
	}
	return &sc, nil
}

func (sc *Scenario) applyDefaults() {
	if sc.Profile == "" {
		sc.Profile = "lan"
	}
	if len(sc.Topology.Regions) == 0 {
		sc.Topology.Regions = []Region{{Name: "default", Weight: 1}}
	}
	for i := range sc.Topology.Regions {
		if sc.Topology.Regions[i].Weight == 0 {
			sc.Topology.Regions[i].Weight = 1
		}
	}
	if l := sc.Topology.DefaultLink.Latency; l.Median == 0 && len(l.Quantiles) == 0 {
		sc.Topology.DefaultLink = DefaultLANLink()
	}
	if sc.Workload.Arrival == "" {
		sc.Workload.Arrival = "poisson"
	}
	if sc.Workload.Keys == 0 {
		sc.Workload.Keys = 100
	}
	if sc.Workload.ValueBytes == 0 {
		sc.Workload.ValueBytes = 256
	}
	if sc.SampleInterval == 0 {
		sc.SampleInterval = time.Second
	}
	if d := sc.Deploy; d != nil {
		if d.PodStartDelay == 0 {
			d.PodStartDelay = 2 * time.Second
		}
		if d.ControllerInterval == 0 {
			d.ControllerInterval = time.Second
		}
	}
}

// DefaultLANLink is the calibrated in-region link (see BENCHMARKS.md,
// Simulator: validation): loopback QUIC one-way latency.
func DefaultLANLink() Link {
	return Link{Latency: Latency{Median: 200 * time.Microsecond, Sigma: 0.3}, BandwidthMbps: 10_000}
}

// Apply sets the CLI overrides and re-validates.
func (sc *Scenario) Apply(o Overrides) error {
	if o.Members != 0 {
		sc.Members = o.Members
	}
	if o.Seed != nil {
		sc.Seed = *o.Seed
	}
	if o.Duration != 0 {
		sc.Duration = o.Duration
	}
	return sc.Validate()
}

func finite(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }

func checkFraction(what string, f float64) error {
	if !finite(f) || f < 0 || f > 1 {
		return fmt.Errorf("%s %v: want a fraction in [0, 1]", what, f)
	}
	return nil
}

func (l Link) validate(what string) error {
	if err := l.Latency.validate(what); err != nil {
		return err
	}
	if !finite(l.BandwidthMbps) || l.BandwidthMbps < 0 || l.BandwidthMbps > 1e6 {
		return fmt.Errorf("%s: bandwidth_mbps %v: want [0, 1e6] (0: unlimited)", what, l.BandwidthMbps)
	}
	if err := checkFraction(what+": loss", l.Loss); err != nil {
		return err
	}
	if l.Loss >= 1 {
		return fmt.Errorf("%s: loss 1 drops every message; use a partition", what)
	}
	return nil
}

// Validate checks ranges and cross-references.
func (sc *Scenario) Validate() error {
	switch {
	case sc.Members < 1 || sc.Members > MaxMembers:
		return fmt.Errorf("members %d: want 1 to %d", sc.Members, MaxMembers)
	case sc.Duration <= 0 || sc.Duration > MaxDuration:
		return fmt.Errorf("duration %s: want more than 0 and at most %s", sc.Duration, MaxDuration)
	case sc.Profile != "lan" && sc.Profile != "wan":
		return fmt.Errorf("profile %q: want lan or wan", sc.Profile)
	case sc.SampleInterval < 10*time.Millisecond || sc.SampleInterval > time.Hour:
		return fmt.Errorf("sample_interval %s: want 10ms to 1h", sc.SampleInterval)
	case len(sc.Topology.Regions) > maxRegions:
		return fmt.Errorf("%d regions: max %d", len(sc.Topology.Regions), maxRegions)
	case len(sc.Events) > maxEvents:
		return fmt.Errorf("%d events: max %d", len(sc.Events), maxEvents)
	}
	o := sc.Sync
	if o.Fanout < 0 || o.Fanout > 64 || o.Interval < 0 || o.Interval > time.Minute || o.RepairInterval < 0 ||
		o.RepairInterval > time.Hour || o.AckTimeout < 0 || o.AckTimeout > time.Hour || o.FullMesh < 0 || o.FullMesh > MaxMembers ||
		(o.Interval != 0 && o.Interval < time.Millisecond) || (o.RepairInterval != 0 && o.RepairInterval < 10*time.Millisecond) {
		return fmt.Errorf("sync %+v: want fanout 0-64, interval 0 or 1ms-1m, repair_interval 0 or 10ms-1h, ack_timeout 0-1h, full_mesh 0-%d", o, MaxMembers)
	}
	if o.GCInterval < 0 || o.GCInterval > time.Hour || (o.GCInterval != 0 && o.GCInterval < 100*time.Millisecond) {
		return fmt.Errorf("sync gc_interval %s: want 0 (production's) or 100ms to 1h", o.GCInterval)
	}
	regions := map[string]bool{}
	for _, r := range sc.Topology.Regions {
		if r.Name == "" || regions[r.Name] {
			return fmt.Errorf("region %q: names must be non-empty and unique", r.Name)
		}
		if !finite(r.Weight) || r.Weight <= 0 || r.Weight > 1e6 {
			return fmt.Errorf("region %s: weight %v: want (0, 1e6]", r.Name, r.Weight)
		}
		regions[r.Name] = true
	}
	t := sc.Topology
	if err := t.DefaultLink.validate("default_link"); err != nil {
		return err
	}
	if t.InterRegionLink != nil {
		if err := t.InterRegionLink.validate("inter_region_link"); err != nil {
			return err
		}
	}
	for _, l := range t.Links {
		if !regions[l.From] || !regions[l.To] {
			return fmt.Errorf("link %s-%s: unknown region", l.From, l.To)
		}
		if err := l.Link.validate("link " + l.From + "-" + l.To); err != nil {
			return err
		}
	}
	if t.ProcessDelay < 0 || t.ProcessDelay > time.Minute {
		return fmt.Errorf("process_delay %s: want [0, 1m]", t.ProcessDelay)
	}
	if t.HostCores < 0 || t.HostCores > 1024 {
		return fmt.Errorf("host_cores %d: want 0 (unshared) to 1024", t.HostCores)
	}
	if t.DiskChannels < 0 || t.DiskChannels > 1024 {
		return fmt.Errorf("disk_channels %d: want 0 (unshared) to 1024", t.DiskChannels)
	}
	if t.ProcessCPU < 0 || t.ProcessCPU > time.Minute {
		return fmt.Errorf("process_cpu %s: want [0, 1m]", t.ProcessCPU)
	}
	if t.DiskCommitPerWrite != 0 {
		switch {
		case t.DiskCommitPerWrite < 0 || t.DiskCommitPerWrite > t.ProcessDelay:
			return fmt.Errorf("disk_commit_per_write %s: want (0, process_delay %s]", t.DiskCommitPerWrite, t.ProcessDelay)
		case t.DiskChannels != 0:
			return fmt.Errorf("disk_commit_per_write and disk_channels: set one disk model, not both")
		case t.ProcessCPU == 0:
			return fmt.Errorf("disk_commit_per_write needs process_cpu (the two-step processing model)")
		}
	}
	switch t.HostScheduler {
	case "", HostFIFO:
	case HostShared:
		if t.HostCores == 0 || t.ProcessCPU == 0 {
			return fmt.Errorf("host_scheduler %q needs host_cores and process_cpu", t.HostScheduler)
		}
	default:
		return fmt.Errorf("host_scheduler %q: want %q or %q", t.HostScheduler, HostFIFO, HostShared)
	}
	if err := validateHandoffs(t.TransitHandoffs, t.HandoffLatency); err != nil {
		return err
	}
	switch t.DiskWrites {
	case "", DiskWritesEvery:
	case DiskWritesChanged:
		if t.HostScheduler != HostShared {
			return fmt.Errorf("disk_writes %q needs host_scheduler %q", t.DiskWrites, HostShared)
		}
	default:
		return fmt.Errorf("disk_writes %q: want %q or %q", t.DiskWrites, DiskWritesEvery, DiskWritesChanged)
	}
	if len(t.DiskLoad) > 0 {
		switch {
		case t.DiskChannels != 0 || t.DiskCommitPerWrite != 0:
			return fmt.Errorf("disk_load with disk_channels or disk_commit_per_write: set one disk model")
		case t.ProcessCPU == 0:
			return fmt.Errorf("disk_load needs process_cpu (the two-step processing model)")
		}
		if err := validateLoadLevels("disk_load", t.DiskLoad, maxDiskWriters); err != nil {
			return err
		}
	}
	if len(t.TransitLoad) > 0 {
		if t.TransitHandoffs != 0 {
			return fmt.Errorf("transit_load and transit_handoffs: the measured transit includes the hand-offs; set one")
		}
		if err := validateLoadLevels("transit_load", t.TransitLoad, maxTransitMessages); err != nil {
			return err
		}
	}
	if !finite(t.ProcessSigma) || t.ProcessSigma < 0 || t.ProcessSigma > 3 {
		return fmt.Errorf("process_sigma %v: want [0, 3]", t.ProcessSigma)
	}
	if err := sc.Workload.validate(); err != nil {
		return err
	}
	for i, e := range sc.Events {
		if err := e.validate(regions); err != nil {
			return fmt.Errorf("events[%d] (at %s): %w", i, e.At, err)
		}
	}
	if d := sc.Deploy; d != nil {
		switch {
		case d.Replicas < 1 || d.Replicas > 100_000:
			return fmt.Errorf("deployment replicas %d: want 1 to 100000", d.Replicas)
		case d.MaxClusters < 0:
			return fmt.Errorf("deployment max_clusters %d: must not be negative", d.MaxClusters)
		case d.At < 0:
			return fmt.Errorf("deployment at %s: must not be negative", d.At)
		case d.PodStartDelay < 0 || d.PodStartDelay > time.Hour:
			return fmt.Errorf("deployment pod_start_delay %s: want [0, 1h]", d.PodStartDelay)
		case d.ControllerInterval < 10*time.Millisecond || d.ControllerInterval > time.Hour:
			return fmt.Errorf("deployment controller_interval %s: want 10ms to 1h", d.ControllerInterval)
		case sc.Members > 2000:
			return fmt.Errorf("deployment with %d members: the federation controller model runs every member's reconcile over the whole membership; keep members at most 2000", sc.Members)
		}
	}
	return nil
}

func (w Workload) validate() error {
	switch {
	case !finite(w.WritesPerSecond) || w.WritesPerSecond < 0 || w.WritesPerSecond > maxWriteRate:
		return fmt.Errorf("workload writes_per_second %v: want [0, %d]", w.WritesPerSecond, maxWriteRate)
	case w.Arrival != "poisson" && w.Arrival != "periodic" && w.Arrival != "sequential":
		return fmt.Errorf("workload arrival %q: want poisson, periodic or sequential", w.Arrival)
	case w.Gap < 0 || w.Gap > time.Hour || (w.Gap != 0) != (w.Arrival == "sequential"):
		return fmt.Errorf("workload gap %s: set it (at most 1h) exactly when arrival is sequential", w.Gap)
	case w.Keys < 1 || w.Keys > maxKeys:
		return fmt.Errorf("workload keys %d: want 1 to %d", w.Keys, maxKeys)
	case w.ValueBytes < 1 || w.ValueBytes > maxValueBytes:
		return fmt.Errorf("workload value_bytes %d: want 1 to %d", w.ValueBytes, maxValueBytes)
	case w.Start < 0 || w.Stop < 0 || (w.Stop != 0 && w.Stop <= w.Start):
		return fmt.Errorf("workload start %s, stop %s: want 0 <= start < stop (stop 0: the end)", w.Start, w.Stop)
	case !finite(w.Deletes) || w.Deletes < 0 || w.Deletes > 1:
		return fmt.Errorf("workload deletes %v: want a fraction in [0, 1]", w.Deletes)
	}
	return nil
}

func (e Event) validate(regions map[string]bool) error {
	if e.At < 0 {
		return errors.New("at must not be negative")
	}
	n := 0
	for _, set := range []bool{e.Partition != nil, e.Heal, e.Crash != nil, e.Restart != nil, e.Churn != nil, e.WriteRate != nil} {
		if set {
			n++
		}
	}
	if n != 1 {
		return fmt.Errorf("want exactly one of partition, heal, crash, restart, churn, write_rate; got %d", n)
	}
	switch {
	case e.Partition != nil:
		p := e.Partition
		if (p.Fraction == 0) == (len(p.Regions) == 0) {
			return errors.New("partition: set exactly one of fraction and regions")
		}
		if err := checkFraction("partition fraction", p.Fraction); err != nil {
			return err
		}
		seen := map[string]bool{}
		for _, side := range p.Regions {
			for _, r := range side {
				if !regions[r] || seen[r] {
					return fmt.Errorf("partition: region %q unknown or listed twice", r)
				}
				seen[r] = true
			}
		}
	case e.Crash != nil:
		if e.Crash.Crashed {
			return errors.New("crash: crashed is only for restart")
		}
		return e.Crash.validate("crash", regions)
	case e.Restart != nil:
		return e.Restart.validate("restart", regions)
	case e.Churn != nil:
		if err := checkFraction("churn fraction", e.Churn.Fraction); err != nil {
			return err
		}
		if e.Churn.Fraction == 0 || e.Churn.Over <= 0 {
			return errors.New("churn: want fraction > 0 and over > 0")
		}
	case e.WriteRate != nil:
		if r := *e.WriteRate; !finite(r) || r < 0 || r > maxWriteRate {
			return fmt.Errorf("write_rate %v: want [0, %d]", r, maxWriteRate)
		}
	}
	return nil
}

func (s *Selector) validate(what string, regions map[string]bool) error {
	n := 0
	if len(s.Members) > 0 {
		n++
	}
	if s.Fraction != 0 {
		n++
	}
	if s.Region != "" {
		n++
	}
	if s.Crashed {
		n++
	}
	if n != 1 {
		return fmt.Errorf("%s: set exactly one of members, fraction, region, crashed", what)
	}
	if err := checkFraction(what+" fraction", s.Fraction); err != nil {
		return err
	}
	if s.Region != "" && !regions[s.Region] {
		return fmt.Errorf("%s: unknown region %q", what, s.Region)
	}
	for _, m := range s.Members {
		if m < 0 || m >= MaxMembers {
			return fmt.Errorf("%s: member index %d out of range", what, m)
		}
	}
	return nil
}
