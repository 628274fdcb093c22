package kubernetes

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
)

// DefaultLeaseName is the Lease the controller replicas contend for.
const DefaultLeaseName = "tuxboot-controller"

// Election configures leader election among controller replicas.
type Election struct {
	Client    kubernetes.Interface
	Namespace string
	Lease     string // default DefaultLeaseName
	Identity  string // this replica, unique (the pod name)
	// LeaseDuration, RenewDeadline and RetryPeriod default to 15s, 10s
	// and 2s, as in kube-controller-manager.
	LeaseDuration, RenewDeadline, RetryPeriod time.Duration
	Log                                       zerolog.Logger
}

// RunAsLeader runs lead while this replica holds the Lease, so that two
// replicas never schedule at once. lead's context ends when leadership is
// lost; RunAsLeader then returns, and so does it when ctx ends (releasing
// the Lease, so the other replica takes over at once).
func RunAsLeader(ctx context.Context, el Election, lead func(ctx context.Context)) error {
	if el.Lease == "" {
		el.Lease = DefaultLeaseName
	}
	if el.LeaseDuration <= 0 {
		el.LeaseDuration = 15 * time.Second
	}
	if el.RenewDeadline <= 0 {
		el.RenewDeadline = 10 * time.Second
	}
	if el.RetryPeriod <= 0 {
		el.RetryPeriod = 2 * time.Second
	}
	lock := &resourcelock.LeaseLock{
		LeaseMeta:  metav1.ObjectMeta{Name: el.Lease, Namespace: el.Namespace},
		Client:     el.Client.CoordinationV1(),
		LockConfig: resourcelock.ResourceLockConfig{Identity: el.Identity},
	}
	done := make(chan struct{})
	var led atomic.Bool
	le, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
		Lock:            lock,
		LeaseDuration:   el.LeaseDuration,
		RenewDeadline:   el.RenewDeadline,
		RetryPeriod:     el.RetryPeriod,
		ReleaseOnCancel: true,
		Name:            el.Lease,
		Callbacks: leaderelection.LeaderCallbacks{
			OnStartedLeading: func(ctx context.Context) {
				led.Store(true)
				defer close(done)
				el.Log.Info().Str("identity", el.Identity).Str("lease", el.Lease).Msg("leading")
				lead(ctx)
			},
			OnStoppedLeading: func() {
				el.Log.Info().Str("identity", el.Identity).Msg("no longer leading")
			},
			OnNewLeader: func(id string) {
				if id != el.Identity {
					el.Log.Info().Str("leader", id).Msg("another replica leads")
				}
			},
		},
	})
	if err != nil {
		return fmt.Errorf("leader election on lease %s/%s: %w", el.Namespace, el.Lease, err)
	}
	le.Run(ctx)
	if led.Load() {
		<-done // Run does not wait for lead to return
	}
	return nil
}
