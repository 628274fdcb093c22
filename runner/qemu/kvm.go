package qemu

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// ProbeKVM proves that KVM really runs a kernel here. /dev/kvm opening
// proves nothing: a nested KVM without hardware virtualisation runs the
// firmware and then spins forever in the kernel. argv boots a kernel under
// KVM with its console on stdout; KVM works if the kernel prints its
// banner ("Linux version") within timeout.
func ProbeKVM(ctx context.Context, argv []string, timeout time.Duration) error {
	f, err := os.OpenFile("/dev/kvm", os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("cannot open /dev/kvm: %w", err)
	}
	f.Close()
	return probe(ctx, argv, []byte("Linux version"), timeout)
}

// CPUVirtualization says whether the CPU can run KVM at all, without a
// probe boot: on an x86 host (goarch amd64 or 386) whose cpuinfo (the
// path of /proc/cpuinfo) lists neither the vmx nor the svm flag, /dev/kvm
// may exist but no guest runs under it. It answers nil when it cannot
// tell (another architecture, cpuinfo unreadable): then only a probe can.
func CPUVirtualization(goarch, cpuinfo string) error {
	if goarch != "amd64" && goarch != "386" {
		return nil
	}
	data, err := os.ReadFile(cpuinfo)
	if err != nil {
		return nil
	}
	for line := range strings.Lines(string(data)) {
		name, value, ok := strings.Cut(line, ":")
		if !ok || strings.TrimSpace(name) != "flags" {
			continue
		}
		for _, f := range strings.Fields(value) {
			if f == "vmx" || f == "svm" {
				return nil
			}
		}
	}
	return fmt.Errorf("the CPU has no vmx or svm flag (%s): no hardware virtualisation for KVM", cpuinfo)
}

// probe runs argv until its stdout shows want, or timeout passes.
func probe(ctx context.Context, argv []string, want []byte, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.WaitDelay = time.Second
	stderr := &tailBuffer{max: 4096}
	cmd.Stderr = stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", argv[0], err)
	}
	// The guest goes on after printing: stop it ourselves.
	defer func() {
		cancel()
		cmd.Wait()
	}()
	var seen []byte
	buf := make([]byte, 4096)
	for {
		n, err := stdout.Read(buf)
		seen = append(seen, buf[:n]...)
		if bytes.Contains(seen, want) {
			return nil
		}
		if keep := len(want); len(seen) > 64<<10 {
			seen = append(seen[:0], seen[len(seen)-keep:]...)
		}
		if err != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("the probe kernel printed no %q within %s", want, timeout)
			}
			return fmt.Errorf("the probe guest ended without printing %q: %s", want, bytes.TrimSpace([]byte(stderr.String())))
		}
	}
}
