package broker

import (
	"container/heap"
	"time"
)

// The reply registry: the calls the bus forwarded and whose replies it expects. A reply goes
// through only if it answers one of them (route), each is answered with NoReply when its
// callee goes away or its timeout passes, and a caller may await at most
// MaxRepliesPerConnection. The registry lives in two maps per peer, guarded by b.mu: what
// the peer owes (expected) and what it awaits (outstanding); and in one queue of deadlines
// for the whole bus, watched by a single timer. A timer per call would cost every call a
// change to the runtime's timer heap, which wakes a thread whenever the new deadline is the
// earliest; with one timer, a call costs a push onto the queue and its reply a removal, and
// the timer is moved only when it is not armed early enough.

// replyKey identifies a call awaiting its reply: the caller and the call's serial.
type replyKey struct {
	caller uint64
	serial uint32
}

// pendingReply is a call the bus forwarded and whose reply it expects.
type pendingReply struct {
	caller, callee *peer
	key            replyKey
	deadline       time.Time
	index          int // in replyDeadlines.queue
}

// replyDeadlines orders the pending replies by deadline, earliest first. Guarded by b.mu.
type replyDeadlines struct {
	queue deadlineQueue
	timer *time.Timer
	// armed is when the timer fires; zero when it is not armed.
	armed time.Time
}

// deadlineQueue is a heap of pending replies by deadline (container/heap).
type deadlineQueue []*pendingReply

func (q deadlineQueue) Len() int           { return len(q) }
func (q deadlineQueue) Less(i, j int) bool { return q[i].deadline.Before(q[j].deadline) }
func (q deadlineQueue) Swap(i, j int) {
	q[i], q[j] = q[j], q[i]
	q[i].index, q[j].index = i, j
}
func (q *deadlineQueue) Push(x any) {
	pr := x.(*pendingReply)
	pr.index = len(*q)
	*q = append(*q, pr)
}
func (q *deadlineQueue) Pop() any {
	old := *q
	pr := old[len(old)-1]
	old[len(old)-1] = nil
	*q = old[:len(old)-1]
	pr.index = -1
	return pr
}

// expect records that callee owes caller a reply to the call with the given serial, due
// within the caller's own timeout or the bus's reply timeout, whichever is shorter. A call
// with neither (the bus's reply_timeout unset, as in dbus-daemon's default, and no deadline
// from the caller) waits as long as both peers are there: a stream's opening call is such a
// call. Caller holds b.mu.
func (b *Broker) expect(caller, callee *peer, serial uint32, timeout time.Duration) {
	if bus := b.limits.ReplyTimeout; bus > 0 && (timeout <= 0 || timeout > bus) {
		timeout = bus
	}
	key := replyKey{caller: caller.id, serial: serial}
	pr := &pendingReply{caller: caller, callee: callee, key: key, index: -1}
	callee.expected[key] = pr
	caller.outstanding[key] = callee
	if timeout > 0 {
		pr.deadline = time.Now().Add(timeout)
		heap.Push(&b.replies.queue, pr)
		b.armReplyTimer(pr.deadline)
	}
}

// armReplyTimer makes sure the timer fires by deadline. Caller holds b.mu.
func (b *Broker) armReplyTimer(deadline time.Time) {
	r := &b.replies
	if !r.armed.IsZero() && !r.armed.After(deadline) {
		return
	}
	r.armed = deadline
	d := time.Until(deadline)
	if r.timer == nil {
		r.timer = time.AfterFunc(d, b.replyTimedOut)
		return
	}
	r.timer.Reset(d)
}

// settle forgets a reply callee owed; it reports false when none was owed. Caller holds b.mu.
func (b *Broker) settle(callee *peer, key replyKey) (*pendingReply, bool) {
	pr, ok := callee.expected[key]
	if !ok {
		return nil, false
	}
	if pr.index >= 0 {
		heap.Remove(&b.replies.queue, pr.index)
	}
	delete(callee.expected, key)
	delete(pr.caller.outstanding, key)
	return pr, true
}

// failExpectedReplies answers every call awaiting p's reply with NoReply, because p went
// away, and forgets the replies p itself was waiting for. Caller holds b.mu.
func (b *Broker) failExpectedReplies(p *peer) {
	for key := range p.expected {
		pr, _ := b.settle(p, key)
		if !pr.caller.gone {
			b.sendDriverError(pr.caller, pr.key.serial, errNoReply, "Message recipient disconnected from message bus without replying")
		}
	}
	for key, callee := range p.outstanding {
		b.settle(callee, key)
	}
}

// replyTimedOut answers the calls that waited past their deadlines, and arms the timer for
// the next deadline.
func (b *Broker) replyTimedOut() {
	b.mu.Lock()
	defer b.unlock()
	r := &b.replies
	r.armed = time.Time{}
	now := time.Now()
	for len(r.queue) > 0 {
		pr := r.queue[0]
		if pr.deadline.After(now) {
			b.armReplyTimer(pr.deadline)
			return
		}
		b.settle(pr.callee, pr.key)
		if !pr.caller.gone {
			b.sendDriverError(pr.caller, pr.key.serial, errNoReply, "Did not receive a reply: the reply timeout expired")
		}
	}
}
