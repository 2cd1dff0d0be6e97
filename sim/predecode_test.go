package sim

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/lattice-federation/lattice/crdt"
	"github.com/lattice-federation/lattice/gossip"
)

// The workers' queue, polling and sleeping: every job, whoever takes it,
// yields the receiver's decoded copy of what was sent, and nothing is
// lost when the workers stop with jobs still queued. Run under -race in
// make test, it also checks the workers share nothing unsynchronised with
// the goroutine that sends and receives.
func TestWorkersTransmitEveryJob(t *testing.T) {
	ids := crdt.NewIDTable(4)
	writer := ids.Intern("did:key:w")
	ids.Freeze()
	r, err := crdt.NewReplica(crdt.DefaultReplicaConfig(writer, crdt.NewClock(nil, 0)))
	require.NoError(t, err)
	r.SetPeers([]crdt.ReplicaID{"did:key:p"})
	for _, spin := range []time.Duration{0, spinFor} {
		t.Run(fmt.Sprintf("spin %v", spin), func(t *testing.T) {
			p := predecoder{workers: 2, spinFor: spin, lim: crdt.DefaultLimits(), ids: ids}
			p.start()
			type sent struct {
				job  *decodeJob
				msg  crdt.Message
				size int
			}
			var all []sent
			for i := range 400 {
				key := crdt.Key(fmt.Sprintf("g/K/ns/o%d", i%7))
				_, err := r.Put(key, fmt.Appendf(nil, `{"kind":"K","spec":{"i":%d}}`, i), crdt.PutOptions{})
				require.NoError(t, err)
				var m crdt.Message = r.StartRepair("did:key:p")
				if i%2 == 0 {
					d, err := r.DeltaFor("did:key:p")
					require.NoError(t, err)
					m = d
				}
				size, err := gossip.PrepareFrame(m)
				require.NoError(t, err)
				all = append(all, sent{p.queue(m, size), m, size})
				if i%3 == 0 {
					p.flush()
				}
				if i%50 == 49 {
					time.Sleep(200 * time.Microsecond) // let the workers run dry
				}
				if i == 300 {
					p.halt() // the jobs queued since stay for the receiver
					p.start()
				}
			}
			p.flush()
			time.Sleep(20 * time.Millisecond)
			done := 0
			for _, s := range all {
				if s.job.state.Load() == jobDone {
					done++
				}
			}
			require.Greater(t, done, len(all)/2, "the workers did most of the jobs")
			for i, s := range all {
				got, err := p.decode(s.job, s.msg, s.size)
				require.NoError(t, err, "message %d", i)
				want, err := gossip.EncodeFrame(s.msg)
				require.NoError(t, err)
				again, err := gossip.EncodeFrame(got)
				require.NoError(t, err)
				require.Equal(t, want, again, "message %d", i)
			}
			p.halt()
		})
	}
}
