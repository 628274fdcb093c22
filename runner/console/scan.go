package console

import "bytes"

// text analyses one console line, or a piece of one, without its printk
// prefix.
func (a *Analyzer) text(t []byte, p kernelPrefix) {
	if a.frag != nil && !p.kernel {
		// User space resumes the signal a kernel line cut.
		t = append(a.frag, t...)
		a.frag = nil
	}
	t = trimRight(t)
	ts := trimSpace(t)
	if len(ts) == 0 {
		return
	}
	if p.kernel {
		a.stamped = true
	}
	a.crash(t, ts, p)
	a.milestone(ts, p)
	a.prompt(ts)
	if ts[0] == '<' || hasLAVA(t) {
		if !p.kernel && a.keepFragment(t) {
			return
		}
		a.lavaLine(t)
	}
	if c := ts[0]; c == 'K' || c == 'T' || a.ktap.active && (c == 'o' || c == 'n' || c == '#' || c == 'B' || isDigit(c)) {
		a.ktapLine(t, p)
	}
}

// hasLAVA says whether t holds the start of a LAVA signal or marker
// (or, at its very end, the start of one cut short).
func hasLAVA(t []byte) bool {
	for i := 0; i < len(t); i++ {
		j := bytes.IndexByte(t[i:], '<')
		if j < 0 {
			return false
		}
		i += j
		rest := t[i:]
		if hasPrefix(rest, "<LAVA_") || len(rest) < len("<LAVA_") && hasPrefix([]byte("<LAVA_"), string(rest)) {
			return true
		}
	}
	return false
}
