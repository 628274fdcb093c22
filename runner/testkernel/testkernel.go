// Package testkernel finds the real Debian kernels and busybox initramfs
// images that hack/testdata.sh fetches, for tests that boot them under QEMU.
// It is for tests only: it takes a testing.TB and skips or fails the test
// when the inputs are missing.
//
// hack/testdata.sh keeps one directory per Debian architecture:
//
//	$TUXBOOT_TESTDATA/ARCH/kernel          what QEMU boots with -kernel
//	$TUXBOOT_TESTDATA/ARCH/release         the kernel release, as uname -r prints it
//	$TUXBOOT_TESTDATA/ARCH/modules.tar.xz  lib/modules/RELEASE of the kernel package
//	$TUXBOOT_TESTDATA/ARCH/rootfs.cpio.gz  the initramfs; tuxboot.mode= picks what /init does
//	$TUXBOOT_TESTDATA/ARCH/dtb             armel only: the device tree for QEMU's raspi0
//	$TUXBOOT_TESTDATA/ARCH/info.json       package, version, QEMU settings, boot time
//	$TUXBOOT_TESTDATA/ARCH/.complete       written last: without it the directory is not trusted
package testkernel

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// Input is one architecture's boot inputs. The paths are absolute.
type Input struct {
	Arch    string // Debian architecture name, such as "arm64"
	Dir     string // the directory that holds the files below
	Kernel  string
	Rootfs  string // gzip-compressed newc cpio with a busybox /init
	Modules string // tar.xz of lib/modules/<Release>
	Release string // as uname -r prints it in the guest, such as "6.1.0-28-arm64"

	// DTB is the device tree to boot with, for the one machine that
	// needs a file: armel's raspi0. It is "" elsewhere, where QEMU makes
	// the device tree.
	DTB string
}

// Arches returns the Debian architecture names that hack/testdata.sh fetches
// by default, in its order. armel is not among them: it is fetched only on
// request, and Lookup accepts it too. Arches returns a new slice on each
// call, so that no caller can change another's list.
func Arches() []string {
	return []string{"amd64", "i386", "arm64", "armhf", "ppc64el", "s390x", "mips64el", "mipsel", "riscv64"}
}

// Dir returns the directory hack/testdata.sh fills: $TUXBOOT_TESTDATA, or
// ~/.cache/tuxboot/testdata. It returns "" when neither can be known.
func Dir() string {
	if d := os.Getenv("TUXBOOT_TESTDATA"); d != "" {
		if abs, err := filepath.Abs(d); err == nil {
			return abs
		}
		return d
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return ""
	}
	return filepath.Join(home, ".cache", "tuxboot", "testdata")
}

// Lookup returns the inputs of a Debian architecture. When they are missing
// it skips the test, so that "go test ./..." passes on a machine that never
// ran hack/testdata.sh; when the environment variable CI is set (non-empty)
// it fails the test instead, so that CI cannot pass without booting.
func Lookup(t testing.TB, arch string) Input {
	t.Helper()
	if !slices.Contains(Arches(), arch) && arch != "armel" {
		t.Fatalf("testkernel: unknown architecture %q; hack/testdata.sh fetches %s and armel",
			arch, strings.Join(Arches(), " "))
	}
	in, err := lookup(Dir(), arch)
	if err != nil {
		msg := fmt.Sprintf("testkernel: %v: run hack/testdata.sh %s", err, arch)
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return in
}

// errMissing reports a cache directory that hack/testdata.sh has not
// finished, or never started.
var errMissing = errors.New("no test inputs")

// lookup reads one architecture's directory under dir. It trusts the
// directory only when hack/testdata.sh's stamp, written last, is there.
func lookup(dir, arch string) (Input, error) {
	if dir == "" {
		return Input{}, fmt.Errorf("%w for %s: neither TUXBOOT_TESTDATA nor HOME is set", errMissing, arch)
	}
	d := filepath.Join(dir, arch)
	if !fileExists(filepath.Join(d, ".complete")) {
		return Input{}, fmt.Errorf("%w for %s in %s", errMissing, arch, d)
	}
	in := Input{
		Arch:    arch,
		Dir:     d,
		Kernel:  filepath.Join(d, "kernel"),
		Rootfs:  filepath.Join(d, "rootfs.cpio.gz"),
		Modules: filepath.Join(d, "modules.tar.xz"),
	}
	b, err := os.ReadFile(filepath.Join(d, "release"))
	if err != nil {
		return Input{}, fmt.Errorf("%w for %s: %v", errMissing, arch, err)
	}
	in.Release = strings.TrimSpace(string(b))
	if in.Release == "" || strings.ContainsAny(in.Release, " \t\n") {
		return Input{}, fmt.Errorf("%w for %s: %s holds %q, not one kernel release",
			errMissing, arch, filepath.Join(d, "release"), b)
	}
	for _, f := range []string{in.Kernel, in.Rootfs, in.Modules} {
		if st, err := os.Stat(f); err != nil {
			return Input{}, fmt.Errorf("%w for %s: %v", errMissing, arch, err)
		} else if st.Size() == 0 {
			return Input{}, fmt.Errorf("%w for %s: %s is empty", errMissing, arch, f)
		}
	}
	if dtb := filepath.Join(d, "dtb"); fileExists(dtb) {
		in.DTB = dtb
	}
	return in, nil
}

func fileExists(name string) bool {
	_, err := os.Stat(name)
	return err == nil
}
