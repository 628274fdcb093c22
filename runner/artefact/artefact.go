// Package artefact fetches, verifies, caches and decompresses the files a
// boot request names (kernel, rootfs, modules, dtb, bios, overlays) before
// QEMU sees them.
//
// Sources are local paths, file:// URLs and http(s):// URLs. Downloads land
// in a node-local cache shared by every runner process on the machine: one
// process downloads while the others wait on a file lock, and then all of
// them read the same verified file. The layout and its crash safety are
// described in cache.go and docs/artefacts.md.
//
// The package also merges tarballs (modules, overlays) into a boot: into a
// cpio initramfs with [AppendCPIO], into an ext2/3/4 disk image with
// [InjectExt4].
package artefact

import (
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"
)

// Defaults for the zero values of Fetcher's fields.
const (
	DefaultCacheMax     = 10 << 30 // 10 GiB
	DefaultMaxSize      = 4 << 30  // 4 GiB
	DefaultRetries      = 3
	DefaultBackoff      = time.Second
	DefaultMaxAge       = time.Minute
	DefaultStallTimeout = time.Minute
)

// Fetcher fetches artefacts through a node-local cache. Its zero value is
// ready to use. A Fetcher may be used by many goroutines at once; it must
// not be copied after first use.
type Fetcher struct {
	// CacheDir is the node-local cache; "" means
	// os.UserCacheDir()/tuxboot/artefacts. Every process on the machine
	// that names the same directory shares its downloads.
	CacheDir string
	// CacheMax bounds the cache in bytes: after each write the least
	// recently used files past it are removed, except those in use.
	// 0 means DefaultCacheMax.
	CacheMax int64
	// CacheURL is a KissCache-style prefix such as
	// "http://cache.example/api/v1/fetch/?url=". When set, every http(s)
	// artefact is fetched from CacheURL + url.QueryEscape(source). The
	// node-local cache is still keyed by the original URL.
	CacheURL string
	// Client makes the HTTP requests; nil means a client with connect,
	// TLS and response-header timeouts and no overall timeout (a rootfs
	// may take minutes to download; StallTimeout catches a dead transfer).
	Client *http.Client
	// Retries is how many times a transient failure (connection refused
	// or reset, timeout, stall, truncated body, HTTP 5xx, 408, 429) is
	// retried, with exponential backoff. 0 means DefaultRetries; a
	// negative value disables retries. 4xx other than 408 and 429 is never
	// retried.
	Retries int
	// Backoff is the delay before the first retry; it doubles each time.
	// 0 means DefaultBackoff.
	Backoff time.Duration
	// MaxSize caps one artefact, both as fetched and after decompression.
	// 0 means DefaultMaxSize. Past it, Fetch fails with ErrTooLarge.
	MaxSize int64
	// MaxAge is how long after a check with the origin a cached URL is
	// used without asking again. Past it, Fetch revalidates with
	// If-None-Match / If-Modified-Since. 0 means DefaultMaxAge; a negative
	// value revalidates every time. A request that gives the expected
	// sha256 of a cached file never needs to ask.
	MaxAge time.Duration
	// StallTimeout aborts (and retries) a transfer that receives no byte
	// for this long. 0 means DefaultStallTimeout.
	StallTimeout time.Duration
	// Log, if set, receives progress notes (downloads, waits, hits).
	Log func(format string, args ...any)

	mu      sync.Mutex
	client  *http.Client // Client or the default one
	flights flightGroup  // in-process single flight, keyed by lock name
	dirOK   string       // the cache dir whose layout was created
}

// Want says what the caller expects of an artefact.
type Want struct {
	// SHA256 is the expected hex digest of the file as fetched (before
	// decompression); "" accepts any. A mismatch fails with
	// ErrSHA256Mismatch.
	SHA256 string
	// Decompress asks for the file decompressed when its first bytes are
	// gzip, xz, zstd or bzip2 magic (the name does not matter). Other
	// files are returned as they are.
	Decompress bool
}

// File is an artefact ready to use.
type File struct {
	// Path is the file to use: a cache entry or the original local file.
	// It is read-only for the caller: a disk image must be used through
	// a copy or a copy-on-write overlay.
	Path string
	// Source is what the request said.
	Source string
	// SHA256 and Size are of the bytes as fetched, before decompression.
	SHA256 string
	Size   int64
	// Compression names the format Path was decompressed from ("gzip",
	// "xz", "zstd", "bzip2"), or "" if Path holds the bytes as fetched.
	Compression string
	// Cached is true when no byte was downloaded for this Fetch.
	Cached bool

	release func() error // drops the shared lock that keeps Path from eviction
}

// Close tells the cache the caller is done with Path, so that eviction
// may remove it. A process that exits releases its files too, so a runner
// that uses its artefacts until it exits need not call Close. Close is
// idempotent.
func (f *File) Close() error {
	if f == nil || f.release == nil {
		return nil
	}
	r := f.release
	f.release = nil
	return r()
}

// Error says which artefact failed, from where, and why.
type Error struct {
	Name   string // the artefact's name in the request: kernel, rootfs, ...
	Source string // what the request said
	// Request is true when the request itself is at fault: a local file
	// that is missing or unreadable, an unsupported source, a sha256
	// mismatch, a file past MaxSize. Otherwise the infrastructure failed
	// (network, HTTP status, cache disk) and the boot is an error, never a
	// kernel failure.
	Request bool
	Err     error
}

func (e *Error) Error() string {
	return fmt.Sprintf("artefact %s: %s: %v", e.Name, e.Source, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// Errors that Error.Err may wrap; test with errors.Is.
var (
	ErrTooLarge          = errors.New("file too large")
	ErrSHA256Mismatch    = errors.New("sha256 mismatch")
	ErrUnsupportedSource = errors.New("unsupported source")
)

// HTTPError is an HTTP response status other than 200 (or 304 on a
// revalidation).
type HTTPError struct {
	StatusCode int
	Status     string // e.g. "404 Not Found"
}

func (e *HTTPError) Error() string { return "HTTP " + e.Status }

// transient reports whether a retry may succeed.
func (e *HTTPError) transient() bool {
	return e.StatusCode >= 500 || e.StatusCode == http.StatusRequestTimeout ||
		e.StatusCode == http.StatusTooManyRequests
}

// requestFault marks an error as the request's fault.
type requestFault struct{ error }

func (e requestFault) Unwrap() error { return e.error }

// isRequestFault classifies an error for Error.Request.
func isRequestFault(err error) bool {
	var rf requestFault
	return errors.As(err, &rf) || errors.Is(err, ErrTooLarge) ||
		errors.Is(err, ErrSHA256Mismatch) || errors.Is(err, ErrUnsupportedSource)
}

func (f *Fetcher) logf(format string, args ...any) {
	if f.Log != nil {
		f.Log(format, args...)
	}
}

func (f *Fetcher) maxSize() int64 {
	if f.MaxSize > 0 {
		return f.MaxSize
	}
	return DefaultMaxSize
}

func (f *Fetcher) cacheMax() int64 {
	if f.CacheMax > 0 {
		return f.CacheMax
	}
	return DefaultCacheMax
}

func (f *Fetcher) retries() int {
	switch {
	case f.Retries < 0:
		return 0
	case f.Retries == 0:
		return DefaultRetries
	}
	return f.Retries
}

func (f *Fetcher) backoff() time.Duration {
	if f.Backoff > 0 {
		return f.Backoff
	}
	return DefaultBackoff
}

func (f *Fetcher) maxAge() time.Duration {
	if f.MaxAge == 0 {
		return DefaultMaxAge
	}
	return f.MaxAge
}

func (f *Fetcher) stallTimeout() time.Duration {
	if f.StallTimeout > 0 {
		return f.StallTimeout
	}
	return DefaultStallTimeout
}

// tooLarge builds the size-cap error.
func tooLarge(what string, limit int64) error {
	return fmt.Errorf("%w: %s exceeds the %s limit", ErrTooLarge, what, humanBytes(limit))
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%d GiB", n>>30)
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}
