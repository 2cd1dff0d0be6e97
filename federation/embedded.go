package federation

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// EmbeddedConfig sizes a simulated cluster.
type EmbeddedConfig struct {
	Nodes       int
	NodeCPU     resource.Quantity
	NodeMemory  resource.Quantity
	PodsPerNode int
	// StartDelay is how long a placed pod takes to become ready.
	StartDelay time.Duration
}

// DefaultEmbeddedConfig is a small cluster: 4 nodes of 4 CPUs and 8 GiB,
// 110 pods each, pods ready 2 s after placement.
func DefaultEmbeddedConfig() EmbeddedConfig {
	return EmbeddedConfig{
		Nodes:       4,
		NodeCPU:     resource.MustParse("4"),
		NodeMemory:  resource.MustParse("8Gi"),
		PodsPerNode: 110,
		StartDelay:  2 * time.Second,
	}
}

// Validate checks the configuration.
func (c EmbeddedConfig) Validate() error {
	switch {
	case c.Nodes < 1 || c.Nodes > 10000:
		return fmt.Errorf("embedded cluster: %d nodes, want 1 to 10000", c.Nodes)
	case c.NodeCPU.Sign() <= 0 || c.NodeMemory.Sign() <= 0:
		return fmt.Errorf("embedded cluster: node CPU and memory must be positive")
	case c.PodsPerNode < 1:
		return fmt.Errorf("embedded cluster: pods per node must be positive")
	case c.StartDelay < 0:
		return fmt.Errorf("embedded cluster: start delay must not be negative")
	}
	return nil
}

// Embedded is an in-process simulated cluster: nodes with CPU, memory and
// a pod limit; pods placed by their requests (most free CPU first, ties by
// node index: deterministic), ready StartDelay after placement; pods that
// fit nowhere stay pending (unschedulable) and are retried whenever
// anything changes. Nodes can be failed and recovered (failure
// injection): a failed node's pods are lost and rescheduled.
//
// Time comes from the clock given to NewEmbedded, so tests drive it.
type Embedded struct {
	cfg   EmbeddedConfig
	now   func() time.Time
	mu    sync.Mutex
	nodes []*node
	wls   map[string]*workload
	seq   uint64
}

type node struct {
	cpu, mem int64 // milli-CPU, bytes used
	pods     int
	failed   bool
}

type workload struct {
	w        Workload
	cpu, mem int64
	pods     []*pod
}

type pod struct {
	id      uint64
	node    int // -1: pending
	started time.Time
	// cpu, mem are what the pod was charged on its node (the template may
	// change its requests later).
	cpu, mem int64
}

var _ ClusterDriver = (*Embedded)(nil)

// NewEmbedded returns an empty simulated cluster with clock now (nil:
// time.Now).
func NewEmbedded(cfg EmbeddedConfig, now func() time.Time) (*Embedded, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if now == nil {
		now = time.Now
	}
	e := &Embedded{cfg: cfg, now: now, wls: map[string]*workload{}}
	for range cfg.Nodes {
		e.nodes = append(e.nodes, &node{})
	}
	return e, nil
}

// Apply creates or updates a workload and (re)places its pods.
func (e *Embedded) Apply(_ context.Context, w Workload) error {
	if w.Replicas < 0 {
		return fmt.Errorf("workload %s: negative replicas", w.Key())
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	wl := e.wls[w.Key()]
	if wl == nil {
		wl = &workload{}
		e.wls[w.Key()] = wl
	}
	wl.w = w
	wl.cpu, wl.mem = podRequests(&w.Spec)
	// Scale down: pending first, then not ready, then newest.
	now := e.now()
	for int32(len(wl.pods)) > w.Replicas {
		victim := len(wl.pods) - 1
		best := -1
		for i, p := range wl.pods {
			s := e.podScore(p, now)
			if best < 0 || s < best || (s == best && p.id > wl.pods[victim].id) {
				victim, best = i, s
			}
		}
		e.release(wl, wl.pods[victim])
		wl.pods = slices.Delete(wl.pods, victim, victim+1)
	}
	for int32(len(wl.pods)) < w.Replicas {
		e.seq++
		wl.pods = append(wl.pods, &pod{id: e.seq, node: -1})
	}
	e.schedule()
	return nil
}

// podScore orders pods for removal: pending 0, starting 1, ready 2.
func (e *Embedded) podScore(p *pod, now time.Time) int {
	switch {
	case p.node < 0:
		return 0
	case !e.ready(p, now):
		return 1
	}
	return 2
}

func (e *Embedded) ready(p *pod, now time.Time) bool {
	return p.node >= 0 && !e.nodes[p.node].failed && now.Sub(p.started) >= e.cfg.StartDelay
}

func (e *Embedded) release(wl *workload, p *pod) {
	if p.node < 0 {
		return
	}
	n := e.nodes[p.node]
	n.cpu -= p.cpu
	n.mem -= p.mem
	n.pods--
	p.node = -1
}

// schedule places pending pods, workloads in key order, pods in age order.
func (e *Embedded) schedule() {
	now := e.now()
	keys := make([]string, 0, len(e.wls))
	for k := range e.wls {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	capCPU, capMem := e.cfg.NodeCPU.MilliValue(), e.cfg.NodeMemory.Value()
	for _, k := range keys {
		wl := e.wls[k]
		for _, p := range wl.pods {
			if p.node >= 0 {
				continue
			}
			best := -1
			for i, n := range e.nodes {
				if n.failed || n.pods >= e.cfg.PodsPerNode || n.cpu+wl.cpu > capCPU || n.mem+wl.mem > capMem {
					continue
				}
				if best < 0 || capCPU-n.cpu > capCPU-e.nodes[best].cpu {
					best = i
				}
			}
			if best < 0 {
				continue
			}
			n := e.nodes[best]
			n.cpu += wl.cpu
			n.mem += wl.mem
			n.pods++
			p.node, p.started, p.cpu, p.mem = best, now, wl.cpu, wl.mem
		}
	}
}

// Delete removes a workload and frees its pods.
func (e *Embedded) Delete(_ context.Context, namespace, name string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	key := namespace + "/" + name
	if wl, ok := e.wls[key]; ok {
		for _, p := range wl.pods {
			e.release(wl, p)
		}
		delete(e.wls, key)
		e.schedule()
	}
	return nil
}

// Workloads lists every workload's status, sorted by key.
func (e *Embedded) Workloads(context.Context) ([]WorkloadStatus, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.schedule()
	now := e.now()
	free := e.freeLocked()
	var out []WorkloadStatus
	for _, wl := range e.wls {
		s := WorkloadStatus{Namespace: wl.w.Namespace, Name: wl.w.Name, Desired: wl.w.Replicas}
		for _, p := range wl.pods {
			switch {
			case p.node < 0:
				s.Unschedulable++
			case e.ready(p, now):
				s.Ready++
			}
		}
		s.Capacity = int32(len(wl.pods)) - s.Unschedulable + fitFree(free, wl.cpu, wl.mem)
		out = append(out, s)
	}
	sortWorkloads(out)
	return out, nil
}

// freeLocked returns each healthy node's free resources.
func (e *Embedded) freeLocked() []nodeFree {
	var out []nodeFree
	for _, n := range e.nodes {
		if n.failed {
			continue
		}
		out = append(out, nodeFree{cpu: e.cfg.NodeCPU.MilliValue() - n.cpu, mem: e.cfg.NodeMemory.Value() - n.mem, pods: int64(e.cfg.PodsPerNode - n.pods)})
	}
	return out
}

// Resources returns total capacity and free resources of healthy nodes.
func (e *Embedded) Resources(context.Context) (corev1.ResourceList, corev1.ResourceList, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	var cpu, mem, pods, fcpu, fmem, fpods int64
	for _, n := range e.nodes {
		if n.failed {
			continue
		}
		cpu += e.cfg.NodeCPU.MilliValue()
		mem += e.cfg.NodeMemory.Value()
		pods += int64(e.cfg.PodsPerNode)
		fcpu += e.cfg.NodeCPU.MilliValue() - n.cpu
		fmem += e.cfg.NodeMemory.Value() - n.mem
		fpods += int64(e.cfg.PodsPerNode - n.pods)
	}
	return resourceList(cpu, mem, pods), resourceList(fcpu, fmem, fpods), nil
}

// FailNode fails node i: its pods are lost and go back to pending, to be
// placed on other nodes if they fit.
func (e *Embedded) FailNode(i int) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if i < 0 || i >= len(e.nodes) {
		return fmt.Errorf("no node %d (have %d)", i, len(e.nodes))
	}
	for _, wl := range e.wls {
		for _, p := range wl.pods {
			if p.node == i {
				e.release(wl, p)
			}
		}
	}
	e.nodes[i].failed = true
	e.schedule()
	return nil
}

// RecoverNode brings node i back, empty.
func (e *Embedded) RecoverNode(i int) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if i < 0 || i >= len(e.nodes) {
		return fmt.Errorf("no node %d (have %d)", i, len(e.nodes))
	}
	e.nodes[i] = &node{}
	e.schedule()
	return nil
}
