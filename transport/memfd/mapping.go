package memfd

import (
	"fmt"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// Mapping is a read-only view of a memfd with an explicit lifetime: the memory stays mapped
// until Close, whether or not the Mapping is still referenced, and is unmapped by Close only.
//
// A Mapping does not own the descriptor it was made from; the descriptor may be closed as soon
// as the Mapping exists.
type Mapping struct {
	b      []byte // nil for an empty file, which cannot be mapped
	closed atomic.Bool
}

// MapReadOnly verifies fd as Verify does and maps the whole payload read-only. The mapping is
// private: the memfd is write-sealed, so a private mapping shows exactly its contents, and
// unlike a shared one it works on every kernel (before Linux 6.7, mmap refused shared mappings
// of write-sealed memfds, even read-only ones).
//
// The mmap call costs the same whatever the size; each page is mapped in when first touched,
// so a receiver that reads only part of a large payload pays only for that part.
func MapReadOnly(fd int) (*Mapping, error) {
	size, err := Verify(fd)
	if err != nil {
		return nil, err
	}
	return mapFile(fd, int(size), unix.MAP_PRIVATE)
}

// MapPool maps a receive pool that the bus handed out, read-only and shared, so that the client
// sees each message as soon as the bus has written it. It refuses a descriptor that is not a
// memfd sealed against shrinking, growing and new writers
// (F_SEAL_SHRINK|F_SEAL_GROW|F_SEAL_FUTURE_WRITE): a pool that could shrink could kill the
// client with SIGBUS.
//
// The client decodes messages in place through Bytes at the offsets the bus tells it, and must
// not hold on to them after asking the bus to release them.
func MapPool(fd int) (*Mapping, error) {
	size, err := check(fd, poolClientSeals)
	if err != nil {
		return nil, err
	}
	return mapFile(fd, int(size), unix.MAP_SHARED)
}

// mapFile maps size bytes of fd read-only with the given mmap flags.
func mapFile(fd, size, flags int) (*Mapping, error) {
	if size == 0 {
		return &Mapping{}, nil
	}
	b, err := unix.Mmap(fd, 0, size, unix.PROT_READ, flags)
	if err != nil {
		return nil, fmt.Errorf("memfd: mapping fd %d (%d bytes) read-only: %w", fd, size, err)
	}
	return &Mapping{b: b}, nil
}

// Bytes returns the mapped memory. Writing to it faults. The slice is valid until Close and
// must not be used after it; Bytes itself panics once the Mapping is closed.
func (m *Mapping) Bytes() []byte {
	if m.closed.Load() {
		panic("memfd: Bytes called on a closed Mapping; its memory is unmapped and slices from it must not be used after Close")
	}
	return m.b
}

// Len returns the size of the mapping in bytes, even after Close.
func (m *Mapping) Len() int { return len(m.b) }

// Close unmaps the memory. Slices returned by Bytes must not be used afterwards: touching one
// crashes the program while the address range stays unmapped, and reads unrelated memory once
// the kernel reuses the range. Calling Close more than once is safe; later calls return nil.
func (m *Mapping) Close() error {
	if m.closed.Swap(true) || m.b == nil {
		return nil
	}
	if err := unix.Munmap(m.b); err != nil {
		return fmt.Errorf("memfd: unmapping %d bytes: %w", len(m.b), err)
	}
	return nil
}
