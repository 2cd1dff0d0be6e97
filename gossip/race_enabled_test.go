//go:build race

package gossip

// slowdown scales wall-clock test deadlines: the race detector makes ten
// QUIC members several times slower, and make test runs race packages in
// parallel on two cores.
const slowdown = 4
