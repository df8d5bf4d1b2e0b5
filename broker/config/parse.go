package config

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/kdbus-go/kdbus/transport/address"
)

// Default bounds on what one Load or Parse reads.
const (
	// DefaultMaxBytes bounds the total size of all files read.
	DefaultMaxBytes = 32 << 20
	// DefaultMaxFiles bounds the number of files read (a file included twice counts twice).
	DefaultMaxFiles = 4096
	// DefaultMaxIncludeDepth bounds how deeply <include> and <includedir> nest.
	DefaultMaxIncludeDepth = 16
)

// ErrTooLarge is matched (with errors.Is) by the error for a configuration that exceeds
// Options.MaxBytes, MaxFiles or MaxIncludeDepth.
var ErrTooLarge = errors.New("configuration too large")

// Options adjust how a configuration is read. The zero value reads it as dbus-daemon does,
// from the operating system's files, with the default bounds.
type Options struct {
	// FS, if set, is where files are read from instead of the operating system: absolute
	// paths in the configuration are taken relative to its root. Useful for tests and for
	// checking a system image.
	FS fs.FS
	// NoIncludes makes <include> and <includedir> errors, so that nothing but the given
	// input is read.
	NoIncludes bool
	// Strict turns into errors two things dbus-daemon tolerates: rule attributes that are
	// not valid D-Bus names (dbus-daemon keeps such rules; they just never match a valid
	// field), and files under an <includedir> that fail to load (dbus-daemon logs and skips
	// them). Use it to check a configuration, not to run a bus.
	Strict bool
	// MaxBytes, MaxFiles and MaxIncludeDepth bound what is read; zero means the defaults.
	MaxBytes        int64
	MaxFiles        int
	MaxIncludeDepth int
	// LookupUser and LookupGroup resolve the names in user= and group= attributes; nil means
	// the system's user database through os/user. Decimal ids are used without a lookup.
	// A failed lookup makes a warning, and the policy or rule is ignored, as in dbus-daemon.
	LookupUser  func(name string) (uint32, error)
	LookupGroup func(name string) (uint32, error)
	// Getenv reads the environment for <standard_session_servicedirs/>; nil means os.Getenv.
	Getenv func(key string) string
}

// Load reads the configuration file at path and everything it includes.
func Load(path string) (*Config, error) { return Options{}.Load(path) }

// Parse reads a configuration from r. name is the file name used in errors and to detect
// include cycles; baseDir is the directory that relative paths in it are resolved against
// (<include>, <includedir>, <servicedir>, <servicehelper>), or "" for the directory of name.
func Parse(r io.Reader, name, baseDir string) (*Config, error) {
	return Options{}.Parse(r, name, baseDir)
}

// Load reads the configuration file at path and everything it includes.
func (o Options) Load(path string) (*Config, error) {
	l := newLoader(o)
	name := l.abs(path)
	data, err := l.read(name)
	if err != nil {
		return nil, l.readError(Position{File: name}, "", err, "cannot read the configuration file")
	}
	return l.top(data, name, filepath.Dir(name))
}

// Parse reads a configuration from r; see the package-level Parse.
func (o Options) Parse(r io.Reader, name, baseDir string) (*Config, error) {
	l := newLoader(o)
	if name == "" {
		name = "<input>"
	}
	data, err := io.ReadAll(io.LimitReader(r, l.bytesLeft+1))
	if err != nil {
		return nil, &Error{Pos: Position{File: name}, Msg: "cannot read the configuration: " + err.Error(), Err: err}
	}
	if int64(len(data)) > l.bytesLeft {
		return nil, &Error{Pos: Position{File: name}, Msg: fmt.Sprintf("the configuration is larger than %d bytes (Options.MaxBytes)", l.o.MaxBytes), Err: ErrTooLarge}
	}
	l.bytesLeft -= int64(len(data))
	l.filesLeft--
	if baseDir == "" {
		baseDir = filepath.Dir(name)
	}
	return l.top(data, name, l.abs(baseDir))
}

// loader holds what is shared by the files of one Load or Parse.
type loader struct {
	o         Options
	bytesLeft int64
	filesLeft int
	// stack lists the files being parsed, outermost first, to detect include cycles.
	stack  []string
	users  map[string]idLookup
	groups map[string]idLookup
}

type idLookup struct {
	id  uint32
	err error
}

func newLoader(o Options) *loader {
	if o.MaxBytes <= 0 {
		o.MaxBytes = DefaultMaxBytes
	}
	if o.MaxFiles <= 0 {
		o.MaxFiles = DefaultMaxFiles
	}
	if o.MaxIncludeDepth <= 0 {
		o.MaxIncludeDepth = DefaultMaxIncludeDepth
	}
	if o.LookupUser == nil {
		o.LookupUser = lookupUser
	}
	if o.LookupGroup == nil {
		o.LookupGroup = lookupGroup
	}
	if o.Getenv == nil {
		o.Getenv = os.Getenv
	}
	return &loader{
		o:         o,
		bytesLeft: o.MaxBytes,
		filesLeft: o.MaxFiles,
		users:     map[string]idLookup{},
		groups:    map[string]idLookup{},
	}
}

// abs makes p absolute: against the working directory for the operating system, against
// the root for Options.FS.
func (l *loader) abs(p string) string {
	if l.o.FS != nil {
		return filepath.Join("/", p)
	}
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return filepath.Clean(p)
}

// fsPath turns an absolute path into a name for Options.FS.
func fsPath(p string) string {
	p = strings.TrimPrefix(filepath.ToSlash(filepath.Clean(p)), "/")
	if p == "" {
		return "."
	}
	return p
}

// read reads a whole regular file within the remaining budget.
func (l *loader) read(name string) ([]byte, error) {
	if l.filesLeft <= 0 {
		return nil, fmt.Errorf("%w: more than %d files (Options.MaxFiles)", ErrTooLarge, l.o.MaxFiles)
	}
	l.filesLeft--
	var f fs.File
	var err error
	if l.o.FS != nil {
		f, err = l.o.FS.Open(fsPath(name))
	} else {
		f, err = os.Open(name)
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", name)
	}
	data, err := io.ReadAll(io.LimitReader(f, l.bytesLeft+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > l.bytesLeft {
		return nil, fmt.Errorf("%w: more than %d bytes in all (Options.MaxBytes)", ErrTooLarge, l.o.MaxBytes)
	}
	l.bytesLeft -= int64(len(data))
	return data, nil
}

// readDir lists the names in a directory, sorted.
func (l *loader) readDir(name string) ([]string, error) {
	var entries []fs.DirEntry
	var err error
	if l.o.FS != nil {
		entries, err = fs.ReadDir(l.o.FS, fsPath(name))
	} else {
		entries, err = os.ReadDir(name)
	}
	if err != nil {
		return nil, err
	}
	names := make([]string, len(entries))
	for i, e := range entries {
		names[i] = e.Name()
	}
	slices.Sort(names)
	return names, nil
}

// readError describes a failure to read a file.
func (l *loader) readError(pos Position, elem string, err error, what string) *Error {
	msg := what + ": " + err.Error()
	switch {
	case errors.Is(err, ErrTooLarge):
		msg = err.Error()
	case errors.Is(err, fs.ErrNotExist):
		msg = what + ": it does not exist"
		if elem == "<include>" {
			msg += `; fix the path, or add ignore_missing="yes" if the file is optional`
		}
	case errors.Is(err, fs.ErrPermission):
		msg = what + ": permission denied; the bus must be able to read it"
	}
	return &Error{Pos: pos, Element: elem, Msg: msg, Err: err}
}

// top parses the top-level file and turns the result into a Config.
func (l *loader) top(data []byte, name, baseDir string) (*Config, error) {
	// The stack holds absolute paths, so that including the top file is seen as a cycle
	// even when name is relative.
	l.stack = append(l.stack[:0], l.abs(name))
	f, err := l.parseFile(data, name, baseDir, DefaultLimits())
	if err != nil {
		return nil, err
	}
	if len(f.listen) == 0 {
		return nil, &Error{Pos: f.rootPos, Element: "<busconfig>",
			Msg: "no <listen> element: the bus needs at least one address to listen on, such as <listen>unix:path=/run/dbus/system_bus_socket</listen>"}
	}
	return &Config{
		Type:           f.busType,
		User:           f.user,
		Fork:           f.fork,
		KeepUmask:      f.keepUmask,
		Syslog:         f.syslog,
		AllowAnonymous: f.allowAnonymous,
		Listen:         f.listen,
		Auth:           f.auth,
		PIDFile:        f.pidfile,
		ServiceHelper:  f.servicehelper,
		ServiceDirs:    f.serviceDirs,
		Limits:         f.limits,
		Policy:         compile(f.rules),
		SELinux:        f.associations,
		AppArmor:       f.apparmor,
		Files:          f.files,
		IncludeDirs:    f.includeDirs,
		Warnings:       f.warnings,
	}, nil
}

// fragment is what one file (with its includes) contributes. An included file is parsed
// into its own fragment, which is merged into the including one only if the whole file
// loaded, as dbus-daemon does.
type fragment struct {
	busType, user, pidfile, servicehelper, apparmor string
	fork, keepUmask, syslog, allowAnonymous         bool
	listen, auth                                    []string
	serviceDirs                                     []ServiceDir
	limits                                          Limits
	rules                                           []*Rule
	associations                                    []Association
	files, includeDirs                              []string
	warnings                                        []Warning
	rootPos                                         Position
}

// merge adds an included file's settings: single values are replaced when the included
// file sets them, flags are or-ed, lists and rules are appended, and the limits, which the
// included file started from, are taken over.
func (f *fragment) merge(c *fragment) {
	for _, s := range []struct{ dst, src *string }{
		{&f.busType, &c.busType}, {&f.user, &c.user}, {&f.pidfile, &c.pidfile},
		{&f.servicehelper, &c.servicehelper}, {&f.apparmor, &c.apparmor},
	} {
		if *s.src != "" {
			*s.dst = *s.src
		}
	}
	f.fork = f.fork || c.fork
	f.keepUmask = f.keepUmask || c.keepUmask
	f.syslog = f.syslog || c.syslog
	f.allowAnonymous = f.allowAnonymous || c.allowAnonymous
	f.listen = append(f.listen, c.listen...)
	f.auth = append(f.auth, c.auth...)
	for _, d := range c.serviceDirs {
		f.addServiceDir(d)
	}
	f.limits = c.limits
	f.rules = append(f.rules, c.rules...)
	f.associations = append(f.associations, c.associations...)
	f.files = append(f.files, c.files...)
	f.includeDirs = append(f.includeDirs, c.includeDirs...)
	f.warnings = append(f.warnings, c.warnings...)
}

// addServiceDir appends d unless the directory is already listed; the first listing wins.
func (f *fragment) addServiceDir(d ServiceDir) {
	for _, e := range f.serviceDirs {
		if e.Path == d.Path {
			return
		}
	}
	f.serviceDirs = append(f.serviceDirs, d)
}

// frame is an open element.
type frame struct {
	name    string // local name
	pos     Position
	text    strings.Builder
	hasText bool
	textPos Position

	// <include>
	ignoreMissing, ifSELinux, selinuxRootRelative bool
	// <limit>
	limitName string
	// <policy>
	scope     scope
	policyTag string
}

// fileParser parses one file.
type fileParser struct {
	l       *loader
	f       *fragment
	name    string
	baseDir string
	data    []byte
	dec     *xml.Decoder
	stack   []*frame
	rootEnd bool
}

// parseFile parses one file's contents into a fragment whose limits start at limits.
func (l *loader) parseFile(data []byte, name, baseDir string, limits Limits) (*fragment, error) {
	// expat accepts a UTF-8 byte order mark; encoding/xml would take it for text.
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	p := &fileParser{
		l:       l,
		f:       &fragment{limits: limits, files: []string{name}, rootPos: Position{File: name}},
		name:    name,
		baseDir: baseDir,
		data:    data,
	}
	p.dec = xml.NewDecoder(bytes.NewReader(data))
	p.dec.CharsetReader = charsetReader
	sawRoot := false
	for {
		line, col := p.dec.InputPos()
		pos := Position{File: name, Line: line, Col: col}
		start := p.dec.InputOffset()
		tok, err := p.dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, p.xmlError(err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if len(p.stack) == 0 {
				if sawRoot {
					return nil, p.errAt(pos, "<"+elemName(t.Name)+">", "a second root element after </busconfig>; a configuration file has exactly one <busconfig>")
				}
				sawRoot = true
				p.f.rootPos = pos
			}
			if err := p.start(t, pos, start, p.dec.InputOffset()); err != nil {
				return nil, err
			}
		case xml.EndElement:
			if err := p.end(); err != nil {
				return nil, err
			}
		case xml.CharData:
			if err := p.chardata(t, pos); err != nil {
				return nil, err
			}
		}
	}
	if !sawRoot {
		return nil, p.errAt(Position{File: name, Line: 1, Col: 1}, "", "no <busconfig> element: a configuration file is an XML document whose root element is <busconfig>")
	}
	return p.f, nil
}

// xmlError converts an error of the XML decoder.
func (p *fileParser) xmlError(err error) *Error {
	line, col := p.dec.InputPos()
	var se *xml.SyntaxError
	if errors.As(err, &se) {
		if se.Line != line {
			col = 0
		}
		return &Error{Pos: Position{File: p.name, Line: se.Line, Col: col},
			Msg: "malformed XML: " + se.Msg + "; the file must be well-formed XML", Err: err}
	}
	return &Error{Pos: Position{File: p.name, Line: line, Col: col}, Msg: "malformed XML: " + err.Error(), Err: err}
}

func (p *fileParser) errAt(pos Position, elem, format string, args ...any) *Error {
	return &Error{Pos: pos, Element: elem, Msg: fmt.Sprintf(format, args...)}
}

func (p *fileParser) warn(pos Position, format string, args ...any) {
	p.f.warnings = append(p.f.warnings, Warning{Pos: pos, Msg: fmt.Sprintf(format, args...)})
}

func elemName(n xml.Name) string {
	if n.Space != "" {
		return n.Space + ":" + n.Local
	}
	return n.Local
}

func (p *fileParser) top() *frame {
	if len(p.stack) == 0 {
		return nil
	}
	return p.stack[len(p.stack)-1]
}

// Elements by where they may appear.
var (
	busconfigChildren = []string{
		"allow_anonymous", "apparmor", "auth", "fork", "include", "includedir", "keep_umask",
		"limit", "listen", "pidfile", "policy", "selinux", "servicedir", "servicehelper",
		"standard_session_servicedirs", "standard_system_servicedirs", "syslog", "type", "user",
	}
	// textElements hold a value as text content and nothing else.
	textElements = map[string]bool{
		"auth": true, "include": true, "includedir": true, "limit": true, "listen": true,
		"pidfile": true, "servicedir": true, "servicehelper": true, "type": true, "user": true,
	}
)

// start handles a start tag. off0 and off1 are the byte offsets of the tag in the file.
func (p *fileParser) start(t xml.StartElement, pos Position, off0, off1 int64) error {
	name := elemName(t.Name)
	tag := "<" + name + ">"
	el := &element{p: p, t: t, pos: pos, off0: off0, off1: off1, tag: tag}
	if err := el.checkDuplicates(); err != nil {
		return err
	}
	fr := &frame{name: name, pos: pos}
	parent := p.top()
	switch {
	case parent == nil:
		if name != "busconfig" {
			return p.errAt(pos, tag, "the root element must be <busconfig>")
		}
		if err := el.only(); err != nil {
			return err
		}
	case parent.name == "busconfig":
		if err := p.startBusconfigChild(el, fr); err != nil {
			return err
		}
	case parent.name == "policy":
		if name != "allow" && name != "deny" {
			return p.errAt(pos, tag, "not allowed inside <policy>; a policy holds only <allow> and <deny> rules")
		}
		r, err := p.rule(el, name == "allow", parent)
		if err != nil {
			return err
		}
		if r != nil && parent.scope.kind != scopeIgnored {
			p.f.rules = append(p.f.rules, r)
		}
	case parent.name == "selinux":
		if name != "associate" {
			return p.errAt(pos, tag, "not allowed inside <selinux>; it holds only <associate own=\"...\" context=\"...\"/>")
		}
		if err := el.only("own", "context"); err != nil {
			return err
		}
		own, ok1 := el.attr("own")
		ctx, ok2 := el.attr("context")
		if !ok1 || !ok2 {
			return p.errAt(pos, tag, `needs both own="bus.name" and context="selinux_context_t"`)
		}
		p.f.associations = append(p.f.associations, Association{Own: own, Context: ctx, Pos: pos})
	case textElements[parent.name]:
		return p.errAt(pos, tag, "not allowed inside <%s>, which holds only text", parent.name)
	default:
		return p.errAt(pos, tag, "not allowed inside <%s>, which holds no elements", parent.name)
	}
	p.stack = append(p.stack, fr)
	return nil
}

// startBusconfigChild checks the start tag of a direct child of <busconfig> and applies
// what it says immediately.
func (p *fileParser) startBusconfigChild(el *element, fr *frame) error {
	switch fr.name {
	case "fork", "keep_umask", "syslog", "allow_anonymous", "standard_session_servicedirs",
		"standard_system_servicedirs", "selinux", "type", "user", "listen", "auth", "pidfile",
		"servicedir", "servicehelper", "includedir":
		if err := el.only(); err != nil {
			return err
		}
	}
	switch fr.name {
	case "fork":
		p.f.fork = true
	case "keep_umask":
		p.f.keepUmask = true
	case "syslog":
		p.f.syslog = true
	case "allow_anonymous":
		p.f.allowAnonymous = true
	case "standard_session_servicedirs":
		p.sessionServiceDirs(el.pos)
	case "standard_system_servicedirs":
		for _, d := range []string{"/usr/local/share", "/usr/share", "/lib"} {
			p.f.addServiceDir(ServiceDir{Path: d + "/dbus-1/system-services"})
		}
	case "selinux":
	case "include":
		if err := el.only("ignore_missing", "if_selinux_enabled", "selinux_root_relative"); err != nil {
			return err
		}
		for _, a := range []struct {
			name string
			dst  *bool
		}{
			{"ignore_missing", &fr.ignoreMissing},
			{"if_selinux_enabled", &fr.ifSELinux},
			{"selinux_root_relative", &fr.selinuxRootRelative},
		} {
			v, ok := el.attr(a.name)
			if !ok {
				continue
			}
			switch v {
			case "yes":
				*a.dst = true
			case "no":
			default:
				return el.attrErr(a.name, `must be "yes" or "no", not %q`, v)
			}
		}
	case "limit":
		if err := el.only("name"); err != nil {
			return err
		}
		n, ok := el.attr("name")
		if !ok {
			return p.errAt(el.pos, el.tag, `needs a name attribute, as in <limit name="max_message_size">33554432</limit>`)
		}
		if _, ok := limitDefs[n]; !ok {
			names := make([]string, 0, len(limitDefs))
			for k := range limitDefs {
				names = append(names, k)
			}
			slices.Sort(names)
			return el.attrErr("name", "there is no limit called %q; the limits are %s", n, strings.Join(names, ", "))
		}
		fr.limitName = n
	case "policy":
		return p.startPolicy(el, fr)
	case "apparmor":
		if err := el.only("mode"); err != nil {
			return err
		}
		mode, ok := el.attr("mode")
		if !ok {
			mode = "enabled"
		}
		switch mode {
		case "enabled", "disabled", "required":
		default:
			return el.attrErr("mode", `must be "enabled", "disabled" or "required", not %q`, mode)
		}
		if ok {
			p.f.apparmor = mode
		}
		if mode != "disabled" {
			p.warn(el.pos, `<apparmor mode=%q>: kdbusd does not mediate through AppArmor; dbus-daemon would check every message against the senders' AppArmor profiles`, mode)
		}
	case "type", "user", "listen", "auth", "pidfile", "servicedir", "servicehelper", "includedir":
	default:
		return p.errAt(el.pos, el.tag, "not a configuration element; inside <busconfig> the elements are <%s>", strings.Join(busconfigChildren, ">, <"))
	}
	return nil
}

// sessionServiceDirs expands <standard_session_servicedirs/> as dbus-daemon does on Unix.
func (p *fileParser) sessionServiceDirs(pos Position) {
	getenv := p.l.o.Getenv
	const sub = "/dbus-1/services"
	if rt := getenv("XDG_RUNTIME_DIR"); filepath.IsAbs(rt) {
		p.f.addServiceDir(ServiceDir{Path: filepath.Clean(rt + sub), StrictNaming: true, NoWatch: true})
	} else {
		p.warn(pos, "XDG_RUNTIME_DIR is not set, so there is no transient service directory (as with dbus-daemon)")
	}
	home := getenv("XDG_DATA_HOME")
	if home == "" {
		if h := getenv("HOME"); h != "" {
			home = h + "/.local/share"
		}
	}
	dirs := getenv("XDG_DATA_DIRS")
	if dirs == "" {
		dirs = "/usr/local/share:/usr/share"
	}
	for _, d := range append(append([]string{home}, strings.Split(dirs, ":")...), "/usr/share") {
		// The XDG base directory specification says relative entries are to be ignored.
		if filepath.IsAbs(d) {
			p.f.addServiceDir(ServiceDir{Path: filepath.Clean(d + sub)})
		}
	}
}

// startPolicy handles <policy context|user|group|at_console>.
func (p *fileParser) startPolicy(el *element, fr *frame) error {
	if err := el.only("context", "user", "group", "at_console"); err != nil {
		return err
	}
	if len(el.t.Attr) != 1 {
		return p.errAt(el.pos, el.tag, `needs exactly one of context="default|mandatory", user="...", group="..." or at_console="true|false"; write one <policy> for each`)
	}
	a := el.t.Attr[0]
	fr.policyTag = fmt.Sprintf("<policy %s=%q>", a.Name.Local, a.Value)
	switch a.Name.Local {
	case "context":
		switch a.Value {
		case "default":
			fr.scope = scope{kind: scopeDefault}
		case "mandatory":
			fr.scope = scope{kind: scopeMandatory}
		default:
			return el.attrErr("context", `must be "default" or "mandatory", not %q; for a user or group write <policy user="..."> or <policy group="...">`, a.Value)
		}
	case "user":
		if id, ok := p.l.uid(a.Value); ok {
			fr.scope = scope{kind: scopeUser, id: id}
		} else {
			fr.scope = scope{kind: scopeIgnored}
			p.warn(el.attrPos("user"), "unknown user %q: the rules of this <policy> are ignored (%v)", a.Value, p.l.users[a.Value].err)
		}
	case "group":
		if id, ok := p.l.gid(a.Value); ok {
			fr.scope = scope{kind: scopeGroup, id: id}
		} else {
			fr.scope = scope{kind: scopeIgnored}
			p.warn(el.attrPos("group"), "unknown group %q: the rules of this <policy> are ignored (%v)", a.Value, p.l.groups[a.Value].err)
		}
	case "at_console":
		switch a.Value {
		case "true", "false":
			fr.scope = scope{kind: scopeConsole, id: uint32(b2i(a.Value == "true"))}
			p.warn(el.pos, "at_console policies are deprecated and kdbusd cannot tell who is at the console: they apply as Subject.AtConsole says, which the bus leaves false (as dbus-daemon does without /run/console)")
		default:
			return el.attrErr("at_console", `must be "true" or "false", not %q`, a.Value)
		}
	}
	return nil
}

// chardata collects text.
func (p *fileParser) chardata(t xml.CharData, pos Position) error {
	fr := p.top()
	blank := len(bytes.TrimSpace(t)) == 0
	if fr == nil || !textElements[fr.name] {
		if blank {
			return nil
		}
		if fr == nil {
			return p.errAt(pos, "", "text outside <busconfig>; everything must be inside the root element")
		}
		return p.errAt(pos, "<"+fr.name+">", "text is not allowed here (found %q); <%s> holds no text", abbrev(string(t)), fr.name)
	}
	if !fr.hasText {
		fr.hasText = true
		fr.textPos = pos
	}
	fr.text.Write(t)
	return nil
}

func abbrev(s string) string {
	s = strings.TrimSpace(s)
	if len(s) > 40 {
		i := 40
		for i > 0 && !utf8.RuneStart(s[i]) {
			i--
		}
		s = s[:i] + "..."
	}
	return s
}

// end handles an end tag: text elements take effect here, as in dbus-daemon.
func (p *fileParser) end() error {
	fr := p.top()
	if fr == nil {
		return nil // cannot happen: the decoder checks that tags match
	}
	p.stack = p.stack[:len(p.stack)-1]
	if !textElements[fr.name] {
		return nil
	}
	tag := "<" + fr.name + ">"
	text := strings.TrimSpace(fr.text.String())
	if text == "" {
		return p.errAt(fr.pos, tag, "is empty; %s", textExamples[fr.name])
	}
	pos := fr.textPos
	switch fr.name {
	case "type":
		p.f.busType = text
	case "user":
		p.f.user = text
	case "pidfile":
		p.f.pidfile = text
	case "auth":
		p.f.auth = append(p.f.auth, text)
	case "listen":
		if _, err := address.Parse(text); err != nil {
			return &Error{Pos: pos, Element: tag, Msg: err.Error() + "; " + textExamples["listen"], Err: err}
		}
		p.f.listen = append(p.f.listen, text)
	case "servicedir":
		p.f.addServiceDir(ServiceDir{Path: p.resolve(text)})
	case "servicehelper":
		p.f.servicehelper = p.resolve(text)
	case "limit":
		return p.setLimit(fr.limitName, text, pos)
	case "include":
		return p.include(fr, text)
	case "includedir":
		return p.includeDir(fr, text)
	}
	return nil
}

var textExamples = map[string]string{
	"type":          "write the bus type, as in <type>system</type>",
	"user":          "write a user name or uid, as in <user>messagebus</user>",
	"listen":        "write a D-Bus server address, as in <listen>unix:path=/run/dbus/system_bus_socket</listen>",
	"auth":          "write a SASL mechanism, as in <auth>EXTERNAL</auth>",
	"pidfile":       "write a path, as in <pidfile>/run/dbus/pid</pidfile>",
	"servicedir":    "write a directory, as in <servicedir>/usr/share/dbus-1/services</servicedir>",
	"servicehelper": "write the helper's path, as in <servicehelper>/usr/lib/dbus-1.0/dbus-daemon-launch-helper</servicehelper>",
	"include":       "write a file name, as in <include>local.conf</include>",
	"includedir":    "write a directory, as in <includedir>system.d</includedir>",
	"limit":         `write a number, as in <limit name="max_message_size">33554432</limit>`,
}

// resolve makes a path from the file absolute against the file's directory.
func (p *fileParser) resolve(s string) string {
	if filepath.IsAbs(s) {
		return filepath.Clean(s)
	}
	return filepath.Join(p.baseDir, s)
}

// setLimit applies <limit name="...">value</limit>.
func (p *fileParser) setLimit(name, text string, pos Position) error {
	def := limitDefs[name]
	tag := fmt.Sprintf("<limit name=%q>", name)
	v, err := strconv.ParseInt(text, 10, 64)
	if err != nil {
		if errors.Is(err, strconv.ErrRange) {
			return p.errAt(pos, tag, "%s is too large", text)
		}
		return p.errAt(pos, tag, "%q is not a whole number; write a decimal number such as 1000", abbrev(text))
	}
	if v < 0 {
		return p.errAt(pos, tag, "must not be negative (found %d)", v)
	}
	maxv := int64(1<<31 - 1)
	if def.kind == limitLong {
		maxv = int64(^uint(0) >> 1)
	}
	if v > maxv {
		return p.errAt(pos, tag, "%d is too large; the largest value is %d", v, maxv)
	}
	if def.kind == limitMillis {
		*def.dur(&p.f.limits) = time.Duration(v) * time.Millisecond
	} else {
		*def.int(&p.f.limits) = int(v)
	}
	return nil
}

// include handles <include>.
func (p *fileParser) include(fr *frame, text string) error {
	if p.l.o.NoIncludes {
		return p.errAt(fr.pos, "<include>", "includes are disabled (Options.NoIncludes)")
	}
	if fr.ifSELinux {
		// kdbusd does not support SELinux, so it behaves like dbus-daemon on a system where
		// SELinux is disabled: the include is skipped.
		return nil
	}
	if fr.selinuxRootRelative {
		return p.errAt(fr.pos, "<include>", `selinux_root_relative="yes" needs the SELinux policy root, and kdbusd does not support SELinux; add if_selinux_enabled="yes" to skip the include when SELinux is off`)
	}
	return p.includeFile(p.resolve(text), fr.ignoreMissing, fr.pos, "<include>")
}

// includeDir handles <includedir>: every *.conf file in it, in name order. A missing
// directory is skipped; a file that fails to load is skipped with a warning (an error with
// Options.Strict), as dbus-daemon logs and skips it.
func (p *fileParser) includeDir(fr *frame, text string) error {
	const tag = "<includedir>"
	if p.l.o.NoIncludes {
		return p.errAt(fr.pos, tag, "includes are disabled (Options.NoIncludes)")
	}
	dir := p.resolve(text)
	names, err := p.l.readDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return p.l.readError(fr.pos, tag, err, "cannot list directory "+dir)
	}
	p.f.includeDirs = append(p.f.includeDirs, dir)
	for _, n := range names {
		if !strings.HasSuffix(n, ".conf") {
			continue
		}
		err := p.includeFile(filepath.Join(dir, n), true, fr.pos, tag)
		if err == nil {
			continue
		}
		if p.l.o.Strict || errors.Is(err, ErrTooLarge) {
			return err
		}
		p.warn(fr.pos, "skipped %s, which does not load: %v", filepath.Join(dir, n), err)
	}
	return nil
}

// includeFile parses another file and merges it into this one.
func (p *fileParser) includeFile(path string, ignoreMissing bool, pos Position, tag string) error {
	if i := slices.Index(p.l.stack, path); i >= 0 {
		chain := strings.Join(append(slices.Clone(p.l.stack[i:]), path), " -> ")
		return p.errAt(pos, tag, "circular inclusion: %s; remove one of these includes", chain)
	}
	if len(p.l.stack) > p.l.o.MaxIncludeDepth {
		return &Error{Pos: pos, Element: tag, Msg: fmt.Sprintf("includes nest more than %d deep (Options.MaxIncludeDepth)", p.l.o.MaxIncludeDepth), Err: ErrTooLarge}
	}
	data, err := p.l.read(path)
	if err != nil {
		if ignoreMissing && errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return p.l.readError(pos, tag, err, "cannot read "+path)
	}
	p.l.stack = append(p.l.stack, path)
	child, err := p.l.parseFile(data, path, filepath.Dir(path), p.f.limits)
	p.l.stack = p.l.stack[:len(p.l.stack)-1]
	if err != nil {
		var ce *Error
		if errors.As(err, &ce) {
			ce.IncludedFrom = append(ce.IncludedFrom, pos)
		}
		return err
	}
	p.f.merge(child)
	return nil
}

// charsetReader accepts the single-byte encodings expat knows besides UTF-8 and UTF-16.
func charsetReader(label string, input io.Reader) (io.Reader, error) {
	switch strings.ToLower(label) {
	case "us-ascii", "ascii":
		return input, nil
	case "iso-8859-1", "latin1", "latin-1":
		data, err := io.ReadAll(input)
		if err != nil {
			return nil, err
		}
		out := make([]byte, 0, len(data))
		for _, c := range data {
			out = utf8.AppendRune(out, rune(c))
		}
		return bytes.NewReader(out), nil
	}
	return nil, fmt.Errorf("unsupported encoding %q; save the file as UTF-8", label)
}
