package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func corpusLog(name string) string {
	return filepath.Join("..", "..", "runner", "console", "testdata", "corpus", name+".log")
}

func runAnalyze(t *testing.T, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = analyzeMain(context.Background(), args, strings.NewReader(stdin), &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestAnalyzeJSON(t *testing.T) {
	tests := []struct {
		log         string
		code        int
		bootOK      bool
		failureKind string
		crashKinds  []string
		tests       int
		last        string
	}{
		{"clean-x86_64-buildroot", exitPass, true, "", nil, 0, "login_prompt"},
		{"panic-riscv64-vfs-no-root", exitFail, false, "kernel_panic", []string{"kernel_panic"}, 0, "kernel_started"},
		{"warning-x86_64-warn-on", exitPass, true, "", []string{"warning"}, 1, "login_prompt"},
		{"tests-x86_64-lava-smoke", exitPass, true, "", nil, 4, "tests_finished"},
		{"firmware-x86_64-no-bootable-device", exitFail, false, "firmware_error", []string{"firmware_error"}, 0, "firmware"},
	}
	for _, tt := range tests {
		t.Run(tt.log, func(t *testing.T) {
			code, stdout, stderr := runAnalyze(t, "", "--json", corpusLog(tt.log))
			if code != tt.code {
				t.Fatalf("exit %d, want %d; stderr %s", code, tt.code, stderr)
			}
			var got analysis
			if err := json.Unmarshal([]byte(stdout), &got); err != nil {
				t.Fatalf("output is not JSON: %v\n%s", err, stdout)
			}
			if got.BootOK != tt.bootOK || got.LastMilestone != tt.last || len(got.Tests) != tt.tests {
				t.Errorf("boot_ok %v, last %q, %d tests; want %v, %q, %d", got.BootOK, got.LastMilestone, len(got.Tests), tt.bootOK, tt.last, tt.tests)
			}
			if (got.Failure == nil) != (tt.failureKind == "") || got.Failure != nil && got.Failure.Kind != tt.failureKind {
				t.Errorf("failure %+v, want kind %q", got.Failure, tt.failureKind)
			}
			var kinds []string
			for _, c := range got.Crashes {
				kinds = append(kinds, c.Kind)
			}
			if strings.Join(kinds, ",") != strings.Join(tt.crashKinds, ",") {
				t.Errorf("crash kinds %v, want %v", kinds, tt.crashKinds)
			}
			// The documented keys are all there, null included.
			var raw map[string]any
			json.Unmarshal([]byte(stdout), &raw)
			for _, k := range []string{"kernel_version", "milestones", "last_milestone", "boot_ok", "failure", "crashes", "tests"} {
				if _, ok := raw[k]; !ok {
					t.Errorf("JSON lacks %q", k)
				}
			}
		})
	}
}

func TestAnalyzeText(t *testing.T) {
	code, stdout, _ := runAnalyze(t, "", corpusLog("oops-arm64-null-deref"))
	if code != exitFail {
		t.Fatalf("exit %d, want %d", code, exitFail)
	}
	for _, want := range []string{"kernel:     6.12.1", "boot:       FAIL: oops: Unable to handle kernel NULL pointer dereference in lkdtm_WRITE_KERN", "oops (fatal)"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, stdout)
		}
	}
}

func TestAnalyzeStdinAndFlagsAfterFile(t *testing.T) {
	log, err := os.ReadFile(corpusLog("warning-x86_64-warn-on"))
	if err != nil {
		t.Fatal(err)
	}
	code, _, _ := runAnalyze(t, string(log), "-")
	if code != exitPass {
		t.Errorf("warning, default options: exit %d, want %d", code, exitPass)
	}
	code, stdout, _ := runAnalyze(t, string(log), "-", "--fatal", "warning", "--json")
	if code != exitFail || !strings.Contains(stdout, `"kind": "warning"`) {
		t.Errorf("warning with --fatal warning: exit %d, want %d\n%s", code, exitFail, stdout)
	}
}

func TestAnalyzeUsage(t *testing.T) {
	for _, args := range [][]string{
		{},
		{"a.log", "b.log"},
		{"--no-such-flag", "a.log"},
		{filepath.Join(t.TempDir(), "missing.log")},
	} {
		if code, _, stderr := runAnalyze(t, "", args...); code != exitBadRequest || stderr == "" {
			t.Errorf("analyze %q: exit %d, stderr %q; want %d and a message", args, code, stderr, exitBadRequest)
		}
	}
}

func TestAnalyzeCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var out, errOut bytes.Buffer
	if code := analyzeMain(ctx, []string{"-"}, strings.NewReader("Linux version 6.1.0\n"), &out, &errOut); code != exitInfra {
		t.Errorf("cancelled: exit %d, want %d", code, exitInfra)
	}
}
