package kubernetes

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/tuxboot/tuxboot/controller/executor"
	"github.com/tuxboot/tuxboot/runner/boot"
	"github.com/tuxboot/tuxboot/runner/device"
)

// Labels and annotations of runner pods. ManagedBy selects every pod the
// controller owns, across restarts.
const (
	LabelManagedBy  = "app.kubernetes.io/managed-by"
	ManagedBy       = "tuxboot-controller"
	LabelComponent  = "app.kubernetes.io/component"
	LabelBootID     = "tuxboot.dev/boot-id"
	LabelDevice     = "tuxboot.dev/device"
	LabelAttempt    = "tuxboot.dev/attempt"
	AnnotationID    = "tuxboot.dev/id" // the boot ID unabridged
	ContainerName   = "runner"
	ScratchVolume   = "scratch"
	ScratchPath     = "/scratch"
	EnvRequest      = "TUXBOOT_REQUEST"
	runnerUID       = 65532
	deadlineSlack   = 2 * time.Minute
	maxLabelLength  = 63
	maxPodNameBytes = 63
)

var notDNS = regexp.MustCompile(`[^a-z0-9-]+`)

// dnsLabel makes s a DNS-1123 label of at most n bytes. A name that had to
// change gets a digest of the original, so two IDs never share a pod.
func dnsLabel(s string, n int) string {
	l := strings.Trim(notDNS.ReplaceAllString(strings.ToLower(s), "-"), "-")
	if l == s && len(l) <= n {
		return l
	}
	sum := sha256.Sum256([]byte(s))
	h := hex.EncodeToString(sum[:])[:10]
	if len(l) > n-11 {
		l = strings.TrimRight(l[:n-11], "-")
	}
	if l == "" {
		return "x" + h
	}
	return l + "-" + h
}

// PodName names the pod of one attempt of one boot: the same request and
// attempt always give the same name, so a redelivered request finds the
// pod it already has instead of creating a second.
func PodName(id string, attempt int) string {
	suffix := "-" + strconv.Itoa(attempt)
	return "tuxboot-" + dnsLabel(id, maxPodNameBytes-len("tuxboot-")-len(suffix)) + suffix
}

var labelOK = regexp.MustCompile(`^([A-Za-z0-9]([A-Za-z0-9_.-]*[A-Za-z0-9])?)?$`)

// labelValue fits a value into a label: as it is when it can be, for
// `kubectl get pods -l tuxboot.dev/device=qemu-x86_64`.
func labelValue(s string) string {
	if len(s) <= maxLabelLength && labelOK.MatchString(s) {
		return s
	}
	return dnsLabel(s, maxLabelLength)
}

// ownedSelector selects the controller's runner pods.
func ownedSelector() string { return LabelManagedBy + "=" + ManagedBy }

// usesKVM says whether a request's pod asks for /dev/kvm: when the request
// demands KVM, or leaves the accelerator to us and the device can use KVM
// on an amd64 node, and the cluster offers a KVM resource.
func (e *Executor) usesKVM(req boot.Request) bool {
	if e.cfg.KVMResource == "" {
		return false
	}
	switch req.Accel {
	case "kvm":
		return true
	case "", "auto":
		d, err := device.Builtin().Lookup(req.Device)
		if err != nil {
			return false
		}
		for _, h := range d.KVMHosts {
			if h == "amd64" {
				return true
			}
		}
	}
	return false
}

// resources sizes a runner: a TCG guest is CPU-bound on the host, one
// vCPU per guest CPU; a KVM guest needs little host CPU beyond its own
// threads but needs the device plugin's /dev/kvm.
func (e *Executor) resources(req boot.Request, kvm bool) corev1.ResourceRequirements {
	cpus := int64(max(req.SMP, 1))
	r := corev1.ResourceRequirements{
		Requests: corev1.ResourceList{
			corev1.ResourceCPU:              *resource.NewMilliQuantity(cpus*1000, resource.DecimalSI),
			corev1.ResourceMemory:           e.cfg.MemoryRequest,
			corev1.ResourceEphemeralStorage: resource.MustParse("2Gi"),
		},
		Limits: corev1.ResourceList{
			corev1.ResourceCPU:              *resource.NewMilliQuantity(cpus*1000+500, resource.DecimalSI),
			corev1.ResourceMemory:           e.cfg.MemoryLimit,
			corev1.ResourceEphemeralStorage: resource.MustParse("8Gi"),
		},
	}
	if kvm {
		r.Requests[corev1.ResourceCPU] = *resource.NewMilliQuantity(cpus*500, resource.DecimalSI)
		one := resource.MustParse("1")
		r.Requests[corev1.ResourceName(e.cfg.KVMResource)] = one
		r.Limits[corev1.ResourceName(e.cfg.KVMResource)] = one
	}
	return r
}

// pod is the pod that runs one attempt.
func (e *Executor) pod(job executor.Job) (*corev1.Pod, error) {
	req := job.Request
	req.ID = job.ID
	data, err := json.Marshal(req)
	if err != nil {
		return nil, fmt.Errorf("encode request %s: %w", job.ID, err)
	}
	kvm := e.usesKVM(req)
	deadline := int64((req.Timeouts.OverallTimeout() + deadlineSlack).Seconds())
	cmd := append([]string{}, e.cfg.Command...)
	cmd = append(cmd, "runner", "--nats", e.cfg.NATSURL, "--id", job.ID, "--attempt", strconv.Itoa(job.Attempt),
		"--work-dir", ScratchPath, "--cache-dir", ScratchPath+"/cache")
	cmd = append(cmd, e.cfg.RunnerArgs...)
	yes, no := true, false
	uid := int64(runnerUID)
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name:      PodName(job.ID, job.Attempt),
			Namespace: e.cfg.Namespace,
			Labels: map[string]string{
				LabelManagedBy: ManagedBy,
				LabelComponent: "runner",
				LabelBootID:    labelValue(job.ID),
				LabelDevice:    labelValue(req.Device),
				LabelAttempt:   strconv.Itoa(job.Attempt),
			},
			Annotations: map[string]string{AnnotationID: job.ID},
		},
		Spec: corev1.PodSpec{
			RestartPolicy:                 corev1.RestartPolicyNever,
			ActiveDeadlineSeconds:         &deadline,
			ServiceAccountName:            e.cfg.ServiceAccount,
			AutomountServiceAccountToken:  &no,
			EnableServiceLinks:            &no,
			PriorityClassName:             e.cfg.PriorityClass,
			TerminationGracePeriodSeconds: ptr(int64(e.cfg.StopGrace.Seconds())),
			SecurityContext: &corev1.PodSecurityContext{
				RunAsNonRoot:   &yes,
				RunAsUser:      &uid,
				RunAsGroup:     &uid,
				FSGroup:        &uid,
				SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
			},
			Containers: []corev1.Container{{
				Name:    ContainerName,
				Image:   e.cfg.Image,
				Command: cmd,
				Env: []corev1.EnvVar{
					{Name: EnvRequest, Value: string(data)},
					{Name: "HOME", Value: ScratchPath},
					{Name: "TMPDIR", Value: ScratchPath},
				},
				Resources: e.resources(req, kvm),
				SecurityContext: &corev1.SecurityContext{
					AllowPrivilegeEscalation: &no,
					ReadOnlyRootFilesystem:   &yes,
					Privileged:               &no,
					Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
				},
				VolumeMounts:             []corev1.VolumeMount{{Name: ScratchVolume, MountPath: ScratchPath}},
				TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
			}},
			Volumes: []corev1.Volume{{Name: ScratchVolume, VolumeSource: corev1.VolumeSource{
				EmptyDir: &corev1.EmptyDirVolumeSource{SizeLimit: ptr(resource.MustParse("8Gi"))},
			}}},
		},
	}
	// Fresh copies: the configuration's maps and slices are shared by
	// every pod.
	sel := map[string]string{}
	var tol []corev1.Toleration
	if kvm {
		for k, v := range e.cfg.KVMNodeSelector {
			sel[k] = v
		}
		tol = append(tol, e.cfg.KVMTolerations...)
	}
	for k, v := range e.cfg.NodeSelector {
		sel[k] = v
	}
	tol = append(tol, e.cfg.Tolerations...)
	if len(sel) > 0 {
		p.Spec.NodeSelector = sel
	}
	p.Spec.Tolerations = tol
	return p, nil
}

func ptr[T any](v T) *T { return &v }
