package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/rs/zerolog"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/tuxboot/tuxboot/controller"
	kube "github.com/tuxboot/tuxboot/controller/executor/kubernetes"
	"github.com/tuxboot/tuxboot/controller/queue"
	"github.com/tuxboot/tuxboot/runner/boot"
)

// kubeFlags are `tuxboot controller --executor kubernetes`'s own flags.
type kubeFlags struct {
	namespace      string
	kubeconfig     string
	runnerImage    string
	pendingTimeout time.Duration
	maxPending     int
	qps            float64
	burst          int
	kvmResource    string
	nodeSelector   string
	kvmSelector    string
	kvmToleration  string
	priorityClass  string
	serviceAccount string
	metricsAddr    string
	leaderElect    bool
	leaseName      string
}

func (k *kubeFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&k.namespace, "namespace", os.Getenv("POD_NAMESPACE"), "kubernetes: namespace of the runner pods and the leader Lease (default $POD_NAMESPACE)")
	fs.StringVar(&k.kubeconfig, "kubeconfig", os.Getenv("KUBECONFIG"), "kubernetes: kubeconfig file (default $KUBECONFIG, else the in-cluster service account)")
	fs.StringVar(&k.runnerImage, "runner-image", "", "kubernetes: the runner image (required)")
	fs.DurationVar(&k.pendingTimeout, "pending-timeout", kube.DefaultPendingTimeout, "kubernetes: how long a runner pod may stay unschedulable before its attempt is retried")
	fs.IntVar(&k.maxPending, "max-pending", 20, "kubernetes: runner pods waiting for a node at most; the rest wait without a pod (0: no bound)")
	// Hundreds of pods: each costs a create and a delete, and the informer
	// a single watch, so 50 QPS keeps up with boots lasting minutes.
	fs.Float64Var(&k.qps, "kube-qps", 50, "kubernetes: client-side API request rate")
	fs.IntVar(&k.burst, "kube-burst", 100, "kubernetes: client-side API request burst")
	fs.StringVar(&k.kvmResource, "kvm-resource", "", "kubernetes: extended resource of a /dev/kvm device plugin (such as devices.kubevirt.io/kvm); empty: TCG only")
	fs.StringVar(&k.nodeSelector, "node-selector", "", "kubernetes: node selector of every runner pod, k=v[,k=v]")
	fs.StringVar(&k.kvmSelector, "kvm-node-selector", "", "kubernetes: node selector of KVM runner pods, k=v[,k=v]")
	fs.StringVar(&k.kvmToleration, "kvm-toleration", "", "kubernetes: taint key (key or key=value) that KVM runner pods tolerate (NoSchedule)")
	fs.StringVar(&k.priorityClass, "priority-class", "", "kubernetes: priority class of runner pods")
	fs.StringVar(&k.serviceAccount, "runner-service-account", kube.DefaultServiceAccount, "kubernetes: service account of runner pods")
	fs.StringVar(&k.metricsAddr, "metrics-addr", "", "kubernetes: address to serve /metrics and /healthz on (empty: none)")
	fs.BoolVar(&k.leaderElect, "leader-elect", true, "kubernetes: schedule only while holding the Lease, so replicas never both schedule")
	fs.StringVar(&k.leaseName, "lease-name", kube.DefaultLeaseName, "kubernetes: name of the leader Lease")
}

func parseSelector(s string) (map[string]string, error) {
	if s == "" {
		return nil, nil
	}
	m := map[string]string{}
	for _, kv := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("node selector %q: want key=value", kv)
		}
		m[k] = v
	}
	return m, nil
}

// restConfig is the kubeconfig's, or the pod's service account's.
func (k *kubeFlags) restConfig() (*rest.Config, error) {
	var cfg *rest.Config
	var err error
	if k.kubeconfig != "" {
		cfg, err = clientcmd.BuildConfigFromFlags("", k.kubeconfig)
	} else {
		cfg, err = rest.InClusterConfig()
	}
	if err != nil {
		return nil, fmt.Errorf("kubernetes client configuration: %w", err)
	}
	cfg.QPS, cfg.Burst = float32(k.qps), k.burst
	cfg.UserAgent = "tuxboot-controller"
	return cfg, nil
}

// executorConfig checks the flags and builds the executor's configuration.
func (k *kubeFlags) executorConfig(f *schedFlags, natsURL string, log zerolog.Logger) (kube.Config, error) {
	var cfg kube.Config
	if k.namespace == "" || k.runnerImage == "" {
		return cfg, errors.New("--executor kubernetes needs --namespace and --runner-image")
	}
	sel, err := parseSelector(k.nodeSelector)
	if err != nil {
		return cfg, err
	}
	kvmSel, err := parseSelector(k.kvmSelector)
	if err != nil {
		return cfg, err
	}
	var tol []corev1.Toleration
	if k.kvmToleration != "" {
		key, val, hasVal := strings.Cut(k.kvmToleration, "=")
		t := corev1.Toleration{Key: key, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}
		if hasVal {
			t.Operator, t.Value = corev1.TolerationOpEqual, val
		}
		tol = append(tol, t)
	}
	rc, err := k.restConfig()
	if err != nil {
		return cfg, err
	}
	cs, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return cfg, fmt.Errorf("kubernetes client: %w", err)
	}
	return kube.Config{
		Client: cs, Namespace: k.namespace, Image: k.runnerImage, NATSURL: natsURL,
		RunnerArgs:     []string{"--fetch-retries", strconv.Itoa(f.fetchRetries)},
		ServiceAccount: k.serviceAccount, PendingTimeout: k.pendingTimeout, MaxPending: k.maxPending,
		KVMResource: k.kvmResource, KVMNodeSelector: kvmSel, KVMTolerations: tol,
		NodeSelector: sel, PriorityClass: k.priorityClass, Metrics: kube.NewMetrics(), Log: log,
	}, nil
}

// runKubernetes is `tuxboot controller --executor kubernetes`: while this
// replica leads, a controller whose runners are pods.
func (k *kubeFlags) run(ctx context.Context, f *schedFlags, q *queue.Queue, natsURL string, log zerolog.Logger) int {
	cfg, err := k.executorConfig(f, natsURL, log)
	if err != nil {
		log.Error().Err(err).Msg("kubernetes executor")
		return exitBadRequest
	}
	cfg.Beat = func(id string) { q.NC.Publish(queue.HeartbeatSubject(id), nil) }
	cfg.Event = func(id string, attempt int, msg string) {
		q.Publisher(id, attempt, queue.SourceController).Event(ctx, boot.Event{Type: boot.EventNote, Message: msg, AtMS: time.Now().UnixMilli()})
	}
	cfg.Metrics.QueueDepth = func() (int64, error) {
		c, err := q.Consumer(ctx)
		if err != nil {
			return 0, err
		}
		info, err := c.Info(ctx)
		if err != nil {
			return 0, err
		}
		return int64(info.NumPending), nil
	}
	if k.metricsAddr != "" {
		mux := http.NewServeMux()
		mux.Handle("/metrics", cfg.Metrics.Handler())
		mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "ok") })
		l, err := net.Listen("tcp", k.metricsAddr)
		if err != nil {
			log.Error().Err(err).Msg("metrics listener")
			return exitBadRequest
		}
		srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		go srv.Serve(l)
		defer srv.Close()
		log.Info().Str("addr", l.Addr().String()).Msg("serving /metrics")
	}
	failed := false
	lead := func(ctx context.Context) {
		// An executor per term: its informer ends with the term.
		ex, err := kube.New(cfg)
		if err == nil {
			err = ex.Sync(ctx)
		}
		var c *controller.Controller
		if err == nil {
			c, err = controller.New(controller.Config{Queue: q, Executor: ex, MaxParallel: f.maxParallel,
				Retries: f.retries, HeartbeatTimeout: f.heartbeatTimeout, Log: log})
		}
		if err == nil {
			err = c.Run(ctx)
			wctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			if werr := ex.Wait(wctx); werr != nil {
				log.Warn().Err(werr).Msg("stopping")
			}
			cancel()
		}
		if err != nil && ctx.Err() == nil {
			log.Error().Err(err).Msg("controller")
			failed = true
		}
	}
	if !k.leaderElect {
		lead(ctx)
	} else {
		id := os.Getenv("POD_NAME")
		if id == "" {
			host, _ := os.Hostname()
			id = fmt.Sprintf("%s-%d", host, os.Getpid())
		}
		for ctx.Err() == nil && !failed {
			// A replica that lost the Lease stands by for it again.
			if err := kube.RunAsLeader(ctx, kube.Election{Client: cfg.Client, Namespace: k.namespace, Lease: k.leaseName,
				Identity: id, Log: log}, lead); err != nil {
				log.Error().Err(err).Msg("leader election")
				return exitInfra
			}
		}
	}
	if failed {
		return exitInfra
	}
	log.Info().Msg("controller stopped")
	return exitPass
}
