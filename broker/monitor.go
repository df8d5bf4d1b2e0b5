package broker

import (
	"fmt"

	"github.com/kdbus-go/kdbus/match"
	"github.com/kdbus-go/kdbus/wire"
)

// monitorState is what a connection that became a monitor watches: its rules (none means
// everything).
type monitorState struct {
	rules []*match.Rule
	// entries are the rules as filed in the monitor index, once the connection is a
	// monitor; a monitor without rules has one empty rule there, which selects everything.
	entries []*matchEntry
}

// becomeMonitor validates BecomeMonitor's arguments; afterBecomeMonitor turns the connection
// into a monitor once the reply is queued.
func (b *Broker) becomeMonitor(p *peer, m *wire.Message, args []any) ([]any, error) {
	texts, flags := args[0].([]any), args[1].(uint32)
	if flags != 0 {
		return nil, invalidArgs("BecomeMonitor flags must be 0, got %d", flags)
	}
	st := &monitorState{}
	for _, t := range texts {
		r, err := match.Parse(t.(string))
		if err != nil {
			return nil, &driverError{errMatchRuleInvalid, err.Error()}
		}
		st.rules = append(st.rules, r)
	}
	if !b.canMonitor(p) {
		return nil, &driverError{errAccessDenied, fmt.Sprintf("Connection %s (uid %d) is not allowed to monitor the bus: only the bus owner's user may", p.unique, p.creds.uid)}
	}
	p.monitor = st
	return nil, nil
}

// afterBecomeMonitor drops the monitor's names, unique name included, as busctl expects:
// it waits for NameLost of its own unique name before it prints anything.
func (b *Broker) afterBecomeMonitor(p *peer) {
	if p.monitor == nil || p.monitor.entries != nil {
		return
	}
	for _, ch := range b.reg.releaseAll(p) {
		b.announceOwnerChange(ch)
	}
	b.dropMatches(p)
	b.sendDriverSignal(p, "NameLost", "s", p.unique)
	delete(b.peers, p.unique)
	b.monitors[p] = struct{}{}
	rules := p.monitor.rules
	if len(rules) == 0 {
		rules = []*match.Rule{{}}
	}
	own := b.ownerOfRules(p)
	for _, r := range rules {
		e := &matchEntry{rule: r, text: r.String(), own: own}
		b.match.monitor.add(e)
		p.monitor.entries = append(p.monitor.entries, e)
	}
	b.broadcastDriverSignal("NameOwnerChanged", "sss", p.unique, p.unique, "")
}

// copyToMonitors gives every monitor one of whose rules selects m, from from (nil for the
// bus), a copy. Caller holds b.mu.
func (b *Broker) copyToMonitors(from *peer, m *wire.Message, args match.Args) {
	stamp := b.nextFanOut()
	b.candidates(&b.match.monitor, from, m, func(e *matchEntry) bool {
		if e.own.stamp != stamp && e.rule.MatchOwners(m, args, b.ownerOf) {
			e.own.stamp = stamp
			e.own.p.enqueue(m, nil)
		}
		return true
	})
}
