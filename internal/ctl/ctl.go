// Package ctl is kdbusctl: a command-line client for D-Bus services that speaks proto names
// and JSON. It reads the descriptors objects serve on org.kdbusgo.Reflection1 and carries
// messages by the mapping of docs/mapping.md (generator.Mapping); for interfaces without
// descriptors it takes and prints D-Bus values as JSON, by the introspected signatures.
package ctl

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/kdbus-go/kdbus/internal/generator"
	"github.com/kdbus-go/kdbus/introspect"
	kdbusv1 "github.com/kdbus-go/kdbus/proto/kdbus/v1"
	"github.com/kdbus-go/kdbus/runtime"
	"github.com/kdbus-go/kdbus/transport/address"
	"github.com/kdbus-go/kdbus/wire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"
)

// usage is the text of kdbusctl help.
const usage = `kdbusctl talks to D-Bus services by their proto names, in JSON.

Usage:
  kdbusctl [flags] <command> [flags] [arguments]

Commands:
  list                               bus names, their objects and interfaces
  describe NAME [PATH] [INTERFACE]   the proto service (or D-Bus interface) of an object
  call NAME [PATH] METHOD [JSON]     call METHOD (Member or Interface.Member) with a JSON request
  get NAME [PATH] PROPERTY           a property's value as JSON
  set NAME [PATH] PROPERTY JSON      set a property
  watch NAME                         signals as JSON lines (-path, -interface, -member, -arg0)
  monitor                            all traffic as JSON lines (BecomeMonitor)
  help                               this text

Flags of every command:
  -address ADDR   the bus address (default $DBUS_SESSION_BUS_ADDRESS)
  -system         the system bus
  -timeout D      how long a call may take (default 25s)

PATH may be left out when one object of NAME serves what is asked for. JSON requests are
protojson of the method's request message when the object serves descriptors
(org.kdbusgo.Reflection1), and a JSON array of D-Bus values by the introspected signature
otherwise. "kdbusctl <command> -h" lists a command's flags.
`

// Run runs kdbusctl with args (without the program name), writing results to stdout and
// diagnostics to stderr, and returns the exit status: 0 on success, 1 when the bus or the
// service reports an error, 2 for a bad command line.
func Run(args []string, stdout, stderr io.Writer) int {
	return RunContext(context.Background(), args, stdout, stderr)
}

// RunContext is Run with a context that ends watch and monitor.
func RunContext(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	g := &globals{}
	top := flag.NewFlagSet("kdbusctl", flag.ContinueOnError)
	top.SetOutput(stderr)
	top.Usage = func() { fmt.Fprint(stderr, usage) }
	g.add(top)
	if err := top.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	rest := top.Args()
	if len(rest) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	cmd, rest := rest[0], rest[1:]
	run := commands[cmd]
	if cmd == "help" {
		fmt.Fprint(stdout, usage)
		return 0
	}
	if run == nil {
		fmt.Fprintf(stderr, "kdbusctl: no command %q; kdbusctl help lists them\n", cmd)
		return 2
	}
	fs := flag.NewFlagSet("kdbusctl "+cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	g.add(fs)
	c := &cli{g: g, stdout: stdout, stderr: stderr, fs: fs, name: cmd}
	status := run(c, ctx, rest)
	if c.conn != nil {
		c.conn.Close()
	}
	return status
}

var commands map[string]func(c *cli, ctx context.Context, args []string) int

func init() {
	commands = map[string]func(c *cli, ctx context.Context, args []string) int{
		"list":     (*cli).list,
		"describe": (*cli).describe,
		"call":     (*cli).call,
		"get":      (*cli).get,
		"set":      (*cli).set,
		"watch":    (*cli).watch,
		"monitor":  (*cli).monitor,
	}
}

type globals struct {
	address string
	system  bool
	timeout time.Duration
}

func (g *globals) add(fs *flag.FlagSet) {
	fs.StringVar(&g.address, "address", g.address, "the bus address (default $DBUS_SESSION_BUS_ADDRESS)")
	fs.BoolVar(&g.system, "system", g.system, "connect to the system bus")
	if g.timeout == 0 {
		g.timeout = 25 * time.Second
	}
	fs.DurationVar(&g.timeout, "timeout", g.timeout, "how long a call may take")
}

// busAddress returns the address the flags select.
func (g *globals) busAddress() (string, error) {
	switch {
	case g.address != "":
		return g.address, nil
	case g.system:
		return address.SystemBusAddress(), nil
	}
	a, err := address.SessionBusAddress()
	if err != nil {
		return "", fmt.Errorf("%v; give the bus with -address or -system", err)
	}
	return a, nil
}

// cli is one run of a command.
type cli struct {
	g              *globals
	stdout, stderr io.Writer
	fs             *flag.FlagSet
	name           string
	conn           *runtime.Conn
	mappings       map[string]*objectMapping // by "name path"
}

// parse parses the command's flags and checks the number of arguments.
func (c *cli) parse(args []string, min, max int, synopsis string) ([]string, bool) {
	c.fs.Usage = func() {
		fmt.Fprintf(c.stderr, "Usage: kdbusctl %s %s\n", c.name, synopsis)
		c.fs.PrintDefaults()
	}
	// Flags may follow the arguments too.
	var pos []string
	for {
		if err := c.fs.Parse(args); err != nil {
			return nil, false
		}
		args = c.fs.Args()
		if len(args) == 0 {
			break
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
	if len(pos) < min || len(pos) > max {
		c.fs.Usage()
		return nil, false
	}
	return pos, true
}

func (c *cli) fail(format string, args ...any) int {
	fmt.Fprintf(c.stderr, "kdbusctl %s: %s\n", c.name, fmt.Sprintf(format, args...))
	return 1
}

// failErr prints err, with the code and D-Bus name of a *runtime.Error.
func (c *cli) failErr(err error) int {
	var re *runtime.Error
	if errors.As(err, &re) {
		code := re.Code
		if code == runtime.Unknown {
			code = c.declaredCode(re.Name)
		}
		fmt.Fprintf(c.stderr, "kdbusctl %s: error %s (%s): %s\n", c.name, code, re.Name, re.Message)
		return 1
	}
	return c.fail("%v", err)
}

// declaredCode returns the code a service whose descriptors were fetched declares for its error
// name (option (kdbus.v1.service) = { error { name: … code: … } }), and Unknown for a name no
// such service declares: kdbusctl has no generated code to have registered the codes.
func (c *cli) declaredCode(name string) runtime.Code {
	for _, om := range c.mappings {
		if om == nil || om.mapping == nil {
			continue
		}
		for _, sm := range om.mapping.Services() {
			opts, _ := proto.GetExtension(sm.Desc.Options(), kdbusv1.E_Service).(*kdbusv1.ServiceOptions)
			for _, se := range opts.GetError() {
				if sm.Interface+".Error."+se.GetName() == name && se.GetCode() != kdbusv1.Code_CODE_UNSPECIFIED {
					return runtime.Code(se.GetCode())
				}
			}
		}
	}
	return runtime.Unknown
}

func (c *cli) connect(ctx context.Context) error {
	if c.conn != nil {
		return nil
	}
	addr, err := c.g.busAddress()
	if err != nil {
		return err
	}
	dctx, cancel := context.WithTimeout(ctx, c.g.timeout)
	defer cancel()
	conn, err := runtime.Dial(dctx, addr)
	if err != nil {
		return fmt.Errorf("connecting to %s: %w", addr, err)
	}
	c.conn = conn
	return nil
}

// callRaw makes a method call and returns the reply's values.
func (c *cli) callRaw(ctx context.Context, dest string, path wire.ObjectPath, iface, member string, sig wire.Signature, body []byte) (*wire.Message, error) {
	cctx, cancel := context.WithTimeout(ctx, c.g.timeout)
	defer cancel()
	m, fds, err := c.conn.Call(cctx, &wire.Message{Type: wire.MethodCall, Destination: dest, Path: path, Interface: iface, Member: member, Signature: sig, Body: body}, nil)
	for _, fd := range fds {
		closeFD(fd)
	}
	return m, err
}

// checkName fails with a hint when name has no owner on the bus.
func (c *cli) checkName(ctx context.Context, name string) error {
	if name == "org.freedesktop.DBus" {
		return nil
	}
	cctx, cancel := context.WithTimeout(ctx, c.g.timeout)
	defer cancel()
	if _, err := c.conn.GetNameOwner(cctx, name); err != nil {
		return fmt.Errorf("no service %s on the bus; kdbusctl list shows the names", name)
	}
	return nil
}

func (c *cli) introspect(ctx context.Context, dest string, path wire.ObjectPath) (*introspect.Node, error) {
	m, err := c.callRaw(ctx, dest, path, runtime.IntrospectableInterface, "Introspect", "", nil)
	if err != nil {
		return nil, err
	}
	v, err := wire.Unmarshal(m.Body, m.Order, m.Signature)
	if err != nil || len(v) != 1 {
		return nil, fmt.Errorf("the introspection of %s at %s is not a string: %v", dest, path, err)
	}
	s, _ := v[0].(string)
	return introspect.ParseString(s)
}

// object is one object of a service: its path and its introspection.
type object struct {
	path wire.ObjectPath
	node *introspect.Node
}

// walk introspects dest from / down and returns every object with an interface besides the
// standard ones, in path order.
func (c *cli) walk(ctx context.Context, dest string) ([]object, error) {
	var out []object
	var visit func(path wire.ObjectPath, depth int) error
	visit = func(path wire.ObjectPath, depth int) error {
		n, err := c.introspect(ctx, dest, path)
		if err != nil {
			if depth == 0 {
				return err
			}
			return nil
		}
		if len(ownInterfaces(n)) > 0 {
			out = append(out, object{path: path, node: n})
		}
		if depth > 64 {
			return nil
		}
		for _, ch := range n.Children {
			p := string(path) + "/" + ch.Name
			if path == "/" {
				p = "/" + ch.Name
			}
			if err := visit(wire.ObjectPath(p), depth+1); err != nil {
				return err
			}
		}
		return nil
	}
	if err := visit("/", 0); err != nil {
		return nil, err
	}
	return out, nil
}

// standard reports whether iface is one of the interfaces every object has.
func standard(iface string) bool {
	switch iface {
	case runtime.IntrospectableInterface, runtime.PeerInterface, runtime.PropertiesInterface, runtime.ReflectionInterface:
		return true
	}
	return false
}

func ownInterfaces(n *introspect.Node) []string {
	var out []string
	for _, i := range n.Interfaces {
		if !standard(i.Name) {
			out = append(out, i.Name)
		}
	}
	return out
}

// objectMapping is what an object serves: its introspection and, when it serves
// descriptors, the mapping of its services and which interface is which service.
type objectMapping struct {
	node     *introspect.Node
	mapping  *generator.Mapping
	services map[string]*generator.ServiceMapping // by interface
}

// mappingAt returns what the object at path serves, fetching its descriptors once.
func (c *cli) mappingAt(ctx context.Context, dest string, path wire.ObjectPath, node *introspect.Node) (*objectMapping, error) {
	key := dest + " " + string(path)
	if om := c.mappings[key]; om != nil {
		return om, nil
	}
	if node == nil {
		var err error
		if node, err = c.introspect(ctx, dest, path); err != nil {
			return nil, err
		}
	}
	om := &objectMapping{node: node, services: map[string]*generator.ServiceMapping{}}
	if node.Interface(runtime.ReflectionInterface) != nil {
		m, err := c.callRaw(ctx, dest, path, runtime.ReflectionInterface, runtime.ReflectionGetDescriptors, "", nil)
		if err != nil {
			return nil, fmt.Errorf("reading the descriptors of %s at %s: %w", dest, path, err)
		}
		mapping, names, err := ParseDescriptors(m)
		if err != nil {
			return nil, fmt.Errorf("the descriptors of %s at %s: %w", dest, path, err)
		}
		om.mapping = mapping
		for iface, svc := range names {
			if s := mapping.ServiceByName(protoreflect.FullName(svc)); s != nil {
				om.services[iface] = s
			}
		}
	}
	if c.mappings == nil {
		c.mappings = map[string]*objectMapping{}
	}
	c.mappings[key] = om
	return om, nil
}

// ParseDescriptors reads the reply to GetDescriptors: the mapping of the files it holds and
// the proto service of each interface.
func ParseDescriptors(m *wire.Message) (*generator.Mapping, map[string]string, error) {
	if m.Signature != "aya{ss}" {
		return nil, nil, fmt.Errorf("GetDescriptors returned signature %q, want \"aya{ss}\"", m.Signature)
	}
	v, err := wire.Unmarshal(m.Body, m.Order, m.Signature)
	if err != nil {
		return nil, nil, err
	}
	set := new(descriptorpb.FileDescriptorSet)
	if err := proto.Unmarshal(v[0].([]byte), set); err != nil {
		return nil, nil, fmt.Errorf("the file descriptor set does not parse: %v", err)
	}
	mapping, err := generator.NewMapping(set.File)
	if err != nil {
		return nil, nil, err
	}
	names := map[string]string{}
	for _, e := range v[1].([]wire.DictEntry) {
		names[e.Key.(string)] = e.Value.(string)
	}
	return mapping, names, nil
}

// target is where a command goes: an object of dest and what it serves.
type target struct {
	dest string
	path wire.ObjectPath
	om   *objectMapping
}

// resolve picks the object for a command: at path when given, else the one object of dest
// for which has returns true.
func (c *cli) resolve(ctx context.Context, dest string, path string, what string, has func(*introspect.Node) bool) (*target, error) {
	if err := c.connect(ctx); err != nil {
		return nil, err
	}
	if err := c.checkName(ctx, dest); err != nil {
		return nil, err
	}
	if path != "" {
		if err := wire.ValidateObjectPath(path); err != nil {
			return nil, err
		}
		om, err := c.mappingAt(ctx, dest, wire.ObjectPath(path), nil)
		if err != nil {
			return nil, err
		}
		return &target{dest: dest, path: wire.ObjectPath(path), om: om}, nil
	}
	objs, err := c.walk(ctx, dest)
	if err != nil {
		return nil, err
	}
	var found []object
	for _, o := range objs {
		if has(o.node) {
			found = append(found, o)
		}
	}
	switch len(found) {
	case 0:
		return nil, fmt.Errorf("no object of %s has %s; kdbusctl list %s shows its objects", dest, what, dest)
	case 1:
		om, err := c.mappingAt(ctx, dest, found[0].path, found[0].node)
		if err != nil {
			return nil, err
		}
		return &target{dest: dest, path: found[0].path, om: om}, nil
	}
	var paths []string
	for _, o := range found {
		paths = append(paths, string(o.path))
	}
	return nil, fmt.Errorf("several objects of %s have %s (%s); give the path", dest, what, strings.Join(paths, ", "))
}

// splitMember splits "Interface.Member" into its parts; a bare member has no interface.
func splitMember(s string) (iface, member string) {
	if i := strings.LastIndexByte(s, '.'); i >= 0 {
		return s[:i], s[i+1:]
	}
	return "", s
}

// findMember finds an interface of n with a method (or property, signal) named member.
func findMember(n *introspect.Node, iface, member string, kind string) *introspect.Interface {
	for i := range n.Interfaces {
		in := &n.Interfaces[i]
		if iface != "" && in.Name != iface {
			continue
		}
		switch kind {
		case "method":
			if slices.ContainsFunc(in.Methods, func(m introspect.Method) bool { return m.Name == member }) {
				return in
			}
		case "property":
			if slices.ContainsFunc(in.Properties, func(p introspect.Property) bool { return p.Name == member }) {
				return in
			}
		}
	}
	return nil
}

// positional splits the arguments of call, get and set: NAME [PATH] X [JSON].
func positional(args []string, withJSON bool) (name, path, x, data string) {
	name = args[0]
	rest := args[1:]
	if len(rest) > 0 && strings.HasPrefix(rest[0], "/") {
		path, rest = rest[0], rest[1:]
	}
	if len(rest) > 0 {
		x, rest = rest[0], rest[1:]
	}
	if withJSON && len(rest) > 0 {
		data = rest[0]
	}
	return
}

func (c *cli) printJSON(v any) {
	b, err := json.Marshal(v)
	if err != nil {
		fmt.Fprintf(c.stdout, "%q\n", fmt.Sprint(v))
		return
	}
	c.stdout.Write(append(b, '\n'))
}

func closeFD(fd int) { os.NewFile(uintptr(fd), "").Close() }
