package artefact

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/gofrs/flock"
)

// The cache lives in CacheDir/v1:
//
//	blobs/<sha256>               bytes as fetched, named by their digest, mode 0444
//	decompressed/<sha256>.<fmt>  the decompressed form of the bytes with that digest
//	urls/<sha256 of URL>.json    what the URL served last: digest, size, ETag,
//	                             Last-Modified, when it was last checked
//	locals/<sha256 of path>.json the digest of a local file, with its inode,
//	                             size, mtime and ctime (see local.go)
//	locks/<name>                 flock files: url-<key>, dec-<sha256>, evict
//	tmp/<lock name>.<random>     files being written
//
// Crash safety: a file is written under tmp/, synced, hashed, and only then
// hard-linked into blobs/ or decompressed/ under its digest; a URL's index
// is replaced (write to tmp, rename) only after its blob is in place. So
// blobs/ and decompressed/ only ever hold complete, verified files, and an
// index only names such a file. A crash leaves at worst a tmp file, which
// nothing reads and which the next writer of the same key (or eviction)
// removes, or a complete blob no index names, which eviction ages out.
//
// Concurrency: writers of one key (a URL, or the decompressed form of one
// digest) hold an exclusive flock on locks/<key> while they check, download
// and commit, so concurrent processes wait for one download and then find
// it. Readers take no key lock on the fast path: they read the index and
// take a shared flock on the file they return, which they hold until
// File.Close or process exit. Eviction removes a file only under an
// exclusive flock on that file, so a file in use is never removed. Files
// are never rewritten in place: a blob's name is its digest, so a newer
// download of a URL is a new blob and the old one stays valid for whoever
// uses it.

// cacheVersion names the layout; a new layout gets a new directory.
const cacheVersion = "v1"

// cache is the resolved cache directory (CacheDir/v1).
type cache struct{ dir string }

func (c cache) blob(sum string) string { return filepath.Join(c.dir, "blobs", sum) }
func (c cache) decompressed(sum, format string) string {
	return filepath.Join(c.dir, "decompressed", sum+"."+format)
}
func (c cache) index(key string) string { return filepath.Join(c.dir, "urls", key+".json") }
func (c cache) lock(name string) string { return filepath.Join(c.dir, "locks", name) }
func (c cache) tmp() string             { return filepath.Join(c.dir, "tmp") }

// urlKey names a URL in the cache.
func urlKey(u string) string {
	sum := sha256.Sum256([]byte(u))
	return hex.EncodeToString(sum[:])
}

// cache returns the cache directory, creating its layout on first use.
func (f *Fetcher) cache() (cache, error) {
	dir := f.CacheDir
	if dir == "" {
		base, err := os.UserCacheDir()
		if err != nil {
			return cache{}, fmt.Errorf("cache dir: %w", err)
		}
		dir = filepath.Join(base, "tuxboot", "artefacts")
	}
	c := cache{dir: filepath.Join(dir, cacheVersion)}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.dirOK == c.dir {
		return c, nil
	}
	for _, sub := range []string{"blobs", "decompressed", "urls", "locals", "locks", "tmp"} {
		if err := os.MkdirAll(filepath.Join(c.dir, sub), 0o755); err != nil {
			return cache{}, fmt.Errorf("cache dir: %w", err)
		}
	}
	f.dirOK = c.dir
	return c, nil
}

// index records what a URL served last.
type index struct {
	URL          string    `json:"url"`
	SHA256       string    `json:"sha256"`
	Size         int64     `json:"size"`
	ETag         string    `json:"etag,omitempty"`
	LastModified string    `json:"last_modified,omitempty"`
	Checked      time.Time `json:"checked"` // last 200 or 304 from the origin
}

// readIndex returns the URL's index, or nil if there is none or it cannot
// be trusted (then the URL is fetched afresh).
func (c cache) readIndex(key, u string) *index {
	b, err := os.ReadFile(c.index(key))
	if err != nil {
		return nil
	}
	var ix index
	if json.Unmarshal(b, &ix) != nil || ix.URL != u || len(ix.SHA256) != sha256.Size*2 {
		return nil
	}
	return &ix
}

// writeIndex replaces the URL's index atomically. The caller holds the
// URL's lock.
func (c cache) writeIndex(key string, ix *index) error {
	b, err := json.Marshal(ix)
	if err != nil {
		return err
	}
	t, err := os.CreateTemp(c.tmp(), "url-"+key+".*")
	if err != nil {
		return fmt.Errorf("cache index: %w", err)
	}
	defer os.Remove(t.Name()) // a no-op once renamed
	if _, err := t.Write(b); err != nil {
		t.Close()
		return fmt.Errorf("cache index: %w", err)
	}
	if err := t.Close(); err != nil {
		return fmt.Errorf("cache index: %w", err)
	}
	if err := os.Rename(t.Name(), c.index(key)); err != nil {
		return fmt.Errorf("cache index: %w", err)
	}
	return nil
}

// createTemp starts a file to be committed under the lock named lockName.
func (c cache) createTemp(lockName string) (*os.File, error) {
	t, err := os.CreateTemp(c.tmp(), lockName+".*")
	if err != nil {
		return nil, fmt.Errorf("cache: %w", err)
	}
	return t, nil
}

// removeLeftovers deletes what an earlier writer of the same key left in
// tmp/ when it died. The caller holds the key's lock, so no live writer
// owns them.
func (c cache) removeLeftovers(lockName string) {
	matches, _ := filepath.Glob(filepath.Join(c.tmp(), lockName+".*"))
	for _, m := range matches {
		os.Remove(m)
	}
}

// commit makes the written temp file t the cache file final: synced,
// read-only, and linked in under its digest name in one atomic step.
// An existing final file has the same digest, so it is kept as it is
// (a reader may be using it).
func commit(t *os.File, final string) error {
	defer os.Remove(t.Name())
	if err := t.Sync(); err != nil {
		t.Close()
		return fmt.Errorf("cache: %w", err)
	}
	if err := t.Chmod(0o444); err != nil {
		t.Close()
		return fmt.Errorf("cache: %w", err)
	}
	if err := t.Close(); err != nil {
		return fmt.Errorf("cache: %w", err)
	}
	if err := os.Link(t.Name(), final); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("cache: %w", err)
	}
	// The link must be on disk before an index names it.
	if d, err := os.Open(filepath.Dir(final)); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// exists reports whether a cache file is present.
func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// errGone says a cache file vanished (evicted) between finding and
// opening it; the caller looks again.
var errGone = errors.New("cache file gone")

// openShared takes a shared lock on a cache file, which keeps eviction
// away from it until release, and marks it used now for LRU eviction.
func openShared(path string) (release func() error, size int64, err error) {
	fl := flock.New(path, flock.SetFlag(os.O_RDONLY))
	ok, err := fl.TryRLock()
	if errors.Is(err, fs.ErrNotExist) {
		return nil, 0, errGone
	}
	if err != nil {
		return nil, 0, fmt.Errorf("cache: %w", err)
	}
	if !ok { // eviction holds it and is removing it
		return nil, 0, errGone
	}
	// The file may have been evicted between open and lock: only the
	// file still linked at path counts.
	held, err1 := fl.Stat()
	now, err2 := os.Stat(path)
	if err1 != nil || err2 != nil || !os.SameFile(held, now) {
		fl.Unlock()
		return nil, 0, errGone
	}
	t := time.Now()
	os.Chtimes(path, t, t) // best effort: it only orders eviction
	return fl.Unlock, held.Size(), nil
}

// lockExclusive takes the exclusive lock name, waiting as long as ctx
// allows. Waiting polls: flock(2) cannot be interrupted by a context.
func (f *Fetcher) lockExclusive(ctx context.Context, c cache, name, what string) (*flock.Flock, error) {
	fl := flock.New(c.lock(name), flock.SetPermissions(0o644))
	delay := 5 * time.Millisecond
	for waited := false; ; waited = true {
		ok, err := fl.TryLock()
		if err != nil {
			return nil, fmt.Errorf("cache lock: %w", err)
		}
		if ok {
			return fl, nil
		}
		if !waited {
			f.logf("%s: waiting for another process", what)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(delay):
		}
		delay = min(2*delay, 100*time.Millisecond)
	}
}

// has reports whether the cache holds what a request for the bytes with
// digest sum needs: the blob, or for a decompressing request also the
// decompressed form alone.
func (c cache) has(sum string, decompress bool) bool {
	if exists(c.blob(sum)) {
		return true
	}
	if decompress {
		for _, format := range formats {
			if exists(c.decompressed(sum, format)) {
				return true
			}
		}
	}
	return false
}

// sameDigest compares hex digests as a request may spell them.
func sameDigest(a, b string) bool { return strings.EqualFold(a, b) }
