package memfd

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"

	"golang.org/x/sys/unix"
)

// MaxPoolSize is the largest pool NewPool creates, 4 GiB.
const MaxPoolSize int64 = 1 << 32

var (
	// ErrNoSpace is wrapped by Pool.Alloc's error when no free slice of the pool is large
	// enough: the message does not fit until the receiver releases slices.
	ErrNoSpace = errors.New("memfd: pool full")

	// ErrBadOffset is wrapped by the errors of Pool methods given an offset that is not the
	// start of a slice in the state the method needs, such as a receiver asking to release a
	// slice it was never given.
	ErrBadOffset = errors.New("memfd: bad pool offset")
)

// Pool is a receive pool, on the bus side: a memfd that the bus maps read-write and the client
// can only map read-only, carved into slices that each hold one message.
//
// A slice goes through three states. Alloc takes it for the bus, which fills it (Write,
// Slice) and checks it; Publish hands it to the receiver, after which its bytes no longer
// change; Release frees it at the receiver's request, and accepts only published slices, so
// that a receiver guessing offsets cannot free a slice the bus is still filling or checking.
// Free frees any allocated slice on the bus's own account, such as a message it drops.
//
// Offsets and sizes are multiples of 8. InUse counts the bytes of allocated slices, rounded up
// to 8, exactly as Alloc took them and Free and Release return them, so a bus can keep
// per-sender quotas with no bookkeeping of its own.
//
// A Pool is safe for concurrent use. The bus must not Write to, or use a Slice of, a slice it
// frees or a pool it closes at the same time.
type Pool struct {
	mu     sync.Mutex
	fd     int
	mem    []byte
	a      allocator
	closed bool
}

// NewPool creates a receive pool of size bytes, rounded up to a whole number of pages: a memfd
// named name (seen as "memfd:<name>" in /proc), mapped shared and writable by this process,
// then sealed with PoolSeals, so that Fd can be handed to the client. Nothing is prefaulted: a
// page costs memory only once it is first touched. The bus touches only the pages it writes
// messages into, but a client can make its whole pool resident (reading a hole of a memfd
// allocates a page, and fallocate inside the size is allowed), so the pool size is the bound
// on the memory a connection can pin.
func NewPool(name string, size int) (*Pool, error) {
	if size <= 0 || int64(size) > MaxPoolSize {
		return nil, fmt.Errorf("memfd: pool size %d out of range: want 1 to %d bytes", size, MaxPoolSize)
	}
	page := unix.Getpagesize()
	size = (size + page - 1) / page * page
	fd, err := create(name, int64(size))
	if err != nil {
		return nil, err
	}
	// The writable mapping must exist before F_SEAL_FUTURE_WRITE, which refuses new ones.
	mem, err := unix.Mmap(fd, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("memfd: mapping pool %q (%d bytes) writable: %w", name, size, err)
	}
	fail := func(err error) (*Pool, error) {
		unix.Munmap(mem)
		unix.Close(fd)
		return nil, err
	}
	// A forked child must not inherit a writable view of every client's pool.
	if err := unix.Madvise(mem, unix.MADV_DONTFORK); err != nil {
		return fail(fmt.Errorf("memfd: madvise(MADV_DONTFORK) on pool %q: %w", name, err))
	}
	if err := addSeals(fd, PoolSeals); err != nil {
		return fail(fmt.Errorf("memfd: sealing pool %q with %s: %w (F_SEAL_FUTURE_WRITE needs Linux 5.1)", name, SealNames(PoolSeals), err))
	}
	p := &Pool{fd: fd, mem: mem}
	p.a.init(size, rand.Uint64())
	return p, nil
}

// Fd returns the pool's descriptor, to be passed to the client (which maps it with MapPool),
// or -1 after Close. It stays owned by the Pool.
func (p *Pool) Fd() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return -1
	}
	return p.fd
}

// Size returns the size of the pool in bytes.
func (p *Pool) Size() int { return len(p.mem) }

// InUse returns the number of bytes in allocated slices, published or not.
func (p *Pool) InUse() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.a.inUse
}

// Alloc takes a slice of n bytes, rounded up to a multiple of 8, from the lowest-addressed free
// space large enough, and returns its offset. The slice belongs to the bus until Publish. The
// error wraps ErrNoSpace when the pool cannot fit the slice now.
func (p *Pool) Alloc(n int) (off int, err error) {
	if n <= 0 {
		return -1, fmt.Errorf("memfd: Alloc of %d bytes: want a positive size", n)
	}
	if n > len(p.mem) {
		return -1, fmt.Errorf("%w: Alloc of %d bytes can never fit a pool of %d bytes", ErrNoSpace, n, len(p.mem))
	}
	n = (n + align - 1) &^ (align - 1)
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return -1, fmt.Errorf("%w: Pool.Alloc on a closed pool", ErrClosed)
	}
	off = p.a.alloc(n)
	if off < 0 {
		return -1, fmt.Errorf("%w: Alloc of %d bytes: %d of %d bytes free, the largest free slice is %d bytes; the receiver must release slices first",
			ErrNoSpace, n, p.a.size-p.a.inUse, p.a.size, p.a.largestFree())
	}
	return off, nil
}

// lookup returns the slice starting at off, or an error naming the method for a bad offset.
// p.mu must be held.
func (p *Pool) lookup(method string, off int) (usedSlice, error) {
	if p.closed {
		return usedSlice{}, fmt.Errorf("%w: Pool.%s on a closed pool", ErrClosed, method)
	}
	u, ok := p.a.slice(off)
	if !ok {
		return usedSlice{}, fmt.Errorf("%w: Pool.%s(%d): no allocated slice starts at that offset", ErrBadOffset, method, off)
	}
	return u, nil
}

// Free frees the allocated slice at off, published or not, on the bus's own account, and
// returns its size in bytes (what Alloc took for it).
func (p *Pool) Free(off int) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, err := p.lookup("Free", off); err != nil {
		return 0, err
	}
	return p.a.free(off), nil
}

// Publish marks the slice at off as handed to the receiver: from now on Write refuses it and
// Release accepts it. Call it before telling the receiver the offset.
func (p *Pool) Publish(off int) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	u, err := p.lookup("Publish", off)
	if err != nil {
		return err
	}
	if u.state == blockPublished {
		return fmt.Errorf("%w: Pool.Publish(%d): the slice is already published", ErrBadOffset, off)
	}
	p.a.setState(off, blockPublished)
	return nil
}

// Release frees the published slice at off on the receiver's request, and returns its size in
// bytes. It refuses, with an error wrapping ErrBadOffset and leaving the pool unchanged, an
// offset that is not the start of a slice the receiver was given: the offset comes from the
// receiver and is not to be trusted.
func (p *Pool) Release(off int) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	u, err := p.lookup("Release", off)
	if err != nil {
		return 0, err
	}
	if u.state != blockPublished {
		return 0, fmt.Errorf("%w: Pool.Release(%d): the slice has not been handed to the receiver yet; a receiver may release only slices it has received", ErrBadOffset, off)
	}
	return p.a.free(off), nil
}

// Write copies b to the start of the slice at off, which must be allocated and not yet
// published, and at least len(b) bytes long. The receiver sees the bytes through its mapping
// as soon as they are copied. To fill a slice piece by piece, use Slice.
func (p *Pool) Write(off int, b []byte) error {
	p.mu.Lock()
	u, err := p.lookup("Write", off)
	p.mu.Unlock()
	switch {
	case err != nil:
		return err
	case u.state == blockPublished:
		return fmt.Errorf("%w: Pool.Write(%d): the slice is already published and must not change", ErrBadOffset, off)
	case len(b) > u.size:
		return fmt.Errorf("%w: Pool.Write of %d bytes overruns the %d-byte slice at offset %d", ErrBadOffset, len(b), u.size, off)
	}
	// The slice is the bus's until Publish, so the copy needs no lock.
	copy(p.mem[off:off+u.size], b)
	return nil
}

// Slice returns the memory of the allocated slice at off, writable, for the bus to fill in
// place (for example by reading a message from a socket straight into it) and to check. The
// slice must not be written after Publish, nor used after Free, Release or Close.
func (p *Pool) Slice(off int) ([]byte, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	u, err := p.lookup("Slice", off)
	if err != nil {
		return nil, err
	}
	return p.mem[off : off+u.size : off+u.size], nil
}

// Close unmaps the pool and closes its descriptor; the memory is freed once the client has
// closed its descriptor and unmapped it too. Slices from Slice must not be used afterwards.
// Calling Close more than once is safe; later calls return nil.
func (p *Pool) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil
	}
	p.closed = true
	var err error
	if e := unix.Munmap(p.mem); e != nil {
		err = fmt.Errorf("memfd: unmapping pool: %w", e)
	}
	if e := unix.Close(p.fd); e != nil && err == nil {
		err = fmt.Errorf("memfd: closing pool fd %d: %w", p.fd, e)
	}
	p.a = allocator{}
	return err
}
