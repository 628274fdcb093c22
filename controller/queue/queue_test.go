package queue_test

import (
	"bytes"
	"context"
	"encoding/json"
	"strconv"
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/tuxboot/tuxboot/controller/queue"
	"github.com/tuxboot/tuxboot/controller/queue/queuetest"
	"github.com/tuxboot/tuxboot/runner/boot"
)

func collect(t *testing.T, q *queue.Queue, subject string) []jetstream.Msg {
	t.Helper()
	var msgs []jetstream.Msg
	if err := q.Follow(context.Background(), []string{subject}, false, func(m jetstream.Msg) bool {
		msgs = append(msgs, m)
		return false
	}); err != nil {
		t.Fatal(err)
	}
	return msgs
}

// The live log arrives whole, in chunks of at most LogChunkBytes whose
// offsets follow each other, and stops at MaxLiveLogBytes with a note.
func TestLogWriter(t *testing.T) {
	tests := []struct {
		name   string
		writes int // of 1000 bytes
		capped bool
	}{
		{"small", 3, false},
		{"many chunks", 200, false},
		{"past the cap", queue.MaxLiveLogBytes/1000 + 50, true},
	}
	q := queuetest.New(t, queue.Options{})
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := "log" + strconv.Itoa(i)
			p := q.Publisher(id, 1, queue.SourceRunner)
			w := p.LogWriter()
			var want bytes.Buffer
			for n := range tt.writes {
				line := bytes.Repeat([]byte{byte('a' + n%26)}, 999)
				line = append(line, '\n')
				want.Write(line)
				if _, err := w.Write(line); err != nil {
					t.Fatal(err)
				}
			}
			w.Close(context.Background())
			var got bytes.Buffer
			for _, m := range collect(t, q, queue.LogSubject(id)) {
				if len(m.Data()) > queue.LogChunkBytes {
					t.Errorf("chunk of %d bytes", len(m.Data()))
				}
				if off := m.Headers().Get(queue.HeaderOffset); off != strconv.Itoa(got.Len()) {
					t.Fatalf("chunk at offset %s after %d bytes", off, got.Len())
				}
				if a := m.Headers().Get(queue.HeaderAttempt); a != "1" {
					t.Errorf("attempt header %q", a)
				}
				got.Write(m.Data())
			}
			expect := want.Bytes()
			if tt.capped {
				expect = expect[:queue.MaxLiveLogBytes]
			}
			if !bytes.Equal(got.Bytes(), expect) {
				t.Errorf("live log has %d bytes, want %d", got.Len(), len(expect))
			}
			notes := 0
			for _, m := range collect(t, q, queue.EventSubject(id)) {
				var ev boot.Event
				json.Unmarshal(m.Data(), &ev)
				if ev.Type == boot.EventNote {
					notes++
				}
			}
			if (notes == 1) != tt.capped {
				t.Errorf("%d notes, capped %v", notes, tt.capped)
			}
		})
	}
}

func TestEventQueueInOrder(t *testing.T) {
	q := queuetest.New(t, queue.Options{})
	eq := q.Publisher("ev", 2, queue.SourceRunner).EventQueue()
	for i := range 100 {
		eq.Send(boot.Event{Seq: int64(i + 1), Type: boot.EventNote, Message: "n"})
	}
	if dropped := eq.Close(context.Background()); dropped != 0 {
		t.Errorf("%d events dropped", dropped)
	}
	msgs := collect(t, q, queue.EventSubject("ev"))
	if len(msgs) != 100 {
		t.Fatalf("%d events, want 100", len(msgs))
	}
	for i, m := range msgs {
		var ev boot.Event
		if err := json.Unmarshal(m.Data(), &ev); err != nil || ev.Seq != int64(i+1) || ev.ID != "ev" || ev.APIVersion != boot.APIVersion {
			t.Errorf("event %d: %+v %v", i, ev, err)
		}
	}
}

// A result published again (a runner retrying after a lost ack) is
// stored once; the finished announcement too.
func TestResultAndFinishedOnce(t *testing.T) {
	q := queuetest.New(t, queue.Options{})
	ctx := context.Background()
	p := q.Publisher("r", 3, queue.SourceRunner)
	for range 3 {
		if err := p.Result(ctx, []byte(`{"result":"pass"}`)); err != nil {
			t.Fatal(err)
		}
		if err := q.PublishFinished(ctx, "r", boot.Pass); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(collect(t, q, queue.ResultSubject("r"))); n != 1 {
		t.Errorf("%d result messages, want 1", n)
	}
	if n := len(collect(t, q, queue.EventSubject("r"))); n != 1 {
		t.Errorf("%d finished events, want 1", n)
	}
	data, attempt, ok, err := q.LastResult(ctx, "r")
	if err != nil || !ok || attempt != 3 || string(data) != `{"result":"pass"}` {
		t.Errorf("LastResult: %s %d %v %v", data, attempt, ok, err)
	}
	if _, _, ok, err := q.LastResult(ctx, "none"); ok || err != nil {
		t.Errorf("LastResult of nothing: %v %v", ok, err)
	}
}

func TestRequestSizeLimit(t *testing.T) {
	q := queuetest.New(t, queue.Options{})
	if err := q.SubmitRequest(context.Background(), "big", make([]byte, queue.MaxRequestBytes+1)); err == nil {
		t.Error("an oversized request was queued")
	}
}
