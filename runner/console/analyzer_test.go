package console

import (
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/tuxboot/tuxboot/runner/boot"
)

func summarize(t *testing.T, log string, opts Options) Summary {
	t.Helper()
	a := New(opts)
	a.Write([]byte(log))
	a.Close()
	return a.Summary()
}

const warnLog = `[    1.000000] Linux version 6.1.0 (x@y) #1 SMP
[    1.100000] ------------[ cut here ]------------
[    1.100001] WARNING: CPU: 0 PID: 1 at lib/foo.c:10 foo_init+0x1/0x2
[    1.100002] Call Trace:
[    1.100003]  foo_init+0x1/0x2
[    1.100004] ---[ end trace 0000000000000000 ]---
[    1.100005] Out of memory: Killed process 42 (hog) total-vm:1kB
[    2.000000] Run /init as init process
/ # `

func TestEventsInConsoleOrder(t *testing.T) {
	var got []string
	a := New(Options{OnEvent: func(e Event) {
		s := fmt.Sprintf("%d %s", e.Line, e.Kind)
		switch {
		case e.Milestone != "":
			s += " " + e.Milestone
		case e.Crash != nil:
			s += " " + e.Crash.Title
		case e.Test != nil:
			s += " " + e.Test.Suite + "/" + e.Test.Name + "=" + e.Test.Result
		case e.KernelVersion != "":
			s += " " + e.KernelVersion
		}
		got = append(got, s)
	}})
	a.Write([]byte(warnLog))
	// The prompt awaits input, without a newline: it counts before Close.
	if n := len(got); n == 0 || got[n-1] != "9 milestone shell_prompt" {
		t.Fatalf("prompt not seen before Close: %q", got)
	}
	a.Close()
	want := []string{
		"1 kernel_version 6.1.0",
		"1 milestone kernel_started",
		"3 crash WARNING in foo_init",
		"3 test log-parser/check-kernel-warning=fail",
		"7 crash out of memory: killed process hog",
		"7 test log-parser/check-kernel-oom=fail",
		"8 milestone init_started",
		"9 milestone shell_prompt",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("events:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	s := a.Summary()
	if !s.BootOK() || s.Failure != nil || s.Lines != 9 {
		t.Errorf("boot_ok %v, failure %+v, %d lines", s.BootOK(), s.Failure, s.Lines)
	}
}

func TestFatalOption(t *testing.T) {
	tests := []struct {
		fatal []string
		want  *boot.Failure
	}{
		{nil, nil},
		{[]string{"warning"}, &boot.Failure{Kind: KindWarning, Title: "WARNING in foo_init"}},
		{[]string{"oom"}, &boot.Failure{Kind: KindOOM, Title: "out of memory: killed process hog"}},
		{[]string{"all"}, &boot.Failure{Kind: KindWarning, Title: "WARNING in foo_init"}},
	}
	for _, tt := range tests {
		s := summarize(t, warnLog, Options{Fatal: tt.fatal})
		if !reflect.DeepEqual(s.Failure, tt.want) {
			t.Errorf("Fatal %v: failure %+v, want %+v", tt.fatal, s.Failure, tt.want)
		}
		if s.BootOK() != (tt.want == nil) {
			t.Errorf("Fatal %v: boot_ok %v", tt.fatal, s.BootOK())
		}
		checks := 0
		for _, x := range s.Tests {
			if x.Suite == LogCheckSuite {
				checks++
			}
		}
		// A crash either fails the boot or fails a log check.
		if fatal := len(tt.fatal); fatal == 0 && checks != 2 || tt.fatal != nil && tt.fatal[0] == "all" && checks != 0 {
			t.Errorf("Fatal %v: %d log checks", tt.fatal, checks)
		}
	}
}

func TestTitles(t *testing.T) {
	tests := []struct {
		log, kind, title string
	}{
		{"WARNING: at drivers/net/foo.c:12 foo_xmit+0x1/0x2()\n", KindWarning, "WARNING in foo_xmit"},
		{"WARNING: CPU: 1 PID: 7 at kernel/a.c:3 a_fn.isra.0+0x1/0x2 [amod]\n---[ end trace ]---\n", KindWarning, "WARNING in a_fn"},
		{"BUG: spinlock bad magic on CPU#0, swapper/0/1\n", KindBug, "BUG: spinlock bad magic on CPU#0"},
		{"BUG: workqueue lockup - pool cpus=0 node=0 flags=0x0 nice=0 stuck for 31s!\n", KindLockup, "BUG: workqueue lockup"},
		{"INFO: rcu_sched self-detected stall on CPU\n", KindRCUStall, "INFO: rcu detected stall"},
		{"BUG: soft lockup - CPU#0 stuck for 22s! [a:1]\nRIP: 0010:spin_fn+0x1/0x2\n", KindLockup, "BUG: soft lockup in spin_fn"},
		{"NMI watchdog: Watchdog detected hard LOCKUP on cpu 0\n", KindLockup, "BUG: hard lockup"},
		{"Memory cgroup out of memory: Killed process 123 (foo) total-vm:1kB\n", KindOOM, "out of memory: killed process foo"},
		{"KVM internal error. Suberror: 1\n", KindQEMUError, "qemu error: KVM internal error"},
		{"UBSAN: Undefined behaviour in lib/a.c:1:2\n", KindUBSAN, "UBSAN: Undefined behaviour in lib/a.c"},
		{"general protection fault: 0000 [#1] SMP\nRIP: 0010:[<ffffffff81000000>]  [<ffffffff81000000>] old_fn+0x1/0x2\n", KindOops, "general protection fault in old_fn"},
		{"Kernel panic - not syncing: Out of memory and no killable processes...\n", KindPanic, "kernel panic: Out of memory and no killable processes..."},
	}
	for _, tt := range tests {
		s := summarize(t, tt.log, Options{})
		if len(s.Crashes) != 1 || s.Crashes[0].Kind != tt.kind || s.Crashes[0].Title != tt.title {
			t.Errorf("%q: crashes %+v, want %s %q", tt.log, s.Crashes, tt.kind, tt.title)
		}
	}
}

func TestNotCrashes(t *testing.T) {
	for _, log := range []string{
		"qemu-system-riscv64: warning: disabling zfa extension\n",
		"qemu-system-aarch64: terminating on signal 15 from pid 99\n",
		"WARNING: The mand mount option has been deprecated\n",
		"Oops-less line\n",
		"[    1.0] Linux version 6.1 (a@b)\nBUG: printed by a test, without a timestamp\n",
		"[    1.0] Linux version 6.1 (a@b)\n[    2.0] ---[ end trace 0000000000000000 ]---\n",
	} {
		if s := summarize(t, log, Options{}); len(s.Crashes) != 0 {
			t.Errorf("%q: crashes %+v", log, s.Crashes)
		}
	}
}

func TestLineEnds(t *testing.T) {
	// CR LF, CR CR LF and a lone CR, which overwrites a line.
	log := "SeaBIOS (version 1.16)\r\n\r\r\nprogress 10%\rRun /init as init process\r\nlogin:"
	var lines []int
	a := New(Options{OnEvent: func(e Event) { lines = append(lines, e.Line) }})
	a.Write([]byte(log))
	a.Close()
	s := a.Summary()
	if s.Lines != 4 || !reflect.DeepEqual(lines, []int{1, 3, 4}) {
		t.Errorf("%d lines, events at %v; want 4 lines, events at [1 3 4]", s.Lines, lines)
	}
}

func TestCaps(t *testing.T) {
	opts := Options{MaxLineBytes: 100, MaxReportBytes: 1000}
	long := "x" + strings.Repeat("y", 10000) + "\nRun /init as init process\n"
	a := New(opts)
	for i := 0; i < len(long); i += 7 {
		a.Write([]byte(long[i:min(i+7, len(long))]))
		if len(a.buf) > opts.MaxLineBytes {
			t.Fatalf("line buffer %d bytes", len(a.buf))
		}
	}
	a.Close()
	if s := a.Summary(); !s.Truncated || !s.Reached(boot.MilestoneInitStarted) {
		t.Errorf("long line: truncated %v, milestones %v", s.Truncated, s.Milestones)
	}

	var b strings.Builder
	b.WriteString("------------[ cut here ]------------\nkernel BUG at a.c:1!\nCall Trace:\n")
	for i := range 1000 {
		fmt.Fprintf(&b, " frame%d+0x1/0x2\n", i)
	}
	s := summarize(t, b.String(), opts)
	if len(s.Crashes) != 1 || !s.Crashes[0].Truncated || len(s.Crashes[0].Report) > opts.MaxReportBytes || !s.Truncated {
		t.Errorf("long report: %+v", s.Crashes)
	}

	b.Reset()
	for i := range MaxCrashes + 50 {
		fmt.Fprintf(&b, "Kernel panic - not syncing: number %c%c\n", 'a'+i%26, 'a'+i/26)
	}
	if s := summarize(t, b.String(), opts); len(s.Crashes) != MaxCrashes || !s.Truncated || s.Failure == nil {
		t.Errorf("many crashes: %d kept, truncated %v", len(s.Crashes), s.Truncated)
	}
}

func TestCloseTwiceAndWriteAfterClose(t *testing.T) {
	a := New(Options{})
	a.Write([]byte("Kernel panic - not syncing: x"))
	a.Close()
	a.Close()
	if n, err := a.Write([]byte("Kernel panic - not syncing: y\n")); n != 30 || err != nil {
		t.Errorf("Write after Close: %d, %v", n, err)
	}
	if s := a.Summary(); len(s.Crashes) != 1 || s.Crashes[0].Title != "kernel panic: x" {
		t.Errorf("crashes %+v", s.Crashes)
	}
}

func TestPrompts(t *testing.T) {
	tests := []struct {
		line string
		want string
	}{
		{"buildroot login: ", boot.MilestoneLoginPrompt},
		{"login: root", boot.MilestoneLoginPrompt},
		{"Last login: Tue Dec  1 on ttyS0", ""},
		{"/ # ", boot.MilestoneShellPrompt},
		{"/root # ls", boot.MilestoneShellPrompt},
		{"root@qemux86-64:~# ", boot.MilestoneShellPrompt},
		{"user@host:/tmp$ ", boot.MilestoneShellPrompt},
		{"[root@fedora ~]# ", boot.MilestoneShellPrompt},
		{"sh-5.2# ", boot.MilestoneShellPrompt},
		{"# Subtest: example", ""},
		{"# ", ""},
		{"(initramfs) ", ""},
	}
	for _, tt := range tests {
		s := summarize(t, tt.line, Options{})
		if got := s.LastMilestone(); got != tt.want {
			t.Errorf("%q: milestone %q, want %q", tt.line, got, tt.want)
		}
	}
}

func TestPreambleWithinReportCap(t *testing.T) {
	opts := Options{MaxLineBytes: 1000, MaxReportBytes: 100}
	log := "------------[ cut here ]------------\n" + strings.Repeat("w", 900) + "\nWARNING: CPU: 0 PID: 1 at a.c:1 f+0x1/0x2\n---[ end trace 0 ]---\n"
	s := summarize(t, log, opts)
	if len(s.Crashes) != 1 || len(s.Crashes[0].Report) > opts.MaxReportBytes || !s.Crashes[0].Truncated {
		t.Errorf("crashes %+v", s.Crashes)
	}
}
