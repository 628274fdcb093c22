package testkernel

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
)

// TestPresent checks every architecture that hack/testdata.sh has fetched
// on this machine; the others are skipped.
func TestPresent(t *testing.T) {
	dir := Dir()
	for _, arch := range append(Arches(), "armel") {
		t.Run(arch, func(t *testing.T) {
			if _, err := os.Stat(filepath.Join(dir, arch, ".complete")); err != nil {
				t.Skipf("%s not fetched into %s", arch, dir)
			}
			in, err := lookup(dir, arch)
			if err != nil {
				t.Fatal(err)
			}
			if in.Release == "" {
				t.Error("empty Release")
			}
			if (arch == "armel") != (in.DTB != "") {
				t.Errorf("DTB = %q", in.DTB)
			}
			for _, f := range []string{in.Kernel, in.Rootfs, in.Modules} {
				if !filepath.IsAbs(f) {
					t.Errorf("%s is not absolute", f)
				}
				if _, err := os.Stat(f); err != nil {
					t.Error(err)
				}
			}
			// info.json is written from the same package: it must agree.
			b, err := os.ReadFile(filepath.Join(in.Dir, "info.json"))
			if err != nil {
				t.Fatal(err)
			}
			var info struct{ Arch, Release string }
			if err := json.Unmarshal(b, &info); err != nil {
				t.Fatalf("info.json: %v", err)
			}
			if info.Arch != arch || info.Release != in.Release {
				t.Errorf("info.json says %s %s, want %s %s", info.Arch, info.Release, arch, in.Release)
			}
		})
	}
}

func TestDir(t *testing.T) {
	d := t.TempDir()
	t.Setenv("TUXBOOT_TESTDATA", d)
	if got := Dir(); got != d {
		t.Errorf("with TUXBOOT_TESTDATA=%s: Dir() = %s", d, got)
	}
	t.Setenv("TUXBOOT_TESTDATA", "")
	t.Setenv("HOME", d)
	if got, want := Dir(), filepath.Join(d, ".cache", "tuxboot", "testdata"); got != want {
		t.Errorf("with HOME=%s: Dir() = %s, want %s", d, got, want)
	}
}

func TestArchesIsACopy(t *testing.T) {
	a := Arches()
	a[0] = "changed"
	if slices.Contains(Arches(), "changed") {
		t.Error("changing the result of Arches changed the next result")
	}
}

// fillArch writes a fake architecture directory, stamped or not.
func fillArch(t *testing.T, dir, arch string, stamp bool) {
	t.Helper()
	d := filepath.Join(dir, arch)
	files := map[string]string{
		"kernel":         "k",
		"rootfs.cpio.gz": "r",
		"modules.tar.xz": "m",
		"release":        "6.1.0-99-" + arch + "\n",
	}
	if stamp {
		files[".complete"] = ""
	}
	if err := os.MkdirAll(d, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, s := range files {
		if err := os.WriteFile(filepath.Join(d, name), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestLookupTrustsOnlyStamped(t *testing.T) {
	dir := t.TempDir()
	fillArch(t, dir, "arm64", false)
	if _, err := lookup(dir, "arm64"); err == nil {
		t.Fatal("lookup trusted a directory without .complete")
	}
	fillArch(t, dir, "arm64", true)
	in, err := lookup(dir, "arm64")
	if err != nil {
		t.Fatal(err)
	}
	want := Input{
		Arch:    "arm64",
		Dir:     filepath.Join(dir, "arm64"),
		Kernel:  filepath.Join(dir, "arm64", "kernel"),
		Rootfs:  filepath.Join(dir, "arm64", "rootfs.cpio.gz"),
		Modules: filepath.Join(dir, "arm64", "modules.tar.xz"),
		Release: "6.1.0-99-arm64",
	}
	if in != want {
		t.Errorf("lookup = %+v, want %+v", in, want)
	}
	if err := os.WriteFile(filepath.Join(dir, "arm64", "release"), []byte("\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := lookup(dir, "arm64"); err == nil {
		t.Error("lookup accepted an empty release")
	}
}

// recorder is a testing.TB that records how a test would have ended.
// Skip and Fatal stop the goroutine, as the real ones do.
type recorder struct {
	testing.TB
	skipped, failed bool
	msg             string
}

func (r *recorder) Helper() {}

func (r *recorder) Skip(args ...any) {
	r.skipped, r.msg = true, fmt.Sprint(args...)
	runtime.Goexit()
}

func (r *recorder) Fatal(args ...any) {
	r.failed, r.msg = true, fmt.Sprint(args...)
	runtime.Goexit()
}

func (r *recorder) Fatalf(format string, args ...any) {
	r.Fatal(fmt.Sprintf(format, args...))
}

// run calls Lookup on a recorder in a goroutine of its own, where Goexit
// cannot end the calling test.
func run(arch string) *recorder {
	r := &recorder{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		Lookup(r, arch)
	}()
	<-done
	return r
}

func TestLookupMissing(t *testing.T) {
	t.Setenv("TUXBOOT_TESTDATA", t.TempDir())

	t.Setenv("CI", "")
	if r := run("riscv64"); !r.skipped || r.failed {
		t.Errorf("without CI: skipped %v, failed %v, want a skip", r.skipped, r.failed)
	} else if !strings.Contains(r.msg, "hack/testdata.sh riscv64") {
		t.Errorf("skip message %q does not say to run hack/testdata.sh riscv64", r.msg)
	}

	t.Setenv("CI", "true")
	if r := run("riscv64"); !r.failed || r.skipped {
		t.Errorf("with CI: skipped %v, failed %v, want a failure", r.skipped, r.failed)
	} else if !strings.Contains(r.msg, "hack/testdata.sh riscv64") {
		t.Errorf("failure message %q does not say to run hack/testdata.sh riscv64", r.msg)
	}

	t.Setenv("CI", "")
	if r := run("vax"); !r.failed {
		t.Error("an unknown architecture did not fail the test")
	}
}
