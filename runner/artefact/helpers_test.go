package artefact

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"
)

// testData returns n compressible but not trivial bytes, the same for
// the same seed.
func testData(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, seed))
	words := []string{"kernel ", "module ", "virtio ", "rootfs ", "initrd ", "\n", "0123456789 "}
	var b bytes.Buffer
	for b.Len() < n {
		if r.IntN(10) == 0 {
			b.WriteByte(byte(r.IntN(256)))
			continue
		}
		b.WriteString(words[r.IntN(len(words))])
	}
	return b.Bytes()[:n]
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// origin is a loopback HTTP server that counts requests per path.
type origin struct {
	*httptest.Server
	mu    sync.Mutex
	count map[string]int
}

// newOrigin serves h on loopback until the test ends.
func newOrigin(t *testing.T, h http.HandlerFunc) *origin {
	t.Helper()
	o := &origin{count: map[string]int{}}
	o.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		o.mu.Lock()
		o.count[r.URL.Path]++
		o.mu.Unlock()
		h(w, r)
	}))
	t.Cleanup(o.Close)
	return o
}

func (o *origin) requests(path string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.count[path]
}

// serveBytes answers with b and a Content-Length.
func serveBytes(w http.ResponseWriter, b []byte) {
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.Write(b)
}

// newFetcher returns a Fetcher on a fresh cache dir with test-friendly
// retry delays.
func newFetcher(t *testing.T) *Fetcher {
	t.Helper()
	return &Fetcher{
		CacheDir:     t.TempDir(),
		Backoff:      time.Millisecond,
		StallTimeout: 5 * time.Second,
		Log:          t.Logf,
	}
}

func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// readFile reads a file the test expects to exist.
func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// writeFile writes a test input under dir and returns its path.
func writeFile(t *testing.T, dir, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// cacheFiles lists the regular files under the cache's sub directory.
func cacheFiles(t *testing.T, f *Fetcher, sub string) []string {
	t.Helper()
	des, err := os.ReadDir(filepath.Join(f.CacheDir, cacheVersion, sub))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, de := range des {
		names = append(names, de.Name())
	}
	return names
}
