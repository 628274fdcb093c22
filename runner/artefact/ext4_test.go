package artefact

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

const longDir = "usr/share/a-directory-name-long-enough-that-a-symlink-to-it-is-not-stored-in-the-inode"

// mkfsExt4 makes an ext4 image of root, or skips the test without
// e2fsprogs.
func mkfsExt4(t *testing.T, root string) string {
	t.Helper()
	mkfs, err := exec.LookPath("mkfs.ext4")
	if err != nil {
		mkfs = "/usr/sbin/mkfs.ext4"
	}
	if _, err := findDebugfs(); err != nil {
		t.Skip("e2fsprogs is not installed (apt-get install e2fsprogs)")
	}
	image := filepath.Join(t.TempDir(), "rootfs.ext4")
	if out, err := exec.Command(mkfs, "-q", "-d", root, image, "16M").CombinedOutput(); err != nil {
		t.Fatalf("mkfs.ext4: %v: %s", err, out)
	}
	return image
}

// debugfsRead runs one read-only debugfs request on image.
func debugfsRead(t *testing.T, image, request string) string {
	t.Helper()
	debugfs, _ := findDebugfs()
	c := exec.Command(debugfs, "-R", request, image)
	c.Env = append(os.Environ(), "DEBUGFS_PAGER=__none__")
	out, err := c.Output()
	if err != nil {
		t.Fatalf("debugfs -R %q: %v", request, err)
	}
	return string(out)
}

var (
	statType  = regexp.MustCompile(`Type: (\w+)\s+Mode:\s+(\d+)`)
	statInode = regexp.MustCompile(`Inode: (\d+)`)
	statLinks = regexp.MustCompile(`Links: (\d+)`)
)

func TestInjectExt4(t *testing.T) {
	root := makeRoot(t)
	if err := os.MkdirAll(filepath.Join(root, longDir), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/"+longDir, filepath.Join(root, "longlink")); err != nil {
		t.Fatal(err)
	}
	image := mkfsExt4(t, root)
	dir := t.TempDir()
	modules := writeFile(t, dir, "modules.tar.xz", xzBytes(t, makeTar(t, modulesTarball)))
	overlay := writeFile(t, dir, "overlay.tar.zst", zstdBytes(t, makeTar(t, []tarFile{
		{name: "hello.sh", body: "echo hi\n", mode: 0o755},
	})))
	ctx := testContext(t)
	if err := InjectExt4(ctx, image, modules, ""); err != nil {
		t.Fatal(err)
	}
	if err := InjectExt4(ctx, image, overlay, "/longlink/tests"); err != nil {
		t.Fatal(err)
	}

	files := []struct {
		path, typ, mode, body string
	}{
		{"/lib", "symlink", "0777", ""}, // kept, not replaced by a directory
		{"/usr/lib/x86_64-linux-gnu/ld-linux.so.2", "regular", "0644", "loader"},
		// The guest's view, through the symlink, and where it landed.
		{"/lib/modules/6.1.0-tux/kernel/drivers/virtio/virtio_blk.ko", "regular", "0644", "\x7fELF virtio_blk"},
		{"/usr/lib/modules/6.1.0-tux/kernel/drivers/virtio/virtio_blk.ko", "regular", "0644", "\x7fELF virtio_blk"},
		{"/usr/lib/modules/6.1.0-tux/modules.dep", "regular", "0644", "kernel/drivers/virtio/virtio_blk.ko:\n"},
		{"/usr/lib/modules/6.1.0-tux/kernel", "directory", "0755", ""},
		{"/etc/secret", "directory", "0700", ""},
		{"/etc/secret/key", "regular", "0600", "s3cret"},
		{"/etc/motd", "regular", "0644", "overlaid motd\n"},
		{"/usr/bin/tool", "regular", "0755", "#!/bin/sh\necho tool\n"},
		{"/" + longDir + "/tests/hello.sh", "regular", "0755", "echo hi\n"},
	}
	for _, f := range files {
		stat := debugfsRead(t, image, "stat "+f.path)
		m := statType.FindStringSubmatch(stat)
		if m == nil || m[1] != f.typ || m[2] != f.mode || !strings.Contains(stat, "User:     0   Group:     0") {
			t.Errorf("%s: stat says %q, want a %s of mode %s owned by root", f.path, firstLine(stat), f.typ, f.mode)
			continue
		}
		if f.typ == "regular" {
			if got := debugfsRead(t, image, "cat "+f.path); got != f.body {
				t.Errorf("%s holds %q, want %q", f.path, got, f.body)
			}
		}
	}
	if stat := debugfsRead(t, image, "stat /usr/lib/modules/6.1.0-tux/build"); !strings.Contains(stat, `Fast link dest: "/usr/src/linux-6.1"`) {
		t.Errorf("build symlink: %s", stat)
	}
	ko := debugfsRead(t, image, "stat /usr/lib/modules/6.1.0-tux/kernel/drivers/virtio/virtio_blk.ko")
	cp := debugfsRead(t, image, "stat /usr/lib/modules/6.1.0-tux/virtio_blk-copy.ko")
	if statInode.FindString(ko) != statInode.FindString(cp) || statLinks.FindStringSubmatch(ko)[1] != "2" {
		t.Errorf("hard link: %q and %q, want one inode with 2 links", firstLine(ko), firstLine(cp))
	}
	if fsck, err := exec.LookPath("e2fsck"); err == nil || fileExists("/usr/sbin/e2fsck") {
		if fsck == "" {
			fsck = "/usr/sbin/e2fsck"
		}
		if out, err := exec.Command(fsck, "-fn", image).CombinedOutput(); err != nil {
			t.Errorf("e2fsck -fn: %v\n%s", err, out)
		}
	}
	if left, _ := filepath.Glob(filepath.Join(filepath.Dir(image), ".inject-*")); len(left) != 0 {
		t.Errorf("InjectExt4 left %v", left)
	}
}

func TestInjectExt4Refuses(t *testing.T) {
	dir := t.TempDir()
	modules := writeFile(t, dir, "modules.tar", makeTar(t, modulesTarball))
	notExt := writeFile(t, dir, "disk.img", make([]byte, 1<<20))
	err := InjectExt4(testContext(t), notExt, modules, "")
	if err == nil || !strings.Contains(err.Error(), "not an ext2/3/4 filesystem image") {
		t.Errorf("a non-ext4 image gave %v", err)
	}

	image := mkfsExt4(t, makeRoot(t))
	quoted := writeFile(t, dir, "quoted.tar", makeTar(t, []tarFile{{name: `a"b`, body: "x", mode: 0o644}}))
	err = InjectExt4(testContext(t), image, quoted, "")
	if err == nil || !strings.Contains(err.Error(), "cannot be passed to debugfs") {
		t.Errorf("a name with a quote gave %v", err)
	}
	// A file where the tarball needs a directory.
	clash := writeFile(t, dir, "clash.tar", makeTar(t, []tarFile{{name: "etc/motd/x", body: "x", mode: 0o644}}))
	err = InjectExt4(testContext(t), image, clash, "")
	if err == nil || !strings.Contains(err.Error(), "etc/motd is not a directory") {
		t.Errorf("a file in the way gave %v", err)
	}
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
