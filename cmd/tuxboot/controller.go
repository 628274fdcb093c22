package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"

	"github.com/tuxboot/tuxboot/controller"
	"github.com/tuxboot/tuxboot/controller/executor"
	"github.com/tuxboot/tuxboot/controller/executor/local"
	"github.com/tuxboot/tuxboot/controller/queue"
)

// schedFlags are the controller's flags, shared by `tuxboot controller`
// and `tuxboot serve`.
type schedFlags struct {
	executor         string
	maxParallel      int
	retries          int
	ackWait          time.Duration
	heartbeatTimeout time.Duration
	cacheDir         string
	workDir          string
	fetchRetries     int
	logFormat        string

	kube kubeFlags // --executor kubernetes (kubernetes.go)
}

func (f *schedFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.executor, "executor", "local", "where runners run: local (child processes here) or kubernetes (a pod per boot; tuxboot controller only)")
	fs.IntVar(&f.maxParallel, "max-parallel", controller.DefaultMaxParallel, "boots run at once; no more requests are pulled while this many run")
	fs.IntVar(&f.retries, "retries", controller.DefaultRetries, "times an infrastructure error is retried (kernel and test failures never are)")
	fs.DurationVar(&f.ackWait, "ack-wait", queue.DefaultAckWait, "how long a request held by a dead controller waits before another takes it")
	fs.DurationVar(&f.heartbeatTimeout, "heartbeat-timeout", controller.DefaultHeartbeatTimeout, "silence after which a runner is taken for dead")
	fs.StringVar(&f.cacheDir, "cache-dir", "", "runners' artefact cache directory (default: the user cache dir)")
	fs.IntVar(&f.fetchRetries, "fetch-retries", 0, "runners' retries of a transient artefact download failure (0: the default, negative: none)")
	fs.StringVar(&f.logFormat, "log-format", "auto", "log format: json, console, or auto (console on a terminal, else json)")
}

// newServiceLogger logs JSON, or a console format for a person at a terminal.
func newServiceLogger(w io.Writer, format string) (zerolog.Logger, error) {
	switch format {
	case "json":
	case "console":
		return zerolog.New(zerolog.ConsoleWriter{Out: w, TimeFormat: time.TimeOnly, NoColor: !isTerminal(w)}).With().Timestamp().Logger(), nil
	case "auto", "":
		if isTerminal(w) {
			return newServiceLogger(w, "console")
		}
	default:
		return zerolog.Nop(), fmt.Errorf("--log-format %q is not json, console or auto", format)
	}
	return zerolog.New(w).With().Timestamp().Logger(), nil
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// newController builds a controller on an open queue.
func (f *schedFlags) newController(q *queue.Queue, natsURL string, log zerolog.Logger) (*controller.Controller, error) {
	var ex executor.Executor
	switch f.executor {
	case "local":
		args := []string{"--fetch-retries", strconv.Itoa(f.fetchRetries), "--work-dir", filepath.Join(f.workDir, "boots")}
		if f.cacheDir != "" {
			args = append(args, "--cache-dir", f.cacheDir)
		}
		if err := os.MkdirAll(filepath.Join(f.workDir, "boots"), 0o755); err != nil {
			return nil, fmt.Errorf("work directory: %w", err)
		}
		ex = &local.Executor{NATSURL: natsURL, Dir: filepath.Join(f.workDir, "jobs"), Args: args}
	case "kubernetes":
		return nil, fmt.Errorf("--executor kubernetes is for tuxboot controller; use local")
	default:
		return nil, fmt.Errorf("--executor %q is not local", f.executor)
	}
	return controller.New(controller.Config{
		Queue:            q,
		Executor:         ex,
		MaxParallel:      f.maxParallel,
		Retries:          f.retries,
		HeartbeatTimeout: f.heartbeatTimeout,
		Log:              log,
	})
}

func (f *schedFlags) queueOptions() queue.Options {
	return queue.Options{AckWait: f.ackWait}
}

// controllerMain is `tuxboot controller`: a standalone controller on a
// NATS server someone else runs.
func controllerMain(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("tuxboot controller", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var f schedFlags
	f.register(fs)
	natsURL := fs.String("nats", os.Getenv("TUXBOOT_NATS_URL"), "NATS server URL, with JetStream (default $TUXBOOT_NATS_URL)")
	fs.StringVar(&f.workDir, "work-dir", filepath.Join(os.TempDir(), "tuxboot-controller"), "runners' request files, logs and scratch space")
	f.kube.register(fs)
	if err := fs.Parse(args); err != nil {
		return flagExit(err)
	}
	if fs.NArg() > 0 || *natsURL == "" {
		fmt.Fprintln(stderr, "tuxboot controller: --nats URL is required, and no arguments")
		return exitBadRequest
	}
	log, err := newServiceLogger(stderr, f.logFormat)
	if err != nil {
		fmt.Fprintln(stderr, "tuxboot controller:", err)
		return exitBadRequest
	}
	q, err := openQueue(ctx, *natsURL, "tuxboot controller", f.queueOptions())
	if err != nil {
		log.Error().Err(err).Msg("NATS")
		return exitInfra
	}
	defer q.NC.Close()
	if f.executor == "kubernetes" {
		return f.kube.run(ctx, &f, q, *natsURL, log)
	}
	c, err := f.newController(q, *natsURL, log)
	if err != nil {
		fmt.Fprintln(stderr, "tuxboot controller:", err)
		return exitBadRequest
	}
	if err := c.Run(ctx); err != nil {
		log.Error().Err(err).Msg("controller")
		return exitInfra
	}
	log.Info().Msg("controller stopped")
	return exitPass
}

// openQueue connects to a NATS server someone else runs, reconnecting for
// as long as the process lives, and opens TuxBoot's streams there. The
// caller closes q.NC.
func openQueue(ctx context.Context, natsURL, name string, opts queue.Options) (*queue.Queue, error) {
	nc, err := nats.Connect(natsURL, nats.Name(name), nats.MaxReconnects(-1))
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", natsURL, err)
	}
	q, err := queue.Open(ctx, nc, opts)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("set up JetStream on %s: %w", natsURL, err)
	}
	return q, nil
}
