// Package introspect models D-Bus introspection data: it writes the XML that
// org.freedesktop.DBus.Introspectable.Introspect returns, and parses it back.
//
// Writing is deterministic: the same model always gives the same bytes, so that the XML a code
// generator writes to a file and the XML a running service serves can be compared byte for byte.
package introspect

import (
	"encoding/xml"
	"fmt"
	"io"
	"strings"
)

// DocType is the document type line that opens every introspection document.
const DocType = `<!DOCTYPE node PUBLIC "-//freedesktop//DTD D-BUS Object Introspection 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/introspect.dtd">`

// Standard annotation names.
const (
	AnnotationDeprecated         = "org.freedesktop.DBus.Deprecated"
	AnnotationNoReply            = "org.freedesktop.DBus.Method.NoReply"
	AnnotationEmitsChangedSignal = "org.freedesktop.DBus.Property.EmitsChangedSignal"
	// AnnotationDocString carries documentation, as gdbus-codegen reads it.
	AnnotationDocString = "org.gtk.GDBus.DocString"
)

// Annotation is a name/value pair of metadata.
type Annotation struct {
	Name  string `xml:"name,attr"`
	Value string `xml:"value,attr"`
}

// Arg is an argument of a method or signal.
type Arg struct {
	Name        string       `xml:"name,attr,omitempty"`
	Type        string       `xml:"type,attr"`
	Direction   string       `xml:"direction,attr,omitempty"` // "in" or "out"; empty for signals
	Annotations []Annotation `xml:"annotation"`
}

// Method is a method of an interface.
type Method struct {
	Name        string       `xml:"name,attr"`
	Args        []Arg        `xml:"arg"`
	Annotations []Annotation `xml:"annotation"`
}

// Signal is a signal of an interface.
type Signal struct {
	Name        string       `xml:"name,attr"`
	Args        []Arg        `xml:"arg"`
	Annotations []Annotation `xml:"annotation"`
}

// Property is a property of an interface.
type Property struct {
	Name        string       `xml:"name,attr"`
	Type        string       `xml:"type,attr"`
	Access      string       `xml:"access,attr"` // "read", "write" or "readwrite"
	Annotations []Annotation `xml:"annotation"`
}

// Interface is an interface an object implements.
type Interface struct {
	Name        string       `xml:"name,attr"`
	Methods     []Method     `xml:"method"`
	Signals     []Signal     `xml:"signal"`
	Properties  []Property   `xml:"property"`
	Annotations []Annotation `xml:"annotation"`
}

// Node is an object: its interfaces and its children.
type Node struct {
	Name       string      `xml:"name,attr,omitempty"`
	Interfaces []Interface `xml:"interface"`
	Children   []Node      `xml:"node"`
}

// Standard interfaces that every object served by the runtime implements.
var (
	Peer = Interface{Name: "org.freedesktop.DBus.Peer", Methods: []Method{
		{Name: "Ping"},
		{Name: "GetMachineId", Args: []Arg{{Name: "machine_uuid", Type: "s", Direction: "out"}}},
	}}
	Introspectable = Interface{Name: "org.freedesktop.DBus.Introspectable", Methods: []Method{
		{Name: "Introspect", Args: []Arg{{Name: "xml_data", Type: "s", Direction: "out"}}},
	}}
	Properties = Interface{
		Name: "org.freedesktop.DBus.Properties",
		Methods: []Method{
			{Name: "Get", Args: []Arg{
				{Name: "interface_name", Type: "s", Direction: "in"},
				{Name: "property_name", Type: "s", Direction: "in"},
				{Name: "value", Type: "v", Direction: "out"},
			}},
			{Name: "GetAll", Args: []Arg{
				{Name: "interface_name", Type: "s", Direction: "in"},
				{Name: "props", Type: "a{sv}", Direction: "out"},
			}},
			{Name: "Set", Args: []Arg{
				{Name: "interface_name", Type: "s", Direction: "in"},
				{Name: "property_name", Type: "s", Direction: "in"},
				{Name: "value", Type: "v", Direction: "in"},
			}},
		},
		Signals: []Signal{{Name: "PropertiesChanged", Args: []Arg{
			{Name: "interface_name", Type: "s"},
			{Name: "changed_properties", Type: "a{sv}"},
			{Name: "invalidated_properties", Type: "as"},
		}}},
	}
)

// StandardXML is the XML of the standard interfaces, as Document writes them.
var StandardXML = Peer.XML() + Introspectable.XML() + Properties.XML()

// Document writes the introspection document of an object that implements the standard
// interfaces plus the interfaces whose XML (from Interface.XML) is given, and has the named
// children (single path elements), in the order given.
func Document(interfaces []string, children []string) string {
	var b strings.Builder
	b.WriteString(DocType)
	b.WriteString("\n<node>\n")
	b.WriteString(StandardXML)
	for _, x := range interfaces {
		b.WriteString(x)
	}
	for _, c := range children {
		fmt.Fprintf(&b, " <node name=\"%s\"/>\n", escape(c))
	}
	b.WriteString("</node>\n")
	return b.String()
}

// XML writes the interface element, indented by one space per level, ending in a newline.
func (i *Interface) XML() string {
	var b strings.Builder
	fmt.Fprintf(&b, " <interface name=\"%s\">\n", escape(i.Name))
	for _, m := range i.Methods {
		writeMember(&b, "method", m.Name, m.Args, m.Annotations)
	}
	for _, s := range i.Signals {
		writeMember(&b, "signal", s.Name, s.Args, s.Annotations)
	}
	for _, p := range i.Properties {
		fmt.Fprintf(&b, "  <property name=\"%s\" type=\"%s\" access=\"%s\"", escape(p.Name), escape(p.Type), escape(p.Access))
		writeAnnotated(&b, "property", p.Annotations, "  ")
	}
	writeAnnotations(&b, i.Annotations, "  ")
	b.WriteString(" </interface>\n")
	return b.String()
}

func writeMember(b *strings.Builder, tag, name string, args []Arg, annotations []Annotation) {
	if len(args) == 0 && len(annotations) == 0 {
		fmt.Fprintf(b, "  <%s name=\"%s\"/>\n", tag, escape(name))
		return
	}
	fmt.Fprintf(b, "  <%s name=\"%s\">\n", tag, escape(name))
	for _, a := range args {
		b.WriteString("   <arg")
		if a.Name != "" {
			fmt.Fprintf(b, " name=\"%s\"", escape(a.Name))
		}
		fmt.Fprintf(b, " type=\"%s\"", escape(a.Type))
		if a.Direction != "" {
			fmt.Fprintf(b, " direction=\"%s\"", escape(a.Direction))
		}
		writeAnnotated(b, "arg", a.Annotations, "   ")
	}
	writeAnnotations(b, annotations, "   ")
	fmt.Fprintf(b, "  </%s>\n", tag)
}

// writeAnnotated closes an opened element: empty when it has no annotations.
func writeAnnotated(b *strings.Builder, tag string, annotations []Annotation, indent string) {
	if len(annotations) == 0 {
		b.WriteString("/>\n")
		return
	}
	b.WriteString(">\n")
	writeAnnotations(b, annotations, indent+" ")
	fmt.Fprintf(b, "%s</%s>\n", indent, tag)
}

func writeAnnotations(b *strings.Builder, annotations []Annotation, indent string) {
	for _, a := range annotations {
		fmt.Fprintf(b, "%s<annotation name=\"%s\" value=\"%s\"/>\n", indent, escape(a.Name), escape(a.Value))
	}
}

func escape(s string) string {
	var b strings.Builder
	xml.EscapeText(&b, []byte(s)) // quotes and newlines too, so values are safe in attributes
	return b.String()
}

// MaxDocumentSize bounds the documents Parse accepts.
const MaxDocumentSize = 16 << 20

// Parse reads an introspection document of at most MaxDocumentSize bytes.
func Parse(r io.Reader) (*Node, error) { return parse(r, MaxDocumentSize) }

func parse(r io.Reader, limit int64) (*Node, error) {
	d := xml.NewDecoder(io.LimitReader(r, limit+1))
	d.Strict = true
	var n Node
	if err := d.Decode(&n); err != nil {
		return nil, fmt.Errorf("parsing D-Bus introspection XML: %w", err)
	}
	return &n, nil
}

// ParseString is Parse on a string.
func ParseString(s string) (*Node, error) { return Parse(strings.NewReader(s)) }

// Interface returns the named interface of n, or nil.
func (n *Node) Interface(name string) *Interface {
	for i := range n.Interfaces {
		if n.Interfaces[i].Name == name {
			return &n.Interfaces[i]
		}
	}
	return nil
}
