// Package local runs each boot's runner as a child process of the
// controller: `tuxboot runner`, in a process group of its own so that
// stopping it stops its QEMU too.
package local

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/tuxboot/tuxboot/controller/executor"
)

// Executor starts `BINARY runner` processes on this machine.
type Executor struct {
	// Binary is the tuxboot executable; "" means this process's own.
	Binary string
	// NATSURL is where the runners publish.
	NATSURL string
	// Dir holds each job's request file and runner output.
	Dir string
	// Args are extra flags for `tuxboot runner` (cache dir, retries...).
	Args []string
	// Env is added to the runner's environment.
	Env []string
}

// Name implements executor.Executor.
func (e *Executor) Name() string { return "local" }

// Start writes the request to a file and starts `tuxboot runner` on it.
func (e *Executor) Start(ctx context.Context, job executor.Job) (executor.Run, error) {
	bin := e.Binary
	if bin == "" {
		var err error
		if bin, err = os.Executable(); err != nil {
			return nil, fmt.Errorf("local executor: find tuxboot binary: %w", err)
		}
	}
	if err := os.MkdirAll(e.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("local executor: job directory: %w", err)
	}
	base := filepath.Join(e.Dir, fmt.Sprintf("%s.%d", job.ID, job.Attempt))
	data, err := json.Marshal(job.Request)
	if err != nil {
		return nil, fmt.Errorf("local executor: encode request %s: %w", job.ID, err)
	}
	reqFile := base + ".request.json"
	if err := os.WriteFile(reqFile, data, 0o600); err != nil {
		return nil, fmt.Errorf("local executor: write request %s: %w", job.ID, err)
	}
	out, err := os.Create(base + ".runner.log")
	if err != nil {
		os.Remove(reqFile)
		return nil, fmt.Errorf("local executor: runner log %s: %w", job.ID, err)
	}
	args := append([]string{"runner", "--nats", e.NATSURL, "--request", reqFile,
		"--id", job.ID, "--attempt", strconv.Itoa(job.Attempt)}, e.Args...)
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), e.Env...)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Setpgid: true,
		// A runner never outlives its controller: if the controller dies,
		// the runner is told to stop (and given its grace) instead of
		// booting on with nobody to collect the result.
		Pdeathsig: syscall.SIGTERM,
	}
	if err := cmd.Start(); err != nil {
		out.Close()
		os.Remove(reqFile)
		return nil, fmt.Errorf("local executor: start runner for %s: %w", job.ID, err)
	}
	r := &run{cmd: cmd, done: make(chan struct{})}
	go func() {
		err := cmd.Wait()
		out.Close()
		os.Remove(reqFile)
		var ee *exec.ExitError
		// Exit statuses 0-3 are the boot's verdict, not the runner's failure.
		if errors.As(err, &ee) && ee.Exited() && ee.ExitCode() <= 3 {
			err = nil
		}
		if err != nil {
			err = fmt.Errorf("runner for %s attempt %d: %w", job.ID, job.Attempt, err)
		}
		r.mu.Lock()
		r.err = err
		r.mu.Unlock()
		close(r.done)
	}()
	return r, nil
}

type run struct {
	cmd  *exec.Cmd
	done chan struct{}
	mu   sync.Mutex
	err  error
	once sync.Once
}

func (r *run) Done() <-chan struct{} { return r.done }

func (r *run) Err() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.err
}

// Stop signals the whole process group: the runner and its QEMU.
func (r *run) Stop(grace time.Duration) {
	r.once.Do(func() {
		pgid := r.cmd.Process.Pid
		syscall.Kill(-pgid, syscall.SIGTERM)
		go func() {
			select {
			case <-r.done:
			case <-time.After(grace):
			}
			// Whatever is left of the group (QEMU outliving its runner).
			syscall.Kill(-pgid, syscall.SIGKILL)
		}()
	})
}
