package console

import (
	"bytes"
	"strings"

	"github.com/tuxboot/tuxboot/runner/boot"
)

const (
	maxPreambleLines = 8  // lines between "cut here" and a header
	maxUntracedLines = 60 // an endAfterTrace report with no trace this long is over
)

// report is the crash report being read.
type report struct {
	h         header
	line      int
	text      []byte
	truncated bool
	lines     int
	sawTrace  bool // a "Call Trace:" or the like went by
	inIRQ     bool // between <IRQ> and </IRQ>
	leftIRQ   bool // an </IRQ> went by
	pc        string
	frame     string
	irqFrame  string // the first frame after </IRQ>
	lock      string
	file      string
	access    string
}

// preamble holds the lines that may start a report ("cut here", a line
// of '=') until a header comes or it is clearly not coming.
type preamble struct {
	text  []byte
	lines int
}

func (p *preamble) reset() { p.text, p.lines = p.text[:0], 0 }

// add appends line t to the report, within the caps, and gathers what
// the title needs.
func (r *report) add(t, ts []byte, maxBytes int) {
	r.lines++
	if !r.truncated {
		if len(r.text)+len(t)+1 > maxBytes {
			r.truncated = true
		} else {
			r.text = append(r.text, t...)
			r.text = append(r.text, '\n')
		}
	}
	switch {
	case hasPrefix(ts, "Call Trace") || hasPrefix(ts, "Call trace") || hasPrefix(ts, "Backtrace:") ||
		hasPrefix(t, "[<"):
		r.sawTrace = true
	case hasPrefix(ts, "<IRQ>"):
		r.inIRQ = true
	case hasPrefix(ts, "</IRQ>"):
		r.inIRQ, r.leftIRQ = false, true
	}
	if r.h.from == fnNone && !r.h.access {
		return
	}
	if r.pc == "" {
		r.pc = pcFunc(ts)
	}
	if r.h.access && r.access == "" && r.lines <= 4 {
		if hasPrefix(ts, "Read of size") {
			r.access = "Read"
		} else if hasPrefix(ts, "Write of size") {
			r.access = "Write"
		}
	}
	if r.h.from == fnLock && r.lock == "" {
		if i := bytes.Index(ts, []byte(", at: ")); i >= 0 {
			r.lock = funcName(ts[i:])
		}
	}
	if r.h.from == fnFile && r.file == "" {
		if m := fileRe.FindSubmatch(ts); m != nil && bytes.Contains(ts, []byte("suspicious")) {
			r.file = string(m[0])
		}
	}
	wantIRQ := r.h.from == fnStall && r.leftIRQ && !r.inIRQ && r.irqFrame == ""
	if r.sawTrace && (r.frame == "" || wantIRQ) && !hasPrefix(ts, "? ") && !bytes.Contains(ts, []byte("(unreliable)")) {
		if fn := funcName(ts); fn != "" && !machinery(fn) {
			if r.frame == "" {
				r.frame = fn
			}
			if wantIRQ {
				r.irqFrame = fn
			}
		}
	}
}

// pcFunc returns the function of a line that gives the faulting
// instruction, or "".
func pcFunc(ts []byte) string {
	for _, p := range []string{"RIP: ", "EIP: ", "IP: ", "pc : ", "PC is at ", "NIP [", "NIP: ", "epc : ", "epc   : ", "Krnl PSW : ", "PC: "} {
		if hasPrefix(ts, p) {
			if hasPrefix(ts, "RIP: 0033:") { // user mode
				return ""
			}
			return funcName(ts[len(p):])
		}
	}
	return ""
}

// machinery holds functions that report, schedule or unwind: never the
// culprit a title names.
var isMachinery = map[string]bool{
	"dump_stack": true, "dump_stack_lvl": true, "__dump_stack": true, "show_stack": true,
	"dump_backtrace": true, "unwind_backtrace": true, "show_regs": true, "panic": true, "__warn": true,
	"warn_slowpath_fmt": true, "warn_slowpath_null": true, "report_bug": true, "handle_bug": true,
	"exc_invalid_op": true, "do_trap": true, "do_error_trap": true, "do_invalid_op": true,
	"die": true, "die_kernel_fault": true, "__do_kernel_fault": true, "do_page_fault": true,
	"do_translation_fault": true, "do_mem_abort": true, "bug_handler": true, "call_break_hook": true,
	"brk_handler": true, "do_debug_exception": true, "page_fault_oops": true, "handle_mm_fault": true,
	"do_user_addr_fault": true, "kernelmode_fixup_or_oops": true, "__bad_area_nosemaphore": true,
	"bad_page": true, "__schedule": true, "schedule": true, "schedule_timeout": true,
	"schedule_preempt_disabled": true, "io_schedule": true, "io_schedule_timeout": true,
	"context_switch": true, "__switch_to": true, "__switch_to_asm": true, "do_wait_for_common": true,
	"__wait_for_common": true, "wait_for_common": true, "rwsem_down_write_slowpath": true,
	"rwsem_down_read_slowpath": true, "down_write": true, "down_read": true, "__mutex_lock": true,
	"mutex_lock": true, "mutex_lock_nested": true, "__mutex_lock_common": true,
	"mutex_lock_interruptible": true, "kthread": true, "ret_from_fork": true, "ret_from_fork_asm": true,
	"worker_thread": true, "process_one_work": true, "__might_sleep": true, "__might_resched": true,
	"___might_sleep": true, "__might_fault": true, "might_sleep": true, "check_preemption_disabled": true,
	"debug_smp_processor_id": true, "handle_overflow": true, "dump_header": true, "oom_kill_process": true,
	"out_of_memory": true, "__alloc_pages_slowpath": true, "__alloc_pages": true,
	"__alloc_pages_noprof": true, "do_syscall_64": true, "entry_SYSCALL_64_after_hwframe": true,
	"watchdog_timer_fn": true, "update_process_times": true, "irq_exit_rcu": true, "__irq_exit_rcu": true,
	"__do_softirq": true, "handle_softirqs": true, "invoke_softirq": true, "default_idle_call": true,
}

var machineryPrefixes = []string{
	"__ubsan_handle_", "ubsan_", "kasan_", "__kasan_", "kfence_", "__asan_", "__tsan_", "kcsan_",
	"el0", "el1", "asm_", "exc_", "sysvec_", "__sysvec_", "lock_", "__lock_", "_raw_spin", "do_raw_spin",
	"print_", "show_", "rcu_", "nmi_", "arch_trigger", "hrtimer_", "__hrtimer_", "tick_", "wait_for_completion",
	"lockdep_", "check_", "validate_chain", "__lock_acquire", "handle_exception", "do_trap_",
}

func machinery(fn string) bool {
	if isMachinery[fn] {
		return true
	}
	for _, p := range machineryPrefixes {
		if strings.HasPrefix(fn, p) {
			return true
		}
	}
	return false
}

// title is the report's title, syzkaller style: "WARNING in foo".
func (r *report) title() string {
	h := r.h
	stem := h.stem
	if h.access && r.access != "" {
		stem += " " + r.access
	}
	fn := h.fn
	switch h.from {
	case fnNone:
		return stem
	case fnPC:
		fn = first(fn, r.pc, r.frame)
	case fnFrame:
		fn = first(fn, r.frame, r.pc)
	case fnLock:
		fn = first(r.lock, r.frame)
	case fnStall:
		fn = first(r.irqFrame, r.pc, r.frame)
	case fnFile:
		if r.file != "" {
			return cleanTitle(stem + " at " + r.file)
		}
		return stem
	}
	if fn != "" {
		return cleanTitle(stem + " in " + fn)
	}
	if h.fallback != "" {
		return h.fallback
	}
	return stem
}

func first(s ...string) string {
	for _, x := range s {
		if x != "" {
			return x
		}
	}
	return ""
}

// ends says whether line t closes the open report r, and whether t is
// its last line (an end marker) rather than the first line after it.
func (r *report) ends(t, ts []byte) (ends, last bool) {
	if r.lines >= maxReportLines {
		r.truncated = true
		return true, false
	}
	switch r.h.end {
	case endLine:
		return true, false
	case endMarker:
		if hasPrefix(ts, "---[ end ") {
			return true, true
		}
	case endSeparator:
		if isSeparator(ts) {
			return true, true
		}
	case endPanic:
		if hasPrefix(ts, "---[ end ") {
			return true, true
		}
		return r.afterTrace(t, ts), false
	case endAfterTrace:
		return r.afterTrace(t, ts), false
	}
	return false, false
}

// afterTrace says whether t is past the stack trace of the report.
func (r *report) afterTrace(t, ts []byte) bool {
	if !r.sawTrace {
		return r.lines >= maxUntracedLines
	}
	if t[0] == ' ' || t[0] == '\t' || ts[0] == '<' || ts[0] == '(' || hasPrefix(ts, "[<") ||
		hasPrefix(ts, "---[") || bytes.Contains(ts, []byte("+0x")) {
		return false
	}
	for _, p := range []string{"Code:", "Kernel Offset:", "Modules linked in", "CR2:", "CPU features:",
		"Memory Limit:", "Rebooting in", "Call Trace", "Call trace", "Exception stack", "Instruction dump:"} {
		if hasPrefix(ts, p) {
			return false
		}
	}
	return true
}

// isSeparator says whether ts is a line of '=', which frames KASAN,
// KCSAN, KFENCE, UBSAN and lockdep reports.
func isSeparator(ts []byte) bool {
	if len(ts) < 20 {
		return false
	}
	for _, c := range ts {
		if c != '=' {
			return false
		}
	}
	return true
}

// isCutHere says whether ts is the line WARN and BUG print first.
func isCutHere(ts []byte) bool {
	return hasPrefix(ts, "------------[ cut here ]")
}

// crash handles line t for crash reports: it continues or closes the
// open report and opens a new one at a header.
func (a *Analyzer) crash(t, ts []byte, p kernelPrefix) {
	h, isHeader := header{}, false
	if c := ts[0]; c != '-' && c != '=' {
		h, isHeader = classify(ts)
		// Once the console has shown printk timestamps, a kernel report
		// without one is user space talking (a test echoing "BUG:").
		if isHeader && a.stamped && !p.kernel && fromKernel(h.kind) {
			isHeader = false
		}
	}
	if r := a.rep; r != nil {
		switch {
		case isHeader && h.oopsTail && (r.h.kind == KindOops || r.h.kind == KindBug):
			r.add(t, ts, a.opts.MaxReportBytes)
			return
		case isHeader && h.consequent:
			r.add(t, ts, a.opts.MaxReportBytes)
			return
		case isHeader:
			a.closeReport()
		default:
			ends, last := r.ends(t, ts)
			if !ends {
				r.add(t, ts, a.opts.MaxReportBytes)
				return
			}
			if last {
				r.add(t, ts, a.opts.MaxReportBytes)
			}
			a.closeReport()
			if last {
				return
			}
		}
	}
	if !isHeader {
		a.preambleLine(t, ts)
		return
	}
	if h.consequent && a.fatalSeen {
		a.pre.reset()
		return // the end of a report already counted
	}
	if h.kind == KindOOM && h.end == endLine && a.oomLine > 0 && a.line-a.oomLine < maxReportLines {
		return // the last words of the oom-killer report already open
	}
	if h.kind == KindOOM && h.end != endLine {
		a.oomLine = a.line
	}
	r := &report{h: h, line: a.line}
	if a.pre.lines > 0 {
		pre := a.pre.text
		if len(pre) > a.opts.MaxReportBytes {
			pre, r.truncated = pre[:a.opts.MaxReportBytes], true
		}
		r.text = append(r.text, pre...)
		a.pre.reset()
	}
	r.add(t, ts, a.opts.MaxReportBytes)
	a.rep = r
	if h.end == endLine {
		a.closeReport()
	}
}

// preambleLine keeps the lines that may precede a report header.
func (a *Analyzer) preambleLine(t, ts []byte) {
	switch {
	case isCutHere(ts) || isSeparator(ts):
		a.pre.reset()
	case a.pre.lines == 0:
		return
	case a.pre.lines >= maxPreambleLines:
		a.pre.reset()
		return
	}
	if len(a.pre.text)+len(t) < 4096 {
		a.pre.text = append(a.pre.text, t...)
		a.pre.text = append(a.pre.text, '\n')
	}
	a.pre.lines++
}

// closeReport turns the open report, if any, into a crash.
func (a *Analyzer) closeReport() {
	r := a.rep
	if r == nil {
		return
	}
	a.rep = nil
	if r.truncated {
		a.sum.Truncated = true
	}
	a.addCrash(boot.Crash{
		Kind:      r.h.kind,
		Title:     r.title(),
		Fatal:     a.isFatal(r.h.kind),
		Line:      r.line,
		Report:    strings.ToValidUTF8(string(r.text), "\uFFFD"),
		Truncated: r.truncated,
	})
}

// addCrash records c, unless a crash of the same kind and title is
// already recorded, and emits it.
func (a *Analyzer) addCrash(c boot.Crash) {
	key := c.Kind + "\x00" + c.Title
	if a.crashKeys[key] {
		return
	}
	if c.Fatal {
		a.fatalSeen = true
		if a.sum.Failure == nil {
			a.sum.Failure = &boot.Failure{Kind: c.Kind, Title: c.Title}
		}
	}
	if len(a.sum.Crashes) >= MaxCrashes {
		a.sum.Truncated = true
		return
	}
	a.crashKeys[key] = true
	a.sum.Crashes = append(a.sum.Crashes, c)
	e := c
	a.emit(Event{Kind: EventCrash, Line: c.Line, Crash: &e})
	if !c.Fatal && !a.logChecks[c.Kind] {
		a.logChecks[c.Kind] = true
		a.addTest(boot.Test{Suite: LogCheckSuite, Name: LogCheckName(c.Kind), Result: boot.Fail, Line: c.Line})
	}
}
