package sim

import "math/bits"

// bitset is a fixed-capacity set of member indices: a member's live view
// costs n/8 bytes, so ten thousand views of ten thousand members fit in
// 12.5 MB.
type bitset []uint64

func newBitset(n int) bitset { return make(bitset, (n+63)/64) }

// has reports membership; members beyond the set's capacity (joined after
// it was made) are not in it.
func (b bitset) has(i int32) bool {
	return int(i>>6) < len(b) && b[i>>6]&(1<<(uint(i)&63)) != 0
}

func (b bitset) set(i int32) { b[i>>6] |= 1 << (uint(i) & 63) }

func (b bitset) clear(i int32) {
	if int(i>>6) < len(b) {
		b[i>>6] &^= 1 << (uint(i) & 63)
	}
}

func (b bitset) count() (n int) {
	for _, w := range b {
		n += bits.OnesCount64(w)
	}
	return n
}

// grow returns b with room for n members.
func (b bitset) grow(n int) bitset {
	for len(b) < (n+63)/64 {
		b = append(b, 0)
	}
	return b
}

// each calls fn for every member in b, in index order.
func (b bitset) each(fn func(i int32)) {
	for wi, w := range b {
		for w != 0 {
			t := bits.TrailingZeros64(w)
			fn(int32(wi*64 + t))
			w &= w - 1
		}
	}
}
