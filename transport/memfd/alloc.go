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
// coalesce back into one block at the bottom, and fragmentation stays low (address-ordered
// first fit is among the least fragmenting policies known).
//
// The receiver decides when slices are freed, so a hostile receiver can fragment its pool on
// purpose. A linear free list would then cost the bus time in the number of fragments on
// every delivery to it; instead the blocks live in a treap ordered by offset and annotated
// with the largest free block in each subtree, which makes the first-fit search, the split
// and the merges O(log n) whatever the fragmentation. The nodes live in one slice linked by
// index, so the allocator holds no pointers for the garbage collector to scan, and reuses
// nodes without allocating.

// align is the alignment of every slice offset and size.
const align = 8

// block states.
const (
	blockFree      = iota
	blockUsed      // allocated, still the bus's
	blockPublished // allocated and handed to the receiver
)

type node struct {
	off, size   int
	maxFree     int   // size of the largest free block in this subtree, 0 if none
	left, right int32 // children, 0 for none
	prio        uint32
	state       uint8
}

// allocator partitions [0, size) into blocks, each free or allocated. It is not safe for
// concurrent use.
type allocator struct {
	nodes  []node // nodes[0] is the empty-subtree sentinel, with maxFree 0
	spare  int32  // first recycled node, linked through left; 0 if none
	root   int32
	size   int
	inUse  int
	slices int
	rnd    uint64
}

func (a *allocator) init(size int, seed uint64) {
	a.size, a.inUse, a.slices = size, 0, 0
	a.rnd = seed | 1
	a.nodes = make([]node, 1, 8)
	a.spare = 0
	a.root = a.newNode(0, size, blockFree)
}

// random returns the next xorshift64* value.
func (a *allocator) random() uint32 {
	a.rnd ^= a.rnd >> 12
	a.rnd ^= a.rnd << 25
	a.rnd ^= a.rnd >> 27
	return uint32((a.rnd * 2685821657736338717) >> 32)
}

func (a *allocator) newNode(off, size int, state uint8) int32 {
	n := node{off: off, size: size, prio: a.random(), state: state}
	if state == blockFree {
		n.maxFree = size
	}
	if i := a.spare; i != 0 {
		a.spare = a.nodes[i].left
		a.nodes[i] = n
		return i
	}
	a.nodes = append(a.nodes, n)
	return int32(len(a.nodes) - 1)
}

func (a *allocator) release(i int32) {
	a.nodes[i] = node{left: a.spare}
	a.spare = i
}

// pull recomputes t's maxFree from its children.
func (a *allocator) pull(t int32) {
	n := &a.nodes[t]
	m := a.nodes[n.left].maxFree
	if r := a.nodes[n.right].maxFree; r > m {
		m = r
	}
	if n.state == blockFree && n.size > m {
		m = n.size
	}
	n.maxFree = m
}

func (a *allocator) rotateRight(t int32) int32 {
	l := a.nodes[t].left
	a.nodes[t].left = a.nodes[l].right
	a.nodes[l].right = t
	a.pull(t)
	a.pull(l)
	return l
}

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

// find returns the node starting at off, or 0.
func (a *allocator) find(off int) int32 {
	t := a.root
	for t != 0 {
		n := &a.nodes[t]
		switch {
		case off < n.off:
			t = n.left
		case off > n.off:
			t = n.right
		default:
			return t
		}
	}
	return 0
}

// floor returns the node with the largest offset <= off, or 0.
func (a *allocator) floor(off int) int32 {
	var best int32
	for t := a.root; t != 0; {
		if n := &a.nodes[t]; off < n.off {
			t = n.left
		} else {
			best, t = t, n.right
		}
	}
	return best
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
		} else if nd.state == blockFree && nd.size >= n {
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
	off, rest := nd.off, nd.size-n
	nd.size, nd.state = n, blockUsed
	if rest == 0 {
		a.touch(a.root, off)
	} else {
		// The remainder's insertion path runs through t, so it also recomputes t's path.
		a.root = a.insert(a.root, a.newNode(off+n, rest, blockFree))
	}
	a.inUse += n
	a.slices++
	return off
}

// free returns the allocated block t to the free space, merging it with free neighbours, and
// returns its size.
func (a *allocator) free(t int32) int {
	off, size := a.nodes[t].off, a.nodes[t].size
	end := off + size
	a.inUse -= size
	a.slices--
	if a.inUse == 0 && cap(a.nodes) > 64 {
		// Everything is free: start over, so that an idle pool does not keep the node
		// array of its busiest moment.
		a.init(a.size, a.rnd)
		return size
	}
	// Blocks tile the pool, so the neighbours are adjacent by construction.
	if s := a.after(off); s != 0 && a.nodes[s].state == blockFree {
		end += a.nodes[s].size
		a.root = a.remove(a.root, a.nodes[s].off)
	}
	if p := a.before(off); p != 0 && a.nodes[p].state == blockFree {
		a.root = a.remove(a.root, off)
		start := a.nodes[p].off
		a.nodes[p].size = end - start
		a.touch(a.root, start)
	} else {
		a.nodes[t].state = blockFree
		a.nodes[t].size = end - off
		a.touch(a.root, off)
	}
	return size
}

// largestFree returns the size of the largest free block.
func (a *allocator) largestFree() int { return a.nodes[a.root].maxFree }
