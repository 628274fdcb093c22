package api_test

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/tuxboot/tuxboot/controller/api"
	"github.com/tuxboot/tuxboot/controller/queue"
	"github.com/tuxboot/tuxboot/controller/queue/queuetest"
)

// receiver is a callback endpoint that fails its first `failures` posts.
type receiver struct {
	mu       sync.Mutex
	failures int
	tries    int
	bodies   [][]byte
	sigs     []string
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.tries++
	if rc.tries <= rc.failures {
		http.Error(w, "not now", http.StatusInternalServerError)
		return
	}
	rc.bodies = append(rc.bodies, body)
	rc.sigs = append(rc.sigs, r.Header.Get(api.SignatureHeader))
}

func (rc *receiver) state() (tries int, bodies [][]byte, sigs []string) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return rc.tries, rc.bodies, rc.sigs
}

// runCallbacks delivers s's callbacks until the test ends, and returns
// once they are read from the stream.
func runCallbacks(t *testing.T, s *api.Server, q *queue.Queue, opts api.CallbackOptions) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.RunCallbacks(ctx, opts) }()
	t.Cleanup(func() { cancel(); <-done })
	deadline := time.Now().Add(20 * time.Second)
	for {
		if _, err := q.Boots.Consumer(context.Background(), "api-callbacks"); err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("no callbacks consumer")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestCallbacksAreSignedAndRetried(t *testing.T) {
	q := queuetest.New(t, queue.Options{AckWait: 2 * time.Second})
	s := &api.Server{Queue: q, Log: zerolog.Nop()}
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	runCallbacks(t, s, q, api.CallbackOptions{Attempts: 3, Backoff: 100 * time.Millisecond, AllowPrivate: true})
	startController(t, q)

	flaky := &receiver{failures: 1}
	dead := &receiver{failures: 1000}
	flakySrv := httptest.NewServer(flaky)
	t.Cleanup(flakySrv.Close)
	deadSrv := httptest.NewServer(dead)
	t.Cleanup(deadSrv.Close)

	if code, data := call(t, "POST", srv.URL+base, `{"device":"qemu-arm64","kernel":"http://h/k","callback":"ftp://x/y"}`); code != 400 || !strings.Contains(string(data), "callback") {
		t.Errorf("bad callback URL: %d %s", code, data)
	}
	submit := func(script, callback string) string {
		code, data := call(t, "POST", srv.URL+base, `{"device":"qemu-arm64","kernel":"http://h/k","boot_args":"`+script+`","callback":"`+callback+`"}`)
		if code != http.StatusCreated {
			t.Fatalf("submit: %d %s", code, data)
		}
		return view(t, data).UID
	}
	failing := submit("fail", flakySrv.URL+"/hook")
	passing := submit("pass", deadSrv.URL+"/hook")

	// Delivered on the second try, signed with the published key.
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, bodies, _ := flaky.state(); len(bodies) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no callback within 30s")
		}
		time.Sleep(50 * time.Millisecond)
	}
	tries, bodies, sigs := flaky.state()
	var keys api.Keys
	_, data := call(t, "GET", srv.URL+"/v1/groups/lab/projects/kernel/keys", "")
	if err := json.Unmarshal(data, &keys); err != nil || keys.Callback.Algorithm != "ed25519" {
		t.Fatalf("keys: %v %s", err, data)
	}
	pub, _ := base64.StdEncoding.DecodeString(keys.Callback.PublicKey)
	sig, _ := base64.StdEncoding.DecodeString(sigs[0])
	if len(pub) != ed25519.PublicKeySize || !ed25519.Verify(pub, bodies[0], sig) {
		t.Errorf("callback signature %q does not verify with %q", sigs[0], keys.Callback.PublicKey)
	}
	tampered := append([]byte{}, bodies[0]...)
	tampered[len(tampered)-2] ^= 1
	if ed25519.Verify(pub, tampered, sig) {
		t.Error("a tampered body verifies")
	}
	if v := view(t, bodies[0]); tries != 2 || v.UID != failing || v.Result != "fail" || v.Results == nil {
		t.Errorf("callback after %d tries: %+v", tries, v)
	}

	// A callback that never gets through is given up after 3 tries, and
	// the test keeps its result.
	deadline = time.Now().Add(30 * time.Second)
	for {
		if tries, _, _ := dead.state(); tries >= 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("dead callback not tried 3 times")
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(time.Second)
	if tries, _, _ := dead.state(); tries != 3 {
		t.Errorf("dead callback tried %d times, want 3", tries)
	}
	if _, data := call(t, "GET", srv.URL+base+"/"+passing, ""); view(t, data).Result != "pass" {
		t.Errorf("a failed callback changed the result: %s", data)
	}
	if tries, _, _ := flaky.state(); tries != 2 {
		t.Errorf("a delivered callback was posted again: %d tries", tries)
	}
}

// A callback URL that hangs holds up its own delivery only: another
// test's callback is delivered meanwhile.
func TestSlowCallbackDoesNotDelayOthers(t *testing.T) {
	q := queuetest.New(t, queue.Options{AckWait: 2 * time.Second})
	s := &api.Server{Queue: q, Log: zerolog.Nop()}
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)

	hung := make(chan struct{}, 10)
	release := make(chan struct{})
	hangSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hung <- struct{}{}
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(hangSrv.Close)
	t.Cleanup(func() { close(release) }) // before hangSrv.Close, which waits for its handlers
	fast := &receiver{}
	fastSrv := httptest.NewServer(fast)
	t.Cleanup(fastSrv.Close)

	// A try lasts up to a minute: serial delivery would hold the second callback that long.
	runCallbacks(t, s, q, api.CallbackOptions{Attempts: 2, Backoff: 100 * time.Millisecond, Timeout: time.Minute, AllowPrivate: true})
	startController(t, q)
	submit := func(callback string) string {
		code, data := call(t, "POST", srv.URL+base, `{"device":"qemu-arm64","kernel":"http://h/k","boot_args":"pass","callback":"`+callback+`"}`)
		if code != http.StatusCreated {
			t.Fatalf("submit: %d %s", code, data)
		}
		return view(t, data).UID
	}
	submit(hangSrv.URL + "/hook")
	select {
	case <-hung:
	case <-time.After(30 * time.Second):
		t.Fatal("the hanging callback was not posted within 30s")
	}
	posted := time.Now()
	second := submit(fastSrv.URL + "/hook")
	deadline := time.Now().Add(20 * time.Second)
	for {
		if _, bodies, _ := fast.state(); len(bodies) == 1 {
			if v := view(t, bodies[0]); v.UID != second || v.Result != "pass" {
				t.Errorf("callback of %s: %+v", second, v)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the second test's callback is still waiting %s after the first hung", time.Since(posted).Round(time.Second))
		}
		time.Sleep(50 * time.Millisecond)
	}
	select {
	case <-hung:
		t.Error("the hanging callback was posted again while its first try hung")
	default:
	}
}
