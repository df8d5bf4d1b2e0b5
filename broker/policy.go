package broker

import (
	"github.com/kdbus-go/kdbus/broker/config"
	"github.com/kdbus-go/kdbus/wire"
)

// The policy hooks, with dbus-daemon's semantics (see broker/config). A broker without a
// policy allows everything, as a private session bus would; monitoring is then limited to the
// bus's own user and root. Callers hold b.mu.

// subjectOf is what the policy knows about a connection: its user and every group it acts
// with, the primary one included (peerCreds).
func subjectOf(cr creds) config.Subject {
	return config.Subject{UID: cr.uid, GIDs: cr.gids}
}

func (b *Broker) canConnect(cr creds) bool {
	return b.policy == nil || b.policy.CanConnect(subjectOf(cr), b.uid)
}

func (b *Broker) canOwn(p *peer, name string) bool {
	return p.pol == nil || p.pol.CanOwn(name)
}

// canSend checks whether from may send m to the connection to (nil for the bus driver).
func (b *Broker) canSend(from, to *peer, m *wire.Message, requested bool) bool {
	if from.pol == nil {
		return true
	}
	pm := config.MessageOf(m)
	pm.RequestedReply = requested
	if to == nil {
		return from.pol.CanSend(&pm, []string{busName})
	}
	return from.pol.CanSend(&pm, to.allNames())
}

// canReceive checks whether to may receive m from the connection from (nil for the bus
// driver); eavesdrop says to is not the addressee.
func (b *Broker) canReceive(to, from *peer, m *wire.Message, requested, eavesdrop bool) bool {
	if to.pol == nil {
		return true
	}
	pm := config.MessageOf(m)
	pm.RequestedReply = requested && !eavesdrop
	senders := []string{busName}
	if from != nil {
		senders = from.allNames()
	}
	return to.pol.CanReceive(&pm, senders, eavesdrop)
}

func (b *Broker) canMonitor(p *peer) bool {
	return p.creds.uid == 0 || p.creds.uid == b.uid
}

// canEavesdrop says whether p may add a match rule with eavesdrop='true'. dbus-daemon 1.14
// reserves that to the callers it lets monitor (root and the bus's own user), so an
// unprivileged client cannot read traffic addressed to others, whatever the receive policy.
func (b *Broker) canEavesdrop(p *peer) bool {
	return b.canMonitor(p)
}
