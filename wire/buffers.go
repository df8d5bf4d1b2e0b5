package wire

import "sync"

// Large message bodies pass through buffers that are used once and dropped: the encoder's
// buffer once the message is sent, the receiver's copy once the message is handled. Fresh
// large allocations cost page faults and clearing on every message, and garbage collections
// besides, so they come from pools of buffers whose capacities are powers of two, from 4 KiB
// to 64 MiB. A pool is emptied by the garbage collector, so an idle process keeps nothing.
const (
	minPooledBuffer = 4 << 10
	bufferClasses   = 15 // 4 KiB … 64 MiB
)

var bufferPools [bufferClasses]sync.Pool

// bufferClass is the class of the smallest pooled capacity that holds n bytes.
func bufferClass(n int) int {
	c := 0
	for size := minPooledBuffer; size < n; size <<= 1 {
		c++
	}
	return c
}

// GetBuffer returns a buffer of length n, from a pool when n is a pooled size (4 KiB to
// 64 MiB; its capacity is then the power of two above n). Its contents are undefined. Give it
// back with PutBuffer once nothing refers to it any more.
func GetBuffer(n int) *[]byte {
	c := bufferClass(n)
	if n < minPooledBuffer || c >= bufferClasses {
		b := make([]byte, n)
		return &b
	}
	if b, ok := bufferPools[c].Get().(*[]byte); ok {
		*b = (*b)[:n]
		return b
	}
	b := make([]byte, n, minPooledBuffer<<c)
	return &b
}

// PutBuffer gives b back for reuse. Only buffers whose capacity is a pooled size are kept; the
// caller must not use b, or any slice of it, afterwards.
func PutBuffer(b *[]byte) {
	if b == nil || cap(*b) < minPooledBuffer {
		return
	}
	c := bufferClass(cap(*b))
	if c < bufferClasses && minPooledBuffer<<c == cap(*b) {
		bufferPools[c].Put(b)
	}
}

// pooledGrowth is the size from which the encoder takes a larger buffer from the pools rather
// than letting append allocate one.
const pooledGrowth = 64 << 10

// grow makes room for n more bytes. Past pooledGrowth the new buffer comes from the pools:
// whoever gives the encoded bytes back with PutBuffer (the runtime does, once the message is
// sent) makes the next large message reuse warm memory.
func (e *Encoder) grow(n int) {
	need := len(e.buf) + n
	if need <= cap(e.buf) || need < pooledGrowth {
		return
	}
	nb := GetBuffer(need)
	e.buf = append((*nb)[:0], e.buf...)
}
