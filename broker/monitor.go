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
	if p.monitor == nil {
		return
	}
	for _, ch := range b.reg.releaseAll(p) {
		b.announceOwnerChange(ch)
	}
	b.dropMatches(p)
	b.sendDriverSignal(p, "NameLost", "s", p.unique)
	delete(b.peers, p.unique)
	b.monitors[p] = struct{}{}
	b.observers.Add(1)
	b.broadcastDriverSignal("NameOwnerChanged", "sss", p.unique, p.unique, "")
}

// copyToMonitors gives every monitor whose rules select m a copy. Caller holds b.mu.
func (b *Broker) copyToMonitors(m *wire.Message, fds []int, args match.Args) {
	if len(b.monitors) == 0 {
		return
	}
	for q := range b.monitors {
		if monitorWants(q.monitor, m, args, b.ownerOf) {
			q.enqueue(m, nil)
		}
	}
}

func monitorWants(st *monitorState, m *wire.Message, args match.Args, owner match.OwnerFunc) bool {
	if len(st.rules) == 0 {
		return true
	}
	for _, r := range st.rules {
		if r.MatchOwners(m, args, owner) {
			return true
		}
	}
	return false
}
