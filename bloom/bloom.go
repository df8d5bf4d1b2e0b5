// Package bloom implements the bloom filters that the native transport uses
// to route signals, bit for bit as kdbus and sd-bus defined them.
//
// The sender of a signal computes a [Filter] from the message ([ForMessage]):
// one element, a "key:value" string, for each property a match rule can ask
// for, such as "interface:org.example.Foo", "path-slash-prefix:/org" or
// "arg0:eth0". A subscriber turns each of its match rules into a mask
// ([ForRule]): the elements every message the rule matches must contain. The
// bus delivers a signal to a subscription only when the filter holds every bit
// of the mask ([Filter.Contains]); the subscriber then checks the rule
// exactly, so a false positive costs a wakeup and never a wrong delivery,
// while a false negative (a matching signal the bus withholds) is impossible
// by construction.
//
// Every participant of a bus must use the same [Params]. Elements are hashed
// with SipHash-2-4 under eight fixed keys, the scheme of sd-bus's kdbus
// transport, and a signal's filter is the one sd-bus attached to it, save for
// the one extension [Filter.AddMessage] describes.
package bloom

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math/bits"
)

// MaxSize is the largest filter size in bytes, the kdbus limit.
const MaxSize = 4096

// Params are a bus's bloom parameters: every filter and mask on a bus has
// the same size and is built with the same number of hash functions.
type Params struct {
	// Size is the filter size in bytes: a multiple of 8, from 8 to MaxSize.
	// A power of two spreads bits evenly: as in sd-bus, a bit index is
	// reduced by masking with Size*8-1, so other sizes leave some bits
	// unused.
	Size int
	// Hashes is the number of bits an element sets (k): at least 1 and at
	// most [Params.MaxHashes].
	Hashes int
}

// Default is sd-bus's bus-wide default: 512 bits (64 bytes) and 8 hash
// functions.
var Default = Params{Size: 64, Hashes: 8}

// hashKeys are the SipHash keys, in the order elements use them. Each is
// 16 bytes; its first 8 bytes are k0 and the next 8 k1, little-endian. They
// are sd-bus's fixed keys, which filters must share to be interchangeable.
var hashKeys = [8][16]byte{
	{0xb9, 0x66, 0x0b, 0xf0, 0x46, 0x70, 0x47, 0xc1, 0x88, 0x75, 0xc4, 0x9c, 0x54, 0xb9, 0xbd, 0x15},
	{0xaa, 0xa1, 0x54, 0xa2, 0xe0, 0x71, 0x4b, 0x39, 0xbf, 0xe1, 0xdd, 0x2e, 0x9f, 0xc5, 0x4a, 0x3b},
	{0x63, 0xfd, 0xae, 0xbe, 0xcd, 0x82, 0x48, 0x12, 0xa1, 0x6e, 0x41, 0x26, 0xcb, 0xfa, 0xa0, 0xc8},
	{0x23, 0xbe, 0x45, 0x29, 0x32, 0xd2, 0x46, 0x2d, 0x82, 0x03, 0x52, 0x28, 0xfe, 0x37, 0x17, 0xf5},
	{0x56, 0x3b, 0xbf, 0xee, 0x5a, 0x4f, 0x43, 0x39, 0xaf, 0xaa, 0x94, 0x08, 0xdf, 0xf0, 0xfc, 0x10},
	{0x31, 0x80, 0xc8, 0x73, 0xc7, 0xea, 0x46, 0xd3, 0xaa, 0x25, 0x75, 0x0f, 0x9e, 0x4c, 0x09, 0x29},
	{0x7d, 0xf7, 0x18, 0x4b, 0x7b, 0xa4, 0x44, 0xd5, 0x85, 0x3c, 0x06, 0xe0, 0x65, 0x53, 0x96, 0x6d},
	{0xf2, 0x77, 0xe9, 0x6f, 0x93, 0xb5, 0x4e, 0x71, 0x9a, 0x0c, 0x34, 0x88, 0x39, 0x25, 0xbf, 0x35},
}

// keys are hashKeys as the (k0, k1) word pairs SipHash takes.
var keys = func() (k [len(hashKeys)][2]uint64) {
	for i, b := range hashKeys {
		k[i] = [2]uint64{binary.LittleEndian.Uint64(b[:8]), binary.LittleEndian.Uint64(b[8:])}
	}
	return k
}()

// indexBytes returns how many bytes of hash output one bit index of a filter
// of m bits takes: floor(log2 m) bits, rounded up to whole bytes.
func indexBytes(m int) int {
	return (bits.Len(uint(m)) - 1 + 7) / 8
}

// MaxHashes returns the largest Hashes the size allows: the eight keys give
// 64 bytes of hash output per element, and each hash function takes one
// byte of it for filters under 512 bits and two bytes for larger ones. It
// returns 0 if Size is out of range.
func (p Params) MaxHashes() int {
	if p.Size < 8 || p.Size > MaxSize {
		return 0
	}
	return len(hashKeys) * 8 / indexBytes(p.Size*8)
}

// Validate reports whether p are usable bus parameters: Size a multiple of
// 8 from 8 to MaxSize (the kdbus limits) and Hashes from 1 to
// p.MaxHashes() (the most sd-bus's keys can serve).
func (p Params) Validate() error {
	switch {
	case p.Size < 8 || p.Size > MaxSize || p.Size%8 != 0:
		return fmt.Errorf("bloom: size %d is not a multiple of 8 from 8 to %d bytes", p.Size, MaxSize)
	case p.Hashes < 1 || p.Hashes > p.MaxHashes():
		return fmt.Errorf("bloom: %d hash functions: a %d-byte filter takes 1 to %d", p.Hashes, p.Size, p.MaxHashes())
	}
	return nil
}

// ErrSize reports filter bytes whose length is not the bus's filter size.
var ErrSize = errors.New("bloom: filter length does not match the bus's bloom size")

// Filter is a bloom filter, or a mask, of a bus's size: its bits are words
// of 64, bit b being 1<<(b%64) of word b/64. The bytes of a filter on the
// wire are those words in little-endian order ([Filter.Bytes]).
//
// A Filter is a small value that refers to its words: copies share them, so
// adding to a copy adds to the original. The zero Filter is an empty mask,
// which [Filter.Contains] treats as matching everything; it cannot be added
// to. Methods that add are not safe for concurrent use with any other use of
// the same words.
type Filter struct {
	words  []uint64
	hashes int
}

// New returns an empty filter for p. It panics if p is not valid: bus
// parameters are checked with [Params.Validate] when a bus is set up.
func New(p Params) Filter {
	if err := p.Validate(); err != nil {
		panic(err)
	}
	return Filter{words: make([]uint64, p.Size/8), hashes: p.Hashes}
}

// FromBytes returns the filter whose wire form is b, for a bus with
// parameters p: b must hold exactly p.Size bytes. The filter does not
// share b.
func FromBytes(p Params, b []byte) (Filter, error) {
	if err := p.Validate(); err != nil {
		return Filter{}, err
	}
	if len(b) != p.Size {
		return Filter{}, fmt.Errorf("%w: %d bytes, want %d", ErrSize, len(b), p.Size)
	}
	f := New(p)
	for i := range f.words {
		f.words[i] = binary.LittleEndian.Uint64(b[8*i:])
	}
	return f, nil
}

// Params returns the parameters f was made with; the zero Filter has zero
// Params.
func (f Filter) Params() Params {
	return Params{Size: 8 * len(f.words), Hashes: f.hashes}
}

// Words returns the filter's bits as words, sharing them with f.
func (f Filter) Words() []uint64 { return f.words }

// AppendBytes appends the wire form of f, its words in little-endian order,
// to b.
func (f Filter) AppendBytes(b []byte) []byte {
	for _, w := range f.words {
		b = binary.LittleEndian.AppendUint64(b, w)
	}
	return b
}

// Bytes returns the wire form of f in a new slice.
func (f Filter) Bytes() []byte {
	return f.AppendBytes(make([]byte, 0, 8*len(f.words)))
}

// String returns the wire form of f in hexadecimal.
func (f Filter) String() string {
	return hex.EncodeToString(f.Bytes())
}

// IsZero reports whether no bit of f is set. A zero mask matches every
// filter.
func (f Filter) IsZero() bool {
	for _, w := range f.words {
		if w != 0 {
			return false
		}
	}
	return true
}

// Reset clears every bit of f.
func (f Filter) Reset() {
	clear(f.words)
}

// Equal reports whether f and g have the same bits.
func (f Filter) Equal(g Filter) bool {
	if len(f.words) != len(g.words) {
		return false
	}
	for i, w := range f.words {
		if g.words[i] != w {
			return false
		}
	}
	return true
}

// Contains reports whether every bit of mask is set in f, that is
// (f & mask) == mask word by word: whether a signal with filter f may match
// a subscription with mask mask. An all-zero mask matches every filter.
//
// Filter and mask normally have the bus's size. Words that f lacks count as
// zero, so a longer mask matches only if its extra words are zero.
func (f Filter) Contains(mask Filter) bool {
	m := mask.words
	if len(m) > len(f.words) {
		for _, w := range m[len(f.words):] {
			if w != 0 {
				return false
			}
		}
		m = m[:len(f.words)]
	}
	fw := f.words[:len(m)]
	for i, w := range m {
		if fw[i]&w != w {
			return false
		}
	}
	return true
}

// Add sets the bits of element, a "key:value" string such as
// "member:NameOwnerChanged". It panics on the zero Filter.
//
// Each hash function takes the next bytes of a stream of hash output, as
// many as a bit index of the filter needs (one byte below 512 bits, two from
// 512 bits on), reads them as a big-endian number and ANDs it with
// Size*8-1 to get the index of the bit to set. The stream is the
// little-endian bytes of SipHash-2-4 of the element under the first key,
// then, when those run out, under the second key, and so on.
func (f Filter) Add(element string) {
	addElement(f, element)
}

// AddPrefixes adds key:value, then key:p for each prefix p of value that
// ends just before or just after an occurrence of sep, except the empty
// prefix. For key "path-slash-prefix", value "/org/example" and sep '/' it
// adds the elements for "/org/example", "/org/", "/org" and "/". It panics on
// the zero Filter.
func (f Filter) AddPrefixes(key, value string, sep byte) {
	var buf [128]byte
	b := append(append(append(buf[:0], key...), ':'), value...)
	f.addPrefixes(b, len(key)+1, sep)
}

// addPrefixes adds the element b, which is a key and a colon (keyLen bytes)
// followed by a value, and the elements with the same key whose values are
// the value's prefixes ending just before and just after each sep.
func (f Filter) addPrefixes(b []byte, keyLen int, sep byte) {
	addElement(f, b)
	v := b[keyLen:]
	for {
		j := bytes.LastIndexByte(v, sep)
		if j < 0 {
			return
		}
		addElement(f, b[:keyLen+j+1])
		if j == 0 {
			return
		}
		addElement(f, b[:keyLen+j])
		v = v[:j]
	}
}

// addElement sets the bits of one element in f.
func addElement[T text](f Filter, element T) {
	if f.hashes == 0 {
		panic("bloom: add to a zero Filter")
	}
	m := uint64(len(f.words)) * 64
	width := indexBytes(int(m))
	var (
		h    uint64 // the current hash output
		left int    // bytes of h not yet used
		key  int    // the key for the next hash
	)
	for range f.hashes {
		var b uint64
		for range width {
			if left == 0 {
				h = sipHash24(keys[key][0], keys[key][1], element)
				key++
				left = 8
			}
			b = b<<8 | h>>(8*(8-left))&0xff
			left--
		}
		b &= m - 1
		f.words[b/64] |= 1 << (b % 64)
	}
}
