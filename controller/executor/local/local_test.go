package local_test

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tuxboot/tuxboot/controller/executor"
	"github.com/tuxboot/tuxboot/controller/executor/local"
	"github.com/tuxboot/tuxboot/runner/boot"
)

// fakeTuxboot writes a stand-in for the tuxboot binary: it records its
// arguments and request, starts a child in its process group, and then
// does what $MODE says.
func fakeTuxboot(t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "tuxboot")
	script := `#!/bin/sh
echo "$@" > "$OUT/args"
while [ $# -gt 0 ]; do [ "$1" = --request ] && cp "$2" "$OUT/request.json"; shift; done
[ "$MODE" = hang ] && trap '' TERM
sleep 300 &
echo $! > "$OUT/child"
case $MODE in
exit3) exit 3 ;;
exit9) exit 9 ;;
hang) wait ;;
esac
`
	if err := os.WriteFile(bin, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return bin
}

func alive(pid int) bool {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	return err == nil && !strings.Contains(string(data), ") Z ")
}

func TestLocalExecutor(t *testing.T) {
	tests := []struct {
		mode    string
		stop    bool
		wantErr bool
	}{
		{"exit3", false, false}, // a verdict, not the runner's failure
		{"exit9", false, true},
		{"hang", true, true}, // ignores SIGTERM: killed after the grace
	}
	for _, tt := range tests {
		t.Run(tt.mode, func(t *testing.T) {
			dir := t.TempDir()
			e := &local.Executor{Binary: fakeTuxboot(t, dir), NATSURL: "nats://x", Dir: filepath.Join(dir, "jobs"),
				Args: []string{"--cache-dir", "/c"}, Env: []string{"OUT=" + dir, "MODE=" + tt.mode}}
			run, err := e.Start(context.Background(), executor.Job{ID: "b1", Attempt: 2, Request: boot.Request{ID: "b1", Device: "qemu-arm64", Kernel: "/k"}})
			if err != nil {
				t.Fatal(err)
			}
			childFile := filepath.Join(dir, "child")
			for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
				if data, err := os.ReadFile(childFile); err == nil && strings.HasSuffix(string(data), "\n") {
					break
				}
				if time.Now().After(deadline) {
					t.Fatal("fake runner did not start")
				}
			}
			data, _ := os.ReadFile(childFile)
			child, _ := strconv.Atoi(strings.TrimSpace(string(data)))
			t.Cleanup(func() { syscall.Kill(child, syscall.SIGKILL) })
			if tt.stop {
				run.Stop(500 * time.Millisecond)
			}
			select {
			case <-run.Done():
			case <-time.After(10 * time.Second):
				t.Fatal("runner did not end")
			}
			if (run.Err() != nil) != tt.wantErr {
				t.Errorf("Err() = %v, want error %v", run.Err(), tt.wantErr)
			}
			args, _ := os.ReadFile(filepath.Join(dir, "args"))
			if want := "runner --nats nats://x --request " + filepath.Join(dir, "jobs", "b1.2.request.json") + " --id b1 --attempt 2 --cache-dir /c"; strings.TrimSpace(string(args)) != want {
				t.Errorf("args %q, want %q", args, want)
			}
			if req, _ := os.ReadFile(filepath.Join(dir, "request.json")); !strings.Contains(string(req), `"kernel":"/k"`) {
				t.Errorf("request file: %s", req)
			}
			if _, err := os.Stat(filepath.Join(dir, "jobs", "b1.2.request.json")); !os.IsNotExist(err) {
				t.Errorf("request file left behind: %v", err)
			}
			if tt.stop {
				// The whole process group went, not just the runner.
				deadline := time.Now().Add(5 * time.Second)
				for alive(child) && time.Now().Before(deadline) {
					time.Sleep(20 * time.Millisecond)
				}
				if alive(child) {
					t.Errorf("the runner's child %d outlived Stop", child)
				}
			}
		})
	}
}
