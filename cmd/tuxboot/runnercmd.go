package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"

	"github.com/tuxboot/tuxboot/controller/queue"
	"github.com/tuxboot/tuxboot/controller/store"
	"github.com/tuxboot/tuxboot/runner"
	"github.com/tuxboot/tuxboot/runner/artefact"
	"github.com/tuxboot/tuxboot/runner/boot"
	"github.com/tuxboot/tuxboot/runner/device"
)

// envRequest carries a request as JSON, for executors that cannot mount a file.
const envRequest = "TUXBOOT_REQUEST"

type runnerFlags struct {
	natsURL      string
	requestFile  string
	id           string
	attempt      int
	cacheDir     string
	workDir      string
	fetchRetries int
	heartbeat    time.Duration
	grace        time.Duration
}

// runnerMain is `tuxboot runner`: one attempt of one boot, as a
// controller's executor starts it. It runs the boot exactly as `tuxboot
// run` does and publishes its events, console and result to NATS.
func runnerMain(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("tuxboot runner", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var f runnerFlags
	fs.StringVar(&f.natsURL, "nats", os.Getenv("TUXBOOT_NATS_URL"), "NATS server URL (default $TUXBOOT_NATS_URL)")
	fs.StringVar(&f.requestFile, "request", "", "the boot request as a JSON file (default: $"+envRequest+", else the boot's record in NATS)")
	fs.StringVar(&f.id, "id", "", "the boot ID (required)")
	fs.IntVar(&f.attempt, "attempt", 1, "the attempt number")
	fs.StringVar(&f.cacheDir, "cache-dir", "", "artefact cache directory (default: the user cache dir)")
	fs.StringVar(&f.workDir, "work-dir", "", "scratch directory for the boot (default: the system temp dir)")
	fs.IntVar(&f.fetchRetries, "fetch-retries", 0, "retries of a transient artefact download failure (0: the default, negative: none)")
	fs.DurationVar(&f.heartbeat, "heartbeat", 2*time.Second, "interval of the heartbeats the controller watches")
	fs.DurationVar(&f.grace, "grace", 10*time.Second, "time given, once interrupted, to publish the result")
	if err := fs.Parse(args); err != nil {
		return flagExit(err)
	}
	if fs.NArg() > 0 || f.id == "" || f.natsURL == "" || f.attempt < 1 {
		fmt.Fprintln(stderr, "tuxboot runner: --nats URL, --id ID and a positive --attempt are required, and no arguments")
		return exitBadRequest
	}
	log := zerolog.New(stderr).With().Timestamp().Str("id", f.id).Int("attempt", f.attempt).Logger()
	ctx, stop := runnerContext(ctx)
	defer stop()

	nc, err := nats.Connect(f.natsURL, nats.Name("tuxboot runner "+f.id),
		nats.MaxReconnects(-1), nats.ReconnectWait(500*time.Millisecond))
	if err != nil {
		log.Error().Err(err).Msg("connect to NATS")
		return exitInfra
	}
	defer nc.Close()
	q, err := queue.Attach(ctx, nc)
	if err != nil {
		log.Error().Err(err).Msg("attach to the queue")
		return exitInfra
	}
	req, err := f.request(ctx, q)
	if err != nil {
		log.Error().Err(err).Msg("read the request")
		return exitInfra
	}
	req.ID = f.id

	// Heartbeats say this runner lives, until it has published its result.
	beatCtx, stopBeats := context.WithCancel(context.Background())
	defer stopBeats()
	go func() {
		t := time.NewTicker(f.heartbeat)
		defer t.Stop()
		for {
			nc.Publish(queue.HeartbeatSubject(f.id), []byte(strconv.Itoa(f.attempt)))
			select {
			case <-beatCtx.Done():
				return
			case <-t.C:
			}
		}
	}()

	pub := q.Publisher(f.id, f.attempt, queue.SourceRunner)
	live := pub.LogWriter()
	events := pub.EventQueue()
	stored, err := os.CreateTemp(f.workDir, "tuxboot-console-*.log")
	if err != nil {
		log.Error().Err(err).Msg("console log file")
		return exitInfra
	}
	defer os.Remove(stored.Name())
	defer stored.Close()
	r := &runner.Runner{
		Devices: device.Builtin(),
		Fetcher: &artefact.Fetcher{
			CacheDir: f.cacheDir,
			Retries:  f.fetchRetries,
			Log:      func(format string, args ...any) { log.Info().Msgf(format, args...) },
		},
		WorkDir:   f.workDir,
		Console:   io.MultiWriter(&capWriter{w: stored, left: queue.MaxStoredLogBytes}, live),
		OnEvent:   events.Send,
		KVMUsable: newKVMProber(userCacheDir(f.cacheDir), "/proc/cpuinfo"),
	}
	log.Info().Str("device", req.Device).Msg("booting")
	res := r.Run(ctx, req)
	res.ID, res.Attempt = f.id, f.attempt
	log.Info().Str("result", res.Result).Msg("boot ended")

	// The result must get out even when the runner was told to stop:
	// publish with a fresh deadline of the grace period, of which the
	// live streams may take half.
	pctx, cancel := context.WithTimeout(context.Background(), f.grace)
	defer cancel()
	sctx, scancel := context.WithTimeout(pctx, f.grace/2)
	live.Close(sctx)
	if n := events.Close(sctx); n > 0 {
		log.Warn().Int("dropped", n).Msg("events not published")
	}
	scancel()
	code := runner.ExitCode(res)
	var console io.Reader
	if _, err := stored.Seek(0, io.SeekStart); err == nil {
		console = stored
	}
	if err := q.PublishOutcome(pctx, pub, res, console); err != nil {
		log.Error().Err(err).Msg("publish the result")
		code = exitInfra
	}
	printSummary(stdout, res)
	return code
}

// runnerContext is parent, but a SIGTERM ends it as "canceled": the
// controller sends it to stop a runner, the test having been canceled
// through the API or the controller stopping.
func runnerContext(parent context.Context) (context.Context, func()) {
	ctx, cancel := context.WithCancelCause(context.WithoutCancel(parent))
	stop := context.AfterFunc(parent, func() {
		cause := context.Cause(parent)
		if cause == signalCause(syscall.SIGTERM) {
			cause = causeCanceled
		}
		cancel(cause)
	})
	return ctx, func() { stop(); cancel(nil) }
}

// request reads the request from --request, $TUXBOOT_REQUEST or the
// boot's record, in that order.
func (f *runnerFlags) request(ctx context.Context, q *queue.Queue) (boot.Request, error) {
	var req boot.Request
	var data []byte
	switch {
	case f.requestFile != "":
		var err error
		if data, err = os.ReadFile(f.requestFile); err != nil {
			return req, fmt.Errorf("request file: %w", err)
		}
	case os.Getenv(envRequest) != "":
		data = []byte(os.Getenv(envRequest))
	default:
		rec, err := (&store.Store{KV: q.State}).Get(ctx, f.id)
		if err != nil {
			return req, err
		}
		return rec.Request, nil
	}
	if err := json.Unmarshal(data, &req); err != nil {
		return req, fmt.Errorf("decode request: %w", err)
	}
	return req, nil
}

// capWriter keeps the first left bytes and then one line saying the rest
// was cut; it never fails, so the console tee goes on.
type capWriter struct {
	w    io.Writer
	left int64
	cut  bool
}

func (c *capWriter) Write(p []byte) (int, error) {
	n := len(p)
	if c.left <= 0 {
		if !c.cut {
			c.cut = true
			fmt.Fprintf(c.w, "\n[tuxboot: console log cut at %d bytes]\n", queue.MaxStoredLogBytes)
		}
		return n, nil
	}
	if int64(len(p)) > c.left {
		p = p[:c.left]
	}
	c.w.Write(p)
	c.left -= int64(len(p))
	return n, nil
}
