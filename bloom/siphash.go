package bloom

import "math/bits"

// text is the input a hash reads: an element held in a string or composed
// in a byte buffer.
type text interface{ ~string | ~[]byte }

// le64 reads the 8 bytes of p at i as a little-endian word.
func le64[T text](p T, i int) uint64 {
	_ = p[i+7]
	return uint64(p[i]) | uint64(p[i+1])<<8 | uint64(p[i+2])<<16 | uint64(p[i+3])<<24 |
		uint64(p[i+4])<<32 | uint64(p[i+5])<<40 | uint64(p[i+6])<<48 | uint64(p[i+7])<<56
}

// sipHash24 returns SipHash-2-4 of p under the 128-bit key whose first and
// second little-endian halves are k0 and k1 (Aumasson and Bernstein, "SipHash:
// a fast short-input PRF", 2012): two compression rounds per 8-byte block,
// four finalization rounds.
func sipHash24[T text](k0, k1 uint64, p T) uint64 {
	// The initial state is the key XORed with "somepseudorandomlygeneratedbytes".
	v0 := k0 ^ 0x736f6d6570736575
	v1 := k1 ^ 0x646f72616e646f6d
	v2 := k0 ^ 0x6c7967656e657261
	v3 := k1 ^ 0x7465646279746573

	n := len(p)
	i := 0
	for ; i+8 <= n; i += 8 {
		m := le64(p, i)
		v3 ^= m
		v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
		v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
		v0 ^= m
	}

	// The last block holds the remaining bytes, zero padding, and the
	// input length modulo 256 in its top byte.
	last := uint64(n) << 56
	for j := 0; i+j < n; j++ {
		last |= uint64(p[i+j]) << (8 * j)
	}
	v3 ^= last
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	v0 ^= last

	v2 ^= 0xff
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	return v0 ^ v1 ^ v2 ^ v3
}

// sipRound is one SipRound of the state v0, v1, v2, v3.
func sipRound(v0, v1, v2, v3 uint64) (uint64, uint64, uint64, uint64) {
	v0 += v1
	v1 = bits.RotateLeft64(v1, 13)
	v1 ^= v0
	v0 = bits.RotateLeft64(v0, 32)
	v2 += v3
	v3 = bits.RotateLeft64(v3, 16)
	v3 ^= v2
	v0 += v3
	v3 = bits.RotateLeft64(v3, 21)
	v3 ^= v0
	v2 += v1
	v1 = bits.RotateLeft64(v1, 17)
	v1 ^= v2
	v2 = bits.RotateLeft64(v2, 32)
	return v0, v1, v2, v3
}
