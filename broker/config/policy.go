package config

import (
	"strings"

	"github.com/kdbus-go/kdbus/wire"
)

// maxRuleFDs is the largest min_fds or max_fds value dbus-daemon accepts: the most file
// descriptors a message of the largest legal size could announce. A rule without max_fds
// behaves as if it said this.
const maxRuleFDs = wire.MaxMessageSize / 4

// ruleKind is what a rule decides: which messages may be sent or received, which names may
// be owned, or who may connect.
type ruleKind uint8

const (
	ruleSend ruleKind = iota
	ruleReceive
	ruleOwn
	ruleUser
	ruleGroup
)

// scopeKind is the kind of <policy> a rule came from.
type scopeKind uint8

const (
	scopeDefault   scopeKind = iota // context="default"
	scopeMandatory                  // context="mandatory"
	scopeUser                       // user="..."
	scopeGroup                      // group="..."
	scopeConsole                    // at_console="true|false"
	scopeIgnored                    // an unknown user or group: rules parsed, then dropped
)

// scope says which connections a rule applies to: id is the uid or gid for user and group
// policies, and 1 or 0 for at_console="true" and "false".
type scope struct {
	kind scopeKind
	id   uint32
}

// tristate is send_broadcast: not given, "true" or "false".
type tristate uint8

const (
	triAny tristate = iota
	triTrue
	triFalse
)

// Which message fields a send or receive rule constrains. A field given as "*" is not
// constrained; a field given as "" is constrained to the empty string, which no message
// field equals, as in dbus-daemon.
const (
	hasPath uint8 = 1 << iota
	hasInterface
	hasMember
	hasError
	hasName // send_destination(_prefix), receive_sender, own, own_prefix
)

// Rule is one <allow> or <deny> element as kdbusd understood it. Rules are immutable; a
// Verdict points at the rule that decided, for logs.
type Rule struct {
	allow bool
	kind  ruleKind
	has   uint8
	// mtype is send_type or receive_type; 0 matches every type.
	mtype wire.MessageType
	// prefix marks send_destination_prefix and own_prefix.
	prefix    bool
	eavesdrop bool
	// requestedReply is [send|receive]_requested_reply; it defaults to allow.
	requestedReply bool
	broadcast      tristate
	log            bool
	path           string
	iface          string
	member         string
	errName        string
	name           string
	minFDs, maxFDs uint32
	// id is the uid or gid of a user or group rule; anyID marks user="*" and group="*".
	id    uint32
	anyID bool

	scope  scope
	pos    Position
	text   string // the element as written
	policy string // the enclosing <policy> start tag as written
}

// Allow reports whether the rule is an <allow> (rather than a <deny>).
func (r *Rule) Allow() bool { return r.allow }

// Log reports whether the rule has log="true". dbus-daemon logs a message that the deciding
// send rule lets through when that rule asks for it ("Would reject message").
func (r *Rule) Log() bool { return r.log }

// Pos is where the rule is written.
func (r *Rule) Pos() Position { return r.pos }

// String describes the rule for logs, for example
// `<deny own="*"/> in <policy context="default"> at /usr/share/dbus-1/system.conf:57:5`.
func (r *Rule) String() string {
	return r.text + " in " + r.policy + " at " + r.pos.String()
}

// Subject is what the policy knows about a connection: the credentials it authenticated
// with.
type Subject struct {
	// UID is the connection's Unix user.
	UID uint32
	// GIDs are all the connection's groups, primary and supplementary. dbus-daemon takes them
	// from SO_PEERGROUPS (plus SO_PEERCRED's gid) where the kernel has it and from the user
	// database for UID otherwise; see LookupGroups.
	GIDs []uint32
	// AtConsole says the user is logged in at the console, for <policy at_console="...">.
	// kdbusd does not detect this itself; dbus-daemon checks for /run/console/<user>, which
	// no current distribution creates, so false matches dbus-daemon nearly everywhere.
	AtConsole bool
}

// Message is what the policy looks at in a message. Absent header fields are "".
type Message struct {
	Type      wire.MessageType // for send_type and receive_type
	Path      wire.ObjectPath  // the PATH field
	Interface string           // the INTERFACE field
	Member    string           // the MEMBER field
	ErrorName string           // the ERROR_NAME field
	// Destination is the DESTINATION header field; "" makes a signal a broadcast (for
	// send_broadcast) and stops a receiver from counting as eavesdropping.
	Destination string
	// ReplySerial is the REPLY_SERIAL field. When it is non-zero (always, for method returns
	// and errors) the [send|receive]_requested_reply attributes apply.
	ReplySerial uint32
	// RequestedReply says the message is a reply the bus was expecting: the addressed
	// recipient made the call it answers and has not had its reply yet. Replies from the bus
	// driver count as requested. It must be false when checking a copy for an eavesdropper.
	RequestedReply bool
	// UnixFDs is the number of file descriptors attached, for min_fds and max_fds.
	UnixFDs uint32
}

// MessageOf copies the fields the policy needs from a wire message. The caller sets
// RequestedReply, which only the bus knows.
func MessageOf(m *wire.Message) Message {
	return Message{
		Type:        m.Type,
		Path:        m.Path,
		Interface:   m.Interface,
		Member:      m.Member,
		ErrorName:   m.ErrorName,
		Destination: m.Destination,
		ReplySerial: m.ReplySerial,
		UnixFDs:     m.UnixFDs,
	}
}

// Verdict is the outcome of a policy check.
type Verdict struct {
	// Allowed is the decision.
	Allowed bool
	// Rule is the rule that decided, or nil when no rule matched and the default (deny)
	// applied.
	Rule *Rule
}

// ruleSet holds one scope's per-connection rules, split by kind, in file order.
type ruleSet struct {
	send, recv, own []*Rule
}

func (s *ruleSet) add(r *Rule) {
	switch r.kind {
	case ruleSend:
		s.send = append(s.send, r)
	case ruleReceive:
		s.recv = append(s.recv, r)
	case ruleOwn:
		s.own = append(s.own, r)
	}
}

// Policy is a compiled dbus-daemon security policy. It is immutable and safe for concurrent
// use. A nil *Policy has no rules, and so denies everything, as dbus-daemon does with a
// configuration that has no <policy>.
//
// # Evaluation
//
// For each connection the rules that apply are collected in this order, each group of
// rules in the order the files list them (includes are expanded where they stand):
//
//  1. <policy context="default">
//  2. <policy group="..."> for each of the connection's groups, in the order of
//     Subject.GIDs (dbus-daemon documents this order as undefined)
//  3. <policy user="..."> for the connection's uid
//  4. <policy at_console="true"> if Subject.AtConsole, else <policy at_console="false">
//  5. <policy context="mandatory">
//
// A check considers only the rules of its kind (send, receive or own) and the last rule
// that matches decides; when none matches the answer is no. Connecting is different: see
// Policy.CanConnect.
//
// A rule matches when every condition it states holds, as dbus-daemon tests them:
//
//   - send_type/receive_type: the message type.
//   - send_interface/receive_interface: the interface equals it. A message without an
//     interface never matches an <allow> with an interface but always matches such a
//     <deny>.
//   - send_path, send_member, send_error (and the receive_ forms): the field equals it, or
//     the message has no such field at all (dbus-daemon skips the test for an absent field,
//     so send_member="X" also matches method returns).
//   - send_destination: one of destNames (the names the receiving connection owns or is
//     queued for, and its unique name) equals it; send_destination_prefix: one of them is
//     the prefix or starts with the prefix and a dot. receive_sender: likewise with
//     senderNames.
//   - send_broadcast="true": a signal without destination; "false": anything else.
//   - min_fds/max_fds: the number of attached file descriptors is within the range.
//   - [send|receive]_requested_reply, for messages with a reply serial: an <allow> matches
//     only requested replies unless it says requested_reply="false" or eavesdrop="true"; a
//     <deny> matches only unrequested replies unless it says requested_reply="true".
//   - eavesdrop, for receive rules: an <allow> matches an eavesdropped copy only with
//     eavesdrop="true"; a <deny> with eavesdrop="true" matches only eavesdropped copies.
//   - own: the name equals it ("*" matches any); own_prefix: the name is the prefix or
//     starts with the prefix and a dot.
//   - "*" means the condition is absent for every attribute that allows it.
type Policy struct {
	def, mandatory          ruleSet
	consoleTrue, consoleOff ruleSet
	byUID                   map[uint32]*ruleSet
	byGID                   map[uint32]*ruleSet
	connect                 []*Rule // user and group rules: default ones, then mandatory ones
	// shared serves connections to which no user or group policy applies, indexed by
	// AtConsole.
	shared [2]*SubjectPolicy
}

// compile builds a Policy from rules in file order.
func compile(rules []*Rule) *Policy {
	p := &Policy{byUID: map[uint32]*ruleSet{}, byGID: map[uint32]*ruleSet{}}
	var connectDef, connectMand []*Rule
	for _, r := range rules {
		switch r.scope.kind {
		case scopeDefault, scopeMandatory:
			set, connect := &p.def, &connectDef
			if r.scope.kind == scopeMandatory {
				set, connect = &p.mandatory, &connectMand
			}
			if r.kind == ruleUser || r.kind == ruleGroup {
				*connect = append(*connect, r)
			} else {
				set.add(r)
			}
		case scopeUser, scopeGroup:
			m := p.byUID
			if r.scope.kind == scopeGroup {
				m = p.byGID
			}
			set := m[r.scope.id]
			if set == nil {
				set = &ruleSet{}
				m[r.scope.id] = set
			}
			set.add(r)
		case scopeConsole:
			// User and group rules in an at_console policy have no effect in dbus-daemon
			// either; the parser warns about them.
			if r.scope.id != 0 {
				p.consoleTrue.add(r)
			} else {
				p.consoleOff.add(r)
			}
		}
	}
	p.connect = append(connectDef, connectMand...)
	p.shared[0] = p.build(nil, false)
	p.shared[1] = p.build(nil, true)
	return p
}

// SubjectPolicy is the policy for one connection: the rules that apply to its credentials,
// collected once. Get one with Policy.For when the connection completes authentication and
// keep it with the connection; its checks are short scans that do not allocate. It is
// immutable and safe for concurrent use.
type SubjectPolicy struct {
	send, recv ruleIndex
	own        []*Rule
}

// ruleIndex holds send or receive rules in evaluation order, indexed so that a check looks
// only at the rules that can concern the names involved: those whose send_destination or
// receive_sender is one of the names, and those without such an exact name (no name
// condition, "*", or a prefix).
type ruleIndex struct {
	rules   []*Rule
	generic []int32            // indices of rules without an exact name, ascending
	byName  map[string][]int32 // indices of rules naming each exact name, ascending
}

func newRuleIndex(rules []*Rule) ruleIndex {
	ix := ruleIndex{rules: rules}
	for i, r := range rules {
		if r.has&hasName == 0 || r.prefix {
			ix.generic = append(ix.generic, int32(i))
			continue
		}
		if ix.byName == nil {
			ix.byName = map[string][]int32{}
		}
		ix.byName[r.name] = append(ix.byName[r.name], int32(i))
	}
	return ix
}

// last returns the last rule, in evaluation order, that matches: a rule in the index of one
// of names for which match(rule, false) holds, or a generic rule for which match(rule, true)
// holds; checkName says whether match must test the rule's name condition. It returns nil
// when no rule matches.
func (ix *ruleIndex) last(names []string, match func(r *Rule, checkName bool) bool) *Rule {
	best := int32(-1)
	if ix.byName != nil {
		for _, n := range names {
			idx := ix.byName[n]
			for j := len(idx) - 1; j >= 0 && idx[j] > best; j-- {
				if match(ix.rules[idx[j]], false) {
					best = idx[j]
					break
				}
			}
		}
	}
	for j := len(ix.generic) - 1; j >= 0 && ix.generic[j] > best; j-- {
		if match(ix.rules[ix.generic[j]], true) {
			best = ix.generic[j]
			break
		}
	}
	if best < 0 {
		return nil
	}
	return ix.rules[best]
}

// For collects the rules that apply to a connection with the given credentials. When no
// user or group policy names them, every such connection shares one SubjectPolicy and For
// does not allocate.
func (p *Policy) For(s Subject) *SubjectPolicy {
	if p == nil {
		return &SubjectPolicy{}
	}
	var buf [8]*ruleSet
	sets := buf[:0]
	for i, gid := range s.GIDs {
		if set := p.byGID[gid]; set != nil && !seenBefore(s.GIDs, i) {
			sets = append(sets, set)
		}
	}
	if set := p.byUID[s.UID]; set != nil {
		sets = append(sets, set)
	}
	if len(sets) == 0 {
		return p.shared[b2i(s.AtConsole)]
	}
	return p.build(sets, s.AtConsole)
}

func seenBefore(ids []uint32, i int) bool {
	for _, id := range ids[:i] {
		if id == ids[i] {
			return true
		}
	}
	return false
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// build concatenates default, the given group and user sets, the console set and mandatory.
func (p *Policy) build(middle []*ruleSet, atConsole bool) *SubjectPolicy {
	console := &p.consoleOff
	if atConsole {
		console = &p.consoleTrue
	}
	all := make([]*ruleSet, 0, len(middle)+3)
	all = append(all, &p.def)
	all = append(all, middle...)
	all = append(all, console, &p.mandatory)
	var send, recv, own []*Rule
	for _, set := range all {
		send = append(send, set.send...)
		recv = append(recv, set.recv...)
		own = append(own, set.own...)
	}
	return &SubjectPolicy{send: newRuleIndex(send), recv: newRuleIndex(recv), own: own}
}

// CanConnect reports whether a connection with these credentials may stay connected once it
// has authenticated. busUID is the uid the bus runs as (after any <user> switch).
//
// As in dbus-daemon, only <allow user/group> and <deny user/group> rules in default and
// mandatory policies count, default ones first; the last matching rule decides. With no
// matching rule, only the bus's own user may connect. dbus-daemon takes the groups for this
// check from the user database for the uid (see LookupGroups), not from the socket.
// Connections that authenticated as ANONYMOUS have no uid; <allow_anonymous/>
// (Config.AllowAnonymous) alone decides for them.
func (p *Policy) CanConnect(s Subject, busUID uint32) bool {
	if p != nil {
		for i := len(p.connect) - 1; i >= 0; i-- {
			r := p.connect[i]
			if r.anyID {
				return r.allow
			}
			if r.kind == ruleUser && r.id == s.UID {
				return r.allow
			}
			if r.kind == ruleGroup && containsID(s.GIDs, r.id) {
				return r.allow
			}
		}
	}
	return s.UID == busUID
}

func containsID(ids []uint32, id uint32) bool {
	for _, x := range ids {
		if x == id {
			return true
		}
	}
	return false
}

// CanOwn is p.For(s).CanOwn(name); keep the SubjectPolicy instead on a hot path.
func (p *Policy) CanOwn(s Subject, name string) bool { return p.For(s).CanOwn(name) }

// CanSend is p.For(s).CanSend(m, destNames); keep the SubjectPolicy instead on a hot path.
func (p *Policy) CanSend(s Subject, m *Message, destNames []string) bool {
	return p.For(s).CanSend(m, destNames)
}

// CanReceive is p.For(s).CanReceive(m, senderNames, eavesdrop); keep the SubjectPolicy
// instead on a hot path.
func (p *Policy) CanReceive(s Subject, m *Message, senderNames []string, eavesdrop bool) bool {
	return p.For(s).CanReceive(m, senderNames, eavesdrop)
}

// CanOwn reports whether the connection may own (or queue for) the well-known name.
func (sp *SubjectPolicy) CanOwn(name string) bool { return sp.CheckOwn(name).Allowed }

// CheckOwn is CanOwn that also returns the deciding rule.
func (sp *SubjectPolicy) CheckOwn(name string) Verdict {
	for i := len(sp.own) - 1; i >= 0; i-- {
		r := sp.own[i]
		if r.has&hasName != 0 {
			if r.prefix {
				if !hasWordPrefix(name, r.name) {
					continue
				}
			} else if name != r.name {
				continue
			}
		}
		return Verdict{Allowed: r.allow, Rule: r}
	}
	return Verdict{}
}

// AllowsEverything reports whether the connection may send every message to every
// destination (send) and receive every message from every sender (receive), whatever the
// message holds: the last rule of each kind allows with no condition, and the last matching
// rule decides. A bus may then let two such connections talk without looking at their
// messages.
func (sp *SubjectPolicy) AllowsEverything() (send, receive bool) {
	return sp.send.endsAllowingAll(), sp.recv.endsAllowingAll()
}

func (ix *ruleIndex) endsAllowingAll() bool {
	if len(ix.rules) == 0 {
		return false
	}
	r := ix.rules[len(ix.rules)-1]
	return r.allow && r.has == 0 && !r.prefix && r.mtype == 0 && r.broadcast == triAny &&
		r.minFDs == 0 && r.maxFDs == maxRuleFDs
}

// CanSend reports whether the connection may send m to a connection owning destNames.
//
// destNames are the names of the connection the message is being delivered to: its unique
// name and every well-known name it owns or is queued for. The bus checks each delivery
// separately: for a broadcast signal, once per recipient with that recipient's names, and
// for an eavesdropper, with the eavesdropper's names (and m.RequestedReply false). For a
// message to the bus driver, and when deciding whether to activate a service, destNames is
// just m.Destination ("org.freedesktop.DBus" or the name to activate).
func (sp *SubjectPolicy) CanSend(m *Message, destNames []string) bool {
	return sp.CheckSend(m, destNames).Allowed
}

// CheckSend is CanSend that also returns the deciding rule.
func (sp *SubjectPolicy) CheckSend(m *Message, destNames []string) Verdict {
	broadcast := m.Destination == "" && m.Type == wire.Signal
	r := sp.send.last(destNames, func(r *Rule, checkName bool) bool {
		return r.matchMessage(m, m.RequestedReply) &&
			(r.broadcast == triAny || (r.broadcast == triTrue) == broadcast) &&
			(!checkName || r.has&hasName == 0 || r.matchNames(destNames))
	})
	return verdict(r)
}

func verdict(r *Rule) Verdict {
	if r == nil {
		return Verdict{}
	}
	return Verdict{Allowed: r.allow, Rule: r}
}

// CanReceive reports whether the connection may receive m from a connection owning
// senderNames (its unique name and every name it owns or is queued for; for messages from
// the bus driver, just "org.freedesktop.DBus").
//
// eavesdrop says the connection is not the message's addressed recipient but gets a copy
// through an eavesdropping match rule. As in dbus-daemon, a message without destination is
// never eavesdropped, whatever eavesdrop says, and an eavesdropped reply is never a
// requested one.
func (sp *SubjectPolicy) CanReceive(m *Message, senderNames []string, eavesdrop bool) bool {
	return sp.CheckReceive(m, senderNames, eavesdrop).Allowed
}

// CheckReceive is CanReceive that also returns the deciding rule.
func (sp *SubjectPolicy) CheckReceive(m *Message, senderNames []string, eavesdrop bool) Verdict {
	eavesdropping := eavesdrop && m.Destination != ""
	requested := m.RequestedReply && !eavesdropping
	r := sp.recv.last(senderNames, func(r *Rule, checkName bool) bool {
		if eavesdropping {
			if r.allow && !r.eavesdrop {
				return false
			}
		} else if !r.allow && r.eavesdrop {
			return false
		}
		return r.matchMessage(m, requested) &&
			(!checkName || r.has&hasName == 0 || r.matchNames(senderNames))
	})
	return verdict(r)
}

// matchMessage tests the conditions send and receive rules share.
func (r *Rule) matchMessage(m *Message, requested bool) bool {
	if r.mtype != 0 && r.mtype != m.Type {
		return false
	}
	if m.ReplySerial != 0 {
		if !requested && r.allow && r.requestedReply && !r.eavesdrop {
			return false
		}
		if requested && !r.allow && !r.requestedReply {
			return false
		}
	}
	if r.has&^hasName == 0 && r.minFDs == 0 && r.maxFDs == maxRuleFDs {
		return true
	}
	// The conditions are independent; the ones that most often differ, and cost least to
	// compare, come first.
	if r.has&hasMember != 0 && m.Member != "" && m.Member != r.member {
		return false
	}
	if r.has&hasInterface != 0 {
		if m.Interface == "" {
			if r.allow {
				return false
			}
		} else if m.Interface != r.iface {
			return false
		}
	}
	if r.has&hasError != 0 && m.ErrorName != "" && m.ErrorName != r.errName {
		return false
	}
	if r.has&hasPath != 0 && m.Path != "" && string(m.Path) != r.path {
		return false
	}
	if m.UnixFDs < r.minFDs || m.UnixFDs > r.maxFDs {
		return false
	}
	return true
}

// matchNames reports whether one of names is the rule's name, or lies under it for a prefix
// rule.
func (r *Rule) matchNames(names []string) bool {
	for _, n := range names {
		if n == r.name || r.prefix && hasWordPrefix(n, r.name) {
			return true
		}
	}
	return false
}

// hasWordPrefix reports whether name is prefix or starts with prefix followed by a dot:
// "a.b" is under "a.b" and "a", but not under "a.bc".
func hasWordPrefix(name, prefix string) bool {
	return strings.HasPrefix(name, prefix) && (len(name) == len(prefix) || name[len(prefix)] == '.')
}
