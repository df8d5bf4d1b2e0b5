package memfd

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func newPool(t testing.TB, size int) *Pool {
	t.Helper()
	p, err := NewPool("test-pool", size)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func TestNewPool(t *testing.T) {
	page := unix.Getpagesize()
	p := newPool(t, page+1)
	if p.Size() != 2*page {
		t.Errorf("Size = %d, want %d (rounded up to pages)", p.Size(), 2*page)
	}
	if s := seals(t, p.Fd()); s&PoolSeals != PoolSeals {
		t.Errorf("seals %s, want %s", SealNames(s), SealNames(PoolSeals))
	}
	bad := []int{0, -1}
	if big := MaxPoolSize + 1; int64(int(big)) == big {
		bad = append(bad, int(big))
	}
	for _, size := range bad {
		if _, err := NewPool("bad", size); err == nil {
			t.Errorf("NewPool(%d) succeeded", size)
		}
	}
}

func TestPoolSlices(t *testing.T) {
	p := newPool(t, 1<<16)
	a, err := p.Alloc(5)
	if err != nil {
		t.Fatal(err)
	}
	b, err := p.Alloc(100)
	if err != nil {
		t.Fatal(err)
	}
	if a != 0 || b != 8 {
		t.Errorf("offsets %d, %d; want 0, 8 (first fit, 8-aligned)", a, b)
	}
	if p.InUse() != 8+104 {
		t.Errorf("InUse = %d, want %d", p.InUse(), 8+104)
	}

	if err := p.Write(b, []byte("hello")); err != nil {
		t.Fatal(err)
	}
	s, err := p.Slice(b)
	if err != nil {
		t.Fatal(err)
	}
	if len(s) != 104 || string(s[:5]) != "hello" {
		t.Errorf("Slice = %d bytes %q", len(s), s[:5])
	}
	for _, w := range []struct {
		off int
		n   int
	}{{b + 8, 5}, {b, 105}, {-1, 1}, {200, 1}, {p.Size(), 0}, {b + 104, 0}} {
		if err := p.Write(w.off, make([]byte, w.n)); !errors.Is(err, ErrBadOffset) {
			t.Errorf("Write(%d, %d bytes) = %v, want ErrBadOffset", w.off, w.n, err)
		}
	}

	// A receiver may release only what it was given.
	if _, err := p.Release(b); !errors.Is(err, ErrBadOffset) {
		t.Errorf("Release of an unpublished slice = %v, want ErrBadOffset", err)
	}
	if err := p.Publish(b); err != nil {
		t.Fatal(err)
	}
	if err := p.Publish(b); !errors.Is(err, ErrBadOffset) {
		t.Errorf("second Publish = %v, want ErrBadOffset", err)
	}
	if err := p.Write(b, []byte("x")); !errors.Is(err, ErrBadOffset) {
		t.Errorf("Write to a published slice = %v, want ErrBadOffset", err)
	}
	for _, off := range []int{b + 8, 4, 1 << 15, -8, 1 << 40} {
		if _, err := p.Release(off); !errors.Is(err, ErrBadOffset) {
			t.Errorf("Release(%d) = %v, want ErrBadOffset", off, err)
		}
	}
	if n, err := p.Release(b); err != nil || n != 104 {
		t.Errorf("Release = %d, %v; want 104, nil", n, err)
	}
	if _, err := p.Release(b); !errors.Is(err, ErrBadOffset) {
		t.Errorf("double Release = %v, want ErrBadOffset", err)
	}
	if n, err := p.Free(a); err != nil || n != 8 {
		t.Errorf("Free = %d, %v; want 8, nil", n, err)
	}
	if _, err := p.Free(a); !errors.Is(err, ErrBadOffset) {
		t.Errorf("double Free = %v, want ErrBadOffset", err)
	}
	if p.InUse() != 0 {
		t.Errorf("InUse = %d after freeing everything", p.InUse())
	}

	// Everything coalesced: the whole pool fits again.
	all, err := p.Alloc(p.Size())
	if err != nil || all != 0 {
		t.Fatalf("Alloc(whole pool) = %d, %v", all, err)
	}
	if _, err := p.Alloc(8); !errors.Is(err, ErrNoSpace) {
		t.Errorf("Alloc in a full pool = %v, want ErrNoSpace", err)
	} else {
		t.Log(err)
	}
	if _, err := p.Alloc(p.Size() + 1); !errors.Is(err, ErrNoSpace) {
		t.Errorf("Alloc larger than the pool = %v, want ErrNoSpace", err)
	}
	if _, err := p.Alloc(0); err == nil {
		t.Error("Alloc(0) succeeded")
	}
}

func TestPoolClose(t *testing.T) {
	p, err := NewPool("closing", 1<<16)
	if err != nil {
		t.Fatal(err)
	}
	off, _ := p.Alloc(8)
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if p.Fd() != -1 {
		t.Errorf("Fd after Close = %d", p.Fd())
	}
	if _, err := p.Alloc(8); !errors.Is(err, ErrClosed) {
		t.Errorf("Alloc after Close = %v, want ErrClosed", err)
	}
	if _, err := p.Free(off); !errors.Is(err, ErrClosed) {
		t.Errorf("Free after Close = %v, want ErrClosed", err)
	}
	if err := p.Write(off, []byte{1}); !errors.Is(err, ErrClosed) {
		t.Errorf("Write after Close = %v, want ErrClosed", err)
	}
	if _, err := p.Slice(off); !errors.Is(err, ErrClosed) {
		t.Errorf("Slice after Close = %v, want ErrClosed", err)
	}
}

// TestPoolConcurrent has senders fill slices while a receiver releases them, under the race
// detector in the usual test run.
func TestPoolConcurrent(t *testing.T) {
	p := newPool(t, 1<<20)
	offs := make(chan int, 4*2000) // never blocks a sender, even if the receiver stops early
	done := make(chan error)
	go func() {
		for off := range offs {
			if _, err := p.Release(off); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	senders := make(chan error)
	for s := range 4 {
		go func() {
			msg := bytes.Repeat([]byte{byte(s)}, 100+s)
			for range 2000 {
				off, err := p.Alloc(len(msg))
				if errors.Is(err, ErrNoSpace) {
					continue
				}
				if err == nil {
					err = p.Write(off, msg)
				}
				if err == nil {
					err = p.Publish(off)
				}
				if err != nil {
					senders <- err
					return
				}
				offs <- off
			}
			senders <- nil
		}()
	}
	for range 4 {
		if err := <-senders; err != nil {
			t.Error(err)
		}
	}
	close(offs)
	if err := <-done; err != nil {
		t.Error(err)
	}
	if p.InUse() != 0 {
		t.Errorf("InUse = %d after every slice was released", p.InUse())
	}
}

// TestPoolNotPrefaulted checks that a pool's memory is allocated only where written.
func TestPoolNotPrefaulted(t *testing.T) {
	page := unix.Getpagesize()
	p := newPool(t, 64<<20)
	blocks := func() int64 {
		var st unix.Stat_t
		if err := unix.Fstat(p.Fd(), &st); err != nil {
			t.Fatal(err)
		}
		return st.Blocks * 512
	}
	if b := blocks(); b != 0 {
		t.Fatalf("a fresh 64 MiB pool holds %d bytes of memory, want 0", b)
	}
	off, err := p.Alloc(10 * page)
	if err != nil {
		t.Fatal(err)
	}
	s, err := p.Slice(off)
	if err != nil {
		t.Fatal(err)
	}
	s[5*page+7] = 'x'

	if b := blocks(); b != int64(page) {
		t.Errorf("after writing one byte the pool holds %d bytes of memory, want one page (%d)", b, page)
	}
}

// TestPoolPagesCannotBeReturned records the kernel rule behind the allocator's first-fit
// policy: once sealed with F_SEAL_FUTURE_WRITE, not even the bus can punch holes in the pool.
func TestPoolPagesCannotBeReturned(t *testing.T) {
	page := unix.Getpagesize()
	p := newPool(t, 16*page)
	if err := p.Write(mustAlloc(t, p, page), []byte("x")); err != nil {
		t.Fatal(err)
	}
	if err := unix.Fallocate(p.Fd(), unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE, 0, int64(page)); err == nil {
		t.Error("fallocate(PUNCH_HOLE) on a sealed pool succeeded; the allocator could then return freed pages")
	}
	if err := unix.Madvise(p.mem[:page], unix.MADV_REMOVE); err == nil {
		t.Error("madvise(MADV_REMOVE) on a sealed pool succeeded; the allocator could then return freed pages")
	}
}

func mustAlloc(t testing.TB, p *Pool, n int) int {
	t.Helper()
	off, err := p.Alloc(n)
	if err != nil {
		t.Fatal(err)
	}
	return off
}

// TestPoolClientProcess hands a pool to another process, which must see what the bus writes
// after it mapped the pool, and must fail to write it in every way.
func TestPoolClientProcess(t *testing.T) {
	page := unix.Getpagesize()
	p := newPool(t, 64*page)
	first := mustAlloc(t, p, page)
	mark := bytes.Repeat([]byte("early"), 100)
	if err := p.Write(first, mark); err != nil {
		t.Fatal(err)
	}
	if err := p.Publish(first); err != nil {
		t.Fatal(err)
	}

	cmd, stdin, stdout, stderr := startHelper(t, "pool-client", p.Fd())
	var ready string
	for !strings.HasSuffix(ready, "READY\n") {
		line, err := stdout.ReadString('\n')
		ready += line
		if err != nil {
			break
		}
	}
	if !strings.HasSuffix(ready, "READY\n") {
		stdin.Close()
		r := finishHelper(cmd, stdout, stderr, ready)
		t.Fatalf("helper did not get ready:\n%s\n%s", r.stdout, r.stderr)
	}

	// Written while the client has the pool mapped.
	later := randomBytes(9, 3*page+11)
	off := mustAlloc(t, p, len(later))
	if err := p.Write(off, later); err != nil {
		t.Fatal(err)
	}
	if err := p.Publish(off); err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(stdin, "CHECK %d %s\n", off, hex.EncodeToString(later))
	stdin.Close()

	r := finishHelper(cmd, stdout, stderr, ready)
	want := append([]string{"MapPool", "visible-after-map", "mprotect-pool-mapping-writable",
		"madvise-remove-on-pool-mapping", "add-seal", "pool-unchanged-after-attacks"}, attackNames()...)
	checkHelper(t, r, want)

	// The client's private writable mapping did not reach the pool, and the bus can still
	// write through its own mapping.
	s, err := p.Slice(first)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(s[:len(mark)], mark) {
		t.Error("the client changed the pool")
	}
	if err := p.Write(mustAlloc(t, p, 8), []byte("still ok")); err != nil {
		t.Errorf("the bus cannot write its pool after the client's attempts: %v", err)
	}
}

func TestMapPoolRefuses(t *testing.T) {
	f, err := Create("payload", []byte("data"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	unsealed := memfdWithSeals(t, unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING, 0)
	shrinkable := memfdWithSeals(t, unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING, unix.F_SEAL_GROW|unix.F_SEAL_FUTURE_WRITE)
	for name, fd := range map[string]int{"payload": f.Fd(), "unsealed": unsealed, "shrinkable": shrinkable} {
		_, err := MapPool(fd)
		if !errors.Is(err, ErrNotSealed) {
			t.Errorf("MapPool(%s) = %v, want ErrNotSealed", name, err)
		} else {
			t.Log(err)
		}
	}
}

// liveSlice is the model's record of an allocated slice.
type liveSlice struct {
	off, size int
	published bool
}

// TestPoolProperty runs random allocations, publications, releases and frees (and bogus ones)
// against a model, checking after every step that slices never overlap, that offsets are
// aligned and first fit, that InUse is exact, and that the allocator's tree is sound.
func TestPoolProperty(t *testing.T) {
	for seed := uint64(1); seed <= 8; seed++ {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			r := rand.New(rand.NewPCG(seed, seed))
			p := newPool(t, 1<<16)
			live := map[int]*liveSlice{}
			var allocs, full, publishes, releases, frees, peak int
			steps := 8000
			if testing.Short() {
				steps = 1000
			}
			for step := range steps {
				// Allocations become rarer as slices pile up, so the pool hovers around 150
				// live slices and now and then runs full on a large request.
				op := r.IntN(10)
				if op < 8 && r.IntN(300) < len(live) {
					op = 2
				} else if op < 8 {
					op = 0
				}
				switch {
				case op == 0: // allocate
					n := 1 + r.IntN(64)
					if r.IntN(8) == 0 {
						n = 1 + r.IntN(1<<14)
					}
					want := firstFitModel(live, p.Size(), roundUp(n))
					off, err := p.Alloc(n)
					if want < 0 {
						if !errors.Is(err, ErrNoSpace) {
							t.Fatalf("step %d: Alloc(%d) = %d, %v; the model has no room", step, n, off, err)
						}
						full++
						continue
					}
					if err != nil || off != want {
						t.Fatalf("step %d: Alloc(%d) = %d, %v; first fit is %d", step, n, off, err, want)
					}
					live[off] = &liveSlice{off: off, size: roundUp(n)}
					allocs++
					peak = max(peak, len(live))
				case op == 8: // publish
					if s := pick(r, live); s != nil && !s.published {
						if err := p.Publish(s.off); err != nil {
							t.Fatalf("step %d: Publish(%d): %v", step, s.off, err)
						}
						s.published = true
						publishes++
					}
				case op == 2: // release or free
					s := pick(r, live)
					if s == nil {
						continue
					}
					var n int
					var err error
					if s.published && r.IntN(2) == 0 {
						n, err = p.Release(s.off)
						releases++
					} else if !s.published && r.IntN(4) == 0 {
						if _, err := p.Release(s.off); !errors.Is(err, ErrBadOffset) {
							t.Fatalf("step %d: Release of unpublished %d = %v", step, s.off, err)
						}
						continue
					} else {
						n, err = p.Free(s.off)
						frees++
					}
					if err != nil || n != s.size {
						t.Fatalf("step %d: freeing [%d,+%d) = %d, %v", step, s.off, s.size, n, err)
					}
					delete(live, s.off)
				default: // bogus offsets change nothing
					off := r.IntN(p.Size()+64) - 32
					if _, ok := live[off]; ok {
						continue
					}
					if _, err := p.Release(off); !errors.Is(err, ErrBadOffset) {
						t.Fatalf("step %d: Release(%d) of no slice = %v", step, off, err)
					}
					if _, err := p.Free(off); !errors.Is(err, ErrBadOffset) {
						t.Fatalf("step %d: Free(%d) of no slice = %v", step, off, err)
					}
				}
				checkModel(t, step, p, live)
			}
			t.Logf("%d allocations (%d refused: pool full), %d publications, %d releases, %d frees; at most %d live slices",
				allocs, full, publishes, releases, frees, peak)
			for off := range live {
				if _, err := p.Free(off); err != nil {
					t.Fatal(err)
				}
			}
			if p.InUse() != 0 || p.a.largestFree() != p.Size() {
				t.Fatalf("after freeing everything: InUse %d, largest free %d of %d", p.InUse(), p.a.largestFree(), p.Size())
			}
		})
	}
}

func roundUp(n int) int { return (n + align - 1) &^ (align - 1) }

// pick returns a random live slice, or nil.
func pick(r *rand.Rand, live map[int]*liveSlice) *liveSlice {
	if len(live) == 0 {
		return nil
	}
	i := r.IntN(len(live))
	for _, s := range live {
		if i == 0 {
			return s
		}
		i--
	}
	return nil
}

func sortedSlices(live map[int]*liveSlice) []*liveSlice {
	s := make([]*liveSlice, 0, len(live))
	for _, l := range live {
		s = append(s, l)
	}
	sort.Slice(s, func(i, j int) bool { return s[i].off < s[j].off })
	return s
}

// firstFitModel returns the lowest offset where n bytes fit between the live slices, or -1.
func firstFitModel(live map[int]*liveSlice, size, n int) int {
	at := 0
	for _, s := range sortedSlices(live) {
		if s.off-at >= n {
			return at
		}
		at = s.off + s.size
	}
	if size-at >= n {
		return at
	}
	return -1
}

func checkModel(t *testing.T, step int, p *Pool, live map[int]*liveSlice) {
	t.Helper()
	sum, end := 0, 0
	for _, s := range sortedSlices(live) {
		if s.off%align != 0 || s.size%align != 0 {
			t.Fatalf("step %d: slice [%d,+%d) not %d-aligned", step, s.off, s.size, align)
		}
		if s.off < end {
			t.Fatalf("step %d: slice at %d overlaps the previous one, which ends at %d", step, s.off, end)
		}
		end = s.off + s.size
		sum += s.size
	}
	if end > p.Size() {
		t.Fatalf("step %d: a slice ends at %d, past the pool's %d bytes", step, end, p.Size())
	}
	if p.InUse() != sum {
		t.Fatalf("step %d: InUse = %d, the live slices hold %d", step, p.InUse(), sum)
	}
	if err := p.a.check(); err != nil {
		t.Fatalf("step %d: %v", step, err)
	}
	used := 0
	for _, b := range p.a.blocks() {
		if b.state == blockFree {
			continue
		}
		used++
		s := live[b.off]
		if s == nil || s.size != b.size || s.published != (b.state == blockPublished) {
			t.Fatalf("step %d: the allocator has block [%d,+%d) state %d, the model %+v", step, b.off, b.size, b.state, s)
		}
	}
	if used != len(live) || len(p.a.used) != len(live) {
		t.Fatalf("step %d: the allocator has %d slices (counted %d), the model %d", step, len(p.a.used), used, len(live))
	}
}
