package console

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// fuzzOptions has small caps so that the fuzzer reaches them.
func fuzzOptions() Options {
	return Options{MaxLineBytes: 256, MaxReportBytes: 1024}
}

// addCorpusSeeds seeds f with the corpus logs and a few tricky inputs.
func addCorpusSeeds(f *testing.F, args func(b []byte) []any) {
	logs, _ := filepath.Glob(filepath.Join("testdata", "corpus", "*.log"))
	for _, name := range logs {
		b, err := os.ReadFile(name)
		if err == nil {
			if len(b) > 8<<10 {
				b = b[:8<<10]
			}
			f.Add(args(b)...)
		}
	}
	for _, s := range []string{
		"",
		"\r\r\n\n\r",
		"\x1b[2J\x1b[1;1H\x1b]0;title\x07SeaBIOS (version 1.16)\r\n",
		"<LAVA_SIGNAL_TESTCASE TEST_CASE_ID=a RESU[    1.000000] x\nLT=pass>\n",
		"KTAP version 1\n1..1\n    # Subtest: s\n    1..1\n    ok 1 t # SKIP\nok 1 s\n",
		"------------[ cut here ]------------\nkernel BUG at a.c:1!\nOops: invalid opcode: 0000 [#1]\nRIP: 0010:f+0x1/0x2\n---[ end trace 0 ]---\n",
		"==================================================================\nBUG: KASAN: use-after-free in f+0x1/0x2\nRead of size 8\n=====================\n",
		"buildroot login: ",
	} {
		f.Add(args([]byte(s))...)
	}
}

// checkBounded fails t if the analyser holds more than its caps allow.
func checkBounded(t *testing.T, a *Analyzer) {
	t.Helper()
	s := a.Summary()
	o := a.opts
	if len(s.Crashes) > MaxCrashes || len(s.Tests) > MaxTests || len(s.Milestones) > 8 {
		t.Fatalf("summary over its caps: %d crashes, %d tests, %d milestones", len(s.Crashes), len(s.Tests), len(s.Milestones))
	}
	seen := map[string]bool{}
	for _, m := range s.Milestones {
		if seen[m.Name] {
			t.Fatalf("milestone %q twice", m.Name)
		}
		seen[m.Name] = true
	}
	for _, c := range s.Crashes {
		// ToValidUTF8 may grow a report by at most 3 bytes per byte.
		if len(c.Report) > 3*o.MaxReportBytes || len(c.Title) > 3*maxTitleBytes {
			t.Fatalf("crash over its caps: report %d bytes, title %d bytes", len(c.Report), len(c.Title))
		}
		if c.Kind == "" || c.Title == "" {
			t.Fatalf("crash without kind or title: %+v", c)
		}
	}
	for _, x := range s.Tests {
		if len(x.Name) > 3*maxNameBytes || len(x.Suite) > 3*maxNameBytes || x.Name == "" {
			t.Fatalf("test over its caps: %+v", x)
		}
	}
	if len(a.buf) > o.MaxLineBytes || len(a.frag) > maxFragBytes+o.MaxLineBytes || len(a.pre.text) > 4096+o.MaxLineBytes {
		t.Fatalf("buffers over their caps: line %d, fragment %d, preamble %d", len(a.buf), len(a.frag), len(a.pre.text))
	}
	if a.rep != nil && len(a.rep.text) > o.MaxReportBytes {
		t.Fatalf("open report over its cap: %d bytes", len(a.rep.text))
	}
}

// FuzzAnalyzer feeds the analyser arbitrary consoles, whole and in
// chunks: it must not panic, must stay within its caps, and must find
// the same things however the input is split. Flushed after every
// chunk, it must keep its caps and report no crash twice.
func FuzzAnalyzer(f *testing.F) {
	addCorpusSeeds(f, func(b []byte) []any { return []any{b, uint64(0x9e3779b97f4a7c15)} })
	f.Fuzz(func(t *testing.T, data []byte, seed uint64) {
		whole := New(fuzzOptions())
		whole.Write(data)
		checkBounded(t, whole)
		whole.Close()
		checkBounded(t, whole)

		split := New(fuzzOptions())
		for rest := data; len(rest) > 0; {
			seed = seed*6364136223846793005 + 1442695040888963407
			n := int(seed>>59) + 1 // 1 to 32 bytes
			n = min(n, len(rest))
			split.Write(rest[:n])
			rest = rest[n:]
			checkBounded(t, split)
		}
		split.Close()
		checkBounded(t, split)

		ws, ss := whole.Summary(), split.Summary()
		if !reflect.DeepEqual(ws, ss) {
			t.Fatalf("split reads changed the analysis:\nwhole %+v\nsplit %+v", ws, ss)
		}

		// The console going quiet after any read: Flush closes what is
		// open, the caps hold, and no crash is reported twice.
		quiet := New(fuzzOptions())
		for rest := data; len(rest) > 0; {
			seed = seed*6364136223846793005 + 1442695040888963407
			n := min(int(seed>>59)+1, len(rest))
			quiet.Write(rest[:n])
			rest = rest[n:]
			quiet.Flush()
			if quiet.rep != nil {
				t.Fatal("a report is open after Flush")
			}
			checkBounded(t, quiet)
		}
		quiet.Close()
		checkBounded(t, quiet)
		seen := map[string]bool{}
		for _, c := range quiet.Summary().Crashes {
			if seen[c.Kind+"\x00"+c.Title] {
				t.Fatalf("crash %s %q reported twice", c.Kind, c.Title)
			}
			seen[c.Kind+"\x00"+c.Title] = true
		}
	})
}

// FuzzLAVASignal checks the signal parser on arbitrary lines.
func FuzzLAVASignal(f *testing.F) {
	addCorpusSeeds(f, func(b []byte) []any { return []any{b} })
	f.Add([]byte("<LAVA_SIGNAL_TESTCASE TEST_CASE_ID=x RESULT=pass MEASUREMENT=1 UNITS=s><LAVA_SIGNAL_ENDRUN 0_x 1>"))
	f.Add([]byte("<LAVA_SIGNAL_TESTSET START set>"))
	f.Fuzz(func(t *testing.T, line []byte) {
		sig, rest, ok := parseLAVASignal(line)
		if rest != nil && !bytes.HasSuffix(line, rest) {
			t.Fatalf("rest %q is not the end of the line", rest)
		}
		if len(rest) >= len(line) && len(line) > 0 {
			t.Fatalf("no progress: rest %q of %q", rest, line)
		}
		if ok {
			if sig.Name == "" {
				t.Fatalf("signal without a name from %q", line)
			}
			for _, c := range sig.Name {
				if c < 'A' || c > 'Z' {
					t.Fatalf("signal name %q", sig.Name)
				}
			}
		}
		a := New(fuzzOptions())
		for _, l := range bytes.Split(line, []byte("\n")) {
			a.lavaLine(l)
		}
		checkBounded(t, a)
	})
}

// FuzzKTAP checks the KTAP parser on arbitrary lines.
func FuzzKTAP(f *testing.F) {
	addCorpusSeeds(f, func(b []byte) []any { return []any{b} })
	f.Add([]byte("TAP version 13\n1..2\n# selftests: net: a\n# TAP version 13\n# 1..1\n# ok 1 x # XFAIL\nnot ok 1 selftests: net: a # TIMEOUT\nBail out! no\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		a := New(fuzzOptions())
		for _, l := range bytes.Split(data, []byte("\n")) {
			if k, ok := parseKTAP(l); ok {
				if k.depth < 0 || k.depth > maxKTAPDepth+1 {
					t.Fatalf("depth %d from %q", k.depth, l)
				}
				if k.kind == ktapPlan && k.plan < 0 {
					t.Fatalf("plan %d from %q", k.plan, l)
				}
			}
			a.ktapLine(l, kernelPrefix{})
		}
		checkBounded(t, a)
		for _, x := range a.Summary().Tests {
			switch x.Result {
			case "pass", "fail", "skip", "error":
			default:
				t.Fatalf("result %q", x.Result)
			}
		}
	})
}
