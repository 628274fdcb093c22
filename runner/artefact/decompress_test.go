package artefact

import (
	"bytes"
	"compress/gzip"
	"errors"
	"net/http"
	"os/exec"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
)

// compressor makes test inputs in one format.
type compressor struct {
	name   string // test name
	format string // what File.Compression must say
	fn     func(t *testing.T, b []byte) []byte
}

func gzipBytes(t *testing.T, b []byte) []byte {
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	w.Write(b)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func xzBytes(t *testing.T, b []byte) []byte {
	var buf bytes.Buffer
	w, err := xz.NewWriter(&buf)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(b)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func zstdBytes(t *testing.T, b []byte) []byte {
	w, err := zstd.NewWriter(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	return w.EncodeAll(b, nil)
}

// cli compresses with a command-line tool, as a kernel build would; the
// test is skipped where the tool is missing.
func cli(name string, args ...string) func(t *testing.T, b []byte) []byte {
	return func(t *testing.T, b []byte) []byte {
		if _, err := exec.LookPath(name); err != nil {
			t.Skipf("%s is not installed (apt-get install %s)", name, name)
		}
		cmd := exec.Command(name, args...)
		cmd.Stdin = bytes.NewReader(b)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		return out
	}
}

var compressors = []compressor{
	{"plain", "", func(t *testing.T, b []byte) []byte { return b }},
	{"gzip", "gzip", gzipBytes},
	{"gzip multi-member", "gzip", func(t *testing.T, b []byte) []byte {
		return append(gzipBytes(t, b[:len(b)/3]), gzipBytes(t, b[len(b)/3:])...)
	}},
	{"xz", "xz", xzBytes},
	{"zstd", "zstd", zstdBytes},
	{"gzip cli", "gzip", cli("gzip", "-c")},
	{"xz cli multi-threaded", "xz", cli("xz", "-c", "-T2", "--block-size=200KiB", "--check=crc32")},
	{"zstd cli", "zstd", cli("zstd", "-c", "-q")},
	{"bzip2 cli", "bzip2", cli("bzip2", "-c")},
}

func TestFetchDecompress(t *testing.T) {
	data := testData(1<<20, 20)
	for _, cc := range compressors {
		t.Run(cc.name, func(t *testing.T) {
			packed := cc.fn(t, data)
			o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) { serveBytes(w, packed) })
			local := writeFile(t, t.TempDir(), "vmlinux.bin", packed) // the name says nothing
			for _, src := range []string{local, o.URL + "/Image"} {
				f := newFetcher(t)
				ctx := testContext(t)
				file, err := f.Fetch(ctx, "kernel", src, Want{Decompress: true, SHA256: sha(packed)})
				if err != nil {
					t.Fatal(err)
				}
				defer file.Close()
				if got := readFile(t, file.Path); !bytes.Equal(got, data) {
					t.Fatalf("%s: decompressed %d bytes that differ from the %d original", src, len(got), len(data))
				}
				if file.Compression != cc.format || file.SHA256 != sha(packed) || file.Size != int64(len(packed)) {
					t.Errorf("%s: File = %+v, want compression %q, the digest and size of the bytes as fetched", src, file, cc.format)
				}
				if cc.format == "" && src == local && file.Path != local {
					t.Errorf("an uncompressed local file was copied to %s", file.Path)
				}
				again, err := f.Fetch(ctx, "kernel", src, Want{Decompress: true})
				if err != nil {
					t.Fatal(err)
				}
				again.Close()
				if again.Path != file.Path || !again.Cached {
					t.Errorf("%s: second Fetch gave %s (cached %v), want the same cache entry %s", src, again.Path, again.Cached, file.Path)
				}
				raw, err := f.Fetch(ctx, "kernel", src, Want{})
				if err != nil {
					t.Fatal(err)
				}
				raw.Close()
				if got := readFile(t, raw.Path); !bytes.Equal(got, packed) || raw.Compression != "" {
					t.Errorf("%s: without Decompress got %d bytes, compression %q, want the %d bytes as fetched", src, len(got), raw.Compression, len(packed))
				}
			}
		})
	}
}

func TestFetchDecompressBomb(t *testing.T) {
	zeros := make([]byte, 32<<20)
	for _, cc := range compressors[1:5] { // the Go encoders
		t.Run(cc.name, func(t *testing.T) {
			packed := cc.fn(t, zeros)
			local := writeFile(t, t.TempDir(), "rootfs.ext4", packed)
			f := newFetcher(t)
			f.MaxSize = 4 << 20
			_, err := f.Fetch(testContext(t), "rootfs", local, Want{Decompress: true})
			var ae *Error
			if !errors.As(err, &ae) || !ae.Request || !errors.Is(err, ErrTooLarge) {
				t.Fatalf("err = %v, want a request *Error wrapping ErrTooLarge", err)
			}
			if want := "decompressed size exceeds the 4 MiB limit"; !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not say %q", err, want)
			}
			if n := len(cacheFiles(t, f, "decompressed")) + len(cacheFiles(t, f, "tmp")); n != 0 {
				t.Errorf("the refused decompression left %d files in the cache", n)
			}
		})
	}
}

func TestFetchDecompressCorrupt(t *testing.T) {
	packed := gzipBytes(t, testData(100000, 21))
	packed[len(packed)/2] ^= 0xff
	local := writeFile(t, t.TempDir(), "Image.gz", packed)
	f := newFetcher(t)
	_, err := f.Fetch(testContext(t), "kernel", local, Want{Decompress: true})
	var ae *Error
	if !errors.As(err, &ae) || !strings.Contains(err.Error(), "gzip: ") {
		t.Fatalf("err = %v, want an *Error naming gzip", err)
	}
	if n := len(cacheFiles(t, f, "decompressed")) + len(cacheFiles(t, f, "tmp")); n != 0 {
		t.Errorf("the failed decompression left %d files in the cache", n)
	}
}

func TestSniff(t *testing.T) {
	tests := []struct {
		head string
		want string
	}{
		{"\x1f\x8b\x08\x00", "gzip"},
		{"\xfd7zXZ\x00", "xz"},
		{"\x28\xb5\x2f\xfd\x00", "zstd"},
		{"BZh91AY", "bzip2"},
		{"BZh0", ""},
		{"MZ\x00\x00", ""},       // an x86 bzImage
		{"070701000", ""},        // a cpio archive
		{"\xd0\x0d\xfe\xed", ""}, // a device tree blob
		{"", ""},
	}
	for _, tt := range tests {
		if got := sniff([]byte(tt.head)); got != tt.want {
			t.Errorf("sniff(%q) = %q, want %q", tt.head, got, tt.want)
		}
	}
}
