package runner

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/tuxboot/tuxboot/runner/boot"
	"github.com/tuxboot/tuxboot/runner/console"
	"github.com/tuxboot/tuxboot/runner/qemu"
)

// stopReason is why the runner stopped watching the guest.
type stopReason int

const (
	stopGuestShutdown stopReason = iota // the guest powered off or reset
	stopQEMUExited                      // QEMU ended by itself
	stopFatalCrash                      // a fatal crash, and its grace passed
	stopNoOutput                        // the console fell silent
	stopBootTimeout
	stopTestsTimeout
	stopContext       // interrupted, or the overall deadline
	stopSettled       // a prompt, no tests, nothing more to wait for
	stopTestsFinished // tests finished but the guest did not power off
	stopHostShutdown  // QEMU was told to stop by someone else (a signal, a UI)
)

type stop struct {
	reason    stopReason
	powerdown bool   // ask the guest to power off before quitting QEMU
	err       error  // the context's cause, for stopContext
	why       string // QEMU's shutdown reason, for stopHostShutdown
	exit      string // how QEMU ended, for stopQEMUExited and stopHostShutdown
}

func stopByHost(why string) stop { return stop{reason: stopHostShutdown, why: why} }

// watch waits until the boot has said all it will and says why it stopped.
// When the console has been quiet for consoleQuiet with a crash report
// open, it has sink close the report, so that a crash the guest said no
// more about (s390 stops inside its panic) is judged now, not when the
// no-output timeout ends the boot.
func (b *run) watch(ctx context.Context, m *qemu.Machine, sink *consoleSink) stop {
	to := b.req.Timeouts
	// An attended boot has no timeouts: a person ends it, or the guest
	// does; it only waits.
	attended := b.runner.attended()
	var tickC <-chan time.Time
	if !attended {
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		tickC = tick.C
	}
	for {
		select {
		case <-ctx.Done():
			return stop{reason: stopContext, err: context.Cause(ctx)}
		case <-m.Exited():
			return stop{reason: stopQEMUExited}
		case <-m.GuestShutdown():
			return stop{reason: stopGuestShutdown}
		case <-b.changed:
		case <-tickC:
		}
		if attended {
			continue
		}
		now := time.Now()
		quiet := func() bool { return time.Since(m.LastOutput()) >= consoleQuiet }
		if quiet() && sink.flushIfQuiet(quiet) {
			// Its crash event has come; the state below has it.
			b.res.Notes = append(b.res.Notes, fmt.Sprintf(
				"the console went quiet for %s inside a crash report, before its end: the report was closed there", consoleQuiet))
			now = time.Now()
		}
		b.mu.Lock()
		reached := func(name string) (time.Time, bool) { t, ok := b.reached[name]; return t, ok }
		fatalAt, started := b.fatalAt, b.qemuStart
		_, initStarted := reached(boot.MilestoneInitStarted)
		login, loginOK := reached(boot.MilestoneLoginPrompt)
		shell, shellOK := reached(boot.MilestoneShellPrompt)
		testsStarted, testsStartedOK := reached(boot.MilestoneTestsStarted)
		testsFinished, testsFinishedOK := reached(boot.MilestoneTestsFinished)
		_, shutdownOK := reached(boot.MilestoneShutdown)
		b.mu.Unlock()

		prompt, promptOK := login, loginOK
		if shellOK && (!promptOK || shell.Before(prompt)) {
			prompt, promptOK = shell, true
		}
		booted := initStarted && (promptOK || testsStartedOK || shutdownOK)
		switch {
		case !fatalAt.IsZero() && now.Sub(fatalAt) >= crashGrace:
			return stop{reason: stopFatalCrash}
		case now.Sub(m.LastOutput()) >= to.NoOutputTimeout():
			return stop{reason: stopNoOutput}
		case !booted && now.Sub(started) >= to.BootTimeout():
			return stop{reason: stopBootTimeout}
		case testsStartedOK && !testsFinishedOK && now.Sub(testsStarted) >= to.TestsTimeout():
			return stop{reason: stopTestsTimeout, powerdown: true}
		case testsFinishedOK && now.Sub(testsFinished) >= b.powerOffGrace():
			return stop{reason: stopTestsFinished, powerdown: true}
		case booted && promptOK && !testsStartedOK && now.Sub(prompt) >= promptSettle:
			return stop{reason: stopSettled, powerdown: true}
		}
	}
}

// judge turns what the console said and why the boot stopped into the verdict.
func (b *run) judge(s console.Summary, st stop) {
	res := b.res
	res.Kernel.Version = s.KernelVersion
	res.Crashes = append(res.Crashes, s.Crashes...)
	res.Tests = append(res.Tests, s.Tests...)
	if s.Truncated {
		res.Notes = append(res.Notes, "console analysis cut an over-long line or report; the log file has everything")
	}
	last := s.LastMilestone()
	if last == "" {
		last = "QEMU start"
	}
	failWith := func(kind, title string) {
		res.Result = boot.Fail
		res.Failure = &boot.Failure{Kind: kind, Title: title}
	}
	to := b.req.Timeouts
	switch {
	case st.reason == stopContext && !errors.Is(st.err, context.DeadlineExceeded):
		b.fail(boot.Error, boot.FailInterrupted, "boot interrupted at "+last, st.err)
	case s.Failure != nil:
		res.Result = boot.Fail
		f := *s.Failure
		res.Failure = &f
	case st.reason == stopHostShutdown:
		b.fail(boot.Error, boot.FailQEMU, fmt.Sprintf("QEMU was stopped from the host (%s) at %s", st.why, last), errors.New(res.QEMU.Stderr))
	case st.reason == stopQEMUExited && (res.QEMU.ExitCode == nil || *res.QEMU.ExitCode != 0):
		how := st.exit
		if how == "" {
			how = "an unknown status"
		}
		b.fail(boot.Error, boot.FailQEMU, fmt.Sprintf("QEMU exited unexpectedly (%s) at %s", how, last), errors.New(res.QEMU.Stderr))
	case st.reason == stopContext:
		failWith(boot.FailTimeout, fmt.Sprintf("overall timeout (%s) reached at %s", to.OverallTimeout(), last))
	case st.reason == stopNoOutput:
		failWith(boot.FailNoOutput, fmt.Sprintf("no console output for %s after %s", to.NoOutputTimeout(), last))
	case st.reason == stopBootTimeout:
		failWith(boot.FailTimeout, fmt.Sprintf("boot timeout (%s) reached at %s", to.BootTimeout(), last))
	case st.reason == stopTestsTimeout:
		failWith(boot.FailTimeout, fmt.Sprintf("tests timeout (%s) reached at %s", to.TestsTimeout(), last))
	case !s.BootOK():
		title := "boot stopped after " + last
		if len(s.Milestones) == 0 {
			title = "the guest stopped before the kernel printed anything"
		}
		for _, c := range s.Crashes {
			if c.Kind == "reboot" {
				title = c.Title
			}
		}
		failWith(boot.FailIncomplete, title)
	case reached(s, boot.MilestoneTestsStarted) && !reached(s, boot.MilestoneTestsFinished):
		failWith(boot.FailIncomplete, "tests started but did not finish; the guest stopped after "+last)
	default:
		for _, t := range s.Tests {
			if t.Suite == console.LogCheckSuite {
				continue
			}
			switch t.Result {
			case boot.Fail:
				failWith(boot.FailTest, fmt.Sprintf("test %s/%s failed", t.Suite, t.Name))
				return
			case boot.Error:
				failWith(boot.FailTest, fmt.Sprintf("test %s/%s errored", t.Suite, t.Name))
				return
			}
		}
		for _, suite := range b.req.Tests {
			if !slices.ContainsFunc(s.Tests, func(t boot.Test) bool { return t.Suite == suite }) {
				failWith(boot.FailTest, fmt.Sprintf("expected tests %q did not report", suite))
				return
			}
		}
		res.Result = boot.Pass
	}
}

func reached(s console.Summary, milestone string) bool {
	return slices.ContainsFunc(s.Milestones, func(m boot.Milestone) bool { return m.Name == milestone })
}

// powerOffGrace is the Runner's PowerOffGrace, or the default.
func (b *run) powerOffGrace() time.Duration {
	if b.runner.PowerOffGrace > 0 {
		return b.runner.PowerOffGrace
	}
	return finishedGrace
}
