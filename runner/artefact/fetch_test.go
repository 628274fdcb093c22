package artefact

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestFetchURL(t *testing.T) {
	data := testData(1<<20, 1)
	tests := []struct {
		name     string
		handler  func(n int, w http.ResponseWriter, r *http.Request) // n counts requests from 1
		want     Want
		requests int    // origin requests the Fetch must make
		errIs    error  // nil: success
		errText  string // the error message must contain it
		request  bool   // Error.Request
	}{
		{
			name:     "ok",
			handler:  func(n int, w http.ResponseWriter, r *http.Request) { serveBytes(w, data) },
			requests: 1,
		},
		{
			name:     "expected sha256",
			handler:  func(n int, w http.ResponseWriter, r *http.Request) { serveBytes(w, data) },
			want:     Want{SHA256: strings.ToUpper(sha(data))},
			requests: 1,
		},
		{
			name:     "404 is not retried and names the URL",
			handler:  func(n int, w http.ResponseWriter, r *http.Request) { http.NotFound(w, r) },
			requests: 1,
			errText:  "/artefact: HTTP 404 Not Found",
		},
		{
			name:     "403 is not retried",
			handler:  func(n int, w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusForbidden) },
			requests: 1,
			errText:  "HTTP 403 Forbidden",
		},
		{
			name: "500 then 200 is retried",
			handler: func(n int, w http.ResponseWriter, r *http.Request) {
				if n == 1 {
					http.Error(w, "boom", http.StatusInternalServerError)
					return
				}
				serveBytes(w, data)
			},
			requests: 2,
		},
		{
			name: "503 forever gives up after the retries",
			handler: func(n int, w http.ResponseWriter, r *http.Request) {
				http.Error(w, "down", http.StatusServiceUnavailable)
			},
			requests: DefaultRetries + 1,
			errText:  "HTTP 503 Service Unavailable (gave up after 4 attempts)",
		},
		{
			name: "connection closed mid-body is retried",
			handler: func(n int, w http.ResponseWriter, r *http.Request) {
				if n == 1 {
					w.Header().Set("Content-Length", "1048576")
					w.Write(data[:300000])
					w.(http.Flusher).Flush()
					panic(http.ErrAbortHandler) // drops the connection
				}
				serveBytes(w, data)
			},
			requests: 2,
		},
		{
			name: "429 is retried",
			handler: func(n int, w http.ResponseWriter, r *http.Request) {
				if n == 1 {
					w.WriteHeader(http.StatusTooManyRequests)
					return
				}
				serveBytes(w, data)
			},
			requests: 2,
		},
		{
			name:     "wrong sha256 is refused",
			handler:  func(n int, w http.ResponseWriter, r *http.Request) { serveBytes(w, data) },
			want:     Want{SHA256: strings.Repeat("ab", 32)},
			requests: 1,
			errIs:    ErrSHA256Mismatch,
			errText:  "sha256 mismatch: expected abab",
			request:  true,
		},
		{
			name:     "malformed expected sha256 is the request's fault",
			handler:  func(n int, w http.ResponseWriter, r *http.Request) { serveBytes(w, data) },
			want:     Want{SHA256: "xyz"},
			requests: 0,
			errText:  `expected sha256 "xyz" is not a hex digest`,
			request:  true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var n atomic.Int32
			o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
				tt.handler(int(n.Add(1)), w, r)
			})
			f := newFetcher(t)
			src := o.URL + "/artefact"
			file, err := f.Fetch(testContext(t), "kernel", src, tt.want)
			if got := o.requests("/artefact"); got != tt.requests {
				t.Errorf("origin requests = %d, want %d", got, tt.requests)
			}
			if tt.errText == "" && tt.errIs == nil {
				if err != nil {
					t.Fatalf("Fetch: %v", err)
				}
				defer file.Close()
				if got := readFile(t, file.Path); sha(got) != sha(data) {
					t.Errorf("fetched %d bytes that differ from the %d served", len(got), len(data))
				}
				if file.SHA256 != sha(data) || file.Size != int64(len(data)) || file.Source != src || file.Cached {
					t.Errorf("File = %+v, want sha256 %s size %d source %s, not cached", file, sha(data), len(data), src)
				}
				if len(cacheFiles(t, f, "tmp")) != 0 {
					t.Errorf("tmp/ holds %v after a download", cacheFiles(t, f, "tmp"))
				}
				return
			}
			var ae *Error
			if !errors.As(err, &ae) {
				t.Fatalf("Fetch error = %v (%T), want *Error", err, err)
			}
			if ae.Name != "kernel" || ae.Source != src || ae.Request != tt.request {
				t.Errorf("Error = {Name:%q Source:%q Request:%v}, want {kernel %s %v}", ae.Name, ae.Source, ae.Request, src, tt.request)
			}
			if tt.errIs != nil && !errors.Is(err, tt.errIs) {
				t.Errorf("error %v is not %v", err, tt.errIs)
			}
			if !strings.HasPrefix(err.Error(), "artefact kernel: "+src+": ") || !strings.Contains(err.Error(), tt.errText) {
				t.Errorf("error = %q, want it to start with %q and contain %q", err, "artefact kernel: "+src+": ", tt.errText)
			}
		})
	}
}

func TestFetchURLCachedAndInProcessSingleFlight(t *testing.T) {
	data := testData(4<<20, 2)
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(200 * time.Millisecond) // let the goroutines pile up
		serveBytes(w, data)
	})
	f := newFetcher(t)
	ctx := testContext(t)
	var wg sync.WaitGroup
	errs := make(chan error, 10)
	for range 10 {
		wg.Go(func() {
			file, err := f.Fetch(ctx, "rootfs", o.URL+"/rootfs", Want{})
			if err == nil && file.SHA256 != sha(data) {
				err = errors.New("wrong digest " + file.SHA256)
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	// A later Fetch within MaxAge asks nobody.
	file, err := f.Fetch(ctx, "rootfs", o.URL+"/rootfs", Want{})
	if err != nil {
		t.Fatal(err)
	}
	if !file.Cached {
		t.Error("second Fetch was not a cache hit")
	}
	if n := o.requests("/rootfs"); n != 1 {
		t.Errorf("origin requests = %d, want 1", n)
	}
}

func TestFetchStalledTransferIsRetried(t *testing.T) {
	data := testData(1<<20, 3)
	var n atomic.Int32
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) == 1 {
			w.Header().Set("Content-Length", "1048576")
			w.Write(data[:1000])
			w.(http.Flusher).Flush()
			select { // hang until the client gives up
			case <-r.Context().Done():
			case <-time.After(10 * time.Second):
			}
			return
		}
		serveBytes(w, data)
	})
	f := newFetcher(t)
	f.StallTimeout = 300 * time.Millisecond
	file, err := f.Fetch(testContext(t), "kernel", o.URL+"/k", Want{})
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	if sha(readFile(t, file.Path)) != sha(data) || o.requests("/k") != 2 {
		t.Errorf("got %s after %d requests, want %s after 2", file.SHA256, o.requests("/k"), sha(data))
	}
}

func TestFetchRevalidation(t *testing.T) {
	tests := []struct {
		name      string
		validator func(version int, w http.ResponseWriter, r *http.Request) bool // sets headers; true if r's condition matches
	}{
		{"ETag", func(v int, w http.ResponseWriter, r *http.Request) bool {
			etag := `"v` + string(rune('0'+v)) + `"`
			w.Header().Set("ETag", etag)
			return r.Header.Get("If-None-Match") == etag
		}},
		{"Last-Modified", func(v int, w http.ResponseWriter, r *http.Request) bool {
			lm := time.Date(2026, 1, v, 0, 0, 0, 0, time.UTC).Format(http.TimeFormat)
			w.Header().Set("Last-Modified", lm)
			return r.Header.Get("If-Modified-Since") == lm
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var version atomic.Int32
			version.Store(1)
			var notModified atomic.Int32
			o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
				v := int(version.Load())
				if tt.validator(v, w, r) {
					notModified.Add(1)
					w.WriteHeader(http.StatusNotModified)
					return
				}
				serveBytes(w, testData(100000, uint64(v)))
			})
			f := newFetcher(t)
			f.MaxAge = -1 // ask the origin every time
			ctx := testContext(t)
			fetch := func() *File {
				t.Helper()
				file, err := f.Fetch(ctx, "dtb", o.URL+"/dtb", Want{})
				if err != nil {
					t.Fatal(err)
				}
				file.Close()
				return file
			}
			first := fetch()
			second := fetch()
			if !second.Cached || second.SHA256 != first.SHA256 || notModified.Load() != 1 {
				t.Errorf("revalidation: cached=%v same=%v 304s=%d, want a 304 cache hit", second.Cached, second.SHA256 == first.SHA256, notModified.Load())
			}
			version.Store(2)
			third := fetch()
			if third.Cached || third.SHA256 != sha(testData(100000, 2)) {
				t.Errorf("after a change: cached=%v sha256=%s, want a new download of version 2", third.Cached, third.SHA256)
			}
			if n := o.requests("/dtb"); n != 3 {
				t.Errorf("origin requests = %d, want 3", n)
			}
		})
	}
}

func TestFetchKissCachePrefix(t *testing.T) {
	data := testData(200000, 4)
	upstream := newOrigin(t, func(w http.ResponseWriter, r *http.Request) { serveBytes(w, data) })
	var asked []string
	var mu sync.Mutex
	proxy := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		asked = append(asked, r.URL.RawQuery)
		mu.Unlock()
		serveBytes(w, data)
	})
	f := newFetcher(t)
	f.CacheURL = proxy.URL + "/api/v1/fetch/?url="
	src := upstream.URL + "/images/bzImage?build=7&arch=x86_64"
	file, err := f.Fetch(testContext(t), "kernel", src, Want{SHA256: sha(data)})
	if err != nil {
		t.Fatal(err)
	}
	file.Close()
	if upstream.requests("/images/bzImage") != 0 {
		t.Error("the origin was asked directly")
	}
	want := "url=" + url.QueryEscape(src)
	if len(asked) != 1 || asked[0] != want {
		t.Errorf("proxy got queries %q, want [%q]", asked, want)
	}
	if proxy.requests("/api/v1/fetch/") != 1 {
		t.Errorf("proxy path requests = %d, want 1", proxy.requests("/api/v1/fetch/"))
	}
}

func TestFetchKissCacheErrorNamesOriginAndProxy(t *testing.T) {
	proxy := newOrigin(t, func(w http.ResponseWriter, r *http.Request) { http.NotFound(w, r) })
	f := newFetcher(t)
	f.CacheURL = proxy.URL + "/api/v1/fetch/?url="
	_, err := f.Fetch(testContext(t), "bios", "http://origin.invalid/bios.bin", Want{})
	var ae *Error
	if !errors.As(err, &ae) || ae.Request {
		t.Fatalf("err = %v, want an infrastructure *Error", err)
	}
	for _, s := range []string{"http://origin.invalid/bios.bin", "HTTP 404", f.CacheURL} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not mention %q", err, s)
		}
	}
}

func TestFetchExpectedDigestNeedsNoNetwork(t *testing.T) {
	data := testData(50000, 5)
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/a" {
			serveBytes(w, data)
			return
		}
		http.Error(w, "down", http.StatusBadGateway)
	})
	f := newFetcher(t)
	ctx := testContext(t)
	if _, err := f.Fetch(ctx, "kernel", o.URL+"/a", Want{}); err != nil {
		t.Fatal(err)
	}
	// Another URL for the same bytes, with the origin down: the digest
	// names a file the cache holds.
	file, err := f.Fetch(ctx, "kernel", o.URL+"/b", Want{SHA256: sha(data)})
	if err != nil {
		t.Fatal(err)
	}
	if o.requests("/b") != 0 || !file.Cached || file.Size != int64(len(data)) {
		t.Errorf("requests=%d cached=%v size=%d, want a hit without asking", o.requests("/b"), file.Cached, file.Size)
	}
}

func TestFetchLocal(t *testing.T) {
	dir := t.TempDir()
	data := testData(10000, 6)
	path := writeFile(t, dir, "Image", data)
	tests := []struct {
		name    string
		src     string
		want    Want
		errText string // "" for success
		errIs   error
	}{
		{name: "path", src: path},
		{name: "file URL", src: "file://" + path},
		{name: "file URL with localhost", src: "file://localhost" + path},
		{name: "expected sha256", src: path, want: Want{SHA256: sha(data)}},
		{name: "missing", src: filepath.Join(dir, "nope"), errText: "no such file or directory", errIs: os.ErrNotExist},
		{name: "directory", src: dir, errText: "is not a regular file"},
		{name: "wrong sha256", src: path, want: Want{SHA256: sha(nil)}, errIs: ErrSHA256Mismatch, errText: "expected " + sha(nil) + ", got " + sha(data)},
		{name: "unsupported scheme", src: "ftp://example.org/Image", errIs: ErrUnsupportedSource, errText: `scheme "ftp"`},
		{name: "remote file URL", src: "file://server/Image", errIs: ErrUnsupportedSource},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFetcher(t)
			file, err := f.Fetch(testContext(t), "kernel", tt.src, tt.want)
			if tt.errText == "" && tt.errIs == nil {
				if err != nil {
					t.Fatal(err)
				}
				if file.Path != path || file.SHA256 != sha(data) || file.Size != int64(len(data)) {
					t.Errorf("File = %+v, want the original path with its digest and size", file)
				}
				return
			}
			var ae *Error
			if !errors.As(err, &ae) || !ae.Request {
				t.Fatalf("err = %v, want an *Error that is the request's fault", err)
			}
			if tt.errIs != nil && !errors.Is(err, tt.errIs) {
				t.Errorf("error %v is not %v", err, tt.errIs)
			}
			if !strings.Contains(err.Error(), tt.errText) {
				t.Errorf("error %q does not contain %q", err, tt.errText)
			}
		})
	}
}

func TestFetchTooLarge(t *testing.T) {
	data := testData(2<<20, 7)
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/chunked" {
			w.Write(data) // no Content-Length: the cap applies while streaming
			return
		}
		serveBytes(w, data)
	})
	for _, path := range []string{"/sized", "/chunked"} {
		t.Run(path, func(t *testing.T) {
			f := newFetcher(t)
			f.MaxSize = 1 << 20
			_, err := f.Fetch(testContext(t), "rootfs", o.URL+path, Want{})
			var ae *Error
			if !errors.As(err, &ae) || !ae.Request || !errors.Is(err, ErrTooLarge) {
				t.Fatalf("err = %v, want a request *Error wrapping ErrTooLarge", err)
			}
			if !strings.Contains(err.Error(), "exceeds the 1 MiB limit") {
				t.Errorf("error %q does not state the limit", err)
			}
			if n := len(cacheFiles(t, f, "tmp")) + len(cacheFiles(t, f, "blobs")); n != 0 {
				t.Errorf("the cache kept %d files of a refused download", n)
			}
		})
	}
}

func TestFetchContextCancelled(t *testing.T) {
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
	})
	f := newFetcher(t)
	ctx, cancel := context.WithTimeout(testContext(t), 200*time.Millisecond)
	defer cancel()
	_, err := f.Fetch(ctx, "kernel", o.URL+"/slow", Want{})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want the context's deadline", err)
	}
}

func TestFetchLocalDigestMemo(t *testing.T) {
	dir := t.TempDir()
	path := writeFile(t, dir, "rootfs.ext4", testData(100000, 8))
	f := newFetcher(t)
	ctx := testContext(t)
	first, err := f.Fetch(ctx, "rootfs", path, Want{})
	if err != nil {
		t.Fatal(err)
	}
	memos, _ := filepath.Glob(filepath.Join(f.CacheDir, cacheVersion, "locals", "*.json"))
	if len(memos) != 1 {
		t.Fatalf("memo files: %v, want one", memos)
	}
	// Prove the memo is what answers: doctor it, and Fetch believes it.
	fake := strings.Repeat("0", 64)
	b := readFile(t, memos[0])
	os.WriteFile(memos[0], []byte(strings.Replace(string(b), first.SHA256, fake, 1)), 0o644)
	if again, err := f.Fetch(ctx, "rootfs", path, Want{}); err != nil || again.SHA256 != fake {
		t.Fatalf("unchanged file: sha256 %v, %v; want the memo's", again, err)
	}
	// Rewrite the file with the same size and mtime: its ctime still moves.
	fi, _ := os.Stat(path)
	changed := testData(100000, 9)
	os.WriteFile(path, changed, 0o644)
	os.Chtimes(path, fi.ModTime(), fi.ModTime())
	file, err := f.Fetch(ctx, "rootfs", path, Want{})
	if err != nil {
		t.Fatal(err)
	}
	if file.SHA256 != sha(changed) {
		t.Errorf("a rewritten file with its old size and mtime: sha256 %s, want %s", file.SHA256, sha(changed))
	}
}
