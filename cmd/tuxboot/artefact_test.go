package main

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/tuxboot/tuxboot/runner/testkernel"
)

// origin serves files from memory and counts the requests for each path.
type origin struct {
	mu    sync.Mutex
	files map[string][]byte
	gets  map[string]int
	// cutFirst makes the first GET of a path stop halfway and drop the connection.
	cutFirst bool
	cut      atomic.Bool
}

func newOrigin(t *testing.T, files map[string][]byte) (*origin, *httptest.Server) {
	o := &origin{files: files, gets: map[string]int{}}
	srv := httptest.NewServer(o)
	t.Cleanup(srv.Close)
	return o, srv
}

func (o *origin) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	o.mu.Lock()
	data, ok := o.files[r.URL.Path]
	if r.Method == http.MethodGet {
		o.gets[r.URL.Path]++
	}
	o.mu.Unlock()
	if !ok {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("ETag", fmt.Sprintf(`"%d"`, len(data)))
	w.Header().Set("Content-Length", fmt.Sprint(len(data)))
	if o.cutFirst && o.cut.CompareAndSwap(false, true) {
		w.Write(data[:len(data)/2])
		w.(http.Flusher).Flush()
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			conn.Close()
		}
		return
	}
	w.Write(data)
}

func (o *origin) count(path string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.gets[path]
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// TestRunSharedCacheDownloadsOnce runs 20 tuxboot processes at once that
// boot the same kernel URL with one cache directory: the origin must see
// exactly one download, and every boot must pass.
func TestRunSharedCacheDownloadsOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("20 real boots")
	}
	in := testkernel.Lookup(t, "arm64")
	o, srv := newOrigin(t, map[string][]byte{
		"/Image":          readFile(t, in.Kernel),
		"/rootfs.cpio.gz": readFile(t, in.Rootfs),
	})
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cache := t.TempDir()
	const n = 20
	var wg sync.WaitGroup
	errs := make([]error, n)
	outs := make([][]byte, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cmd := exec.Command(self, "run", "--device", "qemu-arm64", "--kernel", srv.URL+"/Image",
				"--rootfs", srv.URL+"/rootfs.cpio.gz", "--cache-dir", cache, "--accel", "tcg",
				"--memory", "256M", "--timeouts", "boot=600,no_output=300", "--quiet")
			cmd.Env = append(os.Environ(), "TUXBOOT_TEST_MAIN=1")
			outs[i], errs[i] = cmd.CombinedOutput()
		}()
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil || !bytes.Contains(outs[i], []byte("result: pass")) {
			t.Errorf("boot %d: %v\n%s", i, errs[i], outs[i])
		}
	}
	if got := o.count("/Image"); got != 1 {
		t.Errorf("origin served the kernel %d times, want 1", got)
	}
	if got := o.count("/rootfs.cpio.gz"); got != 1 {
		t.Errorf("origin served the rootfs %d times, want 1", got)
	}
}

// TestRunSurvivesOriginDyingMidTransfer cuts the first kernel download
// halfway: tuxboot retries and boots the whole kernel.
func TestRunSurvivesOriginDyingMidTransfer(t *testing.T) {
	if testing.Short() {
		t.Skip("real boot")
	}
	in := testkernel.Lookup(t, "arm64")
	o, srv := newOrigin(t, map[string][]byte{"/Image": readFile(t, in.Kernel)})
	o.cutFirst = true
	code, stdout, stderr := runCLI(t, "run", "--device", "qemu-arm64", "--kernel", srv.URL+"/Image", "--rootfs", in.Rootfs,
		"--cache-dir", t.TempDir(), "--accel", "tcg")
	if code != exitPass {
		t.Fatalf("exit %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
	if !o.cut.Load() || o.count("/Image") != 2 {
		t.Errorf("origin: cut %v, %d requests; want a cut transfer and one retry", o.cut.Load(), o.count("/Image"))
	}
	if !strings.Contains(stdout, "kernel: "+in.Release) {
		t.Errorf("stdout does not name kernel %s:\n%s", in.Release, stdout)
	}
}

func TestRunRefusesWrongSHA256(t *testing.T) {
	in := testkernel.Lookup(t, "arm64")
	wrong := strings.Repeat("0", 64)
	code, stdout, stderr := runCLI(t, "run", "--device", "qemu-arm64", "--kernel", in.Kernel, "--rootfs", in.Rootfs,
		"--cache-dir", t.TempDir(), "--sha256", "kernel="+wrong)
	if code != exitBadRequest || !strings.Contains(stdout+stderr, "sha256") || !strings.Contains(stdout+stderr, in.Kernel) {
		t.Fatalf("exit %d, want %d with a message naming the sha256 and the file\nstdout: %s\nstderr: %s", code, exitBadRequest, stdout, stderr)
	}
}

// TestRunCompressedArtefacts boots a kernel and an initramfs compressed
// with each format tuxboot undoes by content, whatever the file is named.
func TestRunCompressedArtefacts(t *testing.T) {
	if testing.Short() {
		t.Skip("real boots")
	}
	in := testkernel.Lookup(t, "arm64")
	dir := t.TempDir()
	kernel := readFile(t, in.Kernel)
	gz, err := gzip.NewReader(bytes.NewReader(readFile(t, in.Rootfs)))
	if err != nil {
		t.Fatal(err)
	}
	cpio, err := io.ReadAll(gz)
	if err != nil {
		t.Fatal(err)
	}
	compress := func(name string, data []byte, tool ...string) string {
		p := filepath.Join(dir, name)
		cmd := exec.Command(tool[0], tool[1:]...)
		cmd.Stdin = bytes.NewReader(data)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("%s: %v", strings.Join(tool, " "), err)
		}
		if err := os.WriteFile(p, out, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		format string
		tool   []string
	}{
		{"gzip", []string{"gzip", "-c"}},
		{"xz", []string{"xz", "-c", "--check=crc32"}},
		{"zstd", []string{"zstd", "-c", "-q"}},
	}
	for _, tt := range tests {
		t.Run(tt.format, func(t *testing.T) {
			t.Parallel()
			if _, err := exec.LookPath(tt.tool[0]); err != nil {
				t.Fatalf("%s not installed (hack/deps.sh installs it)", tt.tool[0])
			}
			k := compress("kernel-"+tt.format, kernel, tt.tool...)
			r := compress("rootfs-"+tt.format, cpio, tt.tool...)
			results := filepath.Join(t.TempDir(), "results.json")
			code, stdout, stderr := runCLI(t, "run", "--device", "qemu-arm64", "--kernel", k, "--rootfs", r,
				"--cache-dir", t.TempDir(), "--accel", "tcg", "--results", results, "--quiet")
			if code != exitPass || !strings.Contains(stdout, "kernel: "+in.Release) {
				t.Fatalf("exit %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
			}
		})
	}
}
