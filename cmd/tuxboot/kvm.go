package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/tuxboot/tuxboot/runner/device"
	"github.com/tuxboot/tuxboot/runner/qemu"
)

// kvmProbeTimeout bounds the probe boot: a working KVM prints the kernel
// banner in well under a second.
const kvmProbeTimeout = 10 * time.Second

// newKVMProber answers whether KVM may be used for a device: only when the
// guest suits the host and a probe boot really runs under KVM. The answer
// is kept until the host reboots, in cacheDir, per QEMU binary (its path
// and modification time) and kernel: a kernel that prints nothing under
// KVM proves nothing about another one. On an x86 host whose cpuinfo
// (normally /proc/cpuinfo) lists neither vmx nor svm, the answer is no
// without a probe: the probe boot would only time out.
func newKVMProber(cacheDir, cpuinfo string) func(ctx context.Context, d device.Device, probe []string, kernelSHA256 string) error {
	var mu sync.Mutex
	return func(ctx context.Context, d device.Device, probe []string, kernelSHA256 string) error {
		if !slices.Contains(d.KVMHosts, runtime.GOARCH) {
			return fmt.Errorf("KVM cannot run %s guests on this %s host", d.Arch, runtime.GOARCH)
		}
		if err := qemu.CPUVirtualization(runtime.GOARCH, cpuinfo); err != nil {
			return err
		}
		mu.Lock()
		defer mu.Unlock()
		bootID, _ := os.ReadFile("/proc/sys/kernel/random/boot_id")
		binary, err := filepath.EvalSymlinks(probe[0])
		if err != nil {
			return fmt.Errorf("QEMU binary %s: %w", probe[0], err)
		}
		fi, err := os.Stat(binary)
		if err != nil {
			return fmt.Errorf("QEMU binary %s: %w", binary, err)
		}
		key := sha256.Sum256([]byte(fmt.Sprintf("%s\x00%s\x00%d\x00%s", strings.TrimSpace(string(bootID)), binary, fi.ModTime().UnixNano(), kernelSHA256)))
		stamp := filepath.Join(cacheDir, "kvm-probe", hex.EncodeToString(key[:16]))
		if data, err := os.ReadFile(stamp); err == nil {
			if s := string(data); s != "ok" {
				return fmt.Errorf("%s (delete %s to probe again)", s, stamp)
			}
			return nil
		}
		err = qemu.ProbeKVM(ctx, probe, kvmProbeTimeout)
		if ctx.Err() != nil {
			return err // interrupted: prove nothing, keep nothing
		}
		word := "ok"
		if err != nil {
			word = "KVM probe failed earlier since this host booted: " + err.Error()
		}
		if os.MkdirAll(filepath.Dir(stamp), 0o755) == nil {
			os.WriteFile(stamp, []byte(word), 0o644)
		}
		return err
	}
}
