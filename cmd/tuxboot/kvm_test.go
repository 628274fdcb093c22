package main

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"

	"github.com/tuxboot/tuxboot/runner/device"
)

func TestKVMProber(t *testing.T) {
	dev := device.Device{Name: "test", Arch: "x86_64", KVMHosts: []string{runtime.GOARCH}}
	tests := []struct {
		name    string
		flags   string
		x86Only bool
		// want matches the error of the second call.
		want     *regexp.Regexp
		probeRun bool // whether the probe boot may run at all
	}{
		{"no vmx or svm: no probe", "fpu vme hypervisor", true, regexp.MustCompile(`the CPU has no vmx or svm flag`), false},
		{"a cached failure names its file", "fpu vmx", false, regexp.MustCompile(`failed earlier since this host booted: .*\(delete (\S+) to probe again\)`), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.x86Only && runtime.GOARCH != "amd64" && runtime.GOARCH != "386" {
				t.Skip("the cpuinfo flags are read on x86 hosts only")
			}
			dir := t.TempDir()
			cpuinfo := filepath.Join(dir, "cpuinfo")
			if err := os.WriteFile(cpuinfo, []byte("processor\t: 0\nflags\t\t: "+tt.flags+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			marker := filepath.Join(dir, "probed")
			probe := []string{"/bin/sh", "-c", "touch " + marker + "; exit 1"}
			cache := filepath.Join(dir, "cache")
			prober := newKVMProber(cache, cpuinfo)
			if err := prober(context.Background(), dev, probe, "sha"); err == nil {
				t.Fatal("first call: KVM usable with a probe that fails")
			}
			err := prober(context.Background(), dev, probe, "sha")
			if err == nil || !tt.want.MatchString(err.Error()) {
				t.Fatalf("second call: %v, want it to match %s", err, tt.want)
			}
			if m := tt.want.FindStringSubmatch(err.Error()); len(m) > 1 {
				if !strings.HasPrefix(m[1], cache) {
					t.Errorf("the file to delete, %s, is not in the cache dir %s", m[1], cache)
				}
				if _, err := os.Stat(m[1]); err != nil {
					t.Errorf("the file to delete: %v", err)
				}
			}
			if _, err := os.Stat(marker); err == nil && !tt.probeRun {
				t.Error("the probe boot ran")
			}
		})
	}
}
