package introspect

import (
	"reflect"
	"strings"
	"testing"
)

var sample = Interface{
	Name: "org.example.Sample",
	Methods: []Method{
		{Name: "Frob", Args: []Arg{
			{Name: "in", Type: "a{sv}", Direction: "in"},
			{Name: "color", Type: "i", Direction: "out", Annotations: []Annotation{{Name: "org.kdbusgo.Enum", Value: "example.Color"}}},
		}, Annotations: []Annotation{{Name: AnnotationDocString, Value: "Frobs <things> & \"stuff\".\nTwice."}}},
		{Name: "Ping"},
	},
	Signals:     []Signal{{Name: "Changed", Args: []Arg{{Name: "v", Type: "v"}}}},
	Properties:  []Property{{Name: "Speed", Type: "d", Access: "read", Annotations: []Annotation{{Name: AnnotationEmitsChangedSignal, Value: "true"}}}},
	Annotations: []Annotation{{Name: AnnotationDeprecated, Value: "true"}},
}

func TestXMLRoundTrip(t *testing.T) {
	doc := Document([]string{sample.XML()}, []string{"child", "other"})
	n, err := ParseString(doc)
	if err != nil {
		t.Fatal(err)
	}
	if len(n.Interfaces) != 4 || n.Interfaces[0].Name != Peer.Name || n.Interfaces[3].Name != sample.Name {
		t.Fatalf("interfaces: %+v", n.Interfaces)
	}
	if got := n.Interface(sample.Name); !reflect.DeepEqual(*got, sample) {
		t.Fatalf("round trip changed the interface:\n got %+v\nwant %+v", *got, sample)
	}
	if len(n.Children) != 2 || n.Children[0].Name != "child" || n.Children[1].Name != "other" {
		t.Fatalf("children: %+v", n.Children)
	}
	if Document([]string{sample.XML()}, []string{"child", "other"}) != doc {
		t.Fatal("Document is not deterministic")
	}
}

func TestXMLShape(t *testing.T) {
	got := (&Interface{Name: "a.B", Methods: []Method{{Name: "M", Args: []Arg{{Name: "x", Type: "s", Direction: "in"}}}}}).XML()
	want := ` <interface name="a.B">
  <method name="M">
   <arg name="x" type="s" direction="in"/>
  </method>
 </interface>
`
	if got != want {
		t.Fatalf("got:\n%s\nwant:\n%s", got, want)
	}
	if !strings.HasPrefix(Document(nil, nil), DocType+"\n<node>\n") {
		t.Fatal("document does not start with the doctype and <node>")
	}
}

func TestParseRejectsGarbage(t *testing.T) {
	for _, s := range []string{"", "<node>", "<node><interface name='x'></node>", "not xml at all", "<node></nope>"} {
		if _, err := ParseString(s); err == nil {
			t.Errorf("Parse(%q) succeeded", s)
		}
	}
	huge := "<node>" + strings.Repeat("<node/>", 1000) + "</node>"
	if _, err := parse(strings.NewReader(huge), 4096); err == nil {
		t.Error("a document over the size limit was accepted")
	}
}

// FuzzParse checks that Parse never panics and that what it parses writes back to XML that
// parses to the same interfaces.
func FuzzParse(f *testing.F) {
	f.Add(Document([]string{sample.XML()}, []string{"c"}))
	f.Add(`<node name="/x"><interface name="a.b"><method name="m"><arg type="s"/></method></interface></node>`)
	f.Add("<node><node><node/></node></node>")
	f.Add("<node><interface name='&lt;'><property name='p' type='v' access='readwrite'/></interface></node>")
	f.Fuzz(func(t *testing.T, s string) {
		n, err := ParseString(s)
		if err != nil {
			return
		}
		var xmls []string
		for i := range n.Interfaces {
			xmls = append(xmls, n.Interfaces[i].XML())
		}
		again, err := ParseString(Document(xmls, nil))
		if err != nil {
			t.Fatalf("re-parsing written XML: %v", err)
		}
		for i := range n.Interfaces {
			got := again.Interface(n.Interfaces[i].Name)
			if got == nil {
				t.Fatalf("interface %q lost in the round trip", n.Interfaces[i].Name)
			}
		}
	})
}
