// Package apiserver serves the federation.lattice.dev API group to kubectl.
//
// It owns a k8s.io/apiserver server whose rest.Storage is the member's
// crdt.Store (it uses only the Store's Get/List/Put/Delete/Watch, never CRDT
// internals), in two modes: standalone (its own CA, serving certificate and
// bearer token; credentials.go) and aggregated behind a host kube-apiserver
// through an APIService (delegated authentication and authorization).
//
// Files:
//
//	server.go       Config, New, Run: the generic server, authentication, the group
//	scheme.go       the scheme: one version, registered as the internal one too
//	resource.go     resourceInfo and the backend interface a resource implements
//	storage.go      get, list (selectors, limit/continue), tables, over a backend
//	watch.go        watch from a resourceVersion over the store's change stream
//	deployments.go  FederatedDeployments: CRUD, aggregated status, /status, /scale
//	members.go      Members (read-only, with a Reachable condition)
//	ledger.go       LedgerEntries and Identities (read-only views of the feeds)
//	openapi.go      the served OpenAPI definitions (generated in openapi/)
//	credentials.go  CA, serving certificate and token on disk
//
// Adding a resource is a backend, a line in resources() and one in
// Server.storages.
//
// resourceVersion is the serving member's store sequence. An object built
// from several keys (a deployment's spec and its live members' reports)
// carries the newest of their resourceVersions; watch events carry the
// resourceVersion of the change that caused them, so they increase.
package apiserver
