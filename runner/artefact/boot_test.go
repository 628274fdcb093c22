package artefact

import (
	"context"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// modulesInit replaces the test initramfs's /init: it loads virtio_blk
// and its dependencies from the merged modules tree, by hand (Debian's
// package ships no modules.dep), and shows whether the virtio disk
// appeared, which needs the driver.
const modulesInit = `#!/bin/sh
export PATH=/sbin:/bin:/usr/sbin:/usr/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
busybox --install -s 2>/dev/null
dir=/lib/modules/$(uname -r)/kernel/drivers
for m in virtio/virtio_ring virtio/virtio virtio/virtio_pci_modern_dev virtio/virtio_pci_legacy_dev virtio/virtio_pci block/virtio_blk; do
	insmod $dir/$m.ko || echo "MODTEST: insmod $m failed"
done
sleep 1
grep -q '^virtio_blk ' /proc/modules && echo "MODTEST: virtio_blk loaded"
[ -e /sys/block/vda ] && echo "MODTEST: vda present"
poweroff -f
`

// TestModulesLoadInRealKernel boots the Debian amd64 kernel of
// hack/testdata.sh with its busybox initramfs and the virtio modules of
// its modules tarball merged in by AppendCPIO, all fetched through the
// cache from a loopback server, and sees the virtio_blk module load and
// find its disk. The modules are a subset of the package's tarball
// (made with tar and xz) so that the initramfs stays small under TCG: the
// whole tree is 400 MB unpacked. It is skipped where the test data, QEMU
// or tar is missing.
func TestModulesLoadInRealKernel(t *testing.T) {
	if testing.Short() {
		t.Skip("boots a kernel")
	}
	data := os.Getenv("TUXBOOT_TESTDATA")
	if data == "" {
		home, _ := os.UserHomeDir()
		data = filepath.Join(home, ".cache", "tuxboot", "testdata")
	}
	data = filepath.Join(data, "amd64")
	qemu, err := exec.LookPath("qemu-system-x86_64")
	if err != nil || !fileExists(filepath.Join(data, ".complete")) {
		t.Skip("needs qemu-system-x86_64 and hack/testdata.sh amd64")
	}
	subset := t.TempDir()
	tree := filepath.Join(subset, "tree")
	os.Mkdir(tree, 0o755)
	for _, c := range [][]string{
		{"tar", "-C", tree, "-xJf", filepath.Join(data, "modules.tar.xz"), "--wildcards", "*/kernel/drivers/virtio/*", "*/kernel/drivers/block/virtio_blk.ko"},
		{"tar", "-C", tree, "-cJf", filepath.Join(subset, "modules.tar.xz"), "lib"},
	} {
		if out, err := exec.Command(c[0], c[1:]...).CombinedOutput(); err != nil {
			t.Skipf("%s: %v: %s", strings.Join(c, " "), err, out)
		}
	}
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		dir := data
		if r.URL.Path == "/modules.tar.xz" {
			dir = subset
		}
		http.ServeFile(w, r, filepath.Join(dir, filepath.Base(r.URL.Path)))
	})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	t.Cleanup(cancel)
	f := newFetcher(t)
	fetch := func(name string, want Want) string {
		file, err := f.Fetch(ctx, name, o.URL+"/"+name, want)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { file.Close() })
		return file.Path
	}
	kernel := fetch("kernel", Want{})
	rootfs := fetch("rootfs.cpio.gz", Want{Decompress: true})
	modules := fetch("modules.tar.xz", Want{})

	scratch := t.TempDir()
	start := time.Now()
	initrd := filepath.Join(scratch, "initrd.cpio")
	if err := AppendCPIO(ctx, rootfs, modules, "", initrd); err != nil {
		t.Fatal(err)
	}
	overlay := writeFile(t, scratch, "init.tar", makeTar(t, []tarFile{{name: "init", body: modulesInit, mode: 0o755}}))
	final := filepath.Join(scratch, "initrd-final.cpio")
	if err := AppendCPIO(ctx, initrd, overlay, "/", final); err != nil {
		t.Fatal(err)
	}
	t.Logf("merged the modules in %v", time.Since(start).Round(time.Millisecond))

	disk := writeFile(t, scratch, "disk.img", make([]byte, 1<<20))
	console := filepath.Join(scratch, "console.log")
	args := []string{
		"-machine", "q35", "-m", "512", "-display", "none", "-no-reboot",
		"-serial", "file:" + console, "-nic", "none",
		"-kernel", kernel, "-initrd", final,
		"-append", "console=ttyS0 panic=-1 quiet",
		"-drive", "file=" + disk + ",if=virtio,format=raw",
		// TCG: KVM is not dependable on the shared CI machines.
		"-accel", "tcg", "-cpu", "max",
	}
	qctx, qcancel := context.WithTimeout(ctx, 3*time.Minute)
	defer qcancel()
	out, err := exec.CommandContext(qctx, qemu, args...).CombinedOutput()
	log := string(readFile(t, console))
	if err != nil {
		t.Fatalf("qemu: %v: %s\nconsole:\n%s", err, out, log)
	}
	for _, want := range []string{"MODTEST: virtio_blk loaded", "MODTEST: vda present"} {
		if !strings.Contains(log, want) {
			t.Errorf("console lacks %q:\n%s", want, log)
		}
	}
}
