package qemu

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestProbe(t *testing.T) {
	tests := []struct {
		name    string
		argv    []string
		wantErr bool
	}{
		{"banner then more output", []string{"sh", "-c", "echo firmware; echo 'Linux version 6.1.0'; sleep 30"}, false},
		{"banner split across writes", []string{"sh", "-c", "printf 'Linux ver'; sleep 0.2; printf 'sion 6'; sleep 30"}, false},
		{"silent guest", []string{"sleep", "30"}, true},
		{"guest exits without banner", []string{"sh", "-c", "echo nope; exit 1"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			err := probe(context.Background(), tt.argv, []byte("Linux version"), 2*time.Second)
			if (err != nil) != tt.wantErr {
				t.Fatalf("probe: err = %v, want error %v", err, tt.wantErr)
			}
			if time.Since(start) > 10*time.Second {
				t.Fatalf("probe did not stop its process in time")
			}
		})
	}
}

func TestCPUVirtualization(t *testing.T) {
	const intel = "processor\t: 0\nflags\t\t: fpu vme de pse tsc msr vmx ept\n"
	const amd = "processor\t: 0\nflags\t\t: fpu vme svm npt\n"
	const none = "processor\t: 0\nflags\t\t: fpu vme de pse tsc msr hypervisor\nbugs\t\t: vmx_like_bug\n"
	tests := []struct {
		name, goarch, cpuinfo string // cpuinfo "": no such file
		wantErr               bool
	}{
		{"intel vmx", "amd64", intel, false},
		{"amd svm", "amd64", amd, false},
		{"no flag on amd64", "amd64", none, true},
		{"no flag on 386", "386", none, true},
		{"not x86: only a probe tells", "arm64", none, false},
		{"cpuinfo unreadable: only a probe tells", "amd64", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "cpuinfo")
			if tt.cpuinfo != "" {
				if err := os.WriteFile(path, []byte(tt.cpuinfo), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			err := CPUVirtualization(tt.goarch, path)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if err != nil && !strings.Contains(err.Error(), "the CPU has no vmx or svm flag") {
				t.Errorf("err = %q, want it to say the CPU has no vmx or svm flag", err)
			}
		})
	}
}
