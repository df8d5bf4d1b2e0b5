package generator

import (
	"strconv"
	"strings"

	"github.com/kdbus-go/kdbus/introspect"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// AnnotationFields lists, for an argument (or property, or stream frame) whose type holds
// structs, the proto field numbers of each struct's members: one group per struct, in the
// order the structs' opening parentheses appear in the signature, groups separated by ";" and
// numbers by ",". A oneof's (sv) is an empty group, a member that is a oneof has the number of
// its lowest-numbered field. Signatures alone cannot tell a field inserted between two of the
// same type from one appended; these numbers can, and introspect.Compare reads them.
const AnnotationFields = "org.kdbusgo.Fields"

// fieldsAnnotation returns the AnnotationFields annotation of n's type, and false when the
// type holds no struct of a message.
func fieldsAnnotation(n *node) (introspect.Annotation, bool) {
	var groups []string
	structGroups(n, &groups)
	return fieldsOf(groups)
}

// frameFieldsAnnotation is fieldsAnnotation for the fields of a whole message as a struct,
// as a stream frame carries them: the first group lists the message's own fields.
func frameFieldsAnnotation(in *info) (introspect.Annotation, bool) {
	groups := []string{unitNumbers(in.units)}
	for _, u := range in.units {
		structGroups(u.n, &groups)
	}
	return fieldsOf(groups)
}

func fieldsOf(groups []string) (introspect.Annotation, bool) {
	for _, g := range groups {
		if g != "" {
			return introspect.Annotation{Name: AnnotationFields, Value: strings.Join(groups, ";")}, true
		}
	}
	return introspect.Annotation{}, false
}

// structGroups appends the field numbers of every struct in n's type, in signature order.
func structGroups(n *node, groups *[]string) {
	switch n.kind {
	case kStruct:
		*groups = append(*groups, unitNumbers(n.msg.units))
		for _, u := range n.msg.units {
			structGroups(u.n, groups)
		}
	case kUnwrap:
		for _, u := range n.msg.units {
			structGroups(u.n, groups)
		}
	case kOneof:
		*groups = append(*groups, "")
	case kWKT:
		// Timestamp, Duration, Any and ObjectRef are structs of their fields 1 and 2.
		for range strings.Count(n.wkt.sig, "(") {
			*groups = append(*groups, "1,2")
		}
	case kOptional, kList:
		structGroups(n.elem, groups)
	case kMap:
		structGroups(n.key, groups)
		structGroups(n.elem, groups)
	}
}

// unitNumbers lists the field numbers of units: a oneof's is its lowest-numbered field's.
func unitNumbers(units []*unit) string {
	nums := make([]string, len(units))
	for i, u := range units {
		var num protoreflect.FieldNumber
		if u.n.kind == kOneof {
			for _, f := range u.n.oneof.Fields {
				if num == 0 || f.Desc.Number() < num {
					num = f.Desc.Number()
				}
			}
		} else {
			num = u.n.field.Desc.Number()
		}
		nums[i] = strconv.Itoa(int(num))
	}
	return strings.Join(nums, ",")
}

// appendFrameFields appends the field numbers of a stream's frames, c's message, as the
// annotation "<stream>.Fields" (org.kdbusgo.Stream.In.Fields or ….Out.Fields).
func appendFrameFields(as []introspect.Annotation, stream string, c *topCodec) []introspect.Annotation {
	if c.info == nil || len(c.info.units) == 0 {
		return as
	}
	f, ok := frameFieldsAnnotation(c.info)
	if !ok {
		return as
	}
	f.Name = stream + ".Fields"
	return append(as, f)
}
