package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/tuxboot/tuxboot/runner/boot"
	"github.com/tuxboot/tuxboot/runner/testkernel"
)

// TestAnalyzeAgreesWithLiveRun boots real kernels with tuxboot run, then
// analyses the saved console log with tuxboot analyze: both must tell the
// same story, since a user rereads old logs with the second.
func TestAnalyzeAgreesWithLiveRun(t *testing.T) {
	if testing.Short() {
		t.Skip("real boots")
	}
	in := testkernel.Lookup(t, "arm64")
	for _, mode := range []string{"pass", "fail", "panic"} {
		t.Run(mode, func(t *testing.T) {
			dir := t.TempDir()
			results, log := filepath.Join(dir, "results.json"), filepath.Join(dir, "console.log")
			runCode, stdout, stderr := runCLI(t, "run", "--device", "qemu-arm64", "--kernel", in.Kernel, "--rootfs", in.Rootfs,
				"--boot-args", "tuxboot.mode="+mode, "--accel", "tcg", "--cache-dir", t.TempDir(),
				"--results", results, "--log-file", log, "--quiet")
			var live boot.Result
			data, _ := os.ReadFile(results)
			if err := json.Unmarshal(data, &live); err != nil {
				t.Fatalf("run exit %d: results.json: %v\n%s%s", runCode, err, stdout, stderr)
			}
			code, out, errOut := runCLI(t, "analyze", "--json", log)
			var saved analysis
			if err := json.Unmarshal([]byte(out), &saved); err != nil {
				t.Fatalf("analyze exit %d: %v\n%s%s", code, err, out, errOut)
			}
			if saved.KernelVersion != live.Kernel.Version || live.Kernel.Version != in.Release {
				t.Errorf("kernel: live %q, saved %q, want %q", live.Kernel.Version, saved.KernelVersion, in.Release)
			}
			var liveMS, savedMS []string
			for _, m := range live.Milestones {
				if m.Line > 0 { // a power-off only QEMU saw has no console line
					liveMS = append(liveMS, m.Name)
				}
			}
			for _, m := range saved.Milestones {
				savedMS = append(savedMS, m.Name)
			}
			if !slices.Equal(liveMS, savedMS) {
				t.Errorf("milestones: live %q, saved %q", liveMS, savedMS)
			}
			if (live.Failure == nil) != (saved.Failure == nil) && live.Failure != nil && live.Failure.Kind != boot.FailTest {
				t.Errorf("failure: live %+v, saved %+v", live.Failure, saved.Failure)
			}
			if live.Failure != nil && saved.Failure != nil && (live.Failure.Kind != saved.Failure.Kind || live.Failure.Title != saved.Failure.Title) {
				t.Errorf("failure: live %+v, saved %+v", live.Failure, saved.Failure)
			}
			if len(live.Crashes) != len(saved.Crashes) {
				t.Errorf("crashes: live %d, saved %d", len(live.Crashes), len(saved.Crashes))
			}
			for i := range min(len(live.Crashes), len(saved.Crashes)) {
				if live.Crashes[i].Kind != saved.Crashes[i].Kind || live.Crashes[i].Title != saved.Crashes[i].Title {
					t.Errorf("crash %d: live %s %q, saved %s %q", i, live.Crashes[i].Kind, live.Crashes[i].Title, saved.Crashes[i].Kind, saved.Crashes[i].Title)
				}
			}
			if len(live.Tests) != len(saved.Tests) {
				t.Fatalf("tests: live %+v, saved %+v", live.Tests, saved.Tests)
			}
			for i := range live.Tests {
				l, s := live.Tests[i], saved.Tests[i]
				if l.Suite != s.Suite || l.Name != s.Name || l.Result != s.Result {
					t.Errorf("test %d: live %+v, saved %+v", i, l, s)
				}
			}
			if (runCode == exitPass) != saved.BootOK && mode != "fail" {
				t.Errorf("run exit %d but analyze boot_ok %v", runCode, saved.BootOK)
			}
			t.Logf("%s: run exit %d, analyze exit %d, failure %+v", mode, runCode, code, live.Failure)
		})
	}
}
