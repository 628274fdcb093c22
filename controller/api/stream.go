package api

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/tuxboot/tuxboot/controller/queue"
	"github.com/tuxboot/tuxboot/controller/store"
	"github.com/tuxboot/tuxboot/runner/boot"
)

// wantsEventStream says the client asked for Server-Sent Events.
func wantsEventStream(r *http.Request) bool {
	return strings.Contains(r.Header.Get("Accept"), "text/event-stream")
}

// sse writes Server-Sent Events, flushing each.
type sse struct {
	w       http.ResponseWriter
	flusher http.Flusher
}

// send writes one event. Each line of data becomes a data: field, which a
// client joins with newlines, so the concatenated data of every event is
// the text sent. SSE ends a line at CR too: CRs, which a serial console
// sends before each LF, are dropped rather than breaking that.
func (e *sse) send(event string, data []byte) {
	var b bytes.Buffer
	if event != "" {
		b.WriteString("event: " + event + "\n")
	}
	data = bytes.ReplaceAll(data, []byte("\r"), nil)
	for _, line := range bytes.Split(data, []byte("\n")) {
		b.WriteString("data: ")
		b.Write(line)
		b.WriteByte('\n')
	}
	b.WriteByte('\n')
	e.w.Write(b.Bytes())
	if e.flusher != nil {
		e.flusher.Flush()
	}
}

// logStream streams a test's console as Server-Sent Events: the log from
// its first byte, live while the boot runs, an "attempt" event when a
// retry starts over, and an "end" event with the result once it has
// finished, after which the stream closes.
func (s *Server) logStream(w http.ResponseWriter, r *http.Request, rec *store.Record) {
	ctx := r.Context()
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("X-Accel-Buffering", "no") // proxies must not hold a live log back
	w.WriteHeader(http.StatusOK)
	flusher, _ := w.(http.Flusher)
	ev := &sse{w: w, flusher: flusher}
	if rec.State == store.Finished && rec.LogObject != "" {
		obj, err := s.Queue.Objects.Get(ctx, rec.LogObject)
		if err != nil {
			ev.send("error", []byte("cannot read the log: "+err.Error()))
			return
		}
		defer obj.Close()
		buf := make([]byte, queue.LogChunkBytes)
		for {
			n, err := obj.Read(buf)
			if n > 0 {
				ev.send("", buf[:n])
			}
			if err != nil {
				break
			}
		}
		ev.send("end", []byte(rec.Result))
		return
	}
	logSubject := queue.LogSubject(rec.ID)
	attempt := ""
	err := s.Queue.Follow(ctx, []string{logSubject, queue.EventSubject(rec.ID)}, true, func(m jetstream.Msg) bool {
		if m.Subject() == logSubject {
			if a := m.Headers().Get(queue.HeaderAttempt); a != attempt {
				if attempt != "" {
					ev.send("attempt", []byte(a))
				}
				attempt = a
			}
			ev.send("", m.Data())
			return false
		}
		var e boot.Event
		json.Unmarshal(m.Data(), &e)
		return e.Type == boot.EventState && e.State == store.Finished
	})
	if err != nil {
		if ctx.Err() == nil {
			ev.send("error", []byte(err.Error()))
		}
		return
	}
	result := ""
	if rec, err := s.st.Get(ctx, rec.ID); err == nil {
		result = rec.Result
	}
	ev.send("end", []byte(result))
}
