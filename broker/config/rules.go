package config

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"strconv"
	"strings"

	"github.com/kdbus-go/kdbus/wire"
)

// element is a start tag being checked, with what is needed to point at its attributes.
type element struct {
	p          *fileParser
	t          xml.StartElement
	pos        Position
	off0, off1 int64 // the tag's byte range in the file
	tag        string
}

func attrName(a xml.Attr) string { return elemName(a.Name) }

// attr returns the value of the attribute called name.
func (e *element) attr(name string) (string, bool) {
	for _, a := range e.t.Attr {
		if a.Name.Space == "" && a.Name.Local == name {
			return a.Value, true
		}
	}
	return "", false
}

// checkDuplicates rejects an attribute given twice, which the XML decoder lets through.
func (e *element) checkDuplicates() error {
	for i, a := range e.t.Attr {
		for _, b := range e.t.Attr[:i] {
			if a.Name == b.Name {
				return &Error{Pos: e.attrPosN(attrName(a), true), Element: e.tag, Msg: fmt.Sprintf("attribute %q given twice; keep one", attrName(a))}
			}
		}
	}
	return nil
}

// only rejects attributes other than the allowed ones.
func (e *element) only(allowed ...string) error {
	for _, a := range e.t.Attr {
		n := attrName(a)
		if a.Name.Space == "" && containsString(allowed, n) {
			continue
		}
		if len(allowed) == 0 {
			return e.attrErr(n, "attribute %q is not allowed: %s takes no attributes", n, e.tag)
		}
		return e.attrErr(n, "attribute %q is not allowed on %s; the attributes are %s", n, e.tag, strings.Join(allowed, ", "))
	}
	return nil
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// attrPos finds where the attribute called name is written in the tag, falling back to the
// tag's position.
func (e *element) attrPos(name string) Position { return e.attrPosN(name, false) }

// attrPosN is attrPos that finds the last occurrence instead of the first when last is set.
func (e *element) attrPosN(name string, last bool) Position {
	data := e.p.data
	if e.off0 < 0 || e.off1 > int64(len(data)) || e.off0 >= e.off1 {
		return e.pos
	}
	tag := data[e.off0:e.off1]
	found := -1
	for from := 0; ; {
		i := bytes.Index(tag[from:], []byte(name))
		if i < 0 {
			break
		}
		i += from
		from = i + 1
		if i == 0 || !isXMLSpace(tag[i-1]) {
			continue
		}
		rest := bytes.TrimLeft(tag[i+len(name):], " \t\r\n")
		if len(rest) == 0 || rest[0] != '=' {
			continue
		}
		found = i
		if !last {
			break
		}
	}
	if found < 0 {
		return e.pos
	}
	pos := e.pos
	before := tag[:found]
	if nl := bytes.Count(before, []byte{'\n'}); nl > 0 {
		pos.Line += nl
		pos.Col = found - bytes.LastIndexByte(before, '\n')
	} else {
		pos.Col += found
	}
	return pos
}

func isXMLSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

// attrErr reports a problem with an attribute, at the attribute.
func (e *element) attrErr(name, format string, args ...any) *Error {
	return &Error{Pos: e.attrPos(name), Element: e.tag, Msg: fmt.Sprintf(format, args...)}
}

// ruleAttrs are the attributes of <allow> and <deny>.
var ruleAttrs = []string{
	"send_interface", "send_member", "send_error", "send_destination", "send_destination_prefix",
	"send_path", "send_type", "send_broadcast", "send_requested_reply",
	"receive_interface", "receive_member", "receive_error", "receive_sender", "receive_path",
	"receive_type", "receive_requested_reply",
	"eavesdrop", "min_fds", "max_fds", "own", "own_prefix", "user", "group", "log",
}

// rule parses an <allow> or <deny> inside the policy frame pol, with dbus-daemon's checks.
// It returns nil without error for a rule dbus-daemon drops: one naming an unknown user or
// group.
func (p *fileParser) rule(e *element, allow bool, pol *frame) (*Rule, error) {
	if err := e.only(ruleAttrs...); err != nil {
		return nil, err
	}
	has := func(n string) bool { _, ok := e.attr(n); return ok }
	val := func(n string) string { v, _ := e.attr(n); return v }
	anyOf := func(names ...string) string {
		for _, n := range names {
			if has(n) {
				return n
			}
		}
		return ""
	}
	sendAttr := anyOf("send_interface", "send_member", "send_error", "send_destination",
		"send_destination_prefix", "send_path", "send_type", "send_broadcast", "send_requested_reply")
	recvAttr := anyOf("receive_interface", "receive_member", "receive_error", "receive_sender",
		"receive_path", "receive_type", "receive_requested_reply")
	// <allow eavesdrop="true"/> alone is a receive rule: receive_sender="*" eavesdrop="true".
	if recvAttr == "" && sendAttr == "" && has("eavesdrop") {
		recvAttr = "eavesdrop"
	}
	msgAttr := sendAttr + recvAttr
	if msgAttr == "" {
		msgAttr = anyOf("eavesdrop", "min_fds", "max_fds")
	}
	var kinds []string
	if msgAttr != "" {
		kinds = append(kinds, msgAttr)
	}
	for _, n := range []string{"own", "own_prefix", "user", "group"} {
		if has(n) {
			kinds = append(kinds, n)
		}
	}

	switch {
	case sendAttr == "" && recvAttr == "" && !has("own") && !has("own_prefix") && !has("user") && !has("group"):
		if msgAttr != "" {
			return nil, e.attrErr(msgAttr, "%s only modifies a send_* or receive_* rule; add the send_ or receive_ attributes it is about", msgAttr)
		}
		return nil, p.errAt(e.pos, e.tag, "needs attributes saying what it is about: send_*, receive_*, eavesdrop, own, own_prefix, user or group")
	case has("send_member") && !has("send_interface") && !has("send_path"):
		return nil, e.attrErr("send_member", "send_member needs send_interface or send_path beside it, since not all messages carry an interface")
	case has("receive_member") && !has("receive_interface") && !has("receive_path"):
		return nil, e.attrErr("receive_member", "receive_member needs receive_interface or receive_path beside it, since not all messages carry an interface")
	case len(kinds) > 1:
		return nil, e.attrErr(kinds[1], "%s cannot be combined with %s in one rule: own, own_prefix, user, group and the message attributes each make a separate kind of rule; write one rule for each", kinds[1], kinds[0])
	case sendAttr != "" && recvAttr != "":
		return nil, e.attrErr(recvAttr, "mixes %s with %s: whether a message may be sent and whether it may be received are checked separately, so write a send rule and a receive rule", sendAttr, recvAttr)
	case has("send_error") && (has("send_member") || has("send_interface")):
		return nil, e.attrErr("send_error", "send_error cannot be combined with send_member or send_interface: errors have neither")
	case has("receive_error") && (has("receive_member") || has("receive_interface")):
		return nil, e.attrErr("receive_error", "receive_error cannot be combined with receive_member or receive_interface: errors have neither")
	case has("send_destination") && has("send_destination_prefix"):
		return nil, e.attrErr("send_destination_prefix", "send_destination_prefix cannot be combined with send_destination; write two rules")
	}

	r := &Rule{
		allow:          allow,
		requestedReply: allow,
		maxFDs:         maxRuleFDs,
		scope:          pol.scope,
		pos:            e.pos,
		text:           renderTag(e.t),
		policy:         pol.policyTag,
	}
	if v, ok := e.attr("log"); ok {
		b, err := e.boolAttr("log", v)
		if err != nil {
			return nil, err
		}
		r.log = b
	}

	switch {
	case sendAttr != "" || recvAttr != "":
		pre := "send_"
		r.kind = ruleSend
		if recvAttr != "" {
			pre = "receive_"
			r.kind = ruleReceive
		}
		if err := p.messageRule(e, r, pre); err != nil {
			return nil, err
		}
	case has("own") || has("own_prefix"):
		r.kind = ruleOwn
		if v, ok := e.attr("own"); ok {
			if v != "*" {
				r.has |= hasName
				r.name = v
				if err := p.checkName(e, "own", v, wire.ValidateWellKnownName); err != nil {
					return nil, err
				}
			}
		} else {
			r.has |= hasName
			r.prefix = true
			r.name = val("own_prefix")
			if err := p.checkName(e, "own_prefix", r.name, validatePrefix); err != nil {
				return nil, err
			}
		}
	case has("user") || has("group"):
		attr, kind, lookup, what := "user", ruleUser, p.l.uid, "user"
		if has("group") {
			attr, kind, lookup, what = "group", ruleGroup, p.l.gid, "group"
		}
		r.kind = kind
		v := val(attr)
		if v == "*" {
			r.anyID = true
		} else if id, ok := lookup(v); ok {
			r.id = id
		} else {
			err := p.l.users[v].err
			if kind == ruleGroup {
				err = p.l.groups[v].err
			}
			p.warn(e.attrPos(attr), "unknown %s %q: this rule is ignored (%v)", what, v, err)
			return nil, nil
		}
		switch pol.scope.kind {
		case scopeUser, scopeGroup:
			return nil, e.attrErr(attr, "%s rules decide who may connect to the bus and can only be in <policy context=\"default\"> or <policy context=\"mandatory\">, not in %s", attr, pol.policyTag)
		case scopeConsole:
			p.warn(e.pos, "%s rules have no effect in %s; move it to <policy context=\"default\"> or <policy context=\"mandatory\">", attr, pol.policyTag)
		}
	}
	return r, nil
}

// messageRule fills the message conditions of a send or receive rule; pre is "send_" or
// "receive_".
func (p *fileParser) messageRule(e *element, r *Rule, pre string) error {
	wild := func(n string) (string, bool) {
		v, ok := e.attr(pre + n)
		if !ok || v == "*" {
			return "", false
		}
		return v, true
	}
	fields := []struct {
		attr  string
		bit   uint8
		dst   *string
		check func(string) error
	}{
		{"path", hasPath, &r.path, wire.ValidateObjectPath},
		{"interface", hasInterface, &r.iface, wire.ValidateInterfaceName},
		{"member", hasMember, &r.member, wire.ValidateMemberName},
		{"error", hasError, &r.errName, wire.ValidateErrorName},
	}
	for _, f := range fields {
		if v, ok := wild(f.attr); ok {
			r.has |= f.bit
			*f.dst = v
			if err := p.checkName(e, pre+f.attr, v, f.check); err != nil {
				return err
			}
		}
	}
	if pre == "send_" {
		if v, ok := wild("destination"); ok {
			r.has |= hasName
			r.name = v
			if err := p.checkName(e, "send_destination", v, wire.ValidateBusName); err != nil {
				return err
			}
		} else if v, ok := e.attr("send_destination_prefix"); ok {
			r.has |= hasName
			r.prefix = true
			r.name = v
			if err := p.checkName(e, "send_destination_prefix", v, validatePrefix); err != nil {
				return err
			}
		}
		if v, ok := e.attr("send_broadcast"); ok {
			b, err := e.boolAttr("send_broadcast", v)
			if err != nil {
				return err
			}
			r.broadcast = triFalse
			if b {
				r.broadcast = triTrue
			}
			if b && r.has&hasName != 0 && !r.prefix {
				return e.attrErr("send_broadcast", `send_broadcast="true" with send_destination=%q can never match: broadcasts have no destination`, r.name)
			}
		}
	} else if v, ok := wild("sender"); ok {
		r.has |= hasName
		r.name = v
		if err := p.checkName(e, "receive_sender", v, wire.ValidateBusName); err != nil {
			return err
		}
	}
	if v, ok := wild("type"); ok {
		t, known := messageTypes[v]
		if !known {
			return e.attrErr(pre+"type", `unknown message type %q; use method_call, method_return, signal, error or *`, v)
		}
		r.mtype = t
	}
	if v, ok := e.attr(pre + "requested_reply"); ok {
		b, err := e.boolAttr(pre+"requested_reply", v)
		if err != nil {
			return err
		}
		r.requestedReply = b
	}
	if v, ok := e.attr("eavesdrop"); ok {
		b, err := e.boolAttr("eavesdrop", v)
		if err != nil {
			return err
		}
		r.eavesdrop = b
	}
	for _, f := range []struct {
		attr string
		dst  *uint32
	}{{"min_fds", &r.minFDs}, {"max_fds", &r.maxFDs}} {
		v, ok := e.attr(f.attr)
		if !ok {
			continue
		}
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil || n > maxRuleFDs {
			return e.attrErr(f.attr, "%s must be a whole number from 0 to %d, not %q", f.attr, maxRuleFDs, v)
		}
		*f.dst = uint32(n)
	}
	if r.minFDs > r.maxFDs {
		p.warn(e.attrPos("min_fds"), "min_fds=%d is above max_fds=%d, so this rule never matches", r.minFDs, r.maxFDs)
	}
	return nil
}

var messageTypes = map[string]wire.MessageType{
	"method_call":   wire.MethodCall,
	"method_return": wire.MethodReturn,
	"signal":        wire.Signal,
	"error":         wire.Error,
}

// boolAttr parses "true" or "false".
func (e *element) boolAttr(name, v string) (bool, error) {
	switch v {
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	return false, e.attrErr(name, `%s must be "true" or "false", not %q`, name, v)
}

// checkName validates a name in a rule. dbus-daemon does not, and such a rule simply never
// matches the field; kdbusd warns, or fails with Options.Strict.
func (p *fileParser) checkName(e *element, attr, v string, check func(string) error) error {
	err := check(v)
	if err == nil {
		return nil
	}
	if p.l.o.Strict {
		return e.attrErr(attr, "%v; fix the name", err)
	}
	p.warn(e.attrPos(attr), "%s: %v; no valid message carries such a name, so that condition never holds", e.tag, err)
	return nil
}

// validatePrefix checks an own_prefix or send_destination_prefix: it must be a well-known
// name or the leading elements of one, such as "org.example" or "org".
func validatePrefix(s string) error {
	if err := wire.ValidateWellKnownName(s + ".x"); err != nil {
		return &wire.NameError{Kind: "bus name prefix", Name: s, Reason: "must be dot-separated elements of [A-Za-z0-9_-], none empty or starting with a digit"}
	}
	return nil
}

// renderTag writes a start tag back as an empty element, for logs.
func renderTag(t xml.StartElement) string {
	var b strings.Builder
	b.WriteString("<")
	b.WriteString(elemName(t.Name))
	for _, a := range t.Attr {
		b.WriteString(" ")
		b.WriteString(attrName(a))
		b.WriteString(`="`)
		xml.EscapeText(&b, []byte(a.Value))
		b.WriteString(`"`)
	}
	b.WriteString("/>")
	return b.String()
}
