package artefact

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// AppendCPIO writes out: the initrd, decompressed if it is compressed,
// followed by a newc cpio archive of the tarball's entries (files,
// directories, symlinks, hard links, device nodes and fifos; modes and
// mtimes kept; owned by root) under prefix ("" means "/"). The kernel
// unpacks concatenated archives in order, so the tarball's files are added
// to (or replace) the initrd's. The tarball may be plain tar or gzip, xz,
// zstd or bzip2 compressed; its compression is sniffed, not guessed from
// its name.
//
// Paths go where the guest will look them up: when the initrd makes lib a
// symlink to usr/lib, "lib/modules/..." is written to
// "usr/lib/modules/...", and the symlink is kept. Missing parent
// directories are created.
//
// out is written through a temporary file in its directory and renamed
// into place, so it is either complete or absent.
func AppendCPIO(ctx context.Context, initrd, tarball, prefix, out string) error {
	if err := appendCPIO(ctx, initrd, tarball, prefix, out); err != nil {
		return fmt.Errorf("append %s to initrd %s: %w", tarball, initrd, err)
	}
	return nil
}

func appendCPIO(ctx context.Context, initrd, tarball, prefix, out string) (err error) {
	tmp, err := os.CreateTemp(filepath.Dir(out), "."+filepath.Base(out)+".*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	n, err := writeInitrd(ctx, tmp, initrd)
	if err != nil {
		return err
	}
	tree := scanCPIO(io.NewSectionReader(tmp, 0, n))
	// The kernel looks for the next archive on a 4-byte boundary.
	if _, err := tmp.Write(zeros[:pad4(n)]); err != nil {
		return err
	}
	base := n + pad4(n)

	cw := &cpioWriter{w: tmp}
	var ino uint32
	type regular struct {
		off        int64 // of its header in the archive
		ino, nlink uint32
		mode       uint32
	}
	regulars := map[string]*regular{}
	err = walkTarball(ctx, tarball, prefix, func(e *tarEntry) error {
		a, err := tree.place(e)
		if err != nil {
			return err
		}
		mtime := e.hdr.ModTime.Unix()
		for _, dir := range a.parents {
			ino++
			if _, err := cw.WriteHeader(&cpioHeader{Name: dir, Mode: modeDir | 0o755, Ino: ino, Mtime: mtime}); err != nil {
				return err
			}
		}
		if a.skip {
			return nil
		}
		ino++
		h := &cpioHeader{Name: a.path, Mode: cpioMode(e.hdr), Ino: ino, Mtime: mtime}
		switch e.hdr.Typeflag {
		case tar.TypeReg, tar.TypeGNUSparse:
			h.Size = e.hdr.Size
			off, err := cw.WriteHeader(h)
			if err != nil {
				return err
			}
			if _, err := io.CopyN(cw, e.data, h.Size); err != nil {
				return err
			}
			regulars[a.path] = &regular{off: off, ino: ino, nlink: 1, mode: h.Mode}
			return nil
		case tar.TypeSymlink:
			h.Size = int64(len(e.hdr.Linkname))
			if _, err := cw.WriteHeader(h); err != nil {
				return err
			}
			_, err := io.WriteString(cw, e.hdr.Linkname)
			return err
		case tar.TypeLink:
			// The kernel links entries that share an inode number when
			// their nlink is 2 or more, so the target's header, already
			// written, gets its new link count.
			r := regulars[a.link]
			if r == nil {
				return fmt.Errorf("hard link to %s, which is not a regular file of the tarball", e.hdr.Linkname)
			}
			r.nlink++
			if _, err := tmp.WriteAt(fmt.Appendf(nil, "%08X", r.nlink), base+r.off+cpioNlinkOff); err != nil {
				return err
			}
			h.Ino, h.Mode, h.Nlink = r.ino, r.mode, r.nlink
			regulars[a.path] = r
		case tar.TypeChar, tar.TypeBlock:
			h.RdevMajor, h.RdevMinor = uint32(e.hdr.Devmajor), uint32(e.hdr.Devminor)
		}
		_, err = cw.WriteHeader(h)
		return err
	})
	if err != nil {
		return fmt.Errorf("tarball %s: %w", tarball, err)
	}
	if err := cw.Close(); err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Chmod(0o644); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), out)
}

// writeInitrd writes initrd to dst, an empty file, uncompressed: its
// leading compression undone, and a compressed archive that follows
// uncompressed ones (Debian's initrd is microcode, then the
// zstd-compressed root) decompressed too. The kernel would cope with the
// mix, but an uncompressed initrd can be scanned for what it creates, and
// leaves the kernel no doubt where the appended archive starts. A nested
// archive that does not decompress cleanly is kept as it is.
func writeInitrd(ctx context.Context, dst *os.File, initrd string) (int64, error) {
	fh, err := os.Open(initrd)
	if err != nil {
		return 0, err
	}
	defer fh.Close()
	r, format, err := decompressedReader(&ctxReader{ctx: ctx, r: fh})
	if err != nil {
		return 0, err
	}
	defer r.Close()
	n, err := io.Copy(dst, r)
	if err != nil {
		if format != "" {
			return 0, fmt.Errorf("%s: %w", format, err)
		}
		return 0, err
	}

	cr := newCPIOReader(io.NewSectionReader(dst, 0, n))
	for {
		if _, err := cr.Next(); err != nil {
			if !errors.Is(err, errNotCPIO) {
				return n, nil // the end, or not a cpio archive: leave it be
			}
			break
		}
	}
	off := cr.off
	head := make([]byte, sniffLen)
	hn, _ := dst.ReadAt(head, off)
	format = sniff(head[:hn])
	if format == "" {
		return n, nil
	}
	nested, err := os.CreateTemp(filepath.Dir(dst.Name()), filepath.Base(dst.Name())+".nested")
	if err != nil {
		return 0, err
	}
	defer func() {
		nested.Close()
		os.Remove(nested.Name())
	}()
	if _, err := decompress(ctx, nested, io.NewSectionReader(dst, off, n-off), format, 1<<62); err != nil {
		if ctx.Err() != nil {
			return 0, ctx.Err()
		}
		return n, nil
	}
	if err := dst.Truncate(off); err != nil {
		return 0, err
	}
	if _, err := dst.Seek(off, io.SeekStart); err != nil {
		return 0, err
	}
	if _, err := nested.Seek(0, io.SeekStart); err != nil {
		return 0, err
	}
	m, err := io.Copy(dst, nested)
	if err != nil {
		return 0, err
	}
	return off + m, nil
}

// scanCPIO learns what the initrd's archives create. An initrd it cannot
// read to the end is taken as holding only what it could read: the merge
// is best effort about an initrd it cannot parse.
func scanCPIO(r io.Reader) *fsTree {
	t := newTree(true)
	cr := newCPIOReader(r)
	for {
		h, err := cr.Next()
		if err != nil {
			return t
		}
		name := strings.TrimPrefix(path.Clean("/"+h.Name), "/")
		switch h.Mode & modeType {
		case modeDir:
			t.nodes[name] = node{kind: nodeDir}
		case modeSymlink:
			target, err := io.ReadAll(io.LimitReader(cr, 4096))
			if err != nil {
				return t
			}
			t.nodes[name] = node{kind: nodeLink, target: string(target)}
		default:
			t.nodes[name] = node{kind: nodeOther}
		}
	}
}
