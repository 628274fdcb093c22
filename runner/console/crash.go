package console

import (
	"bytes"
	"regexp"
	"strings"
)

// endRule says how a crash report ends.
type endRule uint8

const (
	endMarker     endRule = iota // "---[ end trace ... ]---"
	endPanic                     // "---[ end Kernel panic ... ]---", else as endAfterTrace
	endSeparator                 // a line of '=' (KASAN, KCSAN, KFENCE, UBSAN)
	endAfterTrace                // the first line after its stack trace
	endLine                      // the header line alone
)

// funcFrom says where the function of a title (" in foo") comes from.
type funcFrom uint8

const (
	fnNone  funcFrom = iota
	fnPC             // the faulting instruction (RIP, pc, NIP, PSW, epc), else the first frame
	fnFrame          // the first frame that is not reporting machinery, else the pc
	fnLock           // the lock lockdep saw taken (", at: foo"), else the first frame
	fnStall          // the first frame after the interrupt, else the pc
	fnFile           // "at file.c:123" of a suspicious RCU usage
)

// fromKernel says whether crashes of kind are printed by the kernel
// (through printk) rather than by firmware, QEMU or the decompressor.
func fromKernel(kind string) bool {
	switch kind {
	case KindQEMUError, KindFirmwareError, KindEarlyBootError:
		return false
	}
	return true
}

// header describes the first line of a crash report.
type header struct {
	kind       string
	stem       string // the title, or its start when a function is looked for
	fallback   string // the title when no function is found; stem if empty
	fn         string // a function the header names itself
	from       funcFrom
	end        endRule
	access     bool // KASAN: the access ("Read", "Write") joins the title
	oopsTail   bool // an "Oops" line: part of an open oops or BUG report
	consequent bool // a panic that only ends an earlier report
}

var (
	// offsetRe finds the "+0x1c/0x30" of a kernel text address.
	offsetRe = regexp.MustCompile(`\+0x[0-9a-fA-F]+(?:/0x[0-9a-fA-F]+)?`)
	// addrRe finds addresses and other long hex numbers in a title.
	addrRe = regexp.MustCompile(`\b(?:0x)?[0-9a-fA-F]{8,}\b`)
	// fileRe finds "path/file.c:123".
	fileRe = regexp.MustCompile(`([A-Za-z0-9_./-]+\.[chS]):\d+`)
)

// funcName returns the function of the first "name+0x1c/0x30" (a
// kernel text address) or "(name) from" (older 32-bit Arm traces) in b,
// without a compiler suffix such as ".isra.0" or ".cold", or "".
// It is written out by hand: traces are long and a regexp is slow.
func funcName(b []byte) string {
	for i := 0; i < len(b); {
		j := bytes.Index(b[i:], []byte("+0x"))
		if j < 0 {
			break
		}
		j += i
		i = j + 3
		if i >= len(b) || !isHex(b[i]) {
			continue
		}
		if name := identBefore(b, j); name != nil {
			return trimSuffix(name)
		}
	}
	if j := bytes.Index(b, []byte(") from")); j > 0 {
		if k := bytes.LastIndexByte(b[:j], '('); k >= 0 {
			if name := identBefore(b, j); name != nil && len(name) == j-k-1 {
				return trimSuffix(name)
			}
		}
	}
	return ""
}

// identBefore returns the identifier that ends at b[end], or nil.
func identBefore(b []byte, end int) []byte {
	k := end
	for k > 0 && isIdent(b[k-1]) {
		k--
	}
	if k == end || isDigit(b[k]) || b[k] == '.' {
		return nil
	}
	return b[k:end]
}

func trimSuffix(name []byte) string {
	if i := bytes.IndexByte(name, '.'); i > 0 {
		name = name[:i]
	}
	return string(name)
}

func isIdent(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || isDigit(c) || c == '_' || c == '.' || c == '$'
}

func isHex(c byte) bool {
	return isDigit(c) || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

// cleanTitle makes a title of s: one line of valid UTF-8, without
// addresses or function offsets (they change from build to build),
// bounded.
func cleanTitle(s string) string {
	if strings.Contains(s, "+0x") {
		s = offsetRe.ReplaceAllString(s, "")
	}
	s = addrRe.ReplaceAllString(s, "")
	s = strings.Join(strings.Fields(s), " ")
	s = strings.TrimRight(s, " ,:;")
	return bound(s, maxTitleBytes)
}

// bound cuts s to at most n bytes of valid UTF-8.
func bound(s string, n int) string {
	if len(s) > n {
		s = s[:n]
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}

// cutAt returns s up to the first of seps.
func cutAt(s string, seps ...string) string {
	for _, sep := range seps {
		if i := strings.Index(s, sep); i >= 0 {
			s = s[:i]
		}
	}
	return s
}

// classify says whether ts, a console line without its printk prefix and
// leading blanks, starts a crash report. It looks at the first byte first
// so that ordinary lines cost next to nothing.
func classify(ts []byte) (header, bool) {
	switch ts[0] {
	case 'K':
		if hasPrefix(ts, "Kernel panic - not syncing") {
			return panicHeader(string(ts[len("Kernel panic - not syncing"):])), true
		}
		if hasPrefix(ts, "KVM internal error") {
			return header{kind: KindQEMUError, stem: "qemu error: KVM internal error", end: endLine}, true
		}
	case 'B':
		if hasPrefix(ts, "BUG: ") {
			return bugHeader(string(ts[len("BUG: "):]))
		}
	case '[':
		if hasPrefix(ts, "[ BUG: ") { // lockdep
			s := cutAt(string(ts[len("[ BUG: "):]), " ]")
			return header{kind: KindWarning, stem: cleanTitle("BUG: " + s), end: endAfterTrace}, true
		}
	case 'W':
		if hasPrefix(ts, "WARNING: ") {
			return warningHeader(string(ts[len("WARNING: "):]))
		}
		if hasPrefix(ts, "Watchdog detected hard LOCKUP") {
			return hardLockup(), true
		}
	case 'k':
		if hasPrefix(ts, "kernel BUG at ") {
			file := cutAt(string(ts[len("kernel BUG at "):]), "!", " ")
			return header{kind: KindBug, stem: "kernel BUG", fallback: cleanTitle("kernel BUG at " + file), from: fnPC, end: endMarker}, true
		}
	case 'O':
		if hasPrefix(ts, "Oops") && len(ts) > 4 && (ts[4] == ':' || ts[4] == '[' || hasPrefix(ts[4:], " [") || hasPrefix(ts[4:], " -")) {
			return oopsHeader(string(ts[len("Oops"):])), true
		}
		if hasPrefix(ts, "Out of memory: Kill") || hasPrefix(ts, "Out of memory (oom_kill_allocating_task)") {
			return oomKilled(ts), true
		}
	case 'M':
		if hasPrefix(ts, "Memory cgroup out of memory: Kill") {
			return oomKilled(ts), true
		}
	case 'I':
		switch {
		case hasPrefix(ts, "Internal error: "):
			s := cutAt(string(ts[len("Internal error: "):]), ":", " [#")
			return header{kind: KindOops, stem: cleanTitle("Internal error: " + s), from: fnPC, end: endMarker, oopsTail: true}, true
		case hasPrefix(ts, "INFO: task ") && bytes.Contains(ts, []byte(" blocked for more than ")):
			return header{kind: KindHungTask, stem: "INFO: task hung", from: fnFrame, end: endAfterTrace}, true
		case hasPrefix(ts, "INFO: rcu_"):
			return rcuHeader(ts)
		case hasPrefix(ts, "Input is not in gzip format"):
			return earlyHeader("decompressor: Input is not in gzip format"), true
		}
	case 'U':
		if hasPrefix(ts, "Unable to handle kernel ") {
			s := cutAt(string(ts), " at ", " for ", " in virtual", ",")
			return header{kind: KindOops, stem: cleanTitle(s), from: fnPC, end: endMarker}, true
		}
		if hasPrefix(ts, "UBSAN: ") {
			return ubsanHeader(string(ts[len("UBSAN: "):])), true
		}
	case 'g':
		if hasPrefix(ts, "general protection fault") {
			return header{kind: KindOops, stem: "general protection fault", from: fnPC, end: endMarker}, true
		}
	case 'i':
		if hasPrefix(ts, "invalid opcode: ") {
			return header{kind: KindOops, stem: "invalid opcode", from: fnPC, end: endMarker, oopsTail: true}, true
		}
		if hasPrefix(ts, "invalid compressed format") {
			return earlyHeader("decompressor: invalid compressed format"), true
		}
	case 'w':
		if hasPrefix(ts, "watchdog: ") {
			return watchdogHeader(ts[len("watchdog: "):])
		}
	case 'N':
		if hasPrefix(ts, "NMI watchdog: ") {
			return watchdogHeader(ts[len("NMI watchdog: "):])
		}
	case 'r':
		if hasPrefix(ts, "rcu: INFO: rcu_") {
			return rcuHeader(ts[len("rcu: "):])
		}
	case 'C':
		// MIPS: "CPU 0 Unable to handle kernel paging request at ..."
		if hasPrefix(ts, "CPU ") {
			if i := bytes.Index(ts, []byte(" Unable to handle kernel ")); i > 0 && i < 10 {
				return classify(ts[i+1:])
			}
		}
	case 'P':
		if hasPrefix(ts, "PANIC: early exception") {
			s := cutAt(string(ts), " IP ", " RIP ", " rip ")
			return earlyHeader(cleanTitle(s)), true
		}
	case 'T':
		if hasPrefix(ts, "This kernel requires the following features not present on the CPU") {
			return earlyHeader("This kernel requires the following features not present on the CPU"), true
		}
	case 'E':
		if hasPrefix(ts, "EFI stub: ERROR: ") && !bytes.Contains(ts, []byte("FIRMWARE BUG")) {
			return earlyHeader(cleanTitle(string(ts))), true
		}
		if hasPrefix(ts, "Error: invalid dtb") {
			return earlyHeader("Error: invalid dtb and unrecognized/unsupported machine ID"), true
		}
	case 'X':
		if hasPrefix(ts, "XZ-compressed data is corrupt") {
			return earlyHeader("decompressor: XZ-compressed data is corrupt"), true
		}
	case 'q':
		if hasPrefix(ts, "qemu-system-") || hasPrefix(ts, "qemu: ") {
			return qemuHeader(string(ts))
		}
	case 'e':
		if hasPrefix(ts, "error: kvm run failed") {
			return header{kind: KindQEMUError, stem: cleanTitle("qemu error: " + string(ts[len("error: "):])), end: endLine}, true
		}
	}
	// "<comm> invoked oom-killer: gfp_mask=..."
	if sp := bytes.IndexByte(ts, ' '); sp > 0 && hasPrefix(ts[sp:], " invoked oom-killer:") {
		return header{kind: KindOOM, stem: cleanTitle("out of memory: " + string(ts[:sp]) + " invoked oom-killer"), end: endAfterTrace}, true
	}
	return header{}, false
}

func panicHeader(msg string) header {
	msg = strings.TrimLeft(msg, ": ")
	h := header{kind: KindPanic, end: endPanic}
	switch {
	case strings.Contains(msg, "Attempted to kill init"):
		h.kind, h.stem = KindInitDied, "kernel panic: Attempted to kill init!"
	case strings.HasPrefix(msg, "No working init found"):
		h.kind, h.stem = KindInitDied, "kernel panic: No working init found"
	case strings.HasPrefix(msg, "Requested init ") && strings.Contains(msg, " failed"):
		h.kind, h.stem = KindInitDied, cleanTitle("kernel panic: "+cutAt(msg, " (error"))
	case strings.Contains(msg, "Fatal exception") || strings.HasPrefix(msg, "Attempted to kill the idle task") ||
		strings.HasPrefix(msg, "Aiee"):
		h.consequent = true
		h.stem = cleanTitle("kernel panic: " + msg)
	default:
		h.stem = cleanTitle("kernel panic: " + msg)
	}
	return h
}

// bugHeader classifies "BUG: s".
func bugHeader(s string) (header, bool) {
	switch {
	case strings.HasPrefix(s, "KASAN: "):
		s = s[len("KASAN: "):]
		typ, fn := splitIn(s)
		return header{kind: KindKASAN, stem: cleanTitle("KASAN: " + typ), fn: fn, from: fnFrame, access: true, end: endSeparator}, true
	case strings.HasPrefix(s, "KCSAN: "):
		t := offsetRe.ReplaceAllString(s, "")
		return header{kind: KindKCSAN, stem: cleanTitle(t), end: endSeparator}, true
	case strings.HasPrefix(s, "KFENCE: "):
		typ, fn := splitIn(s[len("KFENCE: "):])
		return header{kind: KindKFENCE, stem: cleanTitle("KFENCE: " + typ), fn: fn, from: fnFrame, end: endSeparator}, true
	case strings.HasPrefix(s, "soft lockup"):
		return header{kind: KindLockup, stem: "BUG: soft lockup", from: fnPC, end: endAfterTrace}, true
	case strings.HasPrefix(s, "workqueue lockup"), strings.HasPrefix(s, "spinlock lockup"):
		return header{kind: KindLockup, stem: "BUG: " + cutAt(s, " - ", " suspected"), end: endAfterTrace}, true
	case strings.HasPrefix(s, "unable to handle"), strings.HasPrefix(s, "Unable to handle"),
		strings.HasPrefix(s, "kernel NULL pointer dereference"), strings.HasPrefix(s, "Kernel NULL pointer dereference"),
		strings.HasPrefix(s, "stack guard page was hit"), strings.HasPrefix(s, "TASK stack guard page was hit"),
		strings.HasPrefix(s, "kernel tried to execute"):
		t := cutAt(s, ",", " at ", " for address", " on read", " on write", " on execute", " - ")
		return header{kind: KindOops, stem: cleanTitle("BUG: " + t), from: fnPC, end: endMarker}, true
	case strings.HasPrefix(s, "sleeping function called from invalid context"),
		strings.HasPrefix(s, "scheduling while atomic"):
		t := cutAt(s, " at ", ":")
		return header{kind: KindWarning, stem: "BUG: " + t, from: fnFrame, end: endAfterTrace}, true
	case strings.HasPrefix(s, "using smp_processor_id() in preemptible"),
		strings.HasPrefix(s, "using __this_cpu_"):
		t := cutAt(s, " [", " code:")
		return header{kind: KindWarning, stem: cleanTitle("BUG: " + t + " code"), from: fnFrame, end: endAfterTrace}, true
	case strings.HasPrefix(s, "MAX_LOCK"), strings.HasPrefix(s, "key "),
		strings.HasPrefix(s, "held lock freed"), strings.HasPrefix(s, "lock held when returning"),
		strings.HasPrefix(s, "looking up invalid subclass"), strings.HasPrefix(s, "Invalid wait context"):
		t := s
		if strings.HasPrefix(s, "key ") {
			t = "key has not been registered"
		}
		return header{kind: KindWarning, stem: cleanTitle("BUG: " + cutAt(t, "!")), end: endAfterTrace}, true
	case strings.HasPrefix(s, "Bad "):
		t := cutAt(s, "  ", " pfn:", ":")
		return header{kind: KindBug, stem: cleanTitle("BUG: " + t), end: endAfterTrace}, true
	}
	t := cutAt(s, ", ", ": ")
	return header{kind: KindBug, stem: cleanTitle("BUG: " + t), end: endAfterTrace}, true
}

// splitIn splits "type in func+0x1/0x2" into the type and the function.
func splitIn(s string) (typ, fn string) {
	i := strings.LastIndex(s, " in ")
	if i < 0 {
		return s, ""
	}
	return s[:i], funcName([]byte(s[i+len(" in "):]))
}

// warningHeader classifies "WARNING: s": WARN_ON and lockdep.
func warningHeader(s string) (header, bool) {
	if strings.HasPrefix(s, "CPU: ") || strings.HasPrefix(s, "at ") || fileRe.MatchString(cutAt(s, " at ")) && strings.Contains(s, " at ") {
		// "CPU: 0 PID: 1 at net/core/dev.c:12 foo+0x1/0x2",
		// "at net/core/dev.c:12 foo+0x1/0x2()" (old) or
		// "net/core/dev.c:12 at foo+0x1/0x2, CPU#0: swapper/0/1" (new).
		h := header{kind: KindWarning, stem: "WARNING", from: fnPC, end: endMarker}
		h.fn = funcName([]byte(s))
		if m := fileRe.FindStringSubmatch(s); m != nil {
			h.fallback = "WARNING at " + m[1]
		}
		return h, true
	}
	lockdep := []struct{ text, stem string }{
		{"possible circular locking dependency", "possible deadlock"},
		{"possible recursive locking", "possible deadlock"},
		{"possible irq lock inversion", "possible deadlock"},
		{"HARDIRQ-safe -> HARDIRQ-unsafe", "possible deadlock"},
		{"SOFTIRQ-safe -> SOFTIRQ-unsafe", "possible deadlock"},
		{"inconsistent lock state", "inconsistent lock state"},
		{"bad unlock balance", "bad unlock balance"},
		{"held lock freed", "held lock freed"},
		{"lock held when returning to user space", "lock held when returning to user space"},
		{"nested lock was not taken", "nested lock was not taken"},
		{"bad contention detected", "bad contention detected"},
	}
	for _, l := range lockdep {
		if strings.HasPrefix(s, l.text) {
			return header{kind: KindWarning, stem: l.stem, from: fnLock, end: endAfterTrace}, true
		}
	}
	if strings.HasPrefix(s, "suspicious RCU usage") {
		return header{kind: KindWarning, stem: "suspicious RCU usage", from: fnFile, end: endAfterTrace}, true
	}
	return header{}, false
}

func oopsHeader(s string) header {
	s = strings.TrimLeft(s, ": ")
	h := header{kind: KindOops, stem: "Oops", from: fnPC, end: endMarker, oopsTail: true}
	switch {
	case strings.HasPrefix(s, "general protection fault"):
		h.stem, h.oopsTail = "general protection fault", false
	case strings.HasPrefix(s, "invalid opcode"):
		h.stem = "invalid opcode"
	case s != "" && (s[0] >= 'A' && s[0] <= 'Z' || s[0] >= 'a' && s[0] <= 'z') && !addrRe.MatchString(cutAt(s, " ")):
		if w := cutAt(s, ",", ":", " [#"); w != "" && !strings.HasPrefix(s, "Oops") {
			h.stem = cleanTitle("Oops: " + w)
		}
	}
	return h
}

func oomKilled(ts []byte) header {
	comm := ""
	if i := bytes.IndexByte(ts, '('); i > 0 {
		if j := bytes.IndexByte(ts[i:], ')'); j > 0 {
			comm = string(ts[i+1 : i+j])
		}
	}
	return header{kind: KindOOM, stem: cleanTitle("out of memory: killed process " + comm), end: endLine}
}

func rcuHeader(ts []byte) (header, bool) {
	if !bytes.Contains(ts, []byte("detected")) || !bytes.Contains(ts, []byte("stall")) {
		return header{}, false
	}
	return header{kind: KindRCUStall, stem: "INFO: rcu detected stall", from: fnStall, end: endAfterTrace}, true
}

func watchdogHeader(s []byte) (header, bool) {
	switch {
	case hasPrefix(s, "BUG: soft lockup"):
		return header{kind: KindLockup, stem: "BUG: soft lockup", from: fnPC, end: endAfterTrace}, true
	case hasPrefix(s, "Watchdog detected hard LOCKUP"):
		return hardLockup(), true
	}
	return header{}, false
}

func hardLockup() header {
	return header{kind: KindLockup, stem: "BUG: hard lockup", from: fnPC, end: endAfterTrace}
}

func ubsanHeader(s string) header {
	typ, where := s, ""
	if i := strings.LastIndex(s, " in "); i >= 0 {
		typ, where = s[:i], s[i+len(" in "):]
	}
	h := header{kind: KindUBSAN, stem: cleanTitle("UBSAN: " + typ), from: fnFrame, end: endSeparator}
	if m := fileRe.FindStringSubmatch(where); m != nil {
		h.fallback = cleanTitle(h.stem + " in " + m[1])
	}
	return h
}

func earlyHeader(title string) header {
	return header{kind: KindEarlyBootError, stem: title, end: endLine}
}

// qemuHeader classifies a line of QEMU's own: "qemu-system-x86_64: msg".
func qemuHeader(s string) (header, bool) {
	i := strings.Index(s, ": ")
	if i < 0 {
		return header{}, false
	}
	msg := s[i+2:]
	for _, benign := range []string{"terminating on signal", "warning:", "info:", "Warning:"} {
		if strings.HasPrefix(msg, benign) {
			return header{}, false
		}
	}
	return header{kind: KindQEMUError, stem: cleanTitle("qemu error: " + msg), end: endLine}, true
}
