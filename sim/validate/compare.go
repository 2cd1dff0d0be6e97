package validate

import (
	"context"
	"fmt"
	"math"
	"path/filepath"
	"time"

	"github.com/lattice-federation/lattice/sim"
)

// Tolerance is the agreement the validation aims for: each percentile of
// the simulator within 25 % of the real one.
const Tolerance = 0.25

// Side is one side's figures for one member count.
type Side struct {
	Writes                  int     `json:"writes"`
	P50Seconds              float64 `json:"convergence_p50_seconds"`
	P99Seconds              float64 `json:"convergence_p99_seconds"`
	MaxSeconds              float64 `json:"convergence_max_seconds"`
	BytesPerMemberPerSecond float64 `json:"bytes_per_member_per_second"`
	// MembershipBytesPerMemberPerSecond is memberlist's share of it, and
	// AntiEntropyBytesPerMessage the anti-entropy frames' mean size: the
	// two halves of the bandwidth figure, each comparable between a real
	// run and a simulated one of another length.
	MembershipBytesPerMemberPerSecond float64 `json:"membership_bytes_per_member_per_second"`
	AntiEntropyBytesPerMessage        float64 `json:"anti_entropy_bytes_per_message"`
	WallSeconds                       float64 `json:"wall_seconds"`
	// MessagesPerWrite is anti-entropy messages per write per member,
	// over the whole measured run (repairs included): how much work the
	// protocol did, which faster convergence lowers (fewer redundant
	// pushes).
	MessagesPerWrite float64 `json:"messages_per_write_per_member"`
	// HandlingPerMessage is a member loop's mean time on one message:
	// computation, durable write and the round it triggers, with the
	// waits for cores and disk in between (real: gossip's
	// message-handling histogram). What the host model has to reproduce
	// per message.
	HandlingPerMessage float64 `json:"handling_seconds_per_message"`
}

// Row is the comparison at one member count.
type Row struct {
	Members int `json:"members"`
	// Calibration is the machine model the simulated side ran with.
	Calibration Calibration `json:"calibration"`
	Real        Side        `json:"real"`
	// RealCommits is how the real members' stores committed (not
	// modelled by the simulator: see BENCHMARKS.md, validation).
	RealCommits CommitStats `json:"real_commits"`
	// RealStoresFlushed is how many real stores flushed a memtable during
	// the writes (RealResult.StoresFlushed).
	RealStoresFlushed int `json:"real_stores_flushed"`
	// Sims is the simulated side under each host model, in Models() order.
	Sims []SimRow `json:"sims"`
}

// SimRow is the simulated side under one host model and its agreement
// with the real side.
type SimRow struct {
	Model
	Sim Side `json:"sim"`
	// P50Diff and P99Diff are (sim - real) / real.
	P50Diff float64 `json:"p50_diff"`
	P99Diff float64 `json:"p99_diff"`
	// Within: both differences are within Tolerance.
	Within bool `json:"within_tolerance"`
}

// Report is a whole validation run.
type Report struct {
	Scenario  string  `json:"scenario"`
	Tolerance float64 `json:"tolerance"`
	Rows      []Row   `json:"rows"`
}

func sideOf(lat []float64, bytesPerMember, wall float64, members int, messages float64) Side {
	s := Side{Writes: len(lat), BytesPerMemberPerSecond: bytesPerMember, WallSeconds: wall}
	if len(lat) > 0 {
		s.MessagesPerWrite = messages / float64(len(lat)) / float64(max(1, members))
		s.P50Seconds = sim.Quantile(lat, 0.50)
		s.P99Seconds = sim.Quantile(lat, 0.99)
		s.MaxSeconds = lat[len(lat)-1]
	}
	return s
}

// DiskModel is how the simulated side shares the disk among members.
type DiskModel string

const (
	// DiskChannels: a FIFO of disk_channels identical channels.
	DiskChannels DiskModel = "channels"
	// DiskJournal: one journal with group commit (disk_commit_per_write).
	DiskJournal DiskModel = "journal"
	// DiskLoad: latencies drawn from those measured at the load the disk
	// is under (disk_load).
	DiskLoad DiskModel = "load"
	// DiskRun: latencies drawn as for DiskLoad, from the real run's own
	// synced commits by load (Calibration.RunDiskLoad).
	DiskRun DiskModel = "run"
)

// Model is how the simulated side models the host: its disk and the
// order its shared cores serve members in (sim.HostFIFO or
// sim.HostShared).
type Model struct {
	Disk      DiskModel `json:"disk_model"`
	Scheduler string    `json:"host_scheduler"`
	// Writes is which messages take a durable write (sim.DiskWritesEvery
	// or sim.DiskWritesChanged).
	Writes string `json:"disk_writes"`
	// Handoffs is how many goroutine hand-offs a message waits through in
	// transit, each drawn from Calibration.HandoffLatency (0: none).
	Handoffs int `json:"transit_handoffs"`
	// Link is the link's latency: the scenario's assumed log-normal
	// (LinkAssumed), or the real run's transit (LinkMeasured, LinkLoad).
	Link LinkModel `json:"link_model"`
}

// LinkModel is where the simulated side's link latency comes from.
type LinkModel string

const (
	// LinkAssumed: the validation scenario's log-normal loopback link.
	LinkAssumed LinkModel = "assumed"
	// LinkMeasured: each message's delay is drawn from the real run's
	// frames' time in transit (Calibration.Transit), which includes every
	// wait for a core on the way, so no hand-offs are added to it.
	LinkMeasured LinkModel = "measured"
	// LinkLoad: as LinkMeasured, drawn at the number of messages in
	// transit when the message is sent (Calibration.TransitLoad,
	// topology.transit_load): a write's own traffic slows its spread.
	LinkLoad LinkModel = "by load"
)

func (m Model) String() string {
	return fmt.Sprintf("%s disk, %s cores, %s message writes, %d transit hand-offs, %s link", m.Disk, m.Scheduler, m.Writes, m.Handoffs, m.Link)
}

// Models returns the host models Compare simulates, in order: every
// measured-probe disk model, first with FIFO cores, then with shared ones,
// a durable write for every message; then the disk by load, from the probe
// and from the real run's commits, on shared cores with a durable write
// only where a store makes one; last the run's commits again, with each
// message also waiting TransitHandoffs times for a core in transit; and
// the run's commits with the link replaced by the real run's measured
// transit, drawn alone and by the messages in transit. All but the last
// two use the assumed link.
func Models() []Model {
	var ms []Model
	for _, sched := range []string{sim.HostFIFO, sim.HostShared} {
		for _, d := range []DiskModel{DiskChannels, DiskJournal, DiskLoad} {
			ms = append(ms, Model{Disk: d, Scheduler: sched, Writes: sim.DiskWritesEvery, Link: LinkAssumed})
		}
	}
	for _, d := range []DiskModel{DiskLoad, DiskRun} {
		ms = append(ms, Model{Disk: d, Scheduler: sim.HostShared, Writes: sim.DiskWritesChanged, Link: LinkAssumed})
	}
	return append(ms,
		Model{Disk: DiskRun, Scheduler: sim.HostShared, Writes: sim.DiskWritesChanged, Handoffs: TransitHandoffs, Link: LinkAssumed},
		Model{Disk: DiskRun, Scheduler: sim.HostShared, Writes: sim.DiskWritesChanged, Link: LinkMeasured},
		Model{Disk: DiskRun, Scheduler: sim.HostShared, Writes: sim.DiskWritesChanged, Link: LinkLoad})
}

// ScenarioName is the built-in scenario modelling the real workload.
const ScenarioName = "validation"

// RunSim runs the validation scenario at n members in the simulator; with
// cal, its machine model (process_delay, process_sigma, process_cpu,
// host_cores, host_scheduler, and disk_channels, disk_commit_per_write or
// disk_load by model) is replaced by the measured one.
func RunSim(ctx context.Context, n int, seed uint64, cal *Calibration, model Model) (Side, error) {
	sc, err := sim.LoadScenario(ScenarioName)
	if err != nil {
		return Side{}, err
	}
	if err := sc.Apply(sim.Overrides{Members: n, Seed: &seed}); err != nil {
		return Side{}, fmt.Errorf("scenario %s: %w", ScenarioName, err)
	}
	if cal != nil {
		sc.Topology.ProcessDelay = time.Duration(cal.SyncedWriteSeconds * 1e9)
		sc.Topology.ProcessSigma = cal.SyncedWriteSigma
		sc.Topology.ProcessCPU = time.Duration(cal.CPUPerMessageSeconds * 1e9)
		sc.Topology.HostCores = cal.Cores
		sc.Topology.DiskChannels = 0
		sc.Topology.HostScheduler = model.Scheduler
		sc.Topology.DiskWrites = model.Writes
		if model.Handoffs > 0 {
			if len(cal.HandoffLatency) == 0 {
				return Side{}, fmt.Errorf("%d transit hand-offs: the real run measured no scheduling latency", model.Handoffs)
			}
			sc.Topology.TransitHandoffs, sc.Topology.HandoffLatency = model.Handoffs, cal.HandoffLatency
		}
		switch model.Link {
		case LinkAssumed, "":
		case LinkMeasured:
			if len(cal.Transit) == 0 {
				return Side{}, fmt.Errorf("link model %q: the real run measured no frame in transit", model.Link)
			}
			sc.Topology.DefaultLink.Latency = sim.Latency{Quantiles: cal.Transit}
		case LinkLoad:
			if len(cal.TransitLoad) == 0 {
				return Side{}, fmt.Errorf("link model %q: the real run measured no frame in transit", model.Link)
			}
			sc.Topology.TransitLoad = cal.TransitLoad
		default:
			return Side{}, fmt.Errorf("link model %q: want %s, %s or %s", model.Link, LinkAssumed, LinkMeasured, LinkLoad)
		}
		switch model.Disk {
		case DiskChannels:
			sc.Topology.DiskChannels = cal.DiskChannels
		case DiskJournal:
			sc.Topology.DiskCommitPerWrite = time.Duration(cal.JournalPerWriteSeconds * 1e9)
		case DiskLoad:
			sc.Topology.DiskLoad = cal.DiskLoad
		case DiskRun:
			if len(cal.RunDiskLoad) == 0 {
				return Side{}, fmt.Errorf("disk model %q: the real run saw no load level %d times", model.Disk, RunLoadMinSamples)
			}
			sc.Topology.DiskLoad = cal.RunDiskLoad
		default:
			return Side{}, fmt.Errorf("disk model %q: want %s, %s, %s or %s", model.Disk, DiskChannels, DiskJournal, DiskLoad, DiskRun)
		}
	}
	start := time.Now()
	res, err := sim.Run(ctx, sc, sim.RunOptions{})
	if err != nil {
		return Side{}, err
	}
	sum := res.Summary
	side := sideOf(res.Latencies, sum.BytesPerMemberPerSecond, time.Since(start).Seconds(), n, float64(sum.Messages))
	side.HandlingPerMessage = res.HandlingPerMessage.Seconds()
	side.MembershipBytesPerMemberPerSecond = sum.MembershipBytesPerMemberPerSecond
	if cal != nil {
		if m, ok := membershipOver(res.Series, cal.MembershipWindow); ok {
			side.MembershipBytesPerMemberPerSecond = m
		}
	}
	if sum.Messages > 0 {
		// The validation scenario's members stay alive throughout.
		side.AntiEntropyBytesPerMessage = sum.AntiEntropyBytesPerMemberPerSecond * float64(n) * sum.VirtualSeconds / float64(sum.Messages)
	}
	return side, nil
}

// membershipOver is the mean membership traffic per member of the samples
// that end within window (seconds since the start); ok is false when none
// does.
func membershipOver(series []sim.Sample, window [2]float64) (float64, bool) {
	var sum float64
	var n int
	for _, s := range series {
		if s.TimeSeconds > window[0] && s.TimeSeconds <= window[1] {
			sum += s.MembershipBytesPerMemberPerSecond
			n++
		}
	}
	if n == 0 {
		return 0, false
	}
	return sum / float64(n), true
}

// CalibrationSamples is how many synced writes Compare times.
const CalibrationSamples = 300

// Compare measures this machine (Calibrate), runs the workload on
// cfg.Members real members, then in the simulator calibrated with the
// measurement at the same member count and seed, once with each of
// Models, and returns the row.
func Compare(ctx context.Context, cfg RealConfig) (Row, error) {
	if err := cfg.validate(); err != nil {
		return Row{}, fmt.Errorf("validation run: %w", err)
	}
	cal, err := Calibrate(ctx, cfg.Dir, CalibrationSamples, cfg.Members)
	if err != nil {
		return Row{}, err
	}
	start := time.Now()
	real, err := RunReal(ctx, cfg)
	if err != nil {
		return Row{}, err
	}
	var handling float64
	if real.Messages > 0 {
		cal.CPUPerMessageSeconds = real.CPUSeconds / real.Messages
		handling = real.HandlingSeconds / real.Messages
	}
	cal.RunDiskLoad, cal.RunDiskLoadCommits = real.CommitLoad, real.CommitLoadCommits
	cal.HandoffLatency = real.SchedLatency
	cal.MembershipWindow = real.Window
	cal.Transit, cal.TransitFrames = real.Transit, real.TransitFrames
	cal.TransitLoad, cal.TransitLoadFrames = real.TransitLoad, real.TransitLoadFrames
	realSide := sideOf(real.Latencies, real.BytesPerMemberPerSecond, time.Since(start).Seconds(), cfg.Members, real.Messages)
	realSide.HandlingPerMessage = handling
	realSide.MembershipBytesPerMemberPerSecond = real.MembershipBytesPerMemberPerSecond
	if real.Messages > 0 {
		realSide.AntiEntropyBytesPerMessage = real.AntiEntropyBytes / real.Messages
	}
	if err := cal.RemeasureDiskLoad(ctx, filepath.Join(cfg.Dir, "after"), CalibrationSamples); err != nil {
		return Row{}, err
	}
	row := Row{Members: cfg.Members, Calibration: cal, RealCommits: real.Commits, RealStoresFlushed: real.StoresFlushed, Real: realSide}
	for _, model := range Models() {
		s, err := RunSim(ctx, cfg.Members, cfg.Seed, &cal, model)
		if err != nil {
			return row, fmt.Errorf("simulation, %s: %w", model, err)
		}
		sr := SimRow{Model: model, Sim: s}
		sr.P50Diff, sr.P99Diff, sr.Within = agreement(s, row.Real)
		row.Sims = append(row.Sims, sr)
	}
	return row, nil
}

// agreement is how far the simulated side's percentiles are from the
// real side's, and whether both are within Tolerance.
func agreement(sim, real Side) (p50, p99 float64, within bool) {
	p50 = relDiff(sim.P50Seconds, real.P50Seconds)
	p99 = relDiff(sim.P99Seconds, real.P99Seconds)
	within = real.Writes > 0 && sim.Writes > 0 && math.Abs(p50) <= Tolerance && math.Abs(p99) <= Tolerance
	return p50, p99, within
}

// relDiff is (sim - real) / real; 0 when there is no real figure (the row
// is then not within tolerance: see Compare).
func relDiff(sim, real float64) float64 {
	if real == 0 {
		return 0
	}
	return (sim - real) / real
}
