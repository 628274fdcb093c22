package console

import (
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/tuxboot/tuxboot/runner/boot"
)

// s390Panic is the end of a real qemu-s390 console (Debian 6.1.0-50-s390x,
// tuxboot.mode=panic): s390 stops in the panic notifier, so no
// "---[ end Kernel panic" line and no line after the trace ever comes.
const s390Panic = "[    6.895608] Run /init as init process\r\n" +
	"TUXBOOT-INIT: s390x 6.1.0-50-s390x\r\n" +
	"[    7.401822] sysrq: Trigger a crash\r\n" +
	"[    7.402836] Kernel panic - not syncing: sysrq triggered crash\r\n" +
	"[    7.403152] CPU: 0 PID: 1 Comm: init Not tainted 6.1.0-50-s390x #1  Debian 6.1.176-1\r\n" +
	"[    7.403383] Hardware name: QEMU 8561 QEMU (KVM/Linux)\r\n" +
	"[    7.403519] Call Trace:\r\n" +
	"[    7.403892]  [<0000000000a2206a>] dump_stack_lvl+0x62/0x88 \r\n" +
	"[    7.404187]  [<0000000000a17d08>] panic+0x118/0x310 \r\n" +
	"[    7.404764]  [<00000000006bff7a>] __handle_sysrq+0xf2/0x198 \r\n" +
	"[    7.404795]  [<00000000006c05b4>] write_sysrq_trigger+0x54/0x70 \r\n" +
	"[    7.405020]  [<0000000000a31a12>] system_call+0x82/0xb0 \r\n"

const (
	lastFrame = "[    7.405020]  [<0000000000a31a12>] system_call+0x82/0xb0 "
	oopsHead  = "[    2.000000] Unable to handle kernel pointer dereference in virtual kernel address space\r\n" +
		"[    2.000001] Oops: 0004 ilc:3 [#1] SMP\r\n" +
		"[    2.000002] Krnl PSW : 0704c00180000000 000000000093a4b2 (crash_fn+0x12/0x40)\r\n" +
		"[    2.000003] Call Trace:\r\n" +
		"[    2.000004]  [<000000000093a4b2>] crash_fn+0x12/0x40 \r\n"
)

// TestFlushClosesQuietReport: a report the console said no more about
// is closed by Flush, reported once with its title and fatality, and the
// lines that may still come after it are not counted again.
func TestFlushClosesQuietReport(t *testing.T) {
	panicTitle := "kernel panic: sysrq triggered crash"
	oopsTitle := "Unable to handle kernel pointer dereference in crash_fn"
	tests := []struct {
		name        string
		before      string // written, then the console is quiet: Flush
		after       string // written after Flush, then Close
		kind        string
		title       string
		fatal       bool
		line        int    // the header's line
		reportEnd   string // the report's text ends with this
		wantTests   []string
		wantLines   int
		moreCrashes []string // kind: title of crashes after the flushed one
	}{
		{
			name: "s390 panic, last line complete", before: s390Panic,
			kind: KindPanic, title: panicTitle, fatal: true, line: 4,
			reportEnd: "system_call+0x82/0xb0\n", wantLines: 12,
		},
		{
			name:   "last line never ends",
			before: strings.TrimSuffix(s390Panic, lastFrame+"\r\n") + lastFrame,
			kind:   KindPanic, title: panicTitle, fatal: true, line: 4,
			reportEnd: "system_call+0x82/0xb0\n", wantLines: 12,
		},
		{
			name:   "end marker never ends",
			before: s390Panic + "[    7.405100] ---[ end Kernel panic - not syncing: sysrq triggered crash ]---",
			kind:   KindPanic, title: panicTitle, fatal: true, line: 4,
			reportEnd: "---[ end Kernel panic - not syncing: sysrq triggered crash ]---\n", wantLines: 13,
		},
		{
			name:   "end marker after the flush is not a second crash",
			before: s390Panic,
			after:  "[    7.405100] ---[ end Kernel panic - not syncing: sysrq triggered crash ]---\r\n",
			kind:   KindPanic, title: panicTitle, fatal: true, line: 4,
			reportEnd: "system_call+0x82/0xb0\n", wantLines: 13,
		},
		{
			name:   "line finished after the flush stays out of the report",
			before: s390Panic + "[    7.405100] ---[ end Kernel pa",
			after:  "nic - not syncing: sysrq triggered crash ]---\r\n",
			kind:   KindPanic, title: panicTitle, fatal: true, line: 4,
			reportEnd: "---[ end Kernel pa\n", wantLines: 13,
		},
		{
			name:   "fatal exception panic after a flushed oops is its end, not a crash",
			before: oopsHead,
			after: "[    2.000005]  [<0000000000a31a12>] system_call+0x82/0xb0 \r\n" +
				"[    2.000006] ---[ end trace 0000000000000000 ]---\r\n" +
				"[    2.000007] Kernel panic - not syncing: Fatal exception: panic_on_oops\r\n",
			kind: KindOops, title: oopsTitle, fatal: true, line: 1,
			reportEnd: "crash_fn+0x12/0x40\n", wantLines: 8,
		},
		{
			name:   "a new report after the flush is its own crash",
			before: oopsHead,
			after:  "[    3.000000] Kernel panic - not syncing: Attempted to kill init! exitcode=0x0000000b\r\n",
			kind:   KindOops, title: oopsTitle, fatal: true, line: 1,
			reportEnd: "crash_fn+0x12/0x40\n", wantLines: 6,
			moreCrashes: []string{KindInitDied + ": kernel panic: Attempted to kill init!"},
		},
		{
			name:   "a non-fatal report becomes a log check",
			before: "[    1.000000] INFO: task kworker:1 blocked for more than 120 seconds.\n[    1.000001] Call Trace:\n[    1.000002]  wait_fn+0x1/0x2\n",
			kind:   KindHungTask, title: "INFO: task hung in wait_fn", line: 1,
			reportEnd: "wait_fn+0x1/0x2\n", wantLines: 3,
			wantTests: []string{"log-parser/check-kernel-hung-task=fail"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var crashes []boot.Crash
			a := New(Options{OnEvent: func(e Event) {
				if e.Kind == EventCrash {
					crashes = append(crashes, *e.Crash)
				}
			}})
			a.Write([]byte(tt.before))
			if len(crashes) != 0 {
				t.Fatalf("crash before the console went quiet: %+v", crashes)
			}
			if !a.Flush() {
				t.Fatal("Flush found no open report")
			}
			if len(crashes) != 1 {
				t.Fatalf("Flush emitted %d crashes, want 1: %+v", len(crashes), crashes)
			}
			c := crashes[0]
			if c.Kind != tt.kind || c.Title != tt.title || c.Fatal != tt.fatal || c.Line != tt.line {
				t.Errorf("crash %s %q fatal %v line %d, want %s %q fatal %v line %d", c.Kind, c.Title, c.Fatal, c.Line, tt.kind, tt.title, tt.fatal, tt.line)
			}
			if !strings.HasSuffix(c.Report, tt.reportEnd) {
				t.Errorf("report ends %q, want %q", c.Report[max(0, len(c.Report)-80):], tt.reportEnd)
			}
			s := a.Summary()
			if tt.fatal && (s.Failure == nil || s.Failure.Kind != tt.kind || s.Failure.Title != tt.title) {
				t.Errorf("failure %+v before Close, want %s %q", s.Failure, tt.kind, tt.title)
			}
			if !tt.fatal && s.Failure != nil {
				t.Errorf("failure %+v from a non-fatal crash", s.Failure)
			}
			if a.Flush() {
				t.Error("second Flush found a report open")
			}

			a.Write([]byte(tt.after))
			a.Close()
			var more []string
			for _, c := range crashes[1:] {
				more = append(more, c.Kind+": "+c.Title)
			}
			if !reflect.DeepEqual(more, tt.moreCrashes) {
				t.Errorf("crashes after the flushed one %q, want %q", more, tt.moreCrashes)
			}
			s = a.Summary()
			if len(s.Crashes) != len(crashes) {
				t.Errorf("summary has %d crashes, events %d", len(s.Crashes), len(crashes))
			}
			var tests []string
			for _, x := range s.Tests {
				tests = append(tests, fmt.Sprintf("%s/%s=%s", x.Suite, x.Name, x.Result))
			}
			if !reflect.DeepEqual(tests, tt.wantTests) {
				t.Errorf("tests %q, want %q", tests, tt.wantTests)
			}
			if s.Lines != tt.wantLines {
				t.Errorf("%d lines, want %d", s.Lines, tt.wantLines)
			}
		})
	}
}

// TestFlushLeavesOthersAlone: with no report open Flush does nothing, so
// a half line a slow writer has not finished still counts whole.
func TestFlushLeavesOthersAlone(t *testing.T) {
	tests := []struct {
		name   string
		pieces []string // Flush between pieces
		want   []string // tests, as suite/name=result
	}{
		{"a LAVA signal written in two goes", []string{
			"<LAVA_SIGNAL_STARTRUN 0_smoke smoke>\n<LAVA_SIGNAL_TESTCASE TEST_CASE_ID=uname RESU",
			"LT=pass>\n<LAVA_SIGNAL_ENDRUN 0_smoke smoke>\n",
		}, []string{"smoke/uname=pass"}},
		{"a KTAP result written in two goes", []string{
			"KTAP version 1\n1..1\nok 1 exam", "ple\n",
		}, []string{"ktap/example=pass"}},
		{"a panic header not yet ended is no report yet", []string{
			"Kernel panic - not syncing: Attempted to kill init!", " exitcode=0x0000000b\n",
		}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := New(Options{})
			for i, p := range tt.pieces {
				a.Write([]byte(p))
				if i < len(tt.pieces)-1 && a.Flush() {
					t.Fatalf("Flush after %q closed a report", p)
				}
			}
			a.Close()
			s := a.Summary()
			var got []string
			for _, x := range s.Tests {
				got = append(got, fmt.Sprintf("%s/%s=%s", x.Suite, x.Name, x.Result))
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("tests %q, want %q", got, tt.want)
			}
			// The panic's header was seen whole, once.
			if strings.HasPrefix(tt.pieces[0], "Kernel panic") &&
				(len(s.Crashes) != 1 || s.Crashes[0].Kind != KindInitDied || s.Crashes[0].Title != "kernel panic: Attempted to kill init!") {
				t.Errorf("crashes %+v", s.Crashes)
			}
		})
	}
	a := New(Options{})
	a.Write([]byte(s390Panic))
	a.Close()
	if a.Flush() {
		t.Error("Flush after Close found a report open")
	}
}
