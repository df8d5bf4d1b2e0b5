package runtime

import (
	"bytes"
	"context"
	"errors"
	"sync"

	"github.com/kdbus-go/kdbus/wire"
)

// Access says how a property may be accessed over D-Bus.
type Access uint8

// Property access, as the introspection XML's access attribute says it.
const (
	Read      Access = 1
	Write     Access = 2
	ReadWrite Access = Read | Write
)

// String returns the access as introspection XML writes it: "read", "write" or "readwrite".
func (a Access) String() string {
	switch a {
	case Read:
		return "read"
	case Write:
		return "write"
	case ReadWrite:
		return "readwrite"
	}
	return "none"
}

// Change says what a property's owner announces when the property changes, as the
// annotation org.freedesktop.DBus.Property.EmitsChangedSignal does.
type Change uint8

// Change behaviours.
const (
	// ChangeEmitsValue sends the new value in PropertiesChanged ("true").
	ChangeEmitsValue Change = iota
	// ChangeInvalidates sends only the name, in the invalidated list ("invalidates").
	ChangeInvalidates
	// ChangeConst promises that the value never changes once the object is served ("const").
	ChangeConst
	// ChangeNone sends nothing ("false").
	ChangeNone
)

// Property describes one property: one field of the message T that holds a service's
// properties. Generated code declares them.
type Property[T any] struct {
	// Name is the D-Bus property name.
	Name string
	// Sig is the D-Bus type of its value.
	Sig    wire.Signature
	Access Access
	Change Change
	// Encode appends the property's value, the field of m, as one value of type Sig.
	Encode func(e *wire.Encoder, m *T)
	// Decode reads one value of type Sig into the field of m.
	Decode func(d *wire.Decoder, m *T)
	// Copy sets the field of dst to the field of src (sharing maps, slices and messages).
	Copy func(dst, src *T)
}

// Properties describes the properties of a service, the fields of the message T. Generated
// code declares one per service that has properties, sets it as ServiceDesc.Properties, and
// uses it for the typed client methods and the server's property store.
type Properties[T any] struct {
	// Interface is the D-Bus interface the properties belong to.
	Interface string
	// Props are the properties, in field-number order.
	Props []Property[T]

	once  sync.Once
	names map[string]int
}

// PropertySet is what ServiceDesc.Properties holds: a *Properties[T].
type PropertySet interface {
	propertiesInterface() string
}

func (p *Properties[T]) propertiesInterface() string { return p.Interface }

// index returns the position of the property called name, or -1.
func (p *Properties[T]) index(name string) int {
	p.once.Do(func() {
		p.names = make(map[string]int, len(p.Props))
		for i, pr := range p.Props {
			p.names[pr.Name] = i
		}
	})
	if i, ok := p.names[name]; ok {
		return i
	}
	return -1
}

// PropertyHost is a server-side store of a service's property values: a *PropertyStore[T].
// WithProperties registers it with the service.
type PropertyHost interface {
	propertySet() PropertySet
	get(name string, e *wire.Encoder) error
	getAll(e *wire.Encoder)
	// decodeSet reads the value a client writes to property name (Properties.Set), whose
	// variant d is at, into a *T.
	decodeSet(name string, d *wire.Decoder) (any, error)
	// set applies a client's write of property name: v is the *T decodeSet returned.
	set(ctx context.Context, name string, v any) error
	bind(c *Conn, path wire.ObjectPath)
	unbind(c *Conn, path wire.ObjectPath)
}

// WithProperties serves the property values in store. A service that declares properties is
// registered with its store; generated Register functions take it as an argument.
func WithProperties(store PropertyHost) RegisterOption {
	return func(r *registration) { r.props = store }
}

// PropertyStore holds the values of a service's properties on the server side, answers
// org.freedesktop.DBus.Properties for them, and announces changes with PropertiesChanged as
// each property's Change says. Generated code wraps it in a type with a typed getter and
// setter per property. It is safe for concurrent use.
//
// The store keeps the values it is given: maps, slices and messages are shared, not copied,
// so a value must not be modified after it is set (set a new one instead).
type PropertyStore[T any] struct {
	desc *Properties[T]

	mu    sync.Mutex
	v     *T
	enc   [][]byte // each property's current value, encoded, to tell changes apart
	bound []binding
	onSet func(ctx context.Context, name string, v *T) error
}

// binding is one place the store is served: a connection and an object path.
type binding struct {
	conn *Conn
	path wire.ObjectPath
}

// NewStore returns a store of p's properties holding the values of initial's fields (nil
// means zero values).
func (p *Properties[T]) NewStore(initial *T) *PropertyStore[T] {
	if initial == nil {
		initial = new(T)
	}
	s := &PropertyStore[T]{desc: p, v: new(T), enc: make([][]byte, len(p.Props))}
	for i, pr := range p.Props {
		pr.Copy(s.v, initial)
		s.enc[i], _ = encodeProperty(&pr, s.v, nil)
	}
	return s
}

// encodeProperty encodes the property's value in m on its own, to compare values.
func encodeProperty[T any](pr *Property[T], m *T, buf []byte) ([]byte, error) {
	var e wire.Encoder
	e.Reset(buf[:0], wire.NativeOrder)
	pr.Encode(&e, m)
	return e.Bytes(), e.Err()
}

// Property returns a message whose field for property i (in the order of Properties.Props)
// holds the property's value; its other fields are unset. Generated getters call it.
func (s *PropertyStore[T]) Property(i int) *T {
	out := new(T)
	s.mu.Lock()
	s.desc.Props[i].Copy(out, s.v)
	s.mu.Unlock()
	return out
}

// SetProperty sets property i to the value of its field in v, and announces the change if
// the value differs from the current one. Generated setters call it. A const property can be
// set until the store is first served, and not after.
func (s *PropertyStore[T]) SetProperty(i int, v *T) error {
	pr := &s.desc.Props[i]
	enc, err := encodeProperty(pr, v, nil)
	if err != nil {
		return Errorf(InvalidArgument, "property %s: %v", pr.Name, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if bytes.Equal(enc, s.enc[i]) {
		return nil
	}
	if pr.Change == ChangeConst && len(s.bound) > 0 {
		return Errorf(FailedPrecondition, "property %s is const: it cannot change while the object is served", pr.Name)
	}
	pr.Copy(s.v, v)
	s.enc[i] = enc
	return s.announce([]int{i})
}

// Update runs f on a copy of the property values and then applies what it changed, with one
// PropertiesChanged signal for all the changes. f must set new maps, slices and messages
// rather than modify the current ones. If a new value cannot be encoded, or a const property
// changed while the store is served, nothing is applied and Update returns the error.
func (s *PropertyStore[T]) Update(f func(v *T)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	tmp := new(T)
	for _, pr := range s.desc.Props {
		pr.Copy(tmp, s.v)
	}
	f(tmp)
	var changed []int
	encs := make([][]byte, len(s.desc.Props))
	for i := range s.desc.Props {
		pr := &s.desc.Props[i]
		enc, err := encodeProperty(pr, tmp, nil)
		if err != nil {
			return Errorf(InvalidArgument, "property %s: %v", pr.Name, err)
		}
		if bytes.Equal(enc, s.enc[i]) {
			continue
		}
		if pr.Change == ChangeConst && len(s.bound) > 0 {
			return Errorf(FailedPrecondition, "property %s is const: it cannot change while the object is served", pr.Name)
		}
		encs[i] = enc
		changed = append(changed, i)
	}
	for _, i := range changed {
		s.desc.Props[i].Copy(s.v, tmp)
		s.enc[i] = encs[i]
	}
	return s.announce(changed)
}

// ErrHandled is what an OnSet hook returns when it applied a client's write itself, through
// the store's setters (typically under a lock of its own, together with other changes and
// signals): the store then leaves the value as the hook set it, and the write succeeds.
var ErrHandled = errors.New("runtime: the property write was handled by the OnSet hook")

// OnSet sets the function called when a client writes a property: name is the property and
// v holds the value written, in the property's field. An error rejects the write and is the
// client's reply; nil applies it; ErrHandled says the hook applied it. ctx carries the Caller.
// Without OnSet, every write to a writable property is applied.
func (s *PropertyStore[T]) OnSet(f func(ctx context.Context, name string, v *T) error) {
	s.mu.Lock()
	s.onSet = f
	s.mu.Unlock()
}

// announce sends PropertiesChanged for the properties changed, from every place the store
// is served. It runs with s.mu held, so that signals leave in the order of the changes.
func (s *PropertyStore[T]) announce(changed []int) error {
	if len(s.bound) == 0 || len(changed) == 0 {
		return nil
	}
	var e wire.Encoder
	e.Reset(nil, wire.NativeOrder)
	e.String(s.desc.Interface)
	values := e.BeginArray(8)
	sent := 0
	var invalidated []string
	for _, i := range changed {
		pr := &s.desc.Props[i]
		switch {
		case pr.Change == ChangeNone || pr.Change == ChangeConst:
		case pr.Change == ChangeInvalidates || pr.Access&Read == 0:
			invalidated = append(invalidated, pr.Name)
		default:
			e.BeginStruct()
			e.String(pr.Name)
			e.Variant(pr.Sig)
			pr.Encode(&e, s.v)
			sent++
		}
	}
	e.EndArray(values)
	if sent == 0 && len(invalidated) == 0 {
		return nil
	}
	names := e.BeginArray(4)
	for _, n := range invalidated {
		e.String(n)
	}
	e.EndArray(names)
	if err := e.Err(); err != nil {
		return Errorf(Internal, "encoding PropertiesChanged of %s: %v", s.desc.Interface, err)
	}
	body := e.Bytes()
	var first error
	for _, b := range s.bound {
		m := &wire.Message{
			Order: wire.NativeOrder, Type: wire.Signal, Path: b.path, Interface: PropertiesInterface,
			Member: "PropertiesChanged", Signature: "sa{sv}as", Body: body,
		}
		if err := b.conn.send(context.Background(), m, nil, 0, false); err != nil && first == nil {
			first = err
		}
	}
	return first
}

func (s *PropertyStore[T]) propertySet() PropertySet { return s.desc }

func (s *PropertyStore[T]) bind(c *Conn, path wire.ObjectPath) {
	s.mu.Lock()
	s.bound = append(s.bound, binding{c, path})
	s.mu.Unlock()
}

func (s *PropertyStore[T]) unbind(c *Conn, path wire.ObjectPath) {
	s.mu.Lock()
	for i, b := range s.bound {
		if b.conn == c && b.path == path {
			s.bound = append(s.bound[:i], s.bound[i+1:]...)
			break
		}
	}
	s.mu.Unlock()
}

// get writes property name's value as a variant (Properties.Get).
func (s *PropertyStore[T]) get(name string, e *wire.Encoder) error {
	i := s.desc.index(name)
	if i < 0 {
		return unknownProperty(s.desc.Interface, name)
	}
	pr := &s.desc.Props[i]
	if pr.Access&Read == 0 {
		return Errorf(InvalidArgument, "property %s of %s is write-only", name, s.desc.Interface)
	}
	e.Variant(pr.Sig)
	s.mu.Lock()
	pr.Encode(e, s.v)
	s.mu.Unlock()
	return nil
}

// getAll writes every readable property as a{sv} (Properties.GetAll).
func (s *PropertyStore[T]) getAll(e *wire.Encoder) {
	a := e.BeginArray(8)
	s.mu.Lock()
	for i := range s.desc.Props {
		pr := &s.desc.Props[i]
		if pr.Access&Read == 0 {
			continue
		}
		e.BeginStruct()
		e.String(pr.Name)
		e.Variant(pr.Sig)
		pr.Encode(e, s.v)
	}
	s.mu.Unlock()
	e.EndArray(a)
}

// decodeSet reads the value a client writes to property name, whose variant d is at
// (Properties.Set), into the property's field of a new *T.
func (s *PropertyStore[T]) decodeSet(name string, d *wire.Decoder) (any, error) {
	i := s.desc.index(name)
	if i < 0 {
		return nil, unknownProperty(s.desc.Interface, name)
	}
	pr := &s.desc.Props[i]
	if pr.Access&Write == 0 {
		return nil, Errorf(PermissionDenied, "property %s of %s is read-only", name, s.desc.Interface).withName(ErrorPropertyReadOnly)
	}
	sig := d.Variant()
	if err := d.Err(); err != nil {
		return nil, Errorf(InvalidArgument, "the value for property %s does not decode: %v", name, err)
	}
	vd, err := adaptValue(d, nil, sig, pr.Sig)
	switch {
	case err != nil && notEvolution(err):
		return nil, Errorf(InvalidArgument, "property %s of %s has type %q; the value given has type %q", name, s.desc.Interface, pr.Sig, sig)
	case err != nil:
		return nil, Errorf(InvalidArgument, "the value for property %s does not decode as %q: %v", name, sig, err)
	}
	v := new(T)
	pr.Decode(vd, v)
	if err := vd.Done(); err != nil {
		return nil, Errorf(InvalidArgument, "the value for property %s does not decode as %q: %v", name, pr.Sig, err)
	}
	if err := d.Done(); err != nil {
		return nil, Errorf(InvalidArgument, "the arguments of Set of property %s do not decode: %v", name, err)
	}
	return v, nil
}

// set applies a client's write of property name (Properties.Set): v is the *T decodeSet made
// (an interceptor may have passed on another).
func (s *PropertyStore[T]) set(ctx context.Context, name string, value any) error {
	i := s.desc.index(name)
	if i < 0 {
		return unknownProperty(s.desc.Interface, name)
	}
	pr := &s.desc.Props[i]
	if pr.Access&Write == 0 {
		return Errorf(PermissionDenied, "property %s of %s is read-only", name, s.desc.Interface).withName(ErrorPropertyReadOnly)
	}
	v, ok := value.(*T)
	if !ok || v == nil {
		return Errorf(Internal, "an interceptor passed a %T as the value of Set of property %s; want a %T", value, name, v)
	}
	s.mu.Lock()
	hook := s.onSet
	s.mu.Unlock()
	if hook != nil {
		switch err := hook(ctx, name, v); {
		case errors.Is(err, ErrHandled):
			return nil
		case err != nil:
			return err
		}
	}
	return s.SetProperty(i, v)
}

func unknownProperty(iface, name string) error {
	return Errorf(NotFound, "interface %s has no property %s", iface, name).withName(ErrorUnknownProperty)
}

// PropertiesChanged is a PropertiesChanged signal of a service's properties, typed.
type PropertiesChanged[T any] struct {
	// Values holds the new values of the properties named in Changed; its other fields are
	// unset.
	Values *T
	// Changed names the properties whose new values were sent.
	Changed []string
	// Invalidated names the properties that changed without their values being sent: read
	// them again (Get) when they matter.
	Invalidated []string
}

// Has reports whether property name is among the changed or invalidated ones.
func (pc *PropertiesChanged[T]) Has(name string) bool {
	for _, n := range pc.Changed {
		if n == name {
			return true
		}
	}
	for _, n := range pc.Invalidated {
		if n == name {
			return true
		}
	}
	return false
}

// callProperties calls a method of org.freedesktop.DBus.Properties on o and returns the reply,
// whose descriptors and pool slice the caller releases with closeFDs after decoding.
func (o *Object) callProperties(ctx context.Context, member string, sig wire.Signature, opts []CallOption, encode func(e *wire.Encoder)) (reply, error) {
	var co callOptions
	for _, opt := range opts {
		opt(&co)
	}
	if o.dest == "" && o.conn.UniqueName() != "" {
		return reply{}, Errorf(FailedPrecondition, "no destination for %s.%s: the service declares no bus_name; pass runtime.WithDestination to the client", PropertiesInterface, member)
	}
	msg := o.newCall(PropertiesInterface, member, sig, false, &co)
	var e wire.Encoder
	e.Reset(nil, msg.Order)
	encode(&e)
	if err := e.Err(); err != nil {
		return reply{}, Errorf(InvalidArgument, "encoding the arguments of %s.%s: %v", PropertiesInterface, member, err)
	}
	msg.Body = e.Bytes()
	r, err := o.conn.call(ctx, msg, nil, 0)
	for owned := 0; err != nil; {
		var again bool
		if again, err = o.retryWhenReady(ctx, &co, err, &owned); !again {
			return reply{}, err
		}
		r, err = o.conn.call(ctx, msg, nil, 0)
	}
	return r, nil
}

// Get reads property name of the object o (Properties.Get) into the property's field of the
// message returned. The call passes the client interceptors (KindProperty) with a
// *PropertyCall as the request and the message returned (a *T) as the response.
func (p *Properties[T]) Get(ctx context.Context, o *Object, name string, opts ...CallOption) (*T, error) {
	if p.index(name) < 0 {
		return nil, unknownProperty(p.Interface, name)
	}
	v := new(T)
	err := o.conn.invokeCall(ctx, &propertyGetInfo, &PropertyCall{Interface: p.Interface, Name: name}, v, func(ctx context.Context, _ *MethodInfo, req, resp any) error {
		pc, v, err := p.callArgs("Get", req, resp)
		if err != nil {
			return err
		}
		return p.get(ctx, o, pc, v, opts)
	})
	if err != nil {
		return nil, err
	}
	return v, nil
}

// get makes the call of Get and decodes the value into v.
func (p *Properties[T]) get(ctx context.Context, o *Object, pc *PropertyCall, v *T, opts []CallOption) error {
	i := p.index(pc.Name)
	if i < 0 {
		return unknownProperty(p.Interface, pc.Name)
	}
	pr := &p.Props[i]
	r, err := o.callProperties(ctx, "Get", "ss", opts, func(e *wire.Encoder) {
		e.String(pc.Interface)
		e.String(pc.Name)
	})
	if err != nil {
		return err
	}
	defer r.closeFDs()
	if r.Msg.Signature != "v" {
		return Errorf(Internal, "reply to Get of property %s has signature %q, want \"v\"", pc.Name, r.Msg.Signature)
	}
	var d wire.Decoder
	d.Reset(r.Msg.Body, r.Msg.Order)
	sig := d.Variant()
	if err := d.Err(); err != nil {
		return Errorf(Internal, "decoding property %s: %v", pc.Name, err)
	}
	vd, err := adaptValue(&d, nil, sig, pr.Sig)
	switch {
	case err != nil && notEvolution(err):
		return Errorf(Internal, "property %s of %s has type %q at %s, want %q: client and server disagree on the interface", pc.Name, pc.Interface, sig, o.dest, pr.Sig)
	case err != nil:
		return Errorf(Internal, "decoding property %s: %v", pc.Name, err)
	}
	pr.Decode(vd, v)
	if err := vd.Done(); err != nil {
		return Errorf(Internal, "decoding property %s: %v", pc.Name, err)
	}
	if err := d.Done(); err != nil {
		return Errorf(Internal, "decoding property %s: %v", pc.Name, err)
	}
	return nil
}

// Set writes property name of the object o (Properties.Set) with the value of the property's
// field in v. The call passes the client interceptors (KindProperty) with a *PropertyCall
// whose Value is v as the request, and no response.
func (p *Properties[T]) Set(ctx context.Context, o *Object, name string, v *T, opts ...CallOption) error {
	if p.index(name) < 0 {
		return unknownProperty(p.Interface, name)
	}
	return o.conn.invokeCall(ctx, &propertySetInfo, &PropertyCall{Interface: p.Interface, Name: name, Value: v}, nil, func(ctx context.Context, _ *MethodInfo, req, _ any) error {
		pc, _, err := p.callArgs("Set", req, nil)
		if err != nil {
			return err
		}
		v, ok := pc.Value.(*T)
		i := p.index(pc.Name)
		switch {
		case !ok || v == nil:
			return Errorf(Internal, "an interceptor passed a %T as the value of Set of property %s; want a %T", pc.Value, pc.Name, v)
		case i < 0:
			return unknownProperty(p.Interface, pc.Name)
		}
		pr := &p.Props[i]
		r, err := o.callProperties(ctx, "Set", "ssv", opts, func(e *wire.Encoder) {
			e.String(pc.Interface)
			e.String(pc.Name)
			e.Variant(pr.Sig)
			pr.Encode(e, v)
		})
		if err != nil {
			return err
		}
		r.closeFDs()
		return nil
	})
}

// GetAll reads every readable property of the object o (Properties.GetAll). Properties the
// server has and this client does not know, or whose type differs other than by appended
// members (see wire.Evolve), are left out. The call passes the client interceptors
// (KindProperty) with a *PropertyCall as the request and the message returned (a *T) as the
// response.
func (p *Properties[T]) GetAll(ctx context.Context, o *Object, opts ...CallOption) (*T, error) {
	v := new(T)
	err := o.conn.invokeCall(ctx, &propertyGetAllInfo, &PropertyCall{Interface: p.Interface}, v, func(ctx context.Context, _ *MethodInfo, req, resp any) error {
		pc, v, err := p.callArgs("GetAll", req, resp)
		if err != nil {
			return err
		}
		r, err := o.callProperties(ctx, "GetAll", "s", opts, func(e *wire.Encoder) { e.String(pc.Interface) })
		if err != nil {
			return err
		}
		defer r.closeFDs()
		if r.Msg.Signature != "a{sv}" {
			return Errorf(Internal, "reply to GetAll has signature %q, want \"a{sv}\"", r.Msg.Signature)
		}
		var d wire.Decoder
		d.Reset(r.Msg.Body, r.Msg.Order)
		p.decodeValues(&d, v, nil)
		if err := d.Done(); err != nil {
			return Errorf(Internal, "decoding the properties of %s: %v", pc.Interface, err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return v, nil
}

// callArgs checks what the interceptors passed on to a property call: a *PropertyCall and,
// for Get and GetAll, a *T to decode into.
func (p *Properties[T]) callArgs(member string, req, resp any) (*PropertyCall, *T, error) {
	pc, ok := req.(*PropertyCall)
	if !ok || pc == nil {
		return nil, nil, Errorf(Internal, "an interceptor passed a %T as the request of Properties.%s; want a *runtime.PropertyCall", req, member)
	}
	if member == "Set" {
		return pc, nil, nil
	}
	v, ok := resp.(*T)
	if !ok || v == nil {
		return nil, nil, Errorf(Internal, "an interceptor passed a %T as the response of Properties.%s; want a %T", resp, member, v)
	}
	return pc, v, nil
}

// decodeValues reads an a{sv} of property values into v, and calls seen for each property
// it took.
func (p *Properties[T]) decodeValues(d *wire.Decoder, v *T, seen func(name string)) {
	for end := d.BeginArray(8); d.More(end); {
		d.BeginStruct()
		name := d.String()
		sig := d.Variant()
		if d.Err() != nil {
			return
		}
		i := p.index(name)
		if i < 0 || p.Props[i].Sig != sig && !evolves(sig, p.Props[i].Sig) {
			d.Skip(string(sig))
			continue
		}
		vd, err := adaptValue(d, nil, sig, p.Props[i].Sig)
		if err != nil {
			return // d holds the error
		}
		p.Props[i].Decode(vd, v)
		if vd != d {
			if err := vd.Done(); err != nil {
				d.SetErr(err)
				return
			}
		}
		if seen != nil {
			seen(name)
		}
	}
}

// Watch subscribes to the PropertiesChanged signals of the object o for p's interface: by
// default, those o's destination emits from o's path. Each delivers the new values and the
// names of the properties invalidated; read the current values with GetAll after subscribing.
// Each delivery passes the server interceptors (KindSignal) with the *PropertiesChanged[T]
// as the request.
func (p *Properties[T]) Watch(ctx context.Context, o *Object, opts ...SubscribeOption) (*Signals[PropertiesChanged[T]], error) {
	cfg := subscribeConfig{buffer: DefaultSignalBuffer}
	for _, opt := range opts {
		opt(&cfg)
	}
	cfg.args = append(cfg.args, argFilter{index: 0, value: p.Interface})
	mr, _, err := signalRule(PropertiesInterface, "PropertiesChanged", "sa{sv}as", o, &cfg)
	if err != nil {
		return nil, err
	}
	return subscribeDecoded(ctx, o.conn, mr, cfg.buffer, &propertyChangedInfo, p.decodeChanged)
}

// decodeChanged reads a PropertiesChanged signal of p's interface.
func (p *Properties[T]) decodeChanged(m *wire.Message) (*PropertiesChanged[T], bool) {
	if m.Signature != "sa{sv}as" {
		return nil, false
	}
	var d wire.Decoder
	d.Reset(m.Body, m.Order)
	if d.String() != p.Interface {
		return nil, false
	}
	pc := &PropertiesChanged[T]{Values: new(T)}
	p.decodeValues(&d, pc.Values, func(name string) { pc.Changed = append(pc.Changed, name) })
	for end := d.BeginArray(4); d.More(end); {
		pc.Invalidated = append(pc.Invalidated, d.String())
	}
	return pc, d.Done() == nil
}
