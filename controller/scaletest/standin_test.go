package scaletest

import (
	"bytes"
	"context"
	"encoding/json"
	"strconv"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/retry"

	kube "github.com/tuxboot/tuxboot/controller/executor/kubernetes"
	"github.com/tuxboot/tuxboot/controller/queue"
	"github.com/tuxboot/tuxboot/runner/boot"
	"github.com/tuxboot/tuxboot/runner/console"
)

// standIn plays `tuxboot runner` in every pod kwok runs: heartbeats, the
// console streamed through the real analyser as live log chunks and
// events, console.log and results.json stored, the result published, and
// the container's exit, as the kubelet would report it. It boots nothing.
type standIn struct {
	q        *queue.Queue
	client   kubernetes.Interface
	bootTime time.Duration
	console  []byte
	// started is called when a pod's runner starts.
	started func(p *corev1.Pod, id string, attempt int)
	logf    func(format string, args ...any)

	mu     sync.Mutex
	active map[types.UID]context.CancelFunc
	done   map[types.UID]bool
	runs   map[string]int // runner starts by boot ID
	failed int            // runners that could not publish their outcome
	wg     sync.WaitGroup
}

// observe starts or stops the runner of a pod as kwok moves it.
func (s *standIn) observe(ctx context.Context, p *corev1.Pod) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if cancel := s.active[p.UID]; cancel != nil {
		if p.DeletionTimestamp != nil {
			cancel() // the container is killed: its runner says nothing more
		}
		return
	}
	if s.done[p.UID] || p.Status.Phase != corev1.PodRunning || p.DeletionTimestamp != nil {
		return
	}
	id := p.Annotations[kube.AnnotationID]
	attempt, err := strconv.Atoi(p.Labels[kube.LabelAttempt])
	if id == "" || err != nil {
		return
	}
	rctx, cancel := context.WithCancel(ctx)
	s.active[p.UID] = cancel
	s.runs[id]++
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer cancel()
		code := s.run(rctx, p, id, attempt)
		s.mu.Lock()
		delete(s.active, p.UID)
		s.done[p.UID] = true
		s.mu.Unlock()
		if code >= 0 {
			s.exit(ctx, p, code)
		}
	}()
	if s.started != nil {
		s.started(p, id, attempt)
	}
}

// gone stops the runner of a pod that was deleted.
func (s *standIn) gone(p *corev1.Pod) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if cancel := s.active[p.UID]; cancel != nil {
		cancel()
	}
}

// wait waits for every runner to end.
func (s *standIn) wait() { s.wg.Wait() }

// run is one runner: it returns the container's exit status, or -1 when
// it was killed.
func (s *standIn) run(ctx context.Context, p *corev1.Pod, id string, attempt int) int {
	var req boot.Request
	for _, e := range p.Spec.Containers[0].Env {
		if e.Name == kube.EnvRequest {
			json.Unmarshal([]byte(e.Value), &req)
		}
	}
	start := time.Now()
	beats, stopBeats := context.WithCancel(ctx)
	defer stopBeats()
	go func() {
		t := time.NewTicker(2 * time.Second)
		defer t.Stop()
		for {
			s.q.NC.Publish(queue.HeartbeatSubject(id), []byte(strconv.Itoa(attempt)))
			select {
			case <-beats.Done():
				return
			case <-t.C:
			}
		}
	}()

	pub := s.q.Publisher(id, attempt, queue.SourceRunner)
	live, events := pub.LogWriter(), pub.EventQueue()
	res := &boot.Result{APIVersion: boot.APIVersion, ID: id, Attempt: attempt, Device: req.Device,
		Milestones: []boot.Milestone{}, Crashes: []boot.Crash{}, Tests: []boot.Test{}, Artefacts: map[string]boot.Artefact{}}
	analyzer := console.New(console.Options{OnEvent: func(ev console.Event) {
		out := boot.Event{AtMS: time.Since(start).Milliseconds()}
		switch ev.Kind {
		case console.EventMilestone:
			ms := boot.Milestone{Name: ev.Milestone, AtMS: out.AtMS, Line: ev.Line}
			res.Milestones = append(res.Milestones, ms)
			out.Type, out.Milestone = boot.EventMilestone, &ms
		case console.EventTest:
			out.Type, out.Test = boot.EventTest, ev.Test
		default:
			return
		}
		events.Send(out)
	}})
	events.Send(boot.Event{Type: boot.EventState, State: "running", AtMS: 0})

	// The console comes out over the boot time, a line at a time.
	lines := bytes.SplitAfter(s.console, []byte("\n"))
	pace := s.bootTime / time.Duration(max(len(lines), 1))
	tick := time.NewTicker(max(pace, time.Millisecond))
	defer tick.Stop()
	for _, l := range lines {
		select {
		case <-ctx.Done():
			live.Close(context.Background())
			events.Close(context.Background())
			return -1
		case <-tick.C:
		}
		live.Write(l)
		analyzer.Write(l)
	}
	analyzer.Close()
	sum := analyzer.Summary()
	res.Result = boot.Pass
	if !sum.BootOK() || sum.Failure != nil {
		res.Result, res.Failure = boot.Fail, sum.Failure
	}
	res.Tests = append(res.Tests, sum.Tests...)
	res.Kernel.Version = sum.KernelVersion
	res.LogBytes, res.DurationMS = int64(len(s.console)), time.Since(start).Milliseconds()

	// As the runner: the live streams get half the grace, the outcome the rest.
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	sctx, scancel := context.WithTimeout(pctx, 15*time.Second)
	live.Close(sctx)
	events.Close(sctx)
	scancel()
	if err := s.q.PublishOutcome(pctx, pub, res, bytes.NewReader(s.console)); err != nil {
		s.mu.Lock()
		s.failed++
		s.mu.Unlock()
		return 3
	}
	if res.Result != boot.Pass {
		return 1
	}
	return 0
}

// exit reports the runner container terminated, as the kubelet does.
func (s *standIn) exit(ctx context.Context, p *corev1.Pod, code int) {
	err := retry.RetryOnConflict(retry.DefaultBackoff, func() error {
		cur, err := s.client.CoreV1().Pods(p.Namespace).Get(ctx, p.Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if cur.UID != p.UID || cur.DeletionTimestamp != nil {
			return nil
		}
		now := metav1.Now()
		cur.Status.Phase = corev1.PodSucceeded
		if code != 0 {
			cur.Status.Phase = corev1.PodFailed
		}
		for i := range cur.Status.ContainerStatuses {
			cs := &cur.Status.ContainerStatuses[i]
			started := now
			if cs.State.Running != nil {
				started = cs.State.Running.StartedAt
			}
			cs.Ready = false
			cs.State = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
				ExitCode: int32(code), Reason: map[bool]string{true: "Completed", false: "Error"}[code == 0],
				StartedAt: started, FinishedAt: now}}
		}
		for i := range cur.Status.Conditions {
			if cur.Status.Conditions[i].Type == corev1.PodReady || cur.Status.Conditions[i].Type == corev1.ContainersReady {
				cur.Status.Conditions[i].Status = corev1.ConditionFalse
			}
		}
		_, err = s.client.CoreV1().Pods(p.Namespace).UpdateStatus(ctx, cur, metav1.UpdateOptions{})
		return err
	})
	if err != nil && ctx.Err() == nil {
		s.logf("pod %s: report its exit: %v", p.Name, err)
	}
}
