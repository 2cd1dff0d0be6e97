// Package sim is Lattice's deterministic discrete-event simulator.
//
// It owns the event engine and virtual clock, the network and topology model
// (latency, loss, partitions), a SWIM failure-detector model, scenarios, and
// metrics and plots. It imports and drives the real protocol cores (crdt
// replicas, anti-entropy sessions, the federation scheduler) rather than
// re-implementing them; the same seed yields byte-identical results. It never
// reads the wall clock.
//
// This package is a placeholder; it lands in a later issue.
package sim
