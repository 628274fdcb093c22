// Package fake is an executor whose runners play a script instead of
// booting: they publish heartbeats, events and a result to NATS exactly
// as `tuxboot runner` does, so the controller and the API can be tested
// against a real NATS server in milliseconds. The request's boot_args
// names the script: pass, fail, infra, bad, hang, silent, noresult.
package fake

import (
	"context"
	"encoding/json"
	"strconv"
	"sync"
	"time"

	"github.com/tuxboot/tuxboot/controller/executor"
	"github.com/tuxboot/tuxboot/controller/queue"
	"github.com/tuxboot/tuxboot/runner/boot"
)

// Executor runs scripted runners.
type Executor struct {
	Queue *queue.Queue
	// Hold is how long a finite script runs (default 200ms).
	Hold time.Duration

	mu         sync.Mutex
	starts     map[string]int
	running    int
	maxRunning int
}

// Name implements executor.Executor.
func (e *Executor) Name() string { return "fake" }

// Starts says how many runners were started for a boot.
func (e *Executor) Starts(id string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.starts[id]
}

// MaxRunning is the most runners that ran at once.
func (e *Executor) MaxRunning() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.maxRunning
}

// Start implements executor.Executor.
func (e *Executor) Start(ctx context.Context, job executor.Job) (executor.Run, error) {
	e.mu.Lock()
	if e.starts == nil {
		e.starts = map[string]int{}
	}
	e.starts[job.ID]++
	e.running++
	e.maxRunning = max(e.maxRunning, e.running)
	e.mu.Unlock()
	r := &run{done: make(chan struct{}), stop: make(chan struct{})}
	go e.play(job, r)
	return r, nil
}

func (e *Executor) play(job executor.Job, r *run) {
	defer close(r.done)
	defer func() {
		e.mu.Lock()
		e.running--
		e.mu.Unlock()
	}()
	script := job.Request.BootArgs
	pub := e.Queue.Publisher(job.ID, job.Attempt, queue.SourceRunner)
	ctx := context.Background()
	beat := time.NewTicker(100 * time.Millisecond)
	defer beat.Stop()
	hold := e.Hold
	if hold <= 0 {
		hold = 200 * time.Millisecond
	}
	end := time.After(hold)
	if script == "hang" || script == "silent" {
		end = nil
	}
	pub.Event(ctx, boot.Event{Type: boot.EventState, State: "running"})
	stopped := false
loop:
	for {
		if script != "silent" {
			e.Queue.NC.Publish(queue.HeartbeatSubject(job.ID), []byte(strconv.Itoa(job.Attempt)))
		}
		select {
		case <-beat.C:
		case <-end:
			break loop
		case <-r.stop:
			stopped = true
			break loop
		}
	}
	res := &boot.Result{APIVersion: boot.APIVersion, ID: job.ID, Attempt: job.Attempt, Device: job.Request.Device}
	switch {
	case stopped:
		res.Result, res.Failure = boot.Error, &boot.Failure{Kind: boot.FailInterrupted, Title: "boot interrupted"}
	case script == "pass":
		res.Result = boot.Pass
		pub.Event(ctx, boot.Event{Type: boot.EventMilestone, Milestone: &boot.Milestone{Name: boot.MilestoneLoginPrompt}})
	case script == "fail":
		res.Result, res.Failure = boot.Fail, &boot.Failure{Kind: "kernel_panic", Title: "Kernel panic"}
	case script == "infra":
		res.Result, res.Failure = boot.Error, &boot.Failure{Kind: boot.FailArtefact, Title: "cannot fetch kernel"}
	case script == "bad":
		res.Result, res.Failure = boot.Error, &boot.Failure{Kind: boot.FailBadRequest, Title: "unknown device"}
	case script == "noresult":
		return
	}
	if script == "silent" {
		return // a vanished runner says nothing
	}
	data, _ := json.Marshal(res)
	e.Queue.Objects.PutBytes(ctx, queue.ResultObject(job.ID, job.Attempt), data)
	pub.Result(ctx, data)
}

type run struct {
	done chan struct{}
	stop chan struct{}
	once sync.Once
}

func (r *run) Done() <-chan struct{} { return r.done }
func (r *run) Err() error            { return nil }
func (r *run) Stop(time.Duration)    { r.once.Do(func() { close(r.stop) }) }
