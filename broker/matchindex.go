package broker

import (
	"fmt"
	"slices"
	"strings"

	"github.com/kdbus-go/kdbus/bloom"
	"github.com/kdbus-go/kdbus/match"
	"github.com/kdbus-go/kdbus/wire"
)

// Routing must not cost every connection's rules for every message: an idle client holding
// thousands of rules would otherwise slow every call on the bus. So rules are filed, as
// dbus-broker files them, by the sender they name and under it by exact path, interface and
// member, and a message visits only the buckets it can match. Rules that observe traffic
// addressed to others (eavesdropping rules, monitors) are filed apart, so a unicast that
// nobody observes visits no rule at all.

// ruleIndex holds match rules by the header fields that decide whether they can select a
// message. A rule is filed under its sender ("" when it names none) and, there, under its
// exact path, interface and member, each "" when the rule does not give it. A message from
// S with path P, interface I and member M can be selected only by rules filed under "" or
// under S, the bus, or a well-known name S owns, and under a key whose every part is "" or
// the message's value: a few buckets, whatever the number of rules.
type ruleIndex struct {
	senders map[string]*senderRules
	// wellKnown counts the keys of senders that are well-known names: a lookup for a
	// sender resolves those through the name registry.
	wellKnown int
	n         int
}

// headerKey is the part of a rule's key below its sender.
type headerKey struct {
	path          wire.ObjectPath
	iface, member string
}

// senderRules are the rules that name one sender (or none).
type senderRules struct {
	buckets map[headerKey][]*matchEntry
	// shapes counts the rules by which of path (bit 0), interface (bit 1) and member
	// (bit 2) they give, so that a lookup skips the key shapes no rule uses.
	shapes [8]int
}

// ruleOwner is the connection that holds a set of rules, shared by its entries so that a
// fan-out can tell at once whether the connection already got the message.
type ruleOwner struct {
	p *peer
	// stamp is the number of the last fan-out that gave p the message.
	stamp uint64
}

// matchRegistry is the broker's part that holds every connection's match rules. It is
// guarded by b.mu.
type matchRegistry struct {
	// subs are ordinary rules: they select broadcasts.
	subs ruleIndex
	// eavesdrop are rules with eavesdrop='true': they select broadcasts and also messages
	// addressed to others.
	eavesdrop ruleIndex
	// monitor are the rules of monitors; a monitor without rules has one empty rule.
	monitor ruleIndex
	owners  map[*peer]*ruleOwner
	perUID  map[uint32]int // rules held per user (monitors' not counted)
	stamp   uint64         // numbers fan-outs, for ruleOwner.stamp
	// visited counts the rules evaluated while routing, for Debug.Stats: with the index
	// it grows with the rules that can select a message, not with the rules on the bus.
	visited uint64
}

// filing returns where a rule goes in an index: its sender key, its key below that, and the
// key's shape.
func filing(r *match.Rule) (string, headerKey, int) {
	k := headerKey{path: r.Path, iface: r.Interface, member: r.Member}
	shape := 0
	if k.path != "" {
		shape |= 1
	}
	if k.iface != "" {
		shape |= 2
	}
	if k.member != "" {
		shape |= 4
	}
	return r.Sender, k, shape
}

// isWellKnown says whether a rule's sender key is resolved through the name registry.
func isWellKnown(sender string) bool {
	return sender != "" && sender != busName && !strings.HasPrefix(sender, ":")
}

func (ix *ruleIndex) add(e *matchEntry) {
	sk, k, shape := filing(e.rule)
	s := ix.senders[sk]
	if s == nil {
		if ix.senders == nil {
			ix.senders = make(map[string]*senderRules)
		}
		s = &senderRules{buckets: make(map[headerKey][]*matchEntry)}
		ix.senders[sk] = s
		if isWellKnown(sk) {
			ix.wellKnown++
		}
	}
	bucket := s.buckets[k]
	e.slot = len(bucket)
	s.buckets[k] = append(bucket, e)
	s.shapes[shape]++
	ix.n++
}

// remove takes e out of the index in constant time: the last rule of its bucket takes its
// place, because the order of rules within a bucket means nothing.
func (ix *ruleIndex) remove(e *matchEntry) {
	sk, k, shape := filing(e.rule)
	s := ix.senders[sk]
	bucket := s.buckets[k]
	last := len(bucket) - 1
	bucket[e.slot] = bucket[last]
	bucket[e.slot].slot = e.slot
	bucket[last] = nil
	if last == 0 {
		delete(s.buckets, k)
	} else {
		s.buckets[k] = bucket[:last]
	}
	s.shapes[shape]--
	ix.n--
	if len(s.buckets) == 0 {
		delete(ix.senders, sk)
		if isWellKnown(sk) {
			ix.wellKnown--
		}
	}
}

// candidates calls f with every rule of ix that can select m from the connection from (nil
// for the bus itself), until f returns false; it reports whether f never did. The rules it
// passes still have to be matched: the index only rules out the others. Caller holds b.mu.
func (b *Broker) candidates(ix *ruleIndex, from *peer, m *wire.Message, f func(*matchEntry) bool) bool {
	if ix.n == 0 {
		return true
	}
	if !b.visitSender(ix.senders[""], m, f) {
		return false
	}
	if from == nil {
		return b.visitSender(ix.senders[busName], m, f)
	}
	if from.unique != "" && !b.visitSender(ix.senders[from.unique], m, f) {
		return false
	}
	if ix.wellKnown == 0 {
		return true
	}
	// A rule naming a well-known sender selects messages from the name's primary owner, as
	// it is at the time of the message: so the rules stay filed under the name, and the
	// names the sender owns now are looked up, from whichever side is smaller.
	if len(from.names) <= ix.wellKnown {
		for name := range from.names {
			if s := ix.senders[name]; s != nil && b.reg.owner(name) == from && !b.visitSender(s, m, f) {
				return false
			}
		}
		return true
	}
	for name, s := range ix.senders {
		if isWellKnown(name) && b.reg.owner(name) == from && !b.visitSender(s, m, f) {
			return false
		}
	}
	return true
}

// visitSender passes f the rules of s whose path, interface and member keys m can satisfy.
func (b *Broker) visitSender(s *senderRules, m *wire.Message, f func(*matchEntry) bool) bool {
	if s == nil {
		return true
	}
	for shape, n := range s.shapes {
		if n == 0 {
			continue
		}
		var k headerKey
		if shape&1 != 0 {
			if m.Path == "" {
				continue
			}
			k.path = m.Path
		}
		if shape&2 != 0 {
			if m.Interface == "" {
				continue
			}
			k.iface = m.Interface
		}
		if shape&4 != 0 {
			if m.Member == "" {
				continue
			}
			k.member = m.Member
		}
		for _, e := range s.buckets[k] {
			b.match.visited++
			if !f(e) {
				return false
			}
		}
	}
	return true
}

// observable reports whether an eavesdropper or a monitor may see m from from, judging by
// the header alone. Caller holds b.mu.
func (b *Broker) observable(from *peer, m *wire.Message) bool {
	seen := false
	stop := func(*matchEntry) bool { seen = true; return false }
	b.candidates(&b.match.eavesdrop, from, m, stop)
	if !seen {
		b.candidates(&b.match.monitor, from, m, stop)
	}
	return seen
}

// nextFanOut starts a fan-out: ruleOwner stamps from earlier ones no longer count.
func (b *Broker) nextFanOut() uint64 {
	b.match.stamp++
	return b.match.stamp
}

// ownerOfRules returns the ruleOwner of p, creating it on first use.
func (b *Broker) ownerOfRules(p *peer) *ruleOwner {
	o := b.match.owners[p]
	if o == nil {
		if b.match.owners == nil {
			b.match.owners = make(map[*peer]*ruleOwner)
		}
		o = &ruleOwner{p: p}
		b.match.owners[p] = o
	}
	return o
}

// indexOf returns the index an ordinary connection's rule belongs to.
func (b *Broker) indexOf(r *match.Rule) *ruleIndex {
	if r.Eavesdrop {
		return &b.match.eavesdrop
	}
	return &b.match.subs
}

// addRule gives p the rule r, charging it to p's connection and user limits. Caller holds
// b.mu.
func (b *Broker) addRule(p *peer, r *match.Rule) error {
	if len(p.matches) >= b.limits.MaxMatchRulesPerConnection {
		return &driverError{errLimitsExceeded, fmt.Sprintf("Connection %q is not allowed to add more match rules (increase limits in configuration file if required; max_match_rules_per_connection=%d)", p.unique, b.limits.MaxMatchRulesPerConnection)}
	}
	uid := p.creds.uid
	if b.match.perUID[uid] >= b.limits.MaxMatchRulesPerUser {
		return &driverError{errLimitsExceeded, fmt.Sprintf("The connections of uid %d hold %d match rules, the per-user limit: remove rules no longer needed, or raise max_match_rules_per_user in the bus configuration", uid, b.match.perUID[uid])}
	}
	e := &matchEntry{rule: r, text: r.String(), own: b.ownerOfRules(p)}
	if p.nat != nil {
		e.mask = bloom.ForRule(b.bloom, r)
	}
	b.indexOf(r).add(e)
	p.matches = append(p.matches, e)
	if b.match.perUID == nil {
		b.match.perUID = make(map[uint32]int)
	}
	b.match.perUID[uid]++
	return nil
}

// removeRule takes away the most recent of p's rules equal to r. Caller holds b.mu.
func (b *Broker) removeRule(p *peer, r *match.Rule) bool {
	text := r.String()
	for i := len(p.matches) - 1; i >= 0; i-- {
		e := p.matches[i]
		if e.text != text {
			continue
		}
		b.indexOf(e.rule).remove(e)
		p.matches = slices.Delete(p.matches, i, i+1)
		b.uncharge(p, 1)
		return true
	}
	return false
}

// uncharge returns n rules to p's user.
func (b *Broker) uncharge(p *peer, n int) {
	uid := p.creds.uid
	if b.match.perUID[uid] -= n; b.match.perUID[uid] <= 0 {
		delete(b.match.perUID, uid)
	}
}

// dropMatches forgets p's match rules, and its monitor rules if it is a monitor. Caller
// holds b.mu.
func (b *Broker) dropMatches(p *peer) {
	for _, e := range p.matches {
		b.indexOf(e.rule).remove(e)
	}
	if n := len(p.matches); n > 0 {
		b.uncharge(p, n)
	}
	p.matches = nil
	if p.monitor != nil {
		for _, e := range p.monitor.entries {
			b.match.monitor.remove(e)
		}
		p.monitor.entries = nil
	}
	delete(b.match.owners, p)
}
