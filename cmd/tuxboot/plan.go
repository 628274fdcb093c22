package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/term"

	"github.com/tuxboot/tuxboot/controller/api"
	"github.com/tuxboot/tuxboot/runner/boot"
)

// planPoll is how often `tuxboot plan --wait` asks for the plan: one
// request for all its tests, every two seconds.
const planPoll = 2 * time.Second

// planMain is `tuxboot plan FILE [--wait] [--json]`: submit a plan (YAML or
// JSON, as POST .../plans takes it) and print its tests. With --wait it
// follows them until all have finished, and exits as `tuxboot run` would
// for the worst of them: 3 if any had an infrastructure error or was
// canceled, else 2 for a bad request, else 1 if any failed, else 0.
func planMain(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("tuxboot plan", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cf clientFlags
	cf.register(fs)
	var wait, asJSON bool
	fs.BoolVar(&wait, "wait", false, "follow the plan's tests until all have finished; exit 0 all pass, 1 any failed, 2 bad request, 3 any infrastructure error or canceled")
	fs.BoolVar(&asJSON, "json", false, "print the plan as JSON (with --wait, the finished plan; progress then goes to stderr)")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: tuxboot plan [flags] FILE   (a plan in YAML or JSON, see docs/api.md)")
		fs.PrintDefaults()
	}
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return flagExit(err)
	}
	if len(pos) != 1 {
		fs.Usage()
		return exitBadRequest
	}
	file := pos[0]
	data, err := os.ReadFile(file)
	if err != nil {
		fmt.Fprintln(stderr, "tuxboot plan:", err)
		return exitBadRequest
	}
	c := cf.client()
	p, err := c.submitPlan(ctx, data, planContentType(file, data))
	if err != nil {
		fmt.Fprintf(stderr, "tuxboot plan: %s: %v\n", file, err)
		return exitCode(err)
	}
	if !wait {
		if asJSON {
			printJSON(stdout, p)
		} else {
			printPlan(stdout, p)
		}
		return exitPass
	}
	progress := stdout
	if asJSON {
		progress = stderr
	}
	d := newPlanDisplay(progress)
	defer d.close()
	final, err := c.followPlan(ctx, p, d.update, stderr)
	if err != nil {
		d.close()
		fmt.Fprintf(stderr, "tuxboot plan: following plan %s: %v (the plan goes on on the server)\n", p.UID, err)
		return exitInfra
	}
	d.close()
	printPlanOutcome(progress, final)
	if asJSON {
		printJSON(stdout, final)
	}
	return planExitCode(final)
}

// planContentType says how to send a plan file: by its extension, or
// JSON if it looks like a JSON object, else YAML.
func planContentType(file string, data []byte) string {
	switch strings.ToLower(filepath.Ext(file)) {
	case ".yaml", ".yml":
		return "application/yaml"
	case ".json":
		return "application/json"
	}
	if t := bytes.TrimSpace(data); len(t) > 0 && t[0] == '{' {
		return "application/json"
	}
	return "application/yaml"
}

func (c *client) submitPlan(ctx context.Context, data []byte, contentType string) (*api.PlanView, error) {
	resp, err := c.send(ctx, "POST", c.project+"/plans", data, contentType, "application/json")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var p api.PlanView
	if err := json.NewDecoder(resp.Body).Decode(&p); err != nil {
		return nil, fmt.Errorf("POST plans: decode answer: %w", err)
	}
	return &p, nil
}

func (c *client) plan(ctx context.Context, uid string) (*api.PlanView, error) {
	resp, err := c.send(ctx, "GET", c.project+"/plans/"+url.PathEscape(uid), nil, "", "application/json")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var p api.PlanView
	if err := json.NewDecoder(resp.Body).Decode(&p); err != nil {
		return nil, fmt.Errorf("GET plan %s: decode answer: %w", uid, err)
	}
	return &p, nil
}

// followPlan polls a plan every planPoll until all its tests have
// finished, showing each answer. A few failed polls in a row (a server
// restarting) are waited out; a 4xx is not.
func (c *client) followPlan(ctx context.Context, p *api.PlanView, show func(*api.PlanView), stderr io.Writer) (*api.PlanView, error) {
	const maxFailures = 5
	failures := 0
	for {
		show(p)
		if p.State == api.StateFinished {
			return p, nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(planPoll):
		}
		next, err := c.plan(ctx, p.UID)
		if err != nil {
			var ae *apiError
			if errors.As(err, &ae) && ae.status/100 == 4 || ctx.Err() != nil {
				return nil, err
			}
			if failures++; failures >= maxFailures {
				return nil, fmt.Errorf("%d polls in a row failed, the last: %w", failures, err)
			}
			continue
		}
		failures = 0
		p = next
	}
}

// planExitCode is the worst of the tests' `tuxboot run` exit statuses:
// infrastructure (3, also canceled) over bad request (2) over fail (1).
func planExitCode(p *api.PlanView) int {
	code := exitPass
	for i := range p.Tests {
		code = max(code, viewExitCode(&p.Tests[i]))
	}
	return code
}

func printJSON(w io.Writer, v any) {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

// printPlan prints a plan's uid and its tests, one a line.
func printPlan(w io.Writer, p *api.PlanView) {
	fmt.Fprintf(w, "plan %s %q: %d tests\n", p.UID, p.Name, len(p.Tests))
	for i := range p.Tests {
		fmt.Fprintln(w, planRow(&p.Tests[i]))
	}
}

// printPlanOutcome prints the summary of a finished plan and why each
// test that did not pass did not.
func printPlanOutcome(w io.Writer, p *api.PlanView) {
	fmt.Fprintln(w, planSummary(p))
	for _, t := range p.Tests {
		if t.Result == boot.Pass {
			continue
		}
		why := ""
		if t.Failure != nil {
			why = ": " + t.Failure.Kind + ": " + t.Failure.Title
		}
		fmt.Fprintf(w, "  %s %s %s: %s%s\n", t.UID, t.Device, path.Base(t.Request.Kernel), t.Result, why)
	}
}

const planHeader = "UID                    DEVICE         KERNEL                   STATE         RESULT    DURATION"

// planRow is one test of a plan: uid, device, kernel basename, state,
// result and duration, in the columns of planHeader.
func planRow(t *api.View) string {
	result, dur := t.Result, "-"
	if result == "" {
		result = "-"
	}
	if t.RunningTime != nil {
		dur = fmt.Sprintf("%ds", t.Duration)
	}
	return fmt.Sprintf("%-22s %-14s %-24s %-13s %-9s %s", t.UID, t.Device, path.Base(t.Request.Kernel), t.State, result, dur)
}

// planSummary counts a plan's tests by state and, finished, by result.
func planSummary(p *api.PlanView) string {
	states := map[string]int{}
	results := map[string]int{}
	for _, t := range p.Tests {
		states[t.State]++
		if t.State == api.StateFinished {
			results[t.Result]++
		}
	}
	s := fmt.Sprintf("plan %s %q: %d tests: %d provisioning, %d running, %d finished (%d pass, %d fail, %d error, %d canceled)",
		p.UID, p.Name, len(p.Tests), states[api.StateProvisioning], states[api.StateRunning], states[api.StateFinished],
		results[boot.Pass], results[boot.Fail], results[boot.Error], results["canceled"])
	if p.State == api.StateFinished {
		s += ": " + p.Result
	}
	return s
}

// planDisplay shows a plan's progress: on a terminal, a table redrawn in
// place with ANSI cursor movement; otherwise one line per change of a
// test's state or result.
type planDisplay struct {
	w             io.Writer
	tty           bool
	width, height int
	drawn         int               // lines of the table on screen (tty)
	seen          map[string]string // test uid: state and result last printed (not tty)
	cursorHidden  bool
}

func newPlanDisplay(w io.Writer) *planDisplay {
	d := &planDisplay{w: w, seen: map[string]string{}}
	if f, ok := w.(*os.File); ok && isTerminal(w) {
		d.tty = true
		d.width, d.height, _ = term.GetSize(int(f.Fd()))
	}
	return d
}

func (d *planDisplay) update(p *api.PlanView) {
	if !d.tty {
		for i := range p.Tests {
			t := &p.Tests[i]
			now := t.State + " " + t.Result
			if d.seen[t.UID] != now {
				d.seen[t.UID] = now
				fmt.Fprintln(d.w, planRow(t))
			}
		}
		return
	}
	var b strings.Builder
	if !d.cursorHidden {
		b.WriteString("\x1b[?25l")
		d.cursorHidden = true
	}
	if d.drawn > 0 {
		fmt.Fprintf(&b, "\x1b[%dA", d.drawn) // back to the table's first line
	}
	lines := d.table(p)
	for _, l := range lines {
		b.WriteString("\r" + l + "\x1b[K\n")
	}
	b.WriteString("\x1b[J") // whatever a longer table left below
	d.drawn = len(lines)
	io.WriteString(d.w, b.String())
}

// table is the lines to draw: a header, a row per test and the summary,
// each cut to the terminal's width so none wraps (which would break the
// count of lines to move back over). A table taller than the terminal
// shows the tests still to finish first, and says how many it left out.
func (d *planDisplay) table(p *api.PlanView) []string {
	rows := make([]*api.View, 0, len(p.Tests))
	for i := range p.Tests {
		rows = append(rows, &p.Tests[i])
	}
	omitted := 0
	if room := d.height - 3; d.height > 0 && len(rows) > room {
		room = max(room, 1)
		var unfinished, finished []*api.View
		for _, t := range rows {
			if t.State == api.StateFinished {
				finished = append(finished, t)
			} else {
				unfinished = append(unfinished, t)
			}
		}
		rows = append(unfinished, finished...)
		omitted = len(rows) - room
		rows = rows[:room]
	}
	lines := []string{planHeader}
	for _, t := range rows {
		lines = append(lines, planRow(t))
	}
	summary := planSummary(p)
	if omitted > 0 {
		summary = fmt.Sprintf("(%d more not shown) %s", omitted, summary)
	}
	lines = append(lines, summary)
	if d.width > 1 {
		for i, l := range lines {
			if len(l) >= d.width {
				lines[i] = l[:d.width-1]
			}
		}
	}
	return lines
}

// close gives the terminal its cursor back.
func (d *planDisplay) close() {
	if d.cursorHidden {
		io.WriteString(d.w, "\x1b[?25h")
		d.cursorHidden = false
	}
}
