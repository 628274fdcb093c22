package console

import (
	"testing"

	"github.com/tuxboot/tuxboot/runner/boot"
)

func TestBootOK(t *testing.T) {
	ms := func(names ...string) []boot.Milestone {
		var out []boot.Milestone
		for _, n := range names {
			out = append(out, boot.Milestone{Name: n})
		}
		return out
	}
	tests := []struct {
		name string
		s    Summary
		want bool
	}{
		{"prompt after a kernel", Summary{Milestones: ms("kernel_started", "init_started", "shell_prompt")}, true},
		{"power-off after init", Summary{Milestones: ms("kernel_started", "init_started", "shutdown")}, true},
		{"tests finished", Summary{Milestones: ms("kernel_started", "tests_started", "tests_finished")}, true},
		{"a prompt and no kernel", Summary{Milestones: ms("shell_prompt")}, false},
		{"tests started, then power-off", Summary{Milestones: ms("kernel_started", "init_started", "tests_started", "shutdown")}, false},
		{"power-off before init", Summary{Milestones: ms("kernel_started", "shutdown")}, false},
		{"fatal crash after a prompt", Summary{Milestones: ms("kernel_started", "login_prompt"), Failure: &boot.Failure{Kind: KindOops}}, false},
	}
	for _, tt := range tests {
		if got := tt.s.BootOK(); got != tt.want {
			t.Errorf("%s: BootOK() = %v, want %v", tt.name, got, tt.want)
		}
	}
}
