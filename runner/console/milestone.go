package console

import (
	"bytes"

	"github.com/tuxboot/tuxboot/runner/boot"
)

// milestoneSet is a set of milestones, one bit each: it is asked on
// every line, so it must be cheaper than a map.
type milestoneSet uint16

var milestoneNames = [...]string{
	boot.MilestoneFirmware, boot.MilestoneKernelStarted, boot.MilestoneInitStarted,
	boot.MilestoneLoginPrompt, boot.MilestoneShellPrompt, boot.MilestoneTestsStarted,
	boot.MilestoneTestsFinished, boot.MilestoneShutdown,
}

func milestoneBit(name string) milestoneSet {
	for i, n := range milestoneNames {
		if n == name {
			return 1 << i
		}
	}
	panic("console: unknown milestone " + name)
}

const (
	msFirmware milestoneSet = 1 << iota
	msKernelStarted
	msInitStarted
	msLoginPrompt
	msShellPrompt
	msTestsStarted
	msTestsFinished
	msShutdown
)

// reach records milestone name at the current line, the first time.
func (a *Analyzer) reach(name string) {
	bit := milestoneBit(name)
	if a.reached&bit != 0 {
		return
	}
	a.reached |= bit
	if name == boot.MilestoneKernelStarted {
		a.fwErr = nil // the firmware got over it
	}
	a.sum.Milestones = append(a.sum.Milestones, boot.Milestone{Name: name, Line: a.line})
	a.emit(Event{Kind: EventMilestone, Line: a.line, Milestone: name})
}

// milestone looks for milestones, the kernel version and firmware errors
// in ts, a line without its prefix and leading blanks.
func (a *Analyzer) milestone(ts []byte, p kernelPrefix) {
	switch ts[0] {
	case 'S':
		switch {
		case hasPrefix(ts, "SeaBIOS (version "), hasPrefix(ts, "SLOF *"):
			a.firmware()
		case isWord(ts, "System halted"):
			a.reach(boot.MilestoneShutdown)
		}
	case 'O':
		if hasPrefix(ts, "OpenSBI v") {
			a.firmware()
		}
	case 'U':
		if hasPrefix(ts, "U-Boot ") && len(ts) > 7 && (isDigit(ts[7]) || hasPrefix(ts[7:], "SPL ")) ||
			hasPrefix(ts, "UEFI firmware (version") {
			a.firmware()
		}
	case 'B':
		switch {
		case hasPrefix(ts, "Booting Linux on physical CPU"):
			if a.reached&msKernelStarted != 0 {
				a.reboot("unexpected reboot")
			}
			a.reach(boot.MilestoneKernelStarted)
		case hasPrefix(ts, "BdsDxe: loading Boot"), hasPrefix(ts, "Booting from ROM"),
			hasPrefix(ts, "Booting from Hard Disk"):
			a.firmware()
		}
	case 'E':
		if hasPrefix(ts, "EFI stub: Booting Linux Kernel") {
			a.firmware()
		}
	case 'N':
		if hasPrefix(ts, "NOTICE:  Booting Trusted Firmware") {
			a.firmware()
		}
	case 'L':
		switch {
		case hasPrefix(ts, "Linux version "):
			a.linuxVersion(ts[len("Linux version "):], p)
		case hasPrefix(ts, "LOADPARM=["):
			a.firmware()
		}
	case 'R':
		if hasPrefix(ts, "Run ") && bytes.HasSuffix(ts, []byte(" as init process")) {
			a.reach(boot.MilestoneInitStarted)
		}
	case 'I':
		if hasPrefix(ts, "INIT: version ") {
			a.reach(boot.MilestoneInitStarted)
		}
	case 's':
		if hasPrefix(ts, "systemd ") && bytes.Contains(ts, []byte(" running in system mode")) {
			a.reach(boot.MilestoneInitStarted)
		}
	case 'r':
		switch {
		case hasPrefix(ts, "reboot: Power down"), hasPrefix(ts, "reboot: System halted"):
			a.reach(boot.MilestoneShutdown)
		case hasPrefix(ts, "reboot: Restarting system"):
			a.reboot("reboot: Restarting system")
		}
	case 'P':
		if isWord(ts, "Power down") {
			a.reach(boot.MilestoneShutdown)
		}
	}
	if a.reached&msKernelStarted == 0 {
		a.firmwareError(ts)
	}
}

// isWord says whether ts is s, with or without a final full stop.
func isWord(ts []byte, s string) bool {
	return string(ts) == s || len(ts) == len(s)+1 && ts[len(s)] == '.' && string(ts[:len(s)]) == s
}

// firmware records a firmware banner: the firmware milestone, or a
// reboot if the kernel had already started.
func (a *Analyzer) firmware() {
	if a.reached&msKernelStarted != 0 {
		a.reboot("unexpected reboot")
		return
	}
	a.reach(boot.MilestoneFirmware)
}

// linuxVersion handles "Linux version 6.1.0-28-arm64 (...) ...".
func (a *Analyzer) linuxVersion(v []byte, p kernelPrefix) {
	if i := bytes.IndexByte(v, ' '); i >= 0 {
		v = v[:i]
	}
	if len(v) == 0 || !isDigit(v[0]) {
		return // not the kernel's banner
	}
	if a.sum.KernelVersion != "" {
		// A second banner at time zero is a new boot; /proc/version
		// printed by a test is not.
		if p.zeroTime {
			a.reboot("unexpected reboot")
		}
		return
	}
	a.sum.KernelVersion = bound(string(v), maxNameBytes)
	a.emit(Event{Kind: EventKernelVersion, Line: a.line, KernelVersion: a.sum.KernelVersion})
	a.reach(boot.MilestoneKernelStarted)
}

// reboot reports a reboot, unless it was expected: after the tests or a
// shutdown, or as the end of a fatal crash. Only the first one counts.
func (a *Analyzer) reboot(title string) {
	if a.rebootSeen {
		return
	}
	a.rebootSeen = true
	if a.fatalSeen || a.rep != nil && a.isFatal(a.rep.h.kind) ||
		a.reached&msTestsFinished != 0 || a.reached&msShutdown != 0 {
		return
	}
	a.closeReport()
	a.addCrash(boot.Crash{Kind: KindReboot, Title: title, Fatal: a.isFatal(KindReboot), Line: a.line})
}

// firmwareError holds a firmware error seen before the kernel started.
// It is reported at Close unless the kernel starts after all: firmware
// often tries a boot device, fails, and boots the next one.
func (a *Analyzer) firmwareError(ts []byte) {
	known := false
	switch ts[0] {
	case 'B':
		known = hasPrefix(ts, "Boot failed: ") || hasPrefix(ts, "Bad Linux ") ||
			hasPrefix(ts, "BdsDxe: No bootable option")
	case 'N':
		known = hasPrefix(ts, "No bootable device")
	case 'W':
		known = hasPrefix(ts, "Wrong Image Format")
	case 'E':
		known = hasPrefix(ts, "ERROR: can't get kernel image") ||
			len(ts) > 6 && ts[1] == '3' && isDigit(ts[2]) && isDigit(ts[3]) && isDigit(ts[4]) && ts[5] == ':' // SLOF
	case '#':
		known = hasPrefix(ts, "### ERROR ###")
	case '*':
		known = hasPrefix(ts, "** ") && !hasPrefix(ts, "** Booting")
	case 's', 'i':
		known = (hasPrefix(ts, "sbi_") || hasPrefix(ts, "init_coldboot") || hasPrefix(ts, "init_warmboot")) &&
			(bytes.Contains(ts, []byte("failed")) || bytes.Contains(ts, []byte("error")))
	case '!':
		known = hasPrefix(ts, "!!!! ") && bytes.Contains(ts, []byte("Exception"))
	case 'A':
		known = hasPrefix(ts, "ASSERT [")
	}
	if !known {
		return
	}
	a.fwErr = &boot.Crash{
		Kind:   KindFirmwareError,
		Title:  cleanTitle("firmware error: " + string(bytes.Trim(ts, "*# "))),
		Fatal:  a.isFatal(KindFirmwareError),
		Line:   a.line,
		Report: bound(string(ts), a.opts.MaxReportBytes),
	}
}

// prompt looks for a login or shell prompt in ts.
func (a *Analyzer) prompt(ts []byte) {
	if a.reached&msShellPrompt != 0 && a.reached&msLoginPrompt != 0 {
		return
	}
	tok, rest := ts, []byte(nil)
	if i := bytes.IndexByte(ts, ' '); i >= 0 {
		tok, rest = ts[:i], ts[i+1:]
	}
	if isLoginPrompt(tok, rest) {
		a.reach(boot.MilestoneLoginPrompt)
	} else if isShellPrompt(tok, rest) {
		a.reach(boot.MilestoneShellPrompt)
	}
}

// isLoginPrompt matches "login:" and "myhost login: ..." (not "Last
// login:"), given the first word of a line and the rest.
func isLoginPrompt(tok, rest []byte) bool {
	if hasPrefix(tok, "login:") {
		return true
	}
	return hasPrefix(rest, "login:") && string(tok) != "Last" && isHostname(tok)
}

func isHostname(b []byte) bool {
	for _, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || isDigit(c) || c == '-' || c == '.' || c == '_') {
			return false
		}
	}
	return len(b) > 0
}

// isShellPrompt matches shell prompts: "/ # ", "~ # ", "/root # ",
// "root@host:~# ", "user@host:~$ ", "[root@host ~]# ", "sh-5.2# ".
func isShellPrompt(tok, rest []byte) bool {
	if len(tok) == 0 {
		return false
	}
	last := tok[len(tok)-1]
	if last == '#' || last == '$' {
		base := tok[:len(tok)-1]
		switch {
		case bytes.IndexByte(base, '@') > 0 && isHostname(bytes.TrimRight(cutBytes(base[bytes.IndexByte(base, '@')+1:], ':'), "]")):
			return true
		case hasPrefix(base, "sh-") || hasPrefix(base, "bash-"):
			return true
		}
	}
	if tok[0] == '/' || tok[0] == '~' {
		// busybox: the working directory, then "#" or "$"
		return hasPrefix(rest, "# ") || hasPrefix(rest, "$ ") || string(rest) == "#" || string(rest) == "$"
	}
	if tok[0] == '[' && bytes.IndexByte(tok, '@') > 1 {
		// "[root@host ~]# "
		i := bytes.IndexByte(rest, ' ')
		next := rest
		if i >= 0 {
			next = rest[:i]
		}
		return bytes.HasSuffix(next, []byte("]#")) || bytes.HasSuffix(next, []byte("]$"))
	}
	return false
}

// cutBytes returns b up to the first c.
func cutBytes(b []byte, c byte) []byte {
	if i := bytes.IndexByte(b, c); i >= 0 {
		return b[:i]
	}
	return b
}

// partialPrompt looks at the unfinished last line for a prompt: a prompt
// waits for input and gets no newline. Only a line that ends like a
// prompt qualifies, and the same checks run on the finished line, so
// the outcome does not depend on where reads split the console.
func (a *Analyzer) partialPrompt(b []byte) {
	if n := len(b); a.frag != nil || n < 2 || b[n-1] != ' ' || (b[n-2] != ':' && b[n-2] != '#' && b[n-2] != '$') {
		return
	}
	if bytes.IndexByte(b, 0x1b) >= 0 {
		a.scratch = stripANSI(a.scratch[:0], b)
		b = a.scratch
	}
	t, _ := stripPrefix(b)
	if i := midTimestamp(t); i > 0 {
		return
	}
	// The end must survive the stripping: an escape sequence still open
	// at the end of the partial line would swallow it here and maybe not
	// in the finished line.
	if n := len(t); n < 2 || t[n-1] != ' ' || (t[n-2] != ':' && t[n-2] != '#' && t[n-2] != '$') {
		return
	}
	ts := trimSpace(t)
	if len(ts) > 0 {
		a.prompt(ts)
	}
}
