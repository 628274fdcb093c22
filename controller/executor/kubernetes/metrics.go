package kubernetes

import (
	"fmt"
	"io"
	"net/http"
	"sort"
	"sync"
	"time"
)

// Metrics are the executor's Prometheus metrics, in the text exposition
// format; written by hand because a handful of counters do not justify
// the Prometheus client's dependencies.
type Metrics struct {
	mu         sync.Mutex
	podsTotal  int64
	results    map[[2]string]int64 // device, result
	durSum     map[string]float64  // by device, seconds
	durCount   map[string]int64
	schedSum   float64
	schedCount int64
	// QueueDepth, when set, reports the requests waiting in the queue.
	QueueDepth func() (int64, error)
	counts     func() (held, pending, running int)
}

// NewMetrics returns empty metrics.
func NewMetrics() *Metrics {
	return &Metrics{results: map[[2]string]int64{}, durSum: map[string]float64{}, durCount: map[string]int64{}}
}

func (m *Metrics) created() {
	m.mu.Lock()
	m.podsTotal++
	m.mu.Unlock()
}

func (m *Metrics) scheduled(device string, latency time.Duration) {
	m.mu.Lock()
	m.schedSum += latency.Seconds()
	m.schedCount++
	m.mu.Unlock()
}

// ended records an attempt's end; start is when its pod began running
// (zero if it never did).
func (m *Metrics) ended(device, result string, start time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.results[[2]string{device, result}]++
	if !start.IsZero() {
		m.durSum[device] += time.Since(start).Seconds()
		m.durCount[device]++
	}
}

// Handler serves the metrics at /metrics.
func (m *Metrics) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		m.WriteTo(w)
	})
}

// setCounts makes the pod gauges count an executor's pods: the latest
// one synced, as a controller has one executor per leadership term.
func (m *Metrics) setCounts(f func() (held, pending, running int)) {
	m.mu.Lock()
	m.counts = f
	m.mu.Unlock()
}

// WriteTo writes the metrics in the text exposition format.
func (m *Metrics) WriteTo(w io.Writer) (int64, error) {
	var depth int64 = -1
	if m.QueueDepth != nil {
		if d, err := m.QueueDepth(); err == nil {
			depth = d
		}
	}
	m.mu.Lock()
	counts := m.counts
	m.mu.Unlock()
	var held, pending, running int
	if counts != nil {
		held, pending, running = counts()
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	cw := &countWriter{w: w}
	p := func(format string, a ...any) { fmt.Fprintf(cw, format, a...) }
	if depth >= 0 {
		p("# HELP tuxboot_queue_depth Boot requests waiting in the queue.\n# TYPE tuxboot_queue_depth gauge\ntuxboot_queue_depth %d\n", depth)
	}
	p("# HELP tuxboot_pods Runner pods of this controller by phase.\n# TYPE tuxboot_pods gauge\n")
	p("tuxboot_pods{phase=\"held\"} %d\ntuxboot_pods{phase=\"pending\"} %d\ntuxboot_pods{phase=\"running\"} %d\n", held, pending, running)
	p("# HELP tuxboot_pods_created_total Runner pods created.\n# TYPE tuxboot_pods_created_total counter\ntuxboot_pods_created_total %d\n", m.podsTotal)
	p("# HELP tuxboot_scheduling_latency_seconds Pod creation to binding to a node.\n# TYPE tuxboot_scheduling_latency_seconds summary\n")
	p("tuxboot_scheduling_latency_seconds_sum %g\ntuxboot_scheduling_latency_seconds_count %d\n", m.schedSum, m.schedCount)
	p("# HELP tuxboot_attempts_total Attempts ended, by device and result (error: infrastructure or runner error).\n# TYPE tuxboot_attempts_total counter\n")
	keys := make([][2]string, 0, len(m.results))
	for k := range m.results {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i][0]+keys[i][1] < keys[j][0]+keys[j][1] })
	for _, k := range keys {
		p("tuxboot_attempts_total{device=%q,result=%q} %d\n", k[0], k[1], m.results[k])
	}
	p("# HELP tuxboot_boot_duration_seconds Runner pods' running time, by device.\n# TYPE tuxboot_boot_duration_seconds summary\n")
	devs := make([]string, 0, len(m.durSum))
	for d := range m.durSum {
		devs = append(devs, d)
	}
	sort.Strings(devs)
	for _, d := range devs {
		p("tuxboot_boot_duration_seconds_sum{device=%q} %g\ntuxboot_boot_duration_seconds_count{device=%q} %d\n", d, m.durSum[d], d, m.durCount[d])
	}
	return cw.n, cw.err
}

type countWriter struct {
	w   io.Writer
	n   int64
	err error
}

func (c *countWriter) Write(b []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	n, err := c.w.Write(b)
	c.n += int64(n)
	c.err = err
	return n, err
}
