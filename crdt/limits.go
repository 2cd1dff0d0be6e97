package crdt

// Limits bounds everything that enters the store from a client or a peer.
// Decoders check them before allocating, so hostile input costs at most
// the bytes it took to send.
type Limits struct {
	// MaxObjectBytes bounds the JSON of one object given to Put (etcd's
	// default request limit is 1.5 MiB).
	MaxObjectBytes int
	// MaxDocumentBytes bounds one encoded document state, which carries
	// stamps and tombstones on top of the JSON.
	MaxDocumentBytes int
	// MaxDepth bounds JSON nesting.
	MaxDepth int
	// MaxMessageBytes bounds one encoded replication message.
	MaxMessageBytes int
	// MaxDocsPerMessage bounds the number of keyed documents in a message.
	MaxDocsPerMessage int
	// MaxDotsPerMessage bounds the dots (and context entries) in a message.
	MaxDotsPerMessage int
	// MaxDigestBuckets bounds the bucket count of a digest.
	MaxDigestBuckets int
}

// DefaultLimits returns the limits a member uses.
func DefaultLimits() Limits {
	return Limits{
		MaxObjectBytes:    1536 << 10,
		MaxDocumentBytes:  3 << 20,
		MaxDepth:          64,
		MaxMessageBytes:   16 << 20,
		MaxDocsPerMessage: 1 << 16,
		MaxDotsPerMessage: 1 << 18,
		MaxDigestBuckets:  1 << 16,
	}
}
