// Package controller takes boot requests off the JetStream work queue and
// runs each through an executor, one runner per attempt, retrying
// infrastructure failures and recording every decision in the state
// bucket. Several controllers may share one queue: the durable consumer
// hands each request to one of them, and compare-and-set on the boot's
// record makes sure a redelivered request never starts a second boot.
package controller

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"
	"github.com/rs/zerolog"

	"github.com/tuxboot/tuxboot/controller/executor"
	"github.com/tuxboot/tuxboot/controller/queue"
	"github.com/tuxboot/tuxboot/controller/store"
	"github.com/tuxboot/tuxboot/runner/boot"
)

// Defaults of Config.
const (
	DefaultMaxParallel      = 2
	DefaultRetries          = 2
	DefaultHeartbeatTimeout = 30 * time.Second
	DefaultStopGrace        = 15 * time.Second
)

// Config configures a controller.
type Config struct {
	Queue    *queue.Queue
	Executor executor.Executor
	// MaxParallel bounds the boots this controller runs at once; it
	// pulls a request only when it has room for it.
	MaxParallel int
	// Retries is how many times an infrastructure failure is retried
	// (negative: never). Kernel and test failures are never retried.
	Retries int
	// HeartbeatTimeout is how long a runner may stay silent before it
	// is taken for dead, stopped, and its attempt failed as infrastructure.
	HeartbeatTimeout time.Duration
	// StopGrace is how long a stopped runner has to publish its result.
	StopGrace time.Duration
	Log       zerolog.Logger
}

// Controller schedules boots.
type Controller struct {
	cfg      Config
	q        *queue.Queue
	st       *store.Store
	instance string

	started time.Time

	mu       sync.Mutex
	inflight map[string]*boot_    // by boot ID
	beats    map[string]time.Time // last heartbeat of any boot's runner, by boot ID
	handback []jetstream.Msg      // requests to hand back once pulling has stopped
}

// boot_ is a boot this controller is running.
type boot_ struct {
	cancel   chan struct{} // closed when the boot is to be canceled
	once     sync.Once
	lastBeat time.Time

	msgMu sync.Mutex
	msg   jetstream.Msg // the latest delivery of its request
}

func (b *boot_) requestCancel() { b.once.Do(func() { close(b.cancel) }) }

// New checks the configuration and returns a controller.
func New(cfg Config) (*Controller, error) {
	if cfg.Queue == nil || cfg.Executor == nil {
		return nil, errors.New("controller: a queue and an executor are required")
	}
	if cfg.MaxParallel <= 0 {
		cfg.MaxParallel = DefaultMaxParallel
	}
	if cfg.HeartbeatTimeout <= 0 {
		cfg.HeartbeatTimeout = DefaultHeartbeatTimeout
	}
	if cfg.StopGrace <= 0 {
		cfg.StopGrace = DefaultStopGrace
	}
	host, _ := os.Hostname()
	return &Controller{
		cfg:      cfg,
		q:        cfg.Queue,
		st:       &store.Store{KV: cfg.Queue.State},
		instance: fmt.Sprintf("%s-%d-%s", host, os.Getpid(), nuid.Next()[:8]),
		inflight: map[string]*boot_{},
		beats:    map[string]time.Time{},
		started:  time.Now(),
	}, nil
}

// Instance names this controller in the attempts it records.
func (c *Controller) Instance() string { return c.instance }

// Run pulls and runs boots until ctx ends, then stops its runners and
// returns; their requests are handed back to the queue.
func (c *Controller) Run(ctx context.Context) error {
	cons, err := c.q.Consumer(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return nil // stopped before it started
		}
		return err
	}
	beats, err := c.q.NC.Subscribe(queue.AllHeartbeats, func(m *nats.Msg) {
		id := m.Subject[len("tuxboot.heartbeat."):]
		now := time.Now()
		c.mu.Lock()
		if b := c.inflight[id]; b != nil {
			b.lastBeat = now
		}
		c.beats[id] = now
		if len(c.beats) > 10000 {
			for k, t := range c.beats {
				if now.Sub(t) > 2*c.cfg.HeartbeatTimeout {
					delete(c.beats, k)
				}
			}
		}
		c.mu.Unlock()
	})
	if err != nil {
		return fmt.Errorf("subscribe to heartbeats: %w", err)
	}
	defer beats.Unsubscribe()
	cancels, err := c.q.NC.Subscribe(queue.AllCancels, func(m *nats.Msg) {
		id := m.Subject[len("tuxboot.cancel."):]
		c.mu.Lock()
		if b := c.inflight[id]; b != nil {
			b.requestCancel()
		}
		c.mu.Unlock()
	})
	if err != nil {
		return fmt.Errorf("subscribe to cancels: %w", err)
	}
	defer cancels.Unsubscribe()

	log := c.cfg.Log
	log.Info().Str("instance", c.instance).Int("max_parallel", c.cfg.MaxParallel).
		Int("retries", c.cfg.Retries).Str("executor", c.cfg.Executor.Name()).Msg("controller started")
	slots := make(chan struct{}, c.cfg.MaxParallel)
	var wg sync.WaitGroup
	defer func() {
		wg.Wait()
		c.handBackAll()
	}()
	for {
		// Backpressure: take a slot before pulling, so a request sits in
		// the stream (where another controller may take it) until there
		// is room to run it here.
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			return nil
		}
		if g, ok := c.cfg.Executor.(executor.Gate); ok {
			if err := g.WaitRoom(ctx); err != nil {
				<-slots
				return nil // only ctx ends the wait
			}
		}
		if ctx.Err() != nil {
			return nil // no pull may be outstanding when requests are handed back
		}
		batch, err := cons.Fetch(1, jetstream.FetchMaxWait(pullWait))
		if err != nil {
			<-slots
			if ctx.Err() != nil {
				return nil
			}
			log.Warn().Err(err).Msg("pull requests")
			sleep(ctx, time.Second)
			continue
		}
		got := false
		for msg := range batch.Messages() {
			got = true
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() { <-slots }()
				c.handle(ctx, msg)
			}()
		}
		if !got {
			<-slots
		}
		if err := batch.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) && ctx.Err() == nil {
			log.Debug().Err(err).Msg("pull requests")
		}
	}
}

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// handBack queues a request to be handed back to the stream at shutdown.
func (c *Controller) handBack(m jetstream.Msg) {
	c.mu.Lock()
	c.handback = append(c.handback, m)
	c.mu.Unlock()
}

// handBackAll gives up the requests this controller holds at shutdown:
// each is published again and the delivery acknowledged. A nak would not
// do: the server keeps a nak'd request as delivered, and across a restart
// of the server (tuxboot serve) it would wait out the ack wait. Publishing
// happens once no pull of this controller's can still be waiting on the
// server, or the request would be delivered straight back to it. Should
// the controller die between publish and ack, the boot's record makes the
// second copy harmless.
func (c *Controller) handBackAll() {
	c.mu.Lock()
	msgs := c.handback
	c.handback = nil
	c.mu.Unlock()
	if len(msgs) == 0 {
		return
	}
	time.Sleep(pullWait / 2) // past the server's expiry of the last pull
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, m := range msgs {
		id := fmt.Sprintf("handback-%d", streamSeq(m))
		if _, err := c.q.JS.Publish(ctx, queue.RequestSubject, m.Data(), jetstream.WithMsgID(id)); err != nil {
			c.cfg.Log.Warn().Err(err).Msg("hand back a request: it will be redelivered after the ack wait")
			m.Nak()
			continue
		}
		// Wait for the server to take the ack: the process may exit next.
		if err := m.DoubleAck(ctx); err != nil {
			c.cfg.Log.Warn().Err(err).Msg("ack a handed-back request: it may run twice, once as a duplicate the boot state drops")
		}
	}
	c.q.NC.FlushTimeout(5 * time.Second)
	c.cfg.Log.Info().Int("requests", len(msgs)).Msg("requests handed back")
}

// pullWait is how long one pull waits for a request.
const pullWait = time.Second

// decision is what a delivery of a request leads to.
type decision int

const (
	decideRun  decision = iota // a new attempt was claimed: run it
	decideDone                 // the boot is finished: acknowledge
)

// handle takes one delivery of a request to its end: the boot's final
// result, or this controller's shutdown.
func (c *Controller) handle(ctx context.Context, msg jetstream.Msg) {
	var req boot.Request
	if err := json.Unmarshal(msg.Data(), &req); err != nil || req.ID == "" {
		// Nothing can ever run it: drop it for good.
		c.cfg.Log.Error().Err(err).Msg("undecodable request dropped")
		msg.Term()
		return
	}
	id := req.ID
	log := c.cfg.Log.With().Str("id", id).Logger()
	if ctx.Err() != nil {
		c.handBack(msg) // pulled as shutdown began
		return
	}

	c.mu.Lock()
	if b := c.inflight[id]; b != nil {
		if streamSeq(b.delivery()) == streamSeq(msg) {
			// A redelivery of the message of a boot running here (an
			// in-progress signal came late): keep the newest delivery.
			b.msgMu.Lock()
			b.msg = msg
			b.msgMu.Unlock()
		} else {
			// Another message for the same boot: look at it again when
			// the boot has had time to finish; it will be dropped then.
			msg.NakWithDelay(c.cfg.HeartbeatTimeout)
		}
		c.mu.Unlock()
		log.Debug().Msg("request of a boot running here: nothing started")
		return
	}
	b := &boot_{cancel: make(chan struct{}), msg: msg}
	c.inflight[id] = b
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.inflight, id)
		c.mu.Unlock()
	}()

	for {
		if c.aliveElsewhere(ctx, id) {
			// Another controller's runner still beats: this delivery is a
			// duplicate or came early. Look again later; by then the boot
			// has finished or its runner is lost.
			log.Info().Msg("boot runs elsewhere: deferring its request")
			b.delivery().NakWithDelay(c.cfg.HeartbeatTimeout)
			return
		}
		rec, dec, err := c.claim(ctx, req)
		if err != nil {
			if ctx.Err() == nil {
				log.Error().Err(err).Msg("claim boot")
				b.delivery().NakWithDelay(5 * time.Second)
			}
			return
		}
		if dec == decideDone {
			c.finished(ctx, rec)
			b.delivery().Ack()
			return
		}
		att := rec.Last()
		log.Info().Int("attempt", att.N).Str("device", req.Device).Msg("scheduled")
		c.q.Publisher(id, 0, queue.SourceController).State(ctx, store.Scheduled, fmt.Sprintf("attempt %d", att.N))
		res, why := c.attempt(ctx, b, rec, log)
		// An attempt that ended is recorded even if shutdown has begun;
		// one that shutdown interrupted is recorded as such, and its
		// request handed back below, so that the next controller retries
		// it at once.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		rec, again, err := c.conclude(rctx, id, att.N, res, why)
		if err == nil && !again {
			c.finished(rctx, rec)
			b.delivery().Ack()
		}
		cancel()
		if err != nil {
			log.Error().Err(err).Msg("record attempt")
			b.delivery().NakWithDelay(5 * time.Second)
			return
		}
		if !again {
			return
		}
		if ctx.Err() != nil {
			c.handBack(b.delivery()) // the next controller runs the retry
			return
		}
		log.Warn().Int("attempt", att.N).Str("kind", failureKind(res, why)).Msg("infrastructure error: retrying")
	}
}

// delivery is the latest delivery of the boot's request message.
func (b *boot_) delivery() jetstream.Msg {
	b.msgMu.Lock()
	defer b.msgMu.Unlock()
	return b.msg
}

func streamSeq(m jetstream.Msg) uint64 {
	md, err := m.Metadata()
	if err != nil {
		return 0
	}
	return md.Sequence.Stream
}

func failureKind(res *boot.Result, why *boot.Failure) string {
	if why != nil {
		return why.Kind
	}
	if res != nil && res.Failure != nil {
		return res.Failure.Kind
	}
	return ""
}

// aliveElsewhere says whether a boot's current attempt belongs to another
// controller whose runner may still be alive: it beat within the heartbeat
// timeout, or this controller has not listened long enough to know.
func (c *Controller) aliveElsewhere(ctx context.Context, id string) bool {
	rec, err := c.st.Get(ctx, id)
	if err != nil || (rec.State != store.Scheduled && rec.State != store.Running) {
		return false
	}
	a := rec.Last()
	if a == nil || a.FinishedAt != nil || a.Owner == c.instance {
		return false
	}
	c.mu.Lock()
	last, ok := c.beats[id]
	c.mu.Unlock()
	if ok && time.Since(last) < c.cfg.HeartbeatTimeout {
		return true
	}
	return time.Since(c.started) < c.cfg.HeartbeatTimeout
}

// claim decides, by compare-and-set on the boot's record, what a delivery
// means: a new attempt to run (recorded before it starts, so a second
// delivery finds it), a boot already finished, or one running here.
func (c *Controller) claim(ctx context.Context, req boot.Request) (*store.Record, decision, error) {
	var dec decision
	// The runner of an attempt whose controller died may have finished
	// and published its result: that result stands, and the boot is not
	// run again.
	var orphan *boot.Result
	var orphanN int
	var hasLog, looked bool
	change := func(r *store.Record) (bool, error) {
		switch r.State {
		case store.Finished:
			dec = decideDone
			return false, nil
		case store.Scheduled, store.Running:
			// Its owner stopped renewing the request (or it would not have
			// been redelivered): the attempt is over, with the result its
			// runner published, or lost.
			if a := r.Last(); a != nil && a.FinishedAt == nil {
				if !looked {
					orphan, orphanN, hasLog = c.publishedResult(ctx, req.ID)
					looked = true
				}
				now := time.Now().UTC()
				a.FinishedAt = &now
				if orphan != nil && orphanN == a.N {
					a.Result, a.Failure = orphan.Result, orphan.Failure
					r.ResultObject, r.LogObject = queue.ResultObject(req.ID, a.N), ""
					if hasLog {
						r.LogObject = queue.LogObject(req.ID, a.N)
					}
				} else {
					a.Result = boot.Error
					a.Failure = &boot.Failure{Kind: boot.FailInfra, Title: "runner lost: its controller stopped (" + a.Owner + ")"}
				}
			}
		}
		if r.CancelRequested {
			r.Finish(store.Canceled, &boot.Failure{Kind: boot.FailInterrupted, Title: "canceled"})
			dec = decideDone
			return true, nil
		}
		if n := len(r.Attempts); n > 0 && !c.retryable(r.Last().Failure, n) {
			a := r.Last()
			r.Finish(a.Result, a.Failure)
			dec = decideDone
			return true, nil
		}
		r.Attempts = append(r.Attempts, store.Attempt{N: len(r.Attempts) + 1, Owner: c.instance,
			Executor: c.cfg.Executor.Name(), StartedAt: time.Now().UTC()})
		r.State = store.Scheduled
		dec = decideRun
		return true, nil
	}
	rec, err := c.st.Update(ctx, req.ID, change)
	if errors.Is(err, store.ErrNotFound) {
		// Published straight to the queue rather than through the API:
		// adopt it.
		if err := c.st.Create(ctx, store.NewQueued(req.ID, "", "", req)); err != nil && !errors.Is(err, store.ErrConflict) {
			return nil, 0, err
		}
		rec, err = c.st.Update(ctx, req.ID, change)
	}
	return rec, dec, err
}

// publishedResult is the last result a runner published for a boot, its
// attempt, and whether that attempt's console log is stored; nil when
// there is none or it cannot be read (the attempt is then taken as lost).
func (c *Controller) publishedResult(ctx context.Context, id string) (*boot.Result, int, bool) {
	data, n, ok, err := c.q.LastResult(ctx, id)
	if err != nil || !ok {
		return nil, 0, false
	}
	var res boot.Result
	if err := json.Unmarshal(data, &res); err != nil {
		return nil, 0, false
	}
	_, err = c.q.Objects.GetInfo(ctx, queue.LogObject(id, n))
	return &res, n, err == nil
}

// retryable says whether an attempt that ended with failure, the n-th,
// may be followed by another.
func (c *Controller) retryable(f *boot.Failure, n int) bool {
	if n > c.cfg.Retries {
		return false
	}
	if f == nil {
		return false // a result without failure is a verdict
	}
	switch f.Kind {
	case boot.FailArtefact, boot.FailQEMU, boot.FailInfra, boot.FailInterrupted:
		return true
	}
	return false
}

// attempt runs one runner and returns its result, or why there is none.
func (c *Controller) attempt(ctx context.Context, b *boot_, rec *store.Record, log zerolog.Logger) (*boot.Result, *boot.Failure) {
	id, n := rec.ID, rec.Last().N
	req := rec.Request
	req.ID = id
	run, err := c.cfg.Executor.Start(ctx, executor.Job{ID: id, Attempt: n, Request: req})
	if err != nil {
		log.Error().Err(err).Msg("start runner")
		return nil, &boot.Failure{Kind: boot.FailInfra, Title: "could not start a runner", Message: err.Error()}
	}
	c.mu.Lock()
	b.lastBeat = time.Now()
	c.mu.Unlock()
	c.st.Update(ctx, id, func(r *store.Record) (bool, error) {
		if r.State != store.Scheduled || r.Last() == nil || r.Last().N != n {
			return false, nil
		}
		r.State = store.Running
		return true, nil
	})

	tick := time.NewTicker(min(c.q.AckWait/3, time.Second))
	defer tick.Stop()
	var lost *boot.Failure
	cancel := b.cancel // nil once acted on, so the closed channel fires once
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			run.Stop(c.cfg.StopGrace)
		}
	}
wait:
	for {
		select {
		case <-run.Done():
			break wait
		case <-ctx.Done():
			stop()
			<-run.Done()
			return nil, &boot.Failure{Kind: boot.FailInterrupted, Title: "controller shut down (" + c.instance + ")"}
		case <-cancel:
			log.Info().Msg("cancel requested: stopping runner")
			stop()
			cancel = nil
		case <-tick.C:
			b.delivery().InProgress()
			c.mu.Lock()
			silent := time.Since(b.lastBeat)
			c.mu.Unlock()
			if silent > c.cfg.HeartbeatTimeout && lost == nil {
				log.Warn().Dur("silent", silent).Msg("runner heartbeat lost: stopping it")
				lost = &boot.Failure{Kind: boot.FailInfra, Title: fmt.Sprintf("runner lost: no heartbeat for %s", silent.Round(time.Second))}
				stop()
			}
			// Cancels are also read from the record: the cancel message
			// is fire-and-forget.
			if r, err := c.st.Get(ctx, id); err == nil && r.CancelRequested && cancel != nil {
				b.requestCancel()
			}
		}
	}
	data, att, ok, err := c.q.LastResult(ctx, id)
	if err != nil || !ok || att != n {
		// A result too big for a message is still in the object store.
		if stored, serr := c.q.Objects.GetBytes(ctx, queue.ResultObject(id, n)); serr == nil {
			data, att, ok, err = stored, n, true, nil
		}
	}
	if err != nil || !ok || att != n {
		if lost != nil {
			return nil, lost
		}
		msg := "the runner exited without publishing a result"
		if rerr := run.Err(); rerr != nil {
			msg += ": " + rerr.Error()
		}
		return nil, &boot.Failure{Kind: boot.FailInfra, Title: "runner lost", Message: msg}
	}
	var res boot.Result
	if err := json.Unmarshal(data, &res); err != nil {
		return nil, &boot.Failure{Kind: boot.FailInfra, Title: "runner published an unreadable result", Message: err.Error()}
	}
	return &res, nil
}

// conclude records how attempt n ended and says whether to run another.
// An attempt without a runner result gets a results.json of the
// controller's own making, so every finished boot has one.
func (c *Controller) conclude(ctx context.Context, id string, n int, res *boot.Result, why *boot.Failure) (*store.Record, bool, error) {
	if res == nil {
		res = &boot.Result{APIVersion: boot.APIVersion, ID: id, Attempt: n, Result: boot.Error, Failure: why,
			Milestones: []boot.Milestone{}, Crashes: []boot.Crash{}, Tests: []boot.Test{}, Artefacts: map[string]boot.Artefact{}}
		data, _ := json.MarshalIndent(res, "", "  ")
		if _, err := c.q.Objects.PutBytes(ctx, queue.ResultObject(id, n), data); err != nil {
			return nil, false, fmt.Errorf("store results.json of %s attempt %d: %w", id, n, err)
		}
	}
	hasLog := false
	if _, err := c.q.Objects.GetInfo(ctx, queue.LogObject(id, n)); err == nil {
		hasLog = true
	}
	again := false
	rec, err := c.st.Update(ctx, id, func(r *store.Record) (bool, error) {
		a := r.Last()
		if r.State == store.Finished || a == nil || a.N != n || a.Owner != c.instance {
			return false, fmt.Errorf("boot %s attempt %d is no longer ours (state %s)", id, n, r.State)
		}
		now := time.Now().UTC()
		a.FinishedAt, a.Result, a.Failure = &now, res.Result, res.Failure
		r.ResultObject = queue.ResultObject(id, n)
		r.LogObject = ""
		if hasLog {
			r.LogObject = queue.LogObject(id, n)
		}
		switch {
		case r.CancelRequested:
			r.Finish(store.Canceled, res.Failure)
		case res.Result == boot.Error && c.retryable(res.Failure, n):
			// claim records the next attempt.
			r.State = store.Scheduled
			again = true
		default:
			r.Finish(res.Result, res.Failure)
		}
		return true, nil
	})
	if err != nil {
		return nil, false, err
	}
	return rec, again, nil
}

// finished announces a boot's end. The message ID makes the announcement
// land once in the stream however many deliveries make it.
func (c *Controller) finished(ctx context.Context, rec *store.Record) {
	if rec.State != store.Finished {
		return
	}
	c.cfg.Log.Info().Str("id", rec.ID).Str("result", rec.Result).Int("attempts", len(rec.Attempts)).Msg("finished")
	c.q.PublishFinished(ctx, rec.ID, rec.Result)
}
