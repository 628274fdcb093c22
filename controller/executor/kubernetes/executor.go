// Package kubernetes runs each attempt of a boot as one ephemeral pod: the
// runner image running `tuxboot runner`, which publishes its events, log
// and result to NATS exactly as a local runner does. The executor watches
// its pods through a shared informer, turns their phases into boot events,
// ends an attempt whose pod can never run (or stopped running) as an
// infrastructure error, and deletes every pod as soon as its attempt ends.
package kubernetes

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/rs/zerolog"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"

	"github.com/tuxboot/tuxboot/controller/executor"
)

// Defaults of Config.
const (
	DefaultPendingTimeout = 10 * time.Minute
	DefaultServiceAccount = "tuxboot-runner"
	DefaultStopGrace      = 15 * time.Second
	// beatInterval is how often the executor stands in for the heartbeats
	// of runners whose pods wait for a node or an image.
	beatInterval = 2 * time.Second
)

// Config configures the executor.
type Config struct {
	Client    kubernetes.Interface
	Namespace string
	// Image is the runner image; Command its tuxboot binary (default
	// ["tuxboot"]), followed by `runner` and its flags.
	Image   string
	Command []string
	// NATSURL is where runners publish, as seen from the pods.
	NATSURL string
	// RunnerArgs are extra flags for `tuxboot runner`.
	RunnerArgs     []string
	ServiceAccount string
	// PendingTimeout is how long a pod may stay unschedulable before its
	// attempt fails as an infrastructure error.
	PendingTimeout time.Duration
	// MaxPending bounds the pods not yet bound to a node (0: no bound).
	// Beyond it an attempt waits, without a pod, for one to be scheduled:
	// the cluster autoscaler sees real demand, and the API server and
	// scheduler are not flooded.
	MaxPending int
	// KVMResource is the device plugin's resource for /dev/kvm ("" for
	// no KVM); KVM pods also get KVMNodeSelector and KVMTolerations.
	KVMResource     string
	KVMNodeSelector map[string]string
	KVMTolerations  []corev1.Toleration
	// NodeSelector and Tolerations apply to every runner pod.
	NodeSelector  map[string]string
	Tolerations   []corev1.Toleration
	PriorityClass string
	// MemoryRequest and MemoryLimit size each runner (QEMU's guest RAM
	// plus the runner); defaults 1Gi and 3Gi.
	MemoryRequest resource.Quantity
	MemoryLimit   resource.Quantity
	// StopGrace is the pods' termination grace period.
	StopGrace time.Duration
	// Beat publishes a heartbeat for a boot whose runner cannot yet beat
	// for itself (its pod waits), so that the controller does not take it
	// for lost while a node is being added. Optional.
	Beat func(id string)
	// Event reports a change of a pod's phase or state. Optional.
	Event   func(id string, attempt int, message string)
	Metrics *Metrics
	Log     zerolog.Logger
}

// Executor runs attempts as pods. Sync must have returned before Start.
type Executor struct {
	cfg    Config
	lister corelisters.PodLister
	queue  workqueue.TypedRateLimitingInterface[string]
	// deletes holds ended pods to delete. They are deleted apart from the
	// pod worker, so that a burst of boots ending together, each delete
	// waiting its turn under the client's rate limit, does not hold back
	// the attempts' verdicts.
	deletes workqueue.TypedRateLimitingInterface[deletion]
	drained chan struct{} // closed once Sync's context ended and deletes is empty
	events  chan func()
	ctx     context.Context // Sync's: the executor's lifetime

	mu      sync.Mutex
	runs    map[string]*run      // by pod name
	deleted map[string]types.UID // pods being or having been deleted, by name, until the informer sees them go
	held    []*run               // waiting for room under MaxPending, oldest first
	started bool
}

// New checks the configuration and returns an executor.
func New(cfg Config) (*Executor, error) {
	if cfg.Client == nil || cfg.Namespace == "" || cfg.Image == "" || cfg.NATSURL == "" {
		return nil, errors.New("kubernetes executor: a client, a namespace, a runner image and a NATS URL are required")
	}
	if len(cfg.Command) == 0 {
		cfg.Command = []string{"tuxboot"}
	}
	if cfg.PendingTimeout <= 0 {
		cfg.PendingTimeout = DefaultPendingTimeout
	}
	if cfg.ServiceAccount == "" {
		cfg.ServiceAccount = DefaultServiceAccount
	}
	if cfg.StopGrace <= 0 {
		cfg.StopGrace = DefaultStopGrace
	}
	if cfg.MemoryRequest.IsZero() {
		cfg.MemoryRequest = resource.MustParse("1Gi")
	}
	if cfg.MemoryLimit.IsZero() {
		cfg.MemoryLimit = resource.MustParse("3Gi")
	}
	if cfg.Metrics == nil {
		cfg.Metrics = NewMetrics()
	}
	return &Executor{
		cfg:     cfg,
		queue:   workqueue.NewTypedRateLimitingQueue(workqueue.DefaultTypedControllerRateLimiter[string]()),
		deletes: workqueue.NewTypedRateLimitingQueue(workqueue.DefaultTypedControllerRateLimiter[deletion]()),
		drained: make(chan struct{}),
		events:  make(chan func(), 1024),
		runs:    map[string]*run{},
		deleted: map[string]types.UID{},
	}, nil
}

// Name implements executor.Executor.
func (e *Executor) Name() string { return "kubernetes" }

// Metrics are the executor's metrics.
func (e *Executor) Metrics() *Metrics { return e.cfg.Metrics }

// Sync starts watching the executor's pods and returns once its cache
// holds all of them. Pods left by a controller before a restart are
// adopted: one that ended is deleted at once, one still running is
// deleted when it ends (its runner still reports to NATS). Watching goes
// on until ctx ends.
func (e *Executor) Sync(ctx context.Context) error {
	factory := informers.NewSharedInformerFactoryWithOptions(e.cfg.Client, 0,
		informers.WithNamespace(e.cfg.Namespace),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = ownedSelector() }))
	inf := factory.Core().V1().Pods()
	enqueue := func(obj any) {
		if key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj); err == nil {
			if _, name, err := cache.SplitMetaNamespaceKey(key); err == nil {
				e.queue.Add(name)
			}
		}
	}
	if _, err := inf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    enqueue,
		UpdateFunc: func(_, obj any) { enqueue(obj) },
		DeleteFunc: enqueue,
	}); err != nil {
		return fmt.Errorf("kubernetes executor: watch pods: %w", err)
	}
	e.lister = inf.Lister()
	factory.Start(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), inf.Informer().HasSynced) {
		factory.Shutdown()
		return fmt.Errorf("kubernetes executor: pods of namespace %s: cache did not sync: %w", e.cfg.Namespace, context.Cause(ctx))
	}
	e.mu.Lock()
	e.ctx = ctx
	e.started = true
	e.mu.Unlock()
	e.cfg.Metrics.setCounts(e.counts)
	go func() {
		<-ctx.Done()
		e.queue.ShutDown()
		factory.Shutdown()
		e.deletes.ShutDownWithDrain()
		close(e.drained)
	}()
	go func() {
		for e.work() {
		}
	}()
	for range deleteWorkers {
		go func() {
			for e.deleteOne() {
			}
		}()
	}
	go e.beat(ctx)
	go func() {
		for {
			select {
			case f := <-e.events:
				f()
			case <-ctx.Done():
				return
			}
		}
	}()
	return nil
}

// Start creates the attempt's pod, or finds the one a previous delivery
// created, or holds the attempt until fewer pods wait for a node.
func (e *Executor) Start(ctx context.Context, job executor.Job) (executor.Run, error) {
	name := PodName(job.ID, job.Attempt)
	e.mu.Lock()
	if !e.started {
		e.mu.Unlock()
		return nil, errors.New("kubernetes executor: Start before Sync")
	}
	if r := e.runs[name]; r != nil && !r.ended() {
		e.mu.Unlock()
		return r, nil
	}
	r := &run{e: e, name: name, job: job, done: make(chan struct{}), queued: time.Now()}
	e.runs[name] = r
	hold := e.cfg.MaxPending > 0 && e.unboundLocked() >= e.cfg.MaxPending
	if hold {
		r.held = true
		e.held = append(e.held, r)
	} else {
		// Counted as waiting for a node from now, so that concurrent
		// Starts cannot together pass MaxPending.
		r.created, r.createdAt = true, time.Now()
	}
	e.mu.Unlock()
	if hold {
		e.cfg.Log.Info().Str("id", job.ID).Str("pod", name).Int("max_pending", e.cfg.MaxPending).Msg("pod held back: enough pods wait for a node")
		e.event(r, "waiting for room: "+fmt.Sprint(e.cfg.MaxPending)+" pods already wait for a node")
		return r, nil
	}
	if err := e.create(ctx, r); err != nil {
		e.mu.Lock()
		delete(e.runs, name)
		e.mu.Unlock()
		return nil, err
	}
	return r, nil
}

// WaitRoom holds the controller's next pull while MaxPending pods (with
// the held ones) already wait for a node, so further requests stay in the
// queue, where the autoscaler's demand shows. It reads the executor's own
// state, fed by the informer; it asks the API server nothing.
func (e *Executor) WaitRoom(ctx context.Context) error {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		e.mu.Lock()
		room := e.cfg.MaxPending <= 0 || e.unboundLocked()+len(e.held) < e.cfg.MaxPending
		e.mu.Unlock()
		if room {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// unboundLocked counts this executor's pods that no node has taken yet.
func (e *Executor) unboundLocked() int {
	n := 0
	for _, r := range e.runs {
		if r.created && !r.bound && !r.finished {
			n++
		}
	}
	return n
}

// create creates a run's pod; a pod of that name already there is the
// same attempt's (a redelivery, or a controller before a restart), and is
// adopted.
func (e *Executor) create(ctx context.Context, r *run) error {
	p, err := e.pod(r.job)
	if err != nil {
		return fmt.Errorf("kubernetes executor: %w", err)
	}
	_, err = e.cfg.Client.CoreV1().Pods(e.cfg.Namespace).Create(ctx, p, metav1.CreateOptions{})
	switch {
	case apierrors.IsAlreadyExists(err):
		e.cfg.Log.Info().Str("id", r.job.ID).Str("pod", r.name).Msg("adopting the attempt's existing pod")
	case err != nil:
		return fmt.Errorf("kubernetes executor: create pod %s: %w", r.name, err)
	}
	e.cfg.Metrics.created()
	e.event(r, "pod "+r.name+" created")
	e.queue.Add(r.name) // the informer may have seen it before r.created
	return nil
}

// admit creates held pods while there is room for them.
func (e *Executor) admit() {
	for {
		e.mu.Lock()
		if len(e.held) == 0 || (e.cfg.MaxPending > 0 && e.unboundLocked() >= e.cfg.MaxPending) {
			e.mu.Unlock()
			return
		}
		r := e.held[0]
		e.held = e.held[1:]
		r.held = false
		r.created, r.createdAt = true, time.Now()
		stopping := r.stopping
		e.mu.Unlock()
		if stopping {
			continue
		}
		if err := e.create(e.ctx, r); err != nil {
			e.cfg.Log.Error().Err(err).Str("pod", r.name).Msg("create held pod")
			e.mu.Lock()
			delete(e.runs, r.name)
			e.mu.Unlock()
			e.finish(r, err, "")
		}
	}
}

// work handles one pod key; false once the queue is shut down.
func (e *Executor) work() bool {
	name, quit := e.queue.Get()
	if quit {
		return false
	}
	defer e.queue.Done(name)
	if err := e.sync(name); err != nil {
		e.cfg.Log.Warn().Err(err).Str("pod", name).Msg("sync pod: retrying")
		e.queue.AddRateLimited(name)
		return true
	}
	e.queue.Forget(name)
	e.admit()
	return true
}

// sync brings one pod's attempt up to date with the pod as the informer
// last saw it.
func (e *Executor) sync(name string) error {
	ctx := e.ctx
	now := time.Now()
	e.mu.Lock()
	r := e.runs[name]
	e.mu.Unlock()
	pod, err := e.lister.Pods(e.cfg.Namespace).Get(name)
	if apierrors.IsNotFound(err) {
		e.mu.Lock()
		delete(e.deleted, name)
		e.mu.Unlock()
		if r == nil {
			return nil
		}
		e.mu.Lock()
		seen, stopping := r.seen, r.stopping
		if r.finished || seen {
			delete(e.runs, name)
		}
		e.mu.Unlock()
		if !seen {
			return nil // held, or created but not yet in the cache
		}
		why := fmt.Errorf("%w: pod %s was deleted from outside the controller", ErrInfra, name)
		if stopping {
			why = fmt.Errorf("%w: pod %s stopped by the controller", ErrInfra, name)
		}
		e.finish(r, why, "deleted")
		return nil
	}
	if err != nil {
		return fmt.Errorf("get pod %s from cache: %w", name, err)
	}
	terminal := pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed
	if pod.DeletionTimestamp != nil && !terminal {
		// Being deleted: its runner has its grace to publish a result, so
		// the attempt ends when the pod is gone. A pod whose node is gone
		// never goes by itself.
		if r != nil {
			e.event(r, "pod "+name+" terminating")
		}
		if left := time.Until(pod.DeletionTimestamp.Time) + 5*time.Second; left > 0 {
			e.queue.AddAfter(name, left)
			return nil
		}
		return e.delete(ctx, pod, 0)
	}
	since := time.Time{}
	if c := unschedulable(pod); c != nil {
		since = c.LastTransitionTime.Time
		if since.IsZero() || since.After(now) {
			since = now
		}
	}
	v := classify(pod, now, since, e.cfg.PendingTimeout)
	if r == nil {
		// A pod of a controller before a restart, or of an attempt whose
		// run has ended: deleted once it ends.
		if v.ended {
			e.cfg.Log.Info().Str("pod", name).Str("phase", v.phase).Msg("deleting a pod left from before")
			e.deleteLater(pod, 0)
			return nil
		}
		if v.recheck > 0 {
			e.queue.AddAfter(name, v.recheck)
		}
		return nil
	}
	e.mu.Lock()
	r.seen = true
	if pod.Spec.NodeName != "" && !r.bound {
		r.bound = true
		e.cfg.Metrics.scheduled(r.job.Request.Device, now.Sub(r.createdAt))
	}
	r.running = pod.Status.Phase == corev1.PodRunning
	if r.running && r.runningAt.IsZero() {
		r.runningAt = now
	}
	changed := v.phase != r.phase
	r.phase = v.phase
	e.mu.Unlock()
	if changed {
		e.event(r, "pod "+name+": "+v.phase)
	}
	if !v.ended {
		if v.recheck > 0 {
			e.queue.AddAfter(name, v.recheck)
		}
		return nil
	}
	result := "error"
	if v.err == nil {
		result = exitResult(pod)
	}
	grace := int64(0)
	if pod.Status.Phase == corev1.PodRunning {
		grace = int64(e.cfg.StopGrace.Seconds())
	}
	// The runner published its result and logs before its container
	// ended: the attempt is over now, and its pod goes after. A pod a
	// stopping controller did not get to delete is deleted by the next
	// one's Sync, as a pod left from before.
	e.finish(r, v.err, result)
	e.deleteLater(pod, grace)
	return nil
}

// Wait waits, once Sync's context has ended, for the pods of ended
// attempts to be deleted (each delete is tried once more at most), so
// that a controller that stops leaves none behind; or until ctx ends.
func (e *Executor) Wait(ctx context.Context) error {
	select {
	case <-e.drained:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("kubernetes executor: pods of ended attempts not all deleted: %w", ctx.Err())
	}
}

// deleteWorkers delete ended pods side by side; the client's rate limit
// is what bounds them.
const deleteWorkers = 4

// deletion is an ended pod to delete: that pod, not a newer one of the
// same name.
type deletion struct {
	name  string
	uid   types.UID
	grace int64
}

func (e *Executor) deleteLater(pod *corev1.Pod, grace int64) {
	if pod.DeletionTimestamp != nil && grace > 0 {
		return // already going, as asked
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.deleted[pod.Name] == pod.UID {
		return // the pod's later updates ask again
	}
	e.deleted[pod.Name] = pod.UID
	e.deletes.Add(deletion{name: pod.Name, uid: pod.UID, grace: grace})
}

// deleteOne deletes one queued pod, retrying it later on failure; false
// once the queue is shut down.
func (e *Executor) deleteOne() bool {
	d, quit := e.deletes.Get()
	if quit {
		return false
	}
	defer e.deletes.Done(d)
	// Not canceled with the executor: Wait lets the last deletes finish.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(e.ctx), 10*time.Second)
	defer cancel()
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: d.name, Namespace: e.cfg.Namespace, UID: d.uid}}
	if err := e.delete(ctx, pod, d.grace); err != nil {
		e.cfg.Log.Warn().Err(err).Str("pod", d.name).Msg("delete ended pod: retrying")
		e.deletes.AddRateLimited(d)
		return true
	}
	e.deletes.Forget(d)
	return true
}

// exitResult names the runner's verdict by its exit status.
func exitResult(p *corev1.Pod) string {
	if cs := runnerStatus(p); cs != nil && cs.State.Terminated != nil {
		switch cs.State.Terminated.ExitCode {
		case 0:
			return "pass"
		case 1:
			return "fail"
		}
	}
	return "error"
}

// delete deletes a pod, the one the cache saw and no newer one of the
// same name.
func (e *Executor) delete(ctx context.Context, pod *corev1.Pod, grace int64) error {
	uid := pod.UID
	err := e.cfg.Client.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{
		GracePeriodSeconds: &grace,
		Preconditions:      &metav1.Preconditions{UID: &uid},
	})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		return fmt.Errorf("delete pod %s: %w", pod.Name, err)
	}
	return nil
}

// finish ends a run once.
func (e *Executor) finish(r *run, err error, result string) {
	e.mu.Lock()
	if r.finished {
		e.mu.Unlock()
		return
	}
	r.finished = true
	r.err = err
	if err != nil {
		result = "error"
	}
	start := r.runningAt
	e.mu.Unlock()
	if err != nil {
		e.cfg.Log.Warn().Err(err).Str("id", r.job.ID).Str("pod", r.name).Msg("attempt ended without its runner")
		e.event(r, err.Error())
	}
	if result != "" {
		e.cfg.Metrics.ended(r.job.Request.Device, result, start)
	}
	close(r.done)
}

// beat stands in for the heartbeats of runners whose pods wait, for up to
// the pending timeout: past it, or once the pod runs, the controller's own
// heartbeat check applies.
func (e *Executor) beat(ctx context.Context) {
	if e.cfg.Beat == nil {
		return
	}
	t := time.NewTicker(beatInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		var ids []string
		now := time.Now()
		e.mu.Lock()
		for _, r := range e.runs {
			if r.finished || r.running {
				continue
			}
			if r.held || now.Sub(r.createdAt) < e.cfg.PendingTimeout+beatInterval {
				ids = append(ids, r.job.ID)
			}
		}
		e.mu.Unlock()
		for _, id := range ids {
			e.cfg.Beat(id)
		}
	}
}

// event reports a pod change in order, without holding up the worker.
func (e *Executor) event(r *run, msg string) {
	if e.cfg.Event == nil {
		return
	}
	id, n := r.job.ID, r.job.Attempt
	select {
	case e.events <- func() { e.cfg.Event(id, n, msg) }:
	default: // a slow NATS costs the live stream an event, not a boot
	}
}

// Pending and Running count the executor's pods by phase.
func (e *Executor) counts() (held, pending, running int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, r := range e.runs {
		switch {
		case r.finished:
		case r.held:
			held++
		case r.running:
			running++
		case r.created:
			pending++
		}
	}
	return
}

type run struct {
	e    *Executor
	name string
	job  executor.Job
	done chan struct{}

	// Guarded by e.mu.
	queued, createdAt, runningAt time.Time
	held, created, seen          bool
	bound, running               bool
	stopping, finished           bool
	phase                        string
	err                          error
}

func (r *run) Done() <-chan struct{} { return r.done }

func (r *run) Err() error {
	r.e.mu.Lock()
	defer r.e.mu.Unlock()
	return r.err
}

func (r *run) ended() bool { return r.finished }

// Stop deletes the pod with the given grace: the kubelet sends the runner
// SIGTERM, and the attempt ends when the pod is gone.
func (r *run) Stop(grace time.Duration) {
	e := r.e
	e.mu.Lock()
	if r.stopping || r.finished {
		e.mu.Unlock()
		return
	}
	r.stopping = true
	held := r.held
	e.mu.Unlock()
	if held {
		e.mu.Lock()
		delete(e.runs, r.name)
		e.mu.Unlock()
		e.finish(r, fmt.Errorf("%w: stopped before its pod was created", ErrInfra), "")
		return
	}
	go func() {
		g := int64(grace.Seconds())
		ctx, cancel := context.WithTimeout(context.WithoutCancel(e.ctx), 30*time.Second)
		defer cancel()
		err := e.cfg.Client.CoreV1().Pods(e.cfg.Namespace).Delete(ctx, r.name, metav1.DeleteOptions{GracePeriodSeconds: &g})
		if err != nil && !apierrors.IsNotFound(err) {
			e.cfg.Log.Warn().Err(err).Str("pod", r.name).Msg("stop: delete pod")
		}
		e.queue.Add(r.name)
	}()
}
