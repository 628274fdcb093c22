package artefact

import (
	"context"
	"sync"
)

// flightGroup lets goroutines of one process share a single run of the
// same work (a download, a decompression), like x/sync/singleflight, but
// with contexts: a caller whose context ends stops waiting, and the work
// itself is cancelled only when every caller has gone. Across processes
// the file locks in cache.go do the same job.
type flightGroup struct {
	mu    sync.Mutex
	calls map[string]*flightCall
}

type flightCall struct {
	done    chan struct{}
	val     entry
	err     error
	waiters int
	cancel  context.CancelFunc
}

// do runs fn once for all concurrent callers with the same key.
func (g *flightGroup) do(ctx context.Context, key string, fn func(context.Context) (entry, error)) (entry, error) {
	g.mu.Lock()
	if g.calls == nil {
		g.calls = map[string]*flightCall{}
	}
	c, ok := g.calls[key]
	if !ok {
		// The work must outlive the first caller's context if others
		// still wait on it, so it gets a context of its own.
		wctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		c = &flightCall{done: make(chan struct{}), cancel: cancel}
		g.calls[key] = c
		go func() {
			defer cancel()
			c.val, c.err = fn(wctx)
			g.mu.Lock()
			if g.calls[key] == c {
				delete(g.calls, key)
			}
			g.mu.Unlock()
			close(c.done)
		}()
	}
	c.waiters++
	g.mu.Unlock()

	select {
	case <-c.done:
		return c.val, c.err
	case <-ctx.Done():
		g.mu.Lock()
		c.waiters--
		if c.waiters == 0 {
			// Nobody wants the result any more: stop the work, and let
			// a later caller start afresh rather than join a dying call.
			c.cancel()
			if g.calls[key] == c {
				delete(g.calls, key)
			}
		}
		g.mu.Unlock()
		return entry{}, ctx.Err()
	}
}
