package artefact

import (
	"archive/tar"
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// tarFile is one entry of a test tarball.
type tarFile struct {
	name, body, link string
	typ              byte
	mode             int64
}

// modulesTarball is shaped like `make modules_install` output, plus
// the odd entries an overlay may hold.
var modulesTarball = []tarFile{
	{name: "./", typ: tar.TypeDir, mode: 0o755},
	{name: "./lib/", typ: tar.TypeDir, mode: 0o755},
	{name: "./lib/modules/", typ: tar.TypeDir, mode: 0o755},
	{name: "./lib/modules/6.1.0-tux/", typ: tar.TypeDir, mode: 0o755},
	{name: "./lib/modules/6.1.0-tux/kernel/drivers/virtio/virtio_blk.ko", body: "\x7fELF virtio_blk", mode: 0o644},
	{name: "./lib/modules/6.1.0-tux/modules.dep", body: "kernel/drivers/virtio/virtio_blk.ko:\n", mode: 0o644},
	{name: "./lib/modules/6.1.0-tux/build", link: "/usr/src/linux-6.1", typ: tar.TypeSymlink},
	{name: "./lib/modules/6.1.0-tux/virtio_blk-copy.ko", link: "./lib/modules/6.1.0-tux/kernel/drivers/virtio/virtio_blk.ko", typ: tar.TypeLink},
	{name: "./etc/secret/", typ: tar.TypeDir, mode: 0o700},
	{name: "./etc/secret/key", body: "s3cret", mode: 0o600},
	{name: "./etc/motd", body: "overlaid motd\n", mode: 0o644},
	{name: "./usr/bin/tool", body: "#!/bin/sh\necho tool\n", mode: 0o755},
}

func makeTar(t *testing.T, files []tarFile) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	mtime := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	for _, f := range files {
		typ := f.typ
		if typ == 0 {
			typ = tar.TypeReg
		}
		hdr := &tar.Header{Name: f.name, Typeflag: typ, Mode: f.mode, Linkname: f.link, Size: int64(len(f.body)), ModTime: mtime}
		if typ != tar.TypeReg {
			hdr.Size = 0
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		io.WriteString(tw, f.body)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// makeRoot builds a small merged-/usr root: /lib is a symlink to usr/lib.
func makeRoot(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	for _, d := range []string{"usr/lib/x86_64-linux-gnu", "usr/bin", "etc", "usr/src"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	writeFile(t, root, "usr/lib/x86_64-linux-gnu/ld-linux.so.2", []byte("loader"))
	writeFile(t, root, "etc/motd", []byte("base motd\n"))
	writeFile(t, root, "init", []byte("#!/bin/sh\n"))
	for link, target := range map[string]string{"lib": "usr/lib", "bin": "usr/bin"} {
		if err := os.Symlink(target, filepath.Join(root, link)); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// cpioOf archives dir with GNU cpio, as initramfs tools do.
func cpioOf(t *testing.T, dir string) []byte {
	t.Helper()
	if _, err := exec.LookPath("cpio"); err != nil {
		t.Skip("cpio is not installed (apt-get install cpio)")
	}
	cmd := exec.Command("sh", "-c", "find . | LC_ALL=C sort | cpio -o -H newc --quiet")
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("cpio: %v", err)
	}
	return out
}

// cpioEntry is an entry read back from an archive.
type cpioEntry struct {
	cpioHeader
	body string
}

// readCPIO reads every entry of the concatenated archives in b with the
// package's reader (which follows the kernel's rules), decompressing a
// compressed segment the way scanCPIO does.
func readCPIO(t *testing.T, b []byte) []cpioEntry {
	t.Helper()
	var entries []cpioEntry
	cr := newCPIOReader(bytes.NewReader(b))
	for {
		h, err := cr.Next()
		if err == io.EOF {
			return entries
		}
		if err == errNotCPIO {
			dr, _, derr := decompressedReader(bytes.NewReader(b[cr.off:]))
			if derr != nil {
				t.Fatalf("at %d: %v", cr.off, err)
			}
			defer dr.Close()
			cr = newCPIOReader(dr)
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(cr)
		if err != nil {
			t.Fatal(err)
		}
		entries = append(entries, cpioEntry{*h, string(body)})
	}
}

func TestAppendCPIO(t *testing.T) {
	root := makeRoot(t)
	base := cpioOf(t, root)
	early := cpioOf(t, t.TempDir()) // an empty early archive, as for microcode
	tarball := makeTar(t, modulesTarball)
	initrds := []struct {
		name string
		data []byte
	}{
		{"plain", base},
		{"gzip", gzipBytes(t, base)},
		{"zstd", zstdBytes(t, base)},
		{"early cpio then xz", append(slices.Clip(early), xzBytes(t, base)...)},
	}
	tarballs := []struct {
		name string
		data []byte
	}{
		{"tar", tarball},
		{"tar.gz", gzipBytes(t, tarball)},
		{"tar.xz", xzBytes(t, tarball)},
		{"tar.zst", zstdBytes(t, tarball)},
	}
	for _, ir := range initrds {
		for _, tb := range tarballs {
			t.Run(ir.name+"+"+tb.name, func(t *testing.T) {
				dir := t.TempDir()
				initrd := writeFile(t, dir, "initrd.img", ir.data)
				modules := writeFile(t, dir, "modules.bin", tb.data)
				out := filepath.Join(dir, "out.cpio")
				if err := AppendCPIO(testContext(t), initrd, modules, "", out); err != nil {
					t.Fatal(err)
				}
				checkAppended(t, readFile(t, out), len(readCPIO(t, ir.data)))
			})
		}
	}
}

// checkAppended checks the merge of modulesTarball into makeRoot's
// initrd, whose first baseEntries entries must come first and unchanged.
func checkAppended(t *testing.T, out []byte, baseEntries int) {
	t.Helper()
	entries := readCPIO(t, out)
	if len(entries) <= baseEntries {
		t.Fatalf("%d entries, want more than the initrd's %d", len(entries), baseEntries)
	}
	byName := map[string]cpioEntry{}
	var added []string
	for i, e := range entries {
		byName[e.Name] = e // later archives win, as in the kernel
		if i >= baseEntries {
			added = append(added, e.Name)
		}
	}
	wantAdded := []string{
		"usr/lib/modules", "usr/lib/modules/6.1.0-tux",
		"usr/lib/modules/6.1.0-tux/kernel", "usr/lib/modules/6.1.0-tux/kernel/drivers", "usr/lib/modules/6.1.0-tux/kernel/drivers/virtio",
		"usr/lib/modules/6.1.0-tux/kernel/drivers/virtio/virtio_blk.ko",
		"usr/lib/modules/6.1.0-tux/modules.dep",
		"usr/lib/modules/6.1.0-tux/build",
		"usr/lib/modules/6.1.0-tux/virtio_blk-copy.ko",
		"etc/secret", "etc/secret/key", "etc/motd", "usr/bin/tool",
	}
	if !slices.Equal(added, wantAdded) {
		t.Errorf("appended entries:\n%s\nwant:\n%s", strings.Join(added, "\n"), strings.Join(wantAdded, "\n"))
	}
	checks := []struct {
		name string
		mode uint32
		body string
	}{
		{"lib", modeSymlink | 0o777, "usr/lib"}, // kept: not replaced by a directory
		{"usr/lib/x86_64-linux-gnu/ld-linux.so.2", modeReg | 0o644, "loader"},
		{"usr/lib/modules/6.1.0-tux/kernel/drivers/virtio/virtio_blk.ko", modeReg | 0o644, "\x7fELF virtio_blk"},
		{"usr/lib/modules/6.1.0-tux/build", modeSymlink | 0o777, "/usr/src/linux-6.1"},
		{"usr/lib/modules/6.1.0-tux/kernel", modeDir | 0o755, ""},
		{"etc/secret", modeDir | 0o700, ""},
		{"etc/secret/key", modeReg | 0o600, "s3cret"},
		{"etc/motd", modeReg | 0o644, "overlaid motd\n"},
		{"usr/bin/tool", modeReg | 0o755, "#!/bin/sh\necho tool\n"},
	}
	for _, c := range checks {
		e, ok := byName[c.name]
		if !ok {
			t.Errorf("%s missing", c.name)
			continue
		}
		if e.Mode != c.mode || e.body != c.body {
			t.Errorf("%s: mode %o body %q, want %o %q", c.name, e.Mode, e.body, c.mode, c.body)
		}
	}
	ko := byName["usr/lib/modules/6.1.0-tux/kernel/drivers/virtio/virtio_blk.ko"]
	copyKo := byName["usr/lib/modules/6.1.0-tux/virtio_blk-copy.ko"]
	if ko.Ino != copyKo.Ino || ko.Nlink != 2 || copyKo.Nlink != 2 || copyKo.Size != 0 {
		t.Errorf("hard link: ino %d/%d nlink %d/%d size %d, want one inode with nlink 2 and the data once", ko.Ino, copyKo.Ino, ko.Nlink, copyKo.Nlink, copyKo.Size)
	}
}

// TestAppendCPIOReadByGNUCpio checks the appended archive with an
// independent reader: GNU cpio extracts it (cpio reads one archive, so it
// gets the appended part alone).
func TestAppendCPIOReadByGNUCpio(t *testing.T) {
	dir := t.TempDir()
	initrd := writeFile(t, dir, "initrd", cpioOf(t, makeRoot(t)))
	modules := writeFile(t, dir, "modules.tar.xz", xzBytes(t, makeTar(t, modulesTarball)))
	out := filepath.Join(dir, "out")
	if err := AppendCPIO(testContext(t), initrd, modules, "/", out); err != nil {
		t.Fatal(err)
	}
	appended := readFile(t, out)[len(readFile(t, initrd)):]
	appended = bytes.TrimLeft(appended, "\x00") // the 4-byte alignment
	list := exec.Command("cpio", "-it", "--quiet")
	list.Stdin = bytes.NewReader(appended)
	names, err := list.Output()
	if err != nil {
		t.Fatalf("cpio -it: %v", err)
	}
	if !strings.Contains(string(names), "usr/lib/modules/6.1.0-tux/kernel/drivers/virtio/virtio_blk.ko\n") {
		t.Errorf("cpio -it lists:\n%s", names)
	}
	x := t.TempDir()
	extract := exec.Command("cpio", "-idm", "--quiet", "--no-absolute-filenames")
	extract.Dir = x
	extract.Stdin = bytes.NewReader(appended)
	if msg, err := extract.CombinedOutput(); err != nil {
		t.Fatalf("cpio -idm: %v: %s", err, msg)
	}
	ko := filepath.Join(x, "usr/lib/modules/6.1.0-tux/kernel/drivers/virtio/virtio_blk.ko")
	if got := string(readFile(t, ko)); got != "\x7fELF virtio_blk" {
		t.Errorf("extracted module holds %q", got)
	}
	a, err1 := os.Stat(ko)
	b, err2 := os.Stat(filepath.Join(x, "usr/lib/modules/6.1.0-tux/virtio_blk-copy.ko"))
	if err1 != nil || err2 != nil || !os.SameFile(a, b) {
		t.Errorf("the hard link was not extracted as one: %v %v", err1, err2)
	}
	if fi, err := os.Stat(filepath.Join(x, "etc/secret/key")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("etc/secret/key: %v, mode %v, want 0600", err, fi)
	}
}

func TestAppendCPIOPrefixAndErrors(t *testing.T) {
	dir := t.TempDir()
	initrd := writeFile(t, dir, "initrd", cpioOf(t, makeRoot(t)))
	overlay := writeFile(t, dir, "overlay.tar.gz", gzipBytes(t, makeTar(t, []tarFile{
		{name: "hello.sh", body: "echo hi\n", mode: 0o755},
	})))
	out := filepath.Join(dir, "out")
	if err := AppendCPIO(testContext(t), initrd, overlay, "/opt/tests", out); err != nil {
		t.Fatal(err)
	}
	var added []string
	for _, e := range readCPIO(t, readFile(t, out))[len(readCPIO(t, readFile(t, initrd))):] {
		added = append(added, e.Name)
	}
	if want := []string{"opt", "opt/tests", "opt/tests/hello.sh"}; !slices.Equal(added, want) {
		t.Errorf("appended %q, want %q", added, want)
	}

	notTar := writeFile(t, dir, "not.tar", []byte("this is not a tarball at all, not even close........"))
	err := AppendCPIO(testContext(t), initrd, notTar, "", filepath.Join(dir, "bad"))
	if err == nil || !strings.Contains(err.Error(), "not.tar") {
		t.Errorf("a bad tarball gave %v, want an error naming it", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "bad")); err == nil {
		t.Error("a failed AppendCPIO left its output")
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".bad.*")); len(left) != 0 {
		t.Errorf("a failed AppendCPIO left %v", left)
	}
}

func TestCPIOWriterPadding(t *testing.T) {
	var buf bytes.Buffer
	w := &cpioWriter{w: &buf}
	for _, name := range []string{"a", "ab", "abc", "abcd"} {
		w.WriteHeader(&cpioHeader{Name: name, Mode: modeReg | 0o644, Size: int64(len(name))})
		io.WriteString(w, name)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if buf.Len()%512 != 0 {
		t.Errorf("archive is %d bytes, want a multiple of 512", buf.Len())
	}
	entries := readCPIO(t, buf.Bytes())
	for i, name := range []string{"a", "ab", "abc", "abcd"} {
		if entries[i].Name != name || entries[i].body != name {
			t.Errorf("entry %d = %q %q", i, entries[i].Name, entries[i].body)
		}
	}
}
