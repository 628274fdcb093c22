package main

import (
	"context"
	"errors"
	"io"
	"strings"
	"syscall"
	"testing"

	"github.com/tuxboot/tuxboot/runner"
)

// TestStopCauses checks the words a canceled boot's failure message
// shows, for each way a boot is stopped.
func TestStopCauses(t *testing.T) {
	tests := []struct {
		name string
		// stop cancels the context a boot runs with, as its command does.
		stop func(t *testing.T) context.Context
		want string
	}{
		{"run interrupted by Ctrl-C", func(t *testing.T) context.Context {
			ctx, cancel := context.WithCancelCause(context.Background())
			cancel(signalCause(syscall.SIGINT))
			return ctx
		}, "interrupted by SIGINT"},
		{"run terminated", func(t *testing.T) context.Context {
			ctx, cancel := context.WithCancelCause(context.Background())
			cancel(signalCause(syscall.SIGTERM))
			return ctx
		}, "interrupted by SIGTERM"},
		{"runner stopped by its controller", func(t *testing.T) context.Context {
			parent, cancel := context.WithCancelCause(context.Background())
			ctx, stop := runnerContext(parent)
			t.Cleanup(stop)
			cancel(signalCause(syscall.SIGTERM))
			<-ctx.Done()
			return ctx
		}, "canceled"},
		{"runner interrupted by a person", func(t *testing.T) context.Context {
			parent, cancel := context.WithCancelCause(context.Background())
			ctx, stop := runnerContext(parent)
			t.Cleanup(stop)
			cancel(signalCause(syscall.SIGINT))
			<-ctx.Done()
			return ctx
		}, "interrupted by SIGINT"},
		{"interactive console quit", func(t *testing.T) context.Context {
			r := &runner.Runner{}
			at := attach{interactive: true, stdin: strings.NewReader("typed\x01x")}
			ctx, done, err := at.setUp(context.Background(), r, &runFlags{}, io.Discard, io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(done)
			io.ReadAll(r.ConsoleInput)
			return ctx
		}, "quit with Ctrl-A x"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := tt.stop(t)
			if ctx.Err() == nil {
				t.Fatal("the context was not canceled")
			}
			cause := context.Cause(ctx)
			if cause == nil || cause.Error() != tt.want {
				t.Errorf("cause %v, want %q", cause, tt.want)
			}
			if !errors.Is(cause, context.Canceled) {
				t.Errorf("cause %v is no context.Canceled", cause)
			}
		})
	}
}
