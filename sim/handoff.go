package sim

import (
	"fmt"
	"math/rand/v2"
	"time"
)

// maxTransitHandoffs bounds Topology.TransitHandoffs.
const maxTransitHandoffs = 32

func validateHandoffs(n int, q []time.Duration) error {
	switch {
	case n < 0 || n > maxTransitHandoffs:
		return fmt.Errorf("transit_handoffs %d: want 0 to %d", n, maxTransitHandoffs)
	case (n > 0) != (len(q) > 0):
		return fmt.Errorf("transit_handoffs and handoff_latency: set both or neither")
	case len(q) == 0:
		return nil
	}
	if err := validateQuantiles(q, true); err != nil {
		return fmt.Errorf("handoff_latency: %w", err)
	}
	return nil
}

// handoffs is the time a message waits for cores on its way between two
// members' loops, beyond its link: one draw from the host's measured
// scheduling latency (the time a readied goroutine waits for a core) per
// goroutine hand-off on the path (Topology.TransitHandoffs). Nothing
// without a model: no random draw either, so other runs are unchanged.
type handoffs struct {
	n         int
	quantiles []time.Duration
}

func (h handoffs) delay(rng *rand.Rand) int64 {
	var d int64
	for range h.n {
		d += quantileAt(h.quantiles, rng.Float64())
	}
	return d
}
