package gossip

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/lattice-federation/lattice/crdt"
)

// BenchmarkConvergence measures write-to-all-members convergence with N
// in-process members gossiping over real QUIC on loopback: each write goes
// to a random member, and its convergence time is until the last member's
// store has applied it (seen by a watch on every store). Writes are
// sequential, 100 ms apart. It also reports steady-state traffic per member
// while idle and during the writes.
func BenchmarkConvergence(b *testing.B) {
	for _, n := range []int{5, 10, 20, 30} {
		b.Run(fmt.Sprintf("members=%d", n), func(b *testing.B) { benchConvergence(b, n) })
	}
}

func totalBytes(c *cluster) float64 {
	var sum float64
	for _, n := range c.nodes {
		for _, dir := range []string{"in", "out"} {
			for _, p := range []string{ALPNMembership, ALPNSync} {
				sum += testutil.ToFloat64(n.metrics.Bytes.WithLabelValues(dir, p))
			}
		}
	}
	// Every byte counts once out and once in: count it once.
	return sum / 2
}

func benchConvergence(b *testing.B, n int) {
	c := startCluster(b, n)
	c.waitMembers(n, 60*time.Second)
	// Let joins settle (peer records, initial repairs).
	time.Sleep(3 * time.Second)

	const idle = 5 * time.Second
	before := totalBytes(c)
	time.Sleep(idle)
	idleRate := (totalBytes(c) - before) / idle.Seconds() / float64(n)

	type arrival struct {
		member int
		at     time.Time
		val    string
	}
	arrivals := make(chan arrival, 4096)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	for i, st := range c.st {
		w, err := st.Watch(ctx, "bench.lattice.dev/", st.ResourceVersion())
		require.NoError(b, err)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ev := range w.Events() {
				arrivals <- arrival{i, time.Now(), string(ev.Object.Value)}
			}
		}()
	}
	rng := rand.New(rand.NewPCG(1, uint64(n)))
	var lat []time.Duration
	startBytes, start := totalBytes(c), time.Now()
	b.ResetTimer()
	for i := range b.N {
		val := fmt.Sprintf(`{"kind":"B","metadata":{"name":"w"},"spec":{"i":%d}}`, i)
		st := c.st[rng.IntN(n)]
		t0 := time.Now()
		o, err := st.Put(ctx, "bench.lattice.dev/B/ns/w", []byte(val), crdt.PutOptions{})
		require.NoError(b, err)
		want := string(o.Value)
		seen := map[int]bool{}
		deadline := time.After(30 * time.Second)
		for len(seen) < n {
			select {
			case a := <-arrivals:
				if a.val == want && !seen[a.member] {
					seen[a.member] = true
					if len(seen) == n {
						lat = append(lat, a.at.Sub(t0))
					}
				}
			case <-deadline:
				b.Fatalf("write %d reached %d of %d members in 30s", i, len(seen), n)
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	b.StopTimer()
	loadRate := (totalBytes(c) - startBytes) / time.Since(start).Seconds() / float64(n)
	slices.Sort(lat)
	q := func(p float64) float64 { return lat[min(len(lat)-1, int(p*float64(len(lat))))].Seconds() * 1000 }
	b.ReportMetric(q(0.5), "p50-ms")
	b.ReportMetric(q(0.99), "p99-ms")
	b.ReportMetric(lat[len(lat)-1].Seconds()*1000, "max-ms")
	b.ReportMetric(idleRate, "idle-B/s/member")
	b.ReportMetric(loadRate, "load-B/s/member")
	cancel()
	c.close()
	wg.Wait()
}
