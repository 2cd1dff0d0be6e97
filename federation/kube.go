package federation

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	appslisters "k8s.io/client-go/listers/apps/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// Labels and annotations Lattice puts on what it creates in a cluster.
const (
	LabelManagedBy     = "federation.lattice.dev/managed-by"
	ManagedByValue     = "lattice"
	LabelDeployment    = "federation.lattice.dev/federated-deployment"
	AnnotationTemplate = "federation.lattice.dev/template-hash"
	AnnotationMember   = "federation.lattice.dev/member"
)

// KubeConfig configures the kube driver.
type KubeConfig struct {
	// Kubeconfig is the path of a kubeconfig file; Context a context in it
	// (empty: the current one). An empty Kubeconfig means in-cluster
	// configuration (the pod's service account).
	Kubeconfig string
	Context    string
	// Member names the member, recorded on what it creates.
	Member string
	// Resync is the informers' resync period (default 10 minutes).
	Resync time.Duration
}

// Kube drives a real cluster through client-go: a Deployment per
// workload, in the FederatedDeployment's namespace (created if missing),
// labelled as Lattice's; informers keep deployments, pods and nodes in
// memory for status and capacity. Only Deployments labelled as Lattice's
// are ever listed, changed or deleted.
type Kube struct {
	cfg     KubeConfig
	client  kubernetes.Interface
	deploys appslisters.DeploymentLister
	pods    corelisters.PodLister
	nodes   corelisters.NodeLister
	stop    context.CancelFunc
}

var _ ClusterDriver = (*Kube)(nil)

// NewKube connects to the cluster and waits (up to ctx) for its caches.
func NewKube(ctx context.Context, cfg KubeConfig) (*Kube, error) {
	var rc *rest.Config
	var err error
	if cfg.Kubeconfig == "" {
		// In a pod: its service account.
		if rc, err = rest.InClusterConfig(); err != nil {
			return nil, fmt.Errorf("kube driver: in-cluster configuration: %w", err)
		}
	} else {
		rules := &clientcmd.ClientConfigLoadingRules{ExplicitPath: cfg.Kubeconfig}
		rc, err = clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: cfg.Context}).ClientConfig()
		if err != nil {
			return nil, fmt.Errorf("kube driver: kubeconfig %s: %w", cfg.Kubeconfig, err)
		}
	}
	rc.UserAgent = "lattice/" + cfg.Member
	client, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return nil, fmt.Errorf("kube driver: %w", err)
	}
	return newKube(ctx, cfg, client)
}

func newKube(ctx context.Context, cfg KubeConfig, client kubernetes.Interface) (*Kube, error) {
	if cfg.Resync <= 0 {
		cfg.Resync = 10 * time.Minute
	}
	owned := informers.NewSharedInformerFactoryWithOptions(client, cfg.Resync,
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = LabelManagedBy + "=" + ManagedByValue }))
	all := informers.NewSharedInformerFactoryWithOptions(client, cfg.Resync)
	k := &Kube{
		cfg:     cfg,
		client:  client,
		deploys: owned.Apps().V1().Deployments().Lister(),
		pods:    all.Core().V1().Pods().Lister(),
		nodes:   all.Core().V1().Nodes().Lister(),
	}
	runCtx, cancel := context.WithCancel(context.Background())
	k.stop = cancel
	owned.Start(runCtx.Done())
	all.Start(runCtx.Done())
	waitCtx, cancelWait := context.WithTimeout(ctx, time.Minute)
	defer cancelWait()
	for typ, ok := range owned.WaitForCacheSync(waitCtx.Done()) {
		if !ok {
			cancel()
			return nil, fmt.Errorf("kube driver: %v cache did not sync (is the cluster reachable?)", typ)
		}
	}
	for typ, ok := range all.WaitForCacheSync(waitCtx.Done()) {
		if !ok {
			cancel()
			return nil, fmt.Errorf("kube driver: %v cache did not sync (is the cluster reachable?)", typ)
		}
	}
	return k, nil
}

// Close stops the informers.
func (k *Kube) Close() { k.stop() }

// desiredDeployment builds the Deployment for w.
func (k *Kube) desiredDeployment(w Workload) *appsv1.Deployment {
	spec := *w.Spec.DeepCopy()
	replicas := w.Replicas
	spec.Replicas = &replicas
	// Pods are labelled as Lattice's (the pod informer finds them) and by
	// deployment; the selector keeps to those labels unless given.
	tl := map[string]string{}
	maps.Copy(tl, spec.Template.Labels)
	tl[LabelManagedBy] = ManagedByValue
	tl[LabelDeployment] = w.Name
	spec.Template.Labels = tl
	if spec.Selector == nil {
		spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{LabelManagedBy: ManagedByValue, LabelDeployment: w.Name}}
	}
	lb := map[string]string{LabelManagedBy: ManagedByValue, LabelDeployment: w.Name}
	maps.Copy(lb, w.Labels)
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: w.Namespace, Name: w.Name, Labels: lb,
			Annotations: map[string]string{AnnotationTemplate: w.TemplateHash(), AnnotationMember: k.cfg.Member},
		},
		Spec: spec,
	}
}

// Apply creates or updates the workload's Deployment.
func (k *Kube) Apply(ctx context.Context, w Workload) error {
	want := k.desiredDeployment(w)
	have, err := k.deploys.Deployments(w.Namespace).Get(w.Name)
	if apierrors.IsNotFound(err) {
		// Maybe it exists but is not ours: never take over a foreign one.
		if cur, gerr := k.client.AppsV1().Deployments(w.Namespace).Get(ctx, w.Name, metav1.GetOptions{}); gerr == nil {
			if cur.Labels[LabelManagedBy] != ManagedByValue {
				return fmt.Errorf("deployment %s exists and is not Lattice's; not touching it", w.Key())
			}
			have = cur
		} else if !apierrors.IsNotFound(gerr) {
			return gerr
		}
	} else if err != nil {
		return err
	}
	if have == nil {
		if err := k.ensureNamespace(ctx, w.Namespace); err != nil {
			return err
		}
		_, err := k.client.AppsV1().Deployments(w.Namespace).Create(ctx, want, metav1.CreateOptions{FieldManager: "lattice"})
		if apierrors.IsAlreadyExists(err) {
			return nil // the informer catches up; next pass updates
		}
		return err
	}
	same := have.Spec.Replicas != nil && *have.Spec.Replicas == w.Replicas &&
		have.Annotations[AnnotationTemplate] == want.Annotations[AnnotationTemplate] &&
		maps.Equal(have.Labels, want.Labels)
	if same {
		return nil
	}
	upd := have.DeepCopy()
	upd.Labels = want.Labels
	if upd.Annotations == nil {
		upd.Annotations = map[string]string{}
	}
	maps.Copy(upd.Annotations, want.Annotations)
	upd.Spec.Replicas = want.Spec.Replicas
	upd.Spec.Template = want.Spec.Template
	_, err = k.client.AppsV1().Deployments(w.Namespace).Update(ctx, upd, metav1.UpdateOptions{FieldManager: "lattice"})
	if apierrors.IsConflict(err) {
		return nil // changed meanwhile; the next pass retries on fresh state
	}
	return err
}

func (k *Kube) ensureNamespace(ctx context.Context, ns string) error {
	_, err := k.client.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		_, err = k.client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
		if apierrors.IsAlreadyExists(err) {
			return nil
		}
	}
	return err
}

// Delete removes the workload's Deployment if it is Lattice's.
func (k *Kube) Delete(ctx context.Context, namespace, name string) error {
	cur, err := k.client.AppsV1().Deployments(namespace).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if cur.Labels[LabelManagedBy] != ManagedByValue {
		return fmt.Errorf("deployment %s/%s is not Lattice's; not deleting it", namespace, name)
	}
	uid := cur.UID
	err = k.client.AppsV1().Deployments(namespace).Delete(ctx, name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}})
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

// Workloads lists Lattice's Deployments with their status.
func (k *Kube) Workloads(context.Context) ([]WorkloadStatus, error) {
	ds, err := k.deploys.List(labels.Everything())
	if err != nil {
		return nil, err
	}
	free, err := k.freePerNode()
	if err != nil {
		return nil, err
	}
	var out []WorkloadStatus
	for _, d := range ds {
		s := WorkloadStatus{Namespace: d.Namespace, Name: d.Name, Ready: d.Status.ReadyReplicas}
		if d.Spec.Replicas != nil {
			s.Desired = *d.Spec.Replicas
		}
		sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
		if err != nil {
			continue
		}
		pods, err := k.pods.Pods(d.Namespace).List(sel)
		if err != nil {
			return nil, err
		}
		var placed int32
		for _, p := range pods {
			if p.DeletionTimestamp != nil || p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
				continue
			}
			if p.Spec.NodeName != "" {
				placed++
			} else if unschedulable(p) {
				s.Unschedulable++
			}
		}
		cpu, mem := podRequests(&d.Spec)
		s.Capacity = max(placed, s.Ready) + fitFree(free, cpu, mem)
		out = append(out, s)
	}
	sortWorkloads(out)
	return out, nil
}

func unschedulable(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse && c.Reason == corev1.PodReasonUnschedulable {
			return true
		}
	}
	return false
}

// freePerNode is each schedulable, ready node's allocatable minus the
// requests of the pods bound to it.
func (k *Kube) freePerNode() ([]nodeFree, error) {
	nodes, err := k.nodes.List(labels.Everything())
	if err != nil {
		return nil, err
	}
	free := map[string]*nodeFree{}
	for _, n := range nodes {
		if n.Spec.Unschedulable || !nodeReady(n) {
			continue
		}
		a := n.Status.Allocatable
		free[n.Name] = &nodeFree{cpu: a.Cpu().MilliValue(), mem: a.Memory().Value(), pods: a.Pods().Value()}
	}
	pods, err := k.pods.List(labels.Everything())
	if err != nil {
		return nil, err
	}
	for _, p := range pods {
		f, ok := free[p.Spec.NodeName]
		if !ok || p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
			continue
		}
		for _, c := range p.Spec.Containers {
			f.cpu -= c.Resources.Requests.Cpu().MilliValue()
			f.mem -= c.Resources.Requests.Memory().Value()
		}
		f.pods--
	}
	out := make([]nodeFree, 0, len(free))
	for _, f := range free {
		out = append(out, *f) // only ever summed: order does not matter
	}
	return out, nil
}

func nodeReady(n *corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// Resources sums the ready nodes' allocatable (capacity) and what their
// pods leave free.
func (k *Kube) Resources(context.Context) (corev1.ResourceList, corev1.ResourceList, error) {
	nodes, err := k.nodes.List(labels.Everything())
	if err != nil {
		return nil, nil, err
	}
	var cpu, mem, pods int64
	for _, n := range nodes {
		if n.Spec.Unschedulable || !nodeReady(n) {
			continue
		}
		a := n.Status.Allocatable
		cpu += a.Cpu().MilliValue()
		mem += a.Memory().Value()
		pods += a.Pods().Value()
	}
	free, err := k.freePerNode()
	if err != nil {
		return nil, nil, err
	}
	var fcpu, fmem, fpods int64
	for _, f := range free {
		fcpu += max(f.cpu, 0)
		fmem += max(f.mem, 0)
		fpods += max(f.pods, 0)
	}
	if len(nodes) == 0 {
		return resourceList(0, 0, 0), resourceList(0, 0, 0), errors.New("the cluster has no nodes")
	}
	return resourceList(cpu, mem, pods), resourceList(fcpu, fmem, fpods), nil
}
