package queue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/tuxboot/tuxboot/runner/boot"
)

// Sources of boot messages.
const (
	SourceController = "controller"
	SourceRunner     = "runner"
)

// publishTimeout bounds one publish of an event or chunk: a slow server
// costs the live stream a message, never the boot its console.
const publishTimeout = 5 * time.Second

// Publisher publishes one attempt's events, log chunks and result.
type Publisher struct {
	js      jetstream.JetStream
	id      string
	attempt int
	source  string
}

// Publisher returns a publisher for one attempt of a boot; attempt 0
// marks the controller's own messages about the boot as a whole.
func (q *Queue) Publisher(id string, attempt int, source string) *Publisher {
	return &Publisher{js: q.JS, id: id, attempt: attempt, source: source}
}

func (p *Publisher) msg(subject string, data []byte) *nats.Msg {
	m := nats.NewMsg(subject)
	m.Data = data
	m.Header.Set(HeaderAttempt, strconv.Itoa(p.attempt))
	m.Header.Set(HeaderSource, p.source)
	return m
}

// Event publishes one event on the boot's event subject.
func (p *Publisher) Event(ctx context.Context, ev boot.Event) error {
	ev.APIVersion = boot.APIVersion
	ev.ID = p.id
	data, err := json.Marshal(ev)
	if err != nil {
		return fmt.Errorf("encode event: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, publishTimeout)
	defer cancel()
	if _, err := p.js.PublishMsg(ctx, p.msg(EventSubject(p.id), data)); err != nil {
		return fmt.Errorf("publish %s event of %s: %w", ev.Type, p.id, err)
	}
	return nil
}

// State publishes a state event.
func (p *Publisher) State(ctx context.Context, state, message string) error {
	return p.Event(ctx, boot.Event{Type: boot.EventState, State: state, Message: message, AtMS: time.Now().UnixMilli()})
}

// Result publishes the attempt's results.json, retrying until the server
// acknowledges it or ctx ends: the controller decides the boot's fate from
// it. The message ID makes the retries land once.
func (p *Publisher) Result(ctx context.Context, data []byte) error {
	if len(data) > MaxBootMsgBytes {
		return fmt.Errorf("result of %s is %d bytes, over %d", p.id, len(data), MaxBootMsgBytes)
	}
	var err error
	for wait := 100 * time.Millisecond; ; wait = min(2*wait, 2*time.Second) {
		pctx, cancel := context.WithTimeout(ctx, publishTimeout)
		_, err = p.js.PublishMsg(pctx, p.msg(ResultSubject(p.id), data),
			jetstream.WithMsgID(fmt.Sprintf("%s-%d-result", p.id, p.attempt)))
		cancel()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("publish result of %s attempt %d: %w", p.id, p.attempt, err)
		case <-time.After(wait):
		}
	}
}

// LogWriter streams console bytes as log chunks. Write never blocks on
// NATS: chunks are published from a goroutine every LogChunkEvery or
// LogChunkBytes, and past MaxLiveLogBytes the stream stops with a note.
// A chunk that cannot be published is dropped (the stored console.log has
// it); the next chunk's offset shows the gap.
type LogWriter struct {
	p      *Publisher
	mu     sync.Mutex
	buf    []byte
	offset int64 // console offset of buf[0]
	capped bool
	kick   chan struct{}
	done   chan struct{}
	closed chan struct{}
	once   sync.Once
	ctx    context.Context // ends every publish once Close gives up
	abort  context.CancelFunc
}

// LogWriter starts a log chunk stream for the attempt; Close flushes it.
func (p *Publisher) LogWriter() *LogWriter {
	w := &LogWriter{p: p, kick: make(chan struct{}, 1), done: make(chan struct{}), closed: make(chan struct{})}
	w.ctx, w.abort = context.WithCancel(context.Background())
	go w.loop()
	return w
}

func (w *LogWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := len(b)
	if w.capped {
		return n, nil
	}
	room := MaxLiveLogBytes - (w.offset + int64(len(w.buf)))
	if int64(len(b)) > room {
		b = b[:max(room, 0)]
		w.capped = true
	}
	w.buf = append(w.buf, b...)
	if len(w.buf) >= LogChunkBytes || w.capped {
		select {
		case w.kick <- struct{}{}:
		default:
		}
	}
	return n, nil
}

func (w *LogWriter) loop() {
	defer close(w.done)
	t := time.NewTicker(LogChunkEvery)
	defer t.Stop()
	noted := false
	for {
		var last bool
		select {
		case <-t.C:
		case <-w.kick:
		case <-w.closed:
			last = true
		}
		w.mu.Lock()
		buf, off, capped := w.buf, w.offset, w.capped
		w.buf = nil
		w.offset += int64(len(buf))
		w.mu.Unlock()
		for len(buf) > 0 {
			n := min(len(buf), LogChunkBytes)
			m := w.p.msg(LogSubject(w.p.id), buf[:n])
			m.Header.Set(HeaderOffset, strconv.FormatInt(off, 10))
			ctx, cancel := context.WithTimeout(w.ctx, publishTimeout)
			_, err := w.p.js.PublishMsg(ctx, m)
			cancel()
			if err != nil {
				break // the server is slow or gone: skip to what comes next
			}
			buf, off = buf[n:], off+int64(n)
		}
		if capped && !noted {
			noted = true
			w.p.Event(w.ctx, boot.Event{Type: boot.EventNote,
				Message: fmt.Sprintf("live log stopped at %d bytes; the stored console.log goes on", MaxLiveLogBytes)})
		}
		if last {
			return
		}
	}
}

// Close publishes what is buffered and stops the stream; when ctx ends
// first, what is left is dropped.
func (w *LogWriter) Close(ctx context.Context) {
	w.once.Do(func() { close(w.closed) })
	select {
	case <-w.done:
	case <-ctx.Done():
		w.abort()
		<-w.done
	}
	w.abort()
}

// EventQueue publishes events in order from a goroutine, so that a slow
// or absent server never holds up the boot. Past eventQueueLen events
// waiting, new ones are dropped (the result has them all).
type EventQueue struct {
	p       *Publisher
	ch      chan boot.Event
	done    chan struct{}
	ctx     context.Context
	abort   context.CancelFunc
	mu      sync.Mutex
	dropped int
}

const eventQueueLen = 4096

// EventQueue starts an event queue for the attempt; Close flushes it.
func (p *Publisher) EventQueue() *EventQueue {
	q := &EventQueue{p: p, ch: make(chan boot.Event, eventQueueLen), done: make(chan struct{})}
	q.ctx, q.abort = context.WithCancel(context.Background())
	go func() {
		defer close(q.done)
		for ev := range q.ch {
			if err := p.Event(q.ctx, ev); err != nil {
				q.mu.Lock()
				q.dropped++
				q.mu.Unlock()
			}
		}
	}()
	return q
}

// Send queues an event; it never blocks.
func (q *EventQueue) Send(ev boot.Event) {
	select {
	case q.ch <- ev:
	default:
		q.mu.Lock()
		q.dropped++
		q.mu.Unlock()
	}
}

// Close publishes the queued events, giving up when ctx ends, and says
// how many events were not published.
func (q *EventQueue) Close(ctx context.Context) int {
	close(q.ch)
	select {
	case <-q.done:
	case <-ctx.Done():
		q.abort()
		<-q.done
	}
	q.abort()
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.dropped
}

// PublishOutcome ends an attempt as a runner does: console.log and
// results.json into the object store, then the result message the
// controller waits for. It goes on after a failed store, so that the
// verdict gets out even when the log does not.
func (q *Queue) PublishOutcome(ctx context.Context, p *Publisher, res *boot.Result, console io.Reader) error {
	var errs []error
	if console != nil {
		if _, err := q.Objects.Put(ctx, jetstream.ObjectMeta{Name: LogObject(p.id, p.attempt)}, console); err != nil {
			errs = append(errs, fmt.Errorf("store console.log of %s attempt %d: %w", p.id, p.attempt, err))
		}
	}
	data, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return fmt.Errorf("encode result of %s: %w", p.id, err)
	}
	if _, err := q.Objects.PutBytes(ctx, ResultObject(p.id, p.attempt), data); err != nil {
		errs = append(errs, fmt.Errorf("store results.json of %s attempt %d: %w", p.id, p.attempt, err))
	}
	if err := p.Result(ctx, data); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// PublishFinished announces a boot's end with its outcome. The message ID
// makes it land once in the stream however many times it is published
// (by a redelivery, or by both the API and a controller).
func (q *Queue) PublishFinished(ctx context.Context, id, result string) error {
	p := q.Publisher(id, 0, SourceController)
	ev := boot.Event{APIVersion: boot.APIVersion, ID: id, Type: boot.EventState, State: "finished",
		Message: result, AtMS: time.Now().UnixMilli()}
	data, err := json.Marshal(ev)
	if err != nil {
		return err
	}
	if _, err := q.JS.PublishMsg(ctx, p.msg(EventSubject(id), data), jetstream.WithMsgID(id+"-finished")); err != nil {
		return fmt.Errorf("publish finished event of %s: %w", id, err)
	}
	return nil
}
