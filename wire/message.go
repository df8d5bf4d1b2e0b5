package wire

import (
	"encoding/binary"
	"fmt"
	"strings"
)

// MessageType is the kind of a message.
type MessageType byte

// The message types of the specification. Receivers ignore other values.
const (
	MethodCall   MessageType = 1
	MethodReturn MessageType = 2
	Error        MessageType = 3
	Signal       MessageType = 4
)

// String returns the type's name as dbus-monitor prints it.
func (t MessageType) String() string {
	switch t {
	case MethodCall:
		return "method_call"
	case MethodReturn:
		return "method_return"
	case Error:
		return "error"
	case Signal:
		return "signal"
	}
	return fmt.Sprintf("unknown_type_%d", byte(t))
}

// Flags are the message header flags.
type Flags byte

// The header flags of the specification.
const (
	// FlagNoReplyExpected says the caller does not want a reply.
	FlagNoReplyExpected Flags = 0x1
	// FlagNoAutoStart asks the bus not to start a service to deliver the message.
	FlagNoAutoStart Flags = 0x2
	// FlagAllowInteractiveAuthorization lets the receiver prompt the user for authorization.
	FlagAllowInteractiveAuthorization Flags = 0x4
)

// Header field codes.
const (
	FieldPath        byte = 1
	FieldInterface   byte = 2
	FieldMember      byte = 3
	FieldErrorName   byte = 4
	FieldReplySerial byte = 5
	FieldDestination byte = 6
	FieldSender      byte = 7
	FieldSignature   byte = 8
	FieldUnixFDs     byte = 9
)

// ProtocolVersion is the major protocol version every message carries.
const ProtocolVersion = 1

// FixedHeaderSize is the size of the part of a message header that precedes the header
// fields' contents; it is enough to learn the whole message's length (see MessageLength).
const FixedHeaderSize = 16

// Reserved names that only a bus implementation may use for its local messages.
const (
	LocalPath      = "/org/freedesktop/DBus/Local"
	LocalInterface = "org.freedesktop.DBus.Local"
)

// Message is a D-Bus message: its header fields and its encoded body. Body is the body in
// the message's byte order, with signature Signature; on a decoded message it aliases the
// decoded buffer.
type Message struct {
	Order       ByteOrder
	Type        MessageType
	Flags       Flags
	Serial      uint32
	Path        ObjectPath
	Interface   string
	Member      string
	ErrorName   string
	ReplySerial uint32
	Destination string
	Sender      string
	Signature   Signature
	// UnixFDs is the number of file descriptors that travel with the message.
	UnixFDs uint32
	Body    []byte
}

// String describes the message's header in one line, for logs and errors.
func (m *Message) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s serial=%d", m.Type, m.Serial)
	if m.ReplySerial != 0 {
		fmt.Fprintf(&b, " reply_serial=%d", m.ReplySerial)
	}
	for _, f := range [...]struct{ k, v string }{
		{"sender", m.Sender}, {"destination", m.Destination}, {"path", string(m.Path)},
		{"interface", m.Interface}, {"member", m.Member}, {"error_name", m.ErrorName},
		{"signature", string(m.Signature)},
	} {
		if f.v != "" {
			fmt.Fprintf(&b, " %s=%s", f.k, f.v)
		}
	}
	if m.UnixFDs != 0 {
		fmt.Fprintf(&b, " unix_fds=%d", m.UnixFDs)
	}
	return b.String()
}

// Validate checks the header: the fields its type requires, the validity of every name it
// holds, and the reserved local path and interface.
func (m *Message) Validate() error {
	if !m.Order.Valid() {
		return fmt.Errorf("invalid D-Bus message: unknown byte order flag %q", byte(m.Order))
	}
	if m.Serial == 0 {
		return fmt.Errorf("invalid D-Bus message: serial must not be zero")
	}
	missing := func(field string) error {
		return fmt.Errorf("invalid D-Bus message: a %s needs the %s header field", m.Type, field)
	}
	switch m.Type {
	case MethodCall:
		if m.Path == "" {
			return missing("PATH")
		}
		if m.Member == "" {
			return missing("MEMBER")
		}
	case MethodReturn:
		if m.ReplySerial == 0 {
			return missing("REPLY_SERIAL")
		}
	case Error:
		if m.ErrorName == "" {
			return missing("ERROR_NAME")
		}
		if m.ReplySerial == 0 {
			return missing("REPLY_SERIAL")
		}
	case Signal:
		if m.Path == "" {
			return missing("PATH")
		}
		if m.Interface == "" {
			return missing("INTERFACE")
		}
		if m.Member == "" {
			return missing("MEMBER")
		}
	case 0:
		return fmt.Errorf("invalid D-Bus message: message type 0 is not allowed")
	}
	checks := [...]struct {
		set   bool
		check func(string) error
		v     string
	}{
		{m.Path != "", ValidateObjectPath, string(m.Path)},
		{m.Interface != "", ValidateInterfaceName, m.Interface},
		{m.Member != "", ValidateMemberName, m.Member},
		{m.ErrorName != "", ValidateErrorName, m.ErrorName},
		{m.Destination != "", ValidateBusName, m.Destination},
		{m.Sender != "", ValidateBusName, m.Sender},
		{m.Signature != "", ValidateSignature, string(m.Signature)},
	}
	for _, c := range checks {
		if c.set {
			if err := c.check(c.v); err != nil {
				return fmt.Errorf("invalid D-Bus message header: %w", err)
			}
		}
	}
	if m.Path == LocalPath {
		return fmt.Errorf("invalid D-Bus message: the path %s is reserved for local use", LocalPath)
	}
	if m.Interface == LocalInterface {
		return fmt.Errorf("invalid D-Bus message: the interface %s is reserved for local use", LocalInterface)
	}
	return nil
}

// AppendHeader validates m and appends its header, padded to 8 bytes, for a body of bodyLen
// bytes, which must follow it. m.Body is not used, so a caller can encode the body straight
// after the header without a copy.
func (m *Message) AppendHeader(dst []byte, bodyLen int) ([]byte, error) {
	if err := m.Validate(); err != nil {
		return dst, err
	}
	start := len(dst)
	e := Encoder{}
	e.Reset(dst, m.Order)
	e.Byte(byte(m.Order))
	e.Byte(byte(m.Type))
	e.Byte(byte(m.Flags))
	e.Byte(ProtocolVersion)
	e.Uint32(uint32(bodyLen))
	e.Uint32(m.Serial)
	fields := e.BeginArray(8)
	str := func(code byte, sig Signature, v string) {
		if v == "" {
			return
		}
		e.BeginStruct()
		e.Byte(code)
		e.buf = append(e.buf, 1, sig[0], 0)
		e.Uint32(uint32(len(v)))
		e.buf = append(e.buf, v...)
		e.buf = append(e.buf, 0)
	}
	u32 := func(code byte, v uint32) {
		if v == 0 {
			return
		}
		e.BeginStruct()
		e.Byte(code)
		e.buf = append(e.buf, 1, 'u', 0)
		e.Uint32(v)
	}
	str(FieldPath, "o", string(m.Path))
	str(FieldInterface, "s", m.Interface)
	str(FieldMember, "s", m.Member)
	str(FieldErrorName, "s", m.ErrorName)
	u32(FieldReplySerial, m.ReplySerial)
	str(FieldDestination, "s", m.Destination)
	str(FieldSender, "s", m.Sender)
	if m.Signature != "" {
		e.BeginStruct()
		e.Byte(FieldSignature)
		e.buf = append(e.buf, 1, 'g', 0)
		e.Signature(m.Signature)
	}
	u32(FieldUnixFDs, m.UnixFDs)
	e.EndArray(fields)
	e.Pad(8)
	if err := e.Err(); err != nil {
		return dst, err
	}
	if total := len(e.buf) - start + bodyLen; total > MaxMessageSize {
		return dst, fmt.Errorf("D-Bus message of %d bytes exceeds the limit of %d bytes: send large payloads as a file descriptor (memfd) instead", total, MaxMessageSize)
	}
	return e.buf, nil
}

// AppendTo appends the whole encoded message, header and body, to dst.
func (m *Message) AppendTo(dst []byte) ([]byte, error) {
	out, err := m.AppendHeader(dst, len(m.Body))
	if err != nil {
		return dst, err
	}
	return append(out, m.Body...), nil
}

// MessageLength reads the fixed part of a message header (at least FixedHeaderSize bytes of
// it) and returns the length of the whole message, so that a reader of a byte stream knows how
// much to read. It checks the byte order, the version and the size limits.
func MessageLength(hdr []byte) (int, error) {
	if len(hdr) < FixedHeaderSize {
		return 0, &DecodeError{Reason: fmt.Sprintf("message header needs %d bytes, have %d", FixedHeaderSize, len(hdr)), Err: ErrTruncated}
	}
	var order binary.ByteOrder
	switch ByteOrder(hdr[0]) {
	case LittleEndian:
		order = binary.LittleEndian
	case BigEndian:
		order = binary.BigEndian
	default:
		return 0, &DecodeError{Reason: fmt.Sprintf("unknown byte order flag %q: not a D-Bus message, or the stream lost its framing", hdr[0])}
	}
	if hdr[3] != ProtocolVersion {
		return 0, &DecodeError{Offset: 3, Reason: fmt.Sprintf("protocol version %d, only version %d exists", hdr[3], ProtocolVersion)}
	}
	body := uint64(order.Uint32(hdr[4:]))
	fields := uint64(order.Uint32(hdr[12:]))
	if fields > MaxArraySize {
		return 0, &DecodeError{Offset: 12, Reason: fmt.Sprintf("header fields array of %d bytes exceeds the array limit of %d", fields, MaxArraySize)}
	}
	total := FixedHeaderSize + (fields+7)&^7 + body
	if total > MaxMessageSize {
		return 0, &DecodeError{Reason: fmt.Sprintf("message of %d bytes exceeds the limit of %d bytes", total, MaxMessageSize)}
	}
	return int(total), nil
}

// fieldTypes are the value types of the known header fields, by code.
var fieldTypes = [...]byte{
	FieldPath: TypeObjectPath, FieldInterface: TypeString, FieldMember: TypeString,
	FieldErrorName: TypeString, FieldReplySerial: TypeUint32, FieldDestination: TypeString,
	FieldSender: TypeString, FieldSignature: TypeSignature, FieldUnixFDs: TypeUint32,
}

// DecodeMessage decodes the message that fills buf exactly. The header is checked in full
// (see Validate); the body is not decoded: m.Body aliases buf, to be decoded in place by the
// receiver or checked with ValidateBody. The header's strings are copies, made in a single
// allocation.
func DecodeMessage(buf []byte) (*Message, error) {
	m := &Message{}
	if err := m.Decode(buf); err != nil {
		return nil, err
	}
	return m, nil
}

// Decode is DecodeMessage into an existing Message, which it overwrites.
func (m *Message) Decode(buf []byte) error {
	total, err := MessageLength(buf)
	if err != nil {
		return err
	}
	if total != len(buf) {
		return &DecodeError{Reason: fmt.Sprintf("header says the message has %d bytes, the buffer holds %d", total, len(buf)), Err: errTruncatedIf(total > len(buf))}
	}
	start, bodyLen, err := m.decodeHeader(buf)
	if err != nil {
		return err
	}
	if start+bodyLen != len(buf) {
		return &DecodeError{Offset: start, Reason: "header fields and body do not fill the message"}
	}
	m.Body = buf[start:len(buf):len(buf)]
	return m.Validate()
}

// HeaderLength reads the fixed part of a message header (at least FixedHeaderSize bytes) and
// returns the length of the header proper: the fixed part and the header fields, padded to 8,
// which is where the body starts. It checks what MessageLength checks.
func HeaderLength(hdr []byte) (int, error) {
	if _, err := MessageLength(hdr); err != nil {
		return 0, err
	}
	var fields uint32
	if ByteOrder(hdr[0]) == LittleEndian {
		fields = binary.LittleEndian.Uint32(hdr[12:])
	} else {
		fields = binary.BigEndian.Uint32(hdr[12:])
	}
	return FixedHeaderSize + int(fields+7)&^7, nil
}

// DecodeHeader decodes a message header without its body: hdr holds exactly the header
// proper (see HeaderLength). It returns the length of the body the header announces and
// leaves m.Body nil, for a transport that keeps the body elsewhere; m is otherwise checked as
// Decode checks it.
func (m *Message) DecodeHeader(hdr []byte) (bodyLen int, err error) {
	n, err := HeaderLength(hdr)
	if err != nil {
		return 0, err
	}
	if n != len(hdr) {
		return 0, &DecodeError{Reason: fmt.Sprintf("header of %d bytes in a buffer of %d", n, len(hdr)), Err: errTruncatedIf(n > len(hdr))}
	}
	start, bodyLen, err := m.decodeHeader(hdr)
	if err != nil {
		return 0, err
	}
	if start != len(hdr) {
		return 0, &DecodeError{Offset: start, Reason: "header fields do not fill the header"}
	}
	return bodyLen, m.Validate()
}

// decodeHeader decodes the header at the start of buf into m and returns where the body
// starts and how long the header says it is.
func (m *Message) decodeHeader(buf []byte) (start, bodyLen int, err error) {
	*m = Message{Order: ByteOrder(buf[0]), Type: MessageType(buf[1]), Flags: Flags(buf[2])}
	var d Decoder
	d.Reset(buf, m.Order)
	d.off = 4
	bodyLen = int(d.Uint32())
	m.Serial = d.Uint32()
	end := d.BeginArray(8)
	var seen uint32
	// The string fields are read in place, then copied out together in one allocation.
	var strs [FieldSignature + 1][]byte
	for d.More(end) {
		d.BeginStruct()
		at := d.off
		code := d.Byte()
		sig := d.signatureBytes()
		if d.err != nil {
			break
		}
		if code == 0 {
			d.off = at
			d.fail(nil, "header field code 0 is invalid")
			break
		}
		if int(code) >= len(fieldTypes) {
			// Unknown fields are allowed and ignored; their value must still be valid.
			t, err := ParseType(string(sig))
			if err != nil {
				d.fail(err, "header field %d: %v", code, err)
				break
			}
			walk(&d, t, 2, -1, false)
			continue
		}
		if seen&(1<<code) != 0 {
			d.off = at
			d.fail(nil, "header field %d appears twice", code)
			break
		}
		seen |= 1 << code
		if len(sig) != 1 || sig[0] != fieldTypes[code] {
			d.off = at
			d.fail(nil, "header field %d has type %q, must be %q", code, sig, fieldTypes[code])
			break
		}
		switch code {
		case FieldPath:
			strs[code] = d.objectPathBytes()
		case FieldInterface, FieldMember, FieldErrorName, FieldDestination, FieldSender:
			strs[code] = d.StringBytes()
		case FieldReplySerial:
			m.ReplySerial = d.Uint32()
			if m.ReplySerial == 0 && d.err == nil {
				d.fail(nil, "REPLY_SERIAL is 0")
			}
		case FieldSignature:
			strs[code] = d.checkedSignatureBytes()
		case FieldUnixFDs:
			m.UnixFDs = d.Uint32()
		}
	}
	d.Pad(8)
	if d.err != nil {
		return 0, 0, d.err
	}
	m.setStrings(&strs)
	if bodyLen > 0 && m.Signature == "" {
		return 0, 0, &DecodeError{Offset: d.off, Reason: fmt.Sprintf("body of %d bytes but no SIGNATURE header field", bodyLen)}
	}
	return d.off, bodyLen, nil
}

// setStrings sets the string header fields from their bytes, indexed by field code, copying
// them all in a single allocation.
func (m *Message) setStrings(strs *[FieldSignature + 1][]byte) {
	n := 0
	for _, b := range strs {
		n += len(b)
	}
	var sb strings.Builder
	sb.Grow(n)
	for _, b := range strs {
		sb.Write(b)
	}
	all := sb.String()
	for code, b := range strs {
		s := all[:len(b)]
		all = all[len(b):]
		switch byte(code) {
		case FieldPath:
			m.Path = ObjectPath(s)
		case FieldInterface:
			m.Interface = s
		case FieldMember:
			m.Member = s
		case FieldErrorName:
			m.ErrorName = s
		case FieldDestination:
			m.Destination = s
		case FieldSender:
			m.Sender = s
		case FieldSignature:
			m.Signature = Signature(s)
		}
	}
}

// ValidateBody checks that the body is a valid encoding of the message's signature, with
// descriptor indexes below UnixFDs.
func (m *Message) ValidateBody() error {
	return ValidateBody(m.Body, m.Order, m.Signature, int(m.UnixFDs))
}

func errTruncatedIf(b bool) error {
	if b {
		return ErrTruncated
	}
	return nil
}
