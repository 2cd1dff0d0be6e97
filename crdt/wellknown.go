package crdt

// wellKnownNames holds field names most API objects share, so a decoded
// document takes them from here instead of allocating a string per name
// per message: most of a document's nodes are named by a few dozen words.
// It is read-only after init, so concurrent decoders share it.
var wellKnownNames = func() map[string]string {
	names := []string{
		// Object envelope.
		"apiVersion", "kind", "metadata", "spec", "status", "data",
		// Metadata.
		"name", "namespace", "labels", "annotations", "generation", "uid",
		"resourceVersion", "creationTimestamp", "deletionTimestamp",
		"finalizers", "ownerReferences", "managedFields",
		// Common spec and status fields.
		"replicas", "selector", "matchLabels", "template", "containers",
		"image", "ports", "containerPort", "protocol", "resources",
		"requests", "limits", "cpu", "memory", "env", "value", "args",
		"command", "placement", "clusters", "weight", "conditions", "type",
		"reason", "message", "lastTransitionTime", "observedGeneration",
		"readyReplicas", "availableReplicas", "updatedReplicas",
		// The simulator's workload objects.
		"seq", "pad",
	}
	m := make(map[string]string, len(names))
	for _, n := range names {
		m[n] = n
	}
	return m
}()
