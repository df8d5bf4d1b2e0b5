package generator

import (
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"

	"google.golang.org/protobuf/compiler/protogen"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// Generated Go identifiers share their package with protoc-gen-go's output, and with the
// output of other .proto files of the same Go package. The namer hands out identifiers in a
// fixed order and resolves every clash the same way: a name that is already taken gets
// underscores appended until it is free. So a message named GreeterClient leaves the client
// interface of service Greeter named GreeterClient_.

// namer allocates the identifiers of one Go package.
type namer struct {
	taken    map[string]bool
	prefixes []string // names starting with one of these belong to protoc-gen-go
}

func (n *namer) isTaken(s string) bool {
	if n.taken[s] {
		return true
	}
	for _, p := range n.prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

// alloc returns want, or want with underscores appended, whichever is free first, and takes it.
func (n *namer) alloc(want string) string {
	for n.isTaken(want) {
		want += "_"
	}
	n.taken[want] = true
	return want
}

// reserveProtocGenGo takes every package-level identifier that protoc-gen-go declares for f.
func (n *namer) reserveProtocGenGo(f *protogen.File) {
	n.taken[f.GoDescriptorIdent.GoName] = true
	// Unexported variables and functions: file_<path>_rawDesc and the like.
	n.prefixes = append(n.prefixes, "f"+strings.TrimPrefix(f.GoDescriptorIdent.GoName, "F")+"_")
	for _, e := range f.Enums {
		n.reserveEnum(e)
	}
	for _, x := range f.Extensions {
		n.taken["E_"+x.GoIdent.GoName] = true
	}
	for _, m := range f.Messages {
		n.reserveMessage(m)
	}
}

func (n *namer) reserveEnum(e *protogen.Enum) {
	n.taken[e.GoIdent.GoName] = true
	n.taken[e.GoIdent.GoName+"_name"] = true
	n.taken[e.GoIdent.GoName+"_value"] = true
	for _, v := range e.Values {
		n.taken[v.GoIdent.GoName] = true
		if v.PrefixedAlias.GoName != "" {
			n.taken[v.PrefixedAlias.GoName] = true
		}
	}
}

func (n *namer) reserveMessage(m *protogen.Message) {
	n.taken[m.GoIdent.GoName] = true
	for _, f := range m.Fields {
		n.taken["Default_"+m.GoIdent.GoName+"_"+f.GoName] = true
		if od := f.Desc.ContainingOneof(); od != nil && !od.IsSynthetic() {
			n.taken[f.GoIdent.GoName] = true
		}
	}
	for _, o := range m.Oneofs {
		n.taken["is"+o.GoIdent.GoName] = true
	}
	for _, e := range m.Enums {
		n.reserveEnum(e)
	}
	for _, x := range m.Extensions {
		n.taken["E_"+x.GoIdent.GoName] = true
	}
	for _, c := range m.Messages {
		n.reserveMessage(c)
	}
}

// serviceNames are the identifiers generated for one service.
type serviceNames struct {
	iface, path, bus, xml, desc                 string
	client, newClient, server, unimpl, register string
	clientImpl                                  string
	members, vars                               map[*protogen.Method]string
	errConsts, errVars                          map[string]string

	// Signals: the emitter type and its constructor, and per signal message its member
	// constant, its SignalType variable and its argument filters (by field).
	emitter, newEmitter       string
	sigConsts, sigVars        map[*protogen.Message]string
	filters                   map[*protogen.Message]map[*protogen.Field]string
	props, newProps, propsVar string
	propConsts                map[*protogen.Field]string

	// export is the ExportFooServer function, unsafe the UnsafeFooServer interface; consts
	// name the service's constants.
	export, unsafe string
	consts         map[string]string
}

// serviceDecls are what a service declares beyond its methods, as far as naming needs.
type serviceDecls struct {
	errors  []string
	signals []*protogen.Message // resolved signal messages, in declaration order, each once
	props   *protogen.Message   // the properties message, or nil
	// filterable returns the fields of a signal message that get an argument filter.
	filterable func(*protogen.Message) []*protogen.Field
	// propFields returns the fields of the properties message that are properties, and
	// propertyName their D-Bus names.
	propFields   func(*protogen.Message) []*protogen.Field
	propertyName func(*protogen.Field) string
}

// unexport lowers the first letter of a Go name.
func unexport(s string) string {
	r, size := utf8.DecodeRuneInString(s)
	return string(unicode.ToLower(r)) + s[size:]
}

// allocService takes the identifiers of service s. The order is fixed, so the result depends
// only on the descriptors and on what was taken before.
func (n *namer) allocService(s *protogen.Service, decls serviceDecls) *serviceNames {
	errNames := decls.errors
	g := s.GoName
	sn := &serviceNames{
		iface:     n.alloc(g + "_Interface"),
		path:      n.alloc(g + "_ObjectPath"),
		bus:       n.alloc(g + "_BusName"),
		xml:       n.alloc(g + "_IntrospectXML"),
		desc:      n.alloc(g + "_ServiceDesc"),
		client:    n.alloc(g + "Client"),
		newClient: n.alloc("New" + g + "Client"),
		server:    n.alloc(g + "Server"),
		unimpl:    n.alloc("Unimplemented" + g + "Server"),
		register:  n.alloc("Register" + g + "Server"),
		members:   map[*protogen.Method]string{},
		vars:      map[*protogen.Method]string{},
		errConsts: map[string]string{},
		errVars:   map[string]string{},
	}
	for _, m := range s.Methods {
		sn.members[m] = n.alloc(g + "_" + m.GoName + "_Member")
	}
	for _, e := range errNames {
		if !isGoIdentPart(e) || sn.errConsts[e] != "" {
			continue
		}
		sn.errConsts[e] = n.alloc(g + "_Error_" + e)
		sn.errVars[e] = n.alloc("Err" + g + e)
	}
	sn.clientImpl = n.alloc(unexport(g) + "Client")
	for _, m := range s.Methods {
		sn.vars[m] = n.alloc(unexport(g) + "_" + m.GoName)
	}
	if len(decls.signals) > 0 {
		sn.emitter = n.alloc(g + "Emitter")
		sn.newEmitter = n.alloc("New" + g + "Emitter")
		sn.sigConsts = map[*protogen.Message]string{}
		sn.sigVars = map[*protogen.Message]string{}
		sn.filters = map[*protogen.Message]map[*protogen.Field]string{}
		for _, m := range decls.signals {
			name := string(m.Desc.Name())
			sn.sigConsts[m] = n.alloc(g + "_" + name + "_Signal")
			sn.sigVars[m] = n.alloc(unexport(g) + "_signal_" + name)
			fs := map[*protogen.Field]string{}
			for _, f := range decls.filterable(m) {
				fs[f] = n.alloc("Match" + name + f.GoName)
			}
			sn.filters[m] = fs
		}
	}
	if decls.props != nil {
		sn.props = n.alloc(g + "PropertyStore")
		sn.newProps = n.alloc("New" + g + "PropertyStore")
		sn.propsVar = n.alloc(unexport(g) + "_Properties")
		sn.propConsts = map[*protogen.Field]string{}
		for _, f := range decls.propFields(decls.props) {
			if name := decls.propertyName(f); isGoIdentPart(name) {
				sn.propConsts[f] = n.alloc(g + "_" + name + "_Property")
			}
		}
	}
	sn.export = n.alloc("Export" + g + "Server")
	sn.unsafe = n.alloc("Unsafe" + g + "Server")
	sn.consts = map[string]string{}
	for _, c := range serviceOptions(s).GetConstants() {
		if isGoIdentPart(c.GetName()) && sn.consts[c.GetName()] == "" {
			sn.consts[c.GetName()] = n.alloc(g + "_" + c.GetName())
		}
	}
	return sn
}

// isGoIdentPart reports whether s is made of ASCII letters, digits and underscores and does not
// start with a digit: what a D-Bus name element allows, and what may follow a Go identifier's
// prefix.
func isGoIdentPart(s string) bool {
	if s == "" || s[0] >= '0' && s[0] <= '9' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// sanitize turns a file stem into identifier characters.
func sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		if r < utf8.RuneSelf && (unicode.IsLetter(r) || unicode.IsDigit(r)) {
			return r
		}
		return '_'
	}, s)
}

// packageNamers builds, for every Go package with generated code, a namer that knows
// protoc-gen-go's identifiers of all the package's files in this run and the service
// identifiers of all of them, allocated file by file in path order. So the names of a file's
// services do not depend on which other files of its package are being generated.
//
// The identifiers of message constants and constructors come after those of every service of
// the package, so that adding them did not rename anything.
func packageNamers(gen *protogen.Plugin, declsOf func(*protogen.Service) serviceDecls) (map[protogen.GoImportPath]*namer, map[*protogen.Service]*serviceNames, map[*protogen.Message]*messageNames) {
	byPkg := map[protogen.GoImportPath][]*protogen.File{}
	for _, f := range gen.Files {
		byPkg[f.GoImportPath] = append(byPkg[f.GoImportPath], f)
	}
	namers := map[protogen.GoImportPath]*namer{}
	services := map[*protogen.Service]*serviceNames{}
	messages := map[*protogen.Message]*messageNames{}
	for _, f := range gen.Files {
		if !f.Generate || len(f.Services) == 0 && !fileHasExtras(f) || namers[f.GoImportPath] != nil {
			continue
		}
		files := byPkg[f.GoImportPath]
		sort.Slice(files, func(i, j int) bool { return files[i].Desc.Path() < files[j].Desc.Path() })
		n := &namer{taken: map[string]bool{}}
		for _, pf := range files {
			n.reserveProtocGenGo(pf)
		}
		for _, pf := range files {
			for _, s := range pf.Services {
				services[s] = n.allocService(s, declsOf(s))
			}
		}
		for _, pf := range files {
			walkMessages(pf.Messages, func(m *protogen.Message) {
				if hasExtras(m) {
					messages[m] = n.allocMessage(m)
				}
			})
		}
		namers[f.GoImportPath] = n
	}
	return namers, services, messages
}

// codecKey names a message inside codec identifiers: its Go name, prefixed by its Go package's
// name when it lives in another package than the generated file.
func codecKey(gen *protogen.Plugin, file *protogen.File, m *protogen.Message) string {
	if m.GoIdent.GoImportPath == file.GoImportPath {
		return m.GoIdent.GoName
	}
	if pf := gen.FilesByPath[m.Desc.ParentFile().Path()]; pf != nil {
		return string(pf.GoPackageName) + "_" + m.GoIdent.GoName
	}
	return sanitize(string(m.Desc.FullName()))
}

// qualifiedName returns a descriptor's full name without its package: Msg.field.
func qualifiedName(d protoreflect.Descriptor) string {
	pkg := string(d.ParentFile().Package())
	name := string(d.FullName())
	if pkg != "" {
		name = strings.TrimPrefix(name, pkg+".")
	}
	return name
}
