package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/tuxboot/tuxboot/controller"
	"github.com/tuxboot/tuxboot/controller/api"
	"github.com/tuxboot/tuxboot/controller/executor/fake"
	"github.com/tuxboot/tuxboot/controller/queue"
	"github.com/tuxboot/tuxboot/controller/queue/queuetest"
	"github.com/tuxboot/tuxboot/runner/boot"
)

const base = "/v1/groups/lab/projects/kernel/tests"

// newAPI serves the API on a fresh queue; opts set its Server's options.
func newAPI(t *testing.T, opts ...func(*api.Server)) (*httptest.Server, *queue.Queue) {
	t.Helper()
	q := queuetest.New(t, queue.Options{AckWait: 2 * time.Second})
	s := &api.Server{Queue: q, Log: zerolog.Nop(), Validate: func(r *boot.Request) error {
		if r.Device != "qemu-arm64" {
			return &boot.ValidationError{Field: "device", Reason: "unknown device " + r.Device}
		}
		return nil
	}}
	for _, o := range opts {
		o(s)
	}
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	return srv, q
}

// startController runs a controller with the fake executor until the test ends.
func startController(t *testing.T, q *queue.Queue) *fake.Executor {
	ex := &fake.Executor{Queue: q}
	c, err := controller.New(controller.Config{Queue: q, Executor: ex, HeartbeatTimeout: time.Second, StopGrace: time.Second, Log: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); c.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return ex
}

func call(t *testing.T, method, url, body string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, data
}

func view(t *testing.T, data []byte) api.View {
	t.Helper()
	var v api.View
	if err := json.Unmarshal(data, &v); err != nil {
		t.Fatalf("%v: %s", err, data)
	}
	return v
}

func TestSubmitRejectsInvalidRequests(t *testing.T) {
	srv, q := newAPI(t)
	tests := []struct {
		name string
		body string
		code int
		says string
	}{
		{"not JSON", `{"device":`, 400, "body"},
		{"two JSON values", `{"device":"qemu-arm64","kernel":"http://h/k"} {"device":"qemu-arm64","kernel":"http://h/k"}`, 400, "more than one JSON value"},
		{"trailing garbage", `{"device":"qemu-arm64","kernel":"http://h/k"} ]`, 400, "body"},
		{"empty body", ``, 400, "body: EOF"},
		{"wrong type", `{"device":"qemu-arm64","kernel":"http://h/k","smp":"two"}`, 400, "smp"},
		{"unknown field", `{"device":"qemu-arm64","kernal":"http://h/k"}`, 400, "kernal"},
		{"missing kernel", `{"device":"qemu-arm64"}`, 400, "kernel: is required"},
		{"unknown device", `{"device":"qemu-vax","kernel":"http://h/k"}`, 400, "unknown device qemu-vax"},
		{"bad URL scheme", `{"device":"qemu-arm64","kernel":"gopher://h/k"}`, 400, "gopher"},
		{"negative timeout", `{"device":"qemu-arm64","kernel":"http://h/k","timeouts":{"no_output":-1}}`, 400, "timeouts.no_output"},
		{"timeout not a number", `{"device":"qemu-arm64","kernel":"http://h/k","timeouts":{"boot":"soon"}}`, 400, "timeouts"},
		{"wrong apiVersion", `{"apiVersion":"v0","device":"qemu-arm64","kernel":"http://h/k"}`, 400, "apiVersion"},
		{"id chosen by the client", `{"id":"x","device":"qemu-arm64","kernel":"http://h/k"}`, 400, "id"},
		{"bad group", `{"device":"qemu-arm64","kernel":"http://h/k"}`, 400, "group"},
		{"too big", `{"device":"qemu-arm64","kernel":"http://h/k","boot_args":"` + strings.Repeat("x", queue.MaxRequestBytes) + `"}`, 413, "at most"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			url := srv.URL + base
			if tt.name == "bad group" {
				url = srv.URL + "/v1/groups/-bad/projects/kernel/tests"
			}
			code, data := call(t, "POST", url, tt.body)
			if code != tt.code || !strings.Contains(string(data), tt.says) {
				t.Errorf("%d %s, want %d saying %q", code, data, tt.code, tt.says)
			}
		})
	}
	info, err := q.Requests.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != 0 {
		t.Errorf("%d invalid requests queued", info.State.Msgs)
	}
}

func TestLifecycle(t *testing.T) {
	srv, q := newAPI(t)

	// Queued while no controller runs: canceled at once, never run.
	code, data := call(t, "POST", srv.URL+base, `{"device":"qemu-arm64","kernel":"http://h/k","boot_args":"pass"}`)
	if code != http.StatusCreated {
		t.Fatalf("submit: %d %s", code, data)
	}
	queued := view(t, data)
	if queued.State != api.StateProvisioning || queued.UID == "" {
		t.Fatalf("submitted: %+v", queued)
	}
	if code, _ := call(t, "GET", srv.URL+base+"/"+queued.UID+"/results", ""); code != http.StatusNotFound {
		t.Errorf("results of a queued test: %d, want 404", code)
	}
	if code, _ := call(t, "GET", srv.URL+"/v1/groups/other/projects/kernel/tests/"+queued.UID, ""); code != http.StatusNotFound {
		t.Errorf("a test seen from another group: %d, want 404", code)
	}
	code, data = call(t, "POST", srv.URL+base+"/"+queued.UID+"/cancel", "")
	if v := view(t, data); code != http.StatusAccepted || v.State != api.StateFinished || v.Result != "canceled" {
		t.Errorf("cancel queued: %d %+v", code, v)
	}
	if code, data := call(t, "GET", srv.URL+base+"/"+queued.UID+"/results", ""); code != http.StatusNotFound || !strings.Contains(string(data), "canceled before it ran: no results") {
		t.Errorf("results of a test canceled while queued: %d %s, want 404 saying it was canceled before it ran", code, data)
	}
	if code, _ := call(t, "POST", srv.URL+base+"/"+queued.UID+"/cancel", ""); code != http.StatusConflict {
		t.Errorf("cancel a finished test: %d, want 409", code)
	}

	ex := startController(t, q)
	submit := func(script string) string {
		code, data := call(t, "POST", srv.URL+base, `{"device":"qemu-arm64","kernel":"http://h/k","boot_args":"`+script+`"}`)
		if code != http.StatusCreated {
			t.Fatalf("submit: %d %s", code, data)
		}
		return view(t, data).UID
	}
	wait := func(uid, state string) api.View {
		deadline := time.Now().Add(20 * time.Second)
		for {
			_, data := call(t, "GET", srv.URL+base+"/"+uid, "")
			v := view(t, data)
			if v.State == state || v.State == api.StateFinished || time.Now().After(deadline) {
				return v
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	pass := submit("pass")
	hang := submit("hang")
	if v := wait(hang, api.StateRunning); v.State != api.StateRunning {
		t.Fatalf("hanging test is %s", v.State)
	}
	if code, _ := call(t, "POST", srv.URL+base+"/"+hang+"/cancel", ""); code != http.StatusAccepted {
		t.Errorf("cancel running: %d", code)
	}
	if v := wait(hang, api.StateFinished); v.Result != "canceled" || len(v.Attempts) != 1 {
		t.Errorf("canceled running test: %+v", v)
	}
	v := wait(pass, api.StateFinished)
	if v.Result != boot.Pass || v.Results == nil || v.Results.Result != boot.Pass {
		t.Errorf("passing test: %+v", v)
	}
	code, data = call(t, "GET", srv.URL+base+"/"+pass+"/results", "")
	var res boot.Result
	if err := json.Unmarshal(data, &res); code != 200 || err != nil || res.ID != pass {
		t.Errorf("results: %d %s", code, data)
	}
	code, data = call(t, "GET", srv.URL+base+"/"+pass+"/events", "")
	if code != 200 || !bytes.Contains(data, []byte(`"state":"queued"`)) || !bytes.Contains(data, []byte(`"state":"finished"`)) {
		t.Errorf("events: %d %s", code, data)
	}
	if code, _ := call(t, "GET", srv.URL+"/healthz", ""); code != 200 {
		t.Errorf("healthz: %d", code)
	}
	time.Sleep(500 * time.Millisecond) // the canceled queued request is pulled and dropped
	if n := ex.Starts(queued.UID); n != 0 {
		t.Errorf("a test canceled while queued started %d runners", n)
	}
	if n := ex.Starts(hang); n != 1 {
		t.Errorf("a canceled running test started %d runners, want 1", n)
	}
}
