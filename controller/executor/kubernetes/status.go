package kubernetes

import (
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// ErrInfra marks a pod that ended, or will never run, for a reason of the
// cluster's rather than the boot's. The controller finds no result for
// such an attempt and retries it as an infrastructure error.
var ErrInfra = errors.New("infrastructure")

// verdict is what a pod's status says about its attempt.
type verdict struct {
	// ended: the pod will run no more (or must not be left to).
	ended bool
	// err: why it ended, for an infrastructure failure; nil for a runner
	// that ran to its end, whatever the boot's verdict.
	err error
	// recheck: when to look again though nothing changes (a pending pod
	// reaching the pending timeout); zero for never.
	recheck time.Duration
	// phase is a one-line account of the pod for boot events.
	phase string
}

// Image and container set-up failures a kubelet reports as a waiting
// container: retrying in the same pod cannot help.
var fatalWaiting = map[string]bool{
	"ErrImagePull":               true,
	"ImagePullBackOff":           true,
	"InvalidImageName":           true,
	"ErrImageNeverPull":          true,
	"CreateContainerConfigError": true,
	"CreateContainerError":       true,
	"RunContainerError":          true,
}

// classify reads a pod's status as a kubelet and the scheduler wrote it.
// unschedulableSince is when the executor first saw the pod unschedulable
// (zero if it has not); pendingTimeout is how long that may last.
func classify(p *corev1.Pod, now, unschedulableSince time.Time, pendingTimeout time.Duration) verdict {
	cs := runnerStatus(p)
	if p.DeletionTimestamp != nil {
		return verdict{ended: true, err: fmt.Errorf("%w: pod %s was deleted", ErrInfra, p.Name), phase: "deleting"}
	}
	for _, c := range p.Status.Conditions {
		// Set by the node lifecycle controller (node lost, taint
		// eviction), the kubelet (node shutdown, pressure eviction) and
		// preemption before the pod goes.
		if c.Type == corev1.DisruptionTarget && c.Status == corev1.ConditionTrue {
			return verdict{ended: true, err: fmt.Errorf("%w: pod %s disrupted: %s %s", ErrInfra, p.Name, c.Reason, c.Message), phase: "disrupted: " + c.Reason}
		}
	}
	switch p.Status.Phase {
	case corev1.PodSucceeded:
		return verdict{ended: true, phase: "succeeded"}
	case corev1.PodFailed:
		switch p.Status.Reason {
		case "Evicted", "NodeLost", "NodeShutdown", "Shutdown", "Terminated", "Preempting", "UnexpectedAdmissionError", "OutOfcpu", "OutOfmemory":
			return verdict{ended: true, err: fmt.Errorf("%w: pod %s %s: %s", ErrInfra, p.Name, p.Status.Reason, p.Status.Message), phase: "failed: " + p.Status.Reason}
		case "DeadlineExceeded":
			return verdict{ended: true, err: fmt.Errorf("%w: pod %s passed its active deadline: %s", ErrInfra, p.Name, p.Status.Message), phase: "failed: DeadlineExceeded"}
		}
		if cs != nil && cs.State.Terminated != nil {
			t := cs.State.Terminated
			if t.Reason == "OOMKilled" {
				return verdict{ended: true, err: fmt.Errorf("%w: runner of pod %s was OOMKilled", ErrInfra, p.Name), phase: "failed: OOMKilled"}
			}
			// Exit statuses 1-3 are the runner's verdicts (fail, bad
			// request, error), published with its result.
			if t.ExitCode >= 0 && t.ExitCode <= 3 && t.Signal == 0 {
				return verdict{ended: true, phase: fmt.Sprintf("failed: exit %d", t.ExitCode)}
			}
			return verdict{ended: true, err: fmt.Errorf("%w: runner of pod %s ended with exit code %d (%s)", ErrInfra, p.Name, t.ExitCode, t.Reason), phase: fmt.Sprintf("failed: exit %d %s", t.ExitCode, t.Reason)}
		}
		return verdict{ended: true, err: fmt.Errorf("%w: pod %s failed: %s %s", ErrInfra, p.Name, p.Status.Reason, p.Status.Message), phase: "failed: " + p.Status.Reason}
	case corev1.PodUnknown:
		return verdict{ended: true, err: fmt.Errorf("%w: pod %s is in phase Unknown (node lost)", ErrInfra, p.Name), phase: "unknown"}
	case corev1.PodRunning:
		return verdict{phase: "running"}
	}
	// Pending.
	if cs != nil && cs.State.Waiting != nil && fatalWaiting[cs.State.Waiting.Reason] {
		w := cs.State.Waiting
		return verdict{ended: true, err: fmt.Errorf("%w: pod %s cannot start its runner: %s: %s", ErrInfra, p.Name, w.Reason, w.Message), phase: "pending: " + w.Reason}
	}
	if c := unschedulable(p); c != nil && !unschedulableSince.IsZero() {
		waited := now.Sub(unschedulableSince)
		if waited >= pendingTimeout {
			return verdict{ended: true, err: fmt.Errorf("%w: pod %s unschedulable for %s: %s", ErrInfra, p.Name, waited.Round(time.Second), c.Message), phase: "unschedulable"}
		}
		return verdict{recheck: pendingTimeout - waited, phase: "unschedulable: " + c.Message}
	}
	if p.Spec.NodeName != "" {
		return verdict{phase: "pending on " + p.Spec.NodeName}
	}
	return verdict{phase: "pending"}
}

// unschedulable is the scheduler's condition saying the pod fits no node.
func unschedulable(p *corev1.Pod) *corev1.PodCondition {
	if p.Spec.NodeName != "" {
		return nil
	}
	for i, c := range p.Status.Conditions {
		if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse && c.Reason == corev1.PodReasonUnschedulable {
			return &p.Status.Conditions[i]
		}
	}
	return nil
}

func runnerStatus(p *corev1.Pod) *corev1.ContainerStatus {
	for i, c := range p.Status.ContainerStatuses {
		if c.Name == ContainerName {
			return &p.Status.ContainerStatuses[i]
		}
	}
	return nil
}
