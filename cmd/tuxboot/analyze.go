package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/tuxboot/tuxboot/runner/boot"
	"github.com/tuxboot/tuxboot/runner/console"
)

const analyzeUsage = `usage: tuxboot analyze [--json] [--fatal KIND,...] FILE|-

Analyse a saved console log as the runner does live: milestones, crash
reports, test results and the verdict. FILE - reads standard input.
Exit status: 0 the boot passed, 1 it failed, 2 bad usage or unreadable log.
`

// analysis is the JSON form of a console analysis.
type analysis struct {
	KernelVersion string          `json:"kernel_version"`
	Milestones    []analysisMS    `json:"milestones"`
	LastMilestone string          `json:"last_milestone"`
	BootOK        bool            `json:"boot_ok"`
	Failure       *boot.Failure   `json:"failure"`
	Crashes       []analysisCrash `json:"crashes"`
	Tests         []analysisTest  `json:"tests"`
	Lines         int             `json:"lines"`
	Truncated     bool            `json:"truncated"`
}

type analysisMS struct {
	Name string `json:"name"`
	Line int    `json:"line"`
}

type analysisCrash struct {
	Kind      string `json:"kind"`
	Title     string `json:"title"`
	Fatal     bool   `json:"fatal"`
	Line      int    `json:"line"`
	Truncated bool   `json:"truncated,omitempty"`
	Report    string `json:"report,omitempty"`
}

type analysisTest struct {
	Suite       string `json:"suite"`
	Name        string `json:"name"`
	Result      string `json:"result"`
	Measurement string `json:"measurement,omitempty"`
	Units       string `json:"units,omitempty"`
	Line        int    `json:"line,omitempty"`
}

// analyzeMain runs "tuxboot analyze".
func analyzeMain(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("analyze", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, analyzeUsage) }
	asJSON := fs.Bool("json", false, "print the analysis as JSON")
	fatal := fs.String("fatal", "", "comma-separated crash kinds that also fail the boot (\"all\" for every kind)")

	// Flags may come before or after FILE.
	var files []string
	for {
		if err := fs.Parse(args); err != nil {
			return flagExit(err)
		}
		if fs.NArg() == 0 {
			break
		}
		files = append(files, fs.Arg(0))
		args = fs.Args()[1:]
	}
	if len(files) != 1 {
		fmt.Fprint(stderr, analyzeUsage)
		return exitBadRequest
	}

	in, name := stdin, "standard input"
	if files[0] != "-" {
		f, err := os.Open(files[0])
		if err != nil {
			fmt.Fprintf(stderr, "tuxboot analyze: %v\n", err)
			return exitBadRequest
		}
		defer f.Close()
		in, name = f, files[0]
	}

	var opts console.Options
	if *fatal != "" {
		opts.Fatal = strings.Split(*fatal, ",")
	}
	a := console.New(opts)
	if _, err := io.Copy(a, ctxReader{ctx, in}); err != nil {
		fmt.Fprintf(stderr, "tuxboot analyze: reading %s: %v\n", name, err)
		if ctx.Err() != nil {
			return exitInfra // interrupted, not a bad log
		}
		return exitBadRequest
	}
	a.Close()
	s := a.Summary()

	var err error
	if *asJSON {
		err = writeAnalysisJSON(stdout, s)
	} else {
		err = writeAnalysisText(stdout, s)
	}
	if err != nil {
		fmt.Fprintf(stderr, "tuxboot analyze: %v\n", err)
		return exitInfra
	}
	if s.BootOK() && s.Failure == nil {
		return exitPass
	}
	return exitFail
}

// ctxReader stops a copy when ctx is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

func toAnalysis(s console.Summary) analysis {
	out := analysis{
		KernelVersion: s.KernelVersion,
		Milestones:    []analysisMS{},
		LastMilestone: s.LastMilestone(),
		BootOK:        s.BootOK(),
		Failure:       s.Failure,
		Crashes:       []analysisCrash{},
		Tests:         []analysisTest{},
		Lines:         s.Lines,
		Truncated:     s.Truncated,
	}
	for _, m := range s.Milestones {
		out.Milestones = append(out.Milestones, analysisMS{m.Name, m.Line})
	}
	for _, c := range s.Crashes {
		out.Crashes = append(out.Crashes, analysisCrash{c.Kind, c.Title, c.Fatal, c.Line, c.Truncated, c.Report})
	}
	for _, t := range s.Tests {
		out.Tests = append(out.Tests, analysisTest{t.Suite, t.Name, t.Result, t.Measurement, t.Units, t.Line})
	}
	return out
}

func writeAnalysisJSON(w io.Writer, s console.Summary) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(toAnalysis(s))
}

func writeAnalysisText(w io.Writer, s console.Summary) error {
	var b strings.Builder
	kv := s.KernelVersion
	if kv == "" {
		kv = "(not seen)"
	}
	fmt.Fprintf(&b, "kernel:     %s\n", kv)
	var ms []string
	for _, m := range s.Milestones {
		ms = append(ms, fmt.Sprintf("%s (line %d)", m.Name, m.Line))
	}
	if len(ms) == 0 {
		ms = []string{"(none)"}
	}
	fmt.Fprintf(&b, "milestones: %s\n", strings.Join(ms, ", "))
	switch {
	case s.Failure != nil:
		fmt.Fprintf(&b, "boot:       FAIL: %s: %s\n", s.Failure.Kind, s.Failure.Title)
	case s.BootOK():
		fmt.Fprintf(&b, "boot:       ok\n")
	default:
		fmt.Fprintf(&b, "boot:       FAIL: incomplete, last milestone %q\n", s.LastMilestone())
	}
	if len(s.Crashes) > 0 {
		fmt.Fprintf(&b, "crashes:\n")
		for _, c := range s.Crashes {
			fatal := "fatal"
			if !c.Fatal {
				fatal = "non-fatal"
			}
			fmt.Fprintf(&b, "  line %d: %s (%s): %s\n", c.Line, c.Kind, fatal, c.Title)
		}
	}
	if len(s.Tests) > 0 {
		count := map[string]int{}
		for _, t := range s.Tests {
			count[t.Result]++
		}
		fmt.Fprintf(&b, "tests:      %d: %d pass, %d fail, %d skip, %d error\n",
			len(s.Tests), count[boot.Pass], count[boot.Fail], count[boot.Skip], count[boot.Error])
		for _, t := range s.Tests {
			if t.Result == boot.Fail || t.Result == boot.Error {
				fmt.Fprintf(&b, "  %-5s %s/%s (line %d)\n", t.Result, t.Suite, t.Name, t.Line)
			}
		}
	}
	if s.Truncated {
		fmt.Fprintf(&b, "note:       the log exceeded a cap; something was cut\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}
