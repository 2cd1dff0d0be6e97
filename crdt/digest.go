package crdt

import (
	"crypto/sha256"
	"math/bits"

	"github.com/cespare/xxhash/v2"
)

// maxDigestDepth caps a digest at 2^16 buckets (1 MiB on the wire).
const maxDigestDepth = 16

// Digests: every key has a leaf hash over its canonical document; keys are
// spread over 2^depth buckets by a hash of the key, and a bucket's hash is
// the XOR of its leaves, so both sides bucket identically and a bucket
// compares equal iff (with overwhelming probability) its keys hold equal
// state. Repair then ships only the keys of differing buckets. XOR keeps the
// leaf-to-bucket fold order-free; peers are authenticated members, so the
// scheme defends against accidents, not against crafted collisions.

func leafHash(key Key, encoded []byte) Hash {
	h := sha256.New()
	h.Write([]byte(key))
	h.Write([]byte{0})
	h.Write(encoded)
	var out Hash
	copy(out[:], h.Sum(nil))
	return out
}

func bucketOf(key Key, depth uint8) uint32 {
	return bucketAt(keySpread(key), depth)
}

// keySpread is the key hash that places a key in a bucket at any depth.
func keySpread(key Key) uint64 { return xxhash.Sum64String(string(key)) }

func bucketAt(spread uint64, depth uint8) uint32 {
	if depth == 0 {
		return 0
	}
	return uint32(spread >> (64 - depth))
}

// digestDepth picks a depth giving about 16 keys per bucket.
func digestDepth(keys int) uint8 {
	if keys <= 16 {
		return 0
	}
	d := bits.Len(uint(keys-1)) - 4
	if d > maxDigestDepth {
		d = maxDigestDepth
	}
	return uint8(d)
}

func xorInto(dst *Hash, h Hash) {
	for i := range dst {
		dst[i] ^= h[i]
	}
}
