package runtime

import (
	"errors"

	"github.com/kdbus-go/kdbus/wire"
)

// Peers built from different versions of a service send bodies whose signatures differ by
// members appended to messages (see wire.Evolve). Every place that decodes a peer's body with
// a generated codec compares the signature first; when it differs it adapts the body to the
// codec's signature here, and refuses it as before only when the two are not evolutions of
// each other.

// adaptBody returns body, of signature got in byte order o, as a body of signature want:
// body itself when the signatures are equal. The error is a *wire.EvolutionError when they
// are not evolutions of each other, a *wire.DecodeError when body does not decode as got.
func adaptBody(body []byte, o wire.ByteOrder, got, want wire.Signature) ([]byte, error) {
	if got == want {
		return body, nil
	}
	ev, err := wire.Evolve(got, want)
	if err != nil {
		return nil, err
	}
	return ev.Adapt(nil, body, o)
}

// adaptValue reads one value of type got at d's position and returns a decoder over it as a
// value of type want: d itself when the types are equal, a new decoder over an adapted copy
// otherwise (with d's descriptors). The error is a *wire.EvolutionError when the types are not
// evolutions of each other, and d's error when the value does not decode.
func adaptValue(d *wire.Decoder, fds []int, got, want wire.Signature) (*wire.Decoder, error) {
	if got == want {
		return d, nil
	}
	ev, err := wire.Evolve(got, want)
	if err != nil {
		return nil, err
	}
	b := ev.AdaptValue(d, nil)
	if err := d.Err(); err != nil {
		return nil, err
	}
	nd := wire.NewDecoder(b, d.Order())
	nd.SetFDs(fds)
	return nd, nil
}

// notEvolution reports whether err says two signatures are not evolutions of each other (or
// one of them is not a signature), rather than that a body did not decode.
func notEvolution(err error) bool {
	var ee *wire.EvolutionError
	var se *wire.SignatureError
	return errors.As(err, &ee) || errors.As(err, &se)
}

// evolves reports whether values of signature got can be read as values of signature want.
func evolves(got, want wire.Signature) bool {
	_, err := wire.Evolve(got, want)
	return err == nil
}
