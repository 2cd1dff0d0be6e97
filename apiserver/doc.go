// Package apiserver serves the federation.lattice.dev API group to kubectl.
//
// It owns a k8s.io/apiserver server with a CRDT-backed rest.Storage (list,
// watch, per-member resourceVersions), table output, OpenAPI, validation and
// the status and scale subresources, in two modes: standalone (its own certs
// and token) and aggregated behind a real kube-apiserver via an APIService.
// It uses only the crdt Store interface, never CRDT internals.
//
// This package is a placeholder; it lands in a later issue.
package apiserver
