package memfd

import (
	"testing"

	"golang.org/x/sys/unix"
)

const payloadSize = 64 << 20

// BenchmarkPayload64MiB compares receiving a 64 MiB payload as a sealed memfd (map it
// read-only, touch one byte per page, unmap) with copying 64 MiB once, into memory that is
// already mapped (a resident receive buffer) and into freshly mapped memory.
func BenchmarkPayload64MiB(b *testing.B) {
	page := unix.Getpagesize()

	b.Run("memfd-map-touch-pages", func(b *testing.B) {
		w, err := New("bench", payloadSize)
		if err != nil {
			b.Fatal(err)
		}
		buf := w.Bytes()
		for i := range buf {
			buf[i] = byte(i)
		}
		f, err := w.Seal()
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		b.SetBytes(payloadSize)
		var sum byte
		for b.Loop() {
			m, err := MapReadOnly(f.Fd())
			if err != nil {
				b.Fatal(err)
			}
			mem := m.Bytes()
			for i := 0; i < len(mem); i += page {
				sum += mem[i]
			}
			m.Close()
		}
		sink = sum
	})

	b.Run("copy", func(b *testing.B) {
		src := make([]byte, payloadSize)
		dst := make([]byte, payloadSize)
		for i := range src {
			src[i] = byte(i)
		}
		copy(dst, src) // fault both in before timing
		b.SetBytes(payloadSize)
		for b.Loop() {
			copy(dst, src)
		}
		sink = dst[page]
	})

	b.Run("copy-to-fresh-mapping", func(b *testing.B) {
		src := make([]byte, payloadSize)
		for i := range src {
			src[i] = byte(i)
		}
		b.SetBytes(payloadSize)
		for b.Loop() {
			dst, err := unix.Mmap(-1, 0, payloadSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
			if err != nil {
				b.Fatal(err)
			}
			copy(dst, src)
			sink = dst[page]
			unix.Munmap(dst)
		}
	})
}

var sink byte
