// Package executor says how the controller starts runners: one runner per
// attempt of a boot, which publishes its own events and result to NATS.
// local runs them as child processes; a kubernetes executor will run them
// as pods behind the same interface.
package executor

import (
	"context"
	"time"

	"github.com/tuxboot/tuxboot/runner/boot"
)

// Job is one attempt of one boot.
type Job struct {
	ID      string
	Attempt int
	Request boot.Request
}

// Executor starts runners.
type Executor interface {
	// Name is how attempts record where they ran ("local", "kubernetes").
	Name() string
	// Start starts a runner for the job and returns once it is started.
	Start(ctx context.Context, job Job) (Run, error)
}

// Run is one started runner.
type Run interface {
	// Done is closed when the runner has ended.
	Done() <-chan struct{}
	// Err says how the runner ended, once Done is closed; nil for a
	// runner that ran to its end (whatever the boot's verdict).
	Err() error
	// Stop asks the runner to stop, giving it grace to publish its
	// result, then kills it. It does not wait for Done.
	Stop(grace time.Duration)
}

// Gate is an Executor that can be out of room for reasons of its own, such
// as a cluster where enough pods already wait for a node. The controller
// asks it before pulling a request, so what it cannot start stays in the
// stream, where the queue depth shows the real demand and another
// controller may take it.
type Gate interface {
	// WaitRoom returns nil once the executor can start another runner,
	// or ctx's error.
	WaitRoom(ctx context.Context) error
}
