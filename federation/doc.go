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
// This package is a placeholder; it lands in a later issue.
package federation
