package artefact

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"unicode"
)

// InjectExt4 writes the tarball's entries (files, directories, symlinks,
// hard links, device nodes and fifos; modes and mtimes kept; owned by
// root) under prefix ("" means "/") into the ext2/3/4 filesystem image,
// in place. The caller passes its own copy of the image, never a cache
// file. The tarball may be plain tar or gzip, xz, zstd or bzip2
// compressed.
//
// It drives e2fsprogs' debugfs, so it needs no root and no loop device.
// Paths go where the guest will look them up: when the image makes lib a
// symlink to usr/lib, "lib/modules/..." is written to
// "usr/lib/modules/...", and the symlink is kept. Existing directories
// keep their modes; existing files, symlinks and nodes are replaced.
func InjectExt4(ctx context.Context, image, tarball, prefix string) error {
	if err := injectExt4(ctx, image, tarball, prefix); err != nil {
		return fmt.Errorf("inject %s into %s: %w", tarball, image, err)
	}
	return nil
}

func injectExt4(ctx context.Context, image, tarball, prefix string) error {
	if err := checkExtImage(image); err != nil {
		return err
	}
	debugfs, err := findDebugfs()
	if err != nil {
		return err
	}
	// debugfs writes files from the local filesystem: the tarball is
	// unpacked beside the image (not in a tmpfs /tmp, which a rootfs's
	// modules could fill) and removed afterwards.
	work, err := os.MkdirTemp(filepath.Dir(image), ".inject-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)

	var entries []*tarEntry
	local := map[*tarEntry]string{}
	err = walkTarball(ctx, tarball, prefix, func(e *tarEntry) error {
		for _, s := range []string{e.path, e.hdr.Linkname} {
			if strings.ContainsAny(s, `"\\`) || strings.ContainsFunc(s, unicode.IsControl) {
				return fmt.Errorf("name %q cannot be passed to debugfs", s)
			}
		}
		if e.hdr.Typeflag == tar.TypeReg || e.hdr.Typeflag == tar.TypeGNUSparse {
			// Named by number: debugfs runs in work and reads it there.
			name := strconv.Itoa(len(entries))
			if err := writeLocal(filepath.Join(work, name), e.data); err != nil {
				return err
			}
			local[e] = name
		}
		e.data = nil
		entries = append(entries, e)
		return nil
	})
	if err != nil {
		return fmt.Errorf("tarball %s: %w", tarball, err)
	}

	// Plan against what the image holds, asking debugfs about the paths
	// planning needs until it needs no more. Each round of questions
	// follows one more level of symlinks.
	known := map[string]node{}
	for range 64 {
		script, unknown, err := planExt4(entries, local, known)
		if err != nil {
			return err
		}
		if len(unknown) == 0 {
			return runDebugfs(ctx, debugfs, image, work, script)
		}
		if err := queryExt4(ctx, debugfs, image, work, unknown, known); err != nil {
			return err
		}
	}
	return errors.New("symlinks in the image resolve no further")
}

// planExt4 makes the debugfs script that applies entries, or lists the
// image paths it must know about first.
func planExt4(entries []*tarEntry, local map[*tarEntry]string, known map[string]node) ([]string, []string, error) {
	tree := newTree(false)
	for p, n := range known {
		tree.nodes[p] = n
	}
	var script, unknown []string
	var firstErr error
	seen := map[string]bool{}
	links := map[string]int{} // link counts of hard-linked files
	for _, e := range entries {
		a, err := tree.place(e)
		var ue unknownError
		if errors.As(err, &ue) {
			if !seen[ue.path] {
				seen[ue.path] = true
				unknown = append(unknown, ue.path)
			}
			continue
		}
		if err != nil {
			// Only final if planning knew everything it needed: an entry
			// it could not place may be why this one fails.
			if firstErr == nil {
				firstErr = fmt.Errorf("%s: %w", e.hdr.Name, err)
			}
			continue
		}
		if len(unknown) > 0 || firstErr != nil {
			continue // the script is thrown away: only collect questions
		}
		mtime := e.hdr.ModTime.Unix()
		for _, dir := range a.parents {
			script = append(script, cmd("mkdir", dir))
			script = append(script, owner(dir, modeDir|0o755, mtime)...)
		}
		if a.skip {
			continue
		}
		if a.replace {
			script = append(script, cmd("rm", a.path))
		}
		mode := cpioMode(e.hdr)
		switch e.hdr.Typeflag {
		case tar.TypeDir:
			script = append(script, cmd("mkdir", a.path))
		case tar.TypeReg, tar.TypeGNUSparse:
			script = append(script, fmt.Sprintf("write %q %q", local[e], "/"+a.path))
			links[a.path] = 1
		case tar.TypeSymlink:
			// debugfs's symlink takes the link, then its target.
			script = append(script, fmt.Sprintf("symlink %q %q", "/"+a.path, e.hdr.Linkname))
			continue // a symlink's mode and owner are what symlink made
		case tar.TypeLink:
			// debugfs's ln adds a name but leaves the link count alone.
			links[a.link]++
			script = append(script, fmt.Sprintf("ln %q %q", "/"+a.link, "/"+a.path),
				fmt.Sprintf("sif %q links_count %d", "/"+a.link, links[a.link]))
			continue
		case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
			// debugfs's mknod takes a name in the current directory.
			node := fmt.Sprintf("mknod %q p", path.Base(a.path))
			if e.hdr.Typeflag != tar.TypeFifo {
				kind := "c"
				if e.hdr.Typeflag == tar.TypeBlock {
					kind = "b"
				}
				node = fmt.Sprintf("mknod %q %s %d %d", path.Base(a.path), kind, e.hdr.Devmajor, e.hdr.Devminor)
			}
			script = append(script, cmd("cd", path.Dir(a.path)), node, "cd /")
		}
		script = append(script, owner(a.path, mode, mtime)...)
	}
	if len(unknown) == 0 && firstErr != nil {
		return nil, nil, firstErr
	}
	return script, unknown, nil
}

// cmd is a debugfs command on an absolute image path.
func cmd(name, p string) string { return fmt.Sprintf("%s %q", name, "/"+strings.TrimPrefix(p, "/")) }

// owner sets an inode's mode, root ownership and mtime.
func owner(p string, mode uint32, mtime int64) []string {
	q := fmt.Sprintf("%q", "/"+p)
	return []string{
		fmt.Sprintf("sif %s mode 0%o", q, mode),
		fmt.Sprintf("sif %s uid 0", q),
		fmt.Sprintf("sif %s gid 0", q),
		fmt.Sprintf("sif %s mtime @%d", q, max(mtime, 0)),
	}
}

// queryExt4 learns what the image holds at paths, into known.
func queryExt4(ctx context.Context, debugfs, image, work string, paths []string, known map[string]node) error {
	var script []string
	for _, p := range paths {
		script = append(script, cmd("stat", p))
	}
	out, err := debugfsScript(ctx, debugfs, image, work, false, script)
	if err != nil {
		return err
	}
	// Each command's output starts with its echo, "debugfs: stat ...".
	blocks := strings.Split("\n"+string(out), "\ndebugfs: ")[1:]
	if len(blocks) != len(paths) {
		return fmt.Errorf("debugfs answered %d of %d questions", len(blocks), len(paths))
	}
	for i, p := range paths {
		b := blocks[i]
		switch {
		case !strings.Contains(b, "Type: "):
			known[p] = node{kind: nodeAbsent} // "File not found", on stderr
		case strings.Contains(b, "Type: directory"):
			known[p] = node{kind: nodeDir}
		case strings.Contains(b, "Type: symlink"):
			target, err := linkTarget(ctx, debugfs, image, work, p, b)
			if err != nil {
				return err
			}
			known[p] = node{kind: nodeLink, target: target}
		default:
			known[p] = node{kind: nodeOther}
		}
	}
	return nil
}

// linkTarget reads a symlink's target from its stat output or, for a
// target too long to live in the inode, from its data block.
func linkTarget(ctx context.Context, debugfs, image, work, p, stat string) (string, error) {
	const fast = `Fast link dest: "`
	if i := strings.Index(stat, fast); i >= 0 {
		rest := stat[i+len(fast):]
		if j := strings.LastIndex(rest, "\""); j >= 0 {
			return rest[:j], nil
		}
	}
	out, err := debugfsScript(ctx, debugfs, image, work, false, []string{cmd("cat", p)})
	if err != nil {
		return "", err
	}
	target, ok := strings.CutPrefix(string(out), "debugfs: "+cmd("cat", p)+"\n")
	if !ok || target == "" {
		return "", fmt.Errorf("cannot read the target of symlink /%s", p)
	}
	return target, nil
}

// runDebugfs applies a script to the image.
func runDebugfs(ctx context.Context, debugfs, image, work string, script []string) error {
	_, err := debugfsScript(ctx, debugfs, image, work, true, script)
	return err
}

// debugfsScript runs debugfs on script and returns its output. debugfs
// exits 0 whatever its commands do, so a write run fails on anything it
// says on stderr but its banner; a query run expects "not found" there.
func debugfsScript(ctx context.Context, debugfs, image, work string, write bool, script []string) ([]byte, error) {
	f, err := os.CreateTemp(work, "script")
	if err != nil {
		return nil, err
	}
	defer os.Remove(f.Name())
	if _, err := io.WriteString(f, strings.Join(script, "\n")+"\n"); err != nil {
		f.Close()
		return nil, err
	}
	if err := f.Close(); err != nil {
		return nil, err
	}
	image, err = filepath.Abs(image)
	if err != nil {
		return nil, err
	}
	args := []string{"-f", f.Name(), image}
	if write {
		args = append([]string{"-w"}, args...)
	}
	c := exec.CommandContext(ctx, debugfs, args...)
	c.Dir = work
	c.Env = append(os.Environ(), "DEBUGFS_PAGER=__none__", "PAGER=__none__")
	var stdout, stderr bytes.Buffer
	c.Stdout, c.Stderr = &stdout, &stderr
	err = c.Run()
	var complaints []string
	for _, line := range strings.Split(strings.TrimSpace(stderr.String()), "\n") {
		if line == "" || strings.HasPrefix(line, "debugfs ") {
			continue // the version banner
		}
		complaints = append(complaints, strings.TrimSpace(line))
	}
	if err != nil {
		return nil, fmt.Errorf("debugfs: %w: %s", err, strings.Join(complaints, "; "))
	}
	if write && len(complaints) > 0 {
		if len(complaints) > 5 {
			complaints = append(complaints[:5], fmt.Sprintf("and %d more", len(complaints)-5))
		}
		return nil, fmt.Errorf("debugfs: %s", strings.Join(complaints, "; "))
	}
	return stdout.Bytes(), nil
}

// checkExtImage refuses what debugfs cannot open, with a clear reason.
func checkExtImage(image string) error {
	f, err := os.Open(image)
	if err != nil {
		return err
	}
	defer f.Close()
	magic := make([]byte, 2)
	if _, err := f.ReadAt(magic, 0x438); err != nil || magic[0] != 0x53 || magic[1] != 0xef {
		return errors.New("not an ext2/3/4 filesystem image (a partitioned disk image is not supported)")
	}
	return nil
}

// findDebugfs finds debugfs, which lives in /sbin, often off a user's
// PATH.
func findDebugfs() (string, error) {
	if p, err := exec.LookPath("debugfs"); err == nil {
		return p, nil
	}
	for _, p := range []string{"/usr/sbin/debugfs", "/sbin/debugfs"} {
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", errors.New("debugfs not found: install e2fsprogs")
}

// writeLocal writes a tarball file's data where debugfs can read it.
func writeLocal(name string, data io.Reader) error {
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, data); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
