// Command kdbusapi freezes the D-Bus API of generated services and checks later versions
// against it, as stable AIDL's frozen API dumps do:
//
//	kdbusapi freeze -xml examples/greeter/greeterv1 -api examples/greeter/api
//	kdbusapi check -xml examples/greeter/greeterv1 -api examples/greeter/api
//
// freeze copies the introspection XML files (*.introspect.xml) of the -xml directory into a new
// version directory under -api: api/1, api/2, … (-version names it). check compares the current
// files against every frozen version with introspect.Compare, prints each breaking change
// (and with -v the safe ones too), and exits with status 1 if there is a breaking one. A file
// of a frozen version that no longer exists is a breaking change.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/kdbus-go/kdbus/introspect"
)

const xmlSuffix = ".introspect.xml"

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func usage(w io.Writer) {
	fmt.Fprint(w, `usage: kdbusapi freeze -xml dir -api dir [-version name]
       kdbusapi check -xml dir -api dir [-v]

freeze copies the *.introspect.xml files of -xml into a new version directory under -api.
check compares them against every version under -api and exits 1 on a breaking change.
`)
}

// run runs the command with args and returns its exit status: 0 when done (check: no breaking
// change), 1 on a breaking change or an error, 2 on bad usage.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return 2
	}
	fs := flag.NewFlagSet("kdbusapi "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	xmlDir := fs.String("xml", "", "the directory of the current introspection XML files")
	apiDir := fs.String("api", "", "the directory of the frozen versions")
	version := fs.String("version", "", "freeze: the new version's name (default: one more than the highest numbered version)")
	verbose := fs.Bool("v", false, "check: print the safe changes too")
	if args[0] != "freeze" && args[0] != "check" {
		usage(stderr)
		return 2
	}
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	if *xmlDir == "" || *apiDir == "" || fs.NArg() != 0 {
		usage(stderr)
		return 2
	}
	var err error
	if args[0] == "freeze" {
		var dir string
		dir, err = freeze(*xmlDir, *apiDir, *version)
		if err == nil {
			fmt.Fprintf(stdout, "froze the API in %s\n", dir)
			return 0
		}
	} else {
		var breaking bool
		breaking, err = check(*xmlDir, *apiDir, *verbose, stdout)
		if err == nil && breaking {
			return 1
		}
	}
	if err != nil {
		fmt.Fprintln(stderr, "kdbusapi:", err)
		return 1
	}
	return 0
}

// xmlFiles lists the introspection XML files of dir, sorted.
func xmlFiles(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range ents {
		if !e.IsDir() && strings.HasSuffix(e.Name(), xmlSuffix) {
			out = append(out, e.Name())
		}
	}
	return out, nil
}

// versions lists the version directories of apiDir, numbered ones in numeric order first.
func versions(apiDir string) ([]string, error) {
	ents, err := os.ReadDir(apiDir)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range ents {
		if e.IsDir() {
			out = append(out, e.Name())
		}
	}
	slices.SortFunc(out, func(a, b string) int {
		na, ea := strconv.Atoi(a)
		nb, eb := strconv.Atoi(b)
		switch {
		case ea == nil && eb == nil:
			return na - nb
		case ea == nil:
			return -1
		case eb == nil:
			return 1
		}
		return strings.Compare(a, b)
	})
	return out, nil
}

// freeze copies the XML files of xmlDir into a new version directory of apiDir and returns it.
func freeze(xmlDir, apiDir, version string) (string, error) {
	files, err := xmlFiles(xmlDir)
	if err != nil {
		return "", err
	}
	if len(files) == 0 {
		return "", fmt.Errorf("%s holds no %s files to freeze", xmlDir, xmlSuffix)
	}
	if version == "" {
		have, err := versions(apiDir)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return "", err
		}
		next := 1
		for _, v := range have {
			if n, err := strconv.Atoi(v); err == nil && n >= next {
				next = n + 1
			}
		}
		version = strconv.Itoa(next)
	}
	if version != filepath.Base(version) || version == "." || version == ".." {
		return "", fmt.Errorf("version %q must be a plain directory name", version)
	}
	dir := filepath.Join(apiDir, version)
	if _, err := os.Stat(dir); err == nil {
		return "", fmt.Errorf("%s exists already: a frozen version never changes; freeze a new one", dir)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	for _, f := range files {
		b, err := os.ReadFile(filepath.Join(xmlDir, f))
		if err != nil {
			return "", err
		}
		if _, err := introspect.ParseString(string(b)); err != nil {
			return "", fmt.Errorf("%s: %w", filepath.Join(xmlDir, f), err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
			return "", err
		}
	}
	return dir, nil
}

// check compares the XML files of xmlDir against every version in apiDir, prints the changes
// and reports whether one is breaking.
func check(xmlDir, apiDir string, verbose bool, w io.Writer) (bool, error) {
	vs, err := versions(apiDir)
	if err != nil {
		return false, err
	}
	if len(vs) == 0 {
		return false, fmt.Errorf("%s holds no frozen version: run kdbusapi freeze first", apiDir)
	}
	breaking := false
	for _, v := range vs {
		files, err := xmlFiles(filepath.Join(apiDir, v))
		if err != nil {
			return false, err
		}
		for _, f := range files {
			frozen := filepath.Join(apiDir, v, f)
			older, err := os.ReadFile(frozen)
			if err != nil {
				return false, err
			}
			newer, err := os.ReadFile(filepath.Join(xmlDir, f))
			if errors.Is(err, os.ErrNotExist) {
				fmt.Fprintf(w, "%s: breaking: %s no longer exists\n", frozen, filepath.Join(xmlDir, f))
				breaking = true
				continue
			}
			if err != nil {
				return false, err
			}
			changes, err := introspect.Compare(older, newer)
			if err != nil {
				return false, fmt.Errorf("comparing %s with %s: %w", filepath.Join(xmlDir, f), frozen, err)
			}
			for _, c := range changes {
				if c.Breaking || verbose {
					fmt.Fprintf(w, "%s: %s\n", frozen, c)
				}
				breaking = breaking || c.Breaking
			}
		}
	}
	return breaking, nil
}
