package ctl

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/kdbus-go/kdbus/internal/generator"
	"github.com/kdbus-go/kdbus/transport/address"
	"github.com/kdbus-go/kdbus/transport/classic"
	"github.com/kdbus-go/kdbus/transport/native"
	"github.com/kdbus-go/kdbus/wire"
	"google.golang.org/protobuf/encoding/protojson"
)

// received is one message a monitor saw, with what a native bus vouches for about it.
type received struct {
	msg    *wire.Message
	record *native.Record // nil on a classic connection
}

// monitorConn is a connection that has become a monitor.
type monitorConn interface {
	recv() (received, func(), error)
	close()
}

type classicMonitor struct{ c *classic.Conn }

func (m classicMonitor) recv() (received, func(), error) {
	r, err := m.c.Recv()
	if err != nil {
		return received{}, nil, err
	}
	for _, fd := range r.FDs {
		closeFD(fd)
	}
	return received{msg: r.Msg}, func() {}, nil
}
func (m classicMonitor) close() { m.c.Close() }

type nativeMonitor struct{ c *native.Conn }

func (m nativeMonitor) recv() (received, func(), error) {
	r, err := m.c.Recv()
	if err != nil {
		return received{}, nil, err
	}
	for _, fd := range r.FDs {
		closeFD(fd)
	}
	rec := r.Record
	return received{msg: r.Msg, record: &rec}, func() { m.c.Release(&r) }, nil
}
func (m nativeMonitor) close() { m.c.Close() }

// becomeMonitor connects to the bus's first answering entry and makes the connection a
// monitor of all traffic.
func (c *cli) becomeMonitor(ctx context.Context) (monitorConn, error) {
	addr, err := c.g.busAddress()
	if err != nil {
		return nil, err
	}
	entries, err := address.Parse(addr)
	if err != nil {
		return nil, err
	}
	dctx, cancel := context.WithTimeout(ctx, c.g.timeout)
	defer cancel()
	body, _ := wire.Marshal(wire.NativeOrder, "asu", []string{}, uint32(0))
	become := &wire.Message{Order: wire.NativeOrder, Type: wire.MethodCall, Destination: classic.BusName,
		Path: classic.BusPath, Interface: "org.freedesktop.DBus.Monitoring", Member: "BecomeMonitor", Signature: "asu", Body: body}
	var errs []error
	for _, e := range entries {
		var mc monitorConn
		if e.Transport == "kdbus" {
			nc, err := native.Dial(dctx, e, native.Options{})
			if err != nil {
				errs = append(errs, err)
				continue
			}
			become.Serial = nc.NextSerial()
			err = nc.Send(become, nil)
			mc = nativeMonitor{nc}
			if err != nil {
				mc.close()
				errs = append(errs, err)
				continue
			}
		} else {
			cc, err := classic.Dial(dctx, address.FormatList([]address.Address{e}), classic.Options{})
			if err != nil {
				errs = append(errs, err)
				continue
			}
			become.Serial = cc.NextSerial()
			err = cc.Send(become, nil)
			mc = classicMonitor{cc}
			if err != nil {
				mc.close()
				errs = append(errs, err)
				continue
			}
		}
		// The reply to BecomeMonitor comes first, or an error.
		for {
			r, release, err := mc.recv()
			if err != nil {
				mc.close()
				return nil, err
			}
			m := r.msg
			isReply := m.ReplySerial == become.Serial && (m.Type == wire.MethodReturn || m.Type == wire.Error)
			var text string
			if m.Type == wire.Error {
				if v, err := wire.Unmarshal(m.Body, m.Order, m.Signature); err == nil && len(v) > 0 {
					text, _ = v[0].(string)
				}
			}
			name := m.ErrorName
			release()
			if !isReply {
				continue
			}
			if name != "" {
				mc.close()
				return nil, fmt.Errorf("the bus refused BecomeMonitor: %s: %s", name, text)
			}
			return mc, nil
		}
	}
	return nil, fmt.Errorf("no entry of %q answered: %w", addr, errors.Join(errs...))
}

// pending is a call whose reply the monitor decodes with the call's method.
type pending struct {
	sender string
	serial uint32
}

func (c *cli) monitor(ctx context.Context, args []string) int {
	count := c.fs.Int("n", 0, "stop after this many messages (0: run until interrupted)")
	if _, ok := c.parse(args, 0, 0, "[-n N]"); !ok {
		return 2
	}
	// A second, ordinary connection reads the descriptors of the objects seen: a monitor
	// cannot send.
	if err := c.connect(ctx); err != nil {
		return c.failErr(err)
	}
	mc, err := c.becomeMonitor(ctx)
	if err != nil {
		return c.failErr(err)
	}
	stop := context.AfterFunc(ctx, mc.close)
	defer stop()
	defer mc.close()
	fmt.Fprintln(c.stderr, "monitoring the bus")
	calls := map[pending]callInfo{}
	for n := 0; *count == 0 || n < *count; n++ {
		r, release, err := mc.recv()
		if err != nil {
			if ctx.Err() != nil {
				return 0
			}
			return c.fail("the monitor connection ended: %v", err)
		}
		m := *r.msg
		m.Body = append([]byte(nil), r.msg.Body...)
		release()
		c.printJSON(c.messageJSON(ctx, &m, r.record, calls))
	}
	return 0
}

// callInfo is what the monitor knows of a call it saw: where it went, to decode its reply.
type callInfo struct {
	dest, path, iface, member string
}

var typeNames = map[wire.MessageType]string{wire.MethodCall: "method_call", wire.MethodReturn: "method_return", wire.Error: "error", wire.Signal: "signal"}

// messageJSON describes a message a monitor saw.
func (c *cli) messageJSON(ctx context.Context, m *wire.Message, rec *native.Record, calls map[pending]callInfo) map[string]any {
	out := map[string]any{"type": typeNames[m.Type], "serial": m.Serial}
	set := func(k, v string) {
		if v != "" {
			out[k] = v
		}
	}
	set("sender", m.Sender)
	set("destination", m.Destination)
	set("path", string(m.Path))
	set("interface", m.Interface)
	set("member", m.Member)
	set("error_name", m.ErrorName)
	set("signature", string(m.Signature))
	if m.ReplySerial != 0 {
		out["reply_serial"] = m.ReplySerial
	}
	if rec != nil {
		if rec.Seqnum != 0 {
			out["seqnum"] = rec.Seqnum
		}
		if rec.HasCreds {
			out["creds"] = map[string]uint32{"uid": rec.UID, "gid": rec.GID, "pid": rec.PID}
		}
	}
	if args, typ := c.decodeSeen(ctx, m, calls); args != nil {
		out["args"] = args
		if typ != "" {
			out["proto"] = typ
		}
	}
	return out
}

// decodeSeen decodes a message's body: as proto JSON when the object involved serves
// descriptors for it, else as D-Bus values.
func (c *cli) decodeSeen(ctx context.Context, m *wire.Message, calls map[pending]callInfo) (any, string) {
	var ci callInfo
	out := false
	switch m.Type {
	case wire.MethodCall:
		ci = callInfo{dest: m.Destination, path: string(m.Path), iface: m.Interface, member: m.Member}
		if m.Flags&wire.FlagNoReplyExpected == 0 && m.Sender != "" {
			if len(calls) > 4096 {
				clear(calls)
			}
			calls[pending{m.Sender, m.Serial}] = ci
		}
	case wire.MethodReturn:
		ci, out = calls[pending{m.Destination, m.ReplySerial}], true
		delete(calls, pending{m.Destination, m.ReplySerial})
	case wire.Signal:
		ci = callInfo{dest: m.Sender, path: string(m.Path), iface: m.Interface, member: m.Member}
	}
	if ci.dest != "" && ci.dest != classic.BusName && ci.iface != "" && c.conn != nil {
		if om, err := c.mappingAt(ctx, ci.dest, wire.ObjectPath(ci.path), nil); err == nil {
			if svc := om.services[ci.iface]; svc != nil {
				var codec = codecFor(svc, ci.member, m.Type, out)
				if codec != nil {
					if msg, err := DecodeMessage(codec, m); err == nil {
						if b, err := (protojson.MarshalOptions{Resolver: om.mapping.Types}).Marshal(msg); err == nil {
							return json.RawMessage(compactJSON(b)), string(codec.Desc.FullName())
						}
					}
				}
			}
		}
	}
	if len(m.Body) == 0 {
		return nil, ""
	}
	v, err := wire.Unmarshal(m.Body, m.Order, m.Signature)
	if err != nil {
		return fmt.Sprintf("(undecodable: %v)", err), ""
	}
	return ValuesToJSON(v), ""
}

// codecFor returns the codec of a call's request (or, out, its reply) or of a signal.
func codecFor(svc *generator.ServiceMapping, member string, t wire.MessageType, out bool) *generator.MessageCodec {
	if t == wire.Signal {
		if sg := svc.Signal(member); sg != nil {
			return sg.Codec
		}
		return nil
	}
	mm := svc.Method(member)
	if mm == nil || mm.ClientStreams || mm.ServerStreams {
		return nil
	}
	if out {
		return mm.Out
	}
	return mm.In
}
