package native

import (
	"context"
	"sync/atomic"
	"testing"
	"unsafe"
)

// areaConn is a Conn with only what reserve reads: a send area and the pool's control words,
// where the bus publishes the last send it finished with.
func areaConn(size int) *Conn {
	return &Conn{area: make([]byte, size), poolMem: make([]byte, controlSize)}
}

// sentAt records a send at off the way send does once its packet is written.
func (c *Conn) sentAt(off, total int) {
	c.cookie++
	end := off + (total+7)&^7
	c.spans = append(c.spans, span{cookie: c.cookie, start: off, end: end})
	c.head = end
}

// busConsumed publishes, as the bus does, that it is done with every send up to cookie.
func (c *Conn) busConsumed(cookie uint64) {
	atomic.StoreUint64((*uint64)(unsafe.Pointer(&c.poolMem[ctrlConsumed])), cookie)
}

// TestReserveNeverOverlapsALiveSend fills the send area round its end until the newest send
// ends exactly where the oldest live one starts: the area is full, and a reservation must
// wait for the bus rather than hand out the oldest send's bytes, which the bus has not read
// yet (it would route the newer message's bytes under the older one's header).
func TestReserveNeverOverlapsALiveSend(t *testing.T) {
	c := areaConn(64)
	ctx := context.Background()
	for _, want := range []int{0, 24} {
		off, err := c.reserve(ctx, 24)
		if err != nil || off != want {
			t.Fatalf("reserve = %d, %v; want %d", off, err, want)
		}
		c.sentAt(off, 24)
	}
	c.busConsumed(1) // the bus is done with [0,24), not with [24,48)
	off, err := c.reserve(ctx, 24)
	if err != nil || off != 0 {
		t.Fatalf("reserve after the wrap = %d, %v; want 0", off, err)
	}
	c.sentAt(off, 24) // [0,24) again: the live sends are [24,48) and [0,24), head = 24

	done, cancel := context.WithCancel(ctx)
	cancel()
	for _, size := range []int{8, 24, 40} {
		if off, err := c.reserve(done, size); err == nil {
			t.Fatalf("reserve(%d) on a full area = %d, overlapping the live sends %+v; want it to wait", size, off, c.spans)
		}
	}
	c.busConsumed(2) // [24,48) is done: room from 24 up to the end
	if off, err := c.reserve(done, 40); err != nil || off != 24 {
		t.Fatalf("reserve after the bus caught up = %d, %v; want 24", off, err)
	}
	// Every reservation handed out so far is disjoint from the sends still live.
	for _, s := range c.spans {
		if s.start < 24+40 && 24 < s.end {
			t.Fatalf("the reservation [24,64) overlaps the live send %+v", s)
		}
	}
}
