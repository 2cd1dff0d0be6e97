package apiserver

import (
	"slices"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/kube-openapi/pkg/common"

	"github.com/lattice-federation/lattice/apiserver/openapi"
)

// definitions are the generated OpenAPI definitions, adjusted where the
// federation API differs from the Kubernetes type it reuses: a
// FederatedDeployment's template may leave out the selector, because each
// member's driver selects the pods of the Deployment it creates by labels
// of its own. (kubectl validates against these schemas client-side.)
func definitions(ref common.ReferenceCallback) map[string]common.OpenAPIDefinition {
	defs := openapi.GetOpenAPIDefinitions(ref)
	name := appsv1.DeploymentSpec{}.OpenAPIModelName()
	d := defs[name]
	d.Schema.Required = slices.DeleteFunc(slices.Clone(d.Schema.Required), func(s string) bool { return s == "selector" })
	defs[name] = d
	return defs
}
