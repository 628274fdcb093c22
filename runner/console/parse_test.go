package console

import (
	"reflect"
	"testing"
)

func TestParseLAVASignal(t *testing.T) {
	tests := []struct {
		line string
		ok   bool
		want lavaSignal
	}{
		{"<LAVA_SIGNAL_STARTRUN 0_smoke 1234_smoke>", true, lavaSignal{"STARTRUN", []string{"0_smoke", "1234_smoke"}}},
		{"+ echo x<LAVA_SIGNAL_TESTCASE TEST_CASE_ID=a RESULT=pass>", true, lavaSignal{"TESTCASE", []string{"TEST_CASE_ID=a", "RESULT=pass"}}},
		{"<LAVA_SIGNAL_TESTCASE TEST_CASE_ID=a RESULT=pass", false, lavaSignal{}},
		{"<LAVA_SIGNAL_lower x>", false, lavaSignal{}},
		{"<LAVA_SIGNAL_>", false, lavaSignal{}},
	}
	for _, tt := range tests {
		got, _, ok := parseLAVASignal([]byte(tt.line))
		if ok != tt.ok || ok && !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%q: %+v %v, want %+v %v", tt.line, got, ok, tt.want, tt.ok)
		}
	}
	sig, _, _ := parseLAVASignal([]byte("<LAVA_SIGNAL_TESTCASE TEST_CASE_ID=t RESULT=fail MEASUREMENT=2.5 UNITS=s>"))
	if sig.param("MEASUREMENT") != "2.5" || sig.param("UNITS") != "s" || sig.param("RESULT") != "fail" {
		t.Errorf("params of %+v", sig)
	}
	for in, want := range map[string]string{"0_smoke": "smoke", "12_ltp-syscalls": "ltp-syscalls", "smoke": "smoke", "1_": "1_"} {
		if got := runName(in); got != want {
			t.Errorf("runName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestParseKTAP(t *testing.T) {
	tests := []struct {
		line string
		ok   bool
		want ktapLine
	}{
		{"KTAP version 1", true, ktapLine{kind: ktapVersion}},
		{"    1..3", true, ktapLine{kind: ktapPlan, depth: 1, plan: 3}},
		{"    # Subtest: example", true, ktapLine{kind: ktapSubtest, depth: 1, name: "example"}},
		{"        ok 2 param-1 # SKIP no", true, ktapLine{kind: ktapResult, depth: 2, ok: true, name: "param-1", directive: "SKIP"}},
		{"not ok 1 - foo # TODO later", true, ktapLine{kind: ktapResult, name: "foo", directive: "TODO"}},
		{"# # ok 3 inner", true, ktapLine{kind: ktapResult, depth: 2, ok: true, name: "inner"}},
		{"# selftests: net: tls", true, ktapLine{kind: ktapSubtest, depth: 1, name: "kselftest-net/tls"}},
		{"Bail out! no disk", true, ktapLine{kind: ktapBail, name: "no disk"}},
		{"# diagnostic", false, ktapLine{}},
		{"okay then", false, ktapLine{}},
		{"1..x", false, ktapLine{}},
	}
	for _, tt := range tests {
		got, ok := parseKTAP([]byte(tt.line))
		if ok != tt.ok || ok && got != tt.want {
			t.Errorf("%q: %+v %v, want %+v %v", tt.line, got, ok, tt.want, tt.ok)
		}
	}
	for _, tt := range []struct {
		ok        bool
		directive string
		want      string
	}{{true, "", "pass"}, {false, "", "fail"}, {true, "SKIP", "skip"}, {false, "TODO", "skip"}, {true, "XFAIL", "pass"}, {false, "TIMEOUT", "fail"}} {
		if got := ktapResultOf(tt.ok, tt.directive); got != tt.want {
			t.Errorf("ktapResultOf(%v, %q) = %q, want %q", tt.ok, tt.directive, got, tt.want)
		}
	}
}

func TestStripPrefix(t *testing.T) {
	tests := []struct{ in, out string }{
		{"[    1.234567] hello", "hello"},
		{"[    0.000000][    T0] Linux version", "Linux version"},
		{"[    1.0] [  C1] x", "x"},
		{"<6>[    1.0] x", "x"},
		{"<4>x", "x"},
		{"[    1.0]     # Subtest: a", "    # Subtest: a"},
		{"[drm] not a timestamp", "[drm] not a timestamp"},
	}
	for _, tt := range tests {
		if got, _ := stripPrefix([]byte(tt.in)); string(got) != tt.out {
			t.Errorf("stripPrefix(%q) = %q, want %q", tt.in, got, tt.out)
		}
	}
	if got := string(stripANSI(nil, []byte("\x1b[0;32m  OK  \x1b[0m] x\x1b]0;t\x07y\x1bcz"))); got != "  OK  ] xyz" {
		t.Errorf("stripANSI = %q", got)
	}
}
