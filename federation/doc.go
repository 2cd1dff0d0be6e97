// Package federation holds Lattice's API types and controllers.
//
// It owns FederatedDeployment placement and replica scheduling (duplicated or
// divided; weights, min/max per cluster, capacity aware), status aggregation,
// redistribution of shortfall and of dead members' shares, partition
// (split-brain) handling with make-before-break healing, and offers,
// reservations, contracts and peerings. It also defines the ClusterDriver
// interface with a kube driver (client-go against a real cluster) and an
// embedded driver (a simulated cluster, the default).
//
// Every controller computes the same assignment from the same converged state:
// stable hashing by DID and object UID, no map iteration order, no wall clock.
// It knows nothing of transports.
//
// Files: types.go (v1alpha1 API types), validate.go, store.go (store keys
// and decoding), scheduler.go (the pure assignment), reconcile.go (the pure
// per-member plan: own share, make-before-break, reports), status.go
// (aggregated status and SLO evaluation), controller.go (the running loop:
// Member heartbeat, driver calls, reports, SLO alerts), driver.go
// (ClusterDriver), embedded.go and kube.go (the drivers).
//
// Trust in reports: a member's report counts toward letting another member
// scale down only if it comes from the member's current incarnation and the
// member has been heard from since it (re)entered the view; otherwise a
// report left from before a restart or partition could claim replicas that
// no longer exist. Offers, reservations, contracts and peerings come later.
package federation
