package kubetest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/retry"
)

// CreateNode creates a Ready node object with room for many runners.
func CreateNode(ctx context.Context, t testing.TB, cs kubernetes.Interface, name string) {
	t.Helper()
	room := corev1.ResourceList{
		corev1.ResourceCPU: resource.MustParse("64"), corev1.ResourceMemory: resource.MustParse("256Gi"),
		corev1.ResourcePods: resource.MustParse("110"), corev1.ResourceEphemeralStorage: resource.MustParse("1Ti"),
	}
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}, Status: corev1.NodeStatus{
		Capacity: room, Allocatable: room,
		Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady",
			LastHeartbeatTime: metav1.Now(), LastTransitionTime: metav1.Now()}},
	}}
	created, err := cs.CoreV1().Nodes().Create(ctx, n, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create node %s: %v", name, err)
	}
	created.Status = n.Status
	if _, err := cs.CoreV1().Nodes().UpdateStatus(ctx, created, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("node %s status: %v", name, err)
	}
}

// Bind binds a pod to a node, as the scheduler does.
func Bind(ctx context.Context, cs kubernetes.Interface, ns, pod, node string) error {
	return cs.CoreV1().Pods(ns).Bind(ctx, &corev1.Binding{
		ObjectMeta: metav1.ObjectMeta{Name: pod, Namespace: ns},
		Target:     corev1.ObjectReference{Kind: "Node", Name: node},
	}, metav1.CreateOptions{})
}

// SetStatus changes a pod's status through the pods/status subresource,
// as the kubelet or the scheduler does.
func SetStatus(ctx context.Context, cs kubernetes.Interface, ns, pod string, change func(*corev1.PodStatus)) error {
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		p, err := cs.CoreV1().Pods(ns).Get(ctx, pod, metav1.GetOptions{})
		if err != nil {
			return err
		}
		change(&p.Status)
		_, err = cs.CoreV1().Pods(ns).UpdateStatus(ctx, p, metav1.UpdateOptions{})
		return err
	})
}

// MarkUnschedulable sets the scheduler's PodScheduled=False condition.
func MarkUnschedulable(ctx context.Context, cs kubernetes.Interface, ns, pod string, since time.Time) error {
	return SetStatus(ctx, cs, ns, pod, func(s *corev1.PodStatus) {
		s.Conditions = append(s.Conditions, corev1.PodCondition{Type: corev1.PodScheduled, Status: corev1.ConditionFalse,
			Reason: corev1.PodReasonUnschedulable, Message: "0/1 nodes are available: 1 Insufficient devices.kubevirt.io/kvm.",
			LastTransitionTime: metav1.NewTime(since)})
	})
}

// Kubelet plays the scheduler and the kubelet of one node for a test. It
// binds every pending pod of its namespace to its node when Schedule is
// set, runs a bound pod's own command as a local process when Exec is set
// (its volume mounts become directories of the test's), reports the
// process's end in the pod's status as the kubelet does, and finishes the
// graceful deletion of its pods: SIGTERM, the grace period, SIGKILL, then
// the final delete.
type Kubelet struct {
	Client    kubernetes.Interface
	Namespace string
	Node      string
	Schedule  bool
	Exec      bool
	// Env is added to every process's environment (PATH to the tuxboot
	// binary, say).
	Env []string

	t     testing.TB
	dir   string
	mu    sync.Mutex
	procs map[types.UID]*exec.Cmd
	seen  map[types.UID]bool
	n     int
	wg    sync.WaitGroup
}

// Run starts the kubelet; it stops, killing what it runs, when the test
// ends.
func (k *Kubelet) Run(ctx context.Context, t testing.TB) {
	t.Helper()
	// Short paths: QEMU's sockets live under the scratch volume, and a
	// unix socket path has room for 107 bytes only.
	dir, err := os.MkdirTemp("", "kl")
	if err != nil {
		t.Fatal(err)
	}
	k.t, k.dir = t, dir
	k.procs, k.seen = map[types.UID]*exec.Cmd{}, map[types.UID]bool{}
	ctx, cancel := context.WithCancel(ctx)
	factory := informers.NewSharedInformerFactoryWithOptions(k.Client, 0, informers.WithNamespace(k.Namespace))
	inf := factory.Core().V1().Pods().Informer()
	handle := func(obj any) {
		if p, ok := obj.(*corev1.Pod); ok {
			k.wg.Add(1)
			go func() { defer k.wg.Done(); k.handle(ctx, p) }()
		}
	}
	inf.AddEventHandler(cache.ResourceEventHandlerFuncs{AddFunc: handle, UpdateFunc: func(_, o any) { handle(o) }})
	factory.Start(ctx.Done())
	cache.WaitForCacheSync(ctx.Done(), inf.HasSynced)
	t.Cleanup(func() {
		cancel()
		k.mu.Lock()
		for _, c := range k.procs {
			syscall.Kill(-c.Process.Pid, syscall.SIGKILL)
		}
		k.mu.Unlock()
		k.wg.Wait()
		factory.Shutdown()
		os.RemoveAll(dir)
	})
}

func (k *Kubelet) handle(ctx context.Context, p *corev1.Pod) {
	cs := k.Client.CoreV1().Pods(p.Namespace)
	if p.DeletionTimestamp != nil {
		if p.Spec.NodeName != k.Node {
			return
		}
		k.mu.Lock()
		cmd := k.procs[p.UID]
		k.mu.Unlock()
		if cmd != nil {
			syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
			for k.running(p.UID) && time.Now().Before(p.DeletionTimestamp.Time) && ctx.Err() == nil {
				time.Sleep(100 * time.Millisecond)
			}
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			for end := time.Now().Add(5 * time.Second); k.running(p.UID) && time.Now().Before(end); {
				time.Sleep(50 * time.Millisecond)
			}
		}
		zero := int64(0)
		uid := p.UID
		cs.Delete(ctx, p.Name, metav1.DeleteOptions{GracePeriodSeconds: &zero, Preconditions: &metav1.Preconditions{UID: &uid}})
		return
	}
	if p.Spec.NodeName == "" {
		if k.Schedule {
			Bind(ctx, k.Client, p.Namespace, p.Name, k.Node)
		}
		return
	}
	if p.Spec.NodeName != k.Node || !k.Exec || p.Status.Phase != corev1.PodPending {
		return
	}
	k.mu.Lock()
	if k.seen[p.UID] {
		k.mu.Unlock()
		return
	}
	k.seen[p.UID] = true
	k.mu.Unlock()
	k.exec(ctx, p)
}

func (k *Kubelet) running(uid types.UID) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.procs[uid] != nil
}

// exec runs the pod's one container as a process.
func (k *Kubelet) exec(ctx context.Context, p *corev1.Pod) {
	c := p.Spec.Containers[0]
	k.mu.Lock()
	k.n++
	podDir := filepath.Join(k.dir, fmt.Sprint(k.n))
	k.mu.Unlock()
	var mounts []string // mount path, host dir pairs for strings.NewReplacer
	for _, m := range c.VolumeMounts {
		host := filepath.Join(podDir, m.Name)
		os.MkdirAll(host, 0o755)
		mounts = append(mounts, m.MountPath, host)
	}
	rep := strings.NewReplacer(mounts...)
	argv := append(append([]string{}, c.Command...), c.Args...)
	for i := range argv {
		argv[i] = rep.Replace(argv[i])
	}
	env := append(os.Environ(), k.Env...)
	for _, e := range c.Env {
		env = append(env, e.Name+"="+rep.Replace(e.Value))
	}
	path, err := lookPath(argv[0], env)
	status := func(change func(*corev1.PodStatus)) {
		if err := SetStatus(ctx, k.Client, p.Namespace, p.Name, change); err != nil && !apierrors.IsNotFound(err) && ctx.Err() == nil {
			k.t.Logf("kubelet: status of %s: %v", p.Name, err)
		}
	}
	if err != nil {
		status(func(s *corev1.PodStatus) {
			s.ContainerStatuses = []corev1.ContainerStatus{{Name: c.Name, Image: c.Image,
				State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "RunContainerError", Message: err.Error()}}}}
		})
		return
	}
	out, _ := os.Create(filepath.Join(podDir, "container.log"))
	cmd := exec.Command(path, argv[1:]...)
	cmd.Env, cmd.Stdout, cmd.Stderr = env, out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		out.Close()
		k.t.Logf("kubelet: start %s: %v", p.Name, err)
		return
	}
	k.mu.Lock()
	k.procs[p.UID] = cmd
	k.mu.Unlock()
	started := metav1.Now()
	status(func(s *corev1.PodStatus) {
		s.Phase = corev1.PodRunning
		s.StartTime = &started
		s.ContainerStatuses = []corev1.ContainerStatus{{Name: c.Name, Image: c.Image, Ready: true, Started: ptr(true),
			State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: started}}}}
	})
	err = cmd.Wait()
	syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // QEMU outliving its runner
	out.Close()
	k.mu.Lock()
	delete(k.procs, p.UID)
	k.mu.Unlock()
	code := int32(0)
	if cmd.ProcessState != nil {
		code = int32(cmd.ProcessState.ExitCode())
		if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			code = 128 + int32(ws.Signal())
		}
	}
	if b, rerr := os.ReadFile(out.Name()); rerr == nil && (err != nil || testing.Verbose()) {
		k.t.Logf("kubelet: %s exited %d; its output:\n%s", p.Name, code, tail(string(b), 40))
	}
	phase, reason := corev1.PodSucceeded, "Completed"
	if code != 0 {
		phase, reason = corev1.PodFailed, "Error"
	}
	status(func(s *corev1.PodStatus) {
		s.Phase = phase
		s.ContainerStatuses = []corev1.ContainerStatus{{Name: c.Name, Image: c.Image,
			State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: code, Reason: reason,
				StartedAt: started, FinishedAt: metav1.Now()}}}}
	})
}

func tail(s string, n int) string {
	lines := strings.Split(s, "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// lookPath finds a command in the PATH of the process's environment.
func lookPath(name string, env []string) (string, error) {
	if strings.Contains(name, "/") {
		return name, nil
	}
	path := ""
	for _, e := range env {
		if v, ok := strings.CutPrefix(e, "PATH="); ok {
			path = v // the last one wins, as in exec
		}
	}
	for _, d := range filepath.SplitList(path) {
		p := filepath.Join(d, name)
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s: executable file not found in $PATH", name)
}

func ptr[T any](v T) *T { return &v }
