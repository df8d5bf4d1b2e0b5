package config

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/kdbus-go/kdbus/wire"
)

// naiveSend and naiveReceive evaluate the rules as the documentation states it: every rule in
// order, the last match deciding. The indexed checks must agree with them.
func naiveSend(sp *SubjectPolicy, m *Message, dest []string) *Rule {
	var last *Rule
	broadcast := m.Destination == "" && m.Type == wire.Signal
	for _, r := range sp.send.rules {
		if r.matchMessage(m, m.RequestedReply) &&
			(r.broadcast == triAny || (r.broadcast == triTrue) == broadcast) &&
			(r.has&hasName == 0 || r.matchNames(dest)) {
			last = r
		}
	}
	return last
}

func naiveReceive(sp *SubjectPolicy, m *Message, senders []string, eavesdrop bool) *Rule {
	var last *Rule
	eav := eavesdrop && m.Destination != ""
	for _, r := range sp.recv.rules {
		if eav && r.allow && !r.eavesdrop || !eav && !r.allow && r.eavesdrop {
			continue
		}
		if r.matchMessage(m, m.RequestedReply && !eav) && (r.has&hasName == 0 || r.matchNames(senders)) {
			last = r
		}
	}
	return last
}

func TestIndexAgreesWithScan(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	pick := func(xs ...string) string { return xs[rng.IntN(len(xs))] }
	names := []string{"a.b", "a.b.c", "a.bc", "x.y", ":1.1", ":1.2"}
	attr := func(pre string) string {
		var b strings.Builder
		if rng.IntN(3) == 0 {
			fmt.Fprintf(&b, ` %stype="%s"`, pre, pick("method_call", "method_return", "signal", "error", "*"))
		}
		if rng.IntN(3) == 0 {
			fmt.Fprintf(&b, ` %sinterface="%s"`, pre, pick("i.A", "i.B", "*"))
			if rng.IntN(2) == 0 {
				fmt.Fprintf(&b, ` %smember="%s"`, pre, pick("M", "N", "*"))
			}
		} else if rng.IntN(4) == 0 {
			fmt.Fprintf(&b, ` %serror="%s"`, pre, pick("e.A", "e.B"))
		}
		if rng.IntN(4) == 0 {
			fmt.Fprintf(&b, ` %spath="%s"`, pre, pick("/a", "/b", "*"))
		}
		if rng.IntN(4) == 0 {
			fmt.Fprintf(&b, ` %srequested_reply="%s"`, pre, pick("true", "false"))
		}
		if rng.IntN(4) == 0 {
			fmt.Fprintf(&b, ` eavesdrop="%s"`, pick("true", "false"))
		}
		if rng.IntN(6) == 0 {
			fmt.Fprintf(&b, ` max_fds="%s"`, pick("0", "1"))
		}
		return b.String()
	}
	matched := 0
	for iter := range 300 {
		var body strings.Builder
		body.WriteString(`<policy context="default">`)
		for range 1 + rng.IntN(25) {
			verb := pick("allow", "deny")
			if rng.IntN(2) == 0 {
				a := attr("send_")
				switch rng.IntN(4) {
				case 0:
					a += fmt.Sprintf(` send_destination="%s"`, pick(append(names, "*")...))
				case 1:
					a += fmt.Sprintf(` send_destination_prefix="%s"`, pick("a.b", "a", "x"))
				case 2:
					a += fmt.Sprintf(` send_broadcast="%s"`, pick("true", "false"))
				}
				if !strings.Contains(a, "send_") {
					a += ` send_type="*"`
				}
				fmt.Fprintf(&body, "<%s%s/>", verb, a)
			} else {
				a := attr("receive_")
				if rng.IntN(2) == 0 {
					a += fmt.Sprintf(` receive_sender="%s"`, pick(append(names, "*")...))
				}
				if !strings.Contains(a, "receive_") {
					a += ` receive_type="*"`
				}
				fmt.Fprintf(&body, "<%s%s/>", verb, a)
			}
		}
		body.WriteString(`</policy>`)
		sp := policyOf(t, body.String()).For(alice)
		for range 50 {
			m := &Message{
				Type:      wire.MessageType(1 + rng.IntN(4)),
				Interface: pick("", "i.A", "i.B"),
				Member:    pick("", "M", "N"),
				ErrorName: pick("", "e.A"),
				Path:      wire.ObjectPath(pick("", "/a", "/b")),
				UnixFDs:   uint32(rng.IntN(2)),
			}
			if rng.IntN(2) == 0 {
				m.Destination = pick(names...)
			}
			if rng.IntN(2) == 0 {
				m.ReplySerial = 5
				m.RequestedReply = rng.IntN(2) == 0
			}
			var peer []string
			for _, n := range names {
				if rng.IntN(3) == 0 {
					peer = append(peer, n)
				}
			}
			eav := rng.IntN(2) == 0
			if got, want := sp.CheckSend(m, peer).Rule, naiveSend(sp, m, peer); got != want {
				t.Fatalf("iteration %d: send %+v to %q: index found %v, scan %v\npolicy: %s", iter, m, peer, got, want, body.String())
			}
			if sp.CheckSend(m, peer).Rule != nil {
				matched++
			}
			if got, want := sp.CheckReceive(m, peer, eav).Rule, naiveReceive(sp, m, peer, eav); got != want {
				t.Fatalf("iteration %d: receive %+v from %q (eavesdrop %v): index found %v, scan %v\npolicy: %s", iter, m, peer, eav, got, want, body.String())
			}
		}
	}
	if matched < 3000 {
		t.Errorf("only %d of 15000 send checks matched a rule; the generator is too weak", matched)
	}
}
