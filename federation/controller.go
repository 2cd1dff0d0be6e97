package federation

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/lattice-federation/lattice/crdt"
)

// ControllerConfig configures a member's federation controller.
type ControllerConfig struct {
	// Member is this member's name (its replica ID) and DID its identity.
	Member string
	DID    string
	// Labels (region, zone, provider, …) and Endpoints describe it.
	Labels    map[string]string
	Endpoints []string
	// ClusterName names the driver kind ("embedded", "kube").
	ClusterName string
	Store       *crdt.Store
	Driver      ClusterDriver
	// Live returns the membership view (self included); LiveSince when each
	// member last entered it (may be nil).
	Live      func() []string
	LiveSince func() map[string]time.Time
	// LiveChanged, if set, wakes the controller when the view changes, so
	// a dead member's share moves without waiting for the next tick.
	LiveChanged <-chan struct{}
	// Interval is the reconcile period (changes in the store also trigger
	// a pass); HeartbeatInterval how often the Member object is refreshed.
	Interval          time.Duration
	HeartbeatInterval time.Duration
	// HTTPClient posts SLO alerts (nil: a client with a 5 s timeout).
	HTTPClient *http.Client
	Logger     *slog.Logger
	Registry   prometheus.Registerer
	Now        func() time.Time
}

// DefaultControllerConfig returns the defaults: reconcile every second,
// heartbeat every 5 seconds.
func DefaultControllerConfig() ControllerConfig {
	return ControllerConfig{Interval: time.Second, HeartbeatInterval: 5 * time.Second, ClusterName: "embedded"}
}

// Controller runs one member's share of every FederatedDeployment on its
// cluster and publishes its Member object and reports.
type Controller struct {
	cfg         ControllerConfig
	log         *slog.Logger
	incarnation string
	metrics     *controllerMetrics

	mu          sync.Mutex
	lastMember  []byte
	lastBeat    time.Time
	lastReports map[string]PlacementReport
	slo         map[string]*sloState
}

type sloState struct {
	since  time.Time
	reason string
}

type controllerMetrics struct {
	reconcile   prometheus.Histogram
	workloads   prometheus.Gauge
	replicas    *prometheus.GaugeVec
	violations  prometheus.Counter
	reaction    prometheus.Histogram
	alerts      *prometheus.CounterVec
	driverError prometheus.Counter
}

// NewController checks cfg and returns a controller.
func NewController(cfg ControllerConfig) (*Controller, error) {
	switch {
	case cfg.Member == "" || cfg.DID == "":
		return nil, errors.New("federation controller: member name and DID are required")
	case cfg.Store == nil || cfg.Driver == nil || cfg.Live == nil:
		return nil, errors.New("federation controller: store, driver and liveness view are required")
	case cfg.Interval <= 0 || cfg.HeartbeatInterval <= 0:
		return nil, errors.New("federation controller: intervals must be positive")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 5 * time.Second}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Registry == nil {
		cfg.Registry = prometheus.NewRegistry()
	}
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, err
	}
	m := &controllerMetrics{
		reconcile: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "lattice_federation_reconcile_seconds", Help: "Duration of a reconcile pass."}),
		workloads: prometheus.NewGauge(prometheus.GaugeOpts{Name: "lattice_federation_workloads", Help: "Workloads this member runs."}),
		replicas: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "lattice_federation_local_replicas", Help: "Replicas on this member's cluster, by state."},
			[]string{"state"}),
		violations: prometheus.NewCounter(prometheus.CounterOpts{Name: "lattice_federation_slo_violations_total", Help: "SLO violations started (seen by the deployment's SLO owner)."}),
		reaction: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "lattice_federation_slo_reaction_seconds",
			Help: "Time from an SLO violation's start to its end (re-placement done).", Buckets: prometheus.ExponentialBuckets(0.5, 2, 12)}),
		alerts:      prometheus.NewCounterVec(prometheus.CounterOpts{Name: "lattice_federation_alerts_total", Help: "SLO alerts posted to webhooks, by result."}, []string{"result"}),
		driverError: prometheus.NewCounter(prometheus.CounterOpts{Name: "lattice_federation_driver_errors_total", Help: "Cluster driver calls that failed."}),
	}
	cfg.Registry.MustRegister(m.reconcile, m.workloads, m.replicas, m.violations, m.reaction, m.alerts, m.driverError)
	return &Controller{
		cfg:         cfg,
		log:         cfg.Logger,
		incarnation: cfg.Now().UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(b[:]),
		metrics:     m,
		lastReports: map[string]PlacementReport{},
		slo:         map[string]*sloState{},
	}, nil
}

// Run reconciles until ctx ends.
func (c *Controller) Run(ctx context.Context) error {
	wake := make(chan struct{}, 1)
	go func() {
		for ctx.Err() == nil {
			w, err := c.cfg.Store.Watch(ctx, Group+"/", c.cfg.Store.ResourceVersion())
			if err != nil {
				select {
				case <-ctx.Done():
					return
				case <-time.After(time.Second):
				}
				continue
			}
			for range w.Events() {
				select {
				case wake <- struct{}{}:
				default:
				}
			}
			w.Stop()
		}
	}()
	t := time.NewTicker(c.cfg.Interval)
	defer t.Stop()
	for {
		if err := c.ReconcileOnce(ctx); err != nil && ctx.Err() == nil {
			c.log.Warn("federation reconcile failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		case <-c.cfg.LiveChanged:
		case <-wake:
			// Coalesce bursts of store changes.
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(50 * time.Millisecond):
			}
		}
	}
}

// ReconcileOnce runs one pass: publish the Member object, compute the plan
// from the store, act on the cluster, publish reports, watch SLOs.
func (c *Controller) ReconcileOnce(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	start := time.Now()
	defer func() { c.metrics.reconcile.Observe(time.Since(start).Seconds()) }()
	now := c.cfg.Now()
	if err := c.publishMember(ctx, now); err != nil {
		return err
	}
	v, err := c.view(ctx, now)
	if err != nil {
		return err
	}
	plan := Reconcile(v)
	for _, w := range plan.Apply {
		if err := c.cfg.Driver.Apply(ctx, w); err != nil {
			c.metrics.driverError.Inc()
			c.log.Warn("cluster apply failed", "workload", w.Key(), "replicas", w.Replicas, "err", err)
		}
	}
	for _, w := range plan.Delete {
		c.log.Info("removing workload no longer assigned here", "workload", w.Key())
		if err := c.cfg.Driver.Delete(ctx, w.Namespace, w.Name); err != nil {
			c.metrics.driverError.Inc()
			c.log.Warn("cluster delete failed", "workload", w.Key(), "err", err)
		}
	}
	var desired, ready, unsched int32
	for _, r := range plan.Reports {
		desired += r.Desired
		ready += r.Ready
		unsched += r.Unschedulable
		if err := c.publishReport(ctx, r); err != nil {
			return err
		}
	}
	c.metrics.workloads.Set(float64(len(plan.Apply)))
	c.metrics.replicas.WithLabelValues("desired").Set(float64(desired))
	c.metrics.replicas.WithLabelValues("ready").Set(float64(ready))
	c.metrics.replicas.WithLabelValues("unschedulable").Set(float64(unsched))
	// Reports on deployments that are gone are removed (each member
	// removes its own), so a recreated deployment starts from none.
	live := map[string]bool{}
	for _, d := range v.Deployments {
		live[DeploymentKey(d)] = true
	}
	for _, r := range v.Reports {
		if r.Member != c.cfg.Member || live[r.Deployment] {
			continue
		}
		ns, name, _ := strings.Cut(r.Deployment, "/")
		if key, err := PlacementStoreKey(ns, name, r.Member); err == nil {
			if _, err := c.cfg.Store.Delete(ctx, key, 0); err != nil && !errors.Is(err, crdt.ErrNotFound) {
				c.log.Warn("removing the report of a deleted deployment failed", "deployment", r.Deployment, "err", err)
			}
		}
		delete(c.lastReports, r.Deployment)
	}
	// Judge SLOs on this pass's own reports, not the previous ones.
	v.Reports = slices.DeleteFunc(v.Reports, func(r PlacementReport) bool { return r.Member == c.cfg.Member })
	v.Reports = append(v.Reports, plan.Reports...)
	c.watchSLOs(ctx, v, now)
	return nil
}

func (c *Controller) publishMember(ctx context.Context, now time.Time) error {
	capacity, alloc, err := c.cfg.Driver.Resources(ctx)
	cond := metav1.Condition{Type: ConditionReady, Status: metav1.ConditionTrue, Reason: "ClusterReachable", Message: "the cluster answers"}
	if err != nil {
		c.metrics.driverError.Inc()
		cond = metav1.Condition{Type: ConditionReady, Status: metav1.ConditionFalse, Reason: "ClusterUnreachable", Message: err.Error()}
	}
	m := Member{
		TypeMeta:   metav1.TypeMeta{APIVersion: APIVersion, Kind: KindMember},
		ObjectMeta: metav1.ObjectMeta{Name: c.cfg.Member, Labels: c.cfg.Labels},
		Spec:       MemberSpec{DID: c.cfg.DID, Endpoints: c.cfg.Endpoints, Cluster: c.cfg.ClusterName},
		Status:     MemberStatus{Capacity: capacity, Allocatable: alloc, Incarnation: c.incarnation, Conditions: []metav1.Condition{cond}},
	}
	// Compare without the heartbeat: write on change, or when it is due.
	cmp, err := json.Marshal(m)
	if err != nil {
		return err
	}
	if bytes.Equal(cmp, c.lastMember) && now.Sub(c.lastBeat) < c.cfg.HeartbeatInterval {
		return nil
	}
	m.Status.LastHeartbeat = metav1.NewTime(now)
	for i := range m.Status.Conditions {
		m.Status.Conditions[i].LastTransitionTime = metav1.NewTime(now)
	}
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	key, err := MemberStoreKey(c.cfg.Member)
	if err != nil {
		return err
	}
	if _, err := c.cfg.Store.Put(ctx, key, b, crdt.PutOptions{}); err != nil {
		return fmt.Errorf("publish member: %w", err)
	}
	c.lastMember, c.lastBeat = cmp, now
	return nil
}

func (c *Controller) publishReport(ctx context.Context, r PlacementReport) error {
	prev, ok := c.lastReports[r.Deployment]
	cmp := r
	cmp.Updated = prev.Updated
	if ok && equalReports(cmp, prev) {
		return nil
	}
	ns, name, _ := strings.Cut(r.Deployment, "/")
	key, err := PlacementStoreKey(ns, name, r.Member)
	if err != nil {
		return err
	}
	obj := PlacementStatus{
		TypeMeta:   metav1.TypeMeta{APIVersion: APIVersion, Kind: KindPlacementStatus},
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name + "." + r.Member},
		Spec:       r,
	}
	b, err := json.Marshal(obj)
	if err != nil {
		return err
	}
	if _, err := c.cfg.Store.Put(ctx, key, b, crdt.PutOptions{}); err != nil {
		return fmt.Errorf("publish report: %w", err)
	}
	c.lastReports[r.Deployment] = r
	return nil
}

func equalReports(a, b PlacementReport) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return bytes.Equal(x, y)
}

// view gathers the replicated state, the liveness view and the cluster.
func (c *Controller) view(ctx context.Context, now time.Time) (View, error) {
	v := View{Self: c.cfg.Member, Now: now, Live: slices.Sorted(slices.Values(c.cfg.Live())), Incarnation: c.incarnation}
	if c.cfg.LiveSince != nil {
		v.LiveSince = c.cfg.LiveSince()
	}
	if !slices.Contains(v.Live, c.cfg.Member) {
		v.Live = append(v.Live, c.cfg.Member)
		slices.Sort(v.Live)
	}
	objs, _, err := c.cfg.Store.List(DeploymentPrefix)
	if err != nil {
		return v, err
	}
	for _, o := range objs {
		d, err := DecodeDeployment(o)
		if err != nil {
			c.log.Debug("skipping invalid federated deployment", "err", err)
			continue
		}
		v.Deployments = append(v.Deployments, d)
	}
	if objs, _, err = c.cfg.Store.List(MemberPrefix); err != nil {
		return v, err
	}
	for _, o := range objs {
		if m, err := DecodeMember(o); err == nil {
			v.Members = append(v.Members, m)
		}
	}
	if objs, _, err = c.cfg.Store.List(PlacementPrefix); err != nil {
		return v, err
	}
	for _, o := range objs {
		if r, err := DecodePlacement(o); err == nil {
			v.Reports = append(v.Reports, r)
		}
	}
	if v.Local, err = c.cfg.Driver.Workloads(ctx); err != nil {
		c.metrics.driverError.Inc()
		return v, fmt.Errorf("list cluster workloads: %w", err)
	}
	// Our own freshest reports override what replicated back.
	for i, r := range v.Reports {
		if r.Member == c.cfg.Member {
			if mine, ok := c.lastReports[r.Deployment]; ok {
				v.Reports[i] = mine
			}
		}
	}
	return v, nil
}

// sloOwner reports whether this member watches d's SLO: the live member
// ranked first for d, so exactly one member per side of a partition
// alerts.
func sloOwner(d *FederatedDeployment, v View) bool {
	best, bestScore := "", uint64(0)
	for _, m := range v.Members {
		if !v.live(m.Name) {
			continue
		}
		s := rank(rankKey(d), m.Spec.DID, m.Name)
		if best == "" || s < bestScore || (s == bestScore && m.Name < best) {
			best, bestScore = m.Name, s
		}
	}
	return best == v.Self
}

// Alert is the JSON body posted to SLO webhooks.
type Alert struct {
	Deployment string    `json:"deployment"`
	State      string    `json:"state"` // "violated" or "resolved"
	Reason     string    `json:"reason"`
	Since      time.Time `json:"since"`
	// DurationSeconds is set on "resolved": how long the violation lasted.
	DurationSeconds float64 `json:"durationSeconds,omitempty"`
	ReportedBy      string  `json:"reportedBy"`
}

func (c *Controller) watchSLOs(ctx context.Context, v View, now time.Time) {
	seen := map[string]bool{}
	for _, d := range v.Deployments {
		if d.Spec.SLO == nil || !sloOwner(d, v) {
			continue
		}
		key := DeploymentKey(d)
		seen[key] = true
		st := AggregateStatus(d, v.Reports, v.Live, now)
		var violated bool
		var reason string
		for _, cnd := range st.Conditions {
			if cnd.Type == ConditionSLOViolated {
				violated, reason = cnd.Status == metav1.ConditionTrue, cnd.Message
			}
		}
		cur := c.slo[key]
		switch {
		case violated && cur == nil:
			c.slo[key] = &sloState{since: now, reason: reason}
			c.metrics.violations.Inc()
			c.log.Warn("SLO violated", "deployment", key, "reason", reason)
			c.alert(ctx, d, Alert{Deployment: key, State: "violated", Reason: reason, Since: now, ReportedBy: c.cfg.Member})
		case !violated && cur != nil:
			dur := now.Sub(cur.since)
			c.metrics.reaction.Observe(dur.Seconds())
			delete(c.slo, key)
			c.log.Info("SLO met again", "deployment", key, "after", dur.Round(time.Millisecond))
			c.alert(ctx, d, Alert{Deployment: key, State: "resolved", Reason: reason, Since: cur.since, DurationSeconds: dur.Seconds(), ReportedBy: c.cfg.Member})
		}
	}
	for _, k := range slices.Sorted(maps.Keys(c.slo)) {
		if !seen[k] {
			delete(c.slo, k)
		}
	}
}

// alert posts to every webhook in the background; failures are counted
// and logged, never retried forever.
func (c *Controller) alert(ctx context.Context, d *FederatedDeployment, a Alert) {
	body, err := json.Marshal(a)
	if err != nil {
		return
	}
	for _, hook := range d.Spec.SLO.Webhooks {
		go func() {
			req, err := http.NewRequestWithContext(ctx, http.MethodPost, hook, bytes.NewReader(body))
			if err != nil {
				c.metrics.alerts.WithLabelValues("error").Inc()
				return
			}
			req.Header.Set("Content-Type", "application/json")
			resp, err := c.cfg.HTTPClient.Do(req)
			if err != nil {
				c.metrics.alerts.WithLabelValues("error").Inc()
				c.log.Warn("SLO alert not delivered", "webhook", hook, "err", err)
				return
			}
			resp.Body.Close()
			if resp.StatusCode >= 300 {
				c.metrics.alerts.WithLabelValues("error").Inc()
				c.log.Warn("SLO alert refused", "webhook", hook, "status", resp.Status)
				return
			}
			c.metrics.alerts.WithLabelValues("ok").Inc()
		}()
	}
}
