package apiserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metainternalversion "k8s.io/apimachinery/pkg/apis/meta/internalversion"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/uuid"
	"k8s.io/apimachinery/pkg/util/validation/field"
	genericapirequest "k8s.io/apiserver/pkg/endpoints/request"
	"k8s.io/apiserver/pkg/registry/rest"
	"k8s.io/apiserver/pkg/storage/names"

	"github.com/lattice-federation/lattice/crdt"
	"github.com/lattice-federation/lattice/federation"
)

var deploymentsInfo = resourceInfo{
	kind: federation.KindFederatedDeployment, plural: "federateddeployments", singular: "federateddeployment",
	shortNames: []string{"fdeploy", "fd"}, categories: []string{"all", "lattice"}, namespaced: true,
}

// deployments serves FederatedDeployments: the spec from its store key,
// the status aggregated on read from the live members' placement reports
// (each written only by its member).
type deployments struct {
	store *crdt.Store
	// live is this member's membership view (self included).
	live func() []string
	now  func() time.Time
	// reports caches decoded placement reports by key and resourceVersion:
	// a list decodes each changed report once, not once per request.
	reports reportCache
}

// reportCache holds decoded placement reports. A full list replaces it
// with what it saw, so reports of deleted deployments do not linger.
type reportCache struct {
	mu sync.Mutex
	m  map[crdt.Key]cachedReport
}

type cachedReport struct {
	rv  uint64
	r   federation.PlacementReport
	err error
}

func (c *reportCache) decode(o crdt.Object) (federation.PlacementReport, error) {
	c.mu.Lock()
	e, ok := c.m[o.Key]
	c.mu.Unlock()
	if ok && e.rv == o.ResourceVersion {
		return e.r, e.err
	}
	r, err := federation.DecodePlacement(o)
	c.mu.Lock()
	if c.m == nil {
		c.m = map[crdt.Key]cachedReport{}
	}
	c.m[o.Key] = cachedReport{rv: o.ResourceVersion, r: r, err: err}
	c.mu.Unlock()
	return r, err
}

// retain drops every entry whose key is not in keep.
func (c *reportCache) retain(keep []crdt.Object) {
	seen := make(map[crdt.Key]struct{}, len(keep))
	for _, o := range keep {
		seen[o.Key] = struct{}{}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for k := range c.m {
		if _, ok := seen[k]; !ok {
			delete(c.m, k)
		}
	}
}

func (d *deployments) info() resourceInfo        { return deploymentsInfo }
func (d *deployments) newObject() runtime.Object { return &federation.FederatedDeployment{} }
func (d *deployments) newList(items []runtime.Object) runtime.Object {
	return &federation.FederatedDeploymentList{Items: itemsOf[federation.FederatedDeployment](items)}
}

func notFound(plural, name string) error {
	return apierrors.NewNotFound(GroupVersion.WithResource(plural).GroupResource(), name)
}

// decodeDeployment decodes a stored deployment without validating it, so
// an object a newer or faulty writer stored can still be read and deleted.
func decodeDeployment(o crdt.Object) (*federation.FederatedDeployment, error) {
	var fd federation.FederatedDeployment
	if err := json.Unmarshal(o.Value, &fd); err != nil {
		return nil, fmt.Errorf("%s: %w", o.Key, err)
	}
	_, _, ns, name := o.Key.Parts()
	fd.Namespace, fd.Name = ns, name
	fd.APIVersion, fd.Kind = federation.APIVersion, federation.KindFederatedDeployment
	fd.Generation = int64(o.Generation)
	fd.ResourceVersion = strconv.FormatUint(o.ResourceVersion, 10)
	return &fd, nil
}

// withStatus fills in the aggregated status and the object's
// resourceVersion: the newest of its spec and its live members' reports.
func (d *deployments) withStatus(fd *federation.FederatedDeployment, reports []crdt.Object, live []string) {
	rv, _ := strconv.ParseUint(fd.ResourceVersion, 10, 64)
	rs := make([]federation.PlacementReport, 0, len(reports))
	for _, o := range reports {
		r, err := d.reports.decode(o)
		if err != nil {
			continue
		}
		if _, ok := slices.BinarySearch(live, r.Member); !ok {
			continue
		}
		rs = append(rs, r)
		rv = max(rv, o.ResourceVersion)
	}
	fd.Status = federation.AggregateStatus(fd, rs, live, d.now())
	fd.ResourceVersion = strconv.FormatUint(rv, 10)
}

func deploymentKey(ns, name string) (crdt.Key, error) {
	return crdt.MakeKey(federation.Group, federation.KindFederatedDeployment, ns, name)
}

func (d *deployments) get(_ context.Context, ns, name string) (runtime.Object, error) {
	fd, _, err := d.read(ns, name)
	if err != nil {
		return nil, err
	}
	return fd, nil
}

// read returns the deployment and the resourceVersion of its spec key.
func (d *deployments) read(ns, name string) (*federation.FederatedDeployment, uint64, error) {
	key, err := deploymentKey(ns, name)
	if err != nil {
		return nil, 0, notFound(deploymentsInfo.plural, name)
	}
	o, err := d.store.Get(key)
	if err != nil {
		if errors.Is(err, crdt.ErrNotFound) {
			return nil, 0, notFound(deploymentsInfo.plural, name)
		}
		return nil, 0, storeError(err)
	}
	fd, err := decodeDeployment(o)
	if err != nil {
		return nil, 0, apierrors.NewInternalError(err)
	}
	// Only live members' reports count (AggregateStatus), so they are
	// read by key, one per live member, rather than by scanning: a get, and
	// every watch event, costs O(members), not O(store).
	live := sortedLive(d.live)
	reports := make([]crdt.Object, 0, len(live))
	for _, m := range live {
		key, err := federation.PlacementStoreKey(ns, name, m)
		if err != nil {
			continue
		}
		r, err := d.store.Get(key)
		switch {
		case err == nil:
			reports = append(reports, r)
		case !errors.Is(err, crdt.ErrNotFound):
			return nil, 0, storeError(err)
		}
	}
	d.withStatus(fd, reports, live)
	return fd, o.ResourceVersion, nil
}

func (d *deployments) list(_ context.Context, ns string) ([]runtime.Object, error) {
	prefix, pprefix := federation.DeploymentPrefix, federation.PlacementPrefix
	if ns != "" {
		prefix, pprefix = prefix+ns+"/", pprefix+ns+"/"
	}
	objs, _, err := d.store.List(prefix)
	if err != nil {
		return nil, storeError(err)
	}
	reps, _, err := d.store.List(pprefix)
	if err != nil {
		return nil, storeError(err)
	}
	if ns == "" {
		d.reports.retain(reps)
	}
	byDeployment := map[string][]crdt.Object{}
	for _, o := range reps {
		r, err := d.reports.decode(o)
		if err != nil {
			continue
		}
		byDeployment[r.Deployment] = append(byDeployment[r.Deployment], o)
	}
	live := sortedLive(d.live)
	out := make([]runtime.Object, 0, len(objs))
	for _, o := range objs {
		fd, err := decodeDeployment(o)
		if err != nil {
			continue
		}
		d.withStatus(fd, byDeployment[fd.Namespace+"/"+fd.Name], live)
		out = append(out, fd)
	}
	return out, nil
}

func (d *deployments) affected(ev crdt.Event) (string, string, bool, bool) {
	_, kind, ns, name := ev.Object.Key.Parts()
	if !strings.HasPrefix(string(ev.Object.Key), federation.Group+"/") {
		return "", "", false, false
	}
	switch kind {
	case federation.KindFederatedDeployment:
		return ns, name, true, true
	case federation.KindPlacementStatus:
		r, err := d.reports.decode(ev.Object)
		if err != nil {
			return "", "", false, false
		}
		dns, dname, ok := strings.Cut(r.Deployment, "/")
		return dns, dname, false, ok
	}
	return "", "", false, false
}

func (d *deployments) deleted(ev crdt.Event) (runtime.Object, error) {
	return decodeDeployment(ev.Object)
}

func (d *deployments) fieldSet(runtime.Object) fields.Set { return nil }

func (d *deployments) columns() []metav1.TableColumnDefinition {
	return []metav1.TableColumnDefinition{
		nameColumn(),
		{Name: "Ready", Type: "string", Description: "Ready replicas over desired, federation-wide."},
		{Name: "Members", Type: "integer", Description: "Members running replicas."},
		{Name: "Available", Type: "string", Description: "The Available condition."},
		{Name: "Scheduling", Type: "string", Priority: 1, Description: "Duplicated or Divided."},
		{Name: "Images", Type: "string", Priority: 1, Description: "Container images of the template."},
		ageColumn(),
	}
}

func (d *deployments) cells(o runtime.Object) []any {
	fd := o.(*federation.FederatedDeployment)
	want := fd.Spec.ReplicasOrDefault()
	if fd.Spec.ReplicaScheduling.SchedulingTypeOrDefault() == federation.Duplicated {
		want = max(want, fd.Status.Replicas)
	}
	var images []string
	for _, c := range fd.Spec.Template.Template.Spec.Containers {
		images = append(images, c.Image)
	}
	return []any{fd.Name, fmt.Sprintf("%d/%d", fd.Status.ReadyReplicas, want), int64(len(fd.Status.Members)),
		conditionStatus(fd.Status.Conditions, federation.ConditionAvailable),
		string(fd.Spec.ReplicaScheduling.SchedulingTypeOrDefault()), strings.Join(images, ","), age(fd.CreationTimestamp)}
}

// --- writes ----------------------------------------------------------------

// deploymentStorage adds create, update (and so patch and apply) and
// delete to the read side.
type deploymentStorage struct {
	*readStorage
	d *deployments
}

var (
	_ rest.Creater           = (*deploymentStorage)(nil)
	_ rest.Updater           = (*deploymentStorage)(nil)
	_ rest.GracefulDeleter   = (*deploymentStorage)(nil)
	_ rest.CollectionDeleter = (*deploymentStorage)(nil)
)

var deploymentGK = GroupVersion.WithKind(federation.KindFederatedDeployment).GroupKind()

// storedForm returns the JSON stored for fd: spec and metadata, without
// the status (aggregated on read) and the member-local resourceVersion
// and generation (the store keeps both).
func storedForm(fd *federation.FederatedDeployment) ([]byte, error) {
	c := fd.DeepCopy()
	c.APIVersion, c.Kind = federation.APIVersion, federation.KindFederatedDeployment
	c.ResourceVersion, c.Generation = "", 0
	c.Status = federation.FederatedDeploymentStatus{}
	b, err := json.Marshal(c)
	if err != nil {
		return nil, apierrors.NewInternalError(err)
	}
	// An empty status is still marshalled (two required counters); drop it.
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, apierrors.NewInternalError(err)
	}
	delete(m, "status")
	if b, err = json.Marshal(m); err != nil {
		return nil, apierrors.NewInternalError(err)
	}
	return b, nil
}

// defaultDeployment fills in the defaults, so what is stored and shown is
// what the controllers act on.
func defaultDeployment(fd *federation.FederatedDeployment) {
	if fd.Spec.Replicas == nil {
		one := int32(1)
		fd.Spec.Replicas = &one
	}
	if fd.Spec.ReplicaScheduling.Type == "" {
		fd.Spec.ReplicaScheduling.Type = federation.Divided
	}
}

func validateDeployment(fd *federation.FederatedDeployment) error {
	errs := federation.ValidateFederatedDeployment(fd)
	if len(fd.Labels) > 0 || len(fd.Annotations) > 0 {
		errs = append(errs, validateLabelsAnnotations(fd.Labels, fd.Annotations)...)
	}
	if len(errs) > 0 {
		return apierrors.NewInvalid(deploymentGK, fd.Name, errs)
	}
	return nil
}

func isDryRun(dryRun []string) bool { return len(dryRun) > 0 }

// Create stores a new FederatedDeployment.
func (s *deploymentStorage) Create(ctx context.Context, obj runtime.Object, createValidation rest.ValidateObjectFunc, opts *metav1.CreateOptions) (runtime.Object, error) {
	fd, ok := obj.(*federation.FederatedDeployment)
	if !ok {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("not a FederatedDeployment: %T", obj))
	}
	ns := genericapirequest.NamespaceValue(ctx)
	if fd.Namespace != "" && fd.Namespace != ns {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("the namespace of the object (%s) does not match the namespace of the request (%s)", fd.Namespace, ns))
	}
	fd.Namespace = ns
	if fd.Name == "" && fd.GenerateName != "" {
		fd.Name = names.SimpleNameGenerator.GenerateName(fd.GenerateName)
	}
	if fd.Name == "" {
		return nil, apierrors.NewInvalid(deploymentGK, "", field.ErrorList{field.Required(field.NewPath("metadata", "name"), "name or generateName is required")})
	}
	fd.UID = uuid.NewUUID()
	fd.CreationTimestamp = metav1.NewTime(s.d.now().Truncate(time.Second))
	fd.ResourceVersion, fd.Generation = "", 1
	fd.DeletionTimestamp, fd.DeletionGracePeriodSeconds = nil, nil
	fd.Status = federation.FederatedDeploymentStatus{}
	defaultDeployment(fd)
	if err := validateDeployment(fd); err != nil {
		return nil, err
	}
	if createValidation != nil {
		if err := createValidation(ctx, fd); err != nil {
			return nil, err
		}
	}
	if isDryRun(opts.DryRun) {
		return fd, nil
	}
	key, err := deploymentKey(ns, fd.Name)
	if err != nil {
		return nil, apierrors.NewBadRequest(err.Error())
	}
	value, err := storedForm(fd)
	if err != nil {
		return nil, err
	}
	if _, err := s.store.Put(ctx, key, value, crdt.PutOptions{Mode: crdt.PutCreate, BumpGeneration: true}); err != nil {
		if errors.Is(err, crdt.ErrAlreadyExists) {
			return nil, apierrors.NewAlreadyExists(s.gr, fd.Name)
		}
		return nil, storeError(err)
	}
	return s.Get(ctx, fd.Name, nil)
}

// Update applies objInfo (a PUT, a patch or a server-side apply) to the
// current object. A stale resourceVersion is a 409.
func (s *deploymentStorage) Update(ctx context.Context, name string, objInfo rest.UpdatedObjectInfo, createValidation rest.ValidateObjectFunc, updateValidation rest.ValidateObjectUpdateFunc, forceAllowCreate bool, opts *metav1.UpdateOptions) (runtime.Object, bool, error) {
	ns := genericapirequest.NamespaceValue(ctx)
	old, specRV, err := s.d.read(ns, name)
	if apierrors.IsNotFound(err) && forceAllowCreate {
		obj, err := objInfo.UpdatedObject(ctx, nil)
		if err != nil {
			return nil, false, err
		}
		created, err := s.Create(ctx, obj, createValidation, &metav1.CreateOptions{DryRun: opts.DryRun, FieldManager: opts.FieldManager})
		return created, err == nil, err
	}
	if err != nil {
		return nil, false, err
	}
	obj, err := objInfo.UpdatedObject(ctx, old)
	if err != nil {
		return nil, false, err
	}
	fd, ok := obj.(*federation.FederatedDeployment)
	if !ok {
		return nil, false, apierrors.NewBadRequest(fmt.Sprintf("not a FederatedDeployment: %T", obj))
	}
	if fd.ResourceVersion != "" && fd.ResourceVersion != old.ResourceVersion {
		return nil, false, apierrors.NewConflict(s.gr, name, fmt.Errorf("the object has been modified; please apply your changes to the latest version (resourceVersion %s, yours %s) and try again", old.ResourceVersion, fd.ResourceVersion))
	}
	if err := s.checkIdentity(ns, name, old, fd); err != nil {
		return nil, false, err
	}
	fd.UID, fd.CreationTimestamp, fd.Generation = old.UID, old.CreationTimestamp, old.Generation
	fd.Status = old.Status
	defaultDeployment(fd)
	specChanged := !equality.Semantic.DeepEqual(old.Spec, fd.Spec)
	if specChanged {
		fd.Generation++
	}
	if err := validateDeployment(fd); err != nil {
		return nil, false, err
	}
	if updateValidation != nil {
		if err := updateValidation(ctx, fd, old); err != nil {
			return nil, false, err
		}
	}
	if isDryRun(opts.DryRun) {
		return fd, false, nil
	}
	key, _ := deploymentKey(ns, name)
	value, err := storedForm(fd)
	if err != nil {
		return nil, false, err
	}
	if _, err := s.store.Update(ctx, key, value, specRV, specChanged); err != nil {
		return nil, false, s.writeError(err, name)
	}
	out, err := s.Get(ctx, name, nil)
	return out, false, err
}

func (s *deploymentStorage) checkIdentity(ns, name string, old, fd *federation.FederatedDeployment) error {
	var errs field.ErrorList
	if fd.Name != "" && fd.Name != name {
		errs = append(errs, field.Invalid(field.NewPath("metadata", "name"), fd.Name, "must match the name in the request"))
	}
	if fd.Namespace != "" && fd.Namespace != ns {
		errs = append(errs, field.Invalid(field.NewPath("metadata", "namespace"), fd.Namespace, "must match the namespace of the request"))
	}
	if fd.UID != "" && fd.UID != old.UID {
		errs = append(errs, field.Invalid(field.NewPath("metadata", "uid"), fd.UID, "field is immutable"))
	}
	fd.Name, fd.Namespace = name, ns
	if len(errs) > 0 {
		return apierrors.NewInvalid(deploymentGK, name, errs)
	}
	return nil
}

func (s *deploymentStorage) writeError(err error, name string) error {
	switch {
	case errors.Is(err, crdt.ErrConflict):
		return apierrors.NewConflict(s.gr, name, errors.New("the object has been modified; please apply your changes to the latest version and try again"))
	case errors.Is(err, crdt.ErrNotFound):
		return apierrors.NewNotFound(s.gr, name)
	}
	return storeError(err)
}

// Delete removes the deployment at once (there are no finalizers): the
// members' controllers then remove their replicas and reports.
func (s *deploymentStorage) Delete(ctx context.Context, name string, deleteValidation rest.ValidateObjectFunc, opts *metav1.DeleteOptions) (runtime.Object, bool, error) {
	ns := genericapirequest.NamespaceValue(ctx)
	old, specRV, err := s.d.read(ns, name)
	if err != nil {
		return nil, false, err
	}
	if opts != nil && opts.Preconditions != nil {
		if p := opts.Preconditions.UID; p != nil && *p != old.UID {
			return nil, false, apierrors.NewConflict(s.gr, name, fmt.Errorf("precondition failed: UID in precondition: %v, UID in object meta: %v", *p, old.UID))
		}
		if p := opts.Preconditions.ResourceVersion; p != nil && *p != old.ResourceVersion {
			return nil, false, apierrors.NewConflict(s.gr, name, fmt.Errorf("precondition failed: ResourceVersion in precondition: %v, ResourceVersion in object meta: %v", *p, old.ResourceVersion))
		}
	}
	if deleteValidation != nil {
		if err := deleteValidation(ctx, old); err != nil {
			return nil, false, err
		}
	}
	if opts != nil && isDryRun(opts.DryRun) {
		return old, true, nil
	}
	key, _ := deploymentKey(ns, name)
	o, err := s.store.Delete(ctx, key, specRV)
	if err != nil {
		return nil, false, s.writeError(err, name)
	}
	old.ResourceVersion = strconv.FormatUint(o.ResourceVersion, 10)
	return old, true, nil
}

// DeleteCollection deletes the listed deployments one by one.
func (s *deploymentStorage) DeleteCollection(ctx context.Context, deleteValidation rest.ValidateObjectFunc, opts *metav1.DeleteOptions, listOpts *metainternalversion.ListOptions) (runtime.Object, error) {
	l, err := s.List(ctx, listOpts)
	if err != nil {
		return nil, err
	}
	out := &federation.FederatedDeploymentList{}
	for _, fd := range l.(*federation.FederatedDeploymentList).Items {
		o, _, err := s.Delete(ctx, fd.Name, deleteValidation, opts)
		if apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out.Items = append(out.Items, *o.(*federation.FederatedDeployment))
	}
	return out, nil
}

// --- status and scale subresources ------------------------------------------

// deploymentStatusStorage serves federateddeployments/status. It is
// read-only: the status is aggregated from reports each member writes for
// itself, so no client writes it.
type deploymentStatusStorage struct{ r *readStorage }

func (s *deploymentStatusStorage) New() runtime.Object { return &federation.FederatedDeployment{} }
func (s *deploymentStatusStorage) Destroy()            {}
func (s *deploymentStatusStorage) Get(ctx context.Context, name string, opts *metav1.GetOptions) (runtime.Object, error) {
	return s.r.Get(ctx, name, opts)
}

// scaleStorage serves federateddeployments/scale (autoscaling/v1 Scale), so
// kubectl scale and autoscalers work.
type scaleStorage struct{ s *deploymentStorage }

var (
	_ rest.Getter                   = (*scaleStorage)(nil)
	_ rest.Updater                  = (*scaleStorage)(nil)
	_ rest.GroupVersionKindProvider = (*scaleStorage)(nil)
)

func (s *scaleStorage) New() runtime.Object { return &autoscalingv1.Scale{} }
func (s *scaleStorage) Destroy()            {}
func (s *scaleStorage) GroupVersionKind(schema.GroupVersion) schema.GroupVersionKind {
	return scaleGroupVersion.WithKind("Scale")
}

func scaleOf(fd *federation.FederatedDeployment) *autoscalingv1.Scale {
	sel := ""
	if ls := fd.Spec.Template.Selector; ls != nil {
		if s, err := metav1.LabelSelectorAsSelector(ls); err == nil {
			sel = s.String()
		}
	}
	return &autoscalingv1.Scale{
		TypeMeta: metav1.TypeMeta{APIVersion: scaleGroupVersion.String(), Kind: "Scale"},
		ObjectMeta: metav1.ObjectMeta{Name: fd.Name, Namespace: fd.Namespace, UID: fd.UID,
			ResourceVersion: fd.ResourceVersion, CreationTimestamp: fd.CreationTimestamp},
		Spec:   autoscalingv1.ScaleSpec{Replicas: fd.Spec.ReplicasOrDefault()},
		Status: autoscalingv1.ScaleStatus{Replicas: fd.Status.ReadyReplicas, Selector: sel},
	}
}

func (s *scaleStorage) Get(ctx context.Context, name string, _ *metav1.GetOptions) (runtime.Object, error) {
	fd, _, err := s.s.d.read(genericapirequest.NamespaceValue(ctx), name)
	if err != nil {
		return nil, err
	}
	return scaleOf(fd), nil
}

// Update sets spec.replicas from a Scale; the Scale's resourceVersion, if
// set, must be the deployment's.
func (s *scaleStorage) Update(ctx context.Context, name string, objInfo rest.UpdatedObjectInfo, _ rest.ValidateObjectFunc, _ rest.ValidateObjectUpdateFunc, _ bool, opts *metav1.UpdateOptions) (runtime.Object, bool, error) {
	ns := genericapirequest.NamespaceValue(ctx)
	fd, specRV, err := s.s.d.read(ns, name)
	if err != nil {
		return nil, false, err
	}
	obj, err := objInfo.UpdatedObject(ctx, scaleOf(fd))
	if err != nil {
		return nil, false, err
	}
	sc, ok := obj.(*autoscalingv1.Scale)
	if !ok {
		return nil, false, apierrors.NewBadRequest(fmt.Sprintf("not a Scale: %T", obj))
	}
	if sc.ResourceVersion != "" && sc.ResourceVersion != fd.ResourceVersion {
		return nil, false, apierrors.NewConflict(s.s.gr, name, fmt.Errorf("the object has been modified; please apply your changes to the latest version (resourceVersion %s, yours %s) and try again", fd.ResourceVersion, sc.ResourceVersion))
	}
	if r := sc.Spec.Replicas; r < 0 || r > federation.MaxReplicas {
		return nil, false, apierrors.NewInvalid(scaleGroupVersion.WithKind("Scale").GroupKind(), name,
			field.ErrorList{field.Invalid(field.NewPath("spec", "replicas"), r, "must be between 0 and 1048576")})
	}
	if fd.Spec.ReplicasOrDefault() == sc.Spec.Replicas {
		return scaleOf(fd), false, nil
	}
	r := sc.Spec.Replicas
	fd.Spec.Replicas = &r
	fd.Generation++
	if isDryRun(opts.DryRun) {
		return scaleOf(fd), false, nil
	}
	key, _ := deploymentKey(ns, name)
	value, err := storedForm(fd)
	if err != nil {
		return nil, false, err
	}
	if _, err := s.s.store.Update(ctx, key, value, specRV, true); err != nil {
		return nil, false, s.s.writeError(err, name)
	}
	if fd, _, err = s.s.d.read(ns, name); err != nil {
		return nil, false, err
	}
	return scaleOf(fd), false, nil
}
