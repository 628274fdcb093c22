package main

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nuid"

	"github.com/tuxboot/tuxboot/controller/queue"
	"github.com/tuxboot/tuxboot/controller/queue/queuetest"
	"github.com/tuxboot/tuxboot/controller/store"
	"github.com/tuxboot/tuxboot/runner/boot"
)

func TestControllerBadFlags(t *testing.T) {
	q := queuetest.New(t, queue.Options{})
	url := q.NC.ConnectedUrl()
	tests := []struct {
		name string
		args []string
		says string
	}{
		{"no NATS", []string{"controller"}, "--nats"},
		{"stray argument", []string{"controller", "--nats", url, "extra"}, "no arguments"},
		{"kubernetes without namespace", []string{"controller", "--nats", url, "--executor", "kubernetes", "--runner-image", "r"}, "--namespace"},
		{"unknown executor", []string{"controller", "--nats", url, "--executor", "ssh"}, "ssh"},
		{"bad log format", []string{"controller", "--nats", url, "--log-format", "xml"}, "xml"},
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

// TestControllerStandalone runs `tuxboot controller` against a NATS server
// it does not own, and boots a real kernel through it.
func TestControllerStandalone(t *testing.T) {
	if testing.Short() {
		t.Skip("boots QEMU")
	}
	req := realRequest(t, "arm64", "qemu-arm64", "")
	q := queuetest.New(t, queue.Options{})
	tag := nuid.Next()
	t.Cleanup(func() { reapTagged(t, tag, 30*time.Second) })
	cmd := exec.Command(os.Args[0], "controller", "--nats", q.NC.ConnectedUrl(), "--executor", "local",
		"--work-dir", t.TempDir(), "--cache-dir", t.TempDir(), "--log-format", "json")
	cmd.Env = append(os.Environ(), "TUXBOOT_TEST_MAIN=1", testTagEnv+"="+tag)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			cmd.Process.Kill()
			<-exited
		}
	})

	id := nuid.Next()
	req.APIVersion, req.ID = boot.APIVersion, id
	st := &store.Store{KV: q.State}
	if err := st.Create(context.Background(), store.NewQueued(id, "g", "p", req)); err != nil {
		t.Fatal(err)
	}
	data, _ := json.Marshal(req)
	if err := q.SubmitRequest(context.Background(), id, data); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(3 * time.Minute)
	var rec *store.Record
	for {
		var err error
		if rec, err = st.Get(context.Background(), id); err != nil {
			t.Fatal(err)
		}
		if rec.State == store.Finished || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if rec.Result != boot.Pass || len(rec.Attempts) != 1 || rec.Attempts[0].Executor != "local" {
		t.Errorf("boot %s: %s %s after %+v\n%s", id, rec.State, rec.Result, rec.Attempts, out.String())
	}
	if _, err := q.Objects.GetString(context.Background(), rec.LogObject); err != nil {
		t.Errorf("console.log %q: %v", rec.LogObject, err)
	}

	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-exited:
		stopped = true
		var ee *exec.ExitError
		if err != nil && !errors.As(err, &ee) {
			t.Errorf("controller: %v", err)
		} else if err != nil {
			t.Errorf("controller exited %d after SIGTERM, want 0\n%s", ee.ExitCode(), out.String())
		}
	case <-time.After(30 * time.Second):
		t.Errorf("controller still running 30s after SIGTERM")
	}
}
