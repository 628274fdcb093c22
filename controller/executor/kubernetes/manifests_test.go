package kubernetes_test

import (
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	authv1 "k8s.io/api/authentication/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	kube "github.com/tuxboot/tuxboot/controller/executor/kubernetes"
	"github.com/tuxboot/tuxboot/controller/executor/kubernetes/kubetest"
)

// kubectl runs the kubectl hack/kube-tools.sh built against the cluster.
func kubectl(t *testing.T, c *kubetest.Cluster, args ...string) string {
	t.Helper()
	cmd := exec.Command(kubetest.Bin(t, "kubectl"), append([]string{"--kubeconfig", c.Kubeconfig}, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// TestManifests applies the kustomize overlays with a server-side dry run,
// then for real, and runs the executor and leader election under the
// controller's ServiceAccount token to show that its Role is enough, and
// no more than its namespace.
func TestManifests(t *testing.T) {
	c := kubetest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	local := filepath.Join("..", "..", "..", "manifests", "overlays", "local")
	base := filepath.Join("..", "..", "..", "manifests", "base")

	// Namespaced objects are validated only once their namespace exists.
	kubectl(t, c, "create", "namespace", "tuxboot")
	for _, dir := range []string{base, local} {
		out := kubectl(t, c, "apply", "--dry-run=server", "-k", dir)
		for _, want := range []string{"deployment.apps/tuxboot-controller", "role.rbac.authorization.k8s.io/tuxboot-controller",
			"poddisruptionbudget.policy/tuxboot-controller", "priorityclass.scheduling.k8s.io/tuxboot-runner",
			"networkpolicy.networking.k8s.io/tuxboot-runner", "deployment.apps/nats", "serviceaccount/tuxboot-runner"} {
			if !strings.Contains(out, want) {
				t.Errorf("dry run of %s lacks %s:\n%s", dir, want, out)
			}
		}
	}
	kubectl(t, c, "apply", "-k", local)
	dep, err := c.Client.AppsV1().Deployments("tuxboot").Get(ctx, "tuxboot-controller", metav1.GetOptions{})
	if err != nil || *dep.Spec.Replicas != 2 || !strings.Contains(strings.Join(dep.Spec.Template.Spec.Containers[0].Args, " "), "--runner-image=tuxboot-runner:dev") {
		t.Fatalf("controller deployment as applied: %v %+v", err, dep)
	}

	tok, err := c.Client.CoreV1().ServiceAccounts("tuxboot").CreateToken(ctx, "tuxboot-controller",
		&authv1.TokenRequest{Spec: authv1.TokenRequestSpec{ExpirationSeconds: ptr(int64(3600))}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	sa := kubernetes.NewForConfigOrDie(c.ForToken(tok.Status.Token))

	// Least rights: nothing outside its namespace, nothing but pods and
	// its Lease inside.
	if _, err := sa.CoreV1().Pods("default").List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("listing pods in another namespace: %v, want forbidden", err)
	}
	if _, err := sa.CoreV1().Secrets("tuxboot").List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("listing secrets: %v, want forbidden", err)
	}

	kubetest.CreateNode(ctx, t, c.Client, "node-1")
	(&kubetest.Kubelet{Client: c.Client, Namespace: "tuxboot", Node: "node-1", Schedule: true}).Run(ctx, t)
	lctx, stop := context.WithCancel(ctx)
	defer stop()
	ended := make(chan error, 1)
	go func() {
		ended <- kube.RunAsLeader(lctx, kube.Election{Client: sa, Namespace: "tuxboot", Identity: "replica-1",
			RetryPeriod: 200 * time.Millisecond,
			Log:         zerolog.New(zerolog.NewTestWriter(t))},
			func(ctx context.Context) {
				e, _ := startExecutor(ctx, t, sa, "tuxboot", nil)
				r, err := e.Start(ctx, job("rbac", 1))
				if err != nil {
					t.Errorf("start under the service account: %v", err)
					stop()
					return
				}
				name := kube.PodName("rbac", 1)
				waitPod(ctx, t, c.Client, "tuxboot", name)
				for {
					p, err := c.Client.CoreV1().Pods("tuxboot").Get(ctx, name, metav1.GetOptions{})
					if err == nil && p.Spec.NodeName != "" {
						break
					}
					time.Sleep(50 * time.Millisecond)
				}
				kubetest.SetStatus(ctx, c.Client, "tuxboot", name, terminated(0, "Completed"))
				if err := waitDone(t, r, 30*time.Second); err != nil {
					t.Errorf("run under the service account: %v", err)
				}
				stop()
				// As tuxboot controller does before it exits.
				wctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				if err := e.Wait(wctx); err != nil {
					t.Error(err)
				}
			})
	}()
	select {
	case err := <-ended:
		if err != nil {
			t.Fatal(err)
		}
	case <-ctx.Done():
		t.Fatal("the controller's run under its service account did not end")
	}
	l, err := c.Client.CoreV1().Pods("tuxboot").List(ctx, metav1.ListOptions{LabelSelector: kube.LabelManagedBy + "=" + kube.ManagedBy})
	if err != nil || len(l.Items) != 0 {
		t.Errorf("runner pods left: %v %d", err, len(l.Items))
	}
	lease, err := c.Client.CoordinationV1().Leases("tuxboot").Get(ctx, kube.DefaultLeaseName, metav1.GetOptions{})
	if err != nil {
		t.Errorf("lease: %v", err)
	} else if lease.Spec.HolderIdentity != nil && *lease.Spec.HolderIdentity != "" {
		t.Errorf("lease still held by %q after the leader stopped", *lease.Spec.HolderIdentity)
	}
}

func ptr[T any](v T) *T { return &v }
