package classic

import (
	"errors"
	"fmt"
	"io"
	"syscall"
	"time"
)

var (
	// ErrDisconnected is wrapped by every error caused by a connection that broke: the peer
	// closed it, reset it, or sent bytes that are not D-Bus messages.
	ErrDisconnected = errors.New("dbus: disconnected")
	// ErrClosed is returned for operations on a connection closed by Close.
	ErrClosed = errors.New("dbus: connection closed")
)

// A bus that refuses a message for its size hangs up as soon as it has read the message's
// header, so the hangup follows the send closely; and buses' size limits are far above what
// ordinary calls carry. A hangup is blamed on the size only when both hold.
const (
	// suspectSize is the smallest message whose size could have been refused.
	suspectSize = 64 << 10
	// suspectDelay is how soon after such a message the hangup must come.
	suspectDelay = 5 * time.Second
)

// DisconnectError says why a connection broke. It wraps ErrDisconnected and the cause.
type DisconnectError struct {
	// Reason describes what happened, in words.
	Reason string
	// Cause is the underlying error, if any.
	Cause error
	// LastSent is the size in bytes of the last message this connection sent, which helps
	// tell when a bus closed the connection because a message exceeded its size limit.
	LastSent int
	// SinceSent is how long before the connection broke that last message was sent (zero
	// when none was).
	SinceSent time.Duration
}

func (e *DisconnectError) Error() string {
	s := "dbus: disconnected: " + e.Reason
	if e.Cause != nil {
		s += ": " + e.Cause.Error()
	}
	switch {
	case !e.hangup():
	case e.SizeSuspected():
		s += fmt.Sprintf(" (the last message sent on this connection, %v earlier, was %d bytes; a bus closes connections whose messages exceed its max_message_size: send large payloads as a file descriptor instead)", e.SinceSent.Round(time.Millisecond), e.LastSent)
	default:
		s += " (the bus went away, or the peer closed the connection)"
	}
	return s
}

// SizeSuspected reports whether the other end plausibly hung up because the last message
// sent was over its size limit: it was large and the hangup came right after it.
func (e *DisconnectError) SizeSuspected() bool {
	return e.hangup() && e.LastSent >= suspectSize && e.SinceSent < suspectDelay
}

// hangup reports whether the other end closed the connection, rather than this side finding
// something wrong with what it sent.
func (e *DisconnectError) hangup() bool {
	return errors.Is(e.Cause, io.EOF) || errors.Is(e.Cause, syscall.ECONNRESET) || errors.Is(e.Cause, syscall.EPIPE)
}

// Is makes errors.Is(err, ErrDisconnected) true.
func (e *DisconnectError) Is(target error) bool { return target == ErrDisconnected }

// Unwrap returns the cause.
func (e *DisconnectError) Unwrap() error { return e.Cause }
