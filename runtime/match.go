package runtime

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/kdbus-go/kdbus/match"
	"github.com/kdbus-go/kdbus/transport/classic"
	"github.com/kdbus-go/kdbus/wire"
)

// matchesLocked re-checks a delivered message against a rule of the connection: the bus
// delivers what matches any of them. A well-known sender name in a rule is resolved with the
// owners the connection tracks for its rules (trackOwner); a well-known destination is one of
// this connection's own names, which the bus resolved when it routed the message. c.mu is held.
func (c *Conn) matchesLocked(r *match.Rule, m *wire.Message) bool {
	owner := func(name string) string {
		if name == r.Destination {
			return m.Destination
		}
		if t := c.owners[name]; t != nil {
			return t.owner
		}
		return m.Sender // a name nobody tracks: take the bus's word
	}
	return r.MatchOwners(m, match.ArgsOf(m), owner)
}

// ownerTrack follows the owner of a well-known name that rules of the connection name as their
// sender, so that a signal from another connection, delivered for another rule, is not taken for
// one from the name's owner.
type ownerTrack struct {
	refs    int
	owner   string        // the current owner's unique name, "" when none
	changes int           // NameOwnerChanged signals seen
	ready   chan struct{} // closed once owner has been learned, or err set
	err     error         // why the owner could not be followed
	rule    *rule         // the NameOwnerChanged subscription
}

// trackedSender reports whether rules naming sender need its owner tracked: a well-known name
// other than the bus's own.
func trackedSender(sender string) bool {
	return sender != "" && !strings.HasPrefix(sender, ":") && sender != classic.BusName
}

// trackOwner starts (or shares) following name's owner: it subscribes to its NameOwnerChanged
// signals, then asks for the current owner. A change seen before the answer is at least as new
// as the answer (the bus sent it first), so the answer only fills in when none was seen.
func (c *Conn) trackOwner(ctx context.Context, name string) error {
	c.mu.Lock()
	if t := c.owners[name]; t != nil {
		t.refs++
		c.mu.Unlock()
		select {
		case <-t.ready:
			if t.err != nil {
				c.untrackOwner(name)
			}
			return t.err
		case <-ctx.Done():
			c.untrackOwner(name)
			return ctx.Err()
		}
	}
	t := &ownerTrack{refs: 1, ready: make(chan struct{})}
	c.owners[name] = t
	c.mu.Unlock()
	defer close(t.ready)
	t.rule = &rule{conn: c, close: func() {},
		match: &match.Rule{Type: wire.Signal, Sender: classic.BusName, Interface: classic.BusInterface, Member: "NameOwnerChanged",
			Path: classic.BusPath, Args: []match.ArgMatch{{Index: 0, Value: name}}},
		deliver: func(m *wire.Message, _ stamp) {
			if m.Signature != "sss" {
				return
			}
			var d wire.Decoder
			d.Reset(m.Body, m.Order)
			n, _, owner := d.String(), d.String(), d.String()
			if d.Done() == nil && n == name {
				c.mu.Lock()
				t.owner = owner
				t.changes++
				c.mu.Unlock()
			}
		}}
	err := c.addRule(ctx, t.rule)
	if err == nil {
		var owner string
		owner, err = c.GetNameOwner(ctx, name)
		if errors.Is(err, &Error{Name: ErrorNameHasNoOwner}) {
			owner, err = "", nil
		}
		c.mu.Lock()
		if err == nil && t.changes == 0 {
			t.owner = owner
		}
		c.mu.Unlock()
	}
	if err != nil {
		t.err = fmt.Errorf("following the owner of %s: %w", name, err)
		c.untrackOwner(name)
		return t.err
	}
	return nil
}

// untrackOwner drops one use of name's tracking, and the tracking with the last one.
func (c *Conn) untrackOwner(name string) {
	c.mu.Lock()
	t := c.owners[name]
	if t == nil {
		c.mu.Unlock()
		return
	}
	t.refs--
	last := t.refs == 0
	if last {
		delete(c.owners, name)
	}
	c.mu.Unlock()
	if last && t.rule != nil {
		t.rule.remove()
	}
}

// rule is one match rule this connection added to the bus, and what becomes of the messages
// that match it. deliver runs on the read loop, with the message's body possibly still in a
// native receive pool: it must not block, and must copy what it keeps. Subscriptions pass
// what they deliver through the server interceptors; the runtime's own rules do not.
type rule struct {
	conn    *Conn
	match   *match.Rule
	deliver func(m *wire.Message, st stamp)
	close   func() // closes the receiving end; called once
	once    sync.Once
	tracked bool // the owner of the rule's sender is tracked for it
}

// addRule registers r with the connection and adds its rule to the bus, following the owner of
// a well-known sender name first.
func (c *Conn) addRule(ctx context.Context, r *rule) error {
	if trackedSender(r.match.Sender) {
		if err := c.trackOwner(ctx, r.match.Sender); err != nil {
			return err
		}
		r.tracked = true
	}
	if err := c.addMatch(ctx, r); err != nil {
		if r.tracked {
			c.untrackOwner(r.match.Sender)
		}
		return err
	}
	return nil
}

func (c *Conn) addMatch(ctx context.Context, r *rule) error {
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
		if r.tracked {
			c.untrackOwner(r.match.Sender)
		}
	})
	return err
}

// deliverSignal hands m, stamped st by the bus, to every rule it matches. It never blocks.
func (c *Conn) deliverSignal(m *wire.Message, st stamp) {
	c.mu.Lock()
	var hits []*rule
	for r := range c.matches {
		if c.matchesLocked(r.match, m) {
			hits = append(hits, r)
		}
	}
	c.mu.Unlock()
	for _, r := range hits {
		r.deliver(m, st)
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
// Each delivery passes the server interceptors (KindSignal) with the *wire.Message as the
// request.
func (c *Conn) Subscribe(ctx context.Context, r *match.Rule, buffer int) (*Subscription, error) {
	box := newMailbox[*wire.Message](buffer)
	s := &Subscription{box: box}
	s.r = &rule{conn: c, match: r, close: box.close, deliver: func(m *wire.Message, st stamp) {
		// The message may live in a receive pool: the subscriber gets a copy of its own.
		cp := *m
		cp.Body = append([]byte(nil), m.Body...)
		if c.unaryServer == nil {
			box.put(&cp, nil)
			return
		}
		info := &MethodInfo{Interface: m.Interface, Member: m.Member, NoReply: true, Kind: KindSignal}
		c.interceptSignal(m, st, info, &cp, func(_ context.Context, req any) (any, error) {
			m, ok := req.(*wire.Message)
			if !ok || m == nil {
				return nil, Errorf(Internal, "an interceptor passed a %T as a signal delivered to a subscription; want a *wire.Message", req)
			}
			box.put(m, nil)
			return nil, nil
		})
	}}
	if err := c.addRule(ctx, s.r); err != nil {
		return nil, err
	}
	return s, nil
}
