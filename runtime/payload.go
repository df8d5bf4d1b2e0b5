package runtime

import (
	"context"
	"io"
	"sync"

	"github.com/kdbus-go/kdbus/wire"
)

// Large payloads. A bytes field marked [(kdbus.v1.field) = { memfd: true }] travels as a
// sealed memfd (D-Bus type h) instead of inline bytes. Generated codecs encode and decode
// them; the functions below manage the lifetime of what a receiver maps.
//
// Sending: bytes that are exactly the contents of a memfd.Writer (memfd.New) are sealed in
// place and their descriptor travels: no copy at all. From then on the slice is read-only:
// reading it is fine until the Writer's Close, writing it faults, and sending it again (to
// any number of peers, from any goroutine) sends the same memfd. Any other bytes are copied
// once into a new sealed memfd, closed once the message is sent; the caller's slice is
// untouched.
//
// Receiving: the descriptor must be a memfd sealed against writing, growing and shrinking
// (anything else fails the decoding with InvalidArgument); it is mapped read-only and the
// field is set to the mapping, valid until released:
//   - a handler's request payloads are unmapped when the handler returns, unless it calls
//     KeepPayloads and later the release function that returns;
//   - a client's response payloads stay mapped until ReleasePayloads(resp).
//
// Reading a released payload's bytes faults; keep a copy (bytes.Clone) to outlive it.

// maxMessageFDs is the number of descriptors a message may carry on a bus with the usual
// limits: dbus-daemon's and kdbusd's max_message_unix_fds is 16, and a bus disconnects a
// client that sends more.
const maxMessageFDs = 16

// checkFDs refuses a message whose memfd payloads need more descriptors than a bus accepts,
// before it is sent: sending it would cost the connection.
func checkFDs(e *wire.Encoder, what string) error {
	if n := len(e.FDs()); n > maxMessageFDs {
		return Errorf(ResourceExhausted, "%s carries %d file descriptors (memfd payloads); buses accept at most %d in one message and disconnect senders of more: send fewer payloads per call, or join small ones into one", what, n, maxMessageFDs)
	}
	return nil
}

// payloadScope holds what decoding a handler's request mapped.
type payloadScope struct {
	mu   sync.Mutex
	held []io.Closer
	kept bool
}

type payloadKey struct{}

func (s *payloadScope) end() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.kept {
		closeAllClosers(s.held)
		s.held = nil
	}
}

// KeepPayloads keeps the memfd payloads of the request being handled mapped after the
// handler returns, until the returned function is called. Without it they are unmapped when
// the handler returns. Outside a handler, or for a request without payloads, the function
// does nothing.
func KeepPayloads(ctx context.Context) (release func()) {
	s, _ := ctx.Value(payloadKey{}).(*payloadScope)
	if s == nil {
		return func() {}
	}
	s.mu.Lock()
	s.kept = true
	held := s.held
	s.held = nil
	s.mu.Unlock()
	var once sync.Once
	return func() { once.Do(func() { closeAllClosers(held) }) }
}

// responsePayloads holds the payloads of responses until ReleasePayloads.
var responsePayloads struct {
	mu sync.Mutex
	m  map[any][]io.Closer
}

func keepResponsePayloads(resp any, held []io.Closer) {
	responsePayloads.mu.Lock()
	defer responsePayloads.mu.Unlock()
	if responsePayloads.m == nil {
		responsePayloads.m = make(map[any][]io.Closer)
	}
	responsePayloads.m[resp] = append(responsePayloads.m[resp], held...)
}

// ReleasePayloads unmaps the memfd payloads of resp, a response a generated client returned;
// their bytes must not be used afterwards. It does nothing for a response without payloads.
func ReleasePayloads(resp any) {
	responsePayloads.mu.Lock()
	held := responsePayloads.m[resp]
	delete(responsePayloads.m, resp)
	responsePayloads.mu.Unlock()
	closeAllClosers(held)
}

func closeAllClosers(cs []io.Closer) {
	for _, c := range cs {
		c.Close()
	}
}
