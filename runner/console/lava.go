package console

import (
	"bytes"
	"strings"

	"github.com/tuxboot/tuxboot/runner/boot"
)

// LAVA's test shell prints signals such as
//
//	<LAVA_SIGNAL_STARTRUN 0_smoke 1234_smoke>
//	<LAVA_SIGNAL_TESTCASE TEST_CASE_ID=uname RESULT=pass>
//	<LAVA_SIGNAL_TESTCASE TEST_CASE_ID=boot-time RESULT=pass MEASUREMENT=2.5 UNITS=s>
//	<LAVA_SIGNAL_TESTSET START network>
//	<LAVA_SIGNAL_ENDRUN 0_smoke 1234_smoke>
//	<LAVA_TEST_RUNNER EXIT>

const (
	lavaSignalPrefix = "<LAVA_SIGNAL_"
	lavaRunnerExit   = "<LAVA_TEST_RUNNER EXIT>"
)

// lavaSignal is one signal: its name and the words after it.
type lavaSignal struct {
	Name string
	Args []string
}

// parseLAVASignal parses the first signal in b. rest is what follows it.
func parseLAVASignal(b []byte) (sig lavaSignal, rest []byte, ok bool) {
	i := bytes.Index(b, []byte(lavaSignalPrefix))
	if i < 0 {
		return sig, nil, false
	}
	b = b[i+len(lavaSignalPrefix):]
	end := bytes.IndexByte(b, '>')
	if end < 0 {
		return sig, nil, false
	}
	body, rest := b[:end], b[end+1:]
	if k := bytes.IndexByte(body, '<'); k >= 0 {
		return sig, b[k:], false // a cut signal followed by another
	}
	fields := strings.Fields(string(body))
	if len(fields) == 0 {
		return sig, rest, false
	}
	for _, c := range fields[0] {
		if !(c >= 'A' && c <= 'Z') {
			return sig, rest, false
		}
	}
	return lavaSignal{Name: fields[0], Args: fields[1:]}, rest, true
}

// param returns the value of KEY=value among the signal's words.
func (s lavaSignal) param(key string) string {
	for _, a := range s.Args {
		if v, ok := strings.CutPrefix(a, key+"="); ok {
			return v
		}
	}
	return ""
}

// lavaState tracks the test run and test set the results belong to.
type lavaState struct {
	run string
	set string
}

// runName strips the index LAVA puts before a test definition's name:
// "0_smoke" is the run of "smoke".
func runName(s string) string {
	i := 0
	for i < len(s) && isDigit(s[i]) {
		i++
	}
	if i > 0 && i < len(s)-1 && s[i] == '_' {
		return s[i+1:]
	}
	return s
}

// lavaResult maps a LAVA result to ours.
func lavaResult(s string) string {
	switch strings.ToLower(s) {
	case "pass":
		return boot.Pass
	case "fail":
		return boot.Fail
	case "skip":
		return boot.Skip
	}
	return boot.Error // "unknown" or garbage
}

// lava handles the LAVA signals in t.
func (a *Analyzer) lavaLine(t []byte) {
	if bytes.Contains(t, []byte(lavaRunnerExit)) {
		a.reach(boot.MilestoneTestsFinished)
	}
	for {
		sig, rest, ok := parseLAVASignal(t)
		if ok {
			a.lavaSignal(sig)
		}
		if rest == nil {
			break
		}
		t = rest
	}
}

func (a *Analyzer) lavaSignal(sig lavaSignal) {
	suite := func() string {
		return first(a.lava.set, a.lava.run, "lava")
	}
	switch sig.Name {
	case "STARTRUN":
		if len(sig.Args) > 0 {
			a.lava.run = bound(runName(sig.Args[0]), maxNameBytes)
		}
		a.lava.set = ""
		a.reach(boot.MilestoneTestsStarted)
	case "ENDRUN":
		a.lava.run, a.lava.set = "", ""
		a.reach(boot.MilestoneTestsFinished)
	case "TESTSET":
		if len(sig.Args) >= 2 && sig.Args[0] == "START" {
			a.lava.set = bound(sig.Args[1], maxNameBytes)
		} else if len(sig.Args) >= 1 && sig.Args[0] == "STOP" {
			a.lava.set = ""
		}
	case "TESTCASE":
		name := sig.param("TEST_CASE_ID")
		if name == "" {
			return
		}
		a.addTest(boot.Test{
			Suite:       suite(),
			Name:        name,
			Result:      lavaResult(sig.param("RESULT")),
			Measurement: sig.param("MEASUREMENT"),
			Units:       sig.param("UNITS"),
			Line:        a.line,
		})
	case "TESTRAISE":
		name := strings.Join(sig.Args, " ")
		if name == "" {
			name = "testraise"
		}
		a.addTest(boot.Test{Suite: suite(), Name: name, Result: boot.Error, Line: a.line})
	}
}

// addTest records test t, bounded, and emits it.
func (a *Analyzer) addTest(t boot.Test) {
	if len(a.sum.Tests) >= MaxTests {
		a.sum.Truncated = true
		return
	}
	t.Suite = bound(t.Suite, maxNameBytes)
	t.Name = bound(t.Name, maxNameBytes)
	t.Measurement = bound(t.Measurement, 64)
	t.Units = bound(t.Units, 64)
	a.sum.Tests = append(a.sum.Tests, t)
	e := t
	a.emit(Event{Kind: EventTest, Line: t.Line, Test: &e})
}

// keepFragment holds the start of a signal that a kernel line cut, to
// join it with the user-space output that follows. It says whether t
// ended so.
func (a *Analyzer) keepFragment(t []byte) bool {
	i := bytes.LastIndex(t, []byte("<LAVA_"))
	if i < 0 {
		// the cut may fall inside "<LAVA_" itself
		for n := len("<LAVA_") - 1; n > 0; n-- {
			if bytes.HasSuffix(t, []byte("<LAVA_"[:n])) {
				i = len(t) - n
				break
			}
		}
		if i < 0 {
			return false
		}
	} else if bytes.IndexByte(t[i:], '>') >= 0 {
		return false
	}
	if len(t)-i > maxFragBytes {
		return false
	}
	a.frag = append(a.frag[:0], t[i:]...)
	return true
}

// flushFrag analyses a held fragment that nothing came to complete.
func (a *Analyzer) flushFrag() {
	f := a.frag
	a.frag = nil
	a.lavaLine(f)
}
