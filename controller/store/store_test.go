package store_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/tuxboot/tuxboot/controller/queue"
	"github.com/tuxboot/tuxboot/controller/queue/queuetest"
	"github.com/tuxboot/tuxboot/controller/store"
	"github.com/tuxboot/tuxboot/runner/boot"
)

func TestCreateOnce(t *testing.T) {
	st := &store.Store{KV: queuetest.New(t, queue.Options{}).State}
	ctx := context.Background()
	rec := store.NewQueued("b1", "g", "p", boot.Request{Device: "qemu-arm64", Kernel: "/k"})
	if err := st.Create(ctx, rec); err != nil {
		t.Fatal(err)
	}
	if err := st.Create(ctx, rec); !errors.Is(err, store.ErrConflict) {
		t.Errorf("second create: %v, want ErrConflict", err)
	}
	if _, err := st.Get(ctx, "b2"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("get missing: %v, want ErrNotFound", err)
	}
}

// Concurrent writers each apply their change exactly once, and a writer
// that decides on a stale copy decides again on the fresh one: of many
// claims, exactly one wins.
func TestUpdateCompareAndSet(t *testing.T) {
	st := &store.Store{KV: queuetest.New(t, queue.Options{}).State}
	ctx := context.Background()
	if err := st.Create(ctx, store.NewQueued("b", "g", "p", boot.Request{})); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins := 0
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			won := false
			_, err := st.Update(ctx, "b", func(r *store.Record) (bool, error) {
				won = false
				if r.State != store.Queued {
					return false, nil
				}
				r.State = store.Scheduled
				r.Attempts = append(r.Attempts, store.Attempt{N: 1, Owner: string(rune('a' + i))})
				won = true
				return true, nil
			})
			if err != nil {
				t.Error(err)
			}
			if won {
				mu.Lock()
				wins++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	rec, err := st.Get(ctx, "b")
	if err != nil {
		t.Fatal(err)
	}
	if wins != 1 || len(rec.Attempts) != 1 {
		t.Errorf("%d claims won, %d attempts recorded; want 1 and 1", wins, len(rec.Attempts))
	}
}
