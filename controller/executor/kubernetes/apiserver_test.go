package kubernetes_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/tuxboot/tuxboot/controller/executor"
	kube "github.com/tuxboot/tuxboot/controller/executor/kubernetes"
	"github.com/tuxboot/tuxboot/controller/executor/kubernetes/kubetest"
	"github.com/tuxboot/tuxboot/runner/boot"
)

// newNamespace creates a namespace and the runners' service account in
// it, as the manifests do.
func newNamespace(ctx context.Context, t *testing.T, cs kubernetes.Interface, name string) string {
	t.Helper()
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.CoreV1().ServiceAccounts(name).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: kube.DefaultServiceAccount}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	return name
}

// events collects the executor's boot events.
type events struct {
	mu  sync.Mutex
	got []string
}

func (ev *events) add(id string, attempt int, msg string) {
	ev.mu.Lock()
	ev.got = append(ev.got, fmt.Sprintf("%s/%d %s", id, attempt, msg))
	ev.mu.Unlock()
}

func (ev *events) has(s string) bool {
	ev.mu.Lock()
	defer ev.mu.Unlock()
	for _, g := range ev.got {
		if strings.Contains(g, s) {
			return true
		}
	}
	return false
}

func startExecutor(ctx context.Context, t *testing.T, cs kubernetes.Interface, ns string, change func(*kube.Config)) (*kube.Executor, *events) {
	t.Helper()
	ev := &events{}
	cfg := kube.Config{Client: cs, Namespace: ns, Image: "tuxboot-runner:test", NATSURL: "nats://nats:4222",
		PendingTimeout: 3 * time.Second, StopGrace: 2 * time.Second, Event: ev.add, Log: zerolog.New(zerolog.NewTestWriter(t))}
	if change != nil {
		change(&cfg)
	}
	e, err := kube.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(ctx)
	t.Cleanup(cancel)
	if err := e.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	return e, ev
}

func job(id string, attempt int) executor.Job {
	return executor.Job{ID: id, Attempt: attempt, Request: boot.Request{APIVersion: boot.APIVersion, Device: "qemu-arm64", Kernel: "http://example.invalid/Image"}}
}

// waitPod waits for a pod to exist.
func waitPod(ctx context.Context, t *testing.T, cs kubernetes.Interface, ns, name string) *corev1.Pod {
	t.Helper()
	for {
		p, err := cs.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
		if err == nil {
			return p
		}
		if ctx.Err() != nil {
			t.Fatalf("pod %s never appeared: %v", name, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitDone waits for a run to end.
func waitDone(t *testing.T, r executor.Run, within time.Duration) error {
	t.Helper()
	select {
	case <-r.Done():
		return r.Err()
	case <-time.After(within):
		t.Fatalf("run did not end within %s", within)
		return nil
	}
}

// noPodsLeft checks that nothing is left behind in the namespace.
func noPodsLeft(ctx context.Context, t *testing.T, cs kubernetes.Interface, ns string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		l, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
		if err == nil && len(l.Items) == 0 {
			return
		}
		if time.Now().After(deadline) {
			var names []string
			if l != nil {
				for _, p := range l.Items {
					names = append(names, p.Name+" "+string(p.Status.Phase))
				}
			}
			t.Fatalf("pods left behind in %s: %v %v", ns, names, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func terminated(code int32, reason string) func(*corev1.PodStatus) {
	return func(s *corev1.PodStatus) {
		s.Phase = corev1.PodSucceeded
		if code != 0 {
			s.Phase = corev1.PodFailed
		}
		s.ContainerStatuses = []corev1.ContainerStatus{{Name: kube.ContainerName, Image: "tuxboot-runner:test", State: corev1.ContainerState{
			Terminated: &corev1.ContainerStateTerminated{ExitCode: code, Reason: reason, FinishedAt: metav1.Now()}}}}
	}
}

func running(s *corev1.PodStatus) {
	now := metav1.Now()
	s.Phase = corev1.PodRunning
	s.StartTime = &now
	s.ContainerStatuses = []corev1.ContainerStatus{{Name: kube.ContainerName, Image: "tuxboot-runner:test", Ready: true, State: corev1.ContainerState{
		Running: &corev1.ContainerStateRunning{StartedAt: now}}}}
}

// TestExecutorAgainstAPIServer drives the executor through a real
// kube-apiserver, playing the scheduler and kubelet through the API, and
// provokes every failure mode for real.
func TestExecutorAgainstAPIServer(t *testing.T) {
	c := kubetest.Start(t)
	cs := c.Client
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	kubetest.CreateNode(ctx, t, cs, "node-1")

	// Each case starts a pod, does to it what a cluster might, and says
	// how the attempt must end: nil for a runner that ran to its end
	// (its verdict, published to NATS, is never retried), ErrInfra for
	// what the controller retries.
	tests := []struct {
		name    string
		provoke func(ctx context.Context, ns, pod string) error
		infra   bool
		says    string
		event   string
	}{
		{"passed", func(ctx context.Context, ns, pod string) error {
			if err := kubetest.Bind(ctx, cs, ns, pod, "node-1"); err != nil {
				return err
			}
			if err := kubetest.SetStatus(ctx, cs, ns, pod, running); err != nil {
				return err
			}
			time.Sleep(300 * time.Millisecond)
			return kubetest.SetStatus(ctx, cs, ns, pod, terminated(0, "Completed"))
		}, false, "", "running"},
		{"kernel failure is a verdict", func(ctx context.Context, ns, pod string) error {
			kubetest.Bind(ctx, cs, ns, pod, "node-1")
			return kubetest.SetStatus(ctx, cs, ns, pod, terminated(1, "Error"))
		}, false, "", "failed: exit 1"},
		{"oom killed", func(ctx context.Context, ns, pod string) error {
			kubetest.Bind(ctx, cs, ns, pod, "node-1")
			kubetest.SetStatus(ctx, cs, ns, pod, running)
			return kubetest.SetStatus(ctx, cs, ns, pod, terminated(137, "OOMKilled"))
		}, true, "OOMKilled", "OOMKilled"},
		{"evicted", func(ctx context.Context, ns, pod string) error {
			kubetest.Bind(ctx, cs, ns, pod, "node-1")
			return kubetest.SetStatus(ctx, cs, ns, pod, func(s *corev1.PodStatus) {
				s.Phase, s.Reason, s.Message = corev1.PodFailed, "Evicted", "The node was low on resource: ephemeral-storage."
			})
		}, true, "Evicted", "Evicted"},
		{"image pull error", func(ctx context.Context, ns, pod string) error {
			kubetest.Bind(ctx, cs, ns, pod, "node-1")
			return kubetest.SetStatus(ctx, cs, ns, pod, func(s *corev1.PodStatus) {
				s.ContainerStatuses = []corev1.ContainerStatus{{Name: kube.ContainerName, Image: "tuxboot-runner:test", State: corev1.ContainerState{
					Waiting: &corev1.ContainerStateWaiting{Reason: "ErrImagePull", Message: "pull access denied"}}}}
			})
		}, true, "ErrImagePull", "ErrImagePull"},
		{"unschedulable past the pending timeout", func(ctx context.Context, ns, pod string) error {
			return kubetest.MarkUnschedulable(ctx, cs, ns, pod, time.Now())
		}, true, "unschedulable for", "unschedulable"},
		{"node lost", func(ctx context.Context, ns, pod string) error {
			kubetest.Bind(ctx, cs, ns, pod, "node-1")
			kubetest.SetStatus(ctx, cs, ns, pod, running)
			return kubetest.SetStatus(ctx, cs, ns, pod, func(s *corev1.PodStatus) {
				s.Conditions = append(s.Conditions, corev1.PodCondition{Type: corev1.DisruptionTarget, Status: corev1.ConditionTrue,
					Reason: "DeletionByTaintManager", Message: "Taint manager: deleting due to NoExecute taint", LastTransitionTime: metav1.Now()})
			})
		}, true, "disrupted", "DeletionByTaintManager"},
		{"deadline exceeded without a result", func(ctx context.Context, ns, pod string) error {
			kubetest.Bind(ctx, cs, ns, pod, "node-1")
			kubetest.SetStatus(ctx, cs, ns, pod, running)
			return kubetest.SetStatus(ctx, cs, ns, pod, func(s *corev1.PodStatus) {
				s.Phase, s.Reason, s.Message = corev1.PodFailed, "DeadlineExceeded", "Pod was active on the node longer than the specified deadline"
			})
		}, true, "active deadline", "DeadlineExceeded"},
		{"deleted from outside", func(ctx context.Context, ns, pod string) error {
			kubetest.Bind(ctx, cs, ns, pod, "node-1")
			kubetest.SetStatus(ctx, cs, ns, pod, running)
			time.Sleep(300 * time.Millisecond)
			return cs.CoreV1().Pods(ns).Delete(ctx, pod, metav1.DeleteOptions{})
		}, true, "deleted from outside", "terminating"},
	}
	// A kubelet for node-1 that only finishes graceful deletions.
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ns := newNamespace(ctx, t, cs, fmt.Sprintf("failure-%d", i))
			(&kubetest.Kubelet{Client: cs, Namespace: ns, Node: "node-1"}).Run(ctx, t)
			e, ev := startExecutor(ctx, t, cs, ns, nil)
			r, err := e.Start(ctx, job("boot"+fmt.Sprint(i), 1))
			if err != nil {
				t.Fatal(err)
			}
			name := kube.PodName("boot"+fmt.Sprint(i), 1)
			waitPod(ctx, t, cs, ns, name)
			if err := tt.provoke(ctx, ns, name); err != nil {
				t.Fatalf("provoke: %v", err)
			}
			err = waitDone(t, r, 30*time.Second)
			if tt.infra != errors.Is(err, kube.ErrInfra) || (err == nil) == tt.infra || (tt.says != "" && !strings.Contains(fmt.Sprint(err), tt.says)) {
				t.Errorf("ended with %v; want infrastructure error %v saying %q", err, tt.infra, tt.says)
			}
			noPodsLeft(ctx, t, cs, ns)
			if !ev.has(tt.event) || !ev.has("created") {
				t.Errorf("events %q lack %q", ev.got, tt.event)
			}
		})
	}

	t.Run("spec as created and redelivery", func(t *testing.T) {
		ns := newNamespace(ctx, t, cs, "spec")
		e, _ := startExecutor(ctx, t, cs, ns, func(c *kube.Config) {
			c.KVMResource = "devices.kubevirt.io/kvm"
			c.KVMNodeSelector = map[string]string{"tuxboot.dev/kvm": "true"}
		})
		j := job("spec-1", 2)
		j.Request.Device, j.Request.Accel = "qemu-x86_64", "kvm"
		r1, err := e.Start(ctx, j)
		if err != nil {
			t.Fatal(err)
		}
		p := waitPod(ctx, t, cs, ns, "tuxboot-spec-1-2")
		lim := p.Spec.Containers[0].Resources.Limits
		if _, ok := lim["devices.kubevirt.io/kvm"]; !ok || p.Spec.NodeSelector["tuxboot.dev/kvm"] != "true" ||
			p.Labels[kube.LabelDevice] != "qemu-x86_64" || *p.Spec.ActiveDeadlineSeconds <= 0 ||
			!*p.Spec.Containers[0].SecurityContext.ReadOnlyRootFilesystem {
			t.Errorf("pod as stored: %+v", p.Spec)
		}
		// A second controller (after a restart) given the same attempt
		// adopts the pod rather than creating another.
		e2, _ := startExecutor(ctx, t, cs, ns, nil)
		r2, err := e2.Start(ctx, j)
		if err != nil {
			t.Fatal(err)
		}
		l, _ := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
		if len(l.Items) != 1 {
			t.Errorf("%d pods after a redelivery, want 1", len(l.Items))
		}
		r1.Stop(time.Second)
		r2.Stop(time.Second)
		waitDone(t, r1, 30*time.Second)
		waitDone(t, r2, 30*time.Second)
		noPodsLeft(ctx, t, cs, ns)
	})

	t.Run("stop deletes the pod with grace", func(t *testing.T) {
		ns := newNamespace(ctx, t, cs, "stop")
		(&kubetest.Kubelet{Client: cs, Namespace: ns, Node: "node-1"}).Run(ctx, t)
		e, _ := startExecutor(ctx, t, cs, ns, nil)
		r, err := e.Start(ctx, job("stop", 1))
		if err != nil {
			t.Fatal(err)
		}
		name := kube.PodName("stop", 1)
		waitPod(ctx, t, cs, ns, name)
		kubetest.Bind(ctx, cs, ns, name, "node-1")
		kubetest.SetStatus(ctx, cs, ns, name, running)
		time.Sleep(300 * time.Millisecond)
		r.Stop(time.Second)
		if err := waitDone(t, r, 30*time.Second); !errors.Is(err, kube.ErrInfra) {
			t.Errorf("stopped run ended with %v", err)
		}
		noPodsLeft(ctx, t, cs, ns)
	})

	t.Run("max pending holds pods back", func(t *testing.T) {
		ns := newNamespace(ctx, t, cs, "backpressure")
		(&kubetest.Kubelet{Client: cs, Namespace: ns, Node: "node-1"}).Run(ctx, t)
		var beats atomic.Int64
		e, _ := startExecutor(ctx, t, cs, ns, func(c *kube.Config) {
			c.MaxPending = 2
			c.PendingTimeout = time.Minute
			c.Beat = func(string) { beats.Add(1) }
		})
		if err := e.WaitRoom(ctx); err != nil {
			t.Fatalf("WaitRoom with no pods: %v", err)
		}
		var runs []executor.Run
		for i := range 5 {
			r, err := e.Start(ctx, job(fmt.Sprint("bp", i), 1))
			if err != nil {
				t.Fatal(err)
			}
			runs = append(runs, r)
		}
		count := func() int {
			l, _ := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
			return len(l.Items)
		}
		time.Sleep(time.Second)
		if n := count(); n != 2 {
			t.Fatalf("%d pods, want 2 (max pending)", n)
		}
		// With pods waiting for a node, the controller is told not to pull more.
		short, cancelShort := context.WithTimeout(ctx, 300*time.Millisecond)
		err := e.WaitRoom(short)
		cancelShort()
		if err == nil {
			t.Fatal("WaitRoom said there is room while max-pending pods wait for a node")
		}
		// Scheduling one makes room for the next.
		kubetest.Bind(ctx, cs, ns, kube.PodName("bp0", 1), "node-1")
		deadline := time.Now().Add(10 * time.Second)
		for count() != 3 && time.Now().Before(deadline) {
			time.Sleep(100 * time.Millisecond)
		}
		if n := count(); n != 3 {
			t.Fatalf("%d pods after one was scheduled, want 3", n)
		}
		time.Sleep(3 * time.Second)
		if beats.Load() == 0 {
			t.Error("no heartbeats stood in for waiting pods")
		}
		var buf strings.Builder
		e.Metrics().WriteTo(&buf)
		if !strings.Contains(buf.String(), `tuxboot_pods{phase="held"} 2`) || !strings.Contains(buf.String(), "tuxboot_scheduling_latency_seconds_count 1") {
			t.Errorf("metrics:\n%s", buf.String())
		}
		for _, r := range runs {
			r.Stop(time.Second)
		}
		for _, r := range runs {
			waitDone(t, r, 30*time.Second)
		}
		noPodsLeft(ctx, t, cs, ns)
	})

	t.Run("pods from before a restart are adopted or deleted", func(t *testing.T) {
		ns := newNamespace(ctx, t, cs, "restart")
		(&kubetest.Kubelet{Client: cs, Namespace: ns, Node: "node-1"}).Run(ctx, t)
		// A controller creates two pods, then dies.
		ctx1, stop1 := context.WithCancel(ctx)
		e1, _ := startExecutor(ctx1, t, cs, ns, nil)
		for _, id := range []string{"old-done", "old-running"} {
			if _, err := e1.Start(ctx, job(id, 1)); err != nil {
				t.Fatal(err)
			}
			waitPod(ctx, t, cs, ns, kube.PodName(id, 1))
		}
		stop1()
		done, run := kube.PodName("old-done", 1), kube.PodName("old-running", 1)
		kubetest.Bind(ctx, cs, ns, done, "node-1")
		kubetest.SetStatus(ctx, cs, ns, done, terminated(0, "Completed"))
		kubetest.Bind(ctx, cs, ns, run, "node-1")
		kubetest.SetStatus(ctx, cs, ns, run, running)
		time.Sleep(500 * time.Millisecond)
		// Its successor deletes the finished pod at once and lets the
		// running one finish.
		startExecutor(ctx, t, cs, ns, nil)
		deadline := time.Now().Add(10 * time.Second)
		for {
			_, errDone := cs.CoreV1().Pods(ns).Get(ctx, done, metav1.GetOptions{})
			if errDone != nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("the finished pod from before the restart was not deleted")
			}
			time.Sleep(100 * time.Millisecond)
		}
		if _, err := cs.CoreV1().Pods(ns).Get(ctx, run, metav1.GetOptions{}); err != nil {
			t.Fatalf("the running pod from before the restart: %v", err)
		}
		kubetest.SetStatus(ctx, cs, ns, run, terminated(1, "Error"))
		noPodsLeft(ctx, t, cs, ns)
	})
}

// TestLeaderElection runs two replicas on one Lease: only one leads at a
// time, and the other takes over when the leader stops.
func TestLeaderElection(t *testing.T) {
	c := kubetest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ns := newNamespace(ctx, t, c.Client, "election")
	var leading atomic.Int32
	var both atomic.Bool
	led := make(chan string, 4)
	replica := func(ctx context.Context, id string) chan error {
		ch := make(chan error, 1)
		go func() {
			ch <- kube.RunAsLeader(ctx, kube.Election{Client: c.Client, Namespace: ns, Identity: id,
				// Generous renewal, so that a loaded machine does not cost
				// the leader its Lease; hand-over is by release.
				LeaseDuration: 8 * time.Second, RenewDeadline: 6 * time.Second, RetryPeriod: 200 * time.Millisecond,
				Log: zerolog.New(zerolog.NewTestWriter(t))},
				func(ctx context.Context) {
					if leading.Add(1) > 1 {
						both.Store(true)
					}
					led <- id
					<-ctx.Done()
					leading.Add(-1)
				})
		}()
		return ch
	}
	ctxA, stopA := context.WithCancel(ctx)
	ctxB, stopB := context.WithCancel(ctx)
	defer stopB()
	a := replica(ctxA, "replica-a")
	var first string
	select {
	case first = <-led:
	case <-time.After(30 * time.Second):
		t.Fatal("nobody leads")
	}
	b := replica(ctxB, "replica-b")
	select {
	case id := <-led:
		t.Fatalf("%s leads while %s does", id, first)
	case <-time.After(4 * time.Second):
	}
	stopA()
	if err := <-a; err != nil {
		t.Fatal(err)
	}
	select {
	case id := <-led:
		if id != "replica-b" {
			t.Fatalf("%s took over", id)
		}
	case <-time.After(5 * time.Second):
		// Released, not expired: the stand-by takes over within its
		// retry period, long before the lease duration.
		t.Fatal("replica-b did not take over within 5s of the leader's release")
	}
	lease, err := c.Client.CoordinationV1().Leases(ns).Get(ctx, kube.DefaultLeaseName, metav1.GetOptions{})
	if err != nil || *lease.Spec.HolderIdentity != "replica-b" {
		t.Errorf("lease %+v %v", lease, err)
	}
	stopB()
	<-b
	if both.Load() {
		t.Error("two replicas led at once")
	}
}
