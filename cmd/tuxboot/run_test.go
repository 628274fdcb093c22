package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tuxboot/tuxboot/runner/boot"
	"github.com/tuxboot/tuxboot/runner/testkernel"
)

// TestMain lets a test run this very binary as the tuxboot command, so
// signal handling is tested on a real process.
func TestMain(m *testing.M) {
	if os.Getenv("TUXBOOT_TEST_MAIN") == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

func runCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := dispatch(context.Background(), args, strings.NewReader(""), &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

func TestRunBadRequests(t *testing.T) {
	dir := t.TempDir()
	kernel := filepath.Join(dir, "Image")
	if err := os.WriteFile(kernel, []byte("not a kernel"), 0o644); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "no-such-Image")
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(empty, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		says []string // in stdout or stderr
	}{
		{"unknown device", []string{"run", "--device", "qemu-vax", "--kernel", kernel}, []string{"unknown device", "qemu-vax"}},
		{"missing kernel file", []string{"run", "--device", "qemu-arm64", "--kernel", missing}, []string{"kernel", missing}},
		{"no device", []string{"run", "--kernel", kernel}, []string{"device", "required"}},
		{"no kernel", []string{"run", "--device", "qemu-arm64"}, []string{"kernel", "required"}},
		{"bad timeouts", []string{"run", "--device", "qemu-arm64", "--kernel", kernel, "--timeouts", "boot=soon"}, []string{"boot", "soon"}},
		{"unknown timeout", []string{"run", "--device", "qemu-arm64", "--kernel", kernel, "--timeouts", "lunch=5"}, []string{"lunch"}},
		{"bad accel", []string{"run", "--device", "qemu-arm64", "--kernel", kernel, "--accel", "hax"}, []string{"accel", "hax"}},
		{"unknown flag", []string{"run", "--device", "qemu-arm64", "--kernel", kernel, "--kernal", "x"}, []string{"kernal"}},
		{"stray argument", []string{"run", "--device", "qemu-arm64", "--kernel", kernel, "extra"}, []string{"extra"}},
		{"bad URL scheme", []string{"run", "--device", "qemu-arm64", "--kernel", "ftp://example.com/Image"}, []string{"ftp"}},
		{"dtb needed", []string{"run", "--device", "qemu-armv5", "--kernel", kernel}, []string{"dtb"}},
		{"bad sha256 flag", []string{"run", "--device", "qemu-arm64", "--kernel", kernel, "--sha256", "kernel"}, []string{"sha256"}},
		{"unknown command", []string{"boot"}, []string{"unknown command"}},
		{"results dir missing", []string{"run", "--device", "qemu-arm64", "--kernel", kernel, "--results", filepath.Join(dir, "no", "r.json")}, []string{"--results", "no"}},
		{"unknown fatal kind", []string{"run", "--device", "qemu-arm64", "--kernel", kernel, "--fatal", "warnings"}, []string{"warnings", "warning"}},
		{"timeout too long", []string{"run", "--device", "qemu-arm64", "--kernel", kernel, "--timeouts", "boot=9300000000"}, []string{"boot", "604800"}},
		{"sha256 of no artefact", []string{"run", "--device", "qemu-arm64", "--kernel", kernel, "--sha256", "kernal=" + strings.Repeat("0", 64)}, []string{"kernal"}},
		{"kernel is a fifo", []string{"run", "--device", "qemu-arm64", "--kernel", fifo}, []string{fifo, "not a regular file"}},
		{"empty kernel", []string{"run", "--device", "qemu-arm64", "--kernel", empty, "--qemu-binary", "/bin/true"}, []string{"empty"}},
		{"qemu binary is a directory", []string{"run", "--device", "qemu-arm64", "--kernel", kernel, "--qemu-binary", dir}, []string{"--qemu-binary", dir}},
		{"negative cache size", []string{"run", "--device", "qemu-arm64", "--kernel", kernel, "--cache-max", "-5"}, []string{"--cache-max"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := runCLI(t, tt.args...)
			if code != exitBadRequest {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", code, exitBadRequest, stdout, stderr)
			}
			for _, s := range tt.says {
				if !strings.Contains(stdout+stderr, s) {
					t.Errorf("output does not say %q\nstdout: %s\nstderr: %s", s, stdout, stderr)
				}
			}
		})
	}
}

func TestRunInfrastructureErrors(t *testing.T) {
	dir := t.TempDir()
	kernel := filepath.Join(dir, "Image")
	if err := os.WriteFile(kernel, []byte("not a kernel"), 0o644); err != nil {
		t.Fatal(err)
	}
	gone := httptest.NewServer(http.NotFoundHandler())
	url404 := gone.URL + "/Image"
	tests := []struct {
		name string
		args []string
		says []string
	}{
		{"QEMU not installed", []string{"run", "--device", "qemu-arm64", "--kernel", kernel}, []string{"qemu_error", "qemu-system-aarch64", "apt-get install qemu-system-arm"}},
		{"kernel URL 404", []string{"run", "--device", "qemu-arm64", "--kernel", url404, "--cache-dir", t.TempDir()}, []string{"artefact_error", url404, "404"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.name == "QEMU not installed" {
				t.Setenv("PATH", t.TempDir())
			}
			code, stdout, stderr := runCLI(t, tt.args...)
			if code != exitInfra {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", code, exitInfra, stdout, stderr)
			}
			for _, s := range tt.says {
				if !strings.Contains(stdout+stderr, s) {
					t.Errorf("output does not say %q\nstdout: %s\nstderr: %s", s, stdout, stderr)
				}
			}
		})
	}
	gone.Close()
}

// A request refused before the boot leaves an old console log alone.
func TestRunKeepsLogOnBadRequest(t *testing.T) {
	log := filepath.Join(t.TempDir(), "console.log")
	if err := os.WriteFile(log, []byte("precious"), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, _, _ := runCLI(t, "run", "--device", "qemu-vax", "--kernel", "/nonexistent", "--log-file", log); code != exitBadRequest {
		t.Fatalf("exit %d, want %d", code, exitBadRequest)
	}
	if data, _ := os.ReadFile(log); string(data) != "precious" {
		t.Fatalf("log file now holds %q", data)
	}
}

func TestRunResultsFileOnBadRequest(t *testing.T) {
	results := filepath.Join(t.TempDir(), "results.json")
	code, _, _ := runCLI(t, "run", "--device", "qemu-vax", "--kernel", "/nonexistent", "--results", results, "--quiet")
	if code != exitBadRequest {
		t.Fatalf("exit %d, want %d", code, exitBadRequest)
	}
	var res boot.Result
	data, err := os.ReadFile(results)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &res); err != nil {
		t.Fatal(err)
	}
	if res.Result != boot.Error || res.Failure == nil || res.Failure.Kind != boot.FailBadRequest {
		t.Fatalf("results.json says %q %+v, want error/bad_request", res.Result, res.Failure)
	}
}

// TestRunBrokenKernels boots kernels that cannot work and checks none is
// called a pass: each is the kernel's failure (exit 1), with a reason.
func TestRunBrokenKernels(t *testing.T) {
	if testing.Short() {
		t.Skip("boots QEMU")
	}
	amd64 := testkernel.Lookup(t, "amd64")
	arm64 := testkernel.Lookup(t, "arm64")
	dir := t.TempDir()
	random := filepath.Join(dir, "random")
	buf := make([]byte, 4<<20)
	rand.Read(buf)
	if err := os.WriteFile(random, buf, 0o644); err != nil {
		t.Fatal(err)
	}
	truncate := func(src, name string) string {
		data, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data[:len(data)/3], 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		name, device, kernel, rootfs string
	}{
		{"random bytes on x86_64", "qemu-x86_64", random, amd64.Rootfs},
		{"random bytes on arm64", "qemu-arm64", random, arm64.Rootfs},
		{"truncated x86_64 kernel", "qemu-x86_64", truncate(amd64.Kernel, "bzImage-truncated"), amd64.Rootfs},
		{"truncated arm64 kernel", "qemu-arm64", truncate(arm64.Kernel, "Image-truncated"), arm64.Rootfs},
		{"arm64 kernel on x86_64", "qemu-x86_64", arm64.Kernel, arm64.Rootfs},
		{"x86_64 kernel on arm64", "qemu-arm64", amd64.Kernel, amd64.Rootfs},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			results := filepath.Join(t.TempDir(), "results.json")
			code, stdout, stderr := runCLI(t, "run", "--device", tt.device, "--kernel", tt.kernel, "--rootfs", tt.rootfs,
				"--timeouts", "boot=90,no_output=30", "--accel", "tcg", "--cache-dir", t.TempDir(), "--results", results, "--quiet")
			if code != exitFail {
				t.Fatalf("exit %d, want %d (fail)\nstdout: %s\nstderr: %s", code, exitFail, stdout, stderr)
			}
			var res boot.Result
			data, _ := os.ReadFile(results)
			if err := json.Unmarshal(data, &res); err != nil {
				t.Fatal(err)
			}
			if res.Result != boot.Fail || res.Failure == nil || res.Failure.Title == "" {
				t.Fatalf("result %q failure %+v", res.Result, res.Failure)
			}
			if !strings.Contains(stdout, "failure: "+res.Failure.Kind) {
				t.Errorf("stdout does not give the failure:\n%s", stdout)
			}
			t.Logf("%s: %s", res.Failure.Kind, res.Failure.Title)
		})
	}
}

// TestRunInterruptLeavesNothing sends SIGINT to a real tuxboot process in
// the middle of a boot and checks it leaves no QEMU, pty or scratch file.
func TestRunInterruptLeavesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("boots QEMU")
	}
	in := testkernel.Lookup(t, "amd64")
	tmp := t.TempDir()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(self, "run", "--device", "qemu-x86_64", "--kernel", in.Kernel, "--rootfs", in.Rootfs,
		"--boot-args", "tuxboot.mode=chatter", "--accel", "tcg", "--cache-dir", filepath.Join(tmp, "cache"),
		"--results", filepath.Join(tmp, "results.json"))
	cmd.Env = append(os.Environ(), "TUXBOOT_TEST_MAIN=1", "TMPDIR="+tmp)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill() })

	// Interrupt once the kernel is running: QEMU, its pty and the scratch
	// directory all exist then.
	seen := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stderr)
		once := false
		for sc.Scan() {
			if !once && strings.Contains(sc.Text(), "milestone init_started") {
				once = true
				close(seen)
			}
		}
	}()
	select {
	case <-seen:
	case <-time.After(120 * time.Second):
		t.Fatal("the boot never reached init")
	}
	if qemus := processesMentioning(t, tmp); len(qemus) == 0 {
		t.Fatal("no QEMU process found running under the test's TMPDIR: the check below would prove nothing")
	}
	ptys := openPTYs(cmd.Process.Pid)
	if len(ptys) == 0 {
		t.Fatal("tuxboot holds no pty while booting: the check below would prove nothing")
	}
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	err = cmd.Wait()
	var exitErr *exec.ExitError
	if !errors.As(err, &exitErr) || exitErr.ExitCode() != exitInfra {
		t.Fatalf("tuxboot after SIGINT: %v, want exit status %d", err, exitInfra)
	}
	if left := processesMentioning(t, tmp); len(left) > 0 {
		t.Errorf("processes left running: %q", left)
	}
	entries, _ := os.ReadDir(tmp)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "tuxboot-") {
			t.Errorf("scratch left behind: %s", e.Name())
		}
	}
	for _, pty := range ptys {
		if pids := holdersOf(pty); len(pids) > 0 {
			t.Errorf("%s still open in processes %v", pty, pids)
		}
	}
	var res boot.Result
	data, _ := os.ReadFile(filepath.Join(tmp, "results.json"))
	if err := json.Unmarshal(data, &res); err != nil {
		t.Fatalf("results.json after SIGINT: %v", err)
	}
	if res.Result != boot.Error || res.Failure == nil || res.Failure.Kind != boot.FailInterrupted {
		t.Errorf("results.json says %q %+v, want error/interrupted", res.Result, res.Failure)
	} else if res.Failure.Message != "interrupted by SIGINT" {
		t.Errorf("results.json says the boot stopped because %q, want %q", res.Failure.Message, "interrupted by SIGINT")
	}
}

// processesMentioning lists the command lines of processes that name s.
func processesMentioning(t *testing.T, s string) []string {
	t.Helper()
	var found []string
	dirs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range dirs {
		data, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		cmdline := string(bytes.ReplaceAll(data, []byte{0}, []byte{' '}))
		if strings.Contains(cmdline, s) && strings.Contains(cmdline, "qemu-system") {
			found = append(found, cmdline)
		}
	}
	return found
}

// openPTYs lists the /dev/pts files a process has open.
func openPTYs(pid int) []string {
	var ptys []string
	fds, _ := filepath.Glob(filepath.Join("/proc", strconv.Itoa(pid), "fd", "*"))
	for _, fd := range fds {
		if target, err := os.Readlink(fd); err == nil && strings.HasPrefix(target, "/dev/pts/") {
			ptys = append(ptys, target)
		}
	}
	return ptys
}

// holdersOf lists the processes that have path open.
func holdersOf(path string) []string {
	var pids []string
	fds, _ := filepath.Glob("/proc/[0-9]*/fd/*")
	for _, fd := range fds {
		if target, err := os.Readlink(fd); err == nil && target == path {
			pids = append(pids, strings.Split(fd, "/")[2])
		}
	}
	return pids
}
