package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"

	"github.com/nats-io/nats.go"

	"github.com/tuxboot/tuxboot/controller/natsserver"
	"github.com/tuxboot/tuxboot/controller/queue"
)

// serveMain is `tuxboot serve`: the whole system in one process, an
// embedded NATS server with JetStream on disk, a controller with the local
// executor, and the HTTP API.
func serveMain(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("tuxboot serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var f schedFlags
	f.register(fs)
	fs.Lookup("executor").Usage = "where runners run: local (child processes here), the only executor of serve (kubernetes is tuxboot controller's)"
	var af apiFlags
	af.register(fs)
	dataDir := fs.String("data-dir", defaultDataDir(), "JetStream store and runners' files; the same directory after a restart resumes every boot")
	natsListen := fs.String("nats-listen", "127.0.0.1:-1", "embedded NATS server address (port -1 picks a free one)")
	if err := fs.Parse(args); err != nil {
		return flagExit(err)
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "tuxboot serve: unexpected argument %q\n", fs.Arg(0))
		return exitBadRequest
	}
	log, err := newServiceLogger(stderr, f.logFormat)
	if err != nil {
		fmt.Fprintln(stderr, "tuxboot serve:", err)
		return exitBadRequest
	}
	f.workDir = filepath.Join(*dataDir, "runners")
	tokens, dirs, err := af.access()
	if err != nil {
		fmt.Fprintln(stderr, "tuxboot serve:", err)
		return exitBadRequest
	}

	ns, err := natsserver.Start(natsserver.Options{Listen: *natsListen, StoreDir: filepath.Join(*dataDir, "jetstream")})
	if err != nil {
		log.Error().Err(err).Msg("start embedded NATS")
		return exitInfra
	}
	defer ns.Stop()
	nc, err := nats.Connect(ns.URL(), nats.Name("tuxboot serve"))
	if err != nil {
		log.Error().Err(err).Msg("connect to embedded NATS")
		return exitInfra
	}
	defer nc.Close()
	q, err := queue.Open(ctx, nc, f.queueOptions())
	if err != nil {
		log.Error().Err(err).Msg("set up JetStream")
		return exitInfra
	}
	c, err := f.newController(q, ns.URL(), log)
	if err != nil {
		fmt.Fprintln(stderr, "tuxboot serve:", err)
		return exitBadRequest
	}

	a, err := startAPI(ctx, &af, tokens, dirs, q, log)
	if err != nil {
		log.Error().Err(err).Msg("start the API")
		return exitInfra
	}
	log.Info().Str("listen", "http://"+a.addr).Str("nats", ns.URL()).Str("data_dir", *dataDir).Msg("serving")

	ctrlDone := make(chan error, 1)
	go func() { ctrlDone <- c.Run(ctx) }()

	code := exitPass
	ctrlEnded := false
	select {
	case <-ctx.Done():
	case err := <-a.Done():
		log.Error().Err(err).Msg("HTTP server stopped")
		code = exitInfra
	case err := <-ctrlDone:
		ctrlEnded = true
		if err != nil {
			log.Error().Err(err).Msg("controller stopped")
			code = exitInfra
		}
	}
	log.Info().Msg("shutting down")
	a.Stop()
	// The controller stops its runners and hands their requests back.
	if !ctrlEnded {
		if err := <-ctrlDone; err != nil && !errors.Is(err, context.Canceled) {
			log.Error().Err(err).Msg("controller")
		}
	}
	log.Info().Msg("stopped")
	return code
}

// isLoopback says an address listens on loopback only: "localhost" or a
// loopback IP. An empty host (all interfaces) is not.
func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func defaultDataDir() string {
	if dir, err := os.UserHomeDir(); err == nil {
		return filepath.Join(dir, ".local", "share", "tuxboot")
	}
	return filepath.Join(os.TempDir(), "tuxboot-data")
}

func writeFileAtomic(path string, data []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
