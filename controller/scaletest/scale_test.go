package scaletest

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"

	kube "github.com/tuxboot/tuxboot/controller/executor/kubernetes"
	"github.com/tuxboot/tuxboot/controller/executor/kubernetes/kubetest"
	"github.com/tuxboot/tuxboot/controller/natsserver"
	"github.com/tuxboot/tuxboot/controller/queue"
	"github.com/tuxboot/tuxboot/controller/store"
	"github.com/tuxboot/tuxboot/runner/boot"
)

// The CI run's size; hack/scale.sh passes the full one.
var (
	flagBoots    = flag.Int("boots", 60, "boot requests to drive through")
	flagNodes    = flag.Int("nodes", 10, "simulated nodes")
	flagCPUs     = flag.Int("node-cpus", 32, "CPUs of each simulated node (a runner pod asks for one)")
	flagBootTime = flag.Duration("boot-time", 5*time.Second, "how long each stand-in runner boots")
	flagRate     = flag.Float64("rate", 4, "requests per second before the burst (0: all at once)")
	flagBurst    = flag.Int("burst", 20, "requests submitted at once, after the others")
	flagFaults   = flag.String("faults", "all", "faults to inject, comma-separated: controller (killed and restarted, twice), nats (restarted), node (removed with its pods), pods (a fraction deleted), burst (the last requests at once); all or none")
	flagPodKill  = flag.Float64("pod-kill", 0.10, "fraction of boots whose first pod is deleted while it boots (with -faults pods)")
	flagReport   = flag.String("report", "", "also write the report, as JSON, to this file")
	flagSeed     = flag.Uint64("seed", 1, "seed of the random choices")
	flagKubeQPS  = flag.Int("kube-qps", 50, "the controller's --kube-qps (its --kube-burst is twice that)")
)

// TestScale drives boots through the controller with the fault
// schedule and checks that every request reached exactly one final
// result, that no boot ran again without a fault to cause it, and that
// no pod was left behind.
func TestScale(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a control plane and drives many boots")
	}
	cfg := config{
		boots: *flagBoots, nodes: *flagNodes, cpus: *flagCPUs, bootTime: *flagBootTime,
		rate: *flagRate, burst: min(*flagBurst, *flagBoots), podKill: *flagPodKill, seed: *flagSeed,
	}
	var err error
	if cfg.faults, err = parseFaults(*flagFaults); err != nil {
		t.Fatal(err)
	}
	if !cfg.faults["pods"] {
		cfg.podKill = 0
	}
	if !cfg.faults["burst"] {
		cfg.burst = 0
	}
	rep := run(t, cfg)
	t.Logf("\n%s", rep)
	if *flagReport != "" {
		data, _ := json.MarshalIndent(rep, "", "  ")
		if err := os.WriteFile(*flagReport, data, 0o644); err != nil {
			t.Error(err)
		}
	}
	if rep.Lost != 0 || rep.DuplicateFinals != 0 || rep.RerunWithoutCause != 0 || rep.OrphanedPods != 0 || rep.NotPassed != 0 {
		t.Errorf("lost %d, duplicate final results %d, run again without cause %d, orphaned pods %d, not passed %d; want all 0",
			rep.Lost, rep.DuplicateFinals, rep.RerunWithoutCause, rep.OrphanedPods, rep.NotPassed)
	}
	if want := len(cfg.faults); len(rep.Faults) < want {
		t.Errorf("%d faults injected, want %d: %v", len(rep.Faults), want, rep.Faults)
	}
}

// parseFaults reads -faults.
func parseFaults(s string) (map[string]bool, error) {
	kinds := []string{"controller", "nats", "node", "pods", "burst"}
	m := map[string]bool{}
	switch s {
	case "none", "":
		return m, nil
	case "all":
		for _, k := range kinds {
			m[k] = true
		}
		return m, nil
	}
	for _, k := range strings.Split(s, ",") {
		if !slices.Contains(kinds, k) {
			return nil, fmt.Errorf("-faults: %q is not one of %s, all or none", k, strings.Join(kinds, ", "))
		}
		m[k] = true
	}
	return m, nil
}

type config struct {
	boots, nodes, cpus int
	bootTime           time.Duration
	rate               float64
	burst              int
	faults             map[string]bool
	podKill            float64
	seed               uint64
}

// harness is one run: what it started, and what it saw.
type harness struct {
	t   *testing.T
	cfg config
	ctx context.Context
	dir string

	kube      *cluster
	natsAddr  string
	natsStore string
	nats      *natsserver.Server
	natsIn    int64 // messages into NATS servers that were stopped
	q         *queue.Queue
	st        *store.Store
	ctrl      *controllerProc
	runners   *standIn
	rnd       *rand.Rand

	mu          sync.Mutex
	submitted   map[string]time.Time
	podCreated  map[string]time.Time // first pod of each boot seen
	running     map[string]time.Time // by pod name: seen running
	causes      map[string]int       // boots' attempts killed on purpose
	podKillDue  map[string]bool      // boots whose first pod is to be deleted
	faults      []string
	submitRetry int
	polls       int // the harness's own reads of boot records, not counted as the system's messages
}

// Report is what a run measured.
type Report struct {
	Boots, Nodes, KubeQPS        int
	BootTime                     string
	Faults                       []string
	Lost                         int // requests without a final result
	DuplicateFinals              int // boots with more than one "finished" in the stream
	RerunWithoutCause            int // runner starts beyond the first not caused by a fault
	RunsCausedByFaults           int // runner starts beyond the first that a fault caused
	OrphanedPods                 int // runner pods left after every boot finished
	NotPassed                    int // boots whose final result is not pass
	Attempts                     int
	SubmitRetries                int
	ScheduleAllSeconds           float64 // first request queued to the last boot's first pod created
	ScheduleP50MS, ScheduleP99MS float64 // request queued to its first pod created
	ResultP50MS, ResultP99MS     float64 // pod running to result stored, less the boot time
	WallSeconds                  float64 // first request queued to last boot finished
	ControllerCPUSeconds         float64
	ControllerPeakRSSMiB         float64
	ControllerIncarnations       int
	APIRequests                  int
	APIRequestsPerBoot           float64
	APIRequestsByVerb            map[string]int
	NATSMessagesIn               int64
	NATSMessagesPerBoot          float64
	StandInPublishFailures       int
}

func (r Report) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "boots %d on %d simulated nodes, boot time %s, controller --kube-qps %d\n", r.Boots, r.Nodes, r.BootTime, r.KubeQPS)
	fmt.Fprintf(&b, "faults: %s\n", strings.Join(r.Faults, "; "))
	fmt.Fprintf(&b, "lost %d, duplicate final results %d, run again without cause %d (with cause %d), orphaned pods %d, not passed %d\n",
		r.Lost, r.DuplicateFinals, r.RerunWithoutCause, r.RunsCausedByFaults, r.OrphanedPods, r.NotPassed)
	fmt.Fprintf(&b, "attempts %d, submit retries %d, stand-in publish failures %d\n", r.Attempts, r.SubmitRetries, r.StandInPublishFailures)
	fmt.Fprintf(&b, "wall %.1f s; all scheduled in %.1f s; scheduling latency p50 %.0f ms p99 %.0f ms; running→result stored (less boot time) p50 %.0f ms p99 %.0f ms\n",
		r.WallSeconds, r.ScheduleAllSeconds, r.ScheduleP50MS, r.ScheduleP99MS, r.ResultP50MS, r.ResultP99MS)
	fmt.Fprintf(&b, "controller: %d incarnations, CPU %.1f s (%.0f ms per boot), peak RSS %.0f MiB\n",
		r.ControllerIncarnations, r.ControllerCPUSeconds, 1000*r.ControllerCPUSeconds/float64(r.Boots), r.ControllerPeakRSSMiB)
	fmt.Fprintf(&b, "API server requests by the controller: %d (%.1f per boot) %v\n", r.APIRequests, r.APIRequestsPerBoot, r.APIRequestsByVerb)
	fmt.Fprintf(&b, "NATS messages in: %d (%.1f per boot)\n", r.NATSMessagesIn, r.NATSMessagesPerBoot)
	return b.String()
}

func run(t *testing.T, cfg config) Report {
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Minute)
	defer cancel()
	h := &harness{t: t, cfg: cfg, ctx: ctx, dir: t.TempDir(), rnd: rand.New(rand.NewPCG(cfg.seed, 0)),
		submitted: map[string]time.Time{}, podCreated: map[string]time.Time{}, running: map[string]time.Time{},
		causes: map[string]int{}, podKillDue: map[string]bool{}}
	h.kube = startCluster(ctx, t, cfg.nodes, cfg.cpus)

	// NATS on a fixed port and store, so a restart brings the same server back.
	h.natsAddr = fmt.Sprintf("127.0.0.1:%d", kubetest.FreePorts(t, 1)[0])
	h.natsStore = filepath.Join(h.dir, "nats")
	h.startNATS()
	t.Cleanup(func() {
		if h.nats != nil {
			h.nats.Stop()
		}
	})
	nc, err := nats.Connect("nats://"+h.natsAddr, nats.MaxReconnects(-1), nats.ReconnectWait(200*time.Millisecond), nats.Name("scaletest"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	if h.q, err = queue.Open(ctx, nc, queue.Options{AckWait: 15 * time.Second}); err != nil {
		t.Fatal(err)
	}
	h.st = &store.Store{KV: h.q.State}

	console, err := os.ReadFile(filepath.Join("..", "..", "runner", "console", "testdata", "corpus", "tests-arm64-kunit.log"))
	if err != nil {
		t.Fatal(err)
	}
	h.runners = &standIn{q: h.q, client: h.kube.Client, bootTime: cfg.bootTime, console: console, started: h.runnerStarted, logf: t.Logf,
		active: map[types.UID]context.CancelFunc{}, done: map[types.UID]bool{}, runs: map[string]int{}}
	informerCtx, stopInformer := context.WithCancel(ctx)
	h.watchPods(informerCtx)
	t.Cleanup(func() {
		stopInformer()
		h.runners.wait()
	})

	h.ctrl = &controllerProc{t: t, bin: buildTuxboot(t), dir: h.dir, args: []string{
		"--nats", "nats://" + h.natsAddr, "--executor", "kubernetes", "--namespace", namespace,
		"--kubeconfig", h.kube.controllerConfig, "--runner-image", "tuxboot-runner:scale",
		"--node-selector", nodeLabel + "=true", "--priority-class", "tuxboot-runner",
		"--max-parallel", fmt.Sprint(cfg.boots + 100), "--max-pending", "100", "--pending-timeout", "2m",
		"--ack-wait", "15s", "--heartbeat-timeout", "15s", "--retries", "3",
		"--kube-qps", fmt.Sprint(*flagKubeQPS), "--kube-burst", fmt.Sprint(2 * *flagKubeQPS),
		"--log-format", "json", "--work-dir", filepath.Join(h.dir, "work"),
	}}
	h.ctrl.start()
	t.Cleanup(func() {
		h.ctrl.stop(true)
		if t.Failed() {
			t.Log(h.ctrl.log(40))
		}
	})

	ids := make([]string, cfg.boots)
	for i := range ids {
		ids[i] = nuid.Next()
	}
	if n := int(float64(cfg.boots) * cfg.podKill); n > 0 {
		for _, i := range h.rnd.Perm(cfg.boots)[:n] {
			h.podKillDue[ids[i]] = true
		}
		h.addFault(fmt.Sprintf("the first pod of %d boots chosen at random deleted while it boots", n))
	}
	first := time.Now()
	h.submitAll(ids)
	finished := h.waitFinished(ids, first)
	last := time.Now()
	orphans := h.waitPodsGone(time.Minute)
	h.ctrl.stop(false)
	return h.report(ids, finished, first, last, orphans)
}

// submitAll submits the requests at the configured rate, the burst last,
// and injects the faults at set points of the way.
func (h *harness) submitAll(ids []string) {
	steady := len(ids) - h.cfg.burst
	type fault struct {
		at    float64 // fraction of the steady requests submitted
		kind  string
		name  string
		fault func()
	}
	var schedule []fault
	for _, f := range []fault{
		{0.15, "controller", "controller killed (SIGKILL) and restarted", h.restartController},
		{0.30, "nats", "NATS server restarted", h.restartNATS},
		{0.45, "node", "a node removed with its pods", h.removeNode},
		{0.65, "controller", "controller killed (SIGKILL) and restarted, again", h.restartController},
	} {
		if h.cfg.faults[f.kind] {
			schedule = append(schedule, f)
		}
	}
	var every time.Duration
	if h.cfg.rate > 0 {
		every = time.Duration(float64(time.Second) / h.cfg.rate)
	}
	// The node removal waits for a node that runs boots, while the
	// submission goes on.
	var async sync.WaitGroup
	defer async.Wait()
	run := func(f fault) {
		if f.kind == "node" {
			async.Go(func() { h.fault(f.name, f.fault) })
			return
		}
		h.fault(f.name, f.fault)
	}
	for i, id := range ids[:steady] {
		for len(schedule) > 0 && float64(i) >= schedule[0].at*float64(steady) {
			run(schedule[0])
			schedule = schedule[1:]
		}
		h.submit(id)
		if every > 0 {
			time.Sleep(every)
		}
	}
	for _, f := range schedule {
		run(f)
	}
	if h.cfg.burst > 0 {
		h.addFault(fmt.Sprintf("a burst of %d requests at once", h.cfg.burst))
		var wg sync.WaitGroup
		for _, id := range ids[steady:] {
			wg.Go(func() { h.submit(id) })
		}
		wg.Wait()
	}
}

func (h *harness) fault(name string, f func()) {
	h.addFault(name)
	f()
}

func (h *harness) addFault(name string) {
	h.mu.Lock()
	h.faults = append(h.faults, name)
	h.mu.Unlock()
	h.t.Logf("fault: %s", name)
}

// submit queues one request as the API does, retrying through outages
// as a client would: the record's and the message's IDs make retries
// harmless.
func (h *harness) submit(id string) {
	req := boot.Request{APIVersion: boot.APIVersion, ID: id, Device: "qemu-arm64",
		Kernel: "https://storage.tuxboot.example/arm64/Image.gz", Rootfs: "https://storage.tuxboot.example/arm64/rootfs.ext4.zst"}
	data, _ := json.Marshal(req)
	for try := 0; ; try++ {
		err := h.st.Create(h.ctx, store.NewQueued(id, "scale", "harness", req))
		if err == nil || errors.Is(err, store.ErrConflict) {
			h.mu.Lock()
			if _, ok := h.submitted[id]; !ok {
				h.submitted[id] = time.Now()
			}
			h.mu.Unlock()
			err = h.q.SubmitRequest(h.ctx, id, data)
		}
		if err == nil {
			return
		}
		if h.ctx.Err() != nil {
			h.t.Errorf("submit %s: %v", id, err) // from the burst's goroutines too: no Fatal
			return
		}
		h.mu.Lock()
		h.submitRetry++
		h.mu.Unlock()
		time.Sleep(200 * time.Millisecond)
	}
}

func (h *harness) startNATS() {
	s, err := natsserver.Start(natsserver.Options{Listen: h.natsAddr, StoreDir: h.natsStore})
	if err != nil {
		h.t.Fatal(err)
	}
	h.nats = s
}

func (h *harness) restartNATS() {
	if in, _, err := h.nats.Messages(); err == nil {
		h.natsIn += in
	}
	h.nats.Stop()
	time.Sleep(2 * time.Second)
	h.startNATS()
}

func (h *harness) restartController() {
	h.ctrl.stop(true)
	time.Sleep(time.Second)
	h.ctrl.start()
}

// removeNode deletes the node running most boots, and its pods, as the
// pod garbage collector does once a node is gone: their runners die
// without a word.
func (h *harness) removeNode() {
	var byNode map[string][]corev1.Pod
	node := ""
	// After another fault, boots may take a while to run again (the
	// submission goes on meanwhile): wait for a node with a few, for 20 s,
	// then for one with any, for two minutes.
	start := time.Now()
	for first := true; ; first = false {
		if !first {
			time.Sleep(500 * time.Millisecond)
		}
		pods, err := h.kube.Client.CoreV1().Pods(namespace).List(h.ctx, metav1.ListOptions{LabelSelector: kube.LabelManagedBy + "=" + kube.ManagedBy})
		if err != nil {
			h.t.Errorf("remove a node: %v", err)
			return
		}
		byNode = map[string][]corev1.Pod{}
		node = ""
		for _, p := range pods.Items {
			if p.Spec.NodeName != "" && p.Status.Phase == corev1.PodRunning && p.DeletionTimestamp == nil {
				byNode[p.Spec.NodeName] = append(byNode[p.Spec.NodeName], p)
			}
		}
		for n, ps := range byNode {
			if node == "" || len(ps) > len(byNode[node]) {
				node = n
			}
		}
		need := 3
		if time.Since(start) > 20*time.Second {
			need = 1
		}
		if (node != "" && len(byNode[node]) >= need) || time.Since(start) > 2*time.Minute {
			break
		}
	}
	if node == "" {
		h.t.Error("remove a node: no node ran a boot for two minutes")
		return
	}
	// Cordoned first, as a node drained or lost: nothing new lands there.
	h.mu.Lock()
	for _, p := range byNode[node] {
		h.causes[p.Annotations[kube.AnnotationID]]++
	}
	h.mu.Unlock()
	for _, p := range byNode[node] {
		h.runners.gone(&p)
	}
	if err := h.kube.Client.CoreV1().Nodes().Delete(h.ctx, node, metav1.DeleteOptions{}); err != nil {
		h.t.Errorf("delete node %s: %v", node, err)
		return
	}
	for _, p := range byNode[node] {
		h.kube.Client.CoreV1().Pods(namespace).Delete(h.ctx, p.Name, metav1.DeleteOptions{GracePeriodSeconds: ptr(int64(0))})
	}
	h.addFault(fmt.Sprintf("(node %s held %d running boots)", node, len(byNode[node])))
}

// runnerStarted deletes, part-way through its boot, the first pod of the
// boots chosen for it.
func (h *harness) runnerStarted(p *corev1.Pod, id string, attempt int) {
	h.mu.Lock()
	due := attempt == 1 && h.podKillDue[id]
	if due {
		delete(h.podKillDue, id)
		h.causes[id]++
	}
	delay := time.Duration(float64(h.cfg.bootTime) * (0.2 + 0.6*h.rnd.Float64()))
	h.mu.Unlock()
	if !due {
		return
	}
	time.AfterFunc(delay, func() {
		h.kube.Client.CoreV1().Pods(namespace).Delete(h.ctx, p.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &p.UID}})
	})
}

// watchPods feeds pod changes to the stand-in runners and the clocks.
func (h *harness) watchPods(ctx context.Context) {
	f := informers.NewSharedInformerFactoryWithOptions(h.kube.Client, 0, informers.WithNamespace(namespace))
	inf := f.Core().V1().Pods().Informer()
	seen := func(obj any) {
		p, ok := obj.(*corev1.Pod)
		if !ok {
			return
		}
		now := time.Now()
		id := p.Annotations[kube.AnnotationID]
		h.mu.Lock()
		if _, ok := h.podCreated[id]; !ok && id != "" {
			h.podCreated[id] = now
		}
		if _, ok := h.running[p.Name]; !ok && p.Status.Phase == corev1.PodRunning {
			h.running[p.Name] = now
		}
		h.mu.Unlock()
		h.runners.observe(ctx, p)
	}
	inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    seen,
		UpdateFunc: func(_, obj any) { seen(obj) },
		DeleteFunc: func(obj any) {
			if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = d.Obj
			}
			if p, ok := obj.(*corev1.Pod); ok {
				h.runners.gone(p)
			}
		},
	})
	f.Start(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), inf.HasSynced) {
		h.t.Fatal("pod informer did not sync")
	}
}

// waitFinished waits until every boot's record is finished, or the time
// any sane run needs has passed; it returns the records.
func (h *harness) waitFinished(ids []string, first time.Time) map[string]*store.Record {
	done := map[string]*store.Record{}
	deadline := time.Now().Add(10*time.Minute + 2*h.cfg.bootTime)
	if d, ok := h.t.Deadline(); ok && d.Add(-time.Minute).Before(deadline) {
		deadline = d.Add(-time.Minute)
	}
	lastLog := time.Now()
	for len(done) < len(ids) && time.Now().Before(deadline) {
		if time.Since(lastLog) > 10*time.Second {
			lastLog = time.Now()
			phases := map[string]int{}
			why := ""
			if pods, err := h.kube.Client.CoreV1().Pods(namespace).List(h.ctx, metav1.ListOptions{}); err == nil {
				for _, p := range pods.Items {
					phase := string(p.Status.Phase)
					if p.Spec.NodeName == "" {
						phase += " unbound"
						for _, c := range p.Status.Conditions {
							if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse {
								why = c.Message
							}
						}
					}
					phases[phase]++
				}
			}
			h.t.Logf("%d of %d boots finished; pods %v %s", len(done), len(ids), phases, why)
		}
		for _, id := range ids {
			if done[id] != nil {
				continue
			}
			rec, err := h.st.Get(h.ctx, id)
			h.mu.Lock()
			h.polls++
			h.mu.Unlock()
			if err == nil && rec.State == store.Finished {
				done[id] = rec
			}
		}
		if len(done) < len(ids) {
			time.Sleep(2 * time.Second)
		}
	}
	h.t.Logf("%d of %d boots finished in %s", len(done), len(ids), time.Since(first).Round(time.Second))
	return done
}

// waitPodsGone waits for the runner pods to be deleted, and counts those left.
func (h *harness) waitPodsGone(within time.Duration) int {
	deadline := time.Now().Add(within)
	for {
		pods, err := h.kube.Client.CoreV1().Pods(namespace).List(h.ctx, metav1.ListOptions{LabelSelector: kube.LabelManagedBy + "=" + kube.ManagedBy})
		if err == nil && (len(pods.Items) == 0 || time.Now().After(deadline)) {
			for _, p := range pods.Items {
				h.t.Logf("orphaned pod %s: %s", p.Name, p.Status.Phase)
			}
			return len(pods.Items)
		}
		time.Sleep(time.Second)
	}
}

// finishedCounts counts each boot's "finished" announcements in the stream.
func (h *harness) finishedCounts() map[string]int {
	n := map[string]int{}
	cons, err := h.q.Boots.OrderedConsumer(h.ctx, jetstream.OrderedConsumerConfig{FilterSubjects: []string{"tuxboot.boot.*.events"}})
	if err != nil {
		h.t.Fatal(err)
	}
	info, err := h.q.Boots.Info(h.ctx)
	if err != nil {
		h.t.Fatal(err)
	}
	last := info.State.LastSeq
	for {
		msgs, err := cons.Fetch(500, jetstream.FetchMaxWait(2*time.Second))
		if err != nil {
			h.t.Fatal(err)
		}
		got := 0
		for m := range msgs.Messages() {
			got++
			md, _ := m.Metadata()
			if m.Headers().Get(queue.HeaderSource) == queue.SourceController && m.Headers().Get(queue.HeaderAttempt) == "0" {
				var ev boot.Event
				if json.Unmarshal(m.Data(), &ev) == nil && ev.Type == boot.EventState && ev.State == "finished" {
					n[ev.ID]++
				}
			}
			if md != nil && md.Sequence.Stream >= last {
				return n
			}
		}
		if got == 0 {
			return n
		}
	}
}

func (h *harness) report(ids []string, finished map[string]*store.Record, first, last time.Time, orphans int) Report {
	h.mu.Lock()
	defer h.mu.Unlock()
	r := Report{Boots: len(ids), Nodes: h.cfg.nodes, KubeQPS: *flagKubeQPS, BootTime: h.cfg.bootTime.String(), Faults: h.faults,
		OrphanedPods: orphans, SubmitRetries: h.submitRetry, WallSeconds: last.Sub(first).Seconds()}
	if in, _, err := h.nats.Messages(); err == nil {
		r.NATSMessagesIn = h.natsIn + in - int64(h.polls)
	}
	counts := h.finishedCounts()
	h.runners.mu.Lock()
	runs := h.runners.runs
	r.StandInPublishFailures = h.runners.failed
	h.runners.mu.Unlock()
	var sched, toResult []float64
	lastCreated := first
	for _, id := range ids {
		rec := finished[id]
		if rec == nil {
			r.Lost++
			continue
		}
		if counts[id] > 1 {
			r.DuplicateFinals++
		}
		if rec.Result != boot.Pass {
			r.NotPassed++
			h.t.Logf("boot %s: %s %v", id, rec.Result, rec.Failure)
		}
		r.Attempts += len(rec.Attempts)
		extra := runs[id] - 1
		caused := min(extra, h.causes[id])
		r.RunsCausedByFaults += caused
		if extra > caused {
			r.RerunWithoutCause += extra - caused
			h.t.Logf("boot %s ran %d times, %d caused by faults; attempts %+v", id, runs[id], h.causes[id], rec.Attempts)
		}
		if c, ok := h.podCreated[id]; ok {
			sched = append(sched, float64(c.Sub(h.submitted[id]).Milliseconds()))
			if c.After(lastCreated) {
				lastCreated = c
			}
		}
		a := rec.Last()
		if at, ok := h.running[kube.PodName(id, a.N)]; ok && a.FinishedAt != nil {
			toResult = append(toResult, float64(a.FinishedAt.Sub(at).Milliseconds()-h.cfg.bootTime.Milliseconds()))
		}
	}
	r.ScheduleAllSeconds = lastCreated.Sub(first).Seconds()
	r.ScheduleP50MS, r.ScheduleP99MS = percentile(sched, 50), percentile(sched, 99)
	r.ResultP50MS, r.ResultP99MS = percentile(toResult, 50), percentile(toResult, 99)
	r.ControllerCPUSeconds = h.ctrl.cpu.Seconds()
	r.ControllerPeakRSSMiB = float64(h.ctrl.peakRSS) / (1 << 20)
	r.ControllerIncarnations = h.ctrl.n
	r.APIRequestsByVerb, r.APIRequests = h.kube.api.snapshot()
	r.APIRequestsPerBoot = float64(r.APIRequests) / float64(len(ids))
	r.NATSMessagesPerBoot = float64(r.NATSMessagesIn) / float64(len(ids))
	return r
}

func percentile(v []float64, p float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	i := int(float64(len(s)-1) * p / 100)
	return s[i]
}
