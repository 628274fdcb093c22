package artefact

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// Fetch makes the artefact called name (kernel, rootfs, ...) at src
// available as a local file, verified against want. src is a local path,
// a file:// URL or an http(s):// URL. Every failure is an *Error.
//
// The returned file is protected from cache eviction until File.Close or
// the end of the process.
func (f *Fetcher) Fetch(ctx context.Context, name, src string, want Want) (*File, error) {
	file, err := f.fetch(ctx, name, src, want)
	if err != nil {
		return nil, &Error{Name: name, Source: src, Request: isRequestFault(err), Err: err}
	}
	file.Source = src
	return file, nil
}

func (f *Fetcher) fetch(ctx context.Context, name, src string, want Want) (*File, error) {
	if want.SHA256 != "" {
		if b, err := hex.DecodeString(want.SHA256); err != nil || len(b) != sha256.Size {
			return nil, requestFault{fmt.Errorf("expected sha256 %q is not a hex digest", want.SHA256)}
		}
	}
	local, remote, err := parseSource(src)
	if err != nil {
		return nil, err
	}
	if remote != "" {
		return f.fetchURL(ctx, name, remote, want)
	}
	return f.fetchLocal(ctx, name, local, want)
}

// parseSource splits src into a local path or an http(s) URL.
func parseSource(src string) (local, remote string, err error) {
	if src == "" {
		return "", "", fmt.Errorf("%w: empty source", ErrUnsupportedSource)
	}
	if !strings.Contains(src, "://") {
		return src, "", nil
	}
	u, err := url.Parse(src)
	if err != nil {
		return "", "", fmt.Errorf("%w: %w", ErrUnsupportedSource, err)
	}
	switch u.Scheme {
	case "http", "https":
		if u.Host == "" {
			return "", "", fmt.Errorf("%w: URL has no host", ErrUnsupportedSource)
		}
		return "", src, nil
	case "file":
		if u.Host != "" && u.Host != "localhost" {
			return "", "", fmt.Errorf("%w: file URL names host %q", ErrUnsupportedSource, u.Host)
		}
		if u.Path == "" {
			return "", "", fmt.Errorf("%w: file URL has no path", ErrUnsupportedSource)
		}
		return u.Path, "", nil
	}
	return "", "", fmt.Errorf("%w: scheme %q (use a path, file://, http:// or https://)", ErrUnsupportedSource, u.Scheme)
}

// fetchLocal verifies a local file and, if asked, decompresses it into
// the cache. The file itself is used in place, never copied.
func (f *Fetcher) fetchLocal(ctx context.Context, name, path string, want Want) (*File, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, requestFault{err}
	}
	// Stat before open: opening a FIFO blocks until a writer comes.
	if fi, err := os.Stat(abs); err != nil {
		return nil, requestFault{err}
	} else if !fi.Mode().IsRegular() {
		return nil, requestFault{fmt.Errorf("%s is not a regular file", abs)}
	}
	fh, err := os.OpenFile(abs, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, requestFault{err}
	}
	defer fh.Close()
	fi, err := fh.Stat()
	if err != nil {
		return nil, requestFault{err}
	}
	if !fi.Mode().IsRegular() {
		return nil, requestFault{fmt.Errorf("%s is not a regular file", abs)}
	}
	if fi.Size() > f.maxSize() {
		return nil, tooLarge(fmt.Sprintf("size %d", fi.Size()), f.maxSize())
	}
	head := make([]byte, sniffLen)
	hn, _ := fh.ReadAt(head, 0)
	sum, err := f.localDigest(ctx, fh, abs, fi)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, requestFault{fmt.Errorf("reading %s: %w", abs, err)}
	}
	file := &File{Path: abs, SHA256: sum, Size: fi.Size(), Cached: true}
	if want.SHA256 != "" && !sameDigest(want.SHA256, file.SHA256) {
		return nil, digestMismatch(want.SHA256, file.SHA256)
	}
	format := sniff(head[:hn])
	if !want.Decompress || format == "" {
		return file, nil
	}
	c, err := f.cache()
	if err != nil {
		return nil, err
	}
	for range 3 { // a fresh entry may be evicted before we lock it; look again
		path, release, err := f.decompressed(ctx, c, name, file.SHA256, format, abs)
		if errors.Is(err, errGone) {
			continue
		}
		if err != nil {
			return nil, err
		}
		file.Path, file.Compression, file.release = path, format, release
		return file, nil
	}
	return nil, fmt.Errorf("cache: %w repeatedly (is CacheMax too small?)", errGone)
}

// fetchURL serves an http(s) artefact from the cache, downloading or
// revalidating it when needed.
func (f *Fetcher) fetchURL(ctx context.Context, name, u string, want Want) (*File, error) {
	c, err := f.cache()
	if err != nil {
		return nil, err
	}
	key := urlKey(u)
	for range 3 { // a fresh entry may be evicted before we lock it; look again
		file, err := f.urlHit(ctx, c, name, key, u, want)
		if err == nil && file != nil {
			return file, nil
		}
		if err != nil && !errors.Is(err, errGone) {
			return nil, err
		}
		e, err := f.flights.do(ctx, fmt.Sprintf("url-%s-%t", key, want.Decompress), func(ctx context.Context) (entry, error) {
			return f.refreshURL(ctx, c, name, key, u, want)
		})
		if err != nil {
			return nil, err
		}
		if want.SHA256 != "" && !sameDigest(want.SHA256, e.sha256) {
			return nil, digestMismatch(want.SHA256, e.sha256)
		}
		file, err = f.open(ctx, c, name, e.sha256, e.size, want)
		if errors.Is(err, errGone) {
			continue
		}
		if err != nil {
			return nil, err
		}
		file.Cached = !e.downloaded
		return file, nil
	}
	return nil, fmt.Errorf("cache: %w repeatedly (is CacheMax too small?)", errGone)
}

// entry is what a refresh or decompression produced.
type entry struct {
	sha256     string
	size       int64
	downloaded bool
}

// urlHit serves u from the cache without taking its lock or asking the
// origin, if the cache holds it and it is fresh enough. It returns nil
// on a miss.
func (f *Fetcher) urlHit(ctx context.Context, c cache, name, key, u string, want Want) (*File, error) {
	ix := c.readIndex(key, u)
	if ix == nil || !f.fresh(ix, want) {
		// Bytes with the expected digest are what the request wants,
		// whichever URL brought them.
		ix = nil
		if want.SHA256 == "" || !exists(c.blob(strings.ToLower(want.SHA256))) {
			return nil, nil
		}
	}
	sum, size := strings.ToLower(want.SHA256), int64(-1)
	if ix != nil {
		sum, size = ix.SHA256, ix.Size
	}
	file, err := f.open(ctx, c, name, sum, size, want)
	if err != nil {
		return nil, err
	}
	file.Cached = true
	return file, nil
}

// fresh reports whether an index can be used without asking the origin:
// it has the expected digest, or it was checked less than MaxAge ago.
func (f *Fetcher) fresh(ix *index, want Want) bool {
	if want.SHA256 != "" {
		// A different digest may mean the URL changed since: ask.
		return sameDigest(want.SHA256, ix.SHA256)
	}
	age := f.maxAge()
	return age > 0 && time.Since(ix.Checked) < age
}

// refreshURL makes the cache hold what u serves now, under the URL's lock
// so that concurrent processes download it once.
func (f *Fetcher) refreshURL(ctx context.Context, c cache, name, key, u string, want Want) (entry, error) {
	lockName := "url-" + key
	lk, err := f.lockExclusive(ctx, c, lockName, name+": "+u)
	if err != nil {
		return entry{}, err
	}
	defer lk.Unlock()
	c.removeLeftovers(lockName)

	ix := c.readIndex(key, u)
	have := ix != nil && c.has(ix.SHA256, want.Decompress)
	if have && f.fresh(ix, want) {
		// Another process fetched or checked it while we waited.
		return entry{sha256: ix.SHA256, size: ix.Size}, nil
	}
	var cond *index
	if have {
		cond = ix
	}
	res, err := f.download(ctx, c, name, lockName, u, cond)
	if err != nil {
		return entry{}, err
	}
	if res.notModified {
		ix.Checked = time.Now()
		if err := c.writeIndex(key, ix); err != nil {
			return entry{}, err
		}
		f.logf("%s: %s not modified, using the cached copy", name, u)
		return entry{sha256: ix.SHA256, size: ix.Size}, nil
	}
	nix := &index{URL: u, SHA256: res.sha256, Size: res.size, ETag: res.etag,
		LastModified: res.lastModified, Checked: time.Now()}
	if err := c.writeIndex(key, nix); err != nil {
		return entry{}, err
	}
	f.evict(ctx, c)
	return entry{sha256: res.sha256, size: res.size, downloaded: true}, nil
}

// open returns the cache file for the bytes with digest sum as want asks:
// the blob, or its decompressed form. size is the blob's size, or -1 if
// unknown.
func (f *Fetcher) open(ctx context.Context, c cache, name, sum string, size int64, want Want) (*File, error) {
	file := &File{SHA256: sum, Size: size}
	if want.Decompress {
		for _, format := range formats {
			path := c.decompressed(sum, format)
			release, _, err := openShared(path)
			if err == nil {
				if size < 0 {
					release()
					break // the blob, below, knows the size
				}
				file.Path, file.Compression, file.release = path, format, release
				return file, nil
			}
			if !errors.Is(err, errGone) {
				return nil, err
			}
		}
	}
	blob := c.blob(sum)
	release, blobSize, err := openShared(blob)
	if err != nil {
		return nil, err
	}
	file.Path, file.Size, file.release = blob, blobSize, release
	if !want.Decompress {
		return file, nil
	}
	format, err := sniffFile(blob)
	if err != nil || format == "" {
		return file, err
	}
	// The blob stays locked while it is decompressed from.
	defer release()
	path, drelease, err := f.decompressed(ctx, c, name, sum, format, blob)
	if err != nil {
		return nil, err
	}
	file.Path, file.Compression, file.release = path, format, drelease
	return file, nil
}

// decompressed returns the decompressed form of src (which holds the
// bytes with digest sum in format) from the cache, making it if needed,
// with a shared lock on it.
func (f *Fetcher) decompressed(ctx context.Context, c cache, name, sum, format, src string) (string, func() error, error) {
	path := c.decompressed(sum, format)
	if release, _, err := openShared(path); err == nil {
		return path, release, nil
	} else if !errors.Is(err, errGone) {
		return "", nil, err
	}
	_, err := f.flights.do(ctx, "dec-"+sum, func(ctx context.Context) (entry, error) {
		return entry{}, f.makeDecompressed(ctx, c, name, sum, format, src)
	})
	if err != nil {
		return "", nil, err
	}
	release, _, err := openShared(path)
	if err != nil {
		return "", nil, err
	}
	return path, release, nil
}

// makeDecompressed writes the decompressed form of src into the cache
// under the digest's lock.
func (f *Fetcher) makeDecompressed(ctx context.Context, c cache, name, sum, format, src string) error {
	lockName := "dec-" + sum
	lk, err := f.lockExclusive(ctx, c, lockName, name+": decompressing")
	if err != nil {
		return err
	}
	defer lk.Unlock()
	final := c.decompressed(sum, format)
	if exists(final) {
		return nil
	}
	c.removeLeftovers(lockName)
	in, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("decompressing: %w", err)
	}
	defer in.Close()
	t, err := c.createTemp(lockName)
	if err != nil {
		return err
	}
	start := time.Now()
	// Hash what is decompressed: a local file may change under us, and
	// the result is filed under the digest of its input.
	h := sha256.New()
	n, err := decompress(ctx, t, io.TeeReader(in, h), format, f.maxSize())
	if err == nil {
		// Drain what the decompressor did not need (padding, trailing
		// bytes), so the digest covers the whole input.
		_, err = io.Copy(h, in)
	}
	if err == nil && hex.EncodeToString(h.Sum(nil)) != sum {
		err = fmt.Errorf("%s changed while it was decompressed", src)
	}
	if err != nil {
		t.Close()
		os.Remove(t.Name())
		return err
	}
	if err := commit(t, final); err != nil {
		return err
	}
	f.logf("%s: decompressed %s to %d bytes in %v", name, format, n, time.Since(start).Round(time.Millisecond))
	f.evict(ctx, c)
	return nil
}

// sniffFile names the compression of a file by its first bytes.
func sniffFile(path string) (string, error) {
	fh, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("cache: %w", err)
	}
	defer fh.Close()
	head := make([]byte, sniffLen)
	n, _ := io.ReadFull(fh, head)
	return sniff(head[:n]), nil
}

func digestMismatch(want, got string) error {
	return fmt.Errorf("%w: expected %s, got %s", ErrSHA256Mismatch, strings.ToLower(want), got)
}
