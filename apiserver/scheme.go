package apiserver

import (
	"fmt"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer"

	"github.com/lattice-federation/lattice/federation"
)

// GroupVersion is the served API group version.
var GroupVersion = schema.GroupVersion{Group: federation.Group, Version: federation.Version}

// internalVersion is the hub version the generic handlers convert through.
// The served types have one version only, so the same Go types are
// registered as the internal version and conversion is a copy.
var internalVersion = schema.GroupVersion{Group: federation.Group, Version: runtime.APIVersionInternal}

var scaleGroupVersion = autoscalingv1.SchemeGroupVersion

// NewScheme returns a scheme with the federation types, autoscaling/v1
// Scale (the scale subresource) and the meta types, and its codecs.
func NewScheme() (*runtime.Scheme, serializer.CodecFactory, error) {
	s := runtime.NewScheme()
	objs := func() []runtime.Object {
		return []runtime.Object{
			&federation.FederatedDeployment{}, &federation.FederatedDeploymentList{},
			&federation.Member{}, &federation.MemberList{},
			&federation.Identity{}, &federation.IdentityList{},
			&federation.LedgerEntry{}, &federation.LedgerEntryList{},
		}
	}
	s.AddKnownTypes(GroupVersion, objs()...)
	s.AddKnownTypes(internalVersion, objs()...)
	metav1.AddToGroupVersion(s, GroupVersion)

	s.AddKnownTypes(scaleGroupVersion, &autoscalingv1.Scale{})
	s.AddKnownTypes(schema.GroupVersion{Group: autoscalingv1.GroupName, Version: runtime.APIVersionInternal}, &autoscalingv1.Scale{})
	metav1.AddToGroupVersion(s, scaleGroupVersion)

	metav1.AddToGroupVersion(s, schema.GroupVersion{Version: "v1"})
	s.AddUnversionedTypes(schema.GroupVersion{Version: "v1"},
		&metav1.Status{}, &metav1.APIVersions{}, &metav1.APIGroupList{}, &metav1.APIGroup{}, &metav1.APIResourceList{})

	for _, r := range resources() {
		if err := s.AddFieldLabelConversionFunc(GroupVersion.WithKind(r.kind), r.fieldLabel); err != nil {
			return nil, serializer.CodecFactory{}, fmt.Errorf("field labels of %s: %w", r.kind, err)
		}
	}
	return s, serializer.NewCodecFactory(s), nil
}
