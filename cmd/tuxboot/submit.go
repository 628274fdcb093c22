package main

import (
	"context"
	"encoding/json"
	"encoding/xml"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/tuxboot/tuxboot/controller/api"
	"github.com/tuxboot/tuxboot/runner/boot"
)

// submitMain is `tuxboot submit`: send a boot request to a TuxBoot API,
// with the same request flags as `tuxboot run`. With --wait it waits for
// the result and exits as `tuxboot run` would.
func submitMain(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("tuxboot submit", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cf clientFlags
	cf.register(fs)
	var r boot.Request
	var overlays, fatal, tests listFlag
	sums := sumsFlag{}
	var timeouts, junit, callback string
	var wait, asJSON bool
	fs.StringVar(&r.Device, "device", "", "device to boot, e.g. qemu-arm64 (required)")
	const where = " (a relative path that exists here is sent absolute; the server reads it)"
	fs.StringVar(&r.Kernel, "kernel", "", "kernel image: a URL, or a path on the server under its --artefact-dir"+where+" (required)")
	fs.StringVar(&r.Rootfs, "rootfs", "", "rootfs: path or URL"+where)
	fs.StringVar(&r.Modules, "modules", "", "modules tarball: path or URL"+where)
	fs.StringVar(&r.DTB, "dtb", "", "device tree blob: path or URL"+where)
	fs.StringVar(&r.BIOS, "bios", "", "firmware image: path or URL"+where)
	fs.Var(&overlays, "overlay", "tarball merged into the rootfs: path or URL"+where+" (repeatable)")
	fs.StringVar(&r.BootArgs, "boot-args", "", "extra kernel command line")
	fs.StringVar(&timeouts, "timeouts", "", "timeouts in seconds: boot=SEC,tests=SEC,no_output=SEC,overall=SEC")
	fs.StringVar(&r.Accel, "accel", "", "accelerator: auto, kvm or tcg")
	fs.StringVar(&r.Memory, "memory", "", "guest memory, e.g. 512M or 2G")
	fs.IntVar(&r.SMP, "smp", 0, "guest CPUs")
	fs.Var(&fatal, "fatal", "crash kinds that fail the boot beyond the default (repeatable)")
	fs.Var(&tests, "tests", "tests the rootfs is expected to run (repeatable)")
	fs.Var(sums, "sha256", "expected digest of an artefact as ARTEFACT=SHA256 (repeatable)")
	fs.StringVar(&callback, "callback", "", "URL the server posts the signed status object to once the test has finished")
	fs.BoolVar(&wait, "wait", false, "wait for the result and exit as 'tuxboot run' would (0 pass, 1 fail, 2 bad request, 3 infrastructure)")
	fs.BoolVar(&asJSON, "json", false, "print the status object as JSON instead of a summary")
	fs.StringVar(&junit, "junit", "", "with --wait, write a JUnit XML report to this file")
	if err := fs.Parse(args); err != nil {
		return flagExit(err)
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "tuxboot submit: unexpected argument %q\n", fs.Arg(0))
		return exitBadRequest
	}
	if junit != "" && !wait {
		fmt.Fprintln(stderr, "tuxboot submit: --junit needs --wait")
		return exitBadRequest
	}
	var err error
	if r.Timeouts, err = boot.ParseTimeouts(timeouts); err != nil {
		fmt.Fprintf(stderr, "tuxboot submit: --%v\n", err)
		return exitBadRequest
	}
	r.Overlays, r.Fatal, r.Tests = overlays, fatal, tests
	if err := absArtefacts(&r); err != nil {
		fmt.Fprintf(stderr, "tuxboot submit: %v\n", err)
		return exitBadRequest
	}
	if len(sums) > 0 {
		r.SHA256 = sums
	}
	c := cf.client()
	body, _ := json.Marshal(struct {
		boot.Request
		Callback string `json:"callback,omitempty"`
	}{r, callback})
	var v api.View
	if err := c.getJSON(ctx, "POST", "", body, &v); err != nil {
		fmt.Fprintln(stderr, "tuxboot submit:", err)
		return exitCode(err)
	}
	if !wait {
		printView(stdout, &v, asJSON)
		return exitPass
	}
	fmt.Fprintf(stderr, "tuxboot submit: %s queued, waiting\n", v.UID)
	final, err := c.wait(ctx, v.UID)
	if err != nil {
		fmt.Fprintf(stderr, "tuxboot submit: waiting for %s: %v\n", v.UID, err)
		return exitInfra
	}
	printView(stdout, final, asJSON)
	if junit != "" {
		log := ""
		if resp, err := c.do(ctx, "GET", "/"+url.PathEscape(v.UID)+"/logs", nil, "text/plain"); err == nil {
			data, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			log = string(data)
		}
		data, err := junitReport(final, log)
		if err == nil {
			err = os.WriteFile(junit, data, 0o644)
		}
		if err != nil {
			fmt.Fprintf(stderr, "tuxboot submit: --junit: %v\n", err)
			return exitInfra
		}
	}
	return viewExitCode(final)
}

// absArtefacts makes each artefact given as a relative path that exists
// here absolute: the server resolves a path from its own directory, not
// the one the user typed it in. URLs, absolute paths and paths that do
// not exist here are sent as given.
func absArtefacts(r *boot.Request) error {
	fields := []*string{&r.Kernel, &r.Rootfs, &r.Modules, &r.DTB, &r.BIOS}
	for i := range r.Overlays {
		fields = append(fields, &r.Overlays[i])
	}
	for _, f := range fields {
		p := *f
		if p == "" || filepath.IsAbs(p) || strings.Contains(p, "://") {
			continue
		}
		if _, err := os.Stat(p); err != nil {
			continue
		}
		abs, err := filepath.Abs(p)
		if err != nil {
			return fmt.Errorf("artefact %s: %w", p, err)
		}
		*f = abs
	}
	return nil
}

func printView(w io.Writer, v *api.View, asJSON bool) {
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		enc.Encode(v)
		return
	}
	fmt.Fprintf(w, "uid: %s\nstate: %s\n", v.UID, v.State)
	if v.Result != "" {
		fmt.Fprintf(w, "result: %s\n", v.Result)
	}
	if v.Failure != nil {
		fmt.Fprintf(w, "failure: %s: %s\n", v.Failure.Kind, v.Failure.Title)
	}
}

// JUnit XML, as Jenkins and GitLab read it.
type junitSuites struct {
	XMLName xml.Name     `xml:"testsuites"`
	Suites  []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name     string      `xml:"name,attr"`
	Tests    int         `xml:"tests,attr"`
	Failures int         `xml:"failures,attr"`
	Errors   int         `xml:"errors,attr"`
	Skipped  int         `xml:"skipped,attr"`
	Time     string      `xml:"time,attr"`
	Cases    []junitCase `xml:"testcase"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	ClassName string        `xml:"classname,attr"`
	Failure   *junitProblem `xml:"failure,omitempty"`
	Error     *junitProblem `xml:"error,omitempty"`
	Skipped   *struct{}     `xml:"skipped,omitempty"`
}

type junitProblem struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr,omitempty"`
	Text    string `xml:",chardata"`
}

// excerptLines is how much console a failure carries: the end of the
// log, where a boot's failure shows.
const excerptLines = 40

// consoleExcerpt is the console around line (1-based), or its last lines.
func consoleExcerpt(log string, line int) string {
	lines := strings.Split(strings.TrimRight(strings.ReplaceAll(log, "\r", ""), "\n"), "\n")
	end := len(lines)
	if line > 0 && line <= len(lines) {
		end = min(len(lines), line+excerptLines/2)
	}
	start := max(0, end-excerptLines)
	return strings.Join(lines[start:end], "\n")
}

// junitReport makes one testcase per test result: the boot, then each
// test results.json reports. Failures carry a console excerpt.
func junitReport(v *api.View, log string) ([]byte, error) {
	suite := junitSuite{Name: "tuxboot." + v.Device + "." + v.UID, Time: fmt.Sprint(v.Duration)}
	bootCase := junitCase{Name: "boot", ClassName: "tuxboot." + v.Device}
	bootResult := v.TestResults["boot"]
	if bootResult == "" {
		bootResult = v.Result
	}
	line := 0
	if v.Results != nil && len(v.Results.Crashes) > 0 {
		line = v.Results.Crashes[0].Line
	}
	msg := bootResult
	if v.Failure != nil {
		msg = v.Failure.Kind + ": " + v.Failure.Title
	}
	switch bootResult {
	case boot.Pass:
	case boot.Fail:
		bootCase.Failure = &junitProblem{Message: msg, Type: "fail", Text: consoleExcerpt(log, line)}
	default:
		bootCase.Error = &junitProblem{Message: msg, Type: bootResult, Text: consoleExcerpt(log, line)}
	}
	suite.Cases = append(suite.Cases, bootCase)
	if v.Results != nil {
		for _, t := range v.Results.Tests {
			c := junitCase{Name: t.Name, ClassName: "tuxboot." + v.Device + "." + t.Suite}
			switch t.Result {
			case boot.Pass:
			case boot.Skip:
				c.Skipped = &struct{}{}
			case boot.Fail:
				c.Failure = &junitProblem{Message: t.Suite + "/" + t.Name + " failed", Type: "fail", Text: consoleExcerpt(log, t.Line)}
			default:
				c.Error = &junitProblem{Message: t.Suite + "/" + t.Name + ": " + t.Result, Type: t.Result, Text: consoleExcerpt(log, t.Line)}
			}
			suite.Cases = append(suite.Cases, c)
		}
	}
	for _, c := range suite.Cases {
		suite.Tests++
		switch {
		case c.Failure != nil:
			suite.Failures++
		case c.Error != nil:
			suite.Errors++
		case c.Skipped != nil:
			suite.Skipped++
		}
	}
	data, err := xml.MarshalIndent(junitSuites{Suites: []junitSuite{suite}}, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("junit report: %w", err)
	}
	return append([]byte(xml.Header), append(data, '\n')...), nil
}
