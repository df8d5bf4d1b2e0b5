package memfd

// The pool allocator is address-ordered first fit: a request takes the lowest-addressed free
// block that is large enough, and a freed slice merges with free neighbours at once.
//
// Why not a ring, which suits FIFO traffic? Because a pool's pages can never be given back.
// F_SEAL_FUTURE_WRITE forbids punching holes (fallocate and MADV_REMOVE fail with EPERM, even
// for the bus), so every page the bus ever wrote stays resident until the pool is destroyed.
// A ring walks its whole pool before it wraps, so after one lap every page of every pool is
// resident even if the connection never had more than one small message queued. First fit
// keeps reusing the low addresses, so a pool's resident size follows its peak use. For FIFO
// traffic first fit behaves like a ring confined to the pool's low end: slices freed in order
// coalesce with their free neighbours, and fragmentation stays low (address-ordered first fit
// is among the least fragmenting policies known). With a queue of 256 messages of 32 B to
// 4 KiB in a 16 MiB pool, the highest offset ever handed out stays within a few percent of the
// most bytes ever in use (TestPoolFIFOStaysLow), where a ring would touch all 16 MiB.
//
// The receiver decides when slices are freed, so a hostile receiver can fragment its pool on
// purpose. A linear free list would then cost the bus time in the number of fragments on
// every delivery to it; instead the free blocks live in a treap ordered by offset and annotated
// with the largest free block in each subtree, which makes the first-fit search, the split and
// the merges O(log f) in the number f of free fragments whatever the fragmentation (f stays
// near 16 in the FIFO queue above). The nodes live in one slice linked by index, so the tree
// holds no pointers for the garbage collector to scan and reuses nodes without allocating. Allocated slices are kept in a map by offset, which answers Free,
// Publish and Release in constant time and tells bogus offsets apart.

// align is the alignment of every slice offset and size.
const align = 8

// slice states.
const (
	blockFree      = iota // used only by tests, which list free blocks too
	blockUsed             // allocated, still the bus's
	blockPublished        // allocated and handed to the receiver
)

// node is a free block in the treap.
type node struct {
	off, size   int
	maxFree     int   // size of the largest free block in this subtree
	left, right int32 // children, 0 for none
	prio        uint32
}

// usedSlice is an allocated slice.
type usedSlice struct {
	size  int
	state uint8 // blockUsed or blockPublished
}

// allocator partitions [0, size) into free blocks, kept in the treap, and allocated slices,
// kept in used. Free blocks are always merged with free neighbours. It is not safe for
// concurrent use.
type allocator struct {
	nodes []node // nodes[0] is the empty-subtree sentinel, with maxFree 0
	spare int32  // first recycled node, linked through left; 0 if none
	root  int32
	used  map[int]usedSlice
	peak  int // most slices in used since the last reset
	size  int
	inUse int
	rnd   uint64
}

// init makes the whole of [0, size) one free block.
func (a *allocator) init(size int, seed uint64) {
	a.size, a.inUse, a.peak = size, 0, 0
	a.rnd = seed | 1
	a.nodes = make([]node, 1, 8)
	a.spare = 0
	a.used = make(map[int]usedSlice)
	a.root = a.newNode(0, size)
}

// random returns the next xorshift64* value.
func (a *allocator) random() uint32 {
	a.rnd ^= a.rnd >> 12
	a.rnd ^= a.rnd << 25
	a.rnd ^= a.rnd >> 27
	return uint32((a.rnd * 2685821657736338717) >> 32)
}

// newNode returns a free-block node, recycled or appended.
func (a *allocator) newNode(off, size int) int32 {
	n := node{off: off, size: size, maxFree: size, prio: a.random()}
	if i := a.spare; i != 0 {
		a.spare = a.nodes[i].left
		a.nodes[i] = n
		return i
	}
	a.nodes = append(a.nodes, n)
	return int32(len(a.nodes) - 1)
}

// release puts node i on the spare list.
func (a *allocator) release(i int32) {
	a.nodes[i] = node{left: a.spare}
	a.spare = i
}

// pull recomputes t's maxFree from its children.
func (a *allocator) pull(t int32) {
	n := &a.nodes[t]
	m := max(a.nodes[n.left].maxFree, a.nodes[n.right].maxFree, n.size)
	n.maxFree = m
}

// rotateRight lifts t's left child above t and returns it.
func (a *allocator) rotateRight(t int32) int32 {
	l := a.nodes[t].left
	a.nodes[t].left = a.nodes[l].right
	a.nodes[l].right = t
	a.pull(t)
	a.pull(l)
	return l
}

// rotateLeft lifts t's right child above t and returns it.
func (a *allocator) rotateLeft(t int32) int32 {
	r := a.nodes[t].right
	a.nodes[t].right = a.nodes[r].left
	a.nodes[r].left = t
	a.pull(t)
	a.pull(r)
	return r
}

// insert adds node i to the subtree t and returns the subtree's new root.
func (a *allocator) insert(t, i int32) int32 {
	if t == 0 {
		return i
	}
	if a.nodes[i].off < a.nodes[t].off {
		a.nodes[t].left = a.insert(a.nodes[t].left, i)
		if a.nodes[a.nodes[t].left].prio > a.nodes[t].prio {
			return a.rotateRight(t)
		}
	} else {
		a.nodes[t].right = a.insert(a.nodes[t].right, i)
		if a.nodes[a.nodes[t].right].prio > a.nodes[t].prio {
			return a.rotateLeft(t)
		}
	}
	a.pull(t)
	return t
}

// join merges two subtrees whose keys are all smaller in l than in r.
func (a *allocator) join(l, r int32) int32 {
	switch {
	case l == 0:
		return r
	case r == 0:
		return l
	case a.nodes[l].prio > a.nodes[r].prio:
		a.nodes[l].right = a.join(a.nodes[l].right, r)
		a.pull(l)
		return l
	default:
		a.nodes[r].left = a.join(l, a.nodes[r].left)
		a.pull(r)
		return r
	}
}

// remove deletes the node with offset off from the subtree t, recycles it, and returns the
// subtree's new root. The node must exist.
func (a *allocator) remove(t int32, off int) int32 {
	switch n := &a.nodes[t]; {
	case off < n.off:
		n.left = a.remove(n.left, off)
	case off > n.off:
		n.right = a.remove(n.right, off)
	default:
		r := a.join(n.left, n.right)
		a.release(t)
		return r
	}
	a.pull(t)
	return t
}

// touch recomputes maxFree on the path from t down to the node with offset off, after that
// node changed.
func (a *allocator) touch(t int32, off int) {
	if t == 0 {
		return
	}
	if n := &a.nodes[t]; off < n.off {
		a.touch(n.left, off)
	} else if off > n.off {
		a.touch(n.right, off)
	}
	a.pull(t)
}

// before returns the node with the largest offset < off, or 0.
func (a *allocator) before(off int) int32 {
	var best int32
	for t := a.root; t != 0; {
		if n := &a.nodes[t]; off <= n.off {
			t = n.left
		} else {
			best, t = t, n.right
		}
	}
	return best
}

// after returns the node with the smallest offset > off, or 0.
func (a *allocator) after(off int) int32 {
	var best int32
	for t := a.root; t != 0; {
		if n := &a.nodes[t]; off < n.off {
			best, t = t, n.left
		} else {
			t = n.right
		}
	}
	return best
}

// firstFit returns the lowest-addressed free block of at least n bytes, or 0.
func (a *allocator) firstFit(n int) int32 {
	t := a.root
	if a.nodes[t].maxFree < n {
		return 0
	}
	for {
		nd := &a.nodes[t]
		if a.nodes[nd.left].maxFree >= n {
			t = nd.left
		} else if nd.size >= n {
			return t
		} else {
			t = nd.right
		}
	}
}

// alloc takes n bytes (n > 0, a multiple of align) and returns their offset, or -1 if no free
// block is large enough.
func (a *allocator) alloc(n int) int {
	t := a.firstFit(n)
	if t == 0 {
		return -1
	}
	nd := &a.nodes[t]
	off := nd.off
	if nd.size == n {
		a.root = a.remove(a.root, off)
	} else {
		// The remainder keeps its place in the order: no other free block lies between.
		nd.off += n
		nd.size -= n
		a.touch(a.root, nd.off)
	}
	a.used[off] = usedSlice{size: n, state: blockUsed}
	a.peak = max(a.peak, len(a.used))
	a.inUse += n
	return off
}

// free returns the allocated slice at off to the free space, merging it with free neighbours,
// and returns its size, or 0 if no slice starts at off.
func (a *allocator) free(off int) int {
	u, ok := a.used[off]
	if !ok {
		return 0
	}
	delete(a.used, off)
	a.inUse -= u.size
	if len(a.used) == 0 && (cap(a.nodes) > 64 || a.peak > 64) {
		// Everything is free: start over, so that an idle pool does not keep the node
		// array and the map of its busiest moment.
		a.init(a.size, a.rnd)
		return u.size
	}
	end := off + u.size
	p, s := a.before(off), a.after(off)
	pAdj := p != 0 && a.nodes[p].off+a.nodes[p].size == off
	sAdj := s != 0 && a.nodes[s].off == end
	switch {
	case pAdj && sAdj:
		a.nodes[p].size += u.size + a.nodes[s].size
		a.root = a.remove(a.root, end)
		a.touch(a.root, a.nodes[p].off)
	case pAdj:
		a.nodes[p].size += u.size
		a.touch(a.root, a.nodes[p].off)
	case sAdj:
		// Moving s's start down to off keeps its place in the order.
		a.nodes[s].off = off
		a.nodes[s].size += u.size
		a.touch(a.root, off)
	default:
		a.root = a.insert(a.root, a.newNode(off, u.size))
	}
	return u.size
}

// slice returns the allocated slice at off.
func (a *allocator) slice(off int) (usedSlice, bool) {
	u, ok := a.used[off]
	return u, ok
}

// setState changes the state of the allocated slice at off.
func (a *allocator) setState(off int, state uint8) {
	u := a.used[off]
	u.state = state
	a.used[off] = u
}

// largestFree returns the size of the largest free block.
func (a *allocator) largestFree() int { return a.nodes[a.root].maxFree }
