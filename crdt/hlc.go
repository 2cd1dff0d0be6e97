package crdt

import (
	"errors"
	"fmt"
	"sync"
	"time"
)

// Timestamp is a hybrid logical clock reading packed into 64 bits: the upper
// 48 bits are physical milliseconds since the Unix epoch (good until year
// 10889), the lower 16 a logical counter. Packing keeps stamps cheap to store
// in every register and makes ordering a single integer compare.
type Timestamp uint64

const logicalBits = 16
const logicalMask = 1<<logicalBits - 1

// MakeTimestamp builds a Timestamp from its parts.
func MakeTimestamp(physicalMillis int64, logical uint16) Timestamp {
	return Timestamp(uint64(physicalMillis)<<logicalBits | uint64(logical))
}

// Physical is the wall-clock part in milliseconds since the epoch.
func (t Timestamp) Physical() int64 { return int64(uint64(t) >> logicalBits) }

// Logical is the counter part.
func (t Timestamp) Logical() uint16 { return uint16(uint64(t) & logicalMask) }

// Time converts the physical part to a time.Time (UTC).
func (t Timestamp) Time() time.Time { return time.UnixMilli(t.Physical()).UTC() }

func (t Timestamp) String() string {
	return fmt.Sprintf("%s+%d", t.Time().Format("2006-01-02T15:04:05.000Z"), t.Logical())
}

// PhysicalClock is the source of physical time. Production uses WallClock;
// tests and the simulator inject their own.
type PhysicalClock interface {
	Now() time.Time
}

// WallClock reads the operating system clock.
type WallClock struct{}

// Now implements PhysicalClock.
func (WallClock) Now() time.Time { return time.Now() }

// ErrClockDrift is returned (wrapped) when a remote timestamp is further in
// the future than the configured maximum drift.
var ErrClockDrift = errors.New("remote timestamp exceeds maximum clock drift")

// DefaultMaxDrift bounds how far ahead of our physical clock a peer's
// timestamp may be before we refuse it. Adopting a far-future timestamp would
// let one bad clock win every LWW race for as long as the skew lasts.
const DefaultMaxDrift = 5 * time.Second

// Clock is a hybrid logical clock (Kulkarni et al.). It is safe for
// concurrent use. Readings are strictly monotonic even if the physical clock
// steps backwards.
type Clock struct {
	mu       sync.Mutex
	phys     PhysicalClock
	maxDrift time.Duration
	last     Timestamp
}

// NewClock returns a clock over phys (WallClock when nil). maxDrift <= 0
// selects DefaultMaxDrift.
func NewClock(phys PhysicalClock, maxDrift time.Duration) *Clock {
	if phys == nil {
		phys = WallClock{}
	}
	if maxDrift <= 0 {
		maxDrift = DefaultMaxDrift
	}
	return &Clock{phys: phys, maxDrift: maxDrift}
}

func (c *Clock) physNow() int64 { return c.phys.Now().UnixMilli() }

// advance moves last to at least max(pt, floor) and returns the next reading.
// When the logical counter would overflow the physical part is bumped by one
// millisecond: the clock runs at most marginally ahead under extreme rates.
func (c *Clock) advance(pt int64, floor Timestamp) Timestamp {
	next := c.last
	if floor > next {
		next = floor
	}
	if pt > next.Physical() {
		c.last = MakeTimestamp(pt, 0)
		return c.last
	}
	if next.Logical() == logicalMask {
		c.last = MakeTimestamp(next.Physical()+1, 0)
	} else {
		c.last = next + 1
	}
	return c.last
}

// Now returns a new timestamp, strictly greater than every timestamp this
// clock has returned or observed.
func (c *Clock) Now() Timestamp {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.advance(c.physNow(), 0)
}

// Observe folds a remote timestamp into the clock so later local readings
// order after it. A timestamp more than maxDrift ahead of physical time is
// rejected with ErrClockDrift and not adopted.
func (c *Clock) Observe(remote Timestamp) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	pt := c.physNow()
	if err := c.checkDrift(pt, remote); err != nil {
		return err
	}
	if remote > c.last {
		c.last = remote
	}
	return nil
}

// Check reports whether remote is acceptable without adopting it.
func (c *Clock) Check(remote Timestamp) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.checkDrift(c.physNow(), remote)
}

func (c *Clock) checkDrift(pt int64, remote Timestamp) error {
	if ahead := remote.Physical() - pt; ahead > c.maxDrift.Milliseconds() {
		return fmt.Errorf("%w: %s is %dms ahead (max %s)", ErrClockDrift, remote, ahead, c.maxDrift)
	}
	return nil
}

// Refresh returns Last, unless physical time has moved at least minAge
// past it, in which case it issues a new reading. Idle replicas use it so
// the clock they report keeps up with real time.
func (c *Clock) Refresh(minAge time.Duration) Timestamp {
	c.mu.Lock()
	defer c.mu.Unlock()
	pt := c.physNow()
	if pt-c.last.Physical() >= minAge.Milliseconds() {
		return c.advance(pt, 0)
	}
	return c.last
}

// Last returns the latest timestamp issued or observed.
func (c *Clock) Last() Timestamp {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.last
}

// Restore raises the clock to at least t; used after loading persisted state
// so readings stay monotonic across restarts even if the wall clock went back.
func (c *Clock) Restore(t Timestamp) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if t > c.last {
		c.last = t
	}
}
