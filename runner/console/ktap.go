package console

import (
	"bytes"
	"strconv"
	"strings"

	"github.com/tuxboot/tuxboot/runner/boot"
)

// KTAP and TAP as KUnit and kselftest print them:
//
//	KTAP version 1
//	1..1
//	    KTAP version 1
//	    # Subtest: example
//	    1..2
//	    ok 1 example_simple_test
//	    ok 2 example_skip_test # SKIP this test should be skipped
//	ok 1 example
//
// KUnit nests with four spaces; kselftest's runner nests a test's own
// TAP output behind "# ".

const maxKTAPDepth = 16

type ktapKind uint8

const (
	ktapVersion ktapKind = iota + 1
	ktapPlan
	ktapResult
	ktapSubtest // "# Subtest: name", or kselftest's "# selftests: dir: test"
	ktapBail
)

// ktapLine is one parsed KTAP line.
type ktapLine struct {
	kind      ktapKind
	depth     int
	ok        bool   // ktapResult
	name      string // ktapResult, ktapSubtest
	directive string // ktapResult: SKIP, TODO, XFAIL, ...
	plan      int    // ktapPlan
}

// parseKTAP parses one line of KTAP, with its indentation.
func parseKTAP(t []byte) (ktapLine, bool) {
	var l ktapLine
	for l.depth <= maxKTAPDepth {
		switch {
		case hasPrefix(t, "    "):
			t = t[4:]
		case len(t) > 0 && t[0] == '\t':
			t = t[1:]
		case hasPrefix(t, "# ") && ktapStructural(t[2:]):
			t = t[2:]
		default:
			goto body
		}
		l.depth++
	}
	return l, false
body:
	t = trimRight(t)
	switch {
	case hasPrefix(t, "ok ") || string(t) == "ok":
		l.kind, l.ok = ktapResult, true
		l.name, l.directive = resultName(t[2:])
	case hasPrefix(t, "not ok"):
		l.kind = ktapResult
		l.name, l.directive = resultName(t[6:])
	case hasPrefix(t, "1.."):
		n, err := strconv.Atoi(string(cutBytes(t[3:], ' ')))
		if err != nil || n < 0 {
			return l, false
		}
		l.kind, l.plan = ktapPlan, n
	case hasPrefix(t, "KTAP version ") || hasPrefix(t, "TAP version "):
		l.kind = ktapVersion
	case hasPrefix(t, "# Subtest: "):
		l.kind, l.name = ktapSubtest, strings.TrimSpace(string(t[len("# Subtest: "):]))
	case hasPrefix(t, "# selftests: "):
		// "# selftests: net: reuseport_bpf" names the next test of the
		// kselftest runner, one level down.
		l.kind, l.name = ktapSubtest, kselftestName(string(t[len("# "):]))
		l.depth++
	case hasPrefix(t, "Bail out!"):
		l.kind = ktapBail
		l.name = strings.TrimSpace(string(t[len("Bail out!"):]))
	default:
		return l, false
	}
	return l, true
}

// ktapStructural says whether t, after "# ", is a KTAP line of a nested
// document rather than a diagnostic.
func ktapStructural(t []byte) bool {
	for hasPrefix(t, "# ") {
		t = t[2:]
	}
	for hasPrefix(t, "    ") {
		t = t[4:]
	}
	return hasPrefix(t, "ok ") || string(t) == "ok" || hasPrefix(t, "not ok") ||
		hasPrefix(t, "1..") && len(t) > 3 && isDigit(t[3]) ||
		hasPrefix(t, "TAP version ") || hasPrefix(t, "KTAP version ") || hasPrefix(t, "Bail out!")
}

// resultName parses " 1 - name # SKIP reason" after "ok" or "not ok".
func resultName(t []byte) (name, directive string) {
	t = bytes.TrimLeft(t, " ")
	for len(t) > 0 && isDigit(t[0]) {
		t = t[1:]
	}
	t = bytes.TrimLeft(t, " ")
	if hasPrefix(t, "- ") {
		t = t[2:]
	}
	if i := bytes.Index(t, []byte("# ")); i >= 0 && (i == 0 || t[i-1] == ' ') {
		d := bytes.TrimSpace(t[i+2:])
		t = t[:i]
		if j := bytes.IndexByte(d, ' '); j >= 0 {
			d = d[:j]
		}
		directive = strings.ToUpper(string(d))
	}
	return string(bytes.TrimSpace(t)), directive
}

// kselftestName turns "selftests: net: reuseport_bpf" into
// "kselftest-net/reuseport_bpf".
func kselftestName(s string) string {
	parts := strings.SplitN(s, ": ", 3)
	if len(parts) == 3 {
		return "kselftest-" + parts[1] + "/" + strings.TrimSpace(parts[2])
	}
	return s
}

// ktapResultOf maps ok/not ok and a directive to a result. A TODO test
// is known to fail and counts as skipped; XFAIL is an expected failure.
func ktapResultOf(ok bool, directive string) string {
	switch directive {
	case "SKIP":
		return boot.Skip
	case "TODO":
		return boot.Skip
	case "XFAIL":
		return boot.Pass
	}
	if ok {
		return boot.Pass
	}
	return boot.Fail
}

// ktapState follows the nesting of a KTAP document.
type ktapState struct {
	active   bool                     // a document started
	top      string                   // the suite of top-level results
	plan     int                      // the top-level plan, -1 if not seen
	count    int                      // top-level results so far
	suites   [maxKTAPDepth + 2]string // the suite of results at each depth
	finished bool
}

// ktap handles t, a line with its indentation, as KTAP.
func (a *Analyzer) ktapLine(t []byte, p kernelPrefix) {
	l, ok := parseKTAP(t)
	if !ok {
		return
	}
	k := &a.ktap
	if !k.active {
		if l.kind != ktapVersion || l.depth != 0 {
			return
		}
	}
	switch l.kind {
	case ktapVersion:
		if l.depth == 0 {
			*k = ktapState{active: true, plan: -1, top: "ktap"}
			if p.kernel {
				k.top = "kunit"
			}
			a.reach(boot.MilestoneTestsStarted)
		}
	case ktapPlan:
		if l.depth == 0 {
			k.plan = l.plan
			if k.count >= l.plan {
				a.reach(boot.MilestoneTestsFinished)
			}
		}
	case ktapSubtest:
		if l.depth <= maxKTAPDepth {
			name := bound(l.name, maxNameBytes)
			if l.depth > 1 && k.suites[l.depth-1] != "" {
				name = k.suites[l.depth-1] + "/" + name
			}
			k.suites[l.depth] = bound(name, maxNameBytes)
		}
	case ktapResult, ktapBail:
		suite := k.suiteAt(l.depth)
		name, result := l.name, ktapResultOf(l.ok, l.directive)
		if l.kind == ktapBail {
			name, result = "bail-out", boot.Error
		} else if l.depth == 0 && strings.HasPrefix(name, "selftests: ") {
			s := kselftestName(name)
			if i := strings.IndexByte(s, '/'); i >= 0 {
				suite, name = s[:i], s[i+1:]
			}
		}
		if name == "" {
			name = "unnamed"
		}
		a.addTest(boot.Test{Suite: suite, Name: name, Result: result, Line: a.line})
		for d := l.depth + 1; d < len(k.suites); d++ {
			k.suites[d] = ""
		}
		if l.depth == 0 {
			k.count++
			if l.kind == ktapBail || k.plan >= 0 && k.count >= k.plan {
				a.reach(boot.MilestoneTestsFinished)
			}
		}
	}
}

// suiteAt is the suite of results at depth d: the innermost named one.
func (k *ktapState) suiteAt(d int) string {
	for d = min(d, len(k.suites)-1); d > 0; d-- {
		if k.suites[d] != "" {
			return k.suites[d]
		}
	}
	return k.top
}
