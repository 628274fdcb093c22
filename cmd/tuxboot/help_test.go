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

// Each command's help says what it takes, and only what it accepts.
func TestHelpSays(t *testing.T) {
	tests := []struct {
		args    []string
		want    []string
		notWant string
	}{
		{[]string{"status", "-h"}, []string{"usage: tuxboot status [flags] UID"}, ""},
		{[]string{"logs", "-h"}, []string{"usage: tuxboot logs [flags] UID", "-follow"}, ""},
		{[]string{"results", "-h"}, []string{"usage: tuxboot results [flags] UID"}, ""},
		{[]string{"cancel", "-h"}, []string{"usage: tuxboot cancel [flags] UID"}, ""},
		{[]string{"reproduce", "-h"}, []string{"usage: tuxboot reproduce [flags] UID|status.json|results.json [-- RUN FLAGS]", "--boot-args adds to the original"}, ""},
		{[]string{"serve", "-h"}, []string{"-executor", "local"}, "or kubernetes"},
		{[]string{"help", "run"}, []string{"-device", "-kernel"}, "Commands:"},
		{[]string{"help", "status"}, []string{"usage: tuxboot status [flags] UID"}, ""},
		{[]string{"help"}, []string{"Commands:"}, ""},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			var out, errOut strings.Builder
			if code := dispatch(context.Background(), tt.args, strings.NewReader(""), &out, &errOut); code != exitPass {
				t.Errorf("exit %d, want %d", code, exitPass)
			}
			help := out.String() + errOut.String()
			for _, w := range tt.want {
				if !strings.Contains(help, w) {
					t.Errorf("the help does not say %q:\n%s", w, help)
				}
			}
			if tt.notWant != "" && strings.Contains(help, tt.notWant) {
				t.Errorf("the help says %q:\n%s", tt.notWant, help)
			}
		})
	}
}
