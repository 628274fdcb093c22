package main

import (
	"context"
	"strings"
	"testing"
)

// Every command's -h prints its flags and succeeds.
func TestHelpExitsZero(t *testing.T) {
	for _, cmd := range []string{"run", "devices", "serve", "api", "controller", "runner", "analyze", "submit", "plan",
		"status", "logs", "results", "cancel", "reproduce"} {
		var out, errOut strings.Builder
		if code := dispatch(context.Background(), []string{cmd, "-h"}, strings.NewReader(""), &out, &errOut); code != exitPass {
			t.Errorf("tuxboot %s -h: exit %d, want %d\n%s", cmd, code, exitPass, errOut.String())
		}
		if !strings.Contains(out.String()+errOut.String(), "-") {
			t.Errorf("tuxboot %s -h printed no flags", cmd)
		}
	}
}
