// Package queue lays out TuxBoot's use of NATS JetStream: the work-queue
// stream of boot requests, the per-boot subjects for events, console log
// chunks and results, the KV bucket of boot state and the object store of
// full logs and results.json. docs/nats.md describes the same layout.
package queue

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Names of the JetStream assets.
const (
	RequestStream  = "TUXBOOT_REQUESTS" // work queue: one message per boot request
	RequestSubject = "tuxboot.requests"
	ControllerName = "controller" // the durable pull consumer every controller shares

	BootStream = "TUXBOOT_BOOTS" // events, log chunks and results of every boot

	StateBucket  = "tuxboot-boots"     // KV: boot ID -> store.Record
	ObjectBucket = "tuxboot-artefacts" // object store: ID/attempt-N/{console.log,results.json}
)

// Limits. What happens past each is documented in docs/nats.md.
const (
	MaxRequestBytes = 256 << 10 // a request message; the API refuses bigger ones
	MaxBootMsgBytes = 1 << 20   // one event, log chunk or result message
	LogChunkBytes   = 16 << 10  // a live log chunk is flushed at this size...
	LogChunkEvery   = 250 * time.Millisecond
	// MaxLiveLogBytes caps the console streamed as chunks per attempt;
	// past it the stream says so once and stops, the stored log goes on.
	MaxLiveLogBytes = 8 << 20
	// MaxStoredLogBytes caps the console.log kept in the object store.
	MaxStoredLogBytes = 64 << 20
	BootStreamMaxAge  = 7 * 24 * time.Hour
	BootStreamBytes   = 2 << 30
)

// Headers on boot messages.
const (
	HeaderAttempt = "Tuxboot-Attempt" // the attempt a runner message belongs to
	HeaderOffset  = "Tuxboot-Offset"  // byte offset of a log chunk in the console
	HeaderSource  = "Tuxboot-Source"  // "controller" or "runner"
)

// Per-boot subjects.
func EventSubject(id string) string     { return "tuxboot.boot." + id + ".events" }
func LogSubject(id string) string       { return "tuxboot.boot." + id + ".log" }
func ResultSubject(id string) string    { return "tuxboot.boot." + id + ".result" }
func HeartbeatSubject(id string) string { return "tuxboot.heartbeat." + id }
func CancelSubject(id string) string    { return "tuxboot.cancel." + id }

// Wildcards for the controller's subscriptions.
const (
	AllHeartbeats = "tuxboot.heartbeat.*"
	AllCancels    = "tuxboot.cancel.*"
)

// Object names of one attempt's stored files.
func LogObject(id string, attempt int) string {
	return fmt.Sprintf("%s/attempt-%d/console.log", id, attempt)
}
func ResultObject(id string, attempt int) string {
	return fmt.Sprintf("%s/attempt-%d/results.json", id, attempt)
}

// Options tune the JetStream setup; zero values take the defaults.
type Options struct {
	// AckWait is how long a pulled request may go without an
	// acknowledgement or an in-progress signal before it is redelivered:
	// the time a dead controller's boots take to be picked up again.
	AckWait time.Duration
	// MaxAckPending bounds requests pulled and not acknowledged, across
	// all controllers.
	MaxAckPending int
	// Storage is file (default) or memory.
	Memory bool
}

// DefaultAckWait is long enough for a busy controller to signal progress
// and short enough that a dead one's boots resume within a minute.
const DefaultAckWait = 30 * time.Second

func (o Options) ackWait() time.Duration {
	if o.AckWait > 0 {
		return o.AckWait
	}
	return DefaultAckWait
}

// Queue is TuxBoot's view of one JetStream domain.
type Queue struct {
	NC       *nats.Conn
	JS       jetstream.JetStream
	State    jetstream.KeyValue
	Objects  jetstream.ObjectStore
	Requests jetstream.Stream
	Boots    jetstream.Stream
	AckWait  time.Duration
	opts     Options
}

// Open creates (or updates) the streams, bucket and object store and returns them.
func Open(ctx context.Context, nc *nats.Conn, opts Options) (*Queue, error) {
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("jetstream: %w", err)
	}
	storage := jetstream.FileStorage
	if opts.Memory {
		storage = jetstream.MemoryStorage
	}
	q := &Queue{NC: nc, JS: js, AckWait: opts.ackWait(), opts: opts}
	q.Requests, err = js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:       RequestStream,
		Subjects:   []string{RequestSubject},
		Retention:  jetstream.WorkQueuePolicy,
		Storage:    storage,
		MaxMsgSize: MaxRequestBytes,
		// Publishing a request twice with the same ID (a client retry)
		// stores it once.
		Duplicates: 10 * time.Minute,
	})
	if err != nil {
		return nil, fmt.Errorf("stream %s: %w", RequestStream, err)
	}
	q.Boots, err = js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:       BootStream,
		Subjects:   []string{"tuxboot.boot.*.events", "tuxboot.boot.*.log", "tuxboot.boot.*.result"},
		Retention:  jetstream.LimitsPolicy,
		Storage:    storage,
		MaxMsgSize: MaxBootMsgBytes,
		MaxAge:     BootStreamMaxAge,
		MaxBytes:   BootStreamBytes,
		Discard:    jetstream.DiscardOld,
		Duplicates: 2 * time.Minute,
	})
	if err != nil {
		return nil, fmt.Errorf("stream %s: %w", BootStream, err)
	}
	q.State, err = js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:  StateBucket,
		History: 5,
		Storage: storage,
	})
	if err != nil {
		return nil, fmt.Errorf("kv %s: %w", StateBucket, err)
	}
	q.Objects, err = js.CreateOrUpdateObjectStore(ctx, jetstream.ObjectStoreConfig{
		Bucket:  ObjectBucket,
		Storage: storage,
	})
	if err != nil {
		return nil, fmt.Errorf("object store %s: %w", ObjectBucket, err)
	}
	return q, nil
}

// Consumer returns the durable pull consumer of requests that every
// controller shares; maxParallel bounds how many a controller holds.
func (q *Queue) Consumer(ctx context.Context) (jetstream.Consumer, error) {
	maxAck := q.opts.MaxAckPending
	if maxAck <= 0 {
		maxAck = 1000
	}
	c, err := q.JS.CreateOrUpdateConsumer(ctx, RequestStream, jetstream.ConsumerConfig{
		Durable:       ControllerName,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       q.AckWait,
		MaxAckPending: maxAck,
		// Redelivery is how a dead controller's boots are resumed: never
		// give up on a request; the controller decides when it is done.
		MaxDeliver: -1,
	})
	if err != nil {
		return nil, fmt.Errorf("consumer %s: %w", ControllerName, err)
	}
	return c, nil
}

// SubmitRequest queues a request, already stored in the state bucket, by its ID.
func (q *Queue) SubmitRequest(ctx context.Context, id string, data []byte) error {
	if len(data) > MaxRequestBytes {
		return fmt.Errorf("request %s is %d bytes, over the limit of %d", id, len(data), MaxRequestBytes)
	}
	_, err := q.JS.Publish(ctx, RequestSubject, data, jetstream.WithMsgID(id))
	if err != nil {
		return fmt.Errorf("queue request %s: %w", id, err)
	}
	return nil
}

// LastResult returns the last result message published for a boot, with
// its attempt, or ok=false when there is none.
func (q *Queue) LastResult(ctx context.Context, id string) (data []byte, attempt int, ok bool, err error) {
	m, err := q.Boots.GetLastMsgForSubject(ctx, ResultSubject(id))
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil, 0, false, nil
	}
	if err != nil {
		return nil, 0, false, fmt.Errorf("last result of %s: %w", id, err)
	}
	fmt.Sscan(m.Header.Get(HeaderAttempt), &attempt)
	return m.Data, attempt, true, nil
}

// Attach finds the streams, bucket and object store that a controller
// made, without changing them: what a runner does.
func Attach(ctx context.Context, nc *nats.Conn) (*Queue, error) {
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("jetstream: %w", err)
	}
	q := &Queue{NC: nc, JS: js, AckWait: DefaultAckWait}
	if q.Boots, err = js.Stream(ctx, BootStream); err != nil {
		return nil, fmt.Errorf("stream %s: %w", BootStream, err)
	}
	if q.State, err = js.KeyValue(ctx, StateBucket); err != nil {
		return nil, fmt.Errorf("kv %s: %w", StateBucket, err)
	}
	if q.Objects, err = js.ObjectStore(ctx, ObjectBucket); err != nil {
		return nil, fmt.Errorf("object store %s: %w", ObjectBucket, err)
	}
	return q, nil
}
