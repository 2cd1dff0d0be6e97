package sim

import "math"

// sharedCores is the host's cores under processor sharing: every member
// with a message in computation runs at once, each at an equal share of
// the cores (at most one core each), as the Go scheduler and the kernel
// time-slice the members' goroutines. Unlike the FIFO pool (servers) a
// message does not wait for every message that arrived anywhere before it,
// so a write's critical path can overtake the backlog other writes left.
//
// Completion times depend on later arrivals, so they are not computed up
// front: the world schedules the next completion (evCoreDone) and every
// change of the job set supersedes it (version).
type sharedCores struct {
	cores   float64
	jobs    []coreJob
	last    int64 // when the jobs' remaining work was last brought up to date
	version int64 // of the completion event that is current
}

// coreJob is one member's message in computation.
type coreJob struct {
	member int32
	slot   int32
	left   float64 // work remaining, ns of one core
}

func (h *sharedCores) rate() float64 {
	return min(1, h.cores/float64(len(h.jobs)))
}

// advance brings the remaining work up to now.
func (h *sharedCores) advance(now int64) {
	if len(h.jobs) > 0 && now > h.last {
		done := float64(now-h.last) * h.rate()
		for i := range h.jobs {
			h.jobs[i].left -= done
		}
	}
	h.last = now
}

// add starts a message's computation of work ns at now.
func (h *sharedCores) add(now int64, member, slot int32, work int64) {
	h.advance(now)
	h.jobs = append(h.jobs, coreJob{member: member, slot: slot, left: float64(work)})
}

// remove drops member's job (it crashed) at now and appends it to
// removed.
func (h *sharedCores) remove(now int64, member int32, removed []coreJob) []coreJob {
	h.advance(now)
	h.jobs = deleteJobs(h.jobs, func(j coreJob) bool { return j.member == member }, &removed)
	return removed
}

// finish removes the jobs done by now and appends them to done, in the
// order they started.
func (h *sharedCores) finish(now int64, done []coreJob) []coreJob {
	h.advance(now)
	h.jobs = deleteJobs(h.jobs, func(j coreJob) bool { return j.left <= 0.5 }, &done)
	return done
}

// next is when the first job in computation will be done (false: none).
// Every call makes the returned time the current completion event.
func (h *sharedCores) next() (at, version int64, ok bool) {
	h.version++
	if len(h.jobs) == 0 {
		return 0, h.version, false
	}
	least := h.jobs[0].left
	for _, j := range h.jobs[1:] {
		least = min(least, j.left)
	}
	return h.last + int64(math.Ceil(max(0, least)/h.rate())), h.version, true
}

// deleteJobs removes the jobs drop matches, keeping the others' order,
// and appends the removed ones to removed when it is not nil.
func deleteJobs(jobs []coreJob, drop func(coreJob) bool, removed *[]coreJob) []coreJob {
	kept := jobs[:0]
	for _, j := range jobs {
		if !drop(j) {
			kept = append(kept, j)
		} else if removed != nil {
			*removed = append(*removed, j)
		}
	}
	return kept
}
