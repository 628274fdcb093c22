package artefact

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/gofrs/flock"
)

// tmpMaxAge is how old a file in tmp/ must be before eviction may remove
// it without its writer's lock; writers remove their own leftovers sooner.
const tmpMaxAge = time.Hour

// evict removes the least recently used cache files (by mtime, which
// openShared sets on every use) until the cache fits in CacheMax. A file
// in use (shared-locked by a reader) is skipped, and so is the whole pass
// when another process is already evicting. Eviction is best effort: its
// failures are logged, never returned, since the artefact at hand is fine.
func (f *Fetcher) evict(ctx context.Context, c cache) {
	lk := flock.New(c.lock("evict"), flock.SetPermissions(0o644))
	if ok, err := lk.TryLock(); err != nil || !ok {
		return
	}
	defer lk.Unlock()

	c.removeStaleTemps()
	type file struct {
		path  string
		size  int64
		mtime time.Time
	}
	var files []file
	var total int64
	for _, sub := range []string{"blobs", "decompressed"} {
		des, err := os.ReadDir(filepath.Join(c.dir, sub))
		if err != nil {
			f.logf("cache eviction: %v", err)
			return
		}
		for _, de := range des {
			fi, err := de.Info()
			if err != nil || !fi.Mode().IsRegular() {
				continue
			}
			files = append(files, file{filepath.Join(c.dir, sub, de.Name()), fi.Size(), fi.ModTime()})
			total += fi.Size()
		}
	}
	limit := f.cacheMax()
	if total <= limit {
		return
	}
	slices.SortFunc(files, func(a, b file) int { return a.mtime.Compare(b.mtime) })
	for _, fl := range files {
		if total <= limit || ctx.Err() != nil {
			break
		}
		if removeUnused(fl.path) {
			total -= fl.size
			f.logf("cache eviction: removed %s (%d bytes)", filepath.Base(fl.path), fl.size)
		}
	}
	if total > limit {
		f.logf("cache eviction: %d bytes in use exceed the %d byte limit", total, limit)
	}
}

// removeUnused removes a cache file unless a reader holds it. The
// exclusive lock keeps new readers out while the file is unlinked;
// openShared notices the unlink and looks again.
func removeUnused(path string) bool {
	fl := flock.New(path, flock.SetFlag(os.O_RDONLY))
	ok, err := fl.TryLock()
	if err != nil || !ok {
		return false
	}
	defer fl.Unlock()
	return os.Remove(path) == nil
}

// removeStaleTemps removes old files in tmp/ whose writer is gone: its
// lock is free.
func (c cache) removeStaleTemps() {
	des, err := os.ReadDir(c.tmp())
	if err != nil {
		return
	}
	for _, de := range des {
		fi, err := de.Info()
		if err != nil || time.Since(fi.ModTime()) < tmpMaxAge {
			continue
		}
		lockName, _, ok := strings.Cut(de.Name(), ".")
		if !ok {
			continue
		}
		lk := flock.New(c.lock(lockName), flock.SetPermissions(0o644))
		if ok, err := lk.TryLock(); err == nil && ok {
			os.Remove(filepath.Join(c.tmp(), de.Name()))
			lk.Unlock()
		}
	}
}
