package artefact

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func TestEvictionKeepsCacheUnderMaxAndSparesFilesInUse(t *testing.T) {
	const size = 1 << 20
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/"))
		serveBytes(w, testData(size, uint64(100+n)))
	})
	f := newFetcher(t)
	f.CacheMax = 3 * size
	ctx := testContext(t)
	blobsSize := func() (total int64) {
		for _, name := range cacheFiles(t, f, "blobs") {
			fi, err := os.Stat(filepath.Join(f.CacheDir, cacheVersion, "blobs", name))
			if err != nil {
				t.Fatal(err)
			}
			total += fi.Size()
		}
		return total
	}
	fetch := func(n int) *File {
		t.Helper()
		file, err := f.Fetch(ctx, "overlay", fmt.Sprintf("%s/%d", o.URL, n), Want{})
		if err != nil {
			t.Fatal(err)
		}
		if total := blobsSize(); total > f.CacheMax {
			t.Errorf("after fetching %d the cache holds %d bytes, more than CacheMax %d", n, total, f.CacheMax)
		}
		return file
	}

	inUse := fetch(1) // held open throughout: the oldest, yet never evicted
	var closed []*File
	for n := 2; n <= 6; n++ {
		file := fetch(n)
		file.Close()
		closed = append(closed, file)
	}
	if got := readFile(t, inUse.Path); sha(got) != sha(testData(size, 101)) {
		t.Fatal("the file in use was evicted or changed")
	}
	for i, file := range closed {
		_, err := os.Stat(file.Path)
		if kept, want := err == nil, i >= len(closed)-2; kept != want {
			t.Errorf("after 6 fetches, file %d kept=%v, want %v (least recently used go first)", i+2, kept, want)
		}
	}

	// Once released, the file in use is the least recently used.
	inUse.Close()
	fetch(7).Close()
	if _, err := os.Stat(inUse.Path); err == nil {
		t.Error("the released file outlived newer ones")
	}
	// An evicted URL is simply downloaded again.
	file := fetch(2)
	defer file.Close()
	if file.Cached || sha(readFile(t, file.Path)) != sha(testData(size, 102)) {
		t.Errorf("refetching an evicted URL: cached=%v sha256=%s", file.Cached, file.SHA256)
	}
}
