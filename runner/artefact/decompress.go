package artefact

import (
	"bufio"
	"bytes"
	"compress/bzip2"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
)

// formats are the compressions Fetch undoes, by the name File.Compression
// and the cache use.
var formats = []string{"gzip", "xz", "zstd", "bzip2"}

// sniff names the compression of data that starts with head, or returns
// "" for anything else. Only magic bytes count, never a file name: a
// "vmlinuz" may be gzip or a plain bzImage, an "Image.gz" may not be
// compressed at all.
func sniff(head []byte) string {
	switch {
	case bytes.HasPrefix(head, []byte{0x1f, 0x8b}):
		return "gzip"
	case bytes.HasPrefix(head, []byte{0xfd, '7', 'z', 'X', 'Z', 0x00}):
		return "xz"
	case bytes.HasPrefix(head, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		return "zstd"
	case len(head) >= 4 && bytes.HasPrefix(head, []byte("BZh")) && head[3] >= '1' && head[3] <= '9':
		return "bzip2"
	}
	return ""
}

// sniffLen is how many bytes sniff needs.
const sniffLen = 6

// newDecompressor reads the decompressed form of r, which holds format.
// Concatenated streams (pigz, pixz, pzstd output) are read whole.
func newDecompressor(format string, r io.Reader) (io.ReadCloser, error) {
	switch format {
	case "gzip":
		return gzip.NewReader(r)
	case "xz":
		x, err := xz.NewReader(r)
		if err != nil {
			return nil, err
		}
		return io.NopCloser(x), nil
	case "zstd":
		// One decoder goroutine: we stream to disk, and the machine is
		// shared with QEMU guests.
		z, err := zstd.NewReader(r, zstd.WithDecoderConcurrency(1))
		if err != nil {
			return nil, err
		}
		return z.IOReadCloser(), nil
	case "bzip2":
		return io.NopCloser(bzip2.NewReader(r)), nil
	}
	return nil, fmt.Errorf("unknown compression %q", format)
}

// decompressedReader sniffs r and returns a reader of its decompressed
// form (or of r itself when it is not compressed) with the format's name.
func decompressedReader(r io.Reader) (io.ReadCloser, string, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	head, _ := br.Peek(sniffLen) // a short file is simply not compressed
	format := sniff(head)
	if format == "" {
		return io.NopCloser(br), "", nil
	}
	d, err := newDecompressor(format, br)
	if err != nil {
		return nil, "", fmt.Errorf("%s: %w", format, err)
	}
	return d, format, nil
}

// decompress streams the decompressed form of src (which holds format)
// to dst and fails with ErrTooLarge past limit bytes, so a small
// compressed file cannot fill the disk.
func decompress(ctx context.Context, dst io.Writer, src io.Reader, format string, limit int64) (int64, error) {
	d, err := newDecompressor(format, src)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", format, err)
	}
	defer d.Close()
	n, err := copyLimit(ctx, dst, d, limit)
	if err != nil {
		if errors.Is(err, errLimit) {
			return n, tooLarge("decompressed size", limit)
		}
		return n, fmt.Errorf("%s: %w", format, err)
	}
	return n, nil
}

// errLimit reports that copyLimit hit its limit.
var errLimit = errors.New("size limit reached")

// copyLimit copies src to dst, failing with errLimit once more than
// limit bytes would be written, and checking ctx between chunks so a long
// copy can be interrupted.
func copyLimit(ctx context.Context, dst io.Writer, src io.Reader, limit int64) (int64, error) {
	n, err := io.Copy(dst, &ctxReader{ctx: ctx, r: io.LimitReader(src, limit+1)})
	if err != nil {
		return n, err
	}
	if n > limit {
		return n, errLimit
	}
	return n, nil
}

// ctxReader fails reads once ctx is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (r *ctxReader) Read(p []byte) (int, error) {
	if err := r.ctx.Err(); err != nil {
		return 0, err
	}
	return r.r.Read(p)
}
