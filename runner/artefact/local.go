package artefact

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// Hashing a local multi-gigabyte rootfs on every boot would cost seconds,
// so the digest of a local file is remembered in the cache, in
// locals/<sha256 of the path>.json, with what identifies the file's
// content as git's index does: device, inode, size, mtime and ctime. Any
// write to the file changes its ctime, which user space cannot set back,
// so a matching record means unchanged content.

// localRecord is what the memo stores for one local file.
type localRecord struct {
	Path   string `json:"path"`
	Dev    uint64 `json:"dev"`
	Ino    uint64 `json:"ino"`
	Size   int64  `json:"size"`
	Mtime  int64  `json:"mtime_ns"`
	Ctime  int64  `json:"ctime_ns"`
	SHA256 string `json:"sha256"`
}

// recordOf describes fi, or returns false where the platform does not
// say enough.
func recordOf(abs string, fi fs.FileInfo) (localRecord, bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return localRecord{}, false
	}
	return localRecord{
		Path: abs, Dev: uint64(st.Dev), Ino: st.Ino, Size: fi.Size(),
		Mtime: st.Mtim.Nano(), Ctime: st.Ctim.Nano(),
	}, true
}

// localDigest returns the sha256 of the open file fh at abs, from the
// memo when the file is unchanged since it was last hashed. The memo is
// best effort: without a usable cache the file is simply hashed.
func (f *Fetcher) localDigest(ctx context.Context, fh *os.File, abs string, fi fs.FileInfo) (string, error) {
	rec, ok := recordOf(abs, fi)
	c, err := f.cache()
	memo := ""
	if ok && err == nil {
		memo = filepath.Join(c.dir, "locals", urlKey(abs)+".json")
		var old localRecord
		if b, err := os.ReadFile(memo); err == nil && json.Unmarshal(b, &old) == nil {
			if sum := old.SHA256; len(sum) == sha256.Size*2 {
				old.SHA256 = ""
				if old == rec {
					return sum, nil
				}
			}
		}
	}
	h := sha256.New()
	if _, err := io.Copy(h, &ctxReader{ctx: ctx, r: io.NewSectionReader(fh, 0, fi.Size())}); err != nil {
		return "", err
	}
	sum := hex.EncodeToString(h.Sum(nil))
	// Only a file that did not change while it was hashed is remembered.
	if now, err := fh.Stat(); memo != "" && err == nil {
		if after, ok := recordOf(abs, now); ok && after == rec {
			rec.SHA256 = sum
			writeMemo(c, memo, rec)
		}
	}
	return sum, nil
}

// writeMemo replaces a memo file atomically; failures only cost a hash.
func writeMemo(c cache, memo string, rec localRecord) {
	b, err := json.Marshal(rec)
	if err != nil {
		return
	}
	t, err := os.CreateTemp(c.tmp(), "local.*")
	if err != nil {
		return
	}
	defer os.Remove(t.Name())
	_, err = t.Write(b)
	if err2 := t.Close(); err == nil && err2 == nil {
		os.Rename(t.Name(), memo)
	}
}
