// Package validate compares the simulator with the real thing. It runs
// one workload twice: on real in-process members (gossip.Node over QUIC on
// loopback, each with its own badger-backed crdt.Store and memberlist) and
// in the simulator (the built-in "validation" scenario, which models the
// same workload), and reports write-to-every-member convergence p50/p99
// from both side by side. The simulated side's machine model is measured
// on every run (calibrate.go) and the simulation runs once per host model
// (Models: three probed disk models, each with FIFO and with shared cores
// and a write per message; then, on shared cores with a write only where a
// store makes one, the probed disk by load and the disk by load as the
// real run's own commits saw it: runload.go; that disk with waits for
// cores in transit: sched.go; and that disk with the link replaced by the
// real run's frames' measured time in transit, alone and by the frames in
// transit: transit.go, through gossip.TransitObserver). Both sides also
// report a member loop's mean time per message handled, the per-message
// cost the host model has to reproduce.
//
// The workload is the one of gossip's BenchmarkConvergence: sequential
// writes to one object at a random member, each issued a gap after the
// previous one reached every member, with digest repair every second.
//
// It lives outside package sim on purpose: the simulator never opens a
// socket or a file, the real side does nothing else.
package validate
