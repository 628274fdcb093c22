package controller_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"
	"github.com/rs/zerolog"

	"github.com/tuxboot/tuxboot/controller"
	"github.com/tuxboot/tuxboot/controller/executor/fake"
	"github.com/tuxboot/tuxboot/controller/queue"
	"github.com/tuxboot/tuxboot/controller/queue/queuetest"
	"github.com/tuxboot/tuxboot/controller/store"
	"github.com/tuxboot/tuxboot/runner/boot"
)

// start runs a controller with the fake executor until the test ends.
func start(t *testing.T, q *queue.Queue, cfg controller.Config) *fake.Executor {
	t.Helper()
	ex := &fake.Executor{Queue: q}
	cfg.Executor = ex
	startWith(t, q, cfg)
	return ex
}

// startWith runs a controller with cfg's executor until the test ends.
func startWith(t *testing.T, q *queue.Queue, cfg controller.Config) {
	t.Helper()
	cfg.Queue = q
	if cfg.HeartbeatTimeout == 0 {
		cfg.HeartbeatTimeout = time.Second
	}
	cfg.StopGrace = time.Second
	cfg.Log = zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel)
	c, err := controller.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := c.Run(ctx); err != nil {
			t.Errorf("controller: %v", err)
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
}

// requestConsumer finds the controller's consumer, which its Run creates
// a moment after the test starts it.
func requestConsumer(t *testing.T, q *queue.Queue) jetstream.Consumer {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		cons, err := q.JS.Consumer(context.Background(), queue.RequestStream, queue.ControllerName)
		if err == nil {
			return cons
		}
		if time.Now().After(deadline) {
			t.Fatalf("controller's consumer: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// submit does what the API does: record, then queue.
func submit(t *testing.T, q *queue.Queue, script string) string {
	t.Helper()
	id := nuid.Next()
	req := boot.Request{APIVersion: boot.APIVersion, ID: id, Device: "qemu-arm64", Kernel: "/k", BootArgs: script}
	st := &store.Store{KV: q.State}
	if err := st.Create(context.Background(), store.NewQueued(id, "g", "p", req)); err != nil {
		t.Fatal(err)
	}
	data, _ := json.Marshal(req)
	if err := q.SubmitRequest(context.Background(), id, data); err != nil {
		t.Fatal(err)
	}
	return id
}

func waitFinished(t *testing.T, q *queue.Queue, id string, within time.Duration) *store.Record {
	t.Helper()
	st := &store.Store{KV: q.State}
	deadline := time.Now().Add(within)
	for {
		rec, err := st.Get(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if rec.State == store.Finished {
			return rec
		}
		if time.Now().After(deadline) {
			t.Fatalf("boot %s still %s after %s: %+v", id, rec.State, within, rec.Attempts)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// finishedEvents counts the finished announcements of a boot in the stream.
func finishedEvents(t *testing.T, q *queue.Queue, id string) int {
	t.Helper()
	n := 0
	err := q.Follow(context.Background(), []string{queue.EventSubject(id)}, false, func(m jetstream.Msg) bool {
		var ev boot.Event
		if err := json.Unmarshal(m.Data(), &ev); err != nil {
			t.Errorf("event: %v", err)
		}
		if ev.Type == boot.EventState && ev.State == store.Finished {
			n++
		}
		return false
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestOutcomesAndRetries(t *testing.T) {
	q := queuetest.New(t, queue.Options{AckWait: 2 * time.Second})
	ex := start(t, q, controller.Config{MaxParallel: 4, Retries: 2})
	tests := []struct {
		script   string
		result   string
		attempts int
		kind     string
	}{
		{"pass", boot.Pass, 1, ""},
		{"fail", boot.Fail, 1, "kernel_panic"},      // a kernel failure is never retried
		{"bad", boot.Error, 1, boot.FailBadRequest}, // nor is a bad request
		{"infra", boot.Error, 3, boot.FailArtefact}, // infrastructure: 1 + 2 retries
		{"noresult", boot.Error, 3, boot.FailInfra}, // a runner that says nothing
		{"silent", boot.Error, 3, boot.FailInfra},   // a runner whose heartbeat stops
	}
	ids := map[string]string{}
	for _, tt := range tests {
		ids[tt.script] = submit(t, q, tt.script)
	}
	for _, tt := range tests {
		t.Run(tt.script, func(t *testing.T) {
			id := ids[tt.script]
			rec := waitFinished(t, q, id, 30*time.Second)
			if rec.Result != tt.result || len(rec.Attempts) != tt.attempts {
				t.Errorf("result %s after %d attempts, want %s after %d", rec.Result, len(rec.Attempts), tt.result, tt.attempts)
			}
			if got := ex.Starts(id); got != tt.attempts {
				t.Errorf("%d runners started, want %d", got, tt.attempts)
			}
			if tt.kind != "" && (rec.Failure == nil || rec.Failure.Kind != tt.kind) {
				t.Errorf("failure %+v, want kind %s", rec.Failure, tt.kind)
			}
			for i, a := range rec.Attempts {
				if a.N != i+1 || a.FinishedAt == nil || a.Result == "" {
					t.Errorf("attempt %d recorded as %+v", i+1, a)
				}
			}
			if rec.ResultObject == "" {
				t.Errorf("no results.json recorded")
			} else if _, err := q.Objects.GetBytes(context.Background(), rec.ResultObject); err != nil {
				t.Errorf("results.json: %v", err)
			}
			if n := finishedEvents(t, q, id); n != 1 {
				t.Errorf("%d finished events, want 1", n)
			}
		})
	}
}

func TestBackpressure(t *testing.T) {
	q := queuetest.New(t, queue.Options{AckWait: 2 * time.Second})
	ex := start(t, q, controller.Config{MaxParallel: 2})
	var ids []string
	for range 6 {
		ids = append(ids, submit(t, q, "pass"))
	}
	// While they run, never more than 2 requests are out of the stream.
	ctx := context.Background()
	cons := requestConsumer(t, q)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			if info, err := cons.Info(ctx); err == nil && info.NumAckPending > 2 {
				t.Errorf("%d requests pulled at once, max-parallel is 2", info.NumAckPending)
			}
		}
	}()
	for _, id := range ids {
		waitFinished(t, q, id, 30*time.Second)
	}
	close(stop)
	wg.Wait()
	if got := ex.MaxRunning(); got != 2 {
		t.Errorf("at most %d boots ran at once, want 2", got)
	}
}

// A request delivered twice (published again past the duplicate window,
// here without a message ID) starts one boot and finishes once.
func TestDuplicateRequestStartsOneBoot(t *testing.T) {
	q := queuetest.New(t, queue.Options{AckWait: 2 * time.Second})
	ex := start(t, q, controller.Config{MaxParallel: 2})
	id := submit(t, q, "hang")
	st := &store.Store{KV: q.State}
	waitState(t, st, id, store.Running)
	rec, _ := st.Get(context.Background(), id)
	data, _ := json.Marshal(rec.Request)
	if _, err := q.JS.Publish(context.Background(), queue.RequestSubject, data); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1500 * time.Millisecond) // the duplicate is pulled and deferred
	if _, err := st.Update(context.Background(), id, func(r *store.Record) (bool, error) {
		r.CancelRequested = true
		return true, nil
	}); err != nil {
		t.Fatal(err)
	}
	rec = waitFinished(t, q, id, 10*time.Second)
	if rec.Result != store.Canceled {
		t.Errorf("result %s, want canceled", rec.Result)
	}
	time.Sleep(1500 * time.Millisecond) // the deferred duplicate comes back and is dropped
	if n := ex.Starts(id); n != 1 {
		t.Errorf("%d runners started, want 1", n)
	}
	if n := finishedEvents(t, q, id); n != 1 {
		t.Errorf("%d finished events, want 1", n)
	}
	info, err := q.Requests.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != 0 {
		t.Errorf("%d requests left in the work queue, want 0", info.State.Msgs)
	}
}

// A controller shut down with a boot in flight records the attempt as
// interrupted and hands the request back: the next one runs it again.
func TestDeadControllerBootResumes(t *testing.T) {
	q := queuetest.New(t, queue.Options{AckWait: time.Second})
	st := &store.Store{KV: q.State}
	ex := &fake.Executor{Queue: q}
	c, err := controller.New(controller.Config{Queue: q, Executor: ex, Retries: 2, HeartbeatTimeout: time.Second, StopGrace: time.Second,
		Log: zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); c.Run(ctx) }()
	id := submit(t, q, "hang")
	waitState(t, st, id, store.Running)
	cancel() // the controller goes; its runner is stopped; the request is handed back
	<-done

	// Make the request look like a plain "pass" for the next attempt, as
	// if the hang had been the infrastructure's.
	st.Update(context.Background(), id, func(r *store.Record) (bool, error) { r.Request.BootArgs = "pass"; return true, nil })
	ex2 := start(t, q, controller.Config{Retries: 2})
	rec := waitFinished(t, q, id, 20*time.Second)
	if len(rec.Attempts) != 2 || rec.Attempts[0].Result != boot.Error || rec.Attempts[0].Failure.Kind != boot.FailInterrupted {
		t.Errorf("attempts %+v, want the first interrupted", rec.Attempts)
	}
	if ex2.Starts(id) != 1 {
		t.Errorf("second controller started %d runners, want 1", ex2.Starts(id))
	}
	if rec.Result != boot.Pass {
		t.Errorf("result %q, want pass", rec.Result)
	}
}

func waitState(t *testing.T, st *store.Store, id, state string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		rec, err := st.Get(context.Background(), id)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			t.Fatal(err)
		}
		if rec != nil && rec.State == state {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("boot %s never reached %s", id, state)
}

// A controller shut down hands its requests back at once: none is left
// waiting out the ack wait.
func TestShutdownHandsRequestsBack(t *testing.T) {
	q := queuetest.New(t, queue.Options{AckWait: 30 * time.Second})
	st := &store.Store{KV: q.State}
	c, err := controller.New(controller.Config{Queue: q, Executor: &fake.Executor{Queue: q}, Retries: 2, StopGrace: time.Second,
		Log: zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.DebugLevel)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); c.Run(ctx) }()
	id := submit(t, q, "hang")
	waitState(t, st, id, store.Running)
	cancel()
	<-done
	cons := requestConsumer(t, q)
	info, err := cons.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if info.NumAckPending != 0 || info.NumPending != 1 {
		t.Errorf("after shutdown: %d requests pending, %d awaiting an ack; want 1 and 0 (delivered %+v)", info.NumPending, info.NumAckPending, info.Delivered)
	}
}

// gated is a fake executor with no room until opened.
type gated struct {
	*fake.Executor
	open chan struct{}
}

func (g *gated) WaitRoom(ctx context.Context) error {
	select {
	case <-g.open:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// An executor out of room keeps requests in the stream: none is pulled
// until it has room, then all run.
func TestGateKeepsRequestsQueued(t *testing.T) {
	q := queuetest.New(t, queue.Options{AckWait: 2 * time.Second})
	ex := &gated{Executor: &fake.Executor{Queue: q}, open: make(chan struct{})}
	startWith(t, q, controller.Config{Executor: ex, MaxParallel: 2})

	var ids []string
	for range 3 {
		ids = append(ids, submit(t, q, "pass"))
	}
	cons := requestConsumer(t, q)
	time.Sleep(time.Second)
	info, err := cons.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if info.NumAckPending != 0 || info.NumPending != 3 {
		t.Fatalf("with no room: %d pulled, %d waiting in the stream; want 0 and 3", info.NumAckPending, info.NumPending)
	}
	close(ex.open)
	for _, id := range ids {
		waitFinished(t, q, id, 30*time.Second)
	}
}

// A controller killed while its runner booted: the runner went on,
// finished and published its verdict. The next controller records that
// verdict, with the runner's console, instead of booting again.
func TestOrphanedRunnersResultStands(t *testing.T) {
	q := queuetest.New(t, queue.Options{AckWait: time.Second})
	st := &store.Store{KV: q.State}
	ctx := context.Background()
	id := nuid.Next()
	// Had the boot run again, its script would pass.
	req := boot.Request{APIVersion: boot.APIVersion, ID: id, Device: "qemu-arm64", Kernel: "/k", BootArgs: "pass"}
	rec := store.NewQueued(id, "g", "p", req)
	rec.State = store.Running
	rec.Attempts = []store.Attempt{{N: 1, Owner: "killed-controller", Executor: "fake", StartedAt: time.Now().UTC()}}
	if err := st.Create(ctx, rec); err != nil {
		t.Fatal(err)
	}
	res := &boot.Result{APIVersion: boot.APIVersion, ID: id, Attempt: 1, Device: req.Device, Result: boot.Fail,
		Failure: &boot.Failure{Kind: "kernel_panic", Title: "Kernel panic - not syncing: Attempted to kill init!"}}
	if err := q.PublishOutcome(ctx, q.Publisher(id, 1, queue.SourceRunner), res, strings.NewReader("[    0.000000] Linux version 6.1.0\n")); err != nil {
		t.Fatal(err)
	}
	data, _ := json.Marshal(req)
	if err := q.SubmitRequest(ctx, id, data); err != nil {
		t.Fatal(err)
	}

	ex := start(t, q, controller.Config{Retries: 2})
	got := waitFinished(t, q, id, 20*time.Second)
	if got.Result != boot.Fail || len(got.Attempts) != 1 || got.Attempts[0].Failure == nil || got.Attempts[0].Failure.Kind != "kernel_panic" {
		t.Errorf("finished %s after attempts %+v, want the runner's kernel_panic verdict on attempt 1", got.Result, got.Attempts)
	}
	if got.LogObject != queue.LogObject(id, 1) || got.ResultObject != queue.ResultObject(id, 1) {
		t.Errorf("log %q, results %q: want attempt 1's", got.LogObject, got.ResultObject)
	}
	if n := ex.Starts(id); n != 0 {
		t.Errorf("%d runners started, want 0", n)
	}
	if n := finishedEvents(t, q, id); n != 1 {
		t.Errorf("%d finished events, want 1", n)
	}
}
