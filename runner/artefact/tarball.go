package artefact

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strings"
)

// tarEntry is one entry of a tarball to merge, with its path under the
// prefix (relative to the root, cleaned, "" for the root itself).
type tarEntry struct {
	hdr  *tar.Header
	path string
	link string // for a hard link: the path of its target, like path
	data io.Reader
}

// destPath maps a tarball name under prefix to a clean path relative to
// the root. Names cannot escape the root: "../x" is "x".
func destPath(prefix, name string) string {
	return strings.TrimPrefix(path.Join("/", prefix, name), "/")
}

// walkTarball calls fn for each entry of the tarball at file, which may
// be plain or compressed in any format sniff knows.
func walkTarball(ctx context.Context, file, prefix string, fn func(e *tarEntry) error) error {
	fh, err := os.Open(file)
	if err != nil {
		return err
	}
	defer fh.Close()
	r, format, err := decompressedReader(&ctxReader{ctx: ctx, r: fh})
	if err != nil {
		return err
	}
	defer r.Close()
	tr := tar.NewReader(r)
	for n := 0; ; n++ {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			if n == 0 {
				return errors.New("not a tarball: no entries")
			}
			return nil
		}
		if err != nil {
			if format != "" {
				return fmt.Errorf("%s tar: %w", format, err)
			}
			return fmt.Errorf("tar: %w", err)
		}
		e := &tarEntry{hdr: hdr, path: destPath(prefix, hdr.Name), data: tr}
		switch hdr.Typeflag {
		case tar.TypeXGlobalHeader:
			continue // metadata only
		case tar.TypeReg, tar.TypeGNUSparse, tar.TypeDir, tar.TypeSymlink,
			tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
		case tar.TypeLink:
			e.link = destPath(prefix, hdr.Linkname)
		default:
			return fmt.Errorf("tar: %s: unsupported entry type %q", hdr.Name, hdr.Typeflag)
		}
		if err := fn(e); err != nil {
			return fmt.Errorf("%s: %w", hdr.Name, err)
		}
	}
}

// cpioMode is the stat(2) mode of a tar entry: type and permission bits.
func cpioMode(hdr *tar.Header) uint32 {
	perm := uint32(hdr.Mode) & 0o7777
	switch hdr.Typeflag {
	case tar.TypeDir:
		return modeDir | perm
	case tar.TypeSymlink:
		return modeSymlink | 0o777
	case tar.TypeChar:
		return modeChar | perm
	case tar.TypeBlock:
		return modeBlock | perm
	case tar.TypeFifo:
		return modeFIFO | perm
	}
	return modeReg | perm
}
