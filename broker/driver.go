package broker

import (
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"

	"github.com/kdbus-go/kdbus/match"
	"github.com/kdbus-go/kdbus/wire"
)

// Error names the driver sends.
const (
	errFailed            = "org.freedesktop.DBus.Error.Failed"
	errServiceUnknown    = "org.freedesktop.DBus.Error.ServiceUnknown"
	errNameHasNoOwner    = "org.freedesktop.DBus.Error.NameHasNoOwner"
	errNoReply           = "org.freedesktop.DBus.Error.NoReply"
	errAccessDenied      = "org.freedesktop.DBus.Error.AccessDenied"
	errLimitsExceeded    = "org.freedesktop.DBus.Error.LimitsExceeded"
	errInvalidArgs       = "org.freedesktop.DBus.Error.InvalidArgs"
	errUnknownMethod     = "org.freedesktop.DBus.Error.UnknownMethod"
	errUnknownInterface  = "org.freedesktop.DBus.Error.UnknownInterface"
	errUnknownProperty   = "org.freedesktop.DBus.Error.UnknownProperty"
	errPropertyReadOnly  = "org.freedesktop.DBus.Error.PropertyReadOnly"
	errMatchRuleInvalid  = "org.freedesktop.DBus.Error.MatchRuleInvalid"
	errMatchRuleNotFound = "org.freedesktop.DBus.Error.MatchRuleNotFound"
	errAdtAuditUnknown   = "org.freedesktop.DBus.Error.AdtAuditDataUnknown"
	errSELinuxUnknown    = "org.freedesktop.DBus.Error.SELinuxSecurityContextUnknown"
	errNotSupported      = "org.freedesktop.DBus.Error.NotSupported"
)

// Interfaces the driver implements.
const (
	ifaceBus            = "org.freedesktop.DBus"
	ifaceMonitoring     = "org.freedesktop.DBus.Monitoring"
	ifaceStats          = "org.freedesktop.DBus.Debug.Stats"
	ifaceIntrospectable = "org.freedesktop.DBus.Introspectable"
	ifacePeer           = "org.freedesktop.DBus.Peer"
	ifaceProperties     = "org.freedesktop.DBus.Properties"
)

// driverError is a reply the driver sends instead of a method return.
type driverError struct{ name, msg string }

func (e *driverError) Error() string { return e.name + ": " + e.msg }

func invalidArgs(format string, args ...any) *driverError {
	return &driverError{errInvalidArgs, fmt.Sprintf(format, args...)}
}

// driverMethod implements one driver method: it gets the decoded arguments and returns the
// reply's signature and values. It runs with b.mu held.
type driverMethod struct {
	in, out wire.Signature
	fn      func(b *Broker, p *peer, m *wire.Message, args []any) ([]any, error)
}

var driverMethods = map[string]driverMethod{
	ifaceBus + ".Hello":                               {"", "s", (*Broker).hello},
	ifaceBus + ".RequestName":                         {"su", "u", (*Broker).requestName},
	ifaceBus + ".ReleaseName":                         {"s", "u", (*Broker).releaseName},
	ifaceBus + ".ListQueuedOwners":                    {"s", "as", (*Broker).listQueuedOwners},
	ifaceBus + ".ListNames":                           {"", "as", (*Broker).listNames},
	ifaceBus + ".ListActivatableNames":                {"", "as", (*Broker).listActivatableNames},
	ifaceBus + ".NameHasOwner":                        {"s", "b", (*Broker).nameHasOwner},
	ifaceBus + ".StartServiceByName":                  {"su", "u", (*Broker).startServiceByName},
	ifaceBus + ".UpdateActivationEnvironment":         {"a{ss}", "", (*Broker).updateActivationEnvironment},
	ifaceBus + ".GetNameOwner":                        {"s", "s", (*Broker).getNameOwner},
	ifaceBus + ".GetConnectionUnixUser":               {"s", "u", (*Broker).getConnectionUnixUser},
	ifaceBus + ".GetConnectionUnixProcessID":          {"s", "u", (*Broker).getConnectionUnixProcessID},
	ifaceBus + ".GetConnectionCredentials":            {"s", "a{sv}", (*Broker).getConnectionCredentials},
	ifaceBus + ".GetAdtAuditSessionData":              {"s", "ay", (*Broker).getAdtAuditSessionData},
	ifaceBus + ".GetConnectionSELinuxSecurityContext": {"s", "ay", (*Broker).getConnectionSELinuxSecurityContext},
	ifaceBus + ".AddMatch":                            {"s", "", (*Broker).addMatch},
	ifaceBus + ".RemoveMatch":                         {"s", "", (*Broker).removeMatch},
	ifaceBus + ".GetId":                               {"", "s", (*Broker).getID},
	ifaceBus + ".ReloadConfig":                        {"", "", (*Broker).reloadConfig},
	ifaceMonitoring + ".BecomeMonitor":                {"asu", "", (*Broker).becomeMonitor},
	ifaceStats + ".GetStats":                          {"", "a{sv}", (*Broker).getStats},
	ifaceStats + ".GetConnectionStats":                {"s", "a{sv}", (*Broker).getConnectionStats},
	ifaceStats + ".GetAllMatchRules":                  {"", "a{sas}", (*Broker).getAllMatchRules},
	ifaceIntrospectable + ".Introspect":               {"", "s", (*Broker).introspect},
	ifacePeer + ".Ping":                               {"", "", func(*Broker, *peer, *wire.Message, []any) ([]any, error) { return nil, nil }},
	ifacePeer + ".GetMachineId":                       {"", "s", (*Broker).getMachineID},
	ifaceProperties + ".Get":                          {"ss", "v", (*Broker).getProperty},
	ifaceProperties + ".GetAll":                       {"s", "a{sv}", (*Broker).getAllProperties},
	ifaceProperties + ".Set":                          {"ssv", "", (*Broker).setProperty},
}

// findDriverMethod looks a call up; without an interface field the member is searched in
// the driver's interfaces, the bus interface first.
func findDriverMethod(m *wire.Message) (driverMethod, bool) {
	if m.Interface != "" {
		d, ok := driverMethods[m.Interface+"."+m.Member]
		return d, ok
	}
	for _, iface := range []string{ifaceBus, ifaceMonitoring, ifaceStats, ifaceIntrospectable, ifacePeer, ifaceProperties} {
		if d, ok := driverMethods[iface+"."+m.Member]; ok {
			return d, true
		}
	}
	return driverMethod{}, false
}

// driverCall answers a message addressed to the bus.
func (b *Broker) driverCall(p *peer, m *wire.Message) {
	if m.Type != wire.MethodCall {
		return
	}
	b.mu.Lock()
	defer b.unlock()
	if p.unique == "" && !isHello(m) {
		return
	}
	d, ok := findDriverMethod(m)
	if !ok {
		name := errUnknownMethod
		if m.Interface != "" && !slices.Contains([]string{ifaceBus, ifaceMonitoring, ifaceStats, ifaceIntrospectable, ifacePeer, ifaceProperties}, m.Interface) {
			name = errUnknownInterface
		}
		b.replyError(p, m, name, fmt.Sprintf("%s does not understand message %s", busName, m.Member))
		return
	}
	if m.Signature != d.in {
		b.replyError(p, m, errInvalidArgs, fmt.Sprintf("Call to %s has wrong args (%s, expected %s)", m.Member, m.Signature, d.in))
		return
	}
	args, err := wire.Unmarshal(m.Body, m.Order, m.Signature)
	if err != nil {
		b.replyError(p, m, errInvalidArgs, err.Error())
		return
	}
	out, err := d.fn(b, p, m, args)
	if err != nil {
		if de, ok := err.(*driverError); ok {
			b.replyError(p, m, de.name, de.msg)
		} else {
			b.replyError(p, m, errFailed, err.Error())
		}
		return
	}
	var fds []int
	if n := len(out); n > 0 {
		if f, ok := out[n-1].(replyFDs); ok {
			out, fds = out[:n-1], f
		}
	}
	if m.Flags&wire.FlagNoReplyExpected == 0 {
		b.sendDriverReply(p, m.Serial, fds, d.out, out...)
	}
	if isHello(m) {
		b.afterHello(p)
	}
	if m.Interface == ifaceMonitoring || (m.Interface == "" && m.Member == "BecomeMonitor") {
		b.afterBecomeMonitor(p)
	}
}

// nextSerial allocates a serial for a message the bus sends. Caller holds b.mu.
func (b *Broker) nextSerial() uint32 {
	b.serial++
	if b.serial == 0 {
		b.serial = 1
	}
	return b.serial
}

// replyFDs, as the last value a driver method returns, are descriptors to attach to the
// reply; the method's values refer to them by index.
type replyFDs []int

func (b *Broker) sendDriverReply(p *peer, serial uint32, fds []int, sig wire.Signature, values ...any) {
	body, err := wire.Marshal(wire.NativeOrder, sig, values...)
	if err != nil {
		b.log.Error("driver reply does not encode", "signature", sig, "err", err)
		return
	}
	rm := &wire.Message{
		Order: wire.NativeOrder, Type: wire.MethodReturn, Serial: b.nextSerial(), ReplySerial: serial,
		Sender: busName, Destination: p.unique, Signature: sig, Body: body,
	}
	p.enqueue(rm, fds)
	b.copyToMonitors(nil, rm, match.Args{})
}

// replyError answers call m from p with an error, unless p asked for no reply.
func (b *Broker) replyError(p *peer, m *wire.Message, name, msg string) {
	if m.Type != wire.MethodCall || m.Flags&wire.FlagNoReplyExpected != 0 {
		return
	}
	b.sendDriverError(p, m.Serial, name, msg)
}

func (b *Broker) sendDriverError(p *peer, serial uint32, name, msg string) {
	body, _ := wire.Marshal(wire.NativeOrder, "s", msg)
	em := &wire.Message{
		Order: wire.NativeOrder, Type: wire.Error, Serial: b.nextSerial(), ReplySerial: serial,
		Sender: busName, Destination: p.unique, ErrorName: name, Signature: "s", Body: body,
	}
	p.enqueue(em, nil)
	b.copyToMonitors(nil, em, match.Args{})
}

// sendDriverSignal sends a signal from the bus to one peer.
func (b *Broker) sendDriverSignal(p *peer, member string, sig wire.Signature, values ...any) {
	body, _ := wire.Marshal(wire.NativeOrder, sig, values...)
	sm := &wire.Message{
		Order: wire.NativeOrder, Type: wire.Signal, Serial: b.nextSerial(), Sender: busName,
		Destination: p.unique, Path: busPath, Interface: ifaceBus, Member: member,
		Signature: sig, Body: body,
	}
	p.enqueue(sm, nil)
	b.copyToMonitors(nil, sm, match.Args{})
}

// broadcastDriverSignal sends a signal from the bus to every connection that matches it.
func (b *Broker) broadcastDriverSignal(member string, sig wire.Signature, values ...any) {
	body, _ := wire.Marshal(wire.NativeOrder, sig, values...)
	sm := &wire.Message{
		Order: wire.NativeOrder, Type: wire.Signal, Serial: b.nextSerial(), Sender: busName,
		Path: busPath, Interface: ifaceBus, Member: member, Signature: sig, Body: body,
	}
	b.fanOut(nil, nil, sm, nil, match.ArgsOf(sm))
}

// announceOwnerChange tells the old and new owners and every interested connection.
func (b *Broker) announceOwnerChange(ch ownerChange) {
	b.nameMoved()
	old, new := "", ""
	if ch.old != nil {
		old = ch.old.unique
		if !ch.old.gone {
			b.sendDriverSignal(ch.old, "NameLost", "s", ch.name)
		}
	}
	if ch.new != nil {
		new = ch.new.unique
		b.sendDriverSignal(ch.new, "NameAcquired", "s", ch.name)
	}
	b.broadcastDriverSignal("NameOwnerChanged", "sss", ch.name, old, new)
}

func (b *Broker) hello(p *peer, m *wire.Message, _ []any) ([]any, error) {
	if p.unique != "" {
		return nil, &driverError{errFailed, "Already handled an Hello message"}
	}
	p.unique = fmt.Sprintf(":1.%d", p.id)
	b.peers[p.unique] = p
	return []any{p.unique}, nil
}

func (b *Broker) afterHello(p *peer) {
	b.sendDriverSignal(p, "NameAcquired", "s", p.unique)
	b.broadcastDriverSignal("NameOwnerChanged", "sss", p.unique, "", p.unique)
}

func (b *Broker) requestName(p *peer, m *wire.Message, args []any) ([]any, error) {
	name, flags := args[0].(string), args[1].(uint32)
	if err := wire.ValidateWellKnownName(name); err != nil {
		return nil, invalidArgs("Requested bus name %q is not valid: %v", name, err)
	}
	if name == busName {
		return nil, invalidArgs("Connection is not allowed to own the service %q because it is reserved for D-Bus' use only", name)
	}
	if _, owned := p.names[name]; !owned && len(p.names) >= b.limits.MaxNamesPerConnection {
		return nil, &driverError{errLimitsExceeded, fmt.Sprintf("Connection %s owns %d names, the limit", p.unique, len(p.names))}
	}
	if !b.canOwn(p, name) {
		return nil, &driverError{errAccessDenied, fmt.Sprintf("Connection %q is not allowed to own the service %q due to security policies in the configuration file", p.unique, name)}
	}
	r, ch := b.reg.request(p, name, flags)
	if ch != nil {
		// The signals go out before the reply, as dbus-daemon orders them.
		b.announceOwnerChange(*ch)
	}
	return []any{r}, nil
}

func (b *Broker) releaseName(p *peer, m *wire.Message, args []any) ([]any, error) {
	name := args[0].(string)
	if err := wire.ValidateBusName(name); err != nil {
		return nil, invalidArgs("Given bus name %q is not valid: %v", name, err)
	}
	if strings.HasPrefix(name, ":") || name == busName {
		return nil, invalidArgs("Cannot release the name %q: it is not a well-known name owned by this connection", name)
	}
	r, ch := b.reg.release(p, name)
	if ch != nil {
		b.announceOwnerChange(*ch)
	}
	return []any{r}, nil
}

func (b *Broker) listQueuedOwners(p *peer, m *wire.Message, args []any) ([]any, error) {
	name := args[0].(string)
	if name == busName {
		return []any{[]string{busName}}, nil
	}
	if strings.HasPrefix(name, ":") {
		if _, ok := b.peers[name]; ok {
			return []any{[]string{name}}, nil
		}
	}
	q := b.reg.queue(name)
	if len(q) == 0 {
		return nil, &driverError{errNameHasNoOwner, fmt.Sprintf("Could not get owners of name '%s': no such name", name)}
	}
	return []any{q}, nil
}

func (b *Broker) listNames(*peer, *wire.Message, []any) ([]any, error) {
	names := []string{busName}
	names = append(names, slices.Sorted(maps.Keys(b.peers))...)
	names = append(names, slices.Sorted(maps.Keys(b.reg.names))...)
	return []any{names}, nil
}

func (b *Broker) listActivatableNames(*peer, *wire.Message, []any) ([]any, error) {
	return []any{[]string{busName}}, nil
}

func (b *Broker) nameHasOwner(p *peer, m *wire.Message, args []any) ([]any, error) {
	name := args[0].(string)
	return []any{name == busName || b.resolve(name) != nil}, nil
}

func (b *Broker) startServiceByName(p *peer, m *wire.Message, args []any) ([]any, error) {
	name := args[0].(string)
	if name == busName || b.resolve(name) != nil {
		return []any{uint32(2)}, nil // DBUS_START_REPLY_ALREADY_RUNNING
	}
	return nil, &driverError{errServiceUnknown, fmt.Sprintf("The name %s was not provided by any .service files", name)}
}

func (b *Broker) updateActivationEnvironment(*peer, *wire.Message, []any) ([]any, error) {
	return nil, nil // nothing is activated, so there is no environment to update
}

// peerFor finds the connection a driver argument names.
func (b *Broker) peerFor(name string) (*peer, error) {
	if err := wire.ValidateBusName(name); err != nil {
		return nil, invalidArgs("%v", err)
	}
	if q := b.resolve(name); q != nil {
		return q, nil
	}
	return nil, &driverError{errNameHasNoOwner, fmt.Sprintf("Could not get owner of name '%s': no such name", name)}
}

func (b *Broker) getNameOwner(p *peer, m *wire.Message, args []any) ([]any, error) {
	name := args[0].(string)
	if name == busName {
		return []any{busName}, nil
	}
	q, err := b.peerFor(name)
	if err != nil {
		return nil, err
	}
	return []any{q.unique}, nil
}

func (b *Broker) getConnectionUnixUser(p *peer, m *wire.Message, args []any) ([]any, error) {
	if args[0] == busName {
		return []any{uint32(os.Getuid())}, nil
	}
	q, err := b.peerFor(args[0].(string))
	if err != nil {
		return nil, err
	}
	return []any{q.creds.uid}, nil
}

func (b *Broker) getConnectionUnixProcessID(p *peer, m *wire.Message, args []any) ([]any, error) {
	if args[0] == busName {
		return []any{uint32(os.Getpid())}, nil
	}
	q, err := b.peerFor(args[0].(string))
	if err != nil {
		return nil, err
	}
	return []any{q.creds.pid}, nil
}

func (b *Broker) getConnectionCredentials(p *peer, m *wire.Message, args []any) ([]any, error) {
	var cr creds
	if args[0] == busName {
		cr = creds{uid: uint32(os.Getuid()), pid: uint32(os.Getpid()), gid: uint32(os.Getgid()), pidfd: -1}
	} else {
		q, err := b.peerFor(args[0].(string))
		if err != nil {
			return nil, err
		}
		cr = q.creds
	}
	gids := cr.gids
	if gids == nil {
		gids = []uint32{cr.gid}
	}
	out := map[string]wire.Variant{
		"UnixUserID":   {Sig: "u", Value: cr.uid},
		"UnixGroupIDs": {Sig: "au", Value: gids},
		"ProcessID":    {Sig: "u", Value: cr.pid},
	}
	if len(cr.seclabel) > 0 {
		out["LinuxSecurityLabel"] = wire.Variant{Sig: "ay", Value: append(slices.Clone(cr.seclabel), 0)}
	}
	if cr.pidfd >= 0 && p.unixFDs {
		// A pidfd names the process itself, so a pid reused later cannot be mistaken for it.
		out["ProcessFD"] = wire.Variant{Sig: "h", Value: wire.UnixFD(0)}
		return []any{out, replyFDs{cr.pidfd}}, nil
	}
	return []any{out}, nil
}

func (b *Broker) getAdtAuditSessionData(*peer, *wire.Message, []any) ([]any, error) {
	return nil, &driverError{errAdtAuditUnknown, "Could not determine audit session data: auditing is not supported by this bus"}
}

func (b *Broker) getConnectionSELinuxSecurityContext(p *peer, m *wire.Message, args []any) ([]any, error) {
	q, err := b.peerFor(args[0].(string))
	if err != nil {
		return nil, err
	}
	if len(q.creds.seclabel) == 0 {
		return nil, &driverError{errSELinuxUnknown, "Could not determine security context for '" + args[0].(string) + "'"}
	}
	return []any{q.creds.seclabel}, nil
}

func (b *Broker) addMatch(p *peer, m *wire.Message, args []any) ([]any, error) {
	text := args[0].(string)
	r, err := match.Parse(text)
	if err != nil {
		return nil, &driverError{errMatchRuleInvalid, err.Error()}
	}
	if r.Eavesdrop && !b.canEavesdrop(p) {
		// dbus-daemon 1.14 refuses eavesdropping to unprivileged callers at AddMatch,
		// whatever the receive policy says; BecomeMonitor is the supported way to watch.
		return nil, &driverError{errAccessDenied, fmt.Sprintf("Connection %s (uid %d) is not allowed to add a match rule with eavesdrop='true': only root and the bus's own user may eavesdrop; use org.freedesktop.DBus.Monitoring.BecomeMonitor as one of them", p.unique, p.creds.uid)}
	}
	if err := b.addRule(p, r); err != nil {
		return nil, err
	}
	return nil, nil
}

func (b *Broker) removeMatch(p *peer, m *wire.Message, args []any) ([]any, error) {
	r, err := match.Parse(args[0].(string))
	if err != nil {
		return nil, &driverError{errMatchRuleInvalid, err.Error()}
	}
	if !b.removeRule(p, r) {
		return nil, &driverError{errMatchRuleNotFound, "The given match rule wasn't found and can't be removed"}
	}
	return nil, nil
}

func (b *Broker) getID(*peer, *wire.Message, []any) ([]any, error) { return []any{b.guid}, nil }

func (b *Broker) reloadConfig(*peer, *wire.Message, []any) ([]any, error) { return nil, nil }

func (b *Broker) getMachineID(*peer, *wire.Message, []any) ([]any, error) {
	for _, p := range []string{"/etc/machine-id", "/var/lib/dbus/machine-id"} {
		if data, err := os.ReadFile(p); err == nil {
			if id := strings.TrimSpace(string(data)); len(id) == 32 {
				return []any{id}, nil
			}
		}
	}
	return nil, &driverError{errFailed, "no machine ID: create /etc/machine-id (systemd-machine-id-setup)"}
}

var driverProperties = map[string]wire.Variant{
	"Features":   {Sig: "as", Value: []string{}},
	"Interfaces": {Sig: "as", Value: []string{ifaceMonitoring, ifaceStats}},
}

func (b *Broker) getProperty(p *peer, m *wire.Message, args []any) ([]any, error) {
	iface, name := args[0].(string), args[1].(string)
	if iface != ifaceBus && iface != "" {
		return nil, &driverError{errUnknownInterface, "Interface " + iface + " has no properties"}
	}
	v, ok := driverProperties[name]
	if !ok {
		return nil, &driverError{errUnknownProperty, "Property " + name + " does not exist on " + ifaceBus}
	}
	return []any{v}, nil
}

func (b *Broker) getAllProperties(p *peer, m *wire.Message, args []any) ([]any, error) {
	iface := args[0].(string)
	if iface != ifaceBus && iface != "" {
		return []any{map[string]wire.Variant{}}, nil
	}
	return []any{driverProperties}, nil
}

func (b *Broker) setProperty(p *peer, m *wire.Message, args []any) ([]any, error) {
	return nil, &driverError{errPropertyReadOnly, "The properties of " + ifaceBus + " are read-only"}
}
