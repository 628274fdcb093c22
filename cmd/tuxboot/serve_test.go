package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"

	"github.com/tuxboot/tuxboot/controller/api"
	"github.com/tuxboot/tuxboot/controller/queue"
	"github.com/tuxboot/tuxboot/runner/boot"
	"github.com/tuxboot/tuxboot/runner/testkernel"
)

// serveProc is a `tuxboot serve` process: this test binary run as tuxboot,
// whose runners are this binary too.
type serveProc struct {
	cmd     *exec.Cmd
	addr    string
	natsURL string
	logPath string
	exited  chan struct{}
}

const testTagEnv = "TUXBOOT_TEST_TAG"

// startServe starts `tuxboot serve` on dataDir. Everything it starts
// carries tag in its environment, so the test can make sure that nothing
// it started outlives it. Requests may name local files of the test data
// (testkernel.Dir()) and of dataDir: both are its --artefact-dir.
func startServe(t *testing.T, dataDir, tag string, extra ...string) *serveProc {
	t.Helper()
	addrFile := filepath.Join(dataDir, "addr")
	os.Remove(addrFile)
	if err := os.MkdirAll(dataDir, 0o755); err != nil {
		t.Fatal(err)
	}
	logFile, err := os.CreateTemp(dataDir, "serve-*.log")
	if err != nil {
		t.Fatal(err)
	}
	args := append([]string{"serve", "--listen", "127.0.0.1:0", "--addr-file", addrFile, "--data-dir", dataDir,
		"--cache-dir", filepath.Join(dataDir, "cache"), "--log-format", "json"}, testArtefactDirs(dataDir)...)
	args = append(args, extra...)
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "TUXBOOT_TEST_MAIN=1", testTagEnv+"="+tag)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	logFile.Close()
	s := &serveProc{cmd: cmd, logPath: logFile.Name(), exited: make(chan struct{})}
	go func() { cmd.Wait(); close(s.exited) }()
	t.Cleanup(func() {
		select {
		case <-s.exited: // killed by the test
		default:
			s.cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-s.exited:
				if code := s.cmd.ProcessState.ExitCode(); code != 0 {
					t.Errorf("serve exited %d after SIGTERM, want 0", code)
				}
			case <-time.After(30 * time.Second):
				t.Errorf("serve still running 30s after SIGTERM")
				s.cmd.Process.Kill()
				<-s.exited
			}
		}
		if t.Failed() {
			data, _ := os.ReadFile(s.logPath)
			t.Logf("serve log %s:\n%s", s.logPath, tail(string(data), 60))
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		if data, err := os.ReadFile(addrFile); err == nil && strings.HasSuffix(string(data), "\n") {
			s.addr = strings.TrimSpace(string(data))
			break
		}
		select {
		case <-s.exited:
			data, _ := os.ReadFile(s.logPath)
			t.Fatalf("serve exited early:\n%s", data)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatal("serve did not listen within 30s")
		}
	}
	// The NATS URL is in the "serving" log line.
	data, _ := os.ReadFile(s.logPath)
	for _, line := range strings.Split(string(data), "\n") {
		var l struct{ Message, NATS string }
		if json.Unmarshal([]byte(line), &l) == nil && l.Message == "serving" {
			s.natsURL = l.NATS
		}
	}
	return s
}

// testArtefactDirs are the --artefact-dir flags letting a test's serve
// or api boot the test data's kernels (when hack/testdata.sh has made
// them: tests without them are skipped) and files of dir.
func testArtefactDirs(dir string) []string {
	flags := []string{"--artefact-dir", dir}
	if d := testkernel.Dir(); d != "" {
		if fi, err := os.Stat(d); err == nil && fi.IsDir() {
			flags = append(flags, "--artefact-dir", d)
		}
	}
	return flags
}

func tail(s string, n int) string {
	lines := strings.Split(s, "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// reapTagged waits until no process carrying tag is left, killing
// stragglers after within: a test leaves nothing running.
func reapTagged(t *testing.T, tag string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		pids := taggedPIDs(tag)
		if len(pids) == 0 {
			return
		}
		if time.Now().After(deadline) {
			for _, pid := range pids {
				syscall.Kill(pid, syscall.SIGKILL)
			}
			t.Errorf("processes %v outlived their serve by %s", pids, within)
			time.Sleep(500 * time.Millisecond)
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func taggedPIDs(tag string) []int {
	var pids []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		var pid int
		if _, err := fmt.Sscan(e.Name(), &pid); err != nil || pid == os.Getpid() {
			continue
		}
		env, err := os.ReadFile(filepath.Join("/proc", e.Name(), "environ"))
		if err == nil && bytes.Contains(env, []byte(testTagEnv+"="+tag+"\x00")) {
			// A zombie has no environ; one that is readable is alive.
			pids = append(pids, pid)
		}
	}
	return pids
}

func (s *serveProc) url(path string) string {
	return "http://" + s.addr + "/v1/groups/tuxboot/projects/test/tests" + path
}

func (s *serveProc) submit(t *testing.T, req boot.Request) (int, map[string]any) {
	t.Helper()
	data, _ := json.Marshal(req)
	resp, err := http.Post(s.url(""), "application/json", bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, body
}

func (s *serveProc) get(t *testing.T, uid string) api.View {
	t.Helper()
	resp, err := http.Get(s.url("/" + uid))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var v api.View
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %v", uid, resp.StatusCode, err)
	}
	return v
}

func (s *serveProc) text(t *testing.T, path string) string {
	t.Helper()
	resp, err := http.Get(s.url(path))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %s", path, resp.StatusCode, data)
	}
	return string(data)
}

func (s *serveProc) waitState(t *testing.T, uid, state string, within time.Duration) api.View {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		v := s.get(t, uid)
		if v.State == state || v.State == api.StateFinished {
			return v
		}
		if time.Now().After(deadline) {
			t.Fatalf("test %s still %s after %s", uid, v.State, within)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// events reads a test's events; with follow, until it has finished.
func (s *serveProc) events(t *testing.T, uid string, follow bool) []boot.Event {
	t.Helper()
	u := s.url("/" + uid + "/events")
	if follow {
		u += "?follow=1"
	}
	resp, err := http.Get(u)
	if err != nil {
		t.Error(err)
		return nil
	}
	defer resp.Body.Close()
	var evs []boot.Event
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		var ev boot.Event
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Errorf("event line %q: %v", sc.Text(), err)
			continue
		}
		evs = append(evs, ev)
	}
	return evs
}

func countFinished(evs []boot.Event) int {
	n := 0
	for _, ev := range evs {
		if ev.Type == boot.EventState && ev.State == "finished" {
			n++
		}
	}
	return n
}

func realRequest(t *testing.T, arch, device, bootArgs string) boot.Request {
	in := testkernel.Lookup(t, arch)
	return boot.Request{Device: device, Kernel: in.Kernel, Rootfs: in.Rootfs, BootArgs: bootArgs}
}

// TestServeRealBoots submits real boots through the whole pipeline: the
// HTTP API, the JetStream queue, the controller, `tuxboot runner` child
// processes and QEMU, and back through the events, log chunks and results.
func TestServeRealBoots(t *testing.T) {
	if testing.Short() {
		t.Skip("boots QEMU")
	}
	amd64 := realRequest(t, "amd64", "qemu-x86_64", "")
	arm64 := realRequest(t, "arm64", "qemu-arm64", "")
	hang := realRequest(t, "arm64", "qemu-arm64", "tuxboot.mode=hang")
	tag := nuid.Next()
	dataDir := t.TempDir()
	t.Cleanup(func() { reapTagged(t, tag, 30*time.Second) })
	s := startServe(t, dataDir, tag, "--max-parallel", "2", "--fetch-retries", "-1")

	// Requests that fail validation are answered with the reason and
	// never reach a runner.
	bad := []struct {
		name string
		req  boot.Request
		says string
	}{
		{"unknown device", boot.Request{Device: "qemu-vax", Kernel: arm64.Kernel}, "qemu-vax"},
		{"missing kernel", boot.Request{Device: "qemu-arm64"}, "kernel: is required"},
		{"bad URL scheme", boot.Request{Device: "qemu-arm64", Kernel: "ftp://example.com/Image"}, "ftp"},
		{"bad timeout", boot.Request{Device: "qemu-arm64", Kernel: arm64.Kernel, Timeouts: boot.Timeouts{Boot: -5}}, "timeouts.boot"},
		{"client-chosen id", boot.Request{ID: "mine", Device: "qemu-arm64", Kernel: arm64.Kernel}, "id"},
		{"local file outside --artefact-dir", boot.Request{Device: "qemu-arm64", Kernel: arm64.Kernel, Rootfs: "/etc/passwd"},
			`rootfs: local path "/etc/passwd" refused: local paths must be under an --artefact-dir (`},
		{"file URL outside --artefact-dir", boot.Request{Device: "qemu-arm64", Kernel: "file:///etc/passwd"}, `kernel: local path "/etc/passwd" refused`},
	}
	for _, b := range bad {
		code, body := s.submit(t, b.req)
		if code != http.StatusBadRequest || !strings.Contains(fmt.Sprint(body["reason"]), b.says) {
			t.Errorf("%s: %d %v, want 400 saying %q", b.name, code, body, b.says)
		}
	}

	submit := func(req boot.Request) string {
		code, body := s.submit(t, req)
		uid, _ := body["uid"].(string)
		if code != http.StatusCreated || uid == "" || body["state"] != api.StateProvisioning {
			t.Fatalf("submit: %d %v", code, body)
		}
		return uid
	}
	unreachable := submit(boot.Request{Device: "qemu-arm64", Kernel: "http://127.0.0.1:1/Image"})
	// The arm64 boot has a callback: once it finishes, the server posts
	// its status object, signed with the key it publishes.
	type hit struct {
		body []byte
		sig  string
	}
	hooks := make(chan hit, 8)
	hookSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		hooks <- hit{body, r.Header.Get(api.SignatureHeader)}
	}))
	t.Cleanup(hookSrv.Close)
	withCallback := func(req boot.Request, callback string) string {
		data, _ := json.Marshal(req)
		var sub map[string]any
		json.Unmarshal(data, &sub)
		sub["callback"] = callback
		data, _ = json.Marshal(sub)
		resp, err := http.Post(s.url(""), "application/json", bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var v api.View
		if err := json.NewDecoder(resp.Body).Decode(&v); err != nil || resp.StatusCode != http.StatusCreated {
			t.Fatalf("submit with a callback: %d %v", resp.StatusCode, err)
		}
		return v.UID
	}
	passes := map[string]string{"amd64": submit(amd64), "arm64": withCallback(arm64, hookSrv.URL+"/tuxboot")}

	// Follow one boot's progress as it happens.
	followed := make(chan []boot.Event, 1)
	go func() { followed <- s.events(t, passes["arm64"], true) }()

	for arch, uid := range passes {
		v := s.waitState(t, uid, api.StateFinished, 5*time.Minute)
		if v.Result != boot.Pass || v.Results == nil || v.Results.Result != boot.Pass || len(v.Attempts) != 1 {
			t.Errorf("%s: result %q, attempts %d, results %+v", arch, v.Result, len(v.Attempts), v.Results)
			continue
		}
		var res boot.Result
		if err := json.Unmarshal([]byte(s.text(t, "/"+uid+"/results")), &res); err != nil || res.ID != uid || len(res.Milestones) == 0 {
			t.Errorf("%s: results.json %+v: %v", arch, res, err)
		}
		log := s.text(t, "/"+uid+"/logs")
		if !strings.Contains(log, "TUXBOOT-INIT") || int64(len(log)) != res.LogBytes {
			t.Errorf("%s: log of %d bytes (results say %d) without the init marker", arch, len(log), res.LogBytes)
		}
		// The live log chunks, put together, are the stored log.
		if chunks := logChunks(t, s.natsURL, uid); chunks != log {
			t.Errorf("%s: log chunks make %d bytes, the stored log has %d", arch, len(chunks), len(log))
		}
	}
	select {
	case h := <-hooks:
		var keys api.Keys
		resp, err := http.Get("http://" + s.addr + "/v1/groups/tuxboot/projects/test/keys")
		if err != nil {
			t.Fatal(err)
		}
		json.NewDecoder(resp.Body).Decode(&keys)
		resp.Body.Close()
		pub, _ := base64.StdEncoding.DecodeString(keys.Callback.PublicKey)
		sig, _ := base64.StdEncoding.DecodeString(h.sig)
		if len(pub) != ed25519.PublicKeySize || !ed25519.Verify(pub, h.body, sig) {
			t.Errorf("callback signature %q does not verify with the published key %q", h.sig, keys.Callback.PublicKey)
		}
		var v api.View
		if err := json.Unmarshal(h.body, &v); err != nil || v.UID != passes["arm64"] || v.Result != boot.Pass || v.State != api.StateFinished {
			t.Errorf("callback body %s: %v", h.body, err)
		}
	case <-time.After(time.Minute):
		t.Error("no callback within a minute of the boot's end")
	}
	evs := <-followed
	var milestones []string
	for _, ev := range evs {
		if ev.Type == boot.EventMilestone {
			milestones = append(milestones, ev.Milestone.Name)
		}
	}
	if len(evs) == 0 || evs[0].State != "queued" || countFinished(evs) != 1 || evs[len(evs)-1].State != "finished" {
		t.Errorf("followed events %+v: want queued first, finished last and once", evs)
	}
	if !strings.Contains(strings.Join(milestones, " "), boot.MilestoneKernelStarted) || !strings.Contains(strings.Join(milestones, " "), boot.MilestoneTestsFinished) {
		t.Errorf("milestones streamed: %v", milestones)
	}

	// An unreachable kernel URL is an infrastructure error, after its retries.
	v := s.waitState(t, unreachable, api.StateFinished, 2*time.Minute)
	if v.Result != boot.Error || v.Failure == nil || v.Failure.Kind != boot.FailArtefact || len(v.Attempts) != 3 {
		t.Errorf("unreachable kernel: %q %+v after %d attempts, want error/artefact_error after 3", v.Result, v.Failure, len(v.Attempts))
	}

	// A running boot is canceled: the runner and its QEMU stop, the boot
	// finishes as canceled, and is not retried.
	uid := submit(hang)
	s.waitState(t, uid, api.StateRunning, time.Minute)
	deadline := time.Now().Add(time.Minute)
	for !strings.Contains(s.text(t, "/"+uid+"/logs"), "TUXBOOT-INIT") && time.Now().Before(deadline) {
		time.Sleep(500 * time.Millisecond) // until the guest hangs
	}
	// Its QEMU (the only one left: the other boots have finished) is
	// running until the cancel, and gone within seconds of it.
	if pids := taggedQEMU(tag); len(pids) != 1 {
		t.Errorf("QEMU processes %v of the hanging boot before the cancel, want 1", pids)
	}
	resp, err := http.Post(s.url("/"+uid+"/cancel"), "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	canceled := time.Now()
	if resp.StatusCode != http.StatusAccepted {
		t.Errorf("cancel: %d", resp.StatusCode)
	}
	for pids := taggedQEMU(tag); len(pids) > 0; pids = taggedQEMU(tag) {
		if time.Since(canceled) > 20*time.Second {
			t.Fatalf("QEMU %v still running 20s after the cancel", pids)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("QEMU gone %s after the cancel", time.Since(canceled).Round(10*time.Millisecond))
	v = s.waitState(t, uid, api.StateFinished, time.Minute)
	if v.Result != "canceled" || len(v.Attempts) != 1 {
		t.Errorf("canceled boot: %q after %d attempts", v.Result, len(v.Attempts))
	}

	// Only the valid requests reached runners: one job per attempt.
	jobs, _ := filepath.Glob(filepath.Join(dataDir, "runners", "jobs", "*.runner.log"))
	if len(jobs) != 3+2+1 {
		t.Errorf("%d runners ran, want 6 (3 attempts of the unreachable kernel, 2 passes, 1 canceled)", len(jobs))
	}
}

// logChunks puts a boot's live log chunks together, straight from NATS.
func logChunks(t *testing.T, natsURL, uid string) string {
	t.Helper()
	nc, err := nats.Connect(natsURL)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	q, err := queue.Attach(context.Background(), nc)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	q.Follow(context.Background(), []string{queue.LogSubject(uid)}, false, func(m jetstream.Msg) bool {
		if off := m.Headers().Get(queue.HeaderOffset); off != fmt.Sprint(b.Len()) {
			t.Errorf("chunk at offset %s after %d bytes", off, b.Len())
		}
		b.Write(m.Data())
		return false
	})
	return b.String()
}

// TestServeSIGKILL kills `tuxboot serve` with SIGKILL while boots are
// queued and running, starts it again on the same data directory, and
// checks that every request reaches exactly one final result.
func TestServeSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("boots QEMU")
	}
	req := realRequest(t, "arm64", "qemu-arm64", "")
	tag := nuid.Next()
	dataDir := t.TempDir()
	t.Cleanup(func() { reapTagged(t, tag, 30*time.Second) })
	flags := []string{"--max-parallel", "1", "--ack-wait", "3s", "--heartbeat-timeout", "10s"}
	s1 := startServe(t, dataDir, tag, flags...)
	var uids []string
	for range 3 {
		code, body := s1.submit(t, req)
		if code != http.StatusCreated {
			t.Fatalf("submit: %d %v", code, body)
		}
		uids = append(uids, body["uid"].(string))
	}
	s1.waitState(t, uids[0], api.StateRunning, time.Minute)
	// Into the boot: the kernel is talking, and the boot is far from done.
	deadline := time.Now().Add(time.Minute)
	for s1.text(t, "/"+uids[0]+"/logs") == "" && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	for _, uid := range uids[1:] {
		if v := s1.get(t, uid); v.State != api.StateProvisioning {
			t.Fatalf("%s is %s before the kill, want it queued", uid, v.State)
		}
	}
	s1.cmd.Process.Signal(syscall.SIGKILL)
	<-s1.exited
	killedAt := time.Now()

	s2 := startServe(t, dataDir, tag, flags...)
	for i, uid := range uids {
		v := s2.waitState(t, uid, api.StateFinished, 3*time.Minute)
		if v.Result != boot.Pass {
			t.Errorf("boot %d: result %q (%+v), want pass", i, v.Result, v.Failure)
		}
		if n := countFinished(s2.events(t, uid, false)); n != 1 {
			t.Errorf("boot %d: %d finished events, want 1", i, n)
		}
		want := 1
		if i == 0 {
			want = 2 // the attempt the kill interrupted, then one that passed
		}
		if len(v.Attempts) != want {
			t.Errorf("boot %d: %d attempts %+v, want %d", i, len(v.Attempts), v.Attempts, want)
		}
		if i == 0 && len(v.Attempts) == 2 && (v.Attempts[0].Result != boot.Error || v.Attempts[0].Failure == nil || v.Attempts[0].Failure.Kind != boot.FailInfra) {
			t.Errorf("boot 0: the interrupted attempt is recorded as %+v", v.Attempts[0])
		}
	}
	t.Logf("all %d boots finished %.1fs after the kill", len(uids), time.Since(killedAt).Seconds())
}

// TestServeRestart stops `tuxboot serve` (SIGTERM) with a boot running and
// starts it again: the interrupted attempt is recorded and retried at
// once, without waiting out the ack or heartbeat timeouts.
func TestServeRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("boots QEMU")
	}
	req := realRequest(t, "arm64", "qemu-arm64", "")
	tag := nuid.Next()
	dataDir := t.TempDir()
	t.Cleanup(func() { reapTagged(t, tag, 30*time.Second) })
	s1 := startServe(t, dataDir, tag)
	code, body := s1.submit(t, req)
	if code != http.StatusCreated {
		t.Fatalf("submit: %d %v", code, body)
	}
	uid := body["uid"].(string)
	s1.waitState(t, uid, api.StateRunning, time.Minute)
	deadline := time.Now().Add(time.Minute)
	for s1.text(t, "/"+uid+"/logs") == "" && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	s1.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s1.exited:
		if code := s1.cmd.ProcessState.ExitCode(); code != 0 {
			t.Errorf("serve exited %d after SIGTERM, want 0", code)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("serve still running 30s after SIGTERM")
	}

	restarted := time.Now()
	s2 := startServe(t, dataDir, tag)
	v := s2.waitState(t, uid, api.StateFinished, 3*time.Minute)
	if v.Result != boot.Pass || len(v.Attempts) != 2 {
		t.Fatalf("result %q after %+v, want pass after 2 attempts", v.Result, v.Attempts)
	}
	if f := v.Attempts[0].Failure; f == nil || f.Kind != boot.FailInterrupted {
		t.Errorf("first attempt recorded as %+v, want interrupted", v.Attempts[0])
	}
	if wait := v.Attempts[1].StartedAt.Sub(restarted); wait > 10*time.Second {
		t.Errorf("the retry started %s after the restart; the default ack wait and heartbeat timeout are 30s", wait)
	}
	if n := countFinished(s2.events(t, uid, false)); n != 1 {
		t.Errorf("%d finished events, want 1", n)
	}
}
