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

// Subscription receives the messages that match a rule. Messages arrive in order through a
// bounded buffer; when the receiver falls behind, messages are dropped and counted.
type Subscription struct {
	conn    *Conn
	rule    *match.Rule
	convert func(*wire.Message) (any, bool)
	values  chan any
	dropped atomic.Uint64
	once    sync.Once
	fwdOnce sync.Once
	fwd     chan *wire.Message
	mu      sync.Mutex // guards sends on values against close
	closed  bool
}

// C returns the channel of matching messages; it is closed by Close or the end of the
// connection.
func (s *Subscription) C() <-chan *wire.Message {
	s.fwdOnce.Do(func() {
		out := make(chan *wire.Message)
		s.fwd = out
		go func() {
			defer close(out)
			for v := range s.values {
				out <- v.(*wire.Message)
			}
		}()
	})
	return s.fwd
}

// Dropped returns how many messages were dropped because the buffer was full.
func (s *Subscription) Dropped() uint64 { return s.dropped.Load() }

// Close stops the subscription and removes its rule from the bus.
func (s *Subscription) Close() error {
	var err error
	s.once.Do(func() {
		c := s.conn
		c.mu.Lock()
		delete(c.matches, s)
		c.mu.Unlock()
		s.close()
		if c.Err() == nil {
			_, err = c.busCall(context.Background(), "RemoveMatch", "s", "", s.rule.String())
		}
	})
	return err
}

func (s *Subscription) close() {
	s.mu.Lock()
	if !s.closed {
		s.closed = true
		close(s.values)
	}
	s.mu.Unlock()
}

// Subscribe adds rule to the bus (AddMatch) and delivers the matching messages, buffering up
// to buffer of them. Messages are re-checked against the rule on arrival, since the bus
// delivers everything that matches any of the connection's rules.
func (c *Conn) Subscribe(ctx context.Context, rule *match.Rule, buffer int) (*Subscription, error) {
	return c.subscribe(ctx, rule, buffer, func(m *wire.Message) (any, bool) { return m, true })
}

func (c *Conn) subscribe(ctx context.Context, rule *match.Rule, buffer int, convert func(*wire.Message) (any, bool)) (*Subscription, error) {
	s := &Subscription{conn: c, rule: rule, convert: convert, values: make(chan any, max(buffer, 1))}
	c.mu.Lock()
	if c.err != nil {
		err := c.err
		c.mu.Unlock()
		return nil, err
	}
	c.matches[s] = struct{}{}
	c.mu.Unlock()
	if _, err := c.busCall(ctx, "AddMatch", "s", "", rule.String()); err != nil {
		c.mu.Lock()
		delete(c.matches, s)
		c.mu.Unlock()
		return nil, fmt.Errorf("AddMatch %q: %w", rule.String(), err)
	}
	return s, nil
}

// deliverSignal hands m to every subscription whose rule it matches, without blocking.
func (c *Conn) deliverSignal(m *wire.Message) {
	c.mu.Lock()
	var subs []*Subscription
	for s := range c.matches {
		if matches(s.rule, m) {
			subs = append(subs, s)
		}
	}
	c.mu.Unlock()
	for _, s := range subs {
		v, ok := s.convert(m)
		if !ok {
			continue
		}
		s.mu.Lock()
		if !s.closed {
			select {
			case s.values <- v:
			default:
				s.dropped.Add(1)
			}
		}
		s.mu.Unlock()
	}
}
