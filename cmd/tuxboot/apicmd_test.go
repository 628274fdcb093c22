package main

import (
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nuid"

	"github.com/tuxboot/tuxboot/controller/api"
	"github.com/tuxboot/tuxboot/controller/queue"
	"github.com/tuxboot/tuxboot/controller/queue/queuetest"
	"github.com/tuxboot/tuxboot/runner/boot"
)

func TestAPIBadFlags(t *testing.T) {
	q := queuetest.New(t, queue.Options{})
	url := q.NC.ConnectedUrl()
	dir := t.TempDir()
	badTokens := filepath.Join(dir, "tokens")
	if err := os.WriteFile(badTokens, []byte("lonely-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		says string
	}{
		{"no NATS", []string{"api"}, "--nats"},
		{"stray argument", []string{"api", "--nats", url, "extra"}, "no arguments"},
		{"open API off loopback", []string{"api", "--nats", url, "--listen", ":0"}, "not a loopback address"},
		{"open API on all IPv4", []string{"api", "--nats", url, "--listen", "0.0.0.0:0"}, "not a loopback address"},
		{"missing tokens file", []string{"api", "--nats", url, "--tokens", filepath.Join(dir, "none")}, "--tokens"},
		{"malformed tokens file", []string{"api", "--nats", url, "--tokens", badTokens}, "want TOKEN GROUP"},
		{"bad log format", []string{"api", "--nats", url, "--log-format", "xml"}, "xml"},
		{"missing artefact dir", []string{"api", "--nats", url, "--artefact-dir", filepath.Join(dir, "none")}, "--artefact-dir: artefact directory"},
		{"artefact dir is a file", []string{"api", "--nats", url, "--artefact-dir", dir, "--artefact-dir", badTokens}, "is not a directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("TUXBOOT_NATS_URL", "")
			code, stdout, stderr := runCLI(t, tt.args...)
			if code != exitBadRequest || !strings.Contains(stdout+stderr, tt.says) {
				t.Errorf("exit %d, want %d saying %q\n%s%s", code, exitBadRequest, tt.says, stdout, stderr)
			}
		})
	}
}

// child is a tuxboot process a test started: this test binary run as
// tuxboot, its environment tagged. It is stopped (SIGTERM, then SIGKILL
// after 30s) when the test ends, and its output shown if the test failed.
type child struct {
	cmd    *exec.Cmd
	out    *syncBuffer
	exited chan struct{}
}

func startChild(t *testing.T, tag string, args ...string) *child {
	t.Helper()
	c := &child{cmd: exec.Command(os.Args[0], args...), out: &syncBuffer{}, exited: make(chan struct{})}
	c.cmd.Env = append(os.Environ(), "TUXBOOT_TEST_MAIN=1", testTagEnv+"="+tag)
	c.cmd.Stdout, c.cmd.Stderr = c.out, c.out
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { c.cmd.Wait(); close(c.exited) }()
	t.Cleanup(func() {
		c.stop(t)
		if t.Failed() {
			t.Logf("tuxboot %s:\n%s", args[0], tail(c.out.String(), 60))
		}
	})
	return c
}

// stop ends the child with SIGTERM, as a service manager would, and says
// whether it exited 0 then.
func (c *child) stop(t *testing.T) {
	t.Helper()
	select {
	case <-c.exited:
		return
	default:
	}
	c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.exited:
		if code := c.cmd.ProcessState.ExitCode(); code != 0 {
			t.Errorf("tuxboot %s exited %d after SIGTERM, want 0", c.cmd.Args[1], code)
		}
	case <-time.After(30 * time.Second):
		t.Errorf("tuxboot %s still running 30s after SIGTERM", c.cmd.Args[1])
		c.cmd.Process.Kill()
		<-c.exited
	}
}

// waitAddr waits for a child's --addr-file.
func waitAddr(t *testing.T, c *child, addrFile string) string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if data, err := os.ReadFile(addrFile); err == nil && strings.HasSuffix(string(data), "\n") {
			return strings.TrimSpace(string(data))
		}
		select {
		case <-c.exited:
			t.Fatalf("tuxboot %s exited early:\n%s", c.cmd.Args[1], c.out.String())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("tuxboot %s did not listen within 30s", c.cmd.Args[1])
		}
	}
}

// TestAPIStandalone runs the system as three parts on a NATS server none
// of them owns: `tuxboot controller`, `tuxboot api`, and the test, which
// boots a real kernel over the api's HTTP.
func TestAPIStandalone(t *testing.T) {
	if testing.Short() {
		t.Skip("boots QEMU")
	}
	req := realRequest(t, "arm64", "qemu-arm64", "")
	q := queuetest.New(t, queue.Options{})
	natsURL := q.NC.ConnectedUrl()
	tag := nuid.Next()
	dir := t.TempDir()
	t.Cleanup(func() { reapTagged(t, tag, 30*time.Second) })
	startChild(t, tag, "controller", "--nats", natsURL, "--executor", "local",
		"--work-dir", filepath.Join(dir, "work"), "--cache-dir", filepath.Join(dir, "cache"), "--log-format", "json")
	addrFile := filepath.Join(dir, "addr")
	a := startChild(t, tag, append([]string{"api", "--nats", natsURL, "--listen", "127.0.0.1:0", "--addr-file", addrFile, "--log-format", "json"}, testArtefactDirs(dir)...)...)
	s := &serveProc{addr: waitAddr(t, a, addrFile)}

	// Refused by the api's own validation, with the device table serve uses.
	if code, body := s.submit(t, boot.Request{Device: "qemu-vax", Kernel: req.Kernel}); code != http.StatusBadRequest || !strings.Contains(fmtAny(body["reason"]), "qemu-vax") {
		t.Errorf("unknown device: %d %v", code, body)
	}
	// And a local file outside its --artefact-dir.
	if code, body := s.submit(t, boot.Request{Device: "qemu-arm64", Kernel: req.Kernel, Rootfs: "/etc/passwd"}); code != http.StatusBadRequest || !strings.Contains(fmtAny(body["reason"]), `rootfs: local path \"/etc/passwd\" refused`) {
		t.Errorf("a local file outside --artefact-dir: %d %v", code, body)
	}
	code, body := s.submit(t, req)
	uid, _ := body["uid"].(string)
	if code != http.StatusCreated || uid == "" {
		t.Fatalf("submit: %d %v", code, body)
	}
	v := s.waitState(t, uid, api.StateFinished, 5*time.Minute)
	if v.Result != boot.Pass || v.Results == nil || len(v.Attempts) != 1 || v.Attempts[0].Executor != "local" {
		t.Fatalf("boot through tuxboot api: %q %+v after %+v", v.Result, v.Failure, v.Attempts)
	}
	if log := s.text(t, "/"+uid+"/logs"); !strings.Contains(log, "TUXBOOT-INIT") {
		t.Errorf("log of %d bytes without the init's marker", len(log))
	}
	resp, err := http.Get("http://" + s.addr + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("readyz: %d", resp.StatusCode)
	}
	// The controller and the API are stopped, SIGTERM then exit 0, by the cleanups.
}

func fmtAny(v any) string {
	data, _ := json.Marshal(v)
	return string(data)
}
