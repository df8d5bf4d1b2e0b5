// Command benchtable runs the benchmarks of package bench and prints them side by side: a
// Markdown table with one row per case and one column per target, ratios against the raw
// AF_UNIX and memcpy baselines, and the target of each case (bench/README.md, "Performance
// targets") with whether this run met it. With -svg it also draws the table as a bar chart;
// with -doc it writes the report checked in as docs/bench.md: the command, the machine, the
// table and the chart.
//
// Usage, from anywhere in the repository:
//
//	go run ./bench/cmd/benchtable [-bench regexp] [-count n] [-benchtime d] [-grpc] [-svg file] [-o file] [-doc file]
//	go run ./bench/cmd/benchtable -in bench-output.txt   # tabulate saved go test -bench output
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"time"

	"github.com/kdbus-go/kdbus/bench/table"
)

func main() {
	var (
		pattern   = flag.String("bench", ".", "run the benchmarks matching this regexp (go test -bench)")
		count     = flag.Int("count", 5, "run each benchmark this many times; the table shows medians")
		benchtime = flag.String("benchtime", "", "go test -benchtime for each benchmark (default go test's 1s)")
		timeout   = flag.String("timeout", "3h", "go test -timeout")
		grpc      = flag.Bool("grpc", false, "also run the grpc-go comparison (nested module bench/grpccompare; downloads grpc-go on first use)")
		svg       = flag.String("svg", "", "also write the table as an SVG bar chart to this file")
		out       = flag.String("o", "", "write the Markdown table to this file instead of standard output")
		in        = flag.String("in", "", "tabulate this file of saved go test -bench output instead of running the benchmarks (\"-\": standard input)")
		quiet     = flag.Bool("q", false, "do not copy go test's output to standard error while it runs")
		doc       = flag.String("doc", "", "also write the report (command, machine, table, chart) to this Markdown file, and the chart beside it unless -svg names one")
	)
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "benchtable: unexpected arguments %q\n", flag.Args())
		flag.Usage()
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()

	res, runErr := results(ctx, *in, table.Config{
		Pattern: *pattern, Count: *count, Benchtime: *benchtime, Timeout: *timeout, GRPC: *grpc,
	}, *quiet)
	if res == nil {
		fmt.Fprintln(os.Stderr, "benchtable:", runErr)
		os.Exit(1)
	}
	if *doc != "" && *svg == "" {
		*svg = strings.TrimSuffix(*doc, filepath.Ext(*doc)) + ".svg"
	}
	t := table.Build(res)
	if err := write(*out, os.Stdout, func(w io.Writer) error { return t.Markdown(w, res.CPU) }); err != nil {
		fmt.Fprintln(os.Stderr, "benchtable:", err)
		os.Exit(1)
	}
	if *svg != "" {
		if err := write(*svg, nil, func(w io.Writer) error { return t.SVG(w, res.CPU) }); err != nil {
			fmt.Fprintln(os.Stderr, "benchtable:", err)
			os.Exit(1)
		}
	}
	if *doc != "" {
		if err := writeReport(ctx, t, *doc, *svg); err != nil {
			fmt.Fprintln(os.Stderr, "benchtable:", err)
			os.Exit(1)
		}
	}
	if runErr != nil {
		fmt.Fprintln(os.Stderr, "benchtable: the table is incomplete:", runErr)
		os.Exit(1)
	}
}

// results parses the file in, or runs the benchmarks when in is "".
func results(ctx context.Context, in string, cfg table.Config, quiet bool) (*table.Results, error) {
	switch in {
	case "":
	case "-":
		return table.Parse(os.Stdin)
	default:
		f, err := os.Open(in)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		return table.Parse(f)
	}
	wd, err := os.Getwd()
	if err != nil {
		return nil, err
	}
	if cfg.Root, err = table.ModuleRoot(wd); err != nil {
		return nil, err
	}
	if !quiet {
		cfg.Output = os.Stderr
	}
	return table.Run(ctx, cfg)
}

// writeReport writes the report of t to the file doc, linking the chart in the file svg and
// bench/README.md relative to it.
func writeReport(ctx context.Context, t *table.Table, doc, svg string) error {
	wd, err := os.Getwd()
	if err != nil {
		return err
	}
	root, err := table.ModuleRoot(wd)
	if err != nil {
		return err
	}
	dir, err := filepath.Abs(filepath.Dir(doc))
	if err != nil {
		return err
	}
	readme, err := filepath.Rel(dir, filepath.Join(root, "bench", "README.md"))
	if err != nil {
		return err
	}
	svgAbs, err := filepath.Abs(svg)
	if err != nil {
		return err
	}
	chart, err := filepath.Rel(dir, svgAbs)
	if err != nil {
		return err
	}
	r := table.Report{
		Command: table.Command(os.Args[1:]),
		Date:    time.Now(),
		Machine: table.ReadMachine(ctx),
		Readme:  filepath.ToSlash(readme),
		Chart:   filepath.ToSlash(chart),
	}
	return write(doc, nil, func(w io.Writer) error { return t.WriteReport(w, r) })
}

// write writes through f to the file name, or to def when name is "".
func write(name string, def io.Writer, f func(io.Writer) error) error {
	if name == "" {
		return f(def)
	}
	file, err := os.Create(name)
	if err != nil {
		return err
	}
	if err := f(file); err != nil {
		file.Close()
		return err
	}
	return file.Close()
}
