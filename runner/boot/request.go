package boot

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Request asks for one boot. Artefacts are local paths or file://,
// http:// or https:// URLs.
type Request struct {
	APIVersion string   `json:"apiVersion"`
	ID         string   `json:"id,omitempty"`
	Device     string   `json:"device"`
	Kernel     string   `json:"kernel"`
	Rootfs     string   `json:"rootfs,omitempty"`
	Modules    string   `json:"modules,omitempty"`
	DTB        string   `json:"dtb,omitempty"`
	BIOS       string   `json:"bios,omitempty"`
	Overlays   []string `json:"overlays,omitempty"`
	BootArgs   string   `json:"boot_args,omitempty"`
	Tests      []string `json:"tests,omitempty"`
	Timeouts   Timeouts `json:"timeouts,omitempty"`
	Memory     string   `json:"memory,omitempty"`
	SMP        int      `json:"smp,omitempty"`
	Accel      string   `json:"accel,omitempty"` // auto (default), kvm or tcg
	QEMUBinary string   `json:"qemu_binary,omitempty"`
	// Fatal lists crash kinds that fail the boot beyond the default ones
	// (for example "warning").
	Fatal []string `json:"fatal,omitempty"`
	// SHA256 maps an artefact name (kernel, rootfs, ...) to its expected digest.
	SHA256 map[string]string `json:"sha256,omitempty"`
}

// Timeouts bound the phases of a boot, in whole seconds; zero means the default.
type Timeouts struct {
	Boot     int `json:"boot,omitempty"`      // QEMU start to a passing boot milestone
	Tests    int `json:"tests,omitempty"`     // tests_started to tests_finished
	NoOutput int `json:"no_output,omitempty"` // silence on the console
	Overall  int `json:"overall,omitempty"`   // the whole boot, whatever happens
}

// MaxTimeout is the longest timeout a request may set, in seconds (a week).
const MaxTimeout = 7 * 24 * 3600

// Default timeouts, generous enough for the slowest TCG guest here.
const (
	DefaultBootTimeout     = 300 * time.Second
	DefaultTestsTimeout    = 600 * time.Second
	DefaultNoOutputTimeout = 120 * time.Second
)

func seconds(n int, def time.Duration) time.Duration {
	if n <= 0 {
		return def
	}
	return time.Duration(n) * time.Second
}

// BootTimeout is the boot timeout in force.
func (t Timeouts) BootTimeout() time.Duration { return seconds(t.Boot, DefaultBootTimeout) }

// TestsTimeout is the tests timeout in force.
func (t Timeouts) TestsTimeout() time.Duration { return seconds(t.Tests, DefaultTestsTimeout) }

// NoOutputTimeout is the console silence timeout in force.
func (t Timeouts) NoOutputTimeout() time.Duration {
	return seconds(t.NoOutput, DefaultNoOutputTimeout)
}

// OverallTimeout is the deadline of the whole boot: by default the boot and
// tests timeouts together plus a minute for fetching and teardown.
func (t Timeouts) OverallTimeout() time.Duration {
	if t.Overall > 0 {
		return time.Duration(t.Overall) * time.Second
	}
	return t.BootTimeout() + t.TestsTimeout() + time.Minute
}

// ParseTimeouts reads tuxrun's form "boot=SEC,tests=SEC", plus
// "no_output=SEC" and "overall=SEC".
func ParseTimeouts(s string) (Timeouts, error) {
	var t Timeouts
	if strings.TrimSpace(s) == "" {
		return t, nil
	}
	for _, kv := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(kv), "=")
		if !ok {
			return t, fmt.Errorf("timeouts: %q is not NAME=SECONDS", kv)
		}
		n, err := parseSeconds(v)
		if err != nil || n <= 0 || n > MaxTimeout {
			return t, fmt.Errorf("timeouts: %s=%q is not a whole number of seconds from 1 to %d (or minutes with m, hours with h: %s=10m)", k, v, MaxTimeout, k)
		}
		switch k {
		case "boot":
			t.Boot = n
		case "tests":
			t.Tests = n
		case "no_output", "no-output":
			t.NoOutput = n
		case "overall", "deadline":
			t.Overall = n
		default:
			return t, fmt.Errorf("timeouts: unknown timeout %q (known: boot, tests, no_output, overall)", k)
		}
	}
	return t, nil
}

// parseSeconds reads a timeout: seconds, or with a unit, s, m or h (tuxrun
// counts minutes: "boot=10m" says so to both).
func parseSeconds(v string) (int, error) {
	mult := 1
	switch {
	case strings.HasSuffix(v, "s"):
		v = strings.TrimSuffix(v, "s")
	case strings.HasSuffix(v, "m"):
		v, mult = strings.TrimSuffix(v, "m"), 60
	case strings.HasSuffix(v, "h"):
		v, mult = strings.TrimSuffix(v, "h"), 3600
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, err
	}
	if n > MaxTimeout/mult {
		return MaxTimeout + 1, nil
	}
	return n * mult, nil
}

// ValidationError says what is wrong with a request. It is always the
// client's to fix, never an infrastructure error.
type ValidationError struct {
	Field  string
	Reason string
}

func (e *ValidationError) Error() string {
	return fmt.Sprintf("invalid request: %s: %s", e.Field, e.Reason)
}

// Validate checks the request's form. Whether the device exists is for the
// device table to say; whether files exist, for the artefact fetcher.
func (r *Request) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, &ValidationError{Field: field, Reason: fmt.Sprintf(format, args...)})
	}
	if r.APIVersion != "" && r.APIVersion != APIVersion {
		bad("apiVersion", "%q is not supported (want %q)", r.APIVersion, APIVersion)
	}
	if r.Device == "" {
		bad("device", "is required")
	}
	if r.Kernel == "" {
		bad("kernel", "is required")
	}
	for name, src := range r.Artefacts() {
		if err := CheckSource(src); err != nil {
			bad(name, "%v", err)
		}
	}
	artefacts := r.Artefacts()
	for name, sum := range r.SHA256 {
		if _, ok := artefacts[name]; !ok {
			bad("sha256."+name, "the request has no artefact %q to check", name)
		}
		if len(sum) != 64 || strings.Trim(strings.ToLower(sum), "0123456789abcdef") != "" {
			bad("sha256."+name, "%q is not a sha256 hex digest", sum)
		}
	}
	switch r.Accel {
	case "", "auto", "kvm", "tcg":
	default:
		bad("accel", "%q is not one of auto, kvm, tcg", r.Accel)
	}
	if r.SMP < 0 || r.SMP > 64 {
		bad("smp", "%d is not between 1 and 64", r.SMP)
	}
	if r.Memory != "" {
		if _, err := ParseMemory(r.Memory); err != nil {
			bad("memory", "%v", err)
		}
	}
	for _, v := range []struct {
		name string
		n    int
	}{{"boot", r.Timeouts.Boot}, {"tests", r.Timeouts.Tests}, {"no_output", r.Timeouts.NoOutput}, {"overall", r.Timeouts.Overall}} {
		if v.n < 0 || v.n > MaxTimeout {
			bad("timeouts."+v.name, "%d is not from 0 to %d seconds", v.n, MaxTimeout)
		}
	}
	if strings.ContainsAny(r.BootArgs, "\n\x00") {
		bad("boot_args", "must be one line")
	}
	return errors.Join(errs...)
}

// Artefacts lists the request's artefacts by name; overlays are overlay-0, overlay-1, ...
func (r *Request) Artefacts() map[string]string {
	m := map[string]string{}
	for name, src := range map[string]string{"kernel": r.Kernel, "rootfs": r.Rootfs, "modules": r.Modules, "dtb": r.DTB, "bios": r.BIOS} {
		if src != "" {
			m[name] = src
		}
	}
	for i, o := range r.Overlays {
		m[fmt.Sprintf("overlay-%d", i)] = o
	}
	return m
}

// CheckSource accepts a local path or a file, http or https URL.
func CheckSource(src string) error {
	if strings.ContainsAny(src, "\n\x00") {
		return errors.New("contains a newline or NUL")
	}
	if !strings.Contains(src, "://") {
		return nil
	}
	u, err := url.Parse(src)
	if err != nil {
		return fmt.Errorf("bad URL %q: %w", src, err)
	}
	switch u.Scheme {
	case "file":
		if u.Path == "" {
			return fmt.Errorf("file URL %q has no path", src)
		}
	case "http", "https":
		if u.Host == "" {
			return fmt.Errorf("URL %q has no host", src)
		}
	default:
		return fmt.Errorf("URL scheme %q of %q is not supported (use a path, file://, http:// or https://)", u.Scheme, src)
	}
	return nil
}

// ParseMemory reads a QEMU-style size ("512", "512M", "2G") and returns MiB.
func ParseMemory(s string) (int, error) {
	num, unit := s, "M"
	if n := len(s); n > 0 && strings.ContainsAny(s[n-1:], "MmGg") {
		num, unit = s[:n-1], strings.ToUpper(s[n-1:])
	}
	n, err := strconv.Atoi(num)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("%q is not a memory size like 512M or 2G", s)
	}
	if unit == "G" {
		n *= 1024
	}
	if n < 16 || n > 64*1024 {
		return 0, fmt.Errorf("%q is outside 16M..64G", s)
	}
	return n, nil
}
