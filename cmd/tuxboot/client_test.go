package main

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nuid"

	"github.com/tuxboot/tuxboot/controller/api"
	"github.com/tuxboot/tuxboot/runner/boot"
	"github.com/tuxboot/tuxboot/runner/testkernel"
)

// TestClientAgainstServe drives a real `tuxboot serve` with tokens
// through the client subcommands: two real boots there (one passing, one
// with a failing test), one canceled, and the failing one reproduced here.
func TestClientAgainstServe(t *testing.T) {
	if testing.Short() {
		t.Skip("boots QEMU")
	}
	in := testkernel.Lookup(t, "arm64")
	tag := nuid.Next()
	dataDir := t.TempDir()
	tokens := filepath.Join(dataDir, "tokens")
	if err := os.WriteFile(tokens, []byte("# lab's CI\nlab-secret lab\nother-secret other\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { reapTagged(t, tag, 30*time.Second) })
	s := startServe(t, dataDir, tag, "--max-parallel", "2", "--tokens", tokens)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cli := func(token string, args ...string) (int, string, string) {
		var stdout, stderr bytes.Buffer
		full := append([]string{args[0], "--url", "http://" + s.addr, "--token", token, "--group", "lab", "--project", "kernel"}, args[1:]...)
		code := dispatch(ctx, full, nil, &stdout, &stderr)
		return code, stdout.String(), stderr.String()
	}
	lab := func(args ...string) (int, string, string) { return cli("lab-secret", args...) }
	request := []string{"--device", "qemu-arm64", "--kernel", in.Kernel, "--rootfs", in.Rootfs}

	// Bad requests are refused with the reason, exit 2.
	if code, _, stderr := lab(append([]string{"submit", "--device", "qemu-vax"}, request[2:]...)...); code != exitBadRequest || !strings.Contains(stderr, "qemu-vax") {
		t.Errorf("unknown device: exit %d, %s", code, stderr)
	}
	if code, _, stderr := cli("guess", "submit", "--device", "qemu-arm64", "--kernel", in.Kernel); code != exitBadRequest || !strings.Contains(stderr, "401") {
		t.Errorf("wrong token: exit %d, %s", code, stderr)
	}

	// A failing boot, waited for, with a JUnit report.
	junit := filepath.Join(dataDir, "junit.xml")
	type outcome struct {
		code           int
		stdout, stderr string
	}
	failed := make(chan outcome, 1)
	go func() {
		code, stdout, stderr := lab(append([]string{"submit", "--wait", "--json", "--junit", junit, "--boot-args", "tuxboot.mode=fail"}, request...)...)
		failed <- outcome{code, stdout, stderr}
	}()

	// A passing boot, its log followed live.
	code, stdout, stderr := lab(append([]string{"submit", "--json"}, request...)...)
	var v api.View
	if err := json.Unmarshal([]byte(stdout), &v); code != exitPass || err != nil || v.UID == "" {
		t.Fatalf("submit: exit %d %v\n%s%s", code, err, stdout, stderr)
	}
	pass := v.UID
	code, followed, stderr := lab("logs", "--follow", pass)
	if code != exitPass || !strings.Contains(followed, "TUXBOOT-INIT") {
		t.Errorf("logs --follow: exit %d, %d bytes, %s", code, len(followed), stderr)
	}
	_, stored, _ := lab("logs", pass)
	if want := strings.ReplaceAll(stored, "\r", ""); followed != want {
		t.Errorf("followed log (%d bytes) is not the stored log (%d bytes, CRs dropped)", len(followed), len(want))
	}
	code, stdout, _ = lab("status", pass)
	if err := json.Unmarshal([]byte(stdout), &v); code != exitPass || err != nil || v.Result != boot.Pass || v.TestResults["boot"] != boot.Pass {
		t.Errorf("status: exit %d %v %s", code, err, stdout)
	}
	var res boot.Result
	code, stdout, _ = lab("results", pass)
	if err := json.Unmarshal([]byte(stdout), &res); code != exitPass || err != nil || res.ID != pass || res.Result != boot.Pass {
		t.Errorf("results: exit %d %v %s", code, err, stdout)
	}
	// Another group's token sees nothing of lab's tests.
	for _, cmd := range []string{"status", "logs", "results", "cancel"} {
		if code, _, stderr := cli("other-secret", cmd, pass); code != exitBadRequest || !strings.Contains(stderr, "404") {
			t.Errorf("%s with another group's token: exit %d, %s", cmd, code, stderr)
		}
	}

	f := <-failed
	if err := json.Unmarshal([]byte(f.stdout), &v); f.code != exitFail || err != nil || v.Result != boot.Fail {
		t.Fatalf("submit --wait of a failing test: exit %d %v\n%s%s", f.code, err, f.stdout, f.stderr)
	}
	fail := v.UID
	if v.TestResults["boot"] != boot.Pass || v.TestResults["smoke/deliberate-failure"] != boot.Fail {
		t.Errorf("results of the failing test: %v", v.TestResults)
	}
	var report junitSuites
	data, err := os.ReadFile(junit)
	if err == nil {
		err = xml.Unmarshal(data, &report)
	}
	if err != nil || len(report.Suites) != 1 {
		t.Fatalf("junit: %v\n%s", err, data)
	}
	cases := map[string]junitCase{}
	for _, c := range report.Suites[0].Cases {
		cases[c.Name] = c
	}
	if c, ok := cases["boot"]; !ok || c.Failure != nil || c.Error != nil {
		t.Errorf("junit boot case: %+v", c)
	}
	if c := cases["deliberate-failure"]; c.Failure == nil || !strings.Contains(c.Failure.Text, "TEST_CASE_ID=deliberate-failure RESULT=fail") {
		t.Errorf("junit failing case without its console: %+v", c)
	}
	if c := cases["uname"]; c.Name == "" || c.Failure != nil || report.Suites[0].Failures != 1 {
		t.Errorf("junit: %d failures, uname %+v", report.Suites[0].Failures, c)
	}

	// Canceled at once, whether queued or booting.
	code, stdout, _ = lab(append([]string{"submit", "--json", "--boot-args", "tuxboot.mode=hang"}, request...)...)
	json.Unmarshal([]byte(stdout), &v)
	hang := v.UID
	if code, stdout, stderr := lab("cancel", hang); code != exitPass || !strings.Contains(stdout, "cancel requested") {
		t.Errorf("cancel: exit %d %s %s", code, stdout, stderr)
	}
	if code, _, stderr := lab("logs", "--follow", hang); code != exitInfra {
		t.Errorf("logs --follow of a canceled test: exit %d, want %d; %s", code, exitInfra, stderr)
	}
	if _, stdout, _ := lab("status", hang); !strings.Contains(stdout, `"result": "canceled"`) {
		t.Errorf("status after cancel: %s", stdout)
	}
	if code, _, stderr := lab("cancel", hang); code != exitBadRequest || !strings.Contains(stderr, "already finished") {
		t.Errorf("cancel twice: exit %d %s", code, stderr)
	}

	// Reproduced here, by `tuxboot run`'s code, with the same artefacts: the same verdict.
	results := filepath.Join(dataDir, "reproduced.json")
	code, stdout, stderr = lab("reproduce", fail, "--", "--cache-dir", filepath.Join(dataDir, "client-cache"), "--results", results, "--quiet")
	if code != exitFail || !strings.Contains(stdout, "result: fail") {
		t.Errorf("reproduce: exit %d, want %d\n%s%s", code, exitFail, stdout, stderr)
	}
	data, _ = os.ReadFile(results)
	if err := json.Unmarshal(data, &res); err != nil || res.Result != boot.Fail || res.Artefacts["kernel"].SHA256 != v.Results.Artefacts["kernel"].SHA256 {
		t.Errorf("reproduced results: %v %+v", err, res)
	}
}

func TestJUnitReport(t *testing.T) {
	log := "line 1\r\nline 2\nKernel panic - not syncing\nline 4\n"
	tests := []struct {
		name string
		v    api.View
		want []string
	}{
		{"kernel panic", api.View{UID: "u", Device: "qemu-arm64", Result: boot.Fail, TestResults: map[string]string{"boot": boot.Fail},
			Failure: &boot.Failure{Kind: "kernel_panic", Title: "Kernel panic"},
			Results: &boot.Result{Crashes: []boot.Crash{{Line: 3}}}},
			[]string{`tests="1" failures="1"`, `<testcase name="boot" classname="tuxboot.qemu-arm64">`, `message="kernel_panic: Kernel panic"`, "Kernel panic - not syncing\nline 4</failure>"}},
		{"infrastructure", api.View{UID: "u", Device: "qemu-arm64", Result: boot.Error, Failure: &boot.Failure{Kind: "qemu_error", Title: "no QEMU"}},
			[]string{`errors="1"`, `<error message="qemu_error: no QEMU" type="error">`}},
		{"tests", api.View{UID: "u", Device: "d", Result: boot.Fail, TestResults: map[string]string{"boot": boot.Pass},
			Results: &boot.Result{Tests: []boot.Test{{Suite: "s", Name: "a", Result: boot.Pass}, {Suite: "s", Name: "b", Result: boot.Fail, Line: 2}, {Suite: "s", Name: "c", Result: boot.Skip}}}},
			[]string{`tests="4" failures="1" errors="0" skipped="1"`, `<testcase name="b" classname="tuxboot.d.s">`, "line 1\nline 2\nKernel panic"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data, err := junitReport(&tt.v, log)
			if err != nil {
				t.Fatal(err)
			}
			// encoding/xml writes a newline in text as &#xA;, which readers decode.
			text := strings.ReplaceAll(string(data), "&#xA;", "\n")
			for _, w := range tt.want {
				if !strings.Contains(text, w) {
					t.Errorf("report lacks %q:\n%s", w, data)
				}
			}
		})
	}
}

func TestParseReproduceFile(t *testing.T) {
	sum := strings.Repeat("c", 64)
	res := `{"result":"fail","device":"qemu-arm64","artefacts":{"kernel":{"source":"/k","sha256":"` + sum + `"},"overlay-0":{"source":"/o"}}}`
	req, r, err := parseReproduceFile([]byte(res))
	if err != nil || req.Device != "qemu-arm64" || req.Kernel != "/k" || len(req.Overlays) != 1 || r.Result != "fail" {
		t.Fatalf("results.json: %+v %+v %v", req, r, err)
	}
	status := `{"uid":"u","request":{"device":"qemu-x86_64","kernel":"/bz","boot_args":"tuxboot.mode=fail"},"results_json":` + res + `}`
	req, r, err = parseReproduceFile([]byte(status))
	if err != nil || req.Device != "qemu-x86_64" || req.BootArgs != "tuxboot.mode=fail" || r == nil || r.Artefacts["kernel"].SHA256 != sum {
		t.Fatalf("status: %+v %+v %v", req, r, err)
	}
	if _, _, err := parseReproduceFile([]byte(`{"x":1}`)); err == nil {
		t.Error("an unrelated JSON file was taken")
	}
}

func TestReproduceAddsBootArgs(t *testing.T) {
	for _, tc := range []struct {
		orig     string
		runArgs  []string
		wantArgs string
		wantRest []string
	}{
		{"tuxboot.mode=fail", []string{"--boot-args", "nokaslr"}, "tuxboot.mode=fail nokaslr", nil},
		{"tuxboot.mode=fail", []string{"--boot-args=nokaslr", "--quiet"}, "tuxboot.mode=fail nokaslr", []string{"--quiet"}},
		{"", []string{"-boot-args", "a b", "--results", "r.json"}, "a b", []string{"--results", "r.json"}},
		{"x", []string{"--quiet"}, "x", []string{"--quiet"}},
		{"x", []string{"--boot-args"}, "x", []string{"--boot-args"}},
	} {
		req := boot.Request{BootArgs: tc.orig}
		rest := addBootArgs(&req, tc.runArgs)
		if req.BootArgs != tc.wantArgs || !slices.Equal(rest, tc.wantRest) {
			t.Errorf("%q + %q: boot args %q, rest %q; want %q, %q", tc.orig, tc.runArgs, req.BootArgs, rest, tc.wantArgs, tc.wantRest)
		}
	}
}
