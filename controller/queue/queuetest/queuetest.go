// Package queuetest gives a test a real embedded NATS server with
// JetStream in its temporary directory, and the queue on it; both are
// stopped when the test ends.
package queuetest

import (
	"context"
	"testing"

	"github.com/nats-io/nats.go"

	"github.com/tuxboot/tuxboot/controller/natsserver"
	"github.com/tuxboot/tuxboot/controller/queue"
)

// New starts a server on 127.0.0.1 with a free port and opens the queue.
func New(t testing.TB, opts queue.Options) *queue.Queue {
	t.Helper()
	ns, err := natsserver.Start(natsserver.Options{StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ns.Stop)
	nc, err := nats.Connect(ns.URL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	q, err := queue.Open(context.Background(), nc, opts)
	if err != nil {
		t.Fatal(err)
	}
	return q
}
