package artefact

import (
	"archive/tar"
	"errors"
	"fmt"
	"path"
	"strings"
)

// Merging a tarball into a root filesystem must resolve paths the way the
// guest will. Debian (merged /usr) and many Buildroot images make /lib a
// symlink to usr/lib: a modules tarball's "lib/modules/..." must go to
// "usr/lib/modules/...", and its "lib" directory entry must not replace
// the symlink (the kernel's initramfs unpacker and debugfs would both
// delete it, and with it the dynamic loader). fsTree knows what the target
// filesystem holds and plans each tarball entry accordingly.

type nodeKind uint8

const (
	nodeAbsent nodeKind = iota
	nodeDir
	nodeLink
	nodeOther // a file, device or fifo
)

type node struct {
	kind   nodeKind
	target string // of a symlink
}

// fsTree is what a root filesystem holds at the paths a merge touches.
type fsTree struct {
	nodes map[string]node
	// complete says nodes lists everything that exists (a scanned cpio
	// archive); otherwise an unlisted path is unknown and planning asks
	// for it (an ext4 image, queried in batches).
	complete bool
	// written maps each regular file's tarball path to where it was
	// placed, for hard links.
	written map[string]string
}

func newTree(complete bool) *fsTree {
	return &fsTree{nodes: map[string]node{"": {kind: nodeDir}}, complete: complete, written: map[string]string{}}
}

// unknownError asks the caller to look path up and plan again.
type unknownError struct{ path string }

func (e unknownError) Error() string { return "unknown path " + e.path }

// lookup returns the node at p.
func (t *fsTree) lookup(p string) (node, error) {
	n, ok := t.nodes[p]
	if !ok && !t.complete {
		return node{}, unknownError{p}
	}
	return n, nil
}

// resolve follows symlinks in the directory components of p, not in its
// last component, and returns a path free of symlinks but for the last.
func (t *fsTree) resolve(p string) (string, error) {
	parts := strings.Split(p, "/")
	for hops := 0; ; hops++ {
		if hops > 40 {
			return "", fmt.Errorf("%s: too many levels of symbolic links", p)
		}
		resolved, restarted := "", false
		for i, comp := range parts[:len(parts)-1] {
			cur := path.Join(resolved, comp)
			n, err := t.lookup(cur)
			if err != nil {
				return "", err
			}
			if n.kind == nodeLink {
				base := resolved
				if strings.HasPrefix(n.target, "/") {
					base = ""
				}
				np := strings.TrimPrefix(path.Join("/", base, n.target, path.Join(parts[i+1:]...)), "/")
				parts, restarted = strings.Split(np, "/"), true
				break
			}
			resolved = cur
		}
		if !restarted {
			return path.Join(resolved, parts[len(parts)-1]), nil
		}
	}
}

// action is how to apply one tarball entry.
type action struct {
	skip    bool     // no entry to write: a directory that exists (or is a symlink there)
	path    string   // where, symlinks resolved
	parents []string // missing directories to create first, top down
	replace bool     // a file, symlink or node at path must be removed first
	link    string   // a hard link's target, resolved
}

// place plans entry e and records its effect.
func (t *fsTree) place(e *tarEntry) (action, error) {
	if e.path == "" {
		return action{skip: true}, nil // the root itself
	}
	p, err := t.resolve(e.path)
	if err != nil {
		return action{}, err
	}
	a := action{path: p}
	// Every ancestor of a resolved path is a directory or absent: absent
	// ones are created, top down.
	for dir := path.Dir(p); dir != "."; dir = path.Dir(dir) {
		n, err := t.lookup(dir)
		if err != nil {
			return action{}, err
		}
		if n.kind == nodeDir {
			break
		}
		if n.kind != nodeAbsent {
			return action{}, fmt.Errorf("%s is not a directory", dir)
		}
		a.parents = append([]string{dir}, a.parents...)
	}
	for _, dir := range a.parents {
		t.nodes[dir] = node{kind: nodeDir}
	}
	n, err := t.lookup(p)
	if err != nil {
		return action{}, err
	}
	if e.hdr.Typeflag == tar.TypeDir {
		switch n.kind {
		case nodeDir, nodeLink:
			a.skip = true
			return a, nil
		case nodeOther:
			a.replace = true
		}
		t.nodes[p] = node{kind: nodeDir}
		return a, nil
	}
	if n.kind == nodeDir {
		return action{}, fmt.Errorf("%s is a directory", p)
	}
	a.replace = n.kind != nodeAbsent
	switch e.hdr.Typeflag {
	case tar.TypeSymlink:
		t.nodes[p] = node{kind: nodeLink, target: e.hdr.Linkname}
	case tar.TypeLink:
		target, ok := t.written[e.link]
		if !ok {
			return action{}, errors.New("hard link to " + e.hdr.Linkname + ", which the tarball does not hold before it")
		}
		a.link = target
		t.nodes[p] = node{kind: nodeOther}
		t.written[e.path] = target
	default:
		t.nodes[p] = node{kind: nodeOther}
		if e.hdr.Typeflag == tar.TypeReg || e.hdr.Typeflag == tar.TypeGNUSparse {
			t.written[e.path] = p
		}
	}
	return a, nil
}
