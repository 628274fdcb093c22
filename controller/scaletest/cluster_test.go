package scaletest

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	authv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/tuxboot/tuxboot/controller/executor/kubernetes/kubetest"
)

const (
	namespace = "tuxboot"
	// nodeLabel marks the nodes kwok manages and the runner pods' node selector.
	nodeLabel = "tuxboot.dev/simulated"
)

// cluster is a control plane with a scheduler and kwok's simulated nodes.
type cluster struct {
	*kubetest.Cluster
	// controllerConfig is a kubeconfig for the controller's service
	// account, through the counting proxy.
	controllerConfig string
	api              *apiCounter
}

// startCluster starts etcd, kube-apiserver, kube-scheduler and kwok,
// applies the manifests' namespace, RBAC and priority class, and creates
// nodes simulated nodes of cpus CPUs each.
func startCluster(ctx context.Context, t *testing.T, nodes, cpus int) *cluster {
	c := &cluster{Cluster: kubetest.Start(t)}
	kubectl := kubetest.Bin(t, "kubectl")
	for _, args := range [][]string{{"create", "namespace", namespace}, {"apply", "-k", filepath.Join("..", "..", "manifests", "overlays", "local")}} {
		if out, err := exec.CommandContext(ctx, kubectl, append([]string{"--kubeconfig", c.Kubeconfig}, args...)...).CombinedOutput(); err != nil {
			t.Fatalf("kubectl %v: %v\n%s", args, err, out)
		}
	}
	// The Deployment of the manifests would fight the test's controller
	// over the Lease if anything ran it; nothing does, but make it plain.
	c.Client.AppsV1().Deployments(namespace).Delete(ctx, "tuxboot-controller", metav1.DeleteOptions{})

	kubetest.Process(t, c.Dir, "kube-scheduler", kubetest.Bin(t, "kube-scheduler"),
		"--kubeconfig="+c.Kubeconfig, "--leader-elect=false", "--secure-port=0",
		// The default 50 QPS binds 500 pods in ten seconds; a scheduler
		// sized for a big cluster does better, and the controller is
		// what is measured.
		"--kube-api-qps=200", "--kube-api-burst=400", "--v=0")
	port := kubetest.FreePorts(t, 1)[0]
	stages, err := filepath.Abs(filepath.Join("testdata", "kwok-stages.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	kubetest.Process(t, c.Dir, "kwok", kubetest.Bin(t, "kwok"),
		"--kubeconfig="+c.Kubeconfig,
		"--manage-all-nodes=false", "--manage-nodes-with-label-selector="+nodeLabel+"=true",
		"--cidr=10.128.0.0/12", "--node-ip=10.127.0.1",
		"--server-address=127.0.0.1:"+strconv.Itoa(port), "--config="+stages)

	room := corev1.ResourceList{
		corev1.ResourceCPU:              *resource.NewQuantity(int64(cpus), resource.DecimalSI),
		corev1.ResourceMemory:           resource.MustParse("512Gi"),
		corev1.ResourcePods:             resource.MustParse("250"),
		corev1.ResourceEphemeralStorage: resource.MustParse("4Ti"),
	}
	for i := range nodes {
		n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{
			Name:        fmt.Sprintf("kwok-node-%d", i),
			Labels:      map[string]string{nodeLabel: "true", "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64"},
			Annotations: map[string]string{"kwok.x-k8s.io/node": "fake"},
		}}
		if _, err := c.Client.CoreV1().Nodes().Create(ctx, n, metav1.CreateOptions{}); err != nil {
			t.Fatalf("create node %s: %v", n.Name, err)
		}
		// A patch, as kwok updates the same status at once.
		patch, _ := json.Marshal(map[string]any{"status": map[string]any{"capacity": room, "allocatable": room}})
		if _, err := c.Client.CoreV1().Nodes().Patch(ctx, n.Name, types.MergePatchType, patch, metav1.PatchOptions{}, "status"); err != nil {
			t.Fatalf("node %s status: %v", n.Name, err)
		}
	}
	// kwok reports the nodes Ready.
	readyBy := time.Now().Add(2 * time.Minute)
	for {
		list, err := c.Client.CoreV1().Nodes().List(ctx, metav1.ListOptions{LabelSelector: nodeLabel + "=true"})
		if err != nil {
			t.Fatal(err)
		}
		ready := 0
		for _, n := range list.Items {
			for _, cond := range n.Status.Conditions {
				if cond.Type != corev1.NodeReady || cond.Status != corev1.ConditionTrue {
					continue
				}
				// The API server tainted the node not-ready when it was
				// created; the node lifecycle controller, which is not
				// run here, would lift that once the node is Ready.
				if len(n.Spec.Taints) > 0 {
					n.Spec.Taints = nil
					if _, err := c.Client.CoreV1().Nodes().Update(ctx, &n, metav1.UpdateOptions{}); err != nil {
						continue
					}
				}
				ready++
			}
		}
		if ready == nodes {
			break
		}
		if time.Now().After(readyBy) {
			t.Fatalf("kwok made %d of %d nodes ready", ready, nodes)
		}
		time.Sleep(200 * time.Millisecond)
	}

	tok, err := c.Client.CoreV1().ServiceAccounts(namespace).CreateToken(ctx, "tuxboot-controller",
		&authv1.TokenRequest{Spec: authv1.TokenRequestSpec{ExpirationSeconds: ptr(int64(24 * 3600))}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	c.api = startAPICounter(t, c.Host, tok.Status.Token)
	c.controllerConfig = filepath.Join(c.Dir, "controller.kubeconfig")
	kc := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: scale
  cluster: {server: %q}
users:
- name: controller
  user: {}
contexts:
- name: scale
  context: {cluster: scale, user: controller}
current-context: scale
`, c.api.url)
	if err := os.WriteFile(c.controllerConfig, []byte(kc), 0o600); err != nil {
		t.Fatal(err)
	}
	return c
}

// apiCounter is a reverse proxy in front of the API server that counts
// the requests of the one client sent through it, the controller, and
// presents the controller's service account token for it (client-go
// sends no token over plain HTTP).
type apiCounter struct {
	url string
	mu  sync.Mutex
	n   map[string]int // by verb and resource: "create pods"
}

func startAPICounter(t *testing.T, host, token string) *apiCounter {
	target, err := url.Parse(host)
	if err != nil {
		t.Fatal(err)
	}
	a := &apiCounter{n: map[string]int{}}
	proxy := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(target)
			r.Out.Host = target.Host
			r.Out.Header.Set("Authorization", "Bearer "+token)
		},
		Transport: &http.Transport{
			TLSClientConfig:     &tls.Config{InsecureSkipVerify: true},
			MaxIdleConnsPerHost: 100,
		},
		FlushInterval: -1, // watches stream
		ErrorLog:      nil,
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := &statusWriter{ResponseWriter: w, code: http.StatusOK}
		proxy.ServeHTTP(sw, r)
		a.count(r, sw.code)
	})}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	a.url = "http://" + l.Addr().String()
	return a
}

// count files a request under its verb, as the API server's audit log
// would name it, and its resource.
func (a *apiCounter) count(r *http.Request, code int) {
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	resource := "other"
	// /api/v1/namespaces/NS/pods[/NAME[/status]], /apis/GROUP/VERSION/...
	for i, p := range parts {
		if p == "namespaces" && i+2 < len(parts) {
			resource = parts[i+2]
			break
		}
	}
	verb := strings.ToLower(r.Method)
	named := len(parts) > 0 && parts[len(parts)-1] != resource
	switch {
	case r.Method == http.MethodGet && r.URL.Query().Get("watch") == "true":
		verb = "watch"
	case r.Method == http.MethodGet && !named:
		verb = "list"
	case r.Method == http.MethodPost:
		verb = "create"
	case r.Method == http.MethodPut:
		verb = "update"
	}
	key := verb + " " + resource
	if code >= 300 {
		key += " " + strconv.Itoa(code)
	}
	a.mu.Lock()
	a.n[key]++
	a.mu.Unlock()
}

// snapshot returns the counts so far and their total.
func (a *apiCounter) snapshot() (map[string]int, int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	m, total := map[string]int{}, 0
	for k, v := range a.n {
		m[k] = v
		total += v
	}
	return m, total
}

// statusWriter remembers the status code of a response.
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	w.code = code
	w.ResponseWriter.WriteHeader(code)
}

// Flush lets watches stream through.
func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func ptr[T any](v T) *T { return &v }
