package main

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"

	"github.com/tuxboot/tuxboot/controller/queue"
	"github.com/tuxboot/tuxboot/controller/queue/queuetest"
	"github.com/tuxboot/tuxboot/controller/store"
	"github.com/tuxboot/tuxboot/runner/boot"
)

// runnerCmd is `tuxboot runner` as a child process of the test.
func runnerCmd(t *testing.T, q *queue.Queue, env []string, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], append([]string{"runner", "--nats", q.NC.ConnectedUrl(), "--cache-dir", t.TempDir(), "--work-dir", t.TempDir()}, args...)...)
	cmd.Env = append(append(os.Environ(), "TUXBOOT_TEST_MAIN=1"), env...)
	return cmd
}

func lastResult(t *testing.T, q *queue.Queue, id string, attempt int) *boot.Result {
	t.Helper()
	data, att, ok, err := q.LastResult(context.Background(), id)
	if err != nil || !ok || att != attempt {
		t.Fatalf("result of %s: attempt %d, found %v, %v", id, att, ok, err)
	}
	var res boot.Result
	if err := json.Unmarshal(data, &res); err != nil {
		t.Fatal(err)
	}
	stored, err := q.Objects.GetBytes(context.Background(), queue.ResultObject(id, attempt))
	if err != nil {
		t.Fatalf("stored results.json: %v", err)
	}
	if string(stored) != string(data) {
		t.Errorf("stored results.json differs from the published result")
	}
	return &res
}

// The runner reads its request from a file, from $TUXBOOT_REQUEST or from
// the boot's record in NATS, and always publishes a result.
func TestRunnerRequestSources(t *testing.T) {
	q := queuetest.New(t, queue.Options{})
	req := boot.Request{APIVersion: boot.APIVersion, Device: "qemu-vax", Kernel: "/nonexistent"}
	data, _ := json.Marshal(req)
	file := filepath.Join(t.TempDir(), "request.json")
	if err := os.WriteFile(file, data, 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		env  []string
		args []string
		kv   bool
	}{
		{"file", nil, []string{"--request", file}, false},
		{"env", []string{envRequest + "=" + string(data)}, nil, false},
		{"nats", nil, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := nuid.Next()
			if tt.kv {
				st := &store.Store{KV: q.State}
				if err := st.Create(context.Background(), store.NewQueued(id, "g", "p", req)); err != nil {
					t.Fatal(err)
				}
			}
			cmd := runnerCmd(t, q, tt.env, append([]string{"--id", id, "--attempt", "2"}, tt.args...)...)
			out, err := cmd.CombinedOutput()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != exitBadRequest {
				t.Fatalf("runner: %v, want exit %d\n%s", err, exitBadRequest, out)
			}
			res := lastResult(t, q, id, 2)
			if res.ID != id || res.Attempt != 2 || res.Failure == nil || res.Failure.Kind != boot.FailBadRequest ||
				!strings.Contains(res.Failure.Message, "qemu-vax") {
				t.Errorf("result %+v %+v", res, res.Failure)
			}
		})
	}
}

// A runner told to stop (SIGTERM) mid-boot stops QEMU and still publishes
// its result, its console log and its events.
func TestRunnerSIGTERMPublishesResult(t *testing.T) {
	if testing.Short() {
		t.Skip("boots QEMU")
	}
	req := realRequest(t, "arm64", "qemu-arm64", "tuxboot.mode=hang")
	q := queuetest.New(t, queue.Options{})
	id := nuid.Next()
	data, _ := json.Marshal(req)
	cmd := runnerCmd(t, q, []string{envRequest + "=" + string(data)}, "--id", id)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		select {
		case <-exited:
		default:
		}
	})

	// Wait, on the live event stream, until the guest's init has started.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	err := q.Follow(ctx, []string{queue.EventSubject(id)}, true, func(m jetstream.Msg) bool {
		var ev boot.Event
		json.Unmarshal(m.Data(), &ev)
		return ev.Type == boot.EventMilestone && ev.Milestone.Name == boot.MilestoneInitStarted
	})
	if err != nil {
		t.Fatalf("no init_started event: %v\n%s", err, out.String())
	}
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err = <-exited:
	case <-time.After(30 * time.Second):
		t.Fatalf("runner still running 30s after SIGTERM\n%s", out.String())
	}
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != exitInfra {
		t.Errorf("runner: %v, want exit %d", err, exitInfra)
	}
	res := lastResult(t, q, id, 1)
	if res.Result != boot.Error || res.Failure == nil || res.Failure.Kind != boot.FailInterrupted {
		t.Errorf("result %q %+v, want error/interrupted", res.Result, res.Failure)
	} else if res.Failure.Message != "canceled" {
		t.Errorf("the result says the boot stopped because %q, want %q: SIGTERM is the controller stopping it", res.Failure.Message, "canceled")
	}
	log, err := q.Objects.GetString(context.Background(), queue.LogObject(id, 1))
	if err != nil || !strings.Contains(log, "Linux version") || int64(len(log)) != res.LogBytes {
		t.Errorf("stored console.log (%d bytes, results say %d, %v) lacks the kernel banner", len(log), res.LogBytes, err)
	}
}
