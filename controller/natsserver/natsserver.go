// Package natsserver runs an embedded NATS server with JetStream on disk,
// so `tuxboot serve` needs no cluster.
package natsserver

import (
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// Options configure the embedded server.
type Options struct {
	// Listen is HOST:PORT; port 0 or -1 picks a free one. Default 127.0.0.1:-1.
	Listen string
	// StoreDir holds JetStream's files; the same directory after a
	// restart brings every stream, bucket and object back.
	StoreDir string
}

// Server is a running embedded NATS server.
type Server struct {
	s *server.Server
}

// Start starts the server and waits until it accepts clients.
func Start(o Options) (*Server, error) {
	host, port := "127.0.0.1", -1
	if o.Listen != "" {
		h, p, err := net.SplitHostPort(o.Listen)
		if err != nil {
			return nil, fmt.Errorf("nats listen address %q: %w", o.Listen, err)
		}
		if port, err = strconv.Atoi(p); err != nil {
			return nil, fmt.Errorf("nats listen port %q: %w", p, err)
		}
		if port == 0 {
			port = -1
		}
		host = h
	}
	if o.StoreDir == "" {
		return nil, fmt.Errorf("nats: a JetStream store directory is required")
	}
	s, err := server.NewServer(&server.Options{
		Host:      host,
		Port:      port,
		JetStream: true,
		StoreDir:  o.StoreDir,
		NoSigs:    true, // the process's signals are tuxboot's, not the server's
		NoLog:     true,
		// A whole results.json or log chunk fits in one message.
		MaxPayload: 8 << 20,
	})
	if err != nil {
		return nil, fmt.Errorf("nats server: %w", err)
	}
	go s.Start()
	if !s.ReadyForConnections(30 * time.Second) {
		s.Shutdown()
		return nil, fmt.Errorf("nats server did not start within 30s")
	}
	return &Server{s: s}, nil
}

// URL is the client URL of the server.
func (s *Server) URL() string { return s.s.ClientURL() }

// Stop shuts the server down and waits for it, so its store is closed.
func (s *Server) Stop() {
	s.s.Shutdown()
	s.s.WaitForShutdown()
}

// Messages counts the messages clients have sent the server, and those it
// has delivered to them, since it started.
func (s *Server) Messages() (in, out int64, err error) {
	v, err := s.s.Varz(nil)
	if err != nil {
		return 0, 0, fmt.Errorf("nats server statistics: %w", err)
	}
	return v.InMsgs, v.OutMsgs, nil
}
