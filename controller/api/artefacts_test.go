package api_test

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tuxboot/tuxboot/controller/api"
	"github.com/tuxboot/tuxboot/runner/boot"
)

// realPath is path made absolute with its symlinks resolved.
func realPath(t *testing.T, path string) string {
	t.Helper()
	abs, err := filepath.Abs(path)
	if err != nil {
		t.Fatal(err)
	}
	real, err := filepath.EvalSymlinks(abs)
	if err != nil {
		t.Fatal(err)
	}
	return real
}

// artefactRequest is a request with src as its artefact field (kernel,
// rootfs, dtb, modules, bios or overlay-1), its kernel a URL otherwise.
func artefactRequest(field, src string) boot.Request {
	req := boot.Request{Device: "qemu-arm64", Kernel: "http://h/Image"}
	switch field {
	case "kernel":
		req.Kernel = src
	case "rootfs":
		req.Rootfs = src
	case "dtb":
		req.DTB = src
	case "modules":
		req.Modules = src
	case "bios":
		req.BIOS = src
	case "overlay-1":
		req.Overlays = []string{"http://h/overlay.tar", src}
	}
	return req
}

// artefactOf is the artefact field of req.
func artefactOf(req boot.Request, field string) string {
	return req.Artefacts()[field]
}

// TestLocalArtefactsOnlyUnderArtefactDirs: over the API, a local path or
// file:// URL is accepted only when it resolves (symlinks and all) to a
// file under an artefact directory, and is then queued as that file's
// path; anything else is a 400 naming the field and the path, for a test
// as for every test of a plan, and nothing is queued. URLs pass as they are.
func TestLocalArtefactsOnlyUnderArtefactDirs(t *testing.T) {
	root := t.TempDir()
	allowed := filepath.Join(root, "allowed")
	outside := filepath.Join(root, "outside")
	real2 := filepath.Join(root, "allowed2")
	alias := filepath.Join(root, "alias") // an artefact dir given through a symlink
	for _, d := range []string{filepath.Join(allowed, "sub"), outside, real2} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{filepath.Join(allowed, "Image"), filepath.Join(allowed, "sub", "rootfs.cpio"), filepath.Join(outside, "secret"), filepath.Join(real2, "Image2")} {
		if err := os.WriteFile(f, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for link, target := range map[string]string{
		filepath.Join(allowed, "link-out"): filepath.Join(outside, "secret"), // a file inside, leading out
		filepath.Join(allowed, "dir-out"):  outside,                          // a directory inside, leading out
		filepath.Join(allowed, "latest"):   "Image",                          // a symlink staying inside
		alias:                              real2,
	} {
		if err := os.Symlink(target, link); err != nil {
			t.Fatal(err)
		}
	}
	cwd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	relInside, err := filepath.Rel(cwd, filepath.Join(allowed, "Image"))
	if err != nil {
		t.Fatal(err)
	}
	relOutside, err := filepath.Rel(cwd, filepath.Join(outside, "secret"))
	if err != nil {
		t.Fatal(err)
	}
	image := realPath(t, filepath.Join(allowed, "Image"))
	image2 := realPath(t, filepath.Join(real2, "Image2"))
	const refused, missing = "local paths must be under an --artefact-dir (", "does not exist"
	tests := []struct {
		name, field, src string
		want             string // the artefact as queued; "" if refused
		says             string // what the refusal says
	}{
		{"absolute path inside", "kernel", filepath.Join(allowed, "Image"), image, ""},
		{"in a subdirectory", "rootfs", filepath.Join(allowed, "sub", "rootfs.cpio"), realPath(t, filepath.Join(allowed, "sub", "rootfs.cpio")), ""},
		{"relative path inside", "kernel", relInside, image, ""},
		{"a symlink staying inside: queued as its target", "dtb", filepath.Join(allowed, "latest"), image, ""},
		{"dot-dot staying inside", "kernel", allowed + "/sub/../Image", image, ""},
		{"file URL inside", "modules", "file://" + filepath.Join(allowed, "Image"), image, ""},
		{"file URL on localhost", "bios", "file://localhost" + filepath.Join(allowed, "Image"), image, ""},
		{"through an artefact dir given as a symlink", "kernel", filepath.Join(alias, "Image2"), image2, ""},
		{"that dir's target written out", "overlay-1", filepath.Join(real2, "Image2"), image2, ""},
		{"http URL", "kernel", "http://example.com/Image", "http://example.com/Image", ""},
		{"https URL", "overlay-1", "https://example.com/o.tar", "https://example.com/o.tar", ""},

		{"absolute path outside", "rootfs", "/etc/passwd", "", refused},
		{"absolute path outside, in a temp dir", "kernel", filepath.Join(outside, "secret"), "", refused},
		{"relative path outside", "rootfs", relOutside, "", refused},
		{"dot-dot out of the dir", "rootfs", allowed + "/../outside/secret", "", refused},
		{"dot-dot through a subdirectory", "kernel", allowed + "/sub/../../outside/secret", "", refused},
		{"the artefact dir itself", "kernel", allowed, "", refused},
		{"a prefix that is not the dir", "kernel", allowed + "x/Image", "", refused},
		{"a symlink inside leading out", "rootfs", filepath.Join(allowed, "link-out"), "", "through a symlink"},
		{"a symlinked directory inside leading out", "overlay-1", filepath.Join(allowed, "dir-out", "secret"), "", "through a symlink"},
		{"file URL outside", "kernel", "file://" + filepath.Join(outside, "secret"), "", refused},
		{"file URL of /etc/shadow", "rootfs", "file:///etc/shadow", "", refused},
		{"file URL of another host", "kernel", "file://elsewhere" + filepath.Join(allowed, "Image"), "", "names host"},
		{"missing inside", "kernel", filepath.Join(allowed, "nope"), "", missing},
		// Outside, a missing file is refused as any other: whether it
		// exists is not told.
		{"missing outside", "kernel", filepath.Join(outside, "nope"), "", refused},
	}
	srv, q := newAPI(t, func(s *api.Server) { s.ArtefactDirs = []string{allowed, alias} })
	queued := 0
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := artefactRequest(tt.field, tt.src)
			body, _ := json.Marshal(req)
			planBody, _ := json.Marshal(map[string]any{"version": 1, "name": "p", "tests": []boot.Request{req}})
			for _, kind := range []struct{ name, url, body, prefix string }{
				{"test", srv.URL + base, string(body), ""},
				{"plan", srv.URL + plans, string(planBody), "tests[0] (qemu-arm64, " + req.Kernel + "): "},
			} {
				code, data := call(t, "POST", kind.url, kind.body)
				var got struct {
					api.View
					Tests  []api.View
					Reason []string
				}
				if err := json.Unmarshal(data, &got); err != nil {
					t.Fatalf("%s: %d %s: %v", kind.name, code, data, err)
				}
				if tt.want != "" {
					kept := got.Request
					if kind.name == "plan" && len(got.Tests) == 1 {
						kept = got.Tests[0].Request
					}
					if code != http.StatusCreated || artefactOf(kept, tt.field) != tt.want {
						t.Errorf("%s: %d %s, want 201 with %s %s", kind.name, code, data, tt.field, tt.want)
					} else {
						queued++
					}
					continue
				}
				want := kind.prefix + tt.field + ": "
				if code != http.StatusBadRequest || len(got.Reason) != 1 || !strings.HasPrefix(got.Reason[0], want) ||
					!strings.Contains(got.Reason[0], tt.says) || !strings.Contains(got.Reason[0], strings.TrimPrefix(tt.src, "file://")) {
					t.Errorf("%s: %d %s, want 400 with one reason %q... naming the path and saying %q", kind.name, code, data, want, tt.says)
				}
				if tt.says == refused && !strings.Contains(got.Reason[0], allowed+", "+alias) {
					t.Errorf("%s: %q does not list the artefact dirs", kind.name, got.Reason[0])
				}
			}
		})
	}
	if info, err := q.Requests.Info(context.Background()); err != nil || int(info.State.Msgs) != queued {
		t.Errorf("queued %v (%v), want the %d accepted only", info.State.Msgs, err, queued)
	}

	// Without an artefact dir, no local path passes; URLs do.
	open, _ := newAPI(t)
	for _, src := range []string{filepath.Join(allowed, "Image"), "file://" + filepath.Join(allowed, "Image"), "Image"} {
		t.Run("no artefact dir: "+src, func(t *testing.T) {
			code, data := call(t, "POST", open.URL+base, `{"device":"qemu-arm64","kernel":"`+src+`"}`)
			if code != http.StatusBadRequest || !strings.Contains(string(data), "local paths must be under an --artefact-dir, and none is configured") {
				t.Errorf("%d %s, want 400: none is configured", code, data)
			}
			code, data = call(t, "POST", open.URL+plans, `{"version":1,"name":"p","tests":[{"device":"qemu-arm64","kernel":"http://h/k"},{"device":"qemu-arm64","kernel":"`+src+`"}]}`)
			if code != http.StatusBadRequest || !strings.Contains(string(data), "tests[1] (qemu-arm64, "+src+"): kernel: local path") || !strings.Contains(string(data), "none is configured") {
				t.Errorf("plan: %d %s, want 400: none is configured", code, data)
			}
		})
	}
	if code, data := call(t, "POST", open.URL+base, `{"device":"qemu-arm64","kernel":"https://example.com/Image"}`); code != http.StatusCreated {
		t.Errorf("a URL without an artefact dir: %d %s", code, data)
	}
}

func TestResolveArtefactDirs(t *testing.T) {
	root := t.TempDir()
	file := filepath.Join(root, "file")
	os.WriteFile(file, nil, 0o644)
	link := filepath.Join(root, "link")
	os.Symlink(root, link)
	tests := []struct {
		name string
		dirs []string
		want []string
		says string
	}{
		{"none", nil, nil, ""},
		{"resolved", []string{link, root + "/."}, []string{realPath(t, root), realPath(t, root)}, ""},
		{"missing", []string{filepath.Join(root, "nope")}, nil, "no such file"},
		{"a file", []string{file}, nil, "is not a directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := api.ResolveArtefactDirs(tt.dirs)
			if tt.says != "" {
				if err == nil || !strings.Contains(err.Error(), tt.says) || !strings.Contains(err.Error(), tt.dirs[0]) {
					t.Errorf("%v, want an error naming %s saying %q", err, tt.dirs[0], tt.says)
				}
				return
			}
			if err != nil || strings.Join(got, " ") != strings.Join(tt.want, " ") {
				t.Errorf("%q %v, want %q", got, err, tt.want)
			}
		})
	}
}
