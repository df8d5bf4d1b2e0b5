package introspect_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/kdbus-go/kdbus/introspect"
)

const fields = introspect.AnnotationFields

func arg(name, typ, dir string, fieldNums string) introspect.Arg {
	a := introspect.Arg{Name: name, Type: typ, Direction: dir}
	if fieldNums != "" {
		a.Annotations = []introspect.Annotation{{Name: fields, Value: fieldNums}}
	}
	return a
}

// base is the older version of an interface that the cases below change.
func base() introspect.Interface {
	return introspect.Interface{
		Name: "org.example.Shop",
		Methods: []introspect.Method{
			{Name: "Lookup", Args: []introspect.Arg{
				arg("id", "t", "in", ""),
				arg("name", "s", "in", ""),
				arg("item", "a(ss)", "out", "1,2"),
			}},
			{Name: "Note", Args: []introspect.Arg{arg("text", "s", "in", "")}, Annotations: []introspect.Annotation{{Name: introspect.AnnotationNoReply, Value: "true"}}},
			{Name: "Watch", Args: []introspect.Arg{arg("prefix", "s", "in", "")}, Annotations: []introspect.Annotation{
				{Name: introspect.AnnotationStream, Value: "server"},
				{Name: introspect.AnnotationStream + ".Out", Value: "s(xi)"},
				{Name: introspect.AnnotationStream + ".Out.Fields", Value: "1,2;1,2"},
			}},
		},
		Signals: []introspect.Signal{{Name: "Added", Args: []introspect.Arg{arg("id", "t", "", ""), arg("item", "(s(ts))", "", "1,3;1,2")}}},
		Properties: []introspect.Property{
			{Name: "Title", Type: "s", Access: "readwrite"},
			{Name: "Featured", Type: "a(ss)", Access: "read", Annotations: []introspect.Annotation{{Name: fields, Value: "1,2"}}},
		},
	}
}

func doc(ifaces ...introspect.Interface) []byte {
	var xs []string
	for _, i := range ifaces {
		xs = append(xs, i.XML())
	}
	return []byte(introspect.Document(xs, nil))
}

func TestCompare(t *testing.T) {
	for _, tt := range []struct {
		name     string
		change   func(i *introspect.Interface)
		breaking bool
		want     string // in the one change reported ("" for none)
	}{
		{"nothing", func(*introspect.Interface) {}, false, ""},
		{"an in-argument appended", func(i *introspect.Interface) {
			i.Methods[0].Args = slices.Insert(i.Methods[0].Args, 2, arg("locale", "s", "in", ""))
		}, false, "Lookup: in-argument 2 (locale) was appended"},
		{"an out-argument appended", func(i *introspect.Interface) {
			i.Methods[0].Args = append(i.Methods[0].Args, arg("stock", "u", "out", ""))
		}, false, "out-argument 1 (stock) was appended"},
		{"an argument of the same type inserted", func(i *introspect.Interface) {
			i.Methods[0].Args = slices.Insert(i.Methods[0].Args, 1, arg("shop", "t", "in", ""))
		}, true, `in-argument 1 was "name" and is now "shop"`},
		{"an argument's type changed", func(i *introspect.Interface) {
			i.Methods[0].Args[0].Type = "s"
		}, true, `in-argument 0 (id) changed type from "t" to "s"`},
		{"an argument holding a descriptor appended", func(i *introspect.Interface) {
			i.Methods[0].Args = slices.Insert(i.Methods[0].Args, 2, arg("blob", "h", "in", ""))
		}, true, "holds a file descriptor"},
		{"an argument removed", func(i *introspect.Interface) {
			i.Methods[0].Args = slices.Delete(i.Methods[0].Args, 1, 2)
		}, true, "in-argument 1 (name) was removed"},
		{"a nested field appended", func(i *introspect.Interface) {
			i.Methods[0].Args[2] = arg("item", "a(ssu)", "out", "1,2,3")
		}, false, `out-argument 0 (item) changed type from "a(ss)" to "a(ssu)" by appended members`},
		{"a nested field of the same type inserted", func(i *introspect.Interface) {
			i.Methods[0].Args[2] = arg("item", "a(sss)", "out", "1,3,2")
		}, true, "member 1 of the struct \"(sss)\" is field 3, was field 2"},
		{"a nested field removed", func(i *introspect.Interface) {
			i.Methods[0].Args[2] = arg("item", "a(s)", "out", "1")
		}, true, "a field was removed"},
		{"a nested field renamed (same numbers, same types)", func(*introspect.Interface) {}, false, ""},
		{"a field inserted deep in a signal's struct", func(i *introspect.Interface) {
			i.Signals[0].Args[1] = arg("item", "(s(tss))", "", "1,3;1,3,2")
		}, true, "is field 3, was field 2"},
		{"a field appended deep in a signal's struct", func(i *introspect.Interface) {
			i.Signals[0].Args[1] = arg("item", "(s(ts(y))x)", "", "1,3,4;1,2,3;1")
		}, false, "by appended members"},
		{"a method removed", func(i *introspect.Interface) { i.Methods = i.Methods[1:] }, true, "Lookup: the method was removed"},
		{"a method added", func(i *introspect.Interface) {
			i.Methods = append(i.Methods, introspect.Method{Name: "Count"})
		}, false, "Count: the method was added"},
		{"no_reply dropped", func(i *introspect.Interface) { i.Methods[1].Annotations = nil }, true, "no_reply changed from true to false"},
		{"a stream kind changed", func(i *introspect.Interface) {
			i.Methods[2].Annotations[0].Value = "bidi"
		}, true, "the stream kind changed from server-streaming to bidi-streaming"},
		{"a frame field inserted", func(i *introspect.Interface) {
			i.Methods[2].Annotations[1].Value = "ss(xi)"
			i.Methods[2].Annotations[2].Value = "1,3,2;1,2"
		}, true, "server frames"},
		{"a frame field appended", func(i *introspect.Interface) {
			i.Methods[2].Annotations[1].Value = "s(xi)b"
			i.Methods[2].Annotations[2].Value = "1,2,3;1,2"
		}, false, "server frames changed type"},
		{"a signal removed", func(i *introspect.Interface) { i.Signals = nil }, true, "Added: the signal was removed"},
		{"a property removed", func(i *introspect.Interface) { i.Properties = i.Properties[1:] }, true, "Title: the property was removed"},
		{"a property loses write access", func(i *introspect.Interface) { i.Properties[0].Access = "read" }, true, "access changed from readwrite to read"},
		{"a property gains write access", func(i *introspect.Interface) { i.Properties[1].Access = "readwrite" }, false, "access changed from read to readwrite"},
		{"a property's type changes", func(i *introspect.Interface) { i.Properties[0].Type = "u" }, true, "the property changed type"},
		{"a property's message gains a field", func(i *introspect.Interface) {
			i.Properties[1].Type = "a(ssb)"
			i.Properties[1].Annotations[0].Value = "1,2,3"
		}, false, "by appended members"},
		{"a property stops announcing its changes", func(i *introspect.Interface) {
			i.Properties[0].Annotations = []introspect.Annotation{{Name: introspect.AnnotationEmitsChangedSignal, Value: "invalidates"}}
		}, true, "EmitsChangedSignal changed from true to invalidates"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			newer := base()
			tt.change(&newer)
			changes, err := introspect.Compare(doc(base()), doc(newer))
			if err != nil {
				t.Fatal(err)
			}
			if tt.want == "" {
				if len(changes) != 0 {
					t.Fatalf("changes %v, want none", changes)
				}
				return
			}
			// An insertion shows as the argument it displaced, then that one appended.
			if len(changes) != 1 && !(len(changes) == 2 && strings.Contains(tt.name, "inserted")) {
				t.Fatalf("changes %v, want one", changes)
			}
			c := changes[0]
			if c.Breaking != tt.breaking || !strings.Contains(c.String(), tt.want) || c.Interface != "org.example.Shop" {
				t.Fatalf("change %q (breaking %t), want one that says %q (breaking %t)", c, c.Breaking, tt.want, tt.breaking)
			}
			prefix := "safe: "
			if tt.breaking {
				prefix = "breaking: "
			}
			if !strings.HasPrefix(c.String(), prefix+"org.example.Shop.") {
				t.Fatalf("change %q does not start with %q and the member", c, prefix)
			}
		})
	}
}

func TestCompareInterfaces(t *testing.T) {
	renamed := base()
	renamed.Name = "org.example.Store"
	changes, err := introspect.Compare(doc(base()), doc(renamed))
	if err != nil {
		t.Fatal(err)
	}
	if len(changes) != 2 || !changes[0].Breaking || changes[0].Interface != "org.example.Shop" || changes[1].Breaking || changes[1].Interface != "org.example.Store" {
		t.Fatalf("renaming the interface gave %v; want it removed (breaking) and added (safe)", changes)
	}
	if _, err := introspect.Compare([]byte("<node"), doc(base())); err == nil {
		t.Fatal("Compare accepted a document that is not XML")
	}
}
