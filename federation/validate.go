package federation

import (
	"net/url"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// MaxReplicas bounds spec.replicas.
const MaxReplicas = 1 << 20

// ValidateFederatedDeployment checks a FederatedDeployment, naming each
// problem's field path (the API turns these into a 422).
func ValidateFederatedDeployment(d *FederatedDeployment) field.ErrorList {
	var errs field.ErrorList
	meta := field.NewPath("metadata")
	for _, msg := range validation.IsDNS1123Subdomain(d.Name) {
		errs = append(errs, field.Invalid(meta.Child("name"), d.Name, msg))
	}
	for _, msg := range validation.IsDNS1123Label(d.Namespace) {
		errs = append(errs, field.Invalid(meta.Child("namespace"), d.Namespace, msg))
	}
	spec := field.NewPath("spec")
	if r := d.Spec.Replicas; r != nil && (*r < 0 || *r > MaxReplicas) {
		errs = append(errs, field.Invalid(spec.Child("replicas"), *r, "must be between 0 and 1048576"))
	}
	tmpl := spec.Child("template", "template", "spec", "containers")
	if len(d.Spec.Template.Template.Spec.Containers) == 0 {
		errs = append(errs, field.Required(tmpl, "at least one container"))
	}
	for i, c := range d.Spec.Template.Template.Spec.Containers {
		if c.Name == "" {
			errs = append(errs, field.Required(tmpl.Index(i).Child("name"), ""))
		}
		if c.Image == "" {
			errs = append(errs, field.Required(tmpl.Index(i).Child("image"), ""))
		}
	}
	pl := spec.Child("placement")
	if d.Spec.Placement.ClusterSelector != nil {
		errs = append(errs, metav1validation.ValidateLabelSelector(d.Spec.Placement.ClusterSelector, metav1validation.LabelSelectorValidationOptions{}, pl.Child("clusterSelector"))...)
		if _, err := metav1.LabelSelectorAsSelector(d.Spec.Placement.ClusterSelector); err != nil {
			errs = append(errs, field.Invalid(pl.Child("clusterSelector"), d.Spec.Placement.ClusterSelector, err.Error()))
		}
	}
	if d.Spec.Placement.MaxClusters < 0 {
		errs = append(errs, field.Invalid(pl.Child("maxClusters"), d.Spec.Placement.MaxClusters, "must not be negative"))
	}
	rs := spec.Child("replicaScheduling")
	switch d.Spec.ReplicaScheduling.Type {
	case "", Duplicated, Divided:
	default:
		errs = append(errs, field.NotSupported(rs.Child("type"), d.Spec.ReplicaScheduling.Type, []string{string(Duplicated), string(Divided)}))
	}
	for i, w := range d.Spec.ReplicaScheduling.Weights {
		if w.Cluster == "" {
			errs = append(errs, field.Required(rs.Child("weights").Index(i).Child("cluster"), ""))
		}
		if w.Weight < 0 {
			errs = append(errs, field.Invalid(rs.Child("weights").Index(i).Child("weight"), w.Weight, "must not be negative"))
		}
	}
	for i, l := range d.Spec.ReplicaScheduling.Limits {
		p := rs.Child("limits").Index(i)
		if l.Cluster == "" {
			errs = append(errs, field.Required(p.Child("cluster"), ""))
		}
		if l.Min < 0 {
			errs = append(errs, field.Invalid(p.Child("min"), l.Min, "must not be negative"))
		}
		if l.Max < 0 || (l.Max > 0 && l.Min > l.Max) {
			errs = append(errs, field.Invalid(p.Child("max"), l.Max, "must be 0 (no bound) or at least min"))
		}
	}
	for i, o := range d.Spec.Overrides {
		if o.Cluster == "" {
			errs = append(errs, field.Required(spec.Child("overrides").Index(i).Child("cluster"), ""))
		}
	}
	if s := d.Spec.SLO; s != nil {
		p := spec.Child("slo")
		if s.MinAvailable < 0 {
			errs = append(errs, field.Invalid(p.Child("minAvailable"), s.MinAvailable, "must not be negative"))
		}
		if s.MaxUnschedulableSeconds < 0 {
			errs = append(errs, field.Invalid(p.Child("maxUnschedulableSeconds"), s.MaxUnschedulableSeconds, "must not be negative"))
		}
		for i, h := range s.Webhooks {
			u, err := url.Parse(h)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				errs = append(errs, field.Invalid(p.Child("webhooks").Index(i), h, "must be an http or https URL"))
			}
		}
	}
	return errs
}
