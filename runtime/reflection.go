package runtime

import (
	"maps"
	"slices"
	"sync"

	"github.com/kdbus-go/kdbus/introspect"
	"github.com/kdbus-go/kdbus/wire"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// ReflectionInterface is the interface every object that serves a generated service answers
// with the proto descriptors of its services, for tools that call services without generated
// code.
//
// Its one method, GetDescriptors, takes no arguments and returns "aya{ss}": a serialized
// google.protobuf.FileDescriptorSet that holds the .proto files declaring the object's services
// and every file they import, imports before the files that import them; and, for each D-Bus
// interface served at the object with a descriptor, the full name of its proto service. It only
// reads, and changes nothing.
const ReflectionInterface = "org.kdbusgo.Reflection1"

// ReflectionGetDescriptors is the member name of ReflectionInterface's method.
const ReflectionGetDescriptors = "GetDescriptors"

// ReflectionXML is the introspection element of ReflectionInterface, which the document of an
// object that serves it lists before the object's own interfaces.
var ReflectionXML = (&introspect.Interface{
	Name: ReflectionInterface,
	Methods: []introspect.Method{{
		Name: ReflectionGetDescriptors,
		Args: []introspect.Arg{
			{Name: "file_descriptor_set", Type: "ay", Direction: "out",
				Annotations: []introspect.Annotation{{Name: "org.kdbusgo.Proto", Value: "google.protobuf.FileDescriptorSet"}}},
			{Name: "services", Type: "a{ss}", Direction: "out"},
		},
	}},
}).XML()

// fileEntry is one file of a FileDescriptorSet, encoded as the set's field 1.
type fileEntry struct {
	path  string
	entry []byte
}

// descEntries caches, per *ServiceDesc, the encoded files it serves: its file and the files
// that file imports, transitively, imports first. Each is made once per process.
var descEntries sync.Map // *ServiceDesc -> []fileEntry

// fileEntries caches the encoded entry of each file descriptor, shared by the services of a file
// and by the files that import it.
var fileEntries sync.Map // protoreflect.FileDescriptor -> []byte

// descriptorFiles returns the encoded files that desc serves, or nil when it has no descriptor.
func (d *ServiceDesc) descriptorFiles() []fileEntry {
	if d.ProtoFile == nil || *d.ProtoFile == nil {
		return nil
	}
	if v, ok := descEntries.Load(d); ok {
		return v.([]fileEntry)
	}
	var out []fileEntry
	seen := map[string]bool{}
	var add func(fd protoreflect.FileDescriptor)
	add = func(fd protoreflect.FileDescriptor) {
		if seen[fd.Path()] {
			return
		}
		seen[fd.Path()] = true
		imports := fd.Imports()
		for i := range imports.Len() {
			add(imports.Get(i).FileDescriptor)
		}
		out = append(out, fileEntry{path: fd.Path(), entry: encodedFile(fd)})
	}
	add(*d.ProtoFile)
	v, _ := descEntries.LoadOrStore(d, out)
	return v.([]fileEntry)
}

// encodedFile returns fd as field 1 of a FileDescriptorSet.
func encodedFile(fd protoreflect.FileDescriptor) []byte {
	if v, ok := fileEntries.Load(fd); ok {
		return v.([]byte)
	}
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(protodesc.ToFileDescriptorProto(fd))
	if err != nil {
		// A descriptor that protobuf itself built always marshals.
		panic("runtime: marshalling the descriptor of " + fd.Path() + ": " + err.Error())
	}
	entry := protowire.AppendTag(nil, 1, protowire.BytesType)
	entry = protowire.AppendBytes(entry, b)
	v, _ := fileEntries.LoadOrStore(fd, entry)
	return v.([]byte)
}

// servesDescriptors reports whether any of the services has a descriptor.
func servesDescriptors(services []*service) bool {
	return slices.ContainsFunc(services, func(s *service) bool {
		return s.desc.ProtoFile != nil && *s.desc.ProtoFile != nil
	})
}

// handleReflection answers ReflectionInterface at the message's path.
func (c *Conn) handleReflection(m *wire.Message, e *wire.Encoder) (wire.Signature, error) {
	c.mu.Lock()
	var services []*service
	if obj := c.objects[m.Path]; obj != nil {
		services = slices.Clone(obj.services)
	}
	c.mu.Unlock()
	if !servesDescriptors(services) {
		return "", Errorf(Unimplemented, "object %s does not implement interface %s: it serves no service with proto descriptors", m.Path, ReflectionInterface).withName(ErrorUnknownInterface)
	}
	if m.Member != ReflectionGetDescriptors || m.Signature != "" {
		return "", unknownMethod(m)
	}
	var set []byte
	seen := map[string]bool{}
	for _, s := range services {
		for _, f := range s.desc.descriptorFiles() {
			if !seen[f.path] {
				seen[f.path] = true
				set = append(set, f.entry...)
			}
		}
	}
	e.ByteArray(set)
	names := map[string]string{}
	for _, s := range services {
		if s.desc.ProtoService != "" && s.desc.descriptorFiles() != nil {
			names[s.desc.Interface] = s.desc.ProtoService
		}
	}
	a := e.BeginArray(8)
	for _, iface := range slices.Sorted(maps.Keys(names)) {
		e.BeginStruct()
		e.String(iface)
		e.String(names[iface])
	}
	e.EndArray(a)
	return "aya{ss}", nil
}
