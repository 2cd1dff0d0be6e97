#!/bin/sh
# Regenerates apiserver/openapi from the +k8s:openapi-gen types in
# federation/ and the Kubernetes types they use (make generate).
set -eu
cd "$(dirname "$0")/.."
hdr=$(mktemp)
trap 'rm -f "$hdr"' EXIT
echo '// Code generated for Lattice by openapi-gen (make generate). DO NOT EDIT.' >"$hdr"
${GO:-go} tool openapi-gen \
	--output-dir apiserver/openapi \
	--output-pkg github.com/lattice-federation/lattice/apiserver/openapi \
	--output-file zz_generated.openapi.go \
	--go-header-file "$hdr" \
	--report-filename /dev/null \
	./federation \
	k8s.io/apimachinery/pkg/apis/meta/v1 k8s.io/apimachinery/pkg/runtime k8s.io/apimachinery/pkg/version \
	k8s.io/apimachinery/pkg/api/resource k8s.io/apimachinery/pkg/util/intstr \
	k8s.io/api/core/v1 k8s.io/api/apps/v1 k8s.io/api/autoscaling/v1
