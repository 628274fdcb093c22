package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/rs/zerolog"
	"github.com/tuxboot/tuxboot/runner"
	"github.com/tuxboot/tuxboot/runner/artefact"
	"github.com/tuxboot/tuxboot/runner/boot"
	"github.com/tuxboot/tuxboot/runner/console"
	"github.com/tuxboot/tuxboot/runner/device"
)

// listFlag collects a repeatable flag; commas also separate values.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error {
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			*l = append(*l, s)
		}
	}
	return nil
}

// sumsFlag collects NAME=SHA256 pairs.
type sumsFlag map[string]string

func (s sumsFlag) String() string { return fmt.Sprint(map[string]string(s)) }
func (s sumsFlag) Set(v string) error {
	name, sum, ok := strings.Cut(v, "=")
	if !ok || name == "" || sum == "" {
		return fmt.Errorf("%q is not ARTEFACT=SHA256 (e.g. kernel=0f3a...)", v)
	}
	s[name] = strings.ToLower(sum)
	return nil
}

type runFlags struct {
	req          boot.Request
	timeouts     string
	results      string
	logFile      string
	cacheDir     string
	cacheURL     string
	cacheMax     int64
	quiet        bool
	overlays     listFlag
	fatal        listFlag
	tests        listFlag
	sums         sumsFlag
	noKVMCaching bool
}

func (f *runFlags) register(fs *flag.FlagSet) {
	r := &f.req
	fs.StringVar(&r.Device, "device", "", "device to boot, e.g. qemu-arm64 (see 'tuxboot devices') (required)")
	fs.StringVar(&r.Kernel, "kernel", "", "kernel image: path or URL (required)")
	fs.StringVar(&r.Rootfs, "rootfs", "", "rootfs: a cpio initramfs (passed as initrd) or a raw/ext4/qcow2 disk image; path or URL, compressed or not")
	fs.StringVar(&r.Modules, "modules", "", "modules tarball (.tar, .tar.gz, .tar.xz, .tar.zst) merged into the rootfs")
	fs.StringVar(&r.DTB, "dtb", "", "device tree blob: path or URL")
	fs.StringVar(&r.BIOS, "bios", "", "firmware image: path or URL")
	fs.Var(&f.overlays, "overlay", "tarball merged into the rootfs (repeatable)")
	fs.StringVar(&r.BootArgs, "boot-args", "", "extra kernel command line, appended to the device's")
	fs.StringVar(&f.timeouts, "timeouts", "", "timeouts, in seconds unless given in minutes (10m) or hours (1h), unlike tuxrun's minutes: boot=SEC,tests=SEC,no_output=SEC,overall=SEC (defaults 300, 600, 120, boot+tests+60)")
	fs.StringVar(&r.Accel, "accel", "auto", "accelerator: auto (KVM where proven to work, else TCG), kvm or tcg")
	fs.StringVar(&r.Memory, "memory", "", "guest memory, e.g. 512M or 2G (default: the device's)")
	fs.IntVar(&r.SMP, "smp", 0, "guest CPUs (default: the device's)")
	fs.StringVar(&r.QEMUBinary, "qemu-binary", "", "QEMU binary to use instead of the device's")
	fs.Var(&f.fatal, "fatal", "crash kinds that fail the boot beyond the default (e.g. warning,rcu_stall; 'all' for every kind) (repeatable)")
	fs.Var(&f.tests, "tests", "tests the rootfs is expected to run and report (repeatable)")
	fs.Var(f.sums, "sha256", "expected digest of an artefact as ARTEFACT=SHA256, e.g. kernel=0f3a... (repeatable)")
	fs.StringVar(&f.results, "results", "", "write results.json to this file")
	fs.StringVar(&f.logFile, "log-file", "", "write the full console log, byte for byte, to this file")
	fs.StringVar(&f.cacheDir, "cache-dir", "", "artefact cache directory (default: the user cache dir)")
	fs.StringVar(&f.cacheURL, "cache-url", "", "KissCache-style prefix every http(s) artefact is fetched through, e.g. http://cache/api/v1/fetch/?url=")
	fs.Int64Var(&f.cacheMax, "cache-max", 0, "artefact cache size limit in bytes (default 10 GiB)")
	fs.BoolVar(&f.quiet, "quiet", false, "print only the result")
}

func runMain(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return runBoot(ctx, args, stdout, stderr, attach{})
}

// runBoot is `tuxboot run`, the boot handed to a person as at says
// (reproduce's --interactive and --gdb); a zero attach is a plain run.
func runBoot(ctx context.Context, args []string, stdout, stderr io.Writer, at attach) int {
	fs := flag.NewFlagSet("tuxboot run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	f := &runFlags{sums: sumsFlag{}}
	f.register(fs)
	if err := fs.Parse(args); err != nil {
		return flagExit(err)
	}
	if fs.NArg() > 0 {
		hint := "flags take the form --name value"
		if strings.Contains(fs.Arg(0), "=") {
			hint = "several timeouts are one comma-separated --timeouts value, such as boot=300,tests=10m"
		}
		fmt.Fprintf(stderr, "tuxboot run: unexpected argument %q (%s)\n", fs.Arg(0), hint)
		return exitBadRequest
	}
	var err error
	if f.req.Timeouts, err = boot.ParseTimeouts(f.timeouts); err != nil {
		fmt.Fprintf(stderr, "tuxboot run: --%v\n", err)
		return exitBadRequest
	}
	if f.cacheMax < 0 {
		fmt.Fprintf(stderr, "tuxboot run: --cache-max %d: must not be negative\n", f.cacheMax)
		return exitBadRequest
	}
	for _, kind := range f.fatal {
		if kind != "all" && !slices.Contains(console.Kinds(), kind) {
			fmt.Fprintf(stderr, "tuxboot run: --fatal %q: unknown crash kind (known: all, %s)\n", kind, strings.Join(console.Kinds(), ", "))
			return exitBadRequest
		}
	}
	if f.results != "" {
		// Find out now, not after a long boot, that the verdict has nowhere to go.
		if err := checkWritable(f.results); err != nil {
			fmt.Fprintf(stderr, "tuxboot run: --results: %v\n", err)
			return exitBadRequest
		}
	}
	f.req.APIVersion = boot.APIVersion
	f.req.Overlays, f.req.Fatal, f.req.Tests = f.overlays, f.fatal, f.tests
	if len(f.sums) > 0 {
		f.req.SHA256 = f.sums
	}

	log := newLogger(stderr, f.quiet)
	if at.interactive {
		// The console is the person's: only errors interrupt it.
		log = log.Level(zerolog.ErrorLevel)
	}
	var logOut *lazyFile
	if f.logFile != "" {
		if err := checkWritable(f.logFile); err != nil {
			fmt.Fprintf(stderr, "tuxboot run: --log-file: %v\n", err)
			return exitBadRequest
		}
		logOut = &lazyFile{path: f.logFile}
		defer logOut.Close()
	}
	r := &runner.Runner{
		Devices: device.Builtin(),
		Fetcher: &artefact.Fetcher{
			CacheDir: f.cacheDir,
			CacheURL: f.cacheURL,
			CacheMax: f.cacheMax,
			Log:      func(format string, args ...any) { log.Info().Msgf(format, args...) },
		},
		OnEvent:   func(ev boot.Event) { logEvent(log, ev) },
		KVMUsable: newKVMProber(userCacheDir(f.cacheDir), "/proc/cpuinfo"),
	}
	if logOut != nil {
		r.Console = logOut
	}
	ctx, done, err := at.setUp(ctx, r, f, stdout, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "tuxboot run: %v\n", err)
		return exitInfra
	}
	log.Info().Str("device", f.req.Device).Str("kernel", f.req.Kernel).Msg("booting")
	res := r.Run(ctx, f.req)
	done()
	if logOut != nil {
		if err := logOut.Close(); err != nil {
			res.Notes = append(res.Notes, fmt.Sprintf("the console log %s is incomplete: %v", f.logFile, err))
		}
	}
	printSummary(stdout, res)
	code := runner.ExitCode(res)
	if f.results != "" {
		if err := writeJSON(f.results, res); err != nil {
			fmt.Fprintf(stderr, "tuxboot run: --results: %v\n", err)
			return exitInfra
		}
	}
	return code
}

func newLogger(w io.Writer, quiet bool) zerolog.Logger {
	level := zerolog.InfoLevel
	if quiet {
		level = zerolog.WarnLevel
	}
	noColor := true
	if f, ok := w.(*os.File); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			noColor = false
		}
	}
	return zerolog.New(zerolog.ConsoleWriter{Out: w, NoColor: noColor, TimeFormat: time.TimeOnly}).
		Level(level).With().Timestamp().Logger()
}

func logEvent(log zerolog.Logger, ev boot.Event) {
	at := time.Duration(ev.AtMS) * time.Millisecond
	switch ev.Type {
	case boot.EventMilestone:
		log.Info().Str("at", at.String()).Msgf("milestone %s", ev.Milestone.Name)
	case boot.EventKernel:
		log.Info().Str("at", at.String()).Msgf("kernel %s", ev.Kernel.Version)
	case boot.EventCrash:
		log.Warn().Str("at", at.String()).Str("kind", ev.Crash.Kind).Bool("fatal", ev.Crash.Fatal).Msg(ev.Crash.Title)
	case boot.EventTest:
		log.Info().Str("at", at.String()).Str("result", ev.Test.Result).Msgf("test %s/%s", ev.Test.Suite, ev.Test.Name)
	}
}

func printSummary(w io.Writer, res *boot.Result) {
	fmt.Fprintf(w, "result: %s\n", res.Result)
	if res.Failure != nil {
		fmt.Fprintf(w, "failure: %s: %s\n", res.Failure.Kind, res.Failure.Title)
		if res.Failure.Message != "" {
			fmt.Fprintf(w, "  %s\n", strings.ReplaceAll(strings.TrimSpace(res.Failure.Message), "\n", "\n  "))
		}
	}
	if res.Kernel.Version != "" {
		fmt.Fprintf(w, "kernel: %s\n", res.Kernel.Version)
	}
	if len(res.Milestones) > 0 {
		var ms []string
		for _, m := range res.Milestones {
			ms = append(ms, fmt.Sprintf("%s %.1fs", m.Name, float64(m.AtMS)/1000))
		}
		fmt.Fprintf(w, "milestones: %s\n", strings.Join(ms, ", "))
	}
	counts := map[string]int{}
	for _, t := range res.Tests {
		counts[t.Result]++
	}
	if len(res.Tests) > 0 {
		fmt.Fprintf(w, "tests: %d pass, %d fail, %d error, %d skip\n", counts[boot.Pass], counts[boot.Fail], counts[boot.Error], counts[boot.Skip])
	}
	for _, n := range res.Notes {
		fmt.Fprintf(w, "note: %s\n", n)
	}
	fmt.Fprintf(w, "duration: %.1fs\n", float64(res.DurationMS)/1000)
}

// checkWritable makes sure a file can be created at path, and leaves
// nothing behind: an existing file is kept as it is until the boot writes it.
func checkWritable(path string) error {
	dir := filepath.Dir(path)
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		return fmt.Errorf("%s is a directory", path)
	}
	f, err := os.CreateTemp(dir, ".tuxboot-check-*")
	if err != nil {
		return fmt.Errorf("cannot write in %s: %w", dir, err)
	}
	f.Close()
	return os.Remove(f.Name())
}

// lazyFile creates its file on the first write, so a request refused
// before the boot does not truncate an old log, and it remembers the first
// write error instead of failing the boot over it.
type lazyFile struct {
	path string
	f    *os.File
	err  error
}

func (l *lazyFile) Write(p []byte) (int, error) {
	if l.err != nil {
		return len(p), nil
	}
	if l.f == nil {
		if l.f, l.err = os.Create(l.path); l.err != nil {
			return len(p), nil
		}
	}
	if _, err := l.f.Write(p); err != nil {
		l.err = err
	}
	return len(p), nil
}

// Close closes the file and reports the first error of its life.
func (l *lazyFile) Close() error {
	if l.f != nil {
		if err := l.f.Close(); err != nil && l.err == nil {
			l.err = err
		}
		l.f = nil
	}
	return l.err
}

// writeJSON writes v to path atomically, so a reader never sees half a file.
func writeJSON(path string, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".results-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(append(data, '\n')); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// userCacheDir is where tuxboot keeps what it learns about this host.
func userCacheDir(flagDir string) string {
	if flagDir != "" {
		return flagDir
	}
	if dir, err := os.UserCacheDir(); err == nil {
		return filepath.Join(dir, "tuxboot")
	}
	return filepath.Join(os.TempDir(), "tuxboot-cache")
}
