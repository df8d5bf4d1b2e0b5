package memfd

import (
	"fmt"
	"sync"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// File is a sealed payload memfd: its contents and size can no longer change. It owns its
// descriptor; pass Fd in a message's descriptor list (the kernel duplicates it) and Close the
// File when the message is sent.
type File struct {
	fd     int
	size   int64
	closed atomic.Bool
}

// Create returns a sealed memfd holding a copy of data. name shows up in /proc/<pid>/fd and
// /proc/<pid>/maps as "memfd:<name>" and may be up to 249 bytes.
//
// Create writes data with pwrite(2) rather than through a mapping, so it never has a writable
// mapping to take down before sealing. Use New to build a payload in place without holding a
// copy of it on the Go heap.
func Create(name string, data []byte) (*File, error) {
	fd, err := create(name, int64(len(data)))
	if err != nil {
		return nil, err
	}
	for off := 0; off < len(data); {
		n, err := unix.Pwrite(fd, data[off:], int64(off))
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			unix.Close(fd)
			return nil, fmt.Errorf("memfd: filling memfd %q (%d of %d bytes written): %w", name, off, len(data), err)
		}
		off += n
	}
	if err := addSeals(fd, PayloadSeals); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("memfd: sealing memfd %q: %w", name, err)
	}
	return &File{fd: fd, size: int64(len(data))}, nil
}

// Fd returns the descriptor, or -1 after Close. It stays owned by the File.
func (f *File) Fd() int {
	if f.closed.Load() {
		return -1
	}
	return f.fd
}

// Size returns the size of the payload in bytes.
func (f *File) Size() int64 { return f.size }

// Map maps the payload read-only, as MapReadOnly does. The Mapping outlives the File: it may be
// used after the File is closed, until its own Close.
func (f *File) Map() (*Mapping, error) {
	if f.closed.Load() {
		return nil, fmt.Errorf("%w: File.Map on a closed File", ErrClosed)
	}
	return MapReadOnly(f.fd)
}

// Close closes the descriptor. The memfd itself lives on as long as another descriptor or a
// mapping refers to it. Calling Close more than once is safe; later calls return nil.
func (f *File) Close() error {
	if f.closed.Swap(true) {
		return nil
	}
	if err := unix.Close(f.fd); err != nil {
		return fmt.Errorf("memfd: closing payload fd %d: %w", f.fd, err)
	}
	return nil
}

// Writer builds a payload in place: New maps a fresh memfd writable, the caller fills Bytes,
// and then either Seal unmaps it and seals it into a File, or SealInPlace seals it while
// keeping Bytes readable, so that the same slice can be sent (the runtime does that for a
// bytes field marked memfd). Writing Bytes is not safe concurrently with anything else;
// SealInPlace, Fd and Bytes may be called from several goroutines at once, as concurrent
// sends of the same payload do.
type Writer struct {
	name string
	fd   int
	mem  []byte
	size int

	mu     sync.Mutex
	done   bool // sealed or closed
	shared bool // sealed in place: mem is a read-only view, fd the sealed memfd
}

// writers finds a live Writer by its memory, for Lookup.
var writers struct {
	mu sync.Mutex
	m  map[*byte]*Writer
}

// Lookup returns the Writer whose contents are exactly b (the slice Bytes returned, neither
// sub-sliced nor grown), or nil. It lets code that receives a plain []byte, such as the
// encoder of a generated message, find out that the bytes already live in a memfd and send
// that memfd instead of a copy.
func Lookup(b []byte) *Writer {
	if len(b) == 0 {
		return nil
	}
	writers.mu.Lock()
	defer writers.mu.Unlock()
	w := writers.m[&b[0]]
	if w == nil || len(b) != w.size {
		return nil
	}
	return w
}

func (w *Writer) register() {
	writers.mu.Lock()
	defer writers.mu.Unlock()
	if writers.m == nil {
		writers.m = make(map[*byte]*Writer)
	}
	writers.m[&w.mem[0]] = w
}

func (w *Writer) unregister() {
	if len(w.mem) == 0 {
		return
	}
	writers.mu.Lock()
	defer writers.mu.Unlock()
	delete(writers.m, &w.mem[0])
}

// New creates a memfd of size bytes for a payload of that size and maps it writable and
// shared. The pages cost nothing until written. Call Seal when the contents are complete, or
// Close to discard them.
func New(name string, size int) (*Writer, error) {
	if size < 0 {
		return nil, fmt.Errorf("memfd: New %q with negative size %d", name, size)
	}
	fd, err := create(name, int64(size))
	if err != nil {
		return nil, err
	}
	w := &Writer{name: name, fd: fd, size: size}
	if size == 0 {
		return w, nil
	}
	w.mem, err = unix.Mmap(fd, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("memfd: mapping memfd %q (%d bytes) writable: %w", name, size, err)
	}
	// A child forked while the mapping exists would hold a writable shared mapping of its
	// own until it execs, and F_SEAL_WRITE fails with EBUSY while any exists.
	if err := unix.Madvise(w.mem, unix.MADV_DONTFORK); err != nil {
		w.Close()
		return nil, fmt.Errorf("memfd: madvise(MADV_DONTFORK) on memfd %q: %w", name, err)
	}
	w.register()
	return w, nil
}

// Bytes returns the contents: writable until SealInPlace, read-only after it. The slice is
// valid until Seal or Close and must not be used after them; Bytes itself panics once the
// Writer is sealed or closed.
func (w *Writer) Bytes() []byte {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.done {
		panic("memfd: Writer.Bytes called after Seal or Close; the writable mapping is gone and slices from it must not be used")
	}
	return w.mem
}

// SealInPlace seals the memfd with PayloadSeals while keeping its contents where they are:
// the writable mapping is replaced, at the same address, by a read-only one, so slices of
// Bytes stay readable (writing through them now faults) until Seal or Close. The Writer keeps
// the descriptor (Fd), which can travel in any number of messages. Calling it again, from any
// goroutine, does nothing.
func (w *Writer) SealInPlace() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.done {
		return fmt.Errorf("%w: Writer.SealInPlace after Seal or Close", ErrClosed)
	}
	if w.shared {
		return nil
	}
	if w.mem != nil {
		// Linux refuses F_SEAL_WRITE while a writable shared mapping exists: map the same
		// pages read-only and private over it first. Private is required on kernels before
		// 6.7, which refuse shared mappings of write-sealed memfds; nobody writes the pages,
		// so private and shared see the same bytes.
		addr := uintptr(unsafe.Pointer(&w.mem[0]))
		_, _, errno := unix.Syscall6(unix.SYS_MMAP, addr, uintptr(w.size), unix.PROT_READ, unix.MAP_PRIVATE|unix.MAP_FIXED, uintptr(w.fd), 0)
		if errno != 0 {
			return fmt.Errorf("memfd: remapping memfd %q read-only: %w", w.name, errno)
		}
	}
	if err := addSeals(w.fd, PayloadSeals); err != nil {
		return fmt.Errorf("memfd: sealing memfd %q: %w", w.name, err)
	}
	w.shared = true
	return nil
}

// Fd returns the memfd's descriptor, owned by the Writer; it may travel in a message once
// SealInPlace sealed it.
func (w *Writer) Fd() int { return w.fd }

// Seal unmaps the writable mapping and seals the memfd with PayloadSeals, turning it into a
// File; the Writer is spent either way. The unmapping comes first because Linux refuses
// F_SEAL_WRITE while a writable shared mapping of the memfd exists. After SealInPlace, Seal
// unmaps the read-only view: slices of Bytes must not be used after Seal either way.
func (w *Writer) Seal() (*File, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.done {
		return nil, fmt.Errorf("%w: Writer.Seal after Seal or Close", ErrClosed)
	}
	w.done = true
	w.unregister()
	if w.shared {
		unix.Munmap(w.mem)
		w.mem = nil
		return &File{fd: w.fd, size: int64(w.size)}, nil
	}
	if w.mem != nil {
		err := unix.Munmap(w.mem)
		w.mem = nil
		if err != nil {
			unix.Close(w.fd)
			return nil, fmt.Errorf("memfd: unmapping memfd %q before sealing: %w", w.name, err)
		}
	}
	if err := addSeals(w.fd, PayloadSeals); err != nil {
		unix.Close(w.fd)
		if err == unix.EBUSY {
			return nil, fmt.Errorf("memfd: sealing memfd %q: %w: a writable shared mapping of it still exists elsewhere, or I/O into its pages is still in flight; unmap and wait for the I/O before sealing", w.name, err)
		}
		return nil, fmt.Errorf("memfd: sealing memfd %q: %w", w.name, err)
	}
	return &File{fd: w.fd, size: int64(w.size)}, nil
}

// Close discards the payload: it unmaps the memory and closes the memfd (messages that carry
// it keep their own descriptors). After Seal it does nothing. Calling Close more than once is
// safe.
func (w *Writer) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.done {
		return nil
	}
	w.done = true
	w.unregister()
	var err error
	if w.mem != nil {
		if e := unix.Munmap(w.mem); e != nil {
			err = fmt.Errorf("memfd: unmapping memfd %q: %w", w.name, e)
		}
		w.mem = nil
	}
	if e := unix.Close(w.fd); e != nil && err == nil {
		err = fmt.Errorf("memfd: closing memfd %q: %w", w.name, e)
	}
	return err
}
