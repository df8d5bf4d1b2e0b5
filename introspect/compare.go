package introspect

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/kdbus-go/kdbus/wire"
)

// Annotations that Compare reads, as protoc-gen-kdbus writes them.
const (
	// AnnotationFields lists the proto field numbers of the members of each struct in an
	// argument's or property's type: one group per struct in the order of their opening
	// parentheses, groups separated by ";", numbers by ","; a oneof's (sv) is an empty group.
	AnnotationFields = "org.kdbusgo.Fields"
	// AnnotationStream, with the value "server", "client" or "bidi", marks a stream's opening
	// call; AnnotationStream+".In" and ".Out" give its frames' signatures, and those plus
	// ".Fields" their field numbers (the first group being the frame message's own fields).
	AnnotationStream = "org.kdbusgo.Stream"
)

// Change is one difference between two versions of an interface, as Compare finds it.
type Change struct {
	// Breaking says peers built from the two versions cannot work together: an older peer
	// would fail, or would misread what a newer one sends.
	Breaking bool
	// Interface and Member locate the change; Member is "" for the interface itself, and is
	// a method, signal or property name otherwise.
	Interface, Member string
	// What describes the change.
	What string
}

// String describes the change on one line, starting with "breaking" or "safe".
func (c Change) String() string {
	kind := "safe"
	if c.Breaking {
		kind = "breaking"
	}
	where := c.Interface
	if c.Member != "" {
		where += "." + c.Member
	}
	return fmt.Sprintf("%s: %s: %s", kind, where, c.What)
}

// Compare compares two introspection documents, an older and a newer version of the same
// objects' interfaces, and returns the changes between them, breaking or safe, in the order
// of the older document (additions last). The standard org.freedesktop.DBus interfaces are
// not compared.
//
// Evolving an interface by the rules of protocol buffers is safe: adding methods, signals,
// properties and interfaces, and appending arguments, or members to the structs of message
// types, as long as each side can read the other's values (see wire.Evolve). Breaking are:
// removing or renaming an interface, method, signal, property or argument; an argument at a
// position another had (top-level arguments are compared by position, type and name, so a
// renamed argument is reported as breaking: it cannot be told from one inserted); a type that
// is not an evolution of the older one; a struct member whose proto field number differs from
// the older one's (a field inserted or renumbered; AnnotationFields gives the numbers); a
// property that loses read or write access, or announces its changes less than before;
// changing whether a method expects a reply; and changing a method's stream kind or frames
// incompatibly.
func Compare(older, newer []byte) ([]Change, error) {
	o, err := ParseString(string(older))
	if err != nil {
		return nil, fmt.Errorf("the older document: %w", err)
	}
	n, err := ParseString(string(newer))
	if err != nil {
		return nil, fmt.Errorf("the newer document: %w", err)
	}
	var c comparer
	c.nodes(o, n)
	return c.changes, nil
}

type comparer struct {
	changes []Change
	iface   string
	member  string
}

func (c *comparer) add(breaking bool, format string, args ...any) {
	c.changes = append(c.changes, Change{Breaking: breaking, Interface: c.iface, Member: c.member, What: fmt.Sprintf(format, args...)})
}

func standard(name string) bool { return strings.HasPrefix(name, "org.freedesktop.DBus.") }

func (c *comparer) nodes(o, n *Node) {
	for i := range o.Interfaces {
		oi := &o.Interfaces[i]
		if standard(oi.Name) {
			continue
		}
		c.iface, c.member = oi.Name, ""
		ni := n.Interface(oi.Name)
		if ni == nil {
			c.add(true, "the interface was removed (or renamed)")
			continue
		}
		c.interfaces(oi, ni)
	}
	for i := range n.Interfaces {
		ni := &n.Interfaces[i]
		if !standard(ni.Name) && o.Interface(ni.Name) == nil {
			c.iface, c.member = ni.Name, ""
			c.add(false, "the interface was added")
		}
	}
	for i := range o.Children {
		oc := &o.Children[i]
		for j := range n.Children {
			if n.Children[j].Name == oc.Name {
				c.nodes(oc, &n.Children[j])
			}
		}
	}
}

func (c *comparer) interfaces(o, n *Interface) {
	for _, om := range o.Methods {
		c.member = om.Name
		i := slices.IndexFunc(n.Methods, func(m Method) bool { return m.Name == om.Name })
		if i < 0 {
			c.add(true, "the method was removed (or renamed)")
			continue
		}
		c.methods(&om, &n.Methods[i])
	}
	for _, nm := range n.Methods {
		if !slices.ContainsFunc(o.Methods, func(m Method) bool { return m.Name == nm.Name }) {
			c.member = nm.Name
			c.add(false, "the method was added")
		}
	}
	for _, os := range o.Signals {
		c.member = os.Name
		i := slices.IndexFunc(n.Signals, func(s Signal) bool { return s.Name == os.Name })
		if i < 0 {
			c.add(true, "the signal was removed (or renamed)")
			continue
		}
		c.args("argument", os.Args, n.Signals[i].Args)
	}
	for _, ns := range n.Signals {
		if !slices.ContainsFunc(o.Signals, func(s Signal) bool { return s.Name == ns.Name }) {
			c.member = ns.Name
			c.add(false, "the signal was added")
		}
	}
	for _, op := range o.Properties {
		c.member = op.Name
		i := slices.IndexFunc(n.Properties, func(p Property) bool { return p.Name == op.Name })
		if i < 0 {
			c.add(true, "the property was removed (or renamed)")
			continue
		}
		c.properties(&op, &n.Properties[i])
	}
	for _, np := range n.Properties {
		if !slices.ContainsFunc(o.Properties, func(p Property) bool { return p.Name == np.Name }) {
			c.member = np.Name
			c.add(false, "the property was added")
		}
	}
}

func annotation(as []Annotation, name string) string {
	for _, a := range as {
		if a.Name == name {
			return a.Value
		}
	}
	return ""
}

func (c *comparer) methods(o, n *Method) {
	if oa, na := annotation(o.Annotations, AnnotationNoReply) == "true", annotation(n.Annotations, AnnotationNoReply) == "true"; oa != na {
		c.add(true, "no_reply changed from %t to %t: callers and the server disagree on whether a reply comes", oa, na)
	}
	ok, nk := annotation(o.Annotations, AnnotationStream), annotation(n.Annotations, AnnotationStream)
	if ok != nk {
		c.add(true, "the stream kind changed from %s to %s", kindText(ok), kindText(nk))
		return
	}
	for _, dir := range []string{".In", ".Out"} {
		os, ns := annotation(o.Annotations, AnnotationStream+dir), annotation(n.Annotations, AnnotationStream+dir)
		if os == "" && ns == "" {
			continue
		}
		what := "client frames"
		if dir == ".Out" {
			what = "server frames"
		}
		if os == "" || ns == "" {
			c.add(true, "the %s changed from %q to %q", what, os, ns)
			continue
		}
		// A frame is its message's fields in a struct; compare it as one.
		c.value(what, "("+os+")", "("+ns+")",
			annotation(o.Annotations, AnnotationStream+dir+".Fields"), annotation(n.Annotations, AnnotationStream+dir+".Fields"))
	}
	c.args("in-argument", direction(o.Args, "in"), direction(n.Args, "in"))
	c.args("out-argument", direction(o.Args, "out"), direction(n.Args, "out"))
}

func kindText(k string) string {
	if k == "" {
		return "unary"
	}
	return k + "-streaming"
}

func direction(args []Arg, dir string) []Arg {
	var out []Arg
	for _, a := range args {
		if a.Direction == dir || a.Direction == "" && dir == "in" {
			out = append(out, a)
		}
	}
	return out
}

// args compares two argument lists, position by position.
func (c *comparer) args(what string, o, n []Arg) {
	for i := range min(len(o), len(n)) {
		oa, na := o[i], n[i]
		label := fmt.Sprintf("%s %d (%s)", what, i, oa.Name)
		if oa.Name != na.Name {
			c.add(true, "%s %d was %q and is now %q: an argument was inserted, removed or renamed", what, i, oa.Name, na.Name)
			continue
		}
		c.value(label, oa.Type, na.Type, annotation(oa.Annotations, AnnotationFields), annotation(na.Annotations, AnnotationFields))
	}
	for i := len(n); i < len(o); i++ {
		c.add(true, "%s %d (%s) was removed", what, i, o[i].Name)
	}
	for i := len(o); i < len(n); i++ {
		if !zeroable(n[i].Type) {
			c.add(true, "%s %d (%s) was appended with type %q, which holds a file descriptor that older peers cannot leave out", what, i, n[i].Name, n[i].Type)
			continue
		}
		c.add(false, "%s %d (%s) was appended", what, i, n[i].Name)
	}
}

func (c *comparer) properties(o, n *Property) {
	if lost := accessOf(o.Access) &^ accessOf(n.Access); lost != 0 {
		c.add(true, "access changed from %s to %s", o.Access, n.Access)
	} else if o.Access != n.Access {
		c.add(false, "access changed from %s to %s", o.Access, n.Access)
	}
	oe, ne := annotation(o.Annotations, AnnotationEmitsChangedSignal), annotation(n.Annotations, AnnotationEmitsChangedSignal)
	if oe == "" {
		oe = "true"
	}
	if ne == "" {
		ne = "true"
	}
	if oe != ne {
		// Announcing more is safe: false and invalidates may become true.
		c.add(oe == "true" || oe == "const" || ne == "const", "EmitsChangedSignal changed from %s to %s", oe, ne)
	}
	c.value("the property", o.Type, n.Type, annotation(o.Annotations, AnnotationFields), annotation(n.Annotations, AnnotationFields))
}

func accessOf(a string) int {
	switch a {
	case "read":
		return 1
	case "write":
		return 2
	case "readwrite":
		return 3
	}
	return 0
}

// value compares the types of one value, which must be evolutions of each other in both
// directions, and the field numbers of the structs in them (older and newer
// AnnotationFields values; either may be "", which skips the numbers).
func (c *comparer) value(label, o, n, oFields, nFields string) {
	if o != n {
		if _, err := wire.Evolve(wire.Signature(o), wire.Signature(n)); err != nil {
			c.add(true, "%s changed type from %q to %q: %v", label, o, n, reason(err))
			return
		}
		if _, err := wire.Evolve(wire.Signature(n), wire.Signature(o)); err != nil {
			c.add(true, "%s changed type from %q to %q: %v", label, o, n, reason(err))
			return
		}
	}
	og, ng := parseGroups(oFields), parseGroups(nFields)
	if og == nil || ng == nil {
		og, ng = nil, nil // numbers on one side only: compare the types alone
	}
	w := numberWalk{c: c, label: label, o: og, n: ng}
	for i, t := range splitTypes(o) { // a property's type is one; a frame's is its struct
		w.walk(t, splitTypes(n)[i])
	}
	if !w.broke && o != n {
		c.add(false, "%s changed type from %q to %q by appended members", label, o, n)
	}
}

// reason is an evolution error without the signatures, which the change names already.
func reason(err error) string {
	if ee, ok := err.(*wire.EvolutionError); ok {
		if ee.Path != "" {
			return ee.Path + ": " + ee.Reason
		}
		return ee.Reason
	}
	return err.Error()
}

// parseGroups reads an AnnotationFields value; nil when there is none or it does not parse.
func parseGroups(s string) [][]int {
	if s == "" {
		return nil
	}
	var out [][]int
	for _, g := range strings.Split(s, ";") {
		nums := []int{}
		if g != "" {
			for _, f := range strings.Split(g, ",") {
				n, err := strconv.Atoi(f)
				if err != nil {
					return nil
				}
				nums = append(nums, n)
			}
		}
		out = append(out, nums)
	}
	return out
}

// numberWalk compares the field numbers of the structs of two types that are evolutions of
// each other, walking them side by side and taking each struct's group from o and n in
// signature order.
type numberWalk struct {
	c        *comparer
	label    string
	o, n     [][]int
	oi, ni   int
	broke    bool
	mismatch bool // the groups do not match the signatures: stop comparing numbers
}

func (w *numberWalk) next(groups [][]int, i *int) []int {
	if groups == nil {
		return nil // no numbers known
	}
	if *i >= len(groups) {
		w.mismatch = true
		return nil
	}
	g := groups[*i]
	*i++
	return g
}

// skip consumes the groups of the structs of type t.
func skipGroups(t string, i *int) { *i += strings.Count(t, "(") }

func (w *numberWalk) walk(o, n string) {
	if w.mismatch || w.broke {
		return
	}
	switch {
	case o[0] == wire.TypeArray && n[0] == wire.TypeArray:
		w.walk(o[1:], n[1:])
	case o[0] == '{' && n[0] == '{':
		w.walk(o[2:len(o)-1], n[2:len(n)-1])
	case o[0] == '(' && n[0] == '(':
		og, ng := w.next(w.o, &w.oi), w.next(w.n, &w.ni)
		om, nm := splitTypes(o[1:len(o)-1]), splitTypes(n[1:len(n)-1])
		if w.mismatch {
			return
		}
		if len(og) != 0 && len(og) != len(om) || len(ng) != 0 && len(ng) != len(nm) {
			w.mismatch = true
			return
		}
		for i := range min(len(om), len(nm)) {
			if len(og) != 0 && len(ng) != 0 && og[i] != ng[i] {
				w.c.add(true, "%s: member %d of the struct %q is field %d, was field %d: a field was inserted, removed or renumbered", w.label, i, n, ng[i], og[i])
				w.broke = true
				return
			}
			w.walk(om[i], nm[i])
		}
		if len(om) > len(nm) {
			w.c.add(true, "%s: the struct %q lost its members from %d on: a field was removed (reserve its number and keep it instead)", w.label, o, len(nm))
			w.broke = true
			return
		}
		for _, t := range nm[min(len(om), len(nm)):] {
			skipGroups(t, &w.ni)
		}
	}
}

// splitTypes splits a valid signature into its complete types.
func splitTypes(s string) []string {
	var out []string
	for s != "" {
		n := wire.TypeLen(s)
		out = append(out, s[:n])
		s = s[n:]
	}
	return out
}

// zeroable reports whether a value of type t can be left out by an older peer: whether it
// holds no file descriptor outside an array.
func zeroable(t string) bool {
	_, err := wire.Evolve("", wire.Signature(t))
	return err == nil
}
