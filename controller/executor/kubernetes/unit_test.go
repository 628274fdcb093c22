package kubernetes

import (
	"errors"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/tuxboot/tuxboot/controller/executor"
	"github.com/tuxboot/tuxboot/runner/boot"
)

func TestPodName(t *testing.T) {
	tests := []struct {
		id      string
		attempt int
		want    string
	}{
		{"abc123", 1, "tuxboot-abc123-1"},
		{"abc123", 2, "tuxboot-abc123-2"},
		{"ABC_123", 1, ""}, // changed: gets a digest
		{strings.Repeat("a", 100), 12, ""},
		{"---", 1, ""},
	}
	seen := map[string]bool{}
	for _, tt := range tests {
		got := PodName(tt.id, tt.attempt)
		if tt.want != "" && got != tt.want {
			t.Errorf("PodName(%q, %d) = %q, want %q", tt.id, tt.attempt, got, tt.want)
		}
		if errs := validation.IsDNS1123Label(got); len(errs) > 0 {
			t.Errorf("PodName(%q, %d) = %q: %v", tt.id, tt.attempt, got, errs)
		}
		if seen[got] {
			t.Errorf("PodName(%q, %d) = %q twice", tt.id, tt.attempt, got)
		}
		seen[got] = true
		if PodName(tt.id, tt.attempt) != got {
			t.Errorf("PodName(%q) not stable", tt.id)
		}
	}
	if PodName("ab", 1) == PodName("AB", 1) {
		t.Error("IDs differing in case share a pod")
	}
}

func TestPodSpec(t *testing.T) {
	e, err := New(Config{Client: fake.NewClientset(), Namespace: "ns", Image: "runner:1", NATSURL: "nats://nats:4222",
		KVMResource: "devices.kubevirt.io/kvm", KVMNodeSelector: map[string]string{"kvm": "true"},
		KVMTolerations: []corev1.Toleration{{Key: "kvm", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}},
		NodeSelector:   map[string]string{"pool": "boot"}, PriorityClass: "tuxboot-runner"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		req     boot.Request
		kvm     bool
		cpu     string
		timeout int64
	}{
		{"tcg arm64", boot.Request{Device: "qemu-arm64", Kernel: "k", SMP: 2}, false, "2", int64((boot.Timeouts{}.OverallTimeout() + deadlineSlack).Seconds())},
		{"kvm x86_64 auto", boot.Request{Device: "qemu-x86_64", Kernel: "k", Timeouts: boot.Timeouts{Overall: 60}}, true, "500m", 180},
		{"x86_64 forced tcg", boot.Request{Device: "qemu-x86_64", Kernel: "k", Accel: "tcg"}, false, "1", int64((boot.Timeouts{}.OverallTimeout() + deadlineSlack).Seconds())},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := e.pod(executor.Job{ID: "b1", Attempt: 3, Request: tt.req})
			if err != nil {
				t.Fatal(err)
			}
			if p.Name != "tuxboot-b1-3" || p.Labels[LabelBootID] != "b1" || p.Labels[LabelAttempt] != "3" ||
				p.Labels[LabelDevice] != tt.req.Device || p.Labels[LabelManagedBy] != ManagedBy {
				t.Errorf("name %s labels %v", p.Name, p.Labels)
			}
			s := p.Spec
			if s.RestartPolicy != corev1.RestartPolicyNever || *s.ActiveDeadlineSeconds != tt.timeout || s.PriorityClassName != "tuxboot-runner" {
				t.Errorf("restart %s deadline %d priority %q", s.RestartPolicy, *s.ActiveDeadlineSeconds, s.PriorityClassName)
			}
			c := s.Containers[0]
			sc := c.SecurityContext
			if !*s.SecurityContext.RunAsNonRoot || *sc.AllowPrivilegeEscalation || !*sc.ReadOnlyRootFilesystem || *sc.Privileged {
				t.Errorf("security context %+v %+v", s.SecurityContext, sc)
			}
			if len(s.Volumes) != 1 || s.Volumes[0].EmptyDir == nil || c.VolumeMounts[0].MountPath != ScratchPath {
				t.Errorf("scratch volume %+v", s.Volumes)
			}
			if c.Image != "runner:1" || strings.Join(c.Command[:8], " ") != "tuxboot runner --nats nats://nats:4222 --id b1 --attempt 3" {
				t.Errorf("image %s command %q", c.Image, c.Command)
			}
			if c.Env[0].Name != EnvRequest || !strings.Contains(c.Env[0].Value, `"id":"b1"`) {
				t.Errorf("request env %+v", c.Env[0])
			}
			if got := c.Resources.Requests.Cpu().String(); got != tt.cpu {
				t.Errorf("cpu request %s, want %s", got, tt.cpu)
			}
			_, hasKVM := c.Resources.Limits["devices.kubevirt.io/kvm"]
			if hasKVM != tt.kvm || (s.NodeSelector["kvm"] == "true") != tt.kvm || (len(s.Tolerations) == 1) != tt.kvm {
				t.Errorf("kvm %v: limits %v selector %v tolerations %v", tt.kvm, c.Resources.Limits, s.NodeSelector, s.Tolerations)
			}
			if s.NodeSelector["pool"] != "boot" {
				t.Errorf("node selector %v", s.NodeSelector)
			}
		})
	}
	if len(e.cfg.KVMNodeSelector) != 1 {
		t.Errorf("the configuration's node selector was changed: %v", e.cfg.KVMNodeSelector)
	}
}

func TestClassify(t *testing.T) {
	now := time.Now()
	term := func(code int32, reason string) []corev1.ContainerStatus {
		return []corev1.ContainerStatus{{Name: ContainerName, State: corev1.ContainerState{
			Terminated: &corev1.ContainerStateTerminated{ExitCode: code, Reason: reason}}}}
	}
	unsched := []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: corev1.PodReasonUnschedulable}}
	tests := []struct {
		name   string
		status corev1.PodStatus
		node   string
		since  time.Time
		ended  bool
		infra  bool
	}{
		{"new", corev1.PodStatus{Phase: corev1.PodPending}, "", time.Time{}, false, false},
		{"running", corev1.PodStatus{Phase: corev1.PodRunning}, "n", time.Time{}, false, false},
		{"pass", corev1.PodStatus{Phase: corev1.PodSucceeded, ContainerStatuses: term(0, "Completed")}, "n", time.Time{}, true, false},
		{"kernel failed", corev1.PodStatus{Phase: corev1.PodFailed, ContainerStatuses: term(1, "Error")}, "n", time.Time{}, true, false},
		{"runner error", corev1.PodStatus{Phase: corev1.PodFailed, ContainerStatuses: term(3, "Error")}, "n", time.Time{}, true, false},
		{"killed", corev1.PodStatus{Phase: corev1.PodFailed, ContainerStatuses: term(137, "Error")}, "n", time.Time{}, true, true},
		{"oom", corev1.PodStatus{Phase: corev1.PodFailed, ContainerStatuses: term(137, "OOMKilled")}, "n", time.Time{}, true, true},
		{"evicted", corev1.PodStatus{Phase: corev1.PodFailed, Reason: "Evicted"}, "n", time.Time{}, true, true},
		{"deadline", corev1.PodStatus{Phase: corev1.PodFailed, Reason: "DeadlineExceeded"}, "n", time.Time{}, true, true},
		{"unknown", corev1.PodStatus{Phase: corev1.PodUnknown}, "n", time.Time{}, true, true},
		{"disrupted", corev1.PodStatus{Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{{Type: corev1.DisruptionTarget, Status: corev1.ConditionTrue, Reason: "DeletionByTaintManager"}}}, "n", time.Time{}, true, true},
		{"image pull", corev1.PodStatus{Phase: corev1.PodPending, ContainerStatuses: []corev1.ContainerStatus{{Name: ContainerName,
			State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ErrImagePull"}}}}}, "n", time.Time{}, true, true},
		{"container creating", corev1.PodStatus{Phase: corev1.PodPending, ContainerStatuses: []corev1.ContainerStatus{{Name: ContainerName,
			State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ContainerCreating"}}}}}, "n", time.Time{}, false, false},
		{"unschedulable a while", corev1.PodStatus{Phase: corev1.PodPending, Conditions: unsched}, "", now.Add(-time.Minute), false, false},
		{"unschedulable too long", corev1.PodStatus{Phase: corev1.PodPending, Conditions: unsched}, "", now.Add(-time.Hour), true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p"}, Spec: corev1.PodSpec{NodeName: tt.node}, Status: tt.status}
			v := classify(p, now, tt.since, 10*time.Minute)
			if v.ended != tt.ended || (v.err != nil) != tt.infra || (v.err != nil && !errors.Is(v.err, ErrInfra)) {
				t.Errorf("ended %v err %v, want ended %v infra %v", v.ended, v.err, tt.ended, tt.infra)
			}
			if tt.name == "unschedulable a while" && v.recheck != 9*time.Minute {
				t.Errorf("recheck in %s, want 9m", v.recheck)
			}
		})
	}
}
