package api

import (
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/tuxboot/tuxboot/runner/boot"
)

// Over the API, an artefact given as a local path (or a file:// URL) is a
// file on the server, read by the runner and fingerprinted in results.json
// and the reproducer: it would let any client read any file the server
// can. So a local path is accepted only under one of Server.ArtefactDirs,
// after making it absolute and resolving its symlinks, and the request is
// queued with the path it resolved to, so that the runner reads the file
// that was checked whatever its working directory. http(s) URLs are not
// concerned.

// ResolveArtefactDirs makes each directory absolute and resolves its
// symlinks, for --artefact-dir: each must exist and be a directory.
func ResolveArtefactDirs(dirs []string) ([]string, error) {
	var out []string
	for _, d := range dirs {
		abs, err := filepath.Abs(d)
		if err != nil {
			return nil, fmt.Errorf("artefact directory %q: %w", d, err)
		}
		real, err := filepath.EvalSymlinks(abs)
		if err != nil {
			return nil, fmt.Errorf("artefact directory %q: %w", d, err)
		}
		fi, err := os.Stat(real)
		if err != nil {
			return nil, fmt.Errorf("artefact directory %q: %w", d, err)
		}
		if !fi.IsDir() {
			return nil, fmt.Errorf("artefact directory %q: %s is not a directory", d, real)
		}
		out = append(out, real)
	}
	return out, nil
}

// localSource returns the local path src names, if it is a local path or
// a file:// URL, as the runner's fetcher reads it. A source of a bad form
// is the request's Validate's to report: it is not local here.
func localSource(src string) (path string, local bool, err error) {
	if boot.CheckSource(src) != nil {
		return "", false, nil
	}
	if !strings.Contains(src, "://") {
		return src, true, nil
	}
	u, err := url.Parse(src)
	if err != nil || u.Scheme != "file" {
		return "", false, nil
	}
	if u.Host != "" && u.Host != "localhost" {
		return "", false, fmt.Errorf("file URL %q names host %q: only this server's files can be read", src, u.Host)
	}
	return u.Path, true, nil
}

// allowedDirs are the artefact directories, each as given (made
// absolute) and as resolved, so that a path is compared with the form
// it was written in before anything is looked up on disk.
func (s *Server) allowedDirs() (given, resolved []string) {
	for _, d := range s.ArtefactDirs {
		abs, err := filepath.Abs(d)
		if err != nil {
			continue
		}
		given = append(given, abs)
		if real, err := filepath.EvalSymlinks(abs); err == nil {
			resolved = append(resolved, real)
		}
	}
	return given, resolved
}

// under says path lies strictly inside one of dirs; both are clean and absolute.
func under(path string, dirs []string) bool {
	for _, d := range dirs {
		if rel, err := filepath.Rel(d, path); err == nil && rel != "." && filepath.IsLocal(rel) {
			return true
		}
	}
	return false
}

// checkArtefacts refuses the request's local artefacts that are not under
// an artefact directory, and rewrites those that are to the file they
// resolved to. Its reasons are "field: reason", as Validate's.
func (s *Server) checkArtefacts(req *boot.Request) []string {
	given, resolved := s.allowedDirs()
	dirs := ", and none is configured"
	if len(s.ArtefactDirs) > 0 {
		dirs = " (" + strings.Join(s.ArtefactDirs, ", ") + ")"
	}
	var reasons []string
	check := func(name string, src *string) {
		path, local, err := localSource(*src)
		if err != nil {
			reasons = append(reasons, name+": "+err.Error())
			return
		}
		if !local {
			return
		}
		refuse := func(why string) {
			reasons = append(reasons, fmt.Sprintf("%s: local path %q refused: %slocal paths must be under an --artefact-dir%s; or give an http(s) URL", name, path, why, dirs))
		}
		abs, err := filepath.Abs(path)
		// Compared as written first: nothing outside the directories is
		// looked up, so whether a file exists there is not told.
		if err != nil || !under(abs, append(slices.Clip(given), resolved...)) {
			refuse("")
			return
		}
		real, err := filepath.EvalSymlinks(abs)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			reasons = append(reasons, fmt.Sprintf("%s: local path %q does not exist", name, path))
			return
		case err != nil:
			reasons = append(reasons, fmt.Sprintf("%s: local path %q cannot be resolved: %v", name, path, err))
			return
		case !under(real, resolved):
			refuse("it leads out of its directory through a symlink; ")
			return
		}
		*src = real
	}
	for _, f := range []struct {
		name string
		src  *string
	}{{"kernel", &req.Kernel}, {"rootfs", &req.Rootfs}, {"modules", &req.Modules}, {"dtb", &req.DTB}, {"bios", &req.BIOS}} {
		if *f.src != "" {
			check(f.name, f.src)
		}
	}
	// A plan's requests share their overlays' array: rewrite a copy.
	req.Overlays = slices.Clone(req.Overlays)
	for i := range req.Overlays {
		check(fmt.Sprintf("overlay-%d", i), &req.Overlays[i])
	}
	return reasons
}
