package runtime

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/kdbus-go/kdbus/match"
	"github.com/kdbus-go/kdbus/wire"
)

// matches re-checks a delivered message against the rule the bus matched it with. The bus
// resolves well-known sender and destination names to their owners; the client cannot, so it
// takes the bus's word for those and checks everything else.
func matches(r *match.Rule, m *wire.Message) bool {
	trust := func(string) string { return m.Sender }
	if r.Destination != "" && !strings.HasPrefix(r.Destination, ":") {
		trust = func(name string) string {
			if name == r.Destination {
				return m.Destination
			}
			return m.Sender
		}
	}
	return r.MatchOwners(m, match.ArgsOf(m), trust)
}

// rule is one match rule this connection added to the bus, and what becomes of the messages
// that match it. deliver runs on the read loop, with the message's body possibly still in a
// native receive pool: it must not block, and must copy what it keeps.
type rule struct {
	conn    *Conn
	match   *match.Rule
	deliver func(*wire.Message)
	close   func() // closes the receiving end; called once
	once    sync.Once
}

// addRule registers r with the connection and adds its rule to the bus.
func (c *Conn) addRule(ctx context.Context, r *rule) error {
	c.mu.Lock()
	if c.err != nil {
		err := c.err
		c.mu.Unlock()
		return err
	}
	c.matches[r] = struct{}{}
	c.mu.Unlock()
	if _, err := c.busCall(ctx, "AddMatch", "s", "", r.match.String()); err != nil {
		c.mu.Lock()
		delete(c.matches, r)
		c.mu.Unlock()
		return fmt.Errorf("AddMatch %q: %w", r.match.String(), err)
	}
	return nil
}

// remove stops delivering to r and removes its rule from the bus.
func (r *rule) remove() error {
	var err error
	r.once.Do(func() {
		c := r.conn
		c.mu.Lock()
		delete(c.matches, r)
		c.mu.Unlock()
		r.close()
		if c.Err() == nil {
			_, err = c.busCall(context.Background(), "RemoveMatch", "s", "", r.match.String())
		}
	})
	return err
}

// deliverSignal hands m to every rule it matches. It never blocks.
func (c *Conn) deliverSignal(m *wire.Message) {
	c.mu.Lock()
	var hits []*rule
	for r := range c.matches {
		if matches(r.match, m) {
			hits = append(hits, r)
		}
	}
	c.mu.Unlock()
	for _, r := range hits {
		r.deliver(m)
	}
}

// mailbox is a bounded, ordered queue between the read loop and a subscriber. When it is
// full, values are dropped and counted; the count since the last delivered value travels
// with the next one that fits, so the subscriber learns where the gap is.
type mailbox[V any] struct {
	ch      chan V
	mu      sync.Mutex // guards sends against close, and pending
	closed  bool
	pending uint64 // dropped since the last value that fit
	lost    atomic.Uint64
}

func newMailbox[V any](size int) *mailbox[V] {
	return &mailbox[V]{ch: make(chan V, max(size, 1))}
}

// put offers v without blocking. stamp, when not nil, records in v how many values were
// dropped just before it.
func (b *mailbox[V]) put(v V, stamp func(v *V, lost uint64)) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return
	}
	if stamp != nil {
		stamp(&v, b.pending)
	}
	select {
	case b.ch <- v:
		b.pending = 0
	default:
		b.pending++
		b.lost.Add(1)
	}
}

func (b *mailbox[V]) close() {
	b.mu.Lock()
	if !b.closed {
		b.closed = true
		close(b.ch)
	}
	b.mu.Unlock()
}

// Subscription receives the raw messages that match a rule. Messages arrive in order through
// a bounded buffer; when the receiver falls behind, messages are dropped and counted.
type Subscription struct {
	r   *rule
	box *mailbox[*wire.Message]
}

// C returns the channel of matching messages; it is closed by Close or the end of the
// connection.
func (s *Subscription) C() <-chan *wire.Message { return s.box.ch }

// Dropped returns how many messages were dropped because the buffer was full.
func (s *Subscription) Dropped() uint64 { return s.box.lost.Load() }

// Close stops the subscription and removes its rule from the bus.
func (s *Subscription) Close() error { return s.r.remove() }

// Subscribe adds rule to the bus (AddMatch) and delivers the matching messages, buffering up
// to buffer of them. Messages are re-checked against the rule on arrival, since the bus
// delivers everything that matches any of the connection's rules. Generated clients offer
// typed subscriptions to a service's signals (SignalType.Subscribe); this is the raw form.
func (c *Conn) Subscribe(ctx context.Context, r *match.Rule, buffer int) (*Subscription, error) {
	box := newMailbox[*wire.Message](buffer)
	s := &Subscription{box: box}
	s.r = &rule{conn: c, match: r, close: box.close, deliver: func(m *wire.Message) {
		// The message may live in a receive pool: the subscriber gets a copy of its own.
		cp := *m
		cp.Body = append([]byte(nil), m.Body...)
		box.put(&cp, nil)
	}}
	if err := c.addRule(ctx, s.r); err != nil {
		return nil, err
	}
	return s, nil
}
