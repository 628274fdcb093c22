package boot

import (
	"strings"
	"testing"
)

func TestParseTimeouts(t *testing.T) {
	tests := []struct {
		in      string
		want    Timeouts
		wantErr string
	}{
		{"", Timeouts{}, ""},
		{"boot=60,tests=120", Timeouts{Boot: 60, Tests: 120}, ""},
		{" boot=1 , no_output=5,overall=9", Timeouts{Boot: 1, NoOutput: 5, Overall: 9}, ""},
		{"boot=0", Timeouts{}, "boot"},
		{"boot=-1", Timeouts{}, "boot"},
		{"boot=1e9", Timeouts{}, "boot"},
		{"boot=9300000000", Timeouts{}, "604800"},
		{"boot=", Timeouts{}, "boot"},
		{",,", Timeouts{}, "NAME=SECONDS"},
		{"lunch=5", Timeouts{}, "lunch"},
		{"boot=10m,tests=2h,no_output=90s", Timeouts{Boot: 600, Tests: 7200, NoOutput: 90}, ""},
		{"boot=1m30s", Timeouts{}, "boot"},
		{"boot=200000h", Timeouts{}, "604800"},
		{"boot=m", Timeouts{}, "boot"},
	}
	for _, tt := range tests {
		got, err := ParseTimeouts(tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ParseTimeouts(%q) error %v, want one mentioning %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParseTimeouts(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
		}
	}
}

func TestValidate(t *testing.T) {
	zeros := strings.Repeat("0", 64)
	tests := []struct {
		name    string
		req     Request
		wantErr []string
	}{
		{"minimal", Request{Device: "qemu-arm64", Kernel: "/k"}, nil},
		{"everything", Request{APIVersion: APIVersion, Device: "qemu-arm64", Kernel: "https://x/Image", Rootfs: "file:///r",
			Accel: "tcg", SMP: 2, Memory: "1G", SHA256: map[string]string{"kernel": zeros}}, nil},
		{"no device or kernel", Request{}, []string{"device", "kernel"}},
		{"bad scheme", Request{Device: "d", Kernel: "ftp://x/k"}, []string{"ftp"}},
		{"bad version", Request{APIVersion: "v0", Device: "d", Kernel: "/k"}, []string{"apiVersion"}},
		{"digest of nothing", Request{Device: "d", Kernel: "/k", SHA256: map[string]string{"rootfs": zeros}}, []string{"rootfs"}},
		{"digest not hex", Request{Device: "d", Kernel: "/k", SHA256: map[string]string{"kernel": "xyz"}}, []string{"sha256"}},
		{"bad accel, smp, memory", Request{Device: "d", Kernel: "/k", Accel: "hax", SMP: 1000, Memory: "lots"}, []string{"accel", "smp", "memory"}},
		{"timeout too long", Request{Device: "d", Kernel: "/k", Timeouts: Timeouts{Boot: MaxTimeout + 1}}, []string{"timeouts.boot"}},
		{"two-line boot args", Request{Device: "d", Kernel: "/k", BootArgs: "a\nb"}, []string{"boot_args"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.req.Validate()
			if len(tt.wantErr) == 0 {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate accepted %+v", tt.req)
			}
			for _, w := range tt.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}
