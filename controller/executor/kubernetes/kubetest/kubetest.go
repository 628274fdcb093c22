// Package kubetest starts a real control plane for a test: etcd and
// kube-apiserver, built by hack/kube-tools.sh, on loopback ports, with RBAC
// enforced and service-account tokens signed, and stops both when the test
// ends, pass or fail. There is no kubelet, scheduler or controller-manager:
// tests play those parts through the API (see Kubelet).
package kubetest

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// binVersion is the cache directory hack/kube-tools.sh fills.
const binVersion = "kube-v1.37.2-etcd-v3.6.16"

// BinDir is where the control-plane binaries are: $TUXBOOT_KUBE_BIN, or
// the cache hack/kube-tools.sh builds into.
func BinDir() string {
	if d := os.Getenv("TUXBOOT_KUBE_BIN"); d != "" {
		return d
	}
	tools := os.Getenv("TUXBOOT_TOOLS")
	if tools == "" {
		home, _ := os.UserHomeDir()
		tools = filepath.Join(home, ".cache", "tuxboot", "tools")
	}
	return filepath.Join(tools, binVersion, "bin")
}

// Cluster is a running control plane.
type Cluster struct {
	// Config is the admin's (group system:masters).
	Config *rest.Config
	Client kubernetes.Interface
	// Host is the API server's URL; Kubeconfig an admin kubeconfig file.
	Host       string
	Kubeconfig string
	Dir        string
}

// Bin returns the path of a control-plane binary, skipping the test when
// it has not been built (failing it under CI, which must build it).
func Bin(t testing.TB, name string) string {
	t.Helper()
	p := filepath.Join(BinDir(), name)
	if _, err := os.Stat(p); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s not built: run `bash hack/kube-tools.sh` first (%v)", name, err)
		}
		t.Skipf("%s not built: run `bash hack/kube-tools.sh` (%v)", name, err)
	}
	return p
}

// Start starts etcd and kube-apiserver and waits until the API server is
// ready; both are stopped when the test ends.
func Start(t testing.TB) *Cluster {
	t.Helper()
	etcdBin, apiBin := Bin(t, "etcd"), Bin(t, "kube-apiserver")
	dir := t.TempDir()
	c := &Cluster{Dir: dir}

	ports := FreePorts(t, 3)
	etcdURL := "http://127.0.0.1:" + strconv.Itoa(ports[0])
	peerURL := "http://127.0.0.1:" + strconv.Itoa(ports[1])
	Process(t, dir, "etcd", etcdBin,
		"--name=test", "--data-dir="+filepath.Join(dir, "etcd"),
		"--listen-client-urls="+etcdURL, "--advertise-client-urls="+etcdURL,
		"--listen-peer-urls="+peerURL, "--initial-advertise-peer-urls="+peerURL,
		"--initial-cluster=test="+peerURL, "--unsafe-no-fsync", "--log-level=warn")

	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(dir, "sa.key"), pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}))
	write(t, filepath.Join(dir, "sa.pub"), pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub}))
	tok := make([]byte, 16)
	rand.Read(tok)
	token := hex.EncodeToString(tok)
	write(t, filepath.Join(dir, "tokens.csv"), []byte(token+",admin,admin,system:masters\n"))

	c.Host = "https://127.0.0.1:" + strconv.Itoa(ports[2])
	apiExited := Process(t, dir, "kube-apiserver", apiBin,
		"--etcd-servers="+etcdURL,
		"--bind-address=127.0.0.1", "--advertise-address=127.0.0.1",
		"--secure-port="+strconv.Itoa(ports[2]),
		"--cert-dir="+filepath.Join(dir, "certs"),
		"--service-account-key-file="+filepath.Join(dir, "sa.pub"),
		"--service-account-signing-key-file="+filepath.Join(dir, "sa.key"),
		"--service-account-issuer=https://kubernetes.default.svc",
		"--service-cluster-ip-range=10.96.0.0/24",
		"--authorization-mode=Node,RBAC",
		"--token-auth-file="+filepath.Join(dir, "tokens.csv"),
		"--enable-priority-and-fairness=false",
		"--profiling=false",
		// The default reconciler refuses a loopback advertise address.
		"--endpoint-reconciler-type=none",
		"--v=0")

	c.Config = &rest.Config{Host: c.Host, BearerToken: token,
		TLSClientConfig: rest.TLSClientConfig{Insecure: true}, QPS: 200, Burst: 400}
	c.Client = kubernetes.NewForConfigOrDie(c.Config)
	c.Kubeconfig = filepath.Join(dir, "kubeconfig")
	write(t, c.Kubeconfig, []byte(Kubeconfig(c.Host, token)))

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	for {
		err := c.Client.Discovery().RESTClient().Get().AbsPath("/readyz").Do(ctx).Error()
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("kube-apiserver not ready: %v (log in %s)", err, dir)
		}
		select {
		case <-apiExited:
			t.Fatalf("kube-apiserver exited (log in %s)", dir)
		case <-time.After(200 * time.Millisecond):
		}
	}
	return c
}

// Kubeconfig is a kubeconfig for a bearer token on the cluster.
func Kubeconfig(host, token string) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: test
  cluster:
    server: %s
    insecure-skip-tls-verify: true
users:
- name: test
  user:
    token: %s
contexts:
- name: test
  context: {cluster: test, user: test}
current-context: test
`, host, token)
}

// ForToken is the cluster's config for another bearer token (a service
// account's, to test what RBAC lets it do).
func (c *Cluster) ForToken(token string) *rest.Config {
	cfg := rest.CopyConfig(c.Config)
	cfg.BearerToken = token
	return cfg
}

// Process runs a control-plane process, its output in DIR/NAME.log, until
// the test ends.
func Process(t testing.TB, dir, name, bin string, args ...string) <-chan struct{} {
	t.Helper()
	logf, err := os.Create(filepath.Join(dir, name+".log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
		}
		logf.Close()
		if t.Failed() {
			if b, err := os.ReadFile(logf.Name()); err == nil {
				lines := strings.Split(string(b), "\n")
				t.Logf("last lines of %s:\n%s", name, strings.Join(lines[max(0, len(lines)-30):], "\n"))
			}
		}
	})
	return exited
}

func write(t testing.TB, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// FreePorts finds n free loopback ports.
func FreePorts(t testing.TB, n int) []int {
	t.Helper()
	var ls []net.Listener
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	for _, l := range ls {
		l.Close()
	}
	return ports
}
