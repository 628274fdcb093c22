package console

import "github.com/tuxboot/tuxboot/runner/boot"

// Summary is what the console showed.
type Summary struct {
	// KernelVersion is the release as `uname -r` prints it, from the
	// kernel's "Linux version 6.1.0-28-arm64 (...)" line.
	KernelVersion string
	// Milestones are the milestones reached, each once, in console
	// order, with Name and Line set (AtMS is the runner's to fill).
	Milestones []boot.Milestone
	// Crashes are the distinct crash reports (by kind and title).
	Crashes []boot.Crash
	// Tests are the test results, and one failing log-parser test per
	// kind of non-fatal crash ("log-parser/check-kernel-warning").
	Tests []boot.Test
	// Failure is the first fatal crash, or nil.
	Failure *boot.Failure
	// Lines counts console lines.
	Lines int
	// Truncated says something was cut: a line, a report, or a list at
	// its cap.
	Truncated bool
}

// Reached says whether the boot reached milestone name.
func (s Summary) Reached(name string) bool {
	for _, m := range s.Milestones {
		if m.Name == name {
			return true
		}
	}
	return false
}

// LastMilestone is the name of the last milestone reached, or "".
func (s Summary) LastMilestone() string {
	if len(s.Milestones) == 0 {
		return ""
	}
	return s.Milestones[len(s.Milestones)-1].Name
}

// BootOK says whether the boot succeeded: user space ran and reached a
// login or shell prompt, finished its tests, or shut down cleanly, and no
// fatal crash happened. A prompt or finished tests prove that init ran
// even on kernels that do not print "Run /init as init process"; a
// shutdown does not, so it counts only after init started.
func (s Summary) BootOK() bool {
	if s.Failure != nil {
		return false
	}
	// A prompt alone is no boot: some kernel must have run first.
	if !s.Reached(boot.MilestoneKernelStarted) && !s.Reached(boot.MilestoneInitStarted) {
		return false
	}
	// Tests that started must finish, or the guest stopped in the middle.
	if s.Reached(boot.MilestoneTestsStarted) && !s.Reached(boot.MilestoneTestsFinished) {
		return false
	}
	return s.Reached(boot.MilestoneLoginPrompt) || s.Reached(boot.MilestoneShellPrompt) ||
		s.Reached(boot.MilestoneTestsFinished) ||
		s.Reached(boot.MilestoneInitStarted) && s.Reached(boot.MilestoneShutdown)
}
