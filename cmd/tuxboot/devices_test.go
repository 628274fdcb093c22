package main

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestDevices(t *testing.T) {
	code, stdout, stderr := runCLI(t, "devices", "--json")
	if code != exitPass {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var devs []struct {
		Name     string `json:"name"`
		Binary   string `json:"qemu_binary"`
		Console  string `json:"console"`
		Verified bool   `json:"verified"`
		Disk     struct {
			Root string `json:"root"`
		} `json:"disk"`
	}
	if err := json.Unmarshal([]byte(stdout), &devs); err != nil {
		t.Fatalf("devices --json: %v\n%s", err, stdout)
	}
	byName := map[string]bool{}
	for _, d := range devs {
		byName[d.Name] = d.Verified
		if d.Binary == "" || d.Console == "" || d.Disk.Root == "" {
			t.Errorf("%s: incomplete %+v", d.Name, d)
		}
	}
	if len(devs) < 21 || !byName["qemu-arm64"] || byName["qemu-sh4"] {
		t.Errorf("devices: %d rows, arm64 verified %v, sh4 verified %v", len(devs), byName["qemu-arm64"], byName["qemu-sh4"])
	}

	code, stdout, _ = runCLI(t, "devices")
	if code != exitPass || !strings.Contains(stdout, "qemu-riscv64") || !strings.Contains(stdout, "unverified") {
		t.Errorf("devices table:\n%s", stdout)
	}
	if code, _, _ := runCLI(t, "devices", "extra"); code != exitBadRequest {
		t.Errorf("devices extra: exit %d, want %d", code, exitBadRequest)
	}
}
