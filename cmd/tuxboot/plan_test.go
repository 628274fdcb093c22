package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nuid"

	"github.com/tuxboot/tuxboot/controller/api"
	"github.com/tuxboot/tuxboot/runner/boot"
)

func TestPlanContentType(t *testing.T) {
	tests := []struct{ file, data, want string }{
		{"nightly.yaml", `{"version":1}`, "application/yaml"},
		{"nightly.YML", "version: 1", "application/yaml"},
		{"nightly.json", "version: 1", "application/json"},
		{"plan", "  \n{\"version\":1}", "application/json"},
		{"plan", "version: 1\nname: x\n", "application/yaml"},
	}
	for _, tt := range tests {
		if got := planContentType(tt.file, []byte(tt.data)); got != tt.want {
			t.Errorf("planContentType(%q, %q) = %s, want %s", tt.file, tt.data, got, tt.want)
		}
	}
}

func TestPlanExitCode(t *testing.T) {
	finished := func(result, kind string) api.View {
		v := api.View{State: api.StateFinished, Result: result}
		if kind != "" {
			v.Failure = &boot.Failure{Kind: kind}
		}
		return v
	}
	pass, fail := finished(boot.Pass, ""), finished(boot.Fail, "kernel_panic")
	infra, canceled := finished(boot.Error, boot.FailArtefact), finished("canceled", boot.FailInterrupted)
	bad := finished(boot.Error, boot.FailBadRequest)
	tests := []struct {
		name  string
		tests []api.View
		want  int
	}{
		{"all pass", []api.View{pass, pass}, exitPass},
		{"a failure", []api.View{pass, fail}, exitFail},
		{"a bad request beats a failure", []api.View{fail, bad}, exitBadRequest},
		{"an infrastructure error beats all", []api.View{fail, infra, bad}, exitInfra},
		{"canceled is infrastructure", []api.View{pass, canceled}, exitInfra},
	}
	for _, tt := range tests {
		if got := planExitCode(&api.PlanView{Tests: tt.tests}); got != tt.want {
			t.Errorf("%s: exit %d, want %d", tt.name, got, tt.want)
		}
	}
}

func planOf(states ...string) *api.PlanView {
	p := &api.PlanView{UID: "PLANUID", Name: "nightly", State: api.StateFinished}
	started := time.Now()
	for i, st := range states {
		v := api.View{UID: fmt.Sprintf("UID%d", i), Device: "qemu-arm64", State: st, Request: boot.Request{Kernel: "https://example.com/builds/42/Image.gz"}}
		if st != api.StateProvisioning {
			v.RunningTime, v.Duration = &started, int64(i)
		}
		if st == api.StateFinished {
			v.Result = boot.Pass
		} else {
			p.State = st
		}
		p.Tests = append(p.Tests, v)
	}
	return p
}

// TestPlanDisplay checks both faces of plan --wait's progress: a table
// redrawn in place on a terminal, and one line per change elsewhere.
func TestPlanDisplay(t *testing.T) {
	t.Run("terminal", func(t *testing.T) {
		var out strings.Builder
		d := &planDisplay{w: &out, tty: true, width: 200, height: 40, seen: map[string]string{}}
		d.update(planOf(api.StateProvisioning, api.StateRunning))
		first := out.String()
		out.Reset()
		d.update(planOf(api.StateRunning, api.StateFinished))
		second := out.String()
		out.Reset()
		d.close()
		if !strings.HasPrefix(first, "\x1b[?25l") || strings.Contains(first, "\x1b[4A") {
			t.Errorf("first draw hides the cursor and moves nowhere: %q", first)
		}
		// Header, two rows, summary: four lines to go back over.
		if !strings.HasPrefix(second, "\x1b[4A") || strings.Count(second, "\x1b[K\n") != 4 {
			t.Errorf("redraw does not go back over the 4 lines drawn: %q", second)
		}
		for _, want := range []string{"UID0", "qemu-arm64", "Image.gz", "running", "UID1", "finished", "pass", "1s", "1 running, 1 finished (1 pass"} {
			if !strings.Contains(second, want) {
				t.Errorf("redraw lacks %q: %q", want, second)
			}
		}
		if out.String() != "\x1b[?25h" {
			t.Errorf("close wrote %q, want the cursor back", out.String())
		}
	})
	t.Run("small terminal", func(t *testing.T) {
		var out strings.Builder
		d := &planDisplay{w: &out, tty: true, width: 40, height: 6, seen: map[string]string{}}
		d.update(planOf(api.StateFinished, api.StateFinished, api.StateFinished, api.StateRunning, api.StateRunning))
		lines := strings.Split(strings.TrimSuffix(out.String(), "\n\x1b[J"), "\n")
		if len(lines) != 5 { // header, 3 rows, summary: the terminal's height less one
			t.Errorf("%d lines on a 6-line terminal: %q", len(lines), lines)
		}
		for _, l := range lines {
			if text := regexp.MustCompile(`\x1b\[[0-9;?]*[a-zA-Z]|\r`).ReplaceAllString(l, ""); len(text) >= 40 {
				t.Errorf("line of %d columns on a 40-column terminal: %q", len(text), text)
			}
		}
		if !strings.Contains(out.String(), "UID3") || !strings.Contains(out.String(), "UID4") || !strings.Contains(out.String(), "(2 more") {
			t.Errorf("the running tests are not shown first, or the left-out ones not counted: %q", out.String())
		}
	})
	t.Run("not a terminal", func(t *testing.T) {
		var out strings.Builder
		d := newPlanDisplay(&out)
		d.update(planOf(api.StateProvisioning, api.StateRunning))
		d.update(planOf(api.StateProvisioning, api.StateRunning)) // nothing changed
		d.update(planOf(api.StateRunning, api.StateFinished))
		d.close()
		lines := strings.Split(strings.TrimSpace(out.String()), "\n")
		if len(lines) != 4 || strings.Contains(out.String(), "\x1b") {
			t.Fatalf("want 4 plain lines (2 tests, then a change of each): %q", out.String())
		}
		if !strings.HasPrefix(lines[3], "UID1") || !strings.Contains(lines[3], "finished") || !strings.Contains(lines[3], "pass") {
			t.Errorf("last change: %q", lines[3])
		}
	})
}

// TestPlanAgainstServe submits a plan of six real boots on three
// architectures (each passing once and panicking once) to `tuxboot serve`
// with `tuxboot plan --wait`, and checks every test's result, the plan's
// and the exit status.
func TestPlanAgainstServe(t *testing.T) {
	if testing.Short() {
		t.Skip("boots QEMU")
	}
	arches := []struct{ arch, device string }{{"arm64", "qemu-arm64"}, {"riscv64", "qemu-riscv64"}, {"s390x", "qemu-s390"}}
	var plan strings.Builder
	plan.WriteString("version: 1\nname: three-arches\ntests:\n")
	type expect struct{ device, bootArgs, result, failure string }
	var want []expect
	for _, a := range arches {
		req := realRequest(t, a.arch, a.device, "")
		for _, v := range []expect{{a.device, "tuxboot.mode=pass", boot.Pass, ""}, {a.device, "tuxboot.mode=panic", boot.Fail, "kernel_panic"}} {
			fmt.Fprintf(&plan, "  - device: %s\n    kernel: %s\n    rootfs: %s\n    boot_args: %s\n", a.device, req.Kernel, req.Rootfs, v.bootArgs)
			want = append(want, v)
		}
	}
	tag := nuid.Next()
	dataDir := t.TempDir()
	t.Cleanup(func() { reapTagged(t, tag, 30*time.Second) })
	s := startServe(t, dataDir, tag, "--max-parallel", "3")
	file := filepath.Join(dataDir, "plan.yaml")
	if err := os.WriteFile(file, []byte(plan.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	cli2 := func(cmd string, args ...string) (int, string, string) {
		var stdout, stderr syncBuffer
		full := append([]string{cmd, "--url", "http://" + s.addr, "--group", "lab", "--project", "kernel"}, args...)
		code := dispatch(ctx, full, nil, &stdout, &stderr)
		return code, stdout.String(), stderr.String()
	}
	cli := func(args ...string) (int, string, string) { return cli2("plan", args...) }

	// A bad plan is refused with the reason, and nothing boots.
	bad := filepath.Join(dataDir, "bad.json")
	os.WriteFile(bad, []byte(`{"version":1,"name":"bad","tests":[{"device":"qemu-vax","kernel":"/k"}]}`), 0o644)
	if code, _, stderr := cli(bad); code != exitBadRequest || !strings.Contains(stderr, "tests[0] (qemu-vax, /k): device") {
		t.Errorf("bad plan: exit %d, %s", code, stderr)
	}

	started := time.Now()
	code, stdout, stderr := cli("--wait", "--json", file)
	t.Logf("plan of %d boots finished in %s", len(want), time.Since(started).Round(time.Second))
	var p api.PlanView
	if err := json.Unmarshal([]byte(stdout), &p); err != nil {
		t.Fatalf("plan --wait --json: exit %d, %v\n%s\n%s", code, err, stdout, stderr)
	}
	if code != exitFail {
		t.Errorf("exit %d, want %d: a kernel panicked, nothing else went wrong", code, exitFail)
	}
	if p.State != api.StateFinished || p.Result != boot.Fail || p.Name != "three-arches" || len(p.Tests) != len(want) {
		t.Fatalf("plan %s %q: %s %s with %d tests, want finished fail with %d", p.UID, p.Name, p.State, p.Result, len(p.Tests), len(want))
	}
	for i, w := range want {
		v := p.Tests[i]
		if v.Device != w.device || v.Request.BootArgs != w.bootArgs || v.State != api.StateFinished || v.Result != w.result {
			t.Errorf("test %d (%s %s): %s %s %+v, want %s", i, v.Device, v.Request.BootArgs, v.State, v.Result, v.Failure, w.result)
		}
		if w.failure != "" && (v.Failure == nil || v.Failure.Kind != w.failure) {
			t.Errorf("test %d (%s %s): failure %+v, want %s", i, v.Device, v.Request.BootArgs, v.Failure, w.failure)
		}
		// Progress, not on a terminal: a plain line when each finished.
		if !regexp.MustCompile(`(?m)^` + v.UID + ` +` + v.Device + ` +kernel +finished +` + v.Result + ` +\d+s$`).MatchString(stderr) {
			t.Errorf("no progress line for test %d finishing in:\n%s", i, stderr)
		}
	}
	if !strings.Contains(stderr, fmt.Sprintf("plan %s \"three-arches\": 6 tests: 0 provisioning, 0 running, 6 finished (3 pass, 3 fail, 0 error, 0 canceled): fail", p.UID)) {
		t.Errorf("no final summary in:\n%s", stderr)
	}
	if strings.Contains(stderr, "\x1b[") {
		t.Errorf("cursor movement written to a file")
	}

	// Without --wait: the plan and its tests, at once.
	code, stdout, _ = cli(file)
	if code != exitPass || !regexp.MustCompile(`^plan \w+ "three-arches": 6 tests\n(\w+ +qemu-\S+ +kernel +provisioning +- +-\n){6}$`).MatchString(stdout) {
		t.Errorf("plan without --wait: exit %d\n%s", code, stdout)
	}
	// Canceled at once: they were only to be listed.
	for _, line := range strings.Split(strings.TrimSpace(stdout), "\n")[1:] {
		uid := strings.Fields(line)[0]
		if code, _, stderr := cli2("cancel", uid); code != exitPass {
			t.Errorf("cancel %s: exit %d %s", uid, code, stderr)
		}
	}
}
