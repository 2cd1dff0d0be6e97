package sim

import "time"

// epoch is virtual time zero: a fixed instant, so that HLC stamps (and
// everything derived from them, such as encoded message sizes) are the same
// on every run.
var epoch = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

// virtualClock is the physical time source of every member's HLC
// (crdt.PhysicalClock) and of the embedded clusters: the engine's clock,
// never the wall clock.
type virtualClock struct{ eng *engine }

// Now implements crdt.PhysicalClock.
func (c virtualClock) Now() time.Time { return toTime(c.eng.now) }

// toTime converts virtual nanoseconds to a time.Time on the epoch.
func toTime(ns int64) time.Time { return epoch.Add(time.Duration(ns)) }

// fromTime converts back.
func fromTime(t time.Time) int64 { return int64(t.Sub(epoch)) }
