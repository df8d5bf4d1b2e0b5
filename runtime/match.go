package runtime

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/kdbus-go/kdbus/wire"
)

// MatchRule selects messages, in the bus's match rule language. Empty fields match anything.
type MatchRule struct {
	Type          wire.MessageType
	Sender        string
	Interface     string
	Member        string
	Path          wire.ObjectPath
	PathNamespace wire.ObjectPath
	Destination   string
	// Args match string arguments by index (argN='value').
	Args map[int]string
}

// String writes the rule as AddMatch takes it.
func (r MatchRule) String() string {
	var parts []string
	add := func(k, v string) {
		if v != "" {
			parts = append(parts, k+"='"+strings.ReplaceAll(v, "'", `'\''`)+"'")
		}
	}
	if r.Type != 0 {
		add("type", r.Type.String())
	}
	add("sender", r.Sender)
	add("interface", r.Interface)
	add("member", r.Member)
	add("path", string(r.Path))
	add("path_namespace", string(r.PathNamespace))
	add("destination", r.Destination)
	for _, i := range slices.Sorted(maps.Keys(r.Args)) {
		add(fmt.Sprintf("arg%d", i), r.Args[i])
	}
	return strings.Join(parts, ",")
}

// Matches reports whether m satisfies the rule, as the bus decides it. A sender given as a
// well-known name is not checked here: the bus resolves it to the owner.
func (r MatchRule) Matches(m *wire.Message) bool {
	if r.Type != 0 && m.Type != r.Type {
		return false
	}
	if r.Sender != "" && strings.HasPrefix(r.Sender, ":") && m.Sender != r.Sender {
		return false
	}
	if r.Interface != "" && m.Interface != r.Interface {
		return false
	}
	if r.Member != "" && m.Member != r.Member {
		return false
	}
	if r.Path != "" && m.Path != r.Path {
		return false
	}
	if ns := string(r.PathNamespace); ns != "" && ns != "/" {
		p := string(m.Path)
		if p != ns && !strings.HasPrefix(p, ns+"/") {
			return false
		}
	}
	if r.Destination != "" && m.Destination != r.Destination {
		return false
	}
	if len(r.Args) > 0 {
		vals, err := wire.Unmarshal(m.Body, m.Order, m.Signature)
		if err != nil {
			return false
		}
		for i, want := range r.Args {
			if i >= len(vals) {
				return false
			}
			if s, ok := vals[i].(string); !ok || s != want {
				return false
			}
		}
	}
	return true
}

// Subscription receives the messages that match a rule. Messages arrive in order through a
// bounded buffer; when the receiver falls behind, messages are dropped and counted.
type Subscription struct {
	conn    *Conn
	rule    MatchRule
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

// Subscribe adds rule to the bus and delivers the matching messages, buffering up to buffer of
// them.
func (c *Conn) Subscribe(ctx context.Context, rule MatchRule, buffer int) (*Subscription, error) {
	return c.subscribe(ctx, rule, buffer, func(m *wire.Message) (any, bool) { return m, true })
}

func (c *Conn) subscribe(ctx context.Context, rule MatchRule, buffer int, convert func(*wire.Message) (any, bool)) (*Subscription, error) {
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
		if s.rule.Matches(m) {
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
