package runtime

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kdbus-go/kdbus/transport/classic"
	"github.com/kdbus-go/kdbus/wire"
)

// pipe is a third transport: one end of an in-process link between two Conns. It shows that a
// Conn needs nothing of its transport beyond the contract, and it watches how the Conn keeps
// that contract: every loan given back exactly once, the options each kind of send carries,
// the stamp reaching the handler.
type pipe struct {
	name   string
	peer   *pipe
	in     chan inbound
	done   chan struct{}
	close1 sync.Once
	serial atomic.Uint32
	seq    *atomic.Uint64 // numbers messages across both ends, as a bus would

	// stamped ends stamp what they send with a sequence number and creds, as a bus does;
	// others send no sender either, as a peer does.
	stamped bool
	creds   Credentials

	mu   sync.Mutex
	sent map[string]sendOptions // by member ("" for replies)

	lent     atomic.Int64 // loans handed to this end's Conn and not given back
	returned atomic.Int64 // loans given back more than once
}

func newPipes(stamped bool) (a, b *pipe) {
	seq := new(atomic.Uint64)
	mk := func(name string, pid uint32) *pipe {
		return &pipe{name: name, in: make(chan inbound, 64), done: make(chan struct{}), seq: seq,
			stamped: stamped, creds: Credentials{UID: 4242, PID: pid, GIDs: []uint32{7}},
			sent: make(map[string]sendOptions)}
	}
	a, b = mk(":pipe.a", 100), mk(":pipe.b", 200)
	a.peer, b.peer = b, a
	return a, b
}

type pipeLoan struct {
	to   *pipe
	back atomic.Bool
}

func (l *pipeLoan) giveBack() {
	if l.back.Swap(true) {
		l.to.returned.Add(1)
		return
	}
	l.to.lent.Add(-1)
}

func (p *pipe) Send(ctx context.Context, m *wire.Message, fds []int, opts sendOptions) error {
	if len(fds) > 0 {
		return errors.New("pipe: descriptors are not supported")
	}
	select {
	case <-p.done:
		return ErrClosed
	default:
	}
	if m.Serial == 0 {
		m.Serial = p.NextSerial()
	}
	p.mu.Lock()
	p.sent[m.Member] = opts
	p.mu.Unlock()
	cp := *m
	cp.Body = bytes.Clone(m.Body)
	in := inbound{Msg: &cp}
	if p.stamped {
		cp.Sender = p.name
		in.stamp = stamp{seqnum: p.seq.Add(1), uid: p.creds.UID, gid: p.creds.GIDs[0], pid: p.creds.PID, hasCreds: true}
	}
	in.loan = &pipeLoan{to: p.peer}
	p.peer.lent.Add(1)
	select {
	case p.peer.in <- in:
		return nil
	case <-ctx.Done():
		p.peer.lent.Add(-1)
		return ctx.Err()
	}
}

func (p *pipe) Recv() (inbound, error) {
	select {
	case in := <-p.in:
		return in, nil
	case <-p.done:
		return inbound{}, ErrClosed
	}
}

func (p *pipe) Sync(context.Context) error { return nil }

func (p *pipe) Stats() ConnStats { return ConnStats{Wakeups: 3, Refused: 99} }

func (p *pipe) PeerCredentials() (Credentials, error) { return p.peer.creds, nil }

func (p *pipe) NextSerial() uint32     { return p.serial.Add(1) }
func (p *pipe) UniqueName() string     { return p.name }
func (p *pipe) Classic() *classic.Conn { return nil }
func (p *pipe) Native() bool           { return false }

func (p *pipe) Close() error {
	p.close1.Do(func() { close(p.done) })
	return nil
}

func (p *pipe) sentWith(member string) sendOptions {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.sent[member]
}

// waitFor polls cond until it holds, failing the test if it still does not after a bound
// far beyond what the effect needs.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for start := time.Now(); !cond(); time.Sleep(time.Millisecond) {
		if time.Since(start) > 10*time.Second {
			t.Fatalf("%s: still not so after 10s", what)
		}
	}
}

func TestConnKeepsTheTransportContract(t *testing.T) {
	for _, stamped := range []bool{true, false} {
		name := map[bool]string{true: "stamped by a bus", false: "from a peer"}[stamped]
		t.Run(name, func(t *testing.T) {
			a, b := newPipes(stamped)
			cli, srv := newConn(a, connOptions{}), newConn(b, connOptions{})
			defer cli.Close()
			defer srv.Close()

			type seen struct {
				creds  Credentials
				seqnum uint64
				sender string
			}
			calls := make(chan seen, 1)
			notes := make(chan string, 1)
			err := srv.Register(&testDesc, &impl{notes: notes, echo: func(ctx context.Context, m *echoMsg) (*echoMsg, error) {
				c := CallerFrom(ctx)
				cr, err := c.Credentials(ctx)
				if err != nil {
					return nil, err
				}
				calls <- seen{cr, c.Seqnum(), c.Sender}
				return &echoMsg{Text: m.Text, N: m.N + 1}, nil
			}})
			if err != nil {
				t.Fatal(err)
			}

			obj := NewObject(cli, &testDesc)
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			for i := range 20 {
				resp, err := echoMethod.Invoke(ctx, obj, &echoMsg{Text: "x", N: int32(i)})
				if err != nil {
					t.Fatal(err)
				}
				if resp.N != int32(i)+1 {
					t.Fatalf("reply %d: N=%d", i, resp.N)
				}
				got := <-calls
				switch {
				case stamped && (got.creds.UID != 4242 || got.creds.PID != 100 || got.seqnum == 0 || got.sender != a.name):
					t.Fatalf("the handler saw %+v; want the stamp's uid 4242, pid 100, a sequence number and sender %s", got, a.name)
				case !stamped && (got.creds.UID != 4242 || got.creds.PID != 100 || got.seqnum != 0 || got.sender != ""):
					t.Fatalf("the handler saw %+v; want the peer's credentials (uid 4242, pid 100), no sequence number, no sender", got)
				}
			}
			if dl, _ := ctx.Deadline(); !a.sentWith("Echo").deadline.Equal(dl) || a.sentWith("Echo").wait {
				t.Errorf("a call was sent with %+v; want the context's deadline %v and no wait", a.sentWith("Echo"), dl)
			}
			if o := b.sentWith(""); o != (sendOptions{}) {
				t.Errorf("a reply was sent with %+v; want no options", o)
			}

			if _, err := oneWay.Invoke(ctx, obj, &echoMsg{Text: "waited"}, WaitDelivery()); err != nil {
				t.Fatal(err)
			}
			<-notes
			if o := a.sentWith("Note"); !o.wait || !o.deadline.IsZero() {
				t.Errorf("a no-reply call with WaitDelivery was sent with %+v; want wait and no deadline", o)
			}
			if _, err := oneWay.Invoke(ctx, obj, &echoMsg{Text: "pipelined"}); err != nil {
				t.Fatal(err)
			}
			<-notes
			if o := a.sentWith("Note"); o.wait {
				t.Errorf("a no-reply call without WaitDelivery was sent with %+v; want no wait", o)
			}

			if err := cli.Sync(ctx); err != nil {
				t.Fatalf("Sync on a transport that syncs: %v", err)
			}
			if s := cli.Stats(); s.Wakeups != 3 || s.Refused != 0 || s.Received < 20 {
				t.Errorf("Stats = %+v; want the transport's Wakeups (3) and the Conn's own Received and Refused", s)
			}

			// Every message either end received has its body handed back, once.
			for _, p := range []*pipe{a, b} {
				waitFor(t, p.name+" gives back every loan", func() bool { return p.lent.Load() == 0 })
				if n := p.returned.Load(); n != 0 {
					t.Errorf("%s gave %d loans back twice", p.name, n)
				}
			}
		})
	}
}

// Dial refuses a tcp: address and says why, rather than only that the transport is unknown.
func TestDialRefusesTCP(t *testing.T) {
	_, err := Dial(context.Background(), "tcp:host=127.0.0.1,port=1")
	if err == nil || !strings.Contains(err.Error(), "unix sockets only") || !strings.Contains(err.Error(), "use a unix: or kdbus: address") {
		t.Fatalf("Dial(tcp:) = %v, want an error saying kdbus-go speaks D-Bus over unix sockets only", err)
	}
}
