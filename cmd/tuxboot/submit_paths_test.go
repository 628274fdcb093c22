package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tuxboot/tuxboot/runner/boot"
)

// TestSubmitSendsLocalPathsAbsolute: a relative path is the user's, not
// the server's; one that exists here is sent absolute.
func TestSubmitSendsLocalPathsAbsolute(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"Image", "rootfs.cpio", "mods.tar"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Chdir(dir)
	sent := make(chan boot.Request, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		data, _ := io.ReadAll(r.Body)
		var req boot.Request
		json.Unmarshal(data, &req)
		sent <- req
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		io.WriteString(w, `{"uid":"u1","state":"provisioning"}`)
	}))
	t.Cleanup(srv.Close)

	tests := []struct {
		name       string
		flag, arg  string
		want       string
		getRequest func(boot.Request) string
	}{
		{"relative kernel that exists", "--kernel", "Image", filepath.Join(dir, "Image"), func(r boot.Request) string { return r.Kernel }},
		{"relative kernel with ./", "--kernel", "./Image", filepath.Join(dir, "Image"), func(r boot.Request) string { return r.Kernel }},
		{"relative rootfs that exists", "--rootfs", "rootfs.cpio", filepath.Join(dir, "rootfs.cpio"), func(r boot.Request) string { return r.Rootfs }},
		{"relative overlay that exists", "--overlay", "mods.tar", filepath.Join(dir, "mods.tar"), func(r boot.Request) string { return strings.Join(r.Overlays, ",") }},
		{"relative path that does not exist here", "--rootfs", "srv/rootfs.ext4", "srv/rootfs.ext4", func(r boot.Request) string { return r.Rootfs }},
		{"absolute path", "--rootfs", "/srv/kernels/rootfs.ext4", "/srv/kernels/rootfs.ext4", func(r boot.Request) string { return r.Rootfs }},
		{"URL", "--rootfs", "https://example.org/Image", "https://example.org/Image", func(r boot.Request) string { return r.Rootfs }},
		{"file URL", "--rootfs", "file:///srv/Image", "file:///srv/Image", func(r boot.Request) string { return r.Rootfs }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := []string{"--url", srv.URL, "--device", "qemu-arm64", tt.flag, tt.arg}
			if tt.flag != "--kernel" {
				args = append(args, "--kernel", "https://example.org/k")
			}
			var stdout, stderr strings.Builder
			if code := submitMain(context.Background(), args, &stdout, &stderr); code != exitPass {
				t.Fatalf("submit: exit %d\n%s", code, stderr.String())
			}
			if got := tt.getRequest(<-sent); got != tt.want {
				t.Errorf("%s %s was sent as %q, want %q", tt.flag, tt.arg, got, tt.want)
			}
		})
	}
}
