package classic

import (
	"errors"
	"fmt"
)

var (
	// ErrDisconnected is wrapped by every error caused by a connection that broke: the peer
	// closed it, reset it, or sent bytes that are not D-Bus messages.
	ErrDisconnected = errors.New("dbus: disconnected")
	// ErrClosed is returned for operations on a connection closed by Close.
	ErrClosed = errors.New("dbus: connection closed")
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
}

func (e *DisconnectError) Error() string {
	s := "dbus: disconnected: " + e.Reason
	if e.Cause != nil {
		s += ": " + e.Cause.Error()
	}
	if e.LastSent > 0 {
		s += fmt.Sprintf(" (the last message sent on this connection was %d bytes; a bus closes connections that exceed its max_message_size or break the protocol)", e.LastSent)
	}
	return s
}

// Is makes errors.Is(err, ErrDisconnected) true.
func (e *DisconnectError) Is(target error) bool { return target == ErrDisconnected }

// Unwrap returns the cause.
func (e *DisconnectError) Unwrap() error { return e.Cause }
