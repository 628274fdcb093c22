// Package boot holds the wire types of TuxBoot: the boot request a client
// sends, the events a runner streams while it boots, and the final result.
// The controller and the runner both import it; it imports nothing of ours.
package boot

// APIVersion names the schema of every request, event and result.
// A consumer refuses a document whose apiVersion it does not know.
const APIVersion = "tuxboot.dev/v1"

// Verdicts of a boot, as TuxSuite and KernelCI spell them.
const (
	Pass  = "pass"  // booted, and every test passed
	Fail  = "fail"  // the kernel or a test failed
	Error = "error" // infrastructure failed: the kernel was not judged
	Skip  = "skip"  // a test result only
)

// Milestone names, in the order a healthy boot reaches them.
const (
	MilestoneFirmware      = "firmware"
	MilestoneKernelStarted = "kernel_started"
	MilestoneInitStarted   = "init_started"
	MilestoneLoginPrompt   = "login_prompt"
	MilestoneShellPrompt   = "shell_prompt"
	MilestoneTestsStarted  = "tests_started"
	MilestoneTestsFinished = "tests_finished"
	MilestoneShutdown      = "shutdown"
)

// Failure kinds that the runner decides, beside the crash kinds the
// console analyser reports (kernel_panic, oops, ...).
const (
	FailNoOutput     = "no_output"       // the guest printed nothing for the no-output timeout
	FailTimeout      = "timeout"         // a boot or tests timeout passed while output still flowed
	FailIncomplete   = "boot_incomplete" // QEMU stopped before the boot reached a passing milestone
	FailTest         = "test_failure"    // the boot passed and a test failed
	FailBadRequest   = "bad_request"     // the request itself is wrong (error result, exit 2)
	FailArtefact     = "artefact_error"  // an artefact could not be fetched or read
	FailQEMU         = "qemu_error"      // QEMU is missing, refused to start or crashed
	FailInfra        = "infrastructure"  // any other failure of ours
	FailInterrupted  = "interrupted"     // the runner was told to stop
	FailDeviceNeeded = "device_needed"   // the device needs an artefact the request lacks
)

// Failure says why a boot did not pass.
type Failure struct {
	Kind    string `json:"kind"`
	Title   string `json:"title"`
	Message string `json:"message,omitempty"`
}

// Milestone is a point the boot reached. AtMS counts from QEMU start;
// Line is the 1-based console line that showed it.
type Milestone struct {
	Name string `json:"name"`
	AtMS int64  `json:"at_ms"`
	Line int    `json:"line,omitempty"`
}

// Crash is one kernel (or firmware, or QEMU) error report found on the console.
type Crash struct {
	Kind      string `json:"kind"`
	Title     string `json:"title"`
	Fatal     bool   `json:"fatal"`
	Line      int    `json:"line,omitempty"`
	Report    string `json:"report,omitempty"`
	Truncated bool   `json:"truncated,omitempty"`
}

// Test is one test case result.
type Test struct {
	Suite       string `json:"suite"`
	Name        string `json:"name"`
	Result      string `json:"result"` // pass, fail, skip, or error
	Measurement string `json:"measurement,omitempty"`
	Units       string `json:"units,omitempty"`
	Line        int    `json:"line,omitempty"`
}

// Kernel describes the kernel as the console reported it.
type Kernel struct {
	Version string `json:"version"`
}

// QEMU records exactly how the guest was run, so it can be run again.
type QEMU struct {
	Binary   string   `json:"binary"`
	Version  string   `json:"version"`
	Argv     []string `json:"argv"`
	Accel    string   `json:"accel"`
	ExitCode *int     `json:"exit_code,omitempty"`
	Stderr   string   `json:"stderr,omitempty"`
}

// Artefact is a file the boot used, as fetched and verified.
type Artefact struct {
	Source string `json:"source"`
	SHA256 string `json:"sha256"`
	Size   int64  `json:"size"`
}

// Result is the final word on one boot: results.json.
type Result struct {
	APIVersion string              `json:"apiVersion"`
	ID         string              `json:"id,omitempty"`
	Attempt    int                 `json:"attempt,omitempty"`
	Result     string              `json:"result"`
	Device     string              `json:"device"`
	Failure    *Failure            `json:"failure"`
	Milestones []Milestone         `json:"milestones"`
	Crashes    []Crash             `json:"crashes"`
	Tests      []Test              `json:"tests"`
	Kernel     Kernel              `json:"kernel"`
	QEMU       QEMU                `json:"qemu"`
	Artefacts  map[string]Artefact `json:"artefacts"`
	Notes      []string            `json:"notes,omitempty"`
	LogBytes   int64               `json:"log_bytes"`
	DurationMS int64               `json:"duration_ms"`
}

// Event types, streamed while a boot runs.
const (
	EventState     = "state"     // State is set: queued, scheduled, running, finished
	EventMilestone = "milestone" // Milestone is set
	EventCrash     = "crash"     // Crash is set
	EventTest      = "test"      // Test is set
	EventKernel    = "kernel"    // Kernel is set
	EventNote      = "note"      // Message is set
)

// Event is one thing that happened during a boot, in order (Seq).
type Event struct {
	APIVersion string     `json:"apiVersion"`
	ID         string     `json:"id,omitempty"`
	Seq        int64      `json:"seq"`
	Type       string     `json:"type"`
	AtMS       int64      `json:"at_ms"`
	State      string     `json:"state,omitempty"`
	Milestone  *Milestone `json:"milestone,omitempty"`
	Crash      *Crash     `json:"crash,omitempty"`
	Test       *Test      `json:"test,omitempty"`
	Kernel     *Kernel    `json:"kernel,omitempty"`
	Message    string     `json:"message,omitempty"`
}
