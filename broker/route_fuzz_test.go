package broker

import (
	"strings"
	"testing"

	"github.com/kdbus-go/kdbus/wire"
)

// FuzzRoute drives a broker with what clients can send: driver calls with arbitrary
// arguments (match rules, names and flags, monitor rules), signals and calls with arbitrary
// header fields and bodies, and disconnects. ops is a program, one operation per byte; s and
// t are the strings the operations use. Routing must not panic or hang, and after every
// operation the rule index must agree with a scan of every rule, and its limits must hold.
func FuzzRoute(f *testing.F) {
	seeds := []struct {
		ops  []byte
		s, t string
	}{
		{[]byte{0, 8, 16}, "type='signal',interface='org.example.I'", "/a,org.example.I,M"},
		{[]byte{0, 2, 8, 10, 1}, "sender='org.example.A',member='M'", "org.example.A"},
		{[]byte{0, 2, 19, 11, 8}, "sender='org.example.A',eavesdrop='true'", "org.example.A"},
		{[]byte{5, 13, 8, 15}, "type='method_call'", "/,org.example.J,N"},
		{[]byte{4, 12, 20, 3}, "arg0namespace='org.example'", ":1.3"},
		{[]byte{0, 0, 0, 0, 0, 0, 7, 8}, "path_namespace='/a',arg0='x'", "/a/b,,M"},
		{[]byte{2, 2, 6, 10, 3, 1, 9}, "eavesdrop='true'", "org.example.B"},
		{[]byte{0x22, 0x42, 0x62, 6}, "", "com.x"},
	}
	for _, s := range seeds {
		f.Add(s.ops, s.s, s.t)
	}
	f.Fuzz(func(t *testing.T, ops []byte, s, text string) {
		if len(ops) > 64 {
			ops = ops[:64]
		}
		// What arrives is a valid message: its strings are UTF-8 without NUL bytes.
		clean := func(x string) string { return strings.ReplaceAll(strings.ToValidUTF8(x, "?"), "\x00", "?") }
		s, text = clean(s), clean(text)
		b := New(Options{Limits: Limits{MaxMatchRulesPerConnection: 6, MaxMatchRulesPerUser: 10, MaxNamesPerConnection: 4}})
		// Two users: the bus's own, which may eavesdrop and monitor, and another.
		uids := []uint32{b.uid, b.uid + 1, b.uid, b.uid + 1}
		peers := make([]*peer, len(uids))
		recs := make([]*recorder, len(uids))
		for i, uid := range uids {
			peers[i], recs[i] = testPeer(t, b, uid)
		}
		// text splits into the header fields of the messages routed: path,interface,member.
		fields := strings.SplitN(text, ",", 3)
		field := func(i int) string {
			if i < len(fields) {
				return fields[i]
			}
			return ""
		}
		probe := func(from *peer) *wire.Message {
			body, _ := wire.Marshal(wire.NativeOrder, "s", s)
			return &wire.Message{
				Order: wire.NativeOrder, Type: wire.Signal, Serial: 7, Sender: from.unique,
				Path: wire.ObjectPath(field(0)), Interface: field(1), Member: field(2),
				Signature: "s", Body: body,
			}
		}
		for _, op := range ops {
			i := int(op>>3) % len(peers)
			p := peers[i]
			if p.monitor != nil && op&7 != 7 {
				continue // a monitor that sends is disconnected by its reader before routing
			}
			var m *wire.Message
			switch op & 7 {
			case 0:
				m = busCall("AddMatch", "s", s)
			case 1:
				m = busCall("RemoveMatch", "s", s)
			case 2:
				m = busCall("RequestName", "su", text, uint32(op))
			case 3:
				m = busCall("ReleaseName", "s", text)
			case 4:
				m = busCall("GetConnectionCredentials", "s", text)
			case 5:
				m = busCall("BecomeMonitor", "asu", []string{s}, uint32(0))
				m.Interface = ifaceMonitoring
			case 6:
				m = probe(p)
				if op&0x40 != 0 {
					m.Destination = peers[(i+1)%len(peers)].unique
				}
				if wire.ValidateObjectPath(string(m.Path)) != nil || m.Interface != "" && wire.ValidateInterfaceName(m.Interface) != nil ||
					wire.ValidateMemberName(m.Member) != nil {
					m = probe(p)
					m.Path, m.Interface, m.Member = "/", "org.example.I", "M"
				}
			case 7:
				b.removePeer(p)
				peers[i], recs[i] = testPeer(t, b, uids[i])
				continue
			}
			b.route(p, m, nil, &origin{stable: true})
			recs[i].take()
			b.mu.Lock()
			for _, from := range peers {
				if from.monitor == nil {
					b.checkIndex(t, from, peers[(i+1)%len(peers)], probe(from))
				}
			}
			b.mu.Unlock()
		}
		for _, p := range peers {
			b.removePeer(p)
		}
		if n := b.match.subs.n + b.match.eavesdrop.n + b.match.monitor.n; n != 0 || len(b.match.perUID) != 0 || len(b.match.owners) != 0 {
			t.Fatalf("with every connection gone the bus still holds %d rules, charges %v, owners %d", n, b.match.perUID, len(b.match.owners))
		}
	})
}
