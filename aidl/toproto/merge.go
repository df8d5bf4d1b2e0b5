package toproto

import (
	"sort"
	"strconv"
	"strings"

	"github.com/jhump/protoreflect/desc"
	"github.com/kdbus-go/kdbus/aidl"
)

// merge puts AIDL packages that import each other into one Go package. AIDL allows such
// cycles (the aidl compiler's own tests have some_package and some_package.sub_package
// using each other's types); Go packages cannot import each other, so each group of them
// shares the Go package of its leader, the shortest package name of the group. A name
// declared in two packages of a group (both declare IFoo) would then be declared twice in
// that Go package: the declarations of the later package are renamed, with the last element
// of their package name as a prefix (SubPackageIFoo). Only names in a cycle change: a conversion that
// has no cycle is not affected.
type merge struct {
	// leader maps each package of a group to the package whose Go package they share.
	leader map[string]string
	// groups are the packages of each group, leader first.
	groups [][]string
	// renamed holds the new proto name of each renamed top-level declaration.
	renamed map[aidl.Decl]string
}

// topName is the proto name of a top-level declaration: its AIDL name (parcelable Outer.Inner
// cpp_header … gives OuterInner), or the name it was given in a merged Go package.
func (c *converter) topName(d aidl.Decl) string {
	if c.merge != nil {
		if n, ok := c.merge.renamed[d]; ok {
			return n
		}
	}
	return strings.ReplaceAll(d.Base().Name, ".", "")
}

// flatName is the proto name of an interface's service: the names of the interfaces it is
// nested in and its own, with the outermost renamed as topName renames it.
func (c *converter) flatName(d *aidl.Interface) string {
	var top aidl.Decl = d
	for p := d.Parent; p != nil; p = p.Base().Parent {
		top = p
	}
	name := flatName(d)
	if c.merge != nil {
		if n, ok := c.merge.renamed[top]; ok {
			name = n + strings.TrimPrefix(name, top.Base().Name)
		}
	}
	return name
}

// goPackageOf is the package whose Go package pkg's files go into.
func (c *converter) goPackageOf(pkg string) string {
	if c.merge != nil && c.merge.leader[pkg] != "" {
		return c.merge.leader[pkg]
	}
	return pkg
}

// packageGraph is the import graph between the proto packages of fds.
func packageGraph(fds []*desc.FileDescriptor) map[string]map[string]bool {
	edges := map[string]map[string]bool{}
	for _, fd := range fds {
		from := fd.GetPackage()
		if edges[from] == nil {
			edges[from] = map[string]bool{}
		}
		for _, dep := range fd.GetDependencies() {
			if to := dep.GetPackage(); to != from && to != "kdbus.v1" && to != "google.protobuf" {
				edges[from][to] = true
			}
		}
	}
	return edges
}

// cycles returns the groups of packages that reach each other (the strongly connected
// components with more than one package), each sorted leader first, in a stable order.
func cycles(edges map[string]map[string]bool) [][]string {
	var pkgs []string
	for p := range edges {
		pkgs = append(pkgs, p)
	}
	sort.Strings(pkgs)
	// Tarjan's algorithm; the graphs are small, so plain recursion does.
	index, low := map[string]int{}, map[string]int{}
	onStack := map[string]bool{}
	var stack []string
	var groups [][]string
	var visit func(p string)
	visit = func(p string) {
		index[p], low[p] = len(index), len(index)
		stack = append(stack, p)
		onStack[p] = true
		var next []string
		for q := range edges[p] {
			next = append(next, q)
		}
		sort.Strings(next)
		for _, q := range next {
			if _, seen := index[q]; !seen {
				visit(q)
				low[p] = min(low[p], low[q])
			} else if onStack[q] {
				low[p] = min(low[p], index[q])
			}
		}
		if low[p] != index[p] {
			return
		}
		var g []string
		for {
			q := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			onStack[q] = false
			g = append(g, q)
			if q == p {
				break
			}
		}
		if len(g) > 1 {
			sort.Slice(g, func(i, j int) bool {
				if len(g[i]) != len(g[j]) {
					return len(g[i]) < len(g[j])
				}
				return g[i] < g[j]
			})
			groups = append(groups, g)
		}
	}
	for _, p := range pkgs {
		if _, seen := index[p]; !seen {
			visit(p)
		}
	}
	sort.Slice(groups, func(i, j int) bool { return groups[i][0] < groups[j][0] })
	return groups
}

// mergeCycles plans the merge of the packages of a first conversion (fds, one per file of
// c.order) that import each other, or returns nil when none do.
func (c *converter) mergeCycles(fds []*desc.FileDescriptor) *merge {
	groups := cycles(packageGraph(fds))
	if len(groups) == 0 {
		return nil
	}
	m := &merge{leader: map[string]string{}, groups: groups, renamed: map[aidl.Decl]string{}}
	for _, g := range groups {
		for _, p := range g {
			m.leader[p] = g[0]
		}
	}
	// The top-level proto names of each file: its declarations and its helper messages.
	names := map[*aidl.File][]string{}
	all := map[string]map[string]bool{} // leader → every name of the group, renamed or not
	for i, f := range c.order {
		fd := fds[i]
		for _, mt := range fd.GetMessageTypes() {
			names[f] = append(names[f], mt.GetName())
		}
		for _, et := range fd.GetEnumTypes() {
			names[f] = append(names[f], et.GetName())
		}
		for _, sv := range fd.GetServices() {
			names[f] = append(names[f], sv.GetName())
		}
		if l := m.leader[c.pkg[f]]; l != "" {
			if all[l] == nil {
				all[l] = map[string]bool{}
			}
			for _, n := range names[f] {
				all[l][n] = true
			}
		}
	}
	for _, g := range groups {
		taken := map[string]bool{}
		for _, p := range g {
			for _, f := range c.order {
				if c.pkg[f] != p {
					continue
				}
				clash := false
				for _, n := range names[f] {
					clash = clash || taken[n]
				}
				if !clash || len(f.Decls) == 0 {
					for _, n := range names[f] {
						taken[n] = true
					}
					continue
				}
				// Every top-level declaration of the file takes the prefix, and the helper
				// messages named after the first follow it.
				first := c.topName(f.Decls[0])
				prefix := renamePrefix(p, func(pre string) bool {
					for _, d := range f.Decls {
						if n := pre + c.topName(d); taken[n] || all[g[0]][n] {
							return false
						}
					}
					return true
				})
				for _, d := range f.Decls {
					m.renamed[d] = prefix + c.topName(d)
				}
				for _, n := range names[f] {
					if strings.HasPrefix(n, first) {
						n = prefix + n
					}
					taken[n] = true
				}
			}
		}
	}
	return m
}

// renamePrefix is the prefix for the clashing names of package pkg in the Go package of its
// group: pkg's last element in CamelCase (some_package.sub_package gives SubPackage), then
// more of its elements in front, and at last a number, until free accepts it.
func renamePrefix(pkg string, free func(string) bool) string {
	elems := strings.Split(pkg, ".")
	var pre string
	for i := len(elems) - 1; i >= 0; i-- {
		pre = camel(elems[i]) + pre
		if free(pre) {
			return pre
		}
	}
	for n := 2; ; n++ {
		if p := pre + strconv.Itoa(n); free(p) {
			return p
		}
	}
}

// camel writes a package element in CamelCase: sub_package gives SubPackage.
func camel(s string) string {
	var out string
	for _, part := range strings.Split(s, "_") {
		out += upperFirst(part)
	}
	return out
}

// noteMerge reports each merged group once per package, and each renamed declaration.
func (c *converter) noteMerge(files []*aidl.File) {
	if c.merge == nil {
		return
	}
	seen := map[string]bool{}
	for _, f := range files {
		p := c.pkg[f]
		l := c.merge.leader[p]
		if l == "" || seen[p] || len(f.Decls) == 0 {
			continue
		}
		seen[p] = true
		var group []string
		for _, g := range c.merge.groups {
			if g[0] == l {
				group = g
			}
		}
		c.note("package-cycle", f.Decls[0].Base().Pos, "packages %s import each other, which Go packages cannot: they share the Go package of %s", strings.Join(group, ", "), l)
	}
	for _, f := range files {
		for _, d := range f.Decls {
			if n, ok := c.merge.renamed[d]; ok {
				what := "the D-Bus interface keeps its name"
				if _, ok := d.(*aidl.Interface); !ok {
					what = "D-Bus signatures carry no type names, so the bus sees no change"
				}
				c.note("rename", d.Base().Pos, "%s is also declared in a package that shares the Go package of %s: it became %s (%s)", d.Base().Name, c.merge.leader[c.pkg[f]], n, what)
			}
		}
	}
}
