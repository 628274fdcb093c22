package api

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"

	"github.com/nats-io/nats.go"

	"github.com/tuxboot/tuxboot/controller/store"
)

// metrics counts API requests by route and status, in memory: they
// describe this process, as Prometheus expects of a scrape target.
type metrics struct {
	mu       sync.Mutex
	requests map[[3]string]uint64 // method, route, code
}

func newMetrics() *metrics { return &metrics{requests: map[[3]string]uint64{}} }

type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Flush keeps streams (SSE, followed events) streaming through the wrapper.
func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (m *metrics) count(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r)
		route := r.Pattern // set by the ServeMux; a route's pattern, not the path, bounds the labels
		if route == "" {
			route = "unmatched"
		}
		if sw.code == 0 {
			sw.code = http.StatusOK
		}
		m.mu.Lock()
		m.requests[[3]string{methodLabel(r.Method), route, fmt.Sprint(sw.code)}]++
		m.mu.Unlock()
	})
}

// methodLabel bounds the method label as the route's pattern bounds the
// route: any client may send a request of a made-up method, one each.
func methodLabel(m string) string {
	switch m {
	case "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS":
		return m
	}
	return "other"
}

func promLabel(v string) string {
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(v)
}

// serveMetrics writes Prometheus text: the request counters, and the
// tests in the state bucket by state and result.
func (s *Server) serveMetrics(w http.ResponseWriter, r *http.Request) {
	var b strings.Builder
	b.WriteString("# HELP tuxboot_api_requests_total API requests served, by method, route and status code.\n")
	b.WriteString("# TYPE tuxboot_api_requests_total counter\n")
	s.metrics.mu.Lock()
	keys := make([][3]string, 0, len(s.metrics.requests))
	for k := range s.metrics.requests {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b [3]string) int { return strings.Compare(a[0]+a[1]+a[2], b[0]+b[1]+b[2]) })
	for _, k := range keys {
		fmt.Fprintf(&b, "tuxboot_api_requests_total{method=%q,route=\"%s\",code=%q} %d\n", k[0], promLabel(k[1]), k[2], s.metrics.requests[k])
	}
	s.metrics.mu.Unlock()

	counts := map[[2]string]int{}
	if keys, err := s.Queue.State.ListKeys(r.Context()); err == nil {
		seen := map[string]bool{}
		for id := range keys.Keys() {
			if seen[id] {
				continue
			}
			seen[id] = true
			if rec, err := s.st.Get(r.Context(), id); err == nil {
				counts[[2]string{apiState(rec.State), rec.Result}]++
			}
		}
	}
	b.WriteString("# HELP tuxboot_tests Tests in the state bucket, by state and result.\n")
	b.WriteString("# TYPE tuxboot_tests gauge\n")
	for _, st := range []string{StateProvisioning, StateRunning} {
		fmt.Fprintf(&b, "tuxboot_tests{state=%q,result=\"\"} %d\n", st, counts[[2]string{st, ""}])
	}
	for _, res := range []string{"pass", "fail", "error", store.Canceled} {
		fmt.Fprintf(&b, "tuxboot_tests{state=%q,result=%q} %d\n", StateFinished, res, counts[[2]string{StateFinished, res}])
	}
	b.WriteString("# HELP tuxboot_nats_connected 1 while the API's NATS connection is up.\n")
	b.WriteString("# TYPE tuxboot_nats_connected gauge\n")
	connected := 0
	if s.Queue.NC.Status() == nats.CONNECTED {
		connected = 1
	}
	fmt.Fprintf(&b, "tuxboot_nats_connected %d\n", connected)
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	w.Write([]byte(b.String()))
}

// readyz says the API can take requests: beyond the connection that
// /healthz checks, JetStream answers for the state bucket and the queue.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	if st := s.Queue.NC.Status(); st != nats.CONNECTED {
		writeError(w, http.StatusServiceUnavailable, "NATS is "+st.String())
		return
	}
	ctx := r.Context()
	if _, err := s.Queue.State.Status(ctx); err != nil {
		writeError(w, http.StatusServiceUnavailable, "state bucket: "+err.Error())
		return
	}
	if _, err := s.Queue.Requests.Info(ctx); err != nil {
		writeError(w, http.StatusServiceUnavailable, "request stream: "+err.Error())
		return
	}
	w.Header().Set("Content-Type", "text/plain")
	w.Write([]byte("ready\n"))
}
