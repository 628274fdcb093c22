// Package runner runs one boot: it fetches the artefacts, starts QEMU for
// the device, analyses the console as it streams, stops QEMU when the boot
// has said all it will, and returns the result.
package runner

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/tuxboot/tuxboot/runner/artefact"
	"github.com/tuxboot/tuxboot/runner/boot"
	"github.com/tuxboot/tuxboot/runner/console"
	"github.com/tuxboot/tuxboot/runner/device"
	"github.com/tuxboot/tuxboot/runner/qemu"
)

// Fetcher gets an artefact to a local file.
type Fetcher interface {
	Fetch(ctx context.Context, name, src string, want artefact.Want) (*artefact.File, error)
}

// Runner runs boots. Its fields are read-only while boots run; one Runner
// may run many boots at once.
type Runner struct {
	Devices *device.Table
	Fetcher Fetcher
	// WorkDir is where each boot makes its scratch directory ("" = os.TempDir()).
	WorkDir string
	// Console, when set, receives every console byte of the boot, unaltered.
	Console io.Writer
	// OnEvent, when set, receives the boot's events in order.
	OnEvent func(boot.Event)
	// PowerOffGrace is how long, after the tests finished, the guest has
	// to power itself off before the runner does it (default 15 s). A
	// slow emulated guest on a busy host may need more to show its own
	// shutdown.
	PowerOffGrace time.Duration
	// KVMUsable reports whether KVM works for a device on this host; probe
	// is a QEMU command line that boots the request's kernel (whose sha256
	// is kernelSHA256) under KVM with its console on stdout. Nil means
	// never (every boot uses TCG).
	KVMUsable func(ctx context.Context, d device.Device, probe []string, kernelSHA256 string) error

	// ConsoleInput, when set, is copied to the guest's console as it
	// comes: a person typing. GDB, when set, is a loopback TCP address
	// ("127.0.0.1:1234") where QEMU's gdb stub listens; the guest then
	// stays paused at its first instruction until a debugger continues
	// it. Either makes the boot attended: it ends only when the guest
	// powers off or resets, QEMU exits, or ctx ends. No timeout applies
	// and no milestone stops it, since a person is at the console or in
	// the debugger; the verdict is of what the console showed until then.
	ConsoleInput io.Reader
	GDB          string
	// OnQEMU, when set, is called once QEMU has started (for GDB: once
	// the stub listens).
	OnQEMU func(QEMUStarted)
}

// QEMUStarted says what a boot started.
type QEMUStarted struct {
	Argv   []string
	Kernel string // the local file QEMU boots: the fetched kernel, decompressed
	GDB    string // where the gdb stub listens, if it does
}

// attended says a person drives the boot (see Runner.ConsoleInput).
func (r *Runner) attended() bool { return r.ConsoleInput != nil || r.GDB != "" }

// How long the runner waits, after the boot has said what it will, for
// the rest of the story before it stops QEMU.
const (
	crashGrace     = 3 * time.Second  // after a fatal crash: the panic and stack that follow
	promptSettle   = 5 * time.Second  // after a prompt with no tests: tests that might start
	finishedGrace  = 15 * time.Second // after tests finished: the guest's own power-off (Runner.PowerOffGrace)
	powerdownGrace = 10 * time.Second // after system_powerdown: ACPI to finish
	// consoleQuiet is how long the console must be silent, with a crash
	// report open, before the report is taken as complete: a guest that
	// stops inside its panic (s390) never prints the line that ends it.
	consoleQuiet = 2 * time.Second
)

// ExitCode maps a result to tuxboot's exit status: 0 pass, 1 fail,
// 2 bad request, 3 infrastructure error.
func ExitCode(r *boot.Result) int {
	switch {
	case r.Result == boot.Pass:
		return 0
	case r.Result == boot.Fail:
		return 1
	case r.Failure != nil && r.Failure.Kind == boot.FailBadRequest:
		return 2
	default:
		return 3
	}
}

// Run runs one boot and always returns a result; a failure of any kind is
// described in it, never returned as an error.
func (r *Runner) Run(ctx context.Context, req boot.Request) *boot.Result {
	b := &run{
		runner: r,
		req:    req,
		start:  time.Now(),
		res: &boot.Result{
			APIVersion: boot.APIVersion,
			ID:         req.ID,
			Device:     req.Device,
			Milestones: []boot.Milestone{},
			Crashes:    []boot.Crash{},
			Tests:      []boot.Test{},
			Artefacts:  map[string]boot.Artefact{},
		},
	}
	b.execute(ctx)
	b.res.DurationMS = time.Since(b.start).Milliseconds()
	return b.res
}

// run is the state of one boot.
type run struct {
	runner *Runner
	req    boot.Request
	start  time.Time
	res    *boot.Result
	opened []*artefact.File

	emitMu sync.Mutex // serialises OnEvent calls, so Seq order is call order

	mu        sync.Mutex // guards what the console goroutine touches below
	qemuStart time.Time
	seq       int64
	reached   map[string]time.Time
	fatalAt   time.Time
	changed   chan struct{}
}

// requestError and infraError stop a boot before QEMU runs.
func (b *run) fail(result, kind, title string, err error) {
	b.res.Result = result
	b.res.Failure = &boot.Failure{Kind: kind, Title: title}
	if err != nil {
		b.res.Failure.Message = err.Error()
	}
}

func (b *run) execute(ctx context.Context) {
	r, req := b.runner, b.req
	if err := req.Validate(); err != nil {
		b.fail(boot.Error, boot.FailBadRequest, "invalid request", err)
		return
	}
	dev, err := r.Devices.Lookup(req.Device)
	if err != nil {
		b.fail(boot.Error, boot.FailBadRequest, "unknown device", err)
		return
	}
	if dev.DTB == device.DTBRequired && req.DTB == "" {
		b.fail(boot.Error, boot.FailBadRequest, "missing dtb", fmt.Errorf("device %s needs a dtb (--dtb)", dev.Name))
		return
	}
	binary := req.QEMUBinary
	if binary == "" {
		binary = dev.Binary
	}
	b.res.QEMU.Binary = binary
	path, err := exec.LookPath(binary)
	if err != nil && req.QEMUBinary != "" {
		b.fail(boot.Error, boot.FailBadRequest, "bad QEMU binary", fmt.Errorf("--qemu-binary %s: %w", binary, err))
		return
	}
	if err != nil {
		b.fail(boot.Error, boot.FailQEMU, "QEMU not found", fmt.Errorf("%s is not installed or not on PATH (Debian: apt-get install %s): %w", binary, debianPackage(binary), err))
		return
	}

	if !r.attended() {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, req.Timeouts.OverallTimeout())
		defer cancel()
	}

	scratch, err := os.MkdirTemp(r.WorkDir, "tuxboot-")
	if err != nil {
		b.fail(boot.Error, boot.FailInfra, "no scratch directory", err)
		return
	}
	defer os.RemoveAll(scratch)

	files, ok := b.fetch(ctx, scratch)
	defer func() {
		for _, f := range b.opened {
			f.Close() // lets the cache evict it again
		}
	}()
	if !ok {
		return
	}
	if b.res.Artefacts["kernel"].Size == 0 {
		b.fail(boot.Error, boot.FailBadRequest, "empty kernel", fmt.Errorf("kernel %s is an empty file", req.Kernel))
		return
	}
	accel, note := b.chooseAccel(ctx, dev, path, files)
	if ctx.Err() != nil {
		b.preBootStop(ctx, "probing KVM", boot.FailInfra)
		return
	}
	if note != "" {
		b.res.Notes = append(b.res.Notes, note)
	}
	if b.res.Failure != nil {
		return
	}
	files.Accel = accel
	files.BootArgs = req.BootArgs
	files.SMP = req.SMP
	if req.Memory != "" {
		files.MemoryMiB, _ = boot.ParseMemory(req.Memory) // validated above
	}
	files.Console = "pty"
	files.Paused = true
	files.QMP = filepath.Join(scratch, "qmp.sock")
	files.GDB = r.GDB
	argv, err := dev.Argv(path, files)
	if err != nil {
		b.fail(boot.Error, boot.FailBadRequest, "cannot boot this request on "+dev.Name, err)
		return
	}
	b.res.QEMU.Argv = argv
	b.res.QEMU.Accel = accel
	b.boot(ctx, argv, files)
}

// fetch resolves every artefact to a local file and composes the rootfs.
func (b *run) fetch(ctx context.Context, scratch string) (device.Boot, bool) {
	var files device.Boot
	get := func(name, src string, decompress bool) (string, bool) {
		if src == "" {
			return "", true
		}
		f, err := b.runner.Fetcher.Fetch(ctx, name, src, artefact.Want{SHA256: b.req.SHA256[name], Decompress: decompress})
		if err != nil {
			var ae *artefact.Error
			if errors.As(err, &ae) && ae.Request {
				b.fail(boot.Error, boot.FailBadRequest, "bad artefact "+name, err)
			} else if ctx.Err() != nil {
				b.preBootStop(ctx, "fetching "+name, boot.FailArtefact)
			} else {
				b.fail(boot.Error, boot.FailArtefact, "cannot fetch "+name, err)
			}
			return "", false
		}
		b.opened = append(b.opened, f)
		b.res.Artefacts[name] = boot.Artefact{Source: f.Source, SHA256: f.SHA256, Size: f.Size}
		return f.Path, true
	}
	var ok bool
	if files.Kernel, ok = get("kernel", b.req.Kernel, true); !ok {
		return files, false
	}
	if files.DTB, ok = get("dtb", b.req.DTB, true); !ok {
		return files, false
	}
	if files.BIOS, ok = get("bios", b.req.BIOS, true); !ok {
		return files, false
	}
	rootfs, ok := get("rootfs", b.req.Rootfs, true)
	if !ok {
		return files, false
	}
	sources := []struct{ name, src string }{{"modules", b.req.Modules}}
	for i, o := range b.req.Overlays {
		sources = append(sources, struct{ name, src string }{fmt.Sprintf("overlay-%d", i), o})
	}
	var tarballs []string
	for _, t := range sources {
		p, ok := get(t.name, t.src, false)
		if !ok {
			return files, false
		}
		if p != "" {
			tarballs = append(tarballs, p)
		}
	}
	if rootfs == "" {
		if len(tarballs) > 0 {
			b.fail(boot.Error, boot.FailBadRequest, "modules need a rootfs", errors.New("--modules and --overlay are merged into a rootfs; give --rootfs"))
			return files, false
		}
		return files, true
	}
	kind, err := sniffRootfs(rootfs)
	if err != nil {
		b.fail(boot.Error, boot.FailArtefact, "cannot read rootfs", err)
		return files, false
	}
	switch kind {
	case rootfsCPIO:
		files.Initrd = rootfs
		for i, t := range tarballs {
			out := filepath.Join(scratch, fmt.Sprintf("initrd-%d.cpio", i))
			if err := artefact.AppendCPIO(ctx, files.Initrd, t, "/", out); err != nil {
				b.fail(boot.Error, boot.FailBadRequest, "cannot merge modules into the initramfs", err)
				return files, false
			}
			files.Initrd = out
		}
	case rootfsQCOW2:
		if len(tarballs) > 0 {
			b.fail(boot.Error, boot.FailBadRequest, "cannot merge modules into a qcow2 image", errors.New("give a raw ext4 image or a cpio initramfs with --modules"))
			return files, false
		}
		files.Disk, files.DiskFormat = rootfs, "qcow2"
	default:
		files.Disk, files.DiskFormat = rootfs, "raw"
		if len(tarballs) > 0 {
			img := filepath.Join(scratch, "rootfs.img")
			if err := copyFile(rootfs, img); err != nil {
				b.fail(boot.Error, boot.FailInfra, "cannot copy the rootfs image", err)
				return files, false
			}
			for _, t := range tarballs {
				if err := artefact.InjectExt4(ctx, img, t, "/"); err != nil {
					b.fail(boot.Error, boot.FailBadRequest, "cannot merge modules into the rootfs image", err)
					return files, false
				}
			}
			files.Disk = img
		}
	}
	return files, true
}

// chooseAccel applies --accel: auto takes KVM only where it is proven to work.
func (b *run) chooseAccel(ctx context.Context, dev device.Device, binary string, files device.Boot) (string, string) {
	want := b.req.Accel
	if want == "" {
		want = "auto"
	}
	if want == "tcg" {
		return "tcg", ""
	}
	var err error
	if b.runner.KVMUsable == nil {
		err = errors.New("KVM is not enabled in this runner")
	} else {
		probe := device.Boot{Kernel: files.Kernel, DTB: files.DTB, BIOS: files.BIOS, Accel: "kvm", Console: "stdio", BootArgs: "panic=-1"}
		var argv []string
		if argv, err = dev.Argv(binary, probe); err == nil {
			err = b.runner.KVMUsable(ctx, dev, argv, b.res.Artefacts["kernel"].SHA256)
		}
	}
	if err == nil {
		return "kvm", ""
	}
	if want == "kvm" {
		b.fail(boot.Error, boot.FailInfra, "KVM unavailable", fmt.Errorf("--accel kvm: %w", err))
		return "", ""
	}
	return "tcg", "accel auto: using TCG: " + err.Error()
}

// boot runs QEMU and watches the console until the boot has said all it will.
func (b *run) boot(ctx context.Context, argv []string, files device.Boot) {
	r := b.runner
	b.reached = map[string]time.Time{}
	b.changed = make(chan struct{}, 1)
	analyzer := console.New(console.Options{Fatal: b.req.Fatal, OnEvent: b.onConsoleEvent})
	sink := &consoleSink{analyzer: analyzer, extra: r.Console}

	b.mu.Lock()
	b.qemuStart = time.Now()
	b.mu.Unlock()
	b.emit(boot.Event{Type: boot.EventState, State: "running"})
	m, err := qemu.Start(ctx, argv, files.QMP, sink, qemu.Options{Input: r.ConsoleInput, Hold: r.GDB != ""})
	if err != nil {
		b.startFailure(ctx, err)
		return
	}
	b.res.QEMU.Version = m.Version()
	if r.OnQEMU != nil {
		r.OnQEMU(QEMUStarted{Argv: argv, Kernel: files.Kernel, GDB: r.GDB})
	}

	stop := b.watch(ctx, m, sink)
	if why := m.ShutdownReason(); stop.reason == stopGuestShutdown && !strings.HasPrefix(why, "guest-") {
		stop = stopByHost(why)
	}
	m.Stop(ctx, stop.powerdown, powerdownGrace)
	analyzer.Close()
	if stop.reason == stopGuestShutdown && m.ShutdownReason() == "guest-shutdown" {
		// Some consoles (s390's SCLP) lose the kernel's last words; QEMU
		// saw the power-off all the same.
		b.reachShutdown(time.Now())
	}
	b.res.LogBytes = sink.bytes()
	if code := m.ExitCode(); stop.reason == stopQEMUExited || stop.reason == stopHostShutdown {
		b.res.QEMU.ExitCode = &code
		b.res.QEMU.Stderr = m.Stderr()
		stop.exit = m.ExitStatus()
	}
	b.judge(analyzer.Summary(), stop)
}

// startFailure classifies a QEMU that would not start: QEMU refusing the
// kernel is the kernel's failure; anything else is ours.
func (b *run) startFailure(ctx context.Context, err error) {
	var se *qemu.StartError
	if errors.As(err, &se) {
		b.res.QEMU.Stderr = se.Stderr
	}
	if ctx.Err() != nil {
		b.preBootStop(ctx, "starting QEMU", boot.FailQEMU)
		return
	}
	if se != nil && dtbRejected(se.Stderr) {
		b.fail(boot.Error, boot.FailBadRequest, "QEMU could not load the dtb", err)
		return
	}
	if se != nil && kernelRejected(se.Stderr) {
		b.fail(boot.Fail, "kernel_load_error", "QEMU could not load the kernel", err)
		return
	}
	b.fail(boot.Error, boot.FailQEMU, "QEMU failed to start", err)
}

// dtbRejected recognises QEMU's messages for a device tree it cannot use.
func dtbRejected(stderr string) bool {
	return strings.Contains(stderr, "FDT_ERR") || strings.Contains(strings.ToLower(stderr), "dtb")
}

// kernelRejected recognises QEMU's messages for a kernel file it cannot load.
func kernelRejected(stderr string) bool {
	s := strings.ToLower(stderr)
	for _, m := range []string{"kernel", "linux", "pvh elf note", "elf image", "load image"} {
		if strings.Contains(s, m) {
			return true
		}
	}
	return false
}

// preBootStop records why the context ended before the kernel ran: the
// kernel cannot be blamed for what happened while we were doing.
func (b *run) preBootStop(ctx context.Context, doing, kind string) {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		b.fail(boot.Error, kind, fmt.Sprintf("overall timeout (%s) reached while %s", b.req.Timeouts.OverallTimeout(), doing), nil)
		return
	}
	b.fail(boot.Error, boot.FailInterrupted, "interrupted while "+doing, context.Cause(ctx))
}

// onConsoleEvent runs on the console goroutine, in console order.
func (b *run) onConsoleEvent(ev console.Event) {
	now := time.Now()
	b.mu.Lock()
	at := now.Sub(b.qemuStart).Milliseconds()
	out := boot.Event{AtMS: at}
	switch ev.Kind {
	case "milestone":
		b.reached[ev.Milestone] = now
		ms := boot.Milestone{Name: ev.Milestone, AtMS: at, Line: ev.Line}
		b.res.Milestones = append(b.res.Milestones, ms)
		out.Type, out.Milestone = boot.EventMilestone, &ms
	case "crash":
		if ev.Crash.Fatal && b.fatalAt.IsZero() {
			b.fatalAt = now
		}
		c := *ev.Crash
		c.Report = "" // the event stays small; the result has the report
		out.Type, out.Crash = boot.EventCrash, &c
	case "test":
		out.Type, out.Test = boot.EventTest, ev.Test
	case "kernel_version":
		out.Type, out.Kernel = boot.EventKernel, &boot.Kernel{Version: ev.KernelVersion}
	default:
		b.mu.Unlock()
		return
	}
	b.mu.Unlock()
	b.emit(out)
	select {
	case b.changed <- struct{}{}:
	default:
	}
}

// reachShutdown records a power-off QEMU saw but the console did not show.
func (b *run) reachShutdown(now time.Time) {
	b.mu.Lock()
	if _, ok := b.reached[boot.MilestoneShutdown]; ok {
		b.mu.Unlock()
		return
	}
	b.reached[boot.MilestoneShutdown] = now
	ms := boot.Milestone{Name: boot.MilestoneShutdown, AtMS: now.Sub(b.qemuStart).Milliseconds()}
	b.res.Milestones = append(b.res.Milestones, ms)
	b.mu.Unlock()
	b.emit(boot.Event{Type: boot.EventMilestone, AtMS: ms.AtMS, Milestone: &ms})
}

func (b *run) emit(ev boot.Event) {
	if b.runner.OnEvent == nil {
		return
	}
	b.emitMu.Lock()
	defer b.emitMu.Unlock()
	b.seq++
	ev.Seq = b.seq
	ev.APIVersion = boot.APIVersion
	ev.ID = b.req.ID
	b.runner.OnEvent(ev)
}

// consoleSink fans console bytes out to the analyser and the caller's writer.
type consoleSink struct {
	analyzer *console.Analyzer
	extra    io.Writer
	mu       sync.Mutex
	n        int64
	amu      sync.Mutex // serialises the console reader's writes and flush
}

func (s *consoleSink) Write(p []byte) (int, error) {
	s.mu.Lock()
	s.n += int64(len(p))
	s.mu.Unlock()
	if s.extra != nil {
		s.extra.Write(p)
	}
	s.amu.Lock()
	defer s.amu.Unlock()
	return s.analyzer.Write(p)
}

// flushIfQuiet closes the analyser's open crash report, if any, when
// quiet says the console has gone quiet, and says whether it closed one.
// quiet is asked with writes excluded: the console reader notes the time
// of a read before it writes it here, so no byte read goes unnoticed.
func (s *consoleSink) flushIfQuiet(quiet func() bool) bool {
	s.amu.Lock()
	defer s.amu.Unlock()
	return quiet() && s.analyzer.Flush()
}

func (s *consoleSink) bytes() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.n
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return fmt.Errorf("copy %s: %w", src, err)
	}
	return out.Close()
}

// debianPackage names the Debian package that ships a qemu-system binary.
func debianPackage(binary string) string {
	arch := strings.TrimPrefix(filepath.Base(binary), "qemu-system-")
	switch arch {
	case "x86_64", "i386":
		return "qemu-system-x86"
	case "aarch64", "arm":
		return "qemu-system-arm"
	case "ppc", "ppc64":
		return "qemu-system-ppc"
	case "mips", "mipsel", "mips64", "mips64el":
		return "qemu-system-mips"
	case "s390x":
		return "qemu-system-s390x"
	case "sparc", "sparc64":
		return "qemu-system-sparc"
	default:
		return "qemu-system-misc"
	}
}
