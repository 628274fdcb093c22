package runner

import (
	"context"
	"testing"

	"github.com/tuxboot/tuxboot/runner/boot"
	"github.com/tuxboot/tuxboot/runner/console"
)

func TestJudge(t *testing.T) {
	booted := []boot.Milestone{{Name: boot.MilestoneKernelStarted}, {Name: boot.MilestoneInitStarted},
		{Name: boot.MilestoneTestsStarted}, {Name: boot.MilestoneTestsFinished}, {Name: boot.MilestoneShutdown}}
	panicked := []boot.Milestone{{Name: boot.MilestoneKernelStarted}}
	panicCrash := boot.Crash{Kind: "kernel_panic", Title: "kernel panic: sysrq triggered crash", Fatal: true}
	one := 1
	tests := []struct {
		name     string
		summary  console.Summary
		stop     stop
		exitCode *int
		result   string
		kind     string
		expect   []string // the request's expected test suites
	}{
		{"clean boot", console.Summary{Milestones: booted, Tests: []boot.Test{{Suite: "smoke", Name: "a", Result: boot.Pass}}}, stop{reason: stopGuestShutdown}, nil, boot.Pass, "", nil},
		{"expected tests reported", console.Summary{Milestones: booted, Tests: []boot.Test{{Suite: "smoke", Name: "a", Result: boot.Pass}}}, stop{reason: stopGuestShutdown}, nil, boot.Pass, "", []string{"smoke"}},
		{"expected tests missing", console.Summary{Milestones: booted, Tests: []boot.Test{{Suite: "smoke", Name: "a", Result: boot.Pass}}}, stop{reason: stopGuestShutdown}, nil, boot.Fail, boot.FailTest, []string{"ltp-smoke"}},
		{"failing test", console.Summary{Milestones: booted, Tests: []boot.Test{{Suite: "smoke", Name: "a", Result: boot.Fail}}}, stop{reason: stopGuestShutdown}, nil, boot.Fail, boot.FailTest, nil},
		{"log-parser check alone does not fail the boot", console.Summary{Milestones: booted, Tests: []boot.Test{{Suite: "log-parser", Name: "check-kernel-warning", Result: boot.Fail}}}, stop{reason: stopGuestShutdown}, nil, boot.Pass, "", nil},
		{"fatal crash", console.Summary{Milestones: panicked, Crashes: []boot.Crash{panicCrash}, Failure: &boot.Failure{Kind: panicCrash.Kind, Title: panicCrash.Title}}, stop{reason: stopFatalCrash}, nil, boot.Fail, "kernel_panic", nil},
		{"interrupted", console.Summary{Milestones: panicked}, stop{reason: stopContext, err: context.Canceled}, nil, boot.Error, boot.FailInterrupted, nil},
		{"overall deadline", console.Summary{Milestones: panicked}, stop{reason: stopContext, err: context.DeadlineExceeded}, nil, boot.Fail, boot.FailTimeout, nil},
		{"QEMU died", console.Summary{Milestones: panicked}, stop{reason: stopQEMUExited}, &one, boot.Error, boot.FailQEMU, nil},
		{"silence", console.Summary{Milestones: panicked}, stop{reason: stopNoOutput}, nil, boot.Fail, boot.FailNoOutput, nil},
		{"silence from the start", console.Summary{}, stop{reason: stopNoOutput}, nil, boot.Fail, boot.FailNoOutput, nil},
		{"boot timeout", console.Summary{Milestones: panicked}, stop{reason: stopBootTimeout}, nil, boot.Fail, boot.FailTimeout, nil},
		{"tests timeout", console.Summary{Milestones: booted[:3]}, stop{reason: stopTestsTimeout}, nil, boot.Fail, boot.FailTimeout, nil},
		{"QEMU stopped by a host signal", console.Summary{Milestones: booted[:2]}, stopByHost("host-signal"), nil, boot.Error, boot.FailQEMU, nil},
		{"tests never finished", console.Summary{Milestones: []boot.Milestone{booted[0], booted[1], booted[2], booted[4]}}, stop{reason: stopGuestShutdown}, nil, boot.Fail, boot.FailIncomplete, nil},
		{"test errored", console.Summary{Milestones: booted, Tests: []boot.Test{{Suite: "smoke", Name: "a", Result: boot.Error}}}, stop{reason: stopGuestShutdown}, nil, boot.Fail, boot.FailTest, nil},
		{"powered off before init", console.Summary{Milestones: panicked}, stop{reason: stopGuestShutdown}, nil, boot.Fail, boot.FailIncomplete, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := &run{res: &boot.Result{}, req: boot.Request{Tests: tt.expect}}
			b.res.QEMU.ExitCode = tt.exitCode
			b.judge(tt.summary, tt.stop)
			if b.res.Result != tt.result {
				t.Fatalf("result %q (failure %+v), want %q", b.res.Result, b.res.Failure, tt.result)
			}
			switch {
			case tt.kind == "" && b.res.Failure != nil:
				t.Errorf("failure %+v, want none", b.res.Failure)
			case tt.kind != "" && (b.res.Failure == nil || b.res.Failure.Kind != tt.kind || b.res.Failure.Title == ""):
				t.Errorf("failure %+v, want kind %q with a title", b.res.Failure, tt.kind)
			}
		})
	}
}

func TestExitCode(t *testing.T) {
	for _, tt := range []struct {
		res  boot.Result
		want int
	}{
		{boot.Result{Result: boot.Pass}, 0},
		{boot.Result{Result: boot.Fail, Failure: &boot.Failure{Kind: boot.FailNoOutput}}, 1},
		{boot.Result{Result: boot.Error, Failure: &boot.Failure{Kind: boot.FailBadRequest}}, 2},
		{boot.Result{Result: boot.Error, Failure: &boot.Failure{Kind: boot.FailArtefact}}, 3},
		{boot.Result{Result: boot.Error, Failure: &boot.Failure{Kind: boot.FailInterrupted}}, 3},
	} {
		if got := ExitCode(&tt.res); got != tt.want {
			t.Errorf("ExitCode(%+v) = %d, want %d", tt.res, got, tt.want)
		}
	}
}
