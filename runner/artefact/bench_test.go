package artefact

import (
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"
)

// BenchmarkCacheHit measures Fetch of an already cached 32 MiB artefact:
// the cost a boot pays per artefact once the node has it. The figures and
// the command are in docs/artefacts.md.
func BenchmarkCacheHit(b *testing.B) {
	data := testData(32<<20, 30)
	packed := gzipBytes(&testing.T{}, data)
	const etag = `"v1"`
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("ETag", etag)
		if r.Header.Get("If-None-Match") == etag {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		if r.URL.Path == "/rootfs.gz" {
			serveBytes(w, packed)
			return
		}
		serveBytes(w, data)
	}))
	b.Cleanup(srv.Close)
	local := writeFile(&testing.T{}, b.TempDir(), "Image", data)

	cases := []struct {
		name   string
		src    string
		want   Want
		maxAge time.Duration
	}{
		// Checked with the origin less than MaxAge ago: no request.
		{"fresh", srv.URL + "/Image", Want{}, time.Hour},
		// The request gives the digest: no request either.
		{"sha256", srv.URL + "/Image", Want{SHA256: sha(data)}, -1},
		// Revalidated every time: one conditional GET, answered 304.
		{"revalidate-304", srv.URL + "/Image", Want{}, -1},
		// The decompressed form of a gzip artefact, fresh.
		{"decompressed", srv.URL + "/rootfs.gz", Want{Decompress: true}, time.Hour},
		// For comparison: a local file is hashed on every Fetch.
		{"local-file", local, Want{}, time.Hour},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			f := &Fetcher{CacheDir: filepath.Join(b.TempDir(), "cache"), MaxAge: c.maxAge}
			ctx := context.Background()
			first, err := f.Fetch(ctx, "kernel", c.src, c.want)
			if err != nil {
				b.Fatal(err)
			}
			first.Close()
			b.ResetTimer()
			for b.Loop() {
				file, err := f.Fetch(ctx, "kernel", c.src, c.want)
				if err != nil {
					b.Fatal(err)
				}
				if !file.Cached {
					b.Fatal("not a cache hit")
				}
				file.Close()
			}
		})
	}
}
