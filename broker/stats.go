package broker

import (
	goruntime "runtime"
	"sync/atomic"

	"github.com/kdbus-go/kdbus/introspect"
	"github.com/kdbus-go/kdbus/wire"
)

// stats are the counters org.freedesktop.DBus.Debug.Stats reports.
type stats struct {
	connections       uint64 // accepted since start
	messages          uint64 // routed since start
	unexpectedReplies uint64
	droppedBroadcasts uint64
	droppedReplies    uint64 // replies that could not be queued for their caller
	lanes             uint64 // lanes opened since start
	// bodyCopies counts the native bodies the bus copied privately before routing them,
	// because the bus, a classic receiver or an observer reads them: the native unicasts
	// that did not go in a single copy from sender to receiver. Updated without b.mu.
	bodyCopies atomic.Uint64
}

func (b *Broker) getStats(*peer, *wire.Message, []any) ([]any, error) {
	matches := 0
	for p := range b.all {
		matches += len(p.matches)
	}
	u := func(v uint64) wire.Variant { return wire.Variant{Sig: "u", Value: uint32(min(v, 1<<32-1))} }
	return []any{map[string]wire.Variant{
		"Serial":                   {Sig: "u", Value: b.serial},
		"ActiveConnections":        u(uint64(len(b.all))),
		"IncompleteConnections":    u(0),
		"MatchRules":               u(uint64(matches)),
		"BusNames":                 u(uint64(len(b.reg.names))),
		"AcceptedConnections":      u(b.stats.connections),
		"RoutedMessages":           u(b.stats.messages),
		"UnexpectedReplies":        u(b.stats.unexpectedReplies),
		"DroppedBroadcasts":        u(b.stats.droppedBroadcasts),
		"DroppedReplies":           u(b.stats.droppedReplies),
		"MatchRulesVisited":        u(b.match.visited),
		"NativeBodiesCopied":       u(b.stats.bodyCopies.Load()),
		"LanesOpened":              u(b.stats.lanes),
		"ConnectionsWithMonitors":  u(uint64(len(b.monitors))),
		"PeakConnectionsPerUser":   u(uint64(maxValue(b.perUID))),
		"ListenerCount":            u(uint64(b.listenerCount())),
		"RegisteredUnixUserCount":  u(uint64(len(b.perUID))),
		"MaxConnectionsPerUser":    u(uint64(b.limits.MaxConnectionsPerUser)),
		"MaxMatchRulesPerConn":     u(uint64(b.limits.MaxMatchRulesPerConnection)),
		"MaxMatchRulesPerUser":     u(uint64(b.limits.MaxMatchRulesPerUser)),
		"MaxNamesPerConnection":    u(uint64(b.limits.MaxNamesPerConnection)),
		"MaxRepliesPerConnection":  u(uint64(b.limits.MaxRepliesPerConnection)),
		"MaxOutgoingBytesPerConn":  u(uint64(b.limits.MaxOutgoingBytes)),
		"MaxOutgoingUnixFDsPerCon": u(uint64(b.limits.MaxOutgoingUnixFDs)),
		// Goroutines is the process's goroutine count: a bus that leaks them grows here.
		"Goroutines": u(uint64(goruntime.NumGoroutine())),
	}}, nil
}

func maxValue(m map[uint32]int) int {
	best := 0
	for _, v := range m {
		best = max(best, v)
	}
	return best
}

func (b *Broker) listenerCount() int {
	b.lmu.Lock()
	defer b.lmu.Unlock()
	return len(b.listeners)
}

func (b *Broker) getConnectionStats(p *peer, m *wire.Message, args []any) ([]any, error) {
	q, err := b.peerFor(args[0].(string))
	if err != nil {
		return nil, err
	}
	q.qmu.Lock()
	qbytes, qfds, qlen := q.qbytes, q.qfds, len(q.queue)
	q.qmu.Unlock()
	inBytes, inFDs := q.acct.usage()
	u := func(v int) wire.Variant { return wire.Variant{Sig: "u", Value: uint32(min(v, 1<<32-1))} }
	return []any{map[string]wire.Variant{
		"UniqueName":       {Sig: "s", Value: q.unique},
		"MatchRules":       u(len(q.matches)),
		"OwnedNames":       u(len(q.names)),
		"OutgoingBytes":    u(qbytes),
		"OutgoingFDs":      u(qfds),
		"OutgoingMessages": u(qlen),
		"IncomingBytes":    u(inBytes),
		"IncomingFDs":      u(inFDs),
		"PendingReplies":   u(len(q.expected)),
		"PeerUnixUserID":   u(int(q.creds.uid)),
		"PeerProcessID":    u(int(q.creds.pid)),
	}}, nil
}

func (b *Broker) getAllMatchRules(*peer, *wire.Message, []any) ([]any, error) {
	out := map[string][]string{}
	for p := range b.all {
		if p.unique == "" || len(p.matches) == 0 {
			continue
		}
		for _, e := range p.matches {
			out[p.unique] = append(out[p.unique], e.text)
		}
	}
	return []any{out}, nil
}

// driverXML is the driver's introspection document.
var driverXML = func() string {
	s := func(name string) introspect.Arg { return introspect.Arg{Type: "s", Direction: "in", Name: name} }
	o := func(typ string) introspect.Arg { return introspect.Arg{Type: typ, Direction: "out"} }
	bus := introspect.Interface{Name: ifaceBus,
		Methods: []introspect.Method{
			{Name: "Hello", Args: []introspect.Arg{o("s")}},
			{Name: "RequestName", Args: []introspect.Arg{s("name"), {Type: "u", Direction: "in", Name: "flags"}, o("u")}},
			{Name: "ReleaseName", Args: []introspect.Arg{s("name"), o("u")}},
			{Name: "StartServiceByName", Args: []introspect.Arg{s("name"), {Type: "u", Direction: "in", Name: "flags"}, o("u")}},
			{Name: "UpdateActivationEnvironment", Args: []introspect.Arg{{Type: "a{ss}", Direction: "in", Name: "environment"}}},
			{Name: "NameHasOwner", Args: []introspect.Arg{s("name"), o("b")}},
			{Name: "ListNames", Args: []introspect.Arg{o("as")}},
			{Name: "ListActivatableNames", Args: []introspect.Arg{o("as")}},
			{Name: "AddMatch", Args: []introspect.Arg{s("rule")}},
			{Name: "RemoveMatch", Args: []introspect.Arg{s("rule")}},
			{Name: "GetNameOwner", Args: []introspect.Arg{s("name"), o("s")}},
			{Name: "ListQueuedOwners", Args: []introspect.Arg{s("name"), o("as")}},
			{Name: "GetConnectionUnixUser", Args: []introspect.Arg{s("name"), o("u")}},
			{Name: "GetConnectionUnixProcessID", Args: []introspect.Arg{s("name"), o("u")}},
			{Name: "GetAdtAuditSessionData", Args: []introspect.Arg{s("name"), o("ay")}},
			{Name: "GetConnectionSELinuxSecurityContext", Args: []introspect.Arg{s("name"), o("ay")}},
			{Name: "GetConnectionCredentials", Args: []introspect.Arg{s("name"), o("a{sv}")}},
			{Name: "ReloadConfig"},
			{Name: "GetId", Args: []introspect.Arg{o("s")}},
		},
		Signals: []introspect.Signal{
			{Name: "NameOwnerChanged", Args: []introspect.Arg{{Type: "s"}, {Type: "s"}, {Type: "s"}}},
			{Name: "NameLost", Args: []introspect.Arg{{Type: "s"}}},
			{Name: "NameAcquired", Args: []introspect.Arg{{Type: "s"}}},
		},
		Properties: []introspect.Property{
			{Name: "Features", Type: "as", Access: "read", Annotations: []introspect.Annotation{{Name: introspect.AnnotationEmitsChangedSignal, Value: "const"}}},
			{Name: "Interfaces", Type: "as", Access: "read", Annotations: []introspect.Annotation{{Name: introspect.AnnotationEmitsChangedSignal, Value: "const"}}},
		},
	}
	mon := introspect.Interface{Name: ifaceMonitoring, Methods: []introspect.Method{
		{Name: "BecomeMonitor", Args: []introspect.Arg{{Type: "as", Direction: "in", Name: "rule"}, {Type: "u", Direction: "in", Name: "flags"}}},
	}}
	st := introspect.Interface{Name: ifaceStats, Methods: []introspect.Method{
		{Name: "GetStats", Args: []introspect.Arg{o("a{sv}")}},
		{Name: "GetConnectionStats", Args: []introspect.Arg{s("name"), o("a{sv}")}},
		{Name: "GetAllMatchRules", Args: []introspect.Arg{o("a{sas}")}},
	}}
	return introspect.Document([]string{bus.XML(), mon.XML(), st.XML()}, nil)
}()

func (b *Broker) introspect(p *peer, m *wire.Message, _ []any) ([]any, error) {
	return []any{driverXML}, nil
}
