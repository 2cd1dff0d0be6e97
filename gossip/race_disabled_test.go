//go:build !race

package gossip

// slowdown scales wall-clock test deadlines (see race_enabled_test.go).
const slowdown = 1
