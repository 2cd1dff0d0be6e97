// Package sim is Lattice's deterministic discrete-event simulator.
//
// It owns the event engine and virtual clock (engine.go), the network and
// topology model (network.go: per-region-pair latency, loss, bandwidth,
// partitions), a SWIM failure-detector model with memberlist's LAN/WAN
// parameters (swim.go), scenarios (scenario.go, scenarios/*.yaml), and
// metrics, CSV/JSON output and SVG plots (metrics.go, output.go, svg.go).
//
// It imports and drives the real protocol cores rather than re-implementing
// them: every member holds a real crdt.Replica with an HLC fed from the
// virtual clock, a real gossip.Sync (the anti-entropy session core) decides
// what to send, every message is encoded and decoded with crdt's wire codec
// (so bandwidth is counted from real encoded sizes and members never share
// memory), and federation scenarios run the real federation.Reconcile (and
// through it federation.Schedule) over federation.Embedded clusters.
//
// What is modelled rather than run: the network (no QUIC), memberlist (the
// SWIM model in swim.go decides each member's live view; membership.go
// counts its traffic from memberlist's own message sizes), the local
// Kubernetes cluster (federation.Embedded, a pod-start delay), and the cost
// of handling a message (Topology.ProcessCPU on optionally shared cores,
// served FIFO or time-shared among members: host.go; then ProcessDelay
// standing in for badger's fsync, on an optionally shared disk: FIFO
// channels, a group-commit journal, or latencies drawn from those measured
// on the real disk at the load it is under: diskload.go; for every
// message, or, with Topology.DiskWrites "changed", only where a store
// would make a synced write, decided by the store's own crdt.MetaTracker,
// a workload write then durable at its origin before it spreads; and,
// optionally, a wait for a core at each goroutine hand-off a message
// crosses between two members' loops: handoff.go). For members that share
// one host, a message's time between two members' loops can instead be
// drawn from the host's measured transit at the number of messages in
// transit (Topology.TransitLoad, diskload.go's byLoad, as the disk by
// load), in place of the links' latency; and a link's latency can be a
// measured distribution (Latency.Quantiles) rather than a log-normal.
// Package sim/validate runs the same workload on real QUIC members and
// compares.
// Members push to the overlay
// neighbours gossip.Ring gives over their own view, as production's nodes
// do beyond SyncConfig.FullMesh live peers; beyond 256 members they are
// handed only those neighbours rather than every live member (peers.go
// says why and what that changes).
//
// Determinism: the simulation is one goroutine (other cores only encode
// and decode messages in flight, pure functions of the prepared message:
// predecode.go), all
// randomness comes from
// PCG generators seeded from the scenario seed, map iteration never decides
// an outcome, and virtual time starts at a fixed epoch. The same scenario and
// seed give byte-identical CSVs and plots, and a summary.json identical
// except for the three fields measured on the host (wall_seconds,
// events_per_second, peak_heap_bytes; listed by HostFields), which stay
// top-level keys because the CLI contract names them; comparisons drop
// exactly those. The package never reads the wall clock: the runner is
// handed a wall-clock function by its caller (the CLI).
//
// Files: engine.go (event queue), world.go (setup, dispatch, workload),
// member.go (a member's cores, message passing), predecode.go (encoding
// and decoding ahead of delivery), peers.go (anti-entropy peers), network.go,
// swim.go, actions.go (faults and churn), fed.go (federation controller
// loop), tombstones.go (deletes, the members' real tombstone collection
// and how long it takes), metrics.go, output.go, svg.go, scenario.go,
// runner.go.
package sim
