package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/rs/zerolog"

	"github.com/tuxboot/tuxboot/controller/api"
	"github.com/tuxboot/tuxboot/controller/queue"
	"github.com/tuxboot/tuxboot/runner/boot"
	"github.com/tuxboot/tuxboot/runner/device"
)

// apiFlags are the HTTP API's flags, shared by `tuxboot serve` and
// `tuxboot api`.
type apiFlags struct {
	listen          string
	addrFile        string
	tokensFile      string
	artefactDirs    []string
	callbackPrivate bool
}

func (f *apiFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.listen, "listen", "127.0.0.1:8080", "HTTP API address (port 0 picks a free one)")
	fs.StringVar(&f.addrFile, "addr-file", "", "write the HTTP API's address here once it listens (for scripts)")
	fs.StringVar(&f.tokensFile, "tokens", "", "file of API tokens, one 'TOKEN GROUP' a line; without it the API is open and listens on loopback only")
	fs.BoolVar(&f.callbackPrivate, "callback-private", false, "let callbacks reach loopback and private addresses even with --tokens (without --tokens they may: the API is loopback-only then)")
	fs.Func("artefact-dir", "directory whose files requests may name as local paths or file:// URLs (repeatable); without it the API refuses local artefacts, http(s) URLs only", func(dir string) error {
		f.artefactDirs = append(f.artefactDirs, dir)
		return nil
	})
}

// access checks --tokens and --artefact-dir, before anything starts, and
// returns who may use the API and where local artefacts may come from.
func (f *apiFlags) access() (api.Tokens, []string, error) {
	tokens, err := f.tokens()
	if err != nil {
		return nil, nil, err
	}
	dirs, err := f.dirs()
	return tokens, dirs, err
}

// dirs resolves --artefact-dir: each must be an existing directory.
func (f *apiFlags) dirs() ([]string, error) {
	dirs, err := api.ResolveArtefactDirs(f.artefactDirs)
	if err != nil {
		return nil, fmt.Errorf("--artefact-dir: %w", err)
	}
	return dirs, nil
}

// tokens loads --tokens. Without it the API is open, so it may listen on
// loopback only.
func (f *apiFlags) tokens() (api.Tokens, error) {
	if f.tokensFile != "" {
		tokens, err := api.LoadTokens(f.tokensFile)
		if err != nil {
			return nil, fmt.Errorf("--tokens: %w", err)
		}
		return tokens, nil
	}
	if !isLoopback(f.listen) {
		return nil, fmt.Errorf("--listen %s is not a loopback address: an API without --tokens would let anyone on the network boot kernels here", f.listen)
	}
	return nil, nil
}

// apiService is the HTTP API running on a queue: its HTTP server and its
// callback deliveries.
type apiService struct {
	addr     string
	srv      *http.Server
	httpDone chan error
	cbCancel context.CancelFunc
	cbDone   chan struct{}
}

// startAPI listens on f.listen and serves the API of q, with the builtin
// device table to validate requests and local artefacts allowed under
// dirs (f.access()), and delivers callbacks, until Stop.
func startAPI(ctx context.Context, f *apiFlags, tokens api.Tokens, dirs []string, q *queue.Queue, log zerolog.Logger) (*apiService, error) {
	devices := device.Builtin()
	server := &api.Server{
		Queue:        q,
		Log:          log,
		Tokens:       tokens,
		ArtefactDirs: dirs,
		Validate: func(req *boot.Request) error {
			if _, err := devices.Lookup(req.Device); err != nil {
				return &boot.ValidationError{Field: "device", Reason: err.Error()}
			}
			return nil
		},
	}
	ln, err := net.Listen("tcp", f.listen)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", f.listen, err)
	}
	a := &apiService{
		addr:     ln.Addr().String(),
		srv:      &http.Server{Handler: server.Handler(), ReadHeaderTimeout: 10 * time.Second},
		httpDone: make(chan error, 1),
		cbDone:   make(chan struct{}),
	}
	go func() { a.httpDone <- a.srv.Serve(ln) }()
	if f.addrFile != "" {
		if err := writeFileAtomic(f.addrFile, []byte(a.addr+"\n")); err != nil {
			a.srv.Close()
			return nil, fmt.Errorf("--addr-file: %w", err)
		}
	}
	if tokens == nil {
		log.Warn().Str("listen", a.addr).Msg("no --tokens: the API is unauthenticated, so it listens on loopback only")
	}
	if len(dirs) == 0 {
		log.Info().Msg("no --artefact-dir: requests over the API may name http(s) artefacts only, no local paths")
	} else {
		log.Info().Strs("artefact_dirs", dirs).Msg("local artefacts allowed under these directories")
	}
	var cbCtx context.Context
	cbCtx, a.cbCancel = context.WithCancel(ctx)
	go func() {
		defer close(a.cbDone)
		// An open API serves the one person on this host; with tokens,
		// clients must not aim the server at what only it can reach.
		opts := api.CallbackOptions{AllowPrivate: tokens == nil || f.callbackPrivate}
		if err := server.RunCallbacks(cbCtx, opts); err != nil {
			log.Error().Err(err).Msg("callbacks")
		}
	}()
	return a, nil
}

// Done yields the HTTP server's error should it stop by itself.
func (a *apiService) Done() <-chan error { return a.httpDone }

// Stop lets the requests in flight finish (10s at most) and stops the
// callback deliveries; an undelivered callback is delivered by the next
// API instance on the same NATS.
func (a *apiService) Stop() {
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	a.srv.Shutdown(sctx)
	a.cbCancel()
	<-a.cbDone
}

// apiMain is `tuxboot api`: the HTTP API alone, on a NATS server that
// someone else runs, with a `tuxboot controller` elsewhere booting what
// it queues.
func apiMain(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("tuxboot api", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var f apiFlags
	f.register(fs)
	natsURL := fs.String("nats", os.Getenv("TUXBOOT_NATS_URL"), "NATS server URL, with JetStream (default $TUXBOOT_NATS_URL)")
	logFormat := fs.String("log-format", "auto", "log format: json, console, or auto (console on a terminal, else json)")
	if err := fs.Parse(args); err != nil {
		return flagExit(err)
	}
	if fs.NArg() > 0 || *natsURL == "" {
		fmt.Fprintln(stderr, "tuxboot api: --nats URL is required, and no arguments")
		return exitBadRequest
	}
	log, err := newServiceLogger(stderr, *logFormat)
	if err != nil {
		fmt.Fprintln(stderr, "tuxboot api:", err)
		return exitBadRequest
	}
	tokens, dirs, err := f.access()
	if err != nil {
		fmt.Fprintln(stderr, "tuxboot api:", err)
		return exitBadRequest
	}
	// Open, not Attach: the API may start before any controller has made
	// the streams, and the request stream is the API's to fill.
	q, err := openQueue(ctx, *natsURL, "tuxboot api", queue.Options{})
	if err != nil {
		log.Error().Err(err).Msg("NATS")
		return exitInfra
	}
	defer q.NC.Close()
	a, err := startAPI(ctx, &f, tokens, dirs, q, log)
	if err != nil {
		log.Error().Err(err).Msg("start the API")
		return exitInfra
	}
	log.Info().Str("listen", "http://"+a.addr).Str("nats", *natsURL).Msg("serving")
	code := exitPass
	select {
	case <-ctx.Done():
	case err := <-a.Done():
		log.Error().Err(err).Msg("HTTP server stopped")
		code = exitInfra
	}
	log.Info().Msg("shutting down")
	a.Stop()
	log.Info().Msg("stopped")
	return code
}
