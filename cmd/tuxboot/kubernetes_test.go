package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"
	authv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	kube "github.com/tuxboot/tuxboot/controller/executor/kubernetes"
	"github.com/tuxboot/tuxboot/controller/executor/kubernetes/kubetest"
	"github.com/tuxboot/tuxboot/controller/queue"
	"github.com/tuxboot/tuxboot/controller/queue/queuetest"
	"github.com/tuxboot/tuxboot/controller/store"
	"github.com/tuxboot/tuxboot/runner/boot"
)

// syncBuffer is a strings.Builder safe for a process's output and a test.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestControllerKubernetesEndToEnd: a request on NATS, `tuxboot controller
// --executor kubernetes` under the manifests' ServiceAccount token, a real
// kube-apiserver, a node simulated by the test whose pods run their own
// command (`tuxboot runner ...`) as local processes, a real QEMU boot, and
// the result back over NATS.
func TestControllerKubernetesEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("boots QEMU")
	}
	req := realRequest(t, "arm64", "qemu-arm64", "")
	c := kubetest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	kubectl := kubetest.Bin(t, "kubectl")
	for _, args := range [][]string{{"create", "namespace", "tuxboot"}, {"apply", "-k", filepath.Join("..", "..", "manifests", "overlays", "local")}} {
		if out, err := exec.Command(kubectl, append([]string{"--kubeconfig", c.Kubeconfig}, args...)...).CombinedOutput(); err != nil {
			t.Fatalf("kubectl %v: %v\n%s", args, err, out)
		}
	}
	tok, err := c.Client.CoreV1().ServiceAccounts("tuxboot").CreateToken(ctx, "tuxboot-controller",
		&authv1.TokenRequest{Spec: authv1.TokenRequestSpec{}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	saConfig := filepath.Join(t.TempDir(), "controller.kubeconfig")
	if err := os.WriteFile(saConfig, []byte(kubetest.Kubeconfig(c.Host, tok.Status.Token)), 0o600); err != nil {
		t.Fatal(err)
	}

	// The node: `tuxboot` in the pods' command is this test binary.
	bin := t.TempDir()
	if err := os.Symlink(os.Args[0], filepath.Join(bin, "tuxboot")); err != nil {
		t.Fatal(err)
	}
	tag := nuid.Next()
	t.Cleanup(func() { reapTagged(t, tag, 30*time.Second) })
	kubetest.CreateNode(ctx, t, c.Client, "node-1")
	(&kubetest.Kubelet{Client: c.Client, Namespace: "tuxboot", Node: "node-1", Schedule: true, Exec: true,
		Env: []string{"PATH=" + bin + ":" + os.Getenv("PATH"), "TUXBOOT_TEST_MAIN=1", testTagEnv + "=" + tag}}).Run(ctx, t)

	q := queuetest.New(t, queue.Options{})
	natsURL := q.NC.ConnectedUrl()
	start := func(name string) *kubeController {
		return startKubeController(t, tag, name, "--nats", natsURL, "--executor", "kubernetes",
			"--namespace", "tuxboot", "--kubeconfig", saConfig, "--runner-image", "tuxboot-runner:dev",
			"--pending-timeout", "1m", "--max-pending", "2", "--kube-qps", "20", "--kube-burst", "40",
			"--priority-class", "tuxboot-runner", "--metrics-addr", "127.0.0.1:0", "--log-format", "json",
			"--work-dir", t.TempDir(), "--fetch-retries", "-1")
	}
	// Two replicas: controller-0 leads, controller-1 stands by.
	c0 := start("controller-0")
	c0.waitFor(t, `"message":"leading"`)
	c1 := start("controller-1")
	out, metricsAddr := c0.out, c0.metricsAddr

	// A passing boot, and a kernel panic: a verdict the runner reports,
	// never retried.
	panicReq := realRequest(t, "arm64", "qemu-arm64", "tuxboot.mode=panic")
	st := &store.Store{KV: q.State}
	want := map[string]string{}
	for _, r := range []struct {
		req    boot.Request
		result string
	}{{req, boot.Pass}, {panicReq, boot.Fail}} {
		id := nuid.Next()
		r.req.APIVersion, r.req.ID = boot.APIVersion, id
		if err := st.Create(ctx, store.NewQueued(id, "g", "p", r.req)); err != nil {
			t.Fatal(err)
		}
		data, _ := json.Marshal(r.req)
		if err := q.SubmitRequest(ctx, id, data); err != nil {
			t.Fatal(err)
		}
		want[id] = r.result
	}
	waitBoots(ctx, t, q, want, out)
	if strings.Contains(c1.out.String(), `"message":"controller started"`) {
		t.Errorf("the standby replica started a controller while the leader led:\n%s", c1.out.String())
	}
	noRunnerPods(ctx, t, c)
	select {
	case addr := <-metricsAddr:
		resp, err := http.Get("http://" + addr + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		for _, want := range []string{`tuxboot_attempts_total{device="qemu-arm64",result="pass"} 1`,
			`tuxboot_attempts_total{device="qemu-arm64",result="fail"} 1`, "tuxboot_queue_depth 0",
			"tuxboot_scheduling_latency_seconds_count 2", `tuxboot_boot_duration_seconds_count{device="qemu-arm64"} 2`} {
			if !strings.Contains(string(body), want) {
				t.Errorf("metrics lack %s:\n%s", want, body)
			}
		}
	default:
		t.Errorf("the controller did not say where it serves /metrics:\n%s", out.String())
	}

	// The leader stops: the standby takes the Lease and boots the next.
	c0.stop(t)
	c1.waitFor(t, `"message":"leading"`)
	id := nuid.Next()
	req.APIVersion, req.ID = boot.APIVersion, id
	if err := st.Create(ctx, store.NewQueued(id, "g", "p", req)); err != nil {
		t.Fatal(err)
	}
	data, _ := json.Marshal(req)
	if err := q.SubmitRequest(ctx, id, data); err != nil {
		t.Fatal(err)
	}
	waitBoots(ctx, t, q, map[string]string{id: boot.Pass}, c1.out)
	noRunnerPods(ctx, t, c)
	c1.stop(t)
}

// waitBoots waits for boots to finish with the given results, each in one
// attempt run by the Kubernetes executor, whose pod phases reached the
// boot's events.
func waitBoots(ctx context.Context, t *testing.T, q *queue.Queue, want map[string]string, out *syncBuffer) {
	t.Helper()
	st := &store.Store{KV: q.State}
	for id, result := range want {
		var rec *store.Record
		var err error
		for {
			if rec, err = st.Get(ctx, id); err != nil {
				t.Fatal(err)
			}
			if rec.State == store.Finished || ctx.Err() != nil {
				break
			}
			time.Sleep(200 * time.Millisecond)
		}
		if rec.Result != result || len(rec.Attempts) != 1 || rec.Attempts[0].Executor != "kubernetes" {
			t.Fatalf("boot %s: %s %s after %+v, want %s in one attempt\n%s", id, rec.State, rec.Result, rec.Attempts, result, out.String())
		}
		res, err := q.Objects.GetBytes(ctx, rec.ResultObject)
		if err != nil || !strings.Contains(string(res), `"result": "`+result+`"`) && !strings.Contains(string(res), `"result":"`+result+`"`) {
			t.Errorf("results.json %q: %v", rec.ResultObject, err)
		}
		var events []string
		q.Follow(ctx, []string{queue.EventSubject(id)}, false, func(m jetstream.Msg) bool {
			events = append(events, string(m.Data()))
			return false
		})
		if !strings.Contains(strings.Join(events, "\n"), "pod "+kube.PodName(id, 1)+": running") {
			t.Errorf("no pod phase among the boot's events:\n%s", strings.Join(events, "\n"))
		}
	}
}

// noRunnerPods waits until no runner pod is left.
func noRunnerPods(ctx context.Context, t *testing.T, c *kubetest.Cluster) {
	t.Helper()
	for {
		l, err := c.Client.CoreV1().Pods("tuxboot").List(ctx, metav1.ListOptions{LabelSelector: kube.LabelManagedBy + "=" + kube.ManagedBy})
		if err == nil && len(l.Items) == 0 {
			return
		}
		if ctx.Err() != nil {
			t.Fatalf("runner pod left behind: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// kubeController is one `tuxboot controller --executor kubernetes` replica.
type kubeController struct {
	cmd         *exec.Cmd
	out         *syncBuffer
	exited      chan error
	stopped     bool
	metricsAddr chan string
}

func startKubeController(t *testing.T, tag, name string, args ...string) *kubeController {
	t.Helper()
	k := &kubeController{out: &syncBuffer{}, exited: make(chan error, 1), metricsAddr: make(chan string, 1)}
	k.cmd = exec.Command(os.Args[0], append([]string{"controller"}, args...)...)
	k.cmd.Env = append(os.Environ(), "TUXBOOT_TEST_MAIN=1", testTagEnv+"="+tag, "POD_NAME="+name)
	pr, pw := io.Pipe()
	k.cmd.Stdout, k.cmd.Stderr = io.MultiWriter(k.out, pw), io.MultiWriter(k.out, pw)
	go func() {
		re := regexp.MustCompile(`"addr":"([^"]+)".*serving /metrics`)
		s := bufio.NewScanner(pr)
		for s.Scan() {
			if m := re.FindStringSubmatch(s.Text()); m != nil {
				k.metricsAddr <- m[1]
			}
		}
	}()
	if err := k.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { k.exited <- k.cmd.Wait(); pw.Close() }()
	t.Cleanup(func() {
		if !k.stopped {
			k.cmd.Process.Kill()
			<-k.exited
		}
	})
	return k
}

// waitFor waits for the replica to log s.
func (k *kubeController) waitFor(t *testing.T, s string) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !strings.Contains(k.out.String(), s) {
		if time.Now().After(deadline) {
			t.Fatalf("controller never logged %s:\n%s", s, k.out.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// stop stops the replica with SIGTERM, as Kubernetes does, and wants a
// clean exit.
func (k *kubeController) stop(t *testing.T) {
	t.Helper()
	k.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-k.exited:
		k.stopped = true
		if err != nil {
			t.Errorf("controller after SIGTERM: %v\n%s", err, k.out.String())
		}
	case <-time.After(30 * time.Second):
		t.Errorf("controller still running 30s after SIGTERM")
	}
}
