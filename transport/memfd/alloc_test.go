package memfd

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

// block is a free block or an allocated slice, as the tests list them.
type block struct {
	off, size int
	state     uint8
}

// freeBlocks returns the treap's free blocks in address order.
func (a *allocator) freeBlocks() []block {
	var out []block
	var walk func(int32)
	walk = func(t int32) {
		if t == 0 {
			return
		}
		walk(a.nodes[t].left)
		out = append(out, block{a.nodes[t].off, a.nodes[t].size, blockFree})
		walk(a.nodes[t].right)
	}
	walk(a.root)
	return out
}

// blocks returns the free blocks and the allocated slices in address order.
func (a *allocator) blocks() []block {
	out := a.freeBlocks()
	for off, u := range a.used {
		out = append(out, block{off, u.size, u.state})
	}
	slices.SortFunc(out, func(x, y block) int { return cmp.Compare(x.off, y.off) })
	return out
}

// check verifies the allocator's invariants: free blocks and slices tile [0, size) in order,
// each free block is merged with its free neighbours, the treap is ordered by offset and by
// priority, every maxFree is right, InUse is exact, and no node is both in the tree and on the
// spare list.
func (a *allocator) check() error {
	var verify func(t int32, lo, hi int) (maxFree, count int, err error)
	verify = func(t int32, lo, hi int) (int, int, error) {
		if t == 0 {
			return 0, 0, nil
		}
		n := a.nodes[t]
		if n.off < lo || n.off >= hi {
			return 0, 0, fmt.Errorf("node at %d outside its subtree's key range [%d, %d)", n.off, lo, hi)
		}
		for _, c := range []int32{n.left, n.right} {
			if c != 0 && a.nodes[c].prio > n.prio {
				return 0, 0, fmt.Errorf("node at %d has a child with a higher priority", n.off)
			}
		}
		lm, lc, err := verify(n.left, lo, n.off)
		if err != nil {
			return 0, 0, err
		}
		rm, rc, err := verify(n.right, n.off+1, hi)
		if err != nil {
			return 0, 0, err
		}
		if m := max(lm, rm, n.size); n.maxFree != m {
			return 0, 0, fmt.Errorf("node at %d has maxFree %d, want %d", n.off, n.maxFree, m)
		}
		return n.maxFree, lc + rc + 1, nil
	}
	_, count, err := verify(a.root, 0, a.size)
	if err != nil {
		return err
	}
	if a.nodes[0] != (node{}) {
		return fmt.Errorf("the sentinel node changed: %+v", a.nodes[0])
	}
	spare := 0
	for i := a.spare; i != 0; i = a.nodes[i].left {
		spare++
	}
	if count+spare+1 != len(a.nodes) {
		return fmt.Errorf("%d nodes in the tree, %d spare, but %d allocated", count, spare, len(a.nodes)-1)
	}
	at, inUse := 0, 0
	prevFree := false
	for _, b := range a.blocks() {
		if b.off != at {
			return fmt.Errorf("block at %d, want one at %d: the blocks do not tile the pool", b.off, at)
		}
		if b.size <= 0 || b.size%align != 0 || b.off%align != 0 {
			return fmt.Errorf("block [%d,+%d) is empty or unaligned", b.off, b.size)
		}
		free := b.state == blockFree
		if free && prevFree {
			return fmt.Errorf("free block at %d follows a free block: not merged", b.off)
		}
		if !free {
			inUse += b.size
		}
		prevFree = free
		at += b.size
	}
	if at != a.size {
		return fmt.Errorf("the blocks cover %d bytes of %d", at, a.size)
	}
	if inUse != a.inUse {
		return fmt.Errorf("slices hold %d bytes, inUse says %d", inUse, a.inUse)
	}
	return nil
}

// TestAllocatorIdleShrinks checks that a pool that was busy and is now empty gives back the
// node array of its busiest moment.
func TestAllocatorIdleShrinks(t *testing.T) {
	var a allocator
	a.init(1<<20, 1)
	var offs []int
	for range 1000 {
		offs = append(offs, a.alloc(64))
	}
	// Free every other slice first, so the tree holds many free fragments.
	for i := 0; i < len(offs); i += 2 {
		a.free(offs[i])
	}
	if err := a.check(); err != nil {
		t.Fatal(err)
	}
	for i := 1; i < len(offs); i += 2 {
		a.free(offs[i])
	}
	if err := a.check(); err != nil {
		t.Fatal(err)
	}
	if cap(a.nodes) > 64 || a.peak != 0 || a.largestFree() != 1<<20 {
		t.Errorf("idle allocator keeps %d nodes and a map sized for %d slices; largest free %d", cap(a.nodes), a.peak, a.largestFree())
	}
}

// TestPoolFIFOStaysLow backs the allocator's first-fit choice: under FIFO traffic the slices
// stay at the low end of the pool, so the pages ever touched track the bytes in use.
func TestPoolFIFOStaysLow(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	p := newPool(t, 16<<20)
	queue := make([]int, 256)
	highest, peak := 0, 0
	for i := 0; i < 100000; i++ {
		j := i % len(queue)
		if i >= len(queue) {
			p.Free(queue[j])
		}
		n := 32 + r.IntN(4096)
		queue[j] = mustAlloc(t, p, n)
		highest = max(highest, queue[j]+n)
		peak = max(peak, p.InUse())
	}
	t.Logf("highest offset used %d, peak bytes in use %d, %d free fragments", highest, peak, len(p.a.freeBlocks()))
	if float64(highest) > 1.5*float64(peak) {
		t.Errorf("slices reach offset %d with at most %d bytes in use: first fit should keep them low", highest, peak)
	}
}

// FuzzAllocator drives the allocator with arbitrary operation sequences, as a hostile receiver
// choosing which offsets to free might.
func FuzzAllocator(f *testing.F) {
	f.Add([]byte{0, 1, 0, 2, 0, 3, 1, 0, 1, 1, 0, 200})
	f.Add([]byte{0, 255, 0, 255, 0, 255, 0, 255, 1, 1, 1, 3, 1, 0, 1, 2, 2, 9})
	f.Fuzz(func(t *testing.T, ops []byte) {
		var a allocator
		const size = 1 << 14
		a.init(size, 7)
		live := map[int]int{}
		for i := 0; i+2 < len(ops); i += 3 {
			arg := int(binary.LittleEndian.Uint16(ops[i+1:]))
			switch ops[i] % 3 {
			case 0:
				n := roundUp(arg%(size/4) + 1)
				if off := a.alloc(n); off >= 0 {
					for o, s := range live {
						if off < o+s && o < off+n {
							t.Fatalf("[%d,+%d) overlaps [%d,+%d)", off, n, o, s)
						}
					}
					live[off] = n
				}
			case 1: // free the arg-th live slice in address order, if any
				if len(live) > 0 {
					k := arg % len(live)
					for _, b := range a.blocks() {
						if b.state != blockFree {
							if k == 0 {
								if got := a.free(b.off); got != live[b.off] {
									t.Fatalf("free returned %d, want %d", got, live[b.off])
								}
								delete(live, b.off)
								break
							}
							k--
						}
					}
				}
			case 2: // an arbitrary offset frees something only if a slice starts there
				if _, ok := live[arg]; !ok {
					if got := a.free(arg); got != 0 {
						t.Fatalf("free(%d) of no slice returned %d", arg, got)
					}
				}
			}
			if err := a.check(); err != nil {
				t.Fatal(err)
			}
		}
	})
}

// BenchmarkAllocFree measures one Alloc plus one Free on a Pool (its lock included).
func BenchmarkAllocFree(b *testing.B) {
	sizes := make([]int, 4096)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range sizes {
		sizes[i] = 32 + r.IntN(4096)
	}

	// The same slice over and over: the common case of a receiver that keeps up.
	b.Run("immediate", func(b *testing.B) {
		p := newPool(b, 16<<20)
		for i := 0; b.Loop(); i++ {
			off, err := p.Alloc(sizes[i%len(sizes)])
			if err != nil {
				b.Fatal(err)
			}
			p.Free(off)
		}
	})

	// A queue of 256 messages of mixed sizes, freed in the order they were delivered.
	b.Run("fifo-256", func(b *testing.B) {
		p := newPool(b, 16<<20)
		queue := make([]int, 256)
		for i := range queue {
			queue[i] = mustAlloc(b, p, sizes[i])
		}
		for i := 0; b.Loop(); i++ {
			j := i % len(queue)
			p.Free(queue[j])
			off, err := p.Alloc(sizes[i%len(sizes)])
			if err != nil {
				b.Fatal(err)
			}
			queue[j] = off
		}
	})

	// 10000 live slices freed in random order: a fragmented pool, as a hostile receiver
	// could make it.
	b.Run("random-10000", func(b *testing.B) {
		p := newPool(b, 256<<20)
		live := make([]int, 10000)
		for i := range live {
			live[i] = mustAlloc(b, p, sizes[i%len(sizes)])
		}
		for i := 0; b.Loop(); i++ {
			j := r.IntN(len(live))
			p.Free(live[j])
			off, err := p.Alloc(sizes[i%len(sizes)])
			if err != nil {
				b.Fatal(err)
			}
			live[j] = off
		}
	})
}
