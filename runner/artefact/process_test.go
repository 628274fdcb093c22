package artefact

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// The environment of a helper process: it fetches helperURL into
// helperCache and prints the File as JSON.
const (
	helperEnv   = "TUXBOOT_ARTEFACT_HELPER"
	helperURL   = "TUXBOOT_ARTEFACT_URL"
	helperCache = "TUXBOOT_ARTEFACT_CACHE"
)

// TestHelperProcess is not a test: it is the body of the separate
// processes the tests below start, so that the cross-process file locks,
// not in-process coordination, are what keeps them to one download.
func TestHelperProcess(t *testing.T) {
	if os.Getenv(helperEnv) != "1" {
		return
	}
	f := &Fetcher{
		CacheDir: os.Getenv(helperCache),
		Backoff:  10 * time.Millisecond,
		Log: func(format string, args ...any) {
			fmt.Fprintf(os.Stderr, format+"\n", args...)
		},
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	file, err := f.Fetch(ctx, "kernel", os.Getenv(helperURL), Want{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(3)
	}
	json.NewEncoder(os.Stdout).Encode(file)
	os.Exit(0)
}

// helper is a started helper process.
type helper struct {
	cmd            *exec.Cmd
	stdout, stderr bytes.Buffer
	waitDone       chan struct{} // closed when the process has exited
}

// startHelper starts a process that fetches u into cacheDir. The test
// kills it at the end if it is still running.
func startHelper(t *testing.T, u, cacheDir string) *helper {
	t.Helper()
	h := &helper{cmd: exec.Command(os.Args[0], "-test.run=^TestHelperProcess$")}
	h.cmd.Env = append(os.Environ(), helperEnv+"=1", helperURL+"="+u, helperCache+"="+cacheDir)
	h.cmd.Stdout, h.cmd.Stderr = &h.stdout, &h.stderr
	if err := h.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { h.cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		h.cmd.Process.Kill()
		<-done
	})
	h.waitDone = done
	return h
}

func (h *helper) wait(t *testing.T) *File {
	t.Helper()
	select {
	case <-h.waitDone:
	case <-time.After(2 * time.Minute):
		t.Fatalf("helper %d did not finish", h.cmd.Process.Pid)
	}
	if code := h.cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("helper %d exited %d: %s", h.cmd.Process.Pid, code, h.stderr.String())
	}
	var file File
	if err := json.Unmarshal(h.stdout.Bytes(), &file); err != nil {
		t.Fatalf("helper %d printed %q: %v", h.cmd.Process.Pid, h.stdout.String(), err)
	}
	return &file
}

func TestConcurrentProcessesDownloadOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("starts 20 processes")
	}
	data := testData(8<<20, 10)
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		// A slow download, so that the processes started after the
		// first find it under way and wait for it.
		w.Header().Set("Content-Length", fmt.Sprint(len(data)))
		for chunk := range slices.Chunk(data, len(data)/20) {
			w.Write(chunk)
			w.(http.Flusher).Flush()
			time.Sleep(100 * time.Millisecond)
		}
	})
	cacheDir := t.TempDir()
	var helpers []*helper
	for range 20 {
		helpers = append(helpers, startHelper(t, o.URL+"/bzImage", cacheDir))
	}
	waited := 0
	for _, h := range helpers {
		file := h.wait(t)
		if file.SHA256 != sha(data) || sha(readFile(t, file.Path)) != sha(data) {
			t.Errorf("helper %d got %s at %s, want %s", h.cmd.Process.Pid, file.SHA256, file.Path, sha(data))
		}
		if strings.Contains(h.stderr.String(), "waiting for another process") {
			waited++
		}
	}
	if n := o.requests("/bzImage"); n != 1 {
		t.Errorf("origin requests = %d, want exactly 1 for 20 processes", n)
	}
	t.Logf("%d of 20 processes waited for another's download", waited)
	if waited == 0 {
		t.Error("no process waited on the lock: the test did not exercise it")
	}
}

func TestKilledDownloadLeavesNothingTrusted(t *testing.T) {
	data := testData(4<<20, 11)
	var mu sync.Mutex
	first := true
	halfSent := make(chan struct{})
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		isFirst := first
		first = false
		mu.Unlock()
		if !isFirst {
			serveBytes(w, data)
			return
		}
		w.Header().Set("Content-Length", fmt.Sprint(len(data)))
		w.Write(data[:len(data)/2])
		w.(http.Flusher).Flush()
		close(halfSent)
		select { // until the killed client's connection drops
		case <-r.Context().Done():
		case <-time.After(30 * time.Second):
		}
	})
	cacheDir := t.TempDir()
	h := startHelper(t, o.URL+"/rootfs", cacheDir)
	select {
	case <-halfSent:
	case <-time.After(time.Minute):
		t.Fatal("the helper never started its download")
	}
	// Let the child write what it received, then kill it mid-download.
	f := &Fetcher{CacheDir: cacheDir, Backoff: time.Millisecond, Log: t.Logf}
	waitFor(t, func() bool {
		for _, name := range cacheFiles(t, f, "tmp") {
			if fi, err := os.Stat(cacheDir + "/v1/tmp/" + name); err == nil && fi.Size() > 0 {
				return true
			}
		}
		return false
	})
	if err := h.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-h.waitDone
	if n := len(cacheFiles(t, f, "blobs")) + len(cacheFiles(t, f, "urls")); n != 0 {
		t.Fatalf("a killed download left %d files in blobs/ or urls/", n)
	}
	if len(cacheFiles(t, f, "tmp")) == 0 {
		t.Fatal("the killed download left no partial file: the test did not exercise the crash")
	}

	file, err := f.Fetch(testContext(t), "rootfs", o.URL+"/rootfs", Want{})
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	if file.Cached || sha(readFile(t, file.Path)) != sha(data) {
		t.Errorf("after the crash: cached=%v, sha256 %s, want a fresh download of %s", file.Cached, file.SHA256, sha(data))
	}
	if left := cacheFiles(t, f, "tmp"); len(left) != 0 {
		t.Errorf("the partial file survived the next download: %v", left)
	}
	if n := o.requests("/rootfs"); n != 2 {
		t.Errorf("origin requests = %d, want 2", n)
	}
}

// waitFor polls cond for up to a minute.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatal("condition not met within a minute")
}
