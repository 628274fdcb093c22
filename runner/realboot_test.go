package runner_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tuxboot/tuxboot/runner"
	"github.com/tuxboot/tuxboot/runner/artefact"
	"github.com/tuxboot/tuxboot/runner/boot"
	"github.com/tuxboot/tuxboot/runner/device"
	"github.com/tuxboot/tuxboot/runner/testkernel"
)

// realDevices maps each Debian architecture hack/testdata.sh fetches to the
// device that boots it. Every device marked verified in the table must be
// here, and every device here must be marked verified.
var realDevices = []struct{ arch, device string }{
	{"amd64", "qemu-x86_64"},
	{"i386", "qemu-i386"},
	{"arm64", "qemu-arm64"},
	{"armhf", "qemu-armv7"},
	{"ppc64el", "qemu-ppc64le"},
	{"s390x", "qemu-s390"},
	{"mips64el", "qemu-mips64el"},
	{"mipsel", "qemu-mips32el"},
	{"riscv64", "qemu-riscv64"},
}

func TestVerifiedMeansBootedHere(t *testing.T) {
	var booted []string
	for _, rd := range realDevices {
		booted = append(booted, rd.device)
	}
	for _, d := range device.Builtin().All() {
		if d.Verified != slices.Contains(booted, d.Name) {
			t.Errorf("%s: verified=%v, booted by TestRealBoot=%v", d.Name, d.Verified, !d.Verified)
		}
	}
}

func newRunner(t *testing.T) *runner.Runner {
	t.Helper()
	return &runner.Runner{
		Devices: device.Builtin(),
		Fetcher: &artefact.Fetcher{CacheDir: t.TempDir()},
		WorkDir: t.TempDir(),
		// Nine guests at once under TCG, beside other tests: a slow one
		// still powers itself off, and the shutdown milestone is checked.
		PowerOffGrace: time.Minute,
	}
}

func sha256File(t *testing.T, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// TestRealBoot boots a real Debian kernel with a busybox initramfs on every
// verified device and checks the verdict against what the guest is.
func TestRealBoot(t *testing.T) {
	if testing.Short() {
		t.Skip("real boots take minutes")
	}
	for _, rd := range realDevices {
		t.Run(rd.device, func(t *testing.T) {
			t.Parallel()
			in := testkernel.Lookup(t, rd.arch)
			r := newRunner(t)
			console := &consoleTail{}
			r.Console = console
			var events []boot.Event
			r.OnEvent = func(ev boot.Event) { events = append(events, ev) }
			res := r.Run(context.Background(), boot.Request{Device: rd.device, Kernel: in.Kernel, Rootfs: in.Rootfs})
			if res.Result != boot.Pass || runner.ExitCode(res) != 0 {
				t.Fatalf("result %q (failure %+v), want pass; notes %q; qemu stderr %q\nconsole:\n%s", res.Result, res.Failure, res.Notes, res.QEMU.Stderr, console)
			}
			if res.Kernel.Version != in.Release {
				t.Errorf("kernel version %q, want %q", res.Kernel.Version, in.Release)
			}
			var names []string
			var last int64 = -1
			for _, m := range res.Milestones {
				names = append(names, m.Name)
				if m.AtMS < last {
					t.Errorf("milestone %s at %dms is before the one before it (%dms)", m.Name, m.AtMS, last)
				}
				last = m.AtMS
			}
			want := []string{boot.MilestoneKernelStarted, boot.MilestoneInitStarted, boot.MilestoneTestsStarted, boot.MilestoneTestsFinished, boot.MilestoneShutdown}
			pos := 0
			for _, n := range names {
				if pos < len(want) && n == want[pos] {
					pos++
				}
			}
			if pos != len(want) {
				t.Errorf("milestones %q, want %q in that order\nconsole:\n%s", names, want, console)
			}
			passed := map[string]bool{}
			for _, tc := range res.Tests {
				if tc.Suite == "smoke" && tc.Result == boot.Pass {
					passed[tc.Name] = true
				}
			}
			for _, name := range []string{"uname", "proc-mounted", "dev-console"} {
				if !passed[name] {
					t.Errorf("test smoke/%s did not pass: tests %+v", name, res.Tests)
				}
			}
			if res.QEMU.Version == "" || len(res.QEMU.Argv) == 0 || res.QEMU.Accel == "" {
				t.Errorf("QEMU record incomplete: %+v", res.QEMU)
			}
			if got, want := res.Artefacts["kernel"].SHA256, sha256File(t, in.Kernel); got != want {
				t.Errorf("kernel sha256 %s, want %s", got, want)
			}
			if len(events) == 0 {
				t.Errorf("no events streamed")
			}
			t.Logf("%s %s: %s in %dms", rd.device, res.Kernel.Version, res.Result, res.DurationMS)
		})
	}
}

// TestRealBootFailures makes a real kernel fail in each way the initramfs
// can, and checks each gets its own verdict.
func TestRealBootFailures(t *testing.T) {
	if testing.Short() {
		t.Skip("real boots take minutes")
	}
	tests := []struct {
		mode     string
		timeouts boot.Timeouts
		result   string
		kinds    []string // acceptable failure kinds
	}{
		{"fail", boot.Timeouts{}, boot.Fail, []string{boot.FailTest}},
		{"panic", boot.Timeouts{}, boot.Fail, []string{"kernel_panic", "oops"}},
		{"exit", boot.Timeouts{}, boot.Fail, []string{"init_died"}},
		{"hang", boot.Timeouts{NoOutput: 30}, boot.Fail, []string{boot.FailNoOutput}},
		{"chatter", boot.Timeouts{Boot: 60}, boot.Fail, []string{boot.FailTimeout}},
		{"reboot", boot.Timeouts{}, boot.Fail, []string{"reboot", boot.FailIncomplete}},
		{"shell", boot.Timeouts{}, boot.Pass, nil},
	}
	for _, dev := range []struct{ arch, device string }{{"amd64", "qemu-x86_64"}, {"arm64", "qemu-arm64"}} {
		for _, tt := range tests {
			t.Run(dev.device+"/"+tt.mode, func(t *testing.T) {
				t.Parallel()
				in := testkernel.Lookup(t, dev.arch)
				r := newRunner(t)
				console := &consoleTail{}
				r.Console = console
				res := r.Run(context.Background(), boot.Request{
					Device: dev.device, Kernel: in.Kernel, Rootfs: in.Rootfs,
					BootArgs: "tuxboot.mode=" + tt.mode, Timeouts: tt.timeouts,
				})
				if res.Result != tt.result {
					t.Fatalf("result %q (failure %+v), want %q\nconsole:\n%s", res.Result, res.Failure, tt.result, console)
				}
				if tt.kinds == nil {
					if res.Failure != nil {
						t.Fatalf("failure %+v on a passing boot", res.Failure)
					}
					return
				}
				if res.Failure == nil || !slices.Contains(tt.kinds, res.Failure.Kind) {
					t.Fatalf("failure %+v, want kind in %q\nconsole:\n%s", res.Failure, tt.kinds, console)
				}
				if res.Failure.Title == "" {
					t.Errorf("failure has no title")
				}
				if res.Kernel.Version != in.Release {
					t.Errorf("kernel version %q, want %q", res.Kernel.Version, in.Release)
				}
				t.Logf("%s: %s: %s", tt.mode, res.Failure.Kind, res.Failure.Title)
			})
		}
	}
}

// TestRealBootQuietPanic boots kernels whose console stops in the middle
// of the panic's report: s390 stops its CPU in the panic notifier, before
// the "---[ end Kernel panic" line. The crash must be judged when the
// console goes quiet, not when the no-output timeout (60 s here) ends the
// boot: the result carries the runner's note that it closed the report
// on a quiet console, which it can only do while it watches the guest,
// before that timeout.
func TestRealBootQuietPanic(t *testing.T) {
	if testing.Short() {
		t.Skip("real boots take minutes")
	}
	const quietNote = "the console went quiet for 2s inside a crash report, before its end: the report was closed there"
	tests := []struct {
		arch, device, mode string
		kind, title        string
	}{
		{"s390x", "qemu-s390", "panic", "kernel_panic", "kernel panic: sysrq triggered crash"},
		{"s390x", "qemu-s390", "exit", "init_died", "kernel panic: Attempted to kill init!"},
	}
	for _, tt := range tests {
		t.Run(tt.device+"/"+tt.mode, func(t *testing.T) {
			t.Parallel()
			in := testkernel.Lookup(t, tt.arch)
			r := newRunner(t)
			console := &consoleTail{}
			r.Console = console
			var mu sync.Mutex
			var crashEvents []string
			r.OnEvent = func(ev boot.Event) {
				if ev.Type == boot.EventCrash {
					mu.Lock()
					crashEvents = append(crashEvents, ev.Crash.Kind+": "+ev.Crash.Title)
					mu.Unlock()
				}
			}
			res := r.Run(context.Background(), boot.Request{
				Device: tt.device, Kernel: in.Kernel, Rootfs: in.Rootfs,
				BootArgs: "tuxboot.mode=" + tt.mode, Timeouts: boot.Timeouts{NoOutput: 60},
			})
			if res.Result != boot.Fail || res.Failure == nil || res.Failure.Kind != tt.kind || res.Failure.Title != tt.title {
				t.Fatalf("result %q failure %+v, want fail %s %q; notes %q\nconsole:\n%s", res.Result, res.Failure, tt.kind, tt.title, res.Notes, console)
			}
			if !slices.Contains(res.Notes, quietNote) {
				t.Fatalf("notes %q: the report was not closed on the quiet console, so the crash was judged only at the end of the boot\nconsole:\n%s", res.Notes, console)
			}
			mu.Lock()
			defer mu.Unlock()
			if want := []string{tt.kind + ": " + tt.title}; !slices.Equal(crashEvents, want) {
				t.Errorf("crash events %q, want %q", crashEvents, want)
			}
			if len(res.Crashes) != 1 || !res.Crashes[0].Fatal || !strings.Contains(res.Crashes[0].Report, "Call Trace:") {
				t.Errorf("crashes %+v, want the one fatal crash with its trace", res.Crashes)
			}
			t.Logf("%s: %s: %s in %dms", tt.mode, res.Failure.Kind, res.Failure.Title, res.DurationMS)
		})
	}
}

// consoleTail keeps the end of a console, to show when a test fails.
type consoleTail struct {
	mu  sync.Mutex
	buf []byte
}

func (c *consoleTail) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.buf = append(c.buf, p...)
	if over := len(c.buf) - 8<<10; over > 0 {
		c.buf = c.buf[over:]
	}
	return len(p), nil
}

func (c *consoleTail) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return string(c.buf)
}
