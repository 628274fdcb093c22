package main

import (
	"context"
	"flag"
	"io"
	"slices"
	"strings"
	"testing"
)

// TestParseInterspersed: the documented forms put flags after the
// positional argument (`tuxboot plan FILE --wait`, `tuxboot logs UID
// --follow`); they must parse as if the flags came first.
func TestParseInterspersed(t *testing.T) {
	tests := []struct {
		args []string
		pos  []string
		wait bool
		url  string
	}{
		{[]string{"plan.yaml"}, []string{"plan.yaml"}, false, ""},
		{[]string{"--wait", "plan.yaml"}, []string{"plan.yaml"}, true, ""},
		{[]string{"plan.yaml", "--wait"}, []string{"plan.yaml"}, true, ""},
		{[]string{"plan.yaml", "--url", "http://x", "--wait"}, []string{"plan.yaml"}, true, "http://x"},
		{[]string{"--url=http://x", "a", "b", "--wait"}, []string{"a", "b"}, true, "http://x"},
		{[]string{"a", "--", "--wait"}, []string{"a", "--wait"}, false, ""},
		{[]string{}, nil, false, ""},
	}
	for _, tt := range tests {
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		wait := fs.Bool("wait", false, "")
		url := fs.String("url", "", "")
		pos, err := parseInterspersed(fs, tt.args)
		if err != nil || !slices.Equal(pos, tt.pos) || *wait != tt.wait || *url != tt.url {
			t.Errorf("%q: %q wait=%v url=%q %v, want %q wait=%v url=%q", tt.args, pos, *wait, *url, err, tt.pos, tt.wait, tt.url)
		}
	}
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	if _, err := parseInterspersed(fs, []string{"a", "--nosuchflag"}); err == nil {
		t.Error("an unknown flag after the argument was accepted")
	}
}

// TestClientCommandFlagsAfterUID: `tuxboot logs UID --follow` is how the
// README spells it.
func TestClientCommandFlagsAfterUID(t *testing.T) {
	var follow bool
	_, uid, code := clientCommand("logs", "UID", []string{"UID1", "--follow"}, io.Discard, func(fs *flag.FlagSet) {
		fs.BoolVar(&follow, "follow", false, "")
	})
	if code >= 0 || uid != "UID1" || !follow {
		t.Errorf("uid %q, follow %v, code %d", uid, follow, code)
	}
}

// TestUsageHidesTheToken: a usage message (a typo in a CI job's flags)
// must not print $TUXBOOT_TOKEN into the job's log.
func TestUsageHidesTheToken(t *testing.T) {
	t.Setenv("TUXBOOT_TOKEN", "s3cr3t-token")
	var out strings.Builder
	if code := planMain(context.Background(), []string{"--nosuchflag"}, io.Discard, &out); code != exitBadRequest {
		t.Errorf("exit %d", code)
	}
	if strings.Contains(out.String(), "s3cr3t") || !strings.Contains(out.String(), "-token") {
		t.Errorf("usage:\n%s", out.String())
	}
}
