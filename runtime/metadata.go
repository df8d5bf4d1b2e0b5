package runtime

import (
	"context"
	"fmt"
	"strings"

	"github.com/kdbus-go/kdbus/wire"
)

// Metadata is a set of key/value pairs that travels beside a call or a stream, as in grpc-go:
// the caller's request metadata, and the callee's response header and trailer. Keys are
// lower-cased ASCII; each key has one or more values.
type Metadata map[string][]string

// NewMetadata makes Metadata from key/value pairs; an odd number of arguments panics.
func NewMetadata(kv ...string) Metadata {
	if len(kv)%2 == 1 {
		panic(fmt.Sprintf("runtime.NewMetadata: odd number of arguments (%d): pass key, value pairs", len(kv)))
	}
	md := make(Metadata, len(kv)/2)
	for i := 0; i < len(kv); i += 2 {
		md.Append(kv[i], kv[i+1])
	}
	return md
}

// Get returns the values of key.
func (md Metadata) Get(key string) []string { return md[strings.ToLower(key)] }

// Set replaces the values of key.
func (md Metadata) Set(key string, vals ...string) {
	if len(vals) == 0 {
		return
	}
	md[strings.ToLower(key)] = vals
}

// Append adds values to key.
func (md Metadata) Append(key string, vals ...string) {
	if len(vals) == 0 {
		return
	}
	k := strings.ToLower(key)
	md[k] = append(md[k], vals...)
}

// Copy returns a copy that shares nothing with md.
func (md Metadata) Copy() Metadata {
	out := make(Metadata, len(md))
	for k, v := range md {
		out[k] = append([]string(nil), v...)
	}
	return out
}

// join adds other's values to md.
func (md Metadata) join(other Metadata) {
	for k, v := range other {
		md[k] = append(md[k], v...)
	}
}

type outgoingKey struct{}

// AppendMetadata returns a context whose calls carry the pairs kv as request metadata, after
// any the context carried already. An odd number of arguments panics.
func AppendMetadata(ctx context.Context, kv ...string) context.Context {
	md := NewMetadata(kv...)
	if old := OutgoingMetadata(ctx); len(old) > 0 {
		merged := old.Copy()
		merged.join(md)
		md = merged
	}
	return context.WithValue(ctx, outgoingKey{}, md)
}

// OutgoingMetadata returns the request metadata that calls made with ctx carry (nil for none).
// It must not be modified: AppendMetadata adds to it.
func OutgoingMetadata(ctx context.Context) Metadata {
	md, _ := ctx.Value(outgoingKey{}).(Metadata)
	return md
}

// MetadataFrom returns the request metadata the caller sent, in a handler or in a stream's
// Context(); nil when there is none.
func MetadataFrom(ctx context.Context) Metadata {
	if c := CallerFrom(ctx); c != nil {
		return c.md
	}
	return nil
}

// SetHeader adds md to the response header of the unary call being handled; it is sent before
// the reply (or by SendHeader). It fails outside a unary handler and after the header went.
func SetHeader(ctx context.Context, md Metadata) error {
	rm, err := responseMetadata(ctx, "SetHeader")
	if err != nil {
		return err
	}
	return rm.setHeader(md)
}

// SendHeader sends the response header of the unary call being handled now, with md added.
// It fails outside a unary handler and when the header was sent already.
func SendHeader(ctx context.Context, md Metadata) error {
	rm, err := responseMetadata(ctx, "SendHeader")
	if err != nil {
		return err
	}
	if err := rm.setHeader(md); err != nil {
		return err
	}
	rm.flushHeader()
	return nil
}

// SetTrailer adds md to the trailer of the unary call being handled, sent before the reply.
func SetTrailer(ctx context.Context, md Metadata) error {
	rm, err := responseMetadata(ctx, "SetTrailer")
	if err != nil {
		return err
	}
	rm.mdMu.Lock()
	defer rm.mdMu.Unlock()
	if rm.trailer == nil {
		rm.trailer = Metadata{}
	}
	rm.trailer.join(md)
	return nil
}

func responseMetadata(ctx context.Context, what string) (*Caller, error) {
	c := CallerFrom(ctx)
	if c == nil || !c.unary {
		return nil, fmt.Errorf("runtime.%s: the context is not a unary handler's (streams have SetHeader of their own)", what)
	}
	return c, nil
}

// Header returns a CallOption that stores the response header of a unary call in *md.
func Header(md *Metadata) CallOption { return func(o *callOptions) { o.header = md } }

// Trailer returns a CallOption that stores the trailer of a unary call in *md.
func Trailer(md *Metadata) CallOption { return func(o *callOptions) { o.trailer = md } }

// Limits on metadata received, so that a peer cannot make a receiver hold much memory.
const (
	maxMetadataKeys  = 64
	maxMetadataBytes = 64 << 10
)

// encodeMetadata appends md as a{sas}.
func encodeMetadata(e *wire.Encoder, md Metadata) {
	a := e.BeginArray(8)
	for k, vs := range md {
		e.BeginStruct()
		e.String(k)
		va := e.BeginArray(4)
		for _, v := range vs {
			e.String(v)
		}
		e.EndArray(va)
	}
	e.EndArray(a)
}

// decodeMetadata reads an a{sas}. Keys are lower-cased; an empty set gives nil.
func decodeMetadata(d *wire.Decoder) Metadata {
	var md Metadata
	size := 0
	end := d.BeginArray(8)
	for d.More(end) {
		d.BeginStruct()
		k := strings.ToLower(d.String())
		vend := d.BeginArray(4)
		for d.More(vend) {
			v := d.String()
			size += len(k) + len(v)
			if d.Err() != nil {
				break
			}
			if md == nil {
				md = Metadata{}
			}
			md[k] = append(md[k], v)
		}
		if len(md) > maxMetadataKeys || size > maxMetadataBytes {
			d.SetErr(fmt.Errorf("metadata holds more than %d keys or %d bytes", maxMetadataKeys, maxMetadataBytes))
			return nil
		}
	}
	return md
}
