package broker

import (
	"strings"
	"testing"

	"github.com/kdbus-go/kdbus/broker/config"
	"github.com/kdbus-go/kdbus/wire"
)

// TestRefusedUnicastsSayWhy routes unicasts their receivers refuse, each for a reason of its
// own, and checks that the sender hears that reason: a receive policy is AccessDenied, a
// closing receiver is neither a policy nor a full queue, and a one-way message's refusal
// comes back in the result for a native sender's acknowledgement rather than as a reply.
func TestRefusedUnicastsSayWhy(t *testing.T) {
	const conf = `<busconfig><listen>unix:path=/nonexistent</listen><policy context="default">
		<allow user="*"/>
		<allow send_destination="*"/>
		<allow receive_sender="*"/>
		<deny receive_interface="org.example.T" receive_member="Secret"/>
	</policy></busconfig>`
	c, err := config.Parse(strings.NewReader(conf), "test.conf", "/")
	if err != nil {
		t.Fatal(err)
	}
	b := New(Options{Policy: c.Policy})
	defer b.Close()
	caller, rec := testPeer(t, b, b.uid+1)
	callee, _ := testPeer(t, b, b.uid+1)
	msg := func(member string, flags wire.Flags) *wire.Message {
		return &wire.Message{Order: wire.NativeOrder, Type: wire.MethodCall, Serial: 5, Flags: flags,
			Destination: callee.unique, Path: "/t", Interface: "org.example.T", Member: member}
	}
	errorOf := func() *wire.Message {
		t.Helper()
		for _, m := range rec.take() {
			if m.Type == wire.Error && m.ReplySerial == 5 {
				return m
			}
		}
		t.Fatal("the caller got no error")
		return nil
	}

	b.route(caller, msg("Secret", 0), nil, &origin{stable: true})
	if e := errorOf(); e.ErrorName != errAccessDenied {
		t.Errorf("a call the receive policy denies failed with %s, want %s", e.ErrorName, errAccessDenied)
	}
	res := b.route(caller, msg("Secret", wire.FlagNoReplyExpected), nil, &origin{stable: true})
	if res.failName != errAccessDenied {
		t.Errorf("a one-way message the receive policy denies reports %q, want %s", res.failName, errAccessDenied)
	}
	if got := rec.take(); len(got) != 0 {
		t.Errorf("a one-way message's refusal came back as messages %v", got)
	}

	callee.drain() // the receiver's connection broke: its queue takes nothing more
	b.route(caller, msg("Open", 0), nil, &origin{stable: true})
	if e := errorOf(); e.ErrorName != errLimitsExceeded || strings.Contains(string(e.Body), "full") {
		t.Errorf("a call to a closing receiver failed with %s %q, want LimitsExceeded saying it is going away", e.ErrorName, e.Body)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(caller.outstanding) != 0 {
		t.Errorf("refused calls left %d replies expected", len(caller.outstanding))
	}
}
