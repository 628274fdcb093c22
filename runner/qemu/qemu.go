// Package qemu runs one QEMU process: it starts it paused, attaches the
// serial console on a pty before the guest runs, resumes it over QMP, and
// stops it cleanly, so that no console byte is lost and nothing is left behind.
package qemu

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/digitalocean/go-qemu/qmp"
	"go.bug.st/serial"
	"golang.org/x/sys/unix"
)

// ConsoleLabel is the chardev id the console must have in argv
// (device.Argv names it so), found again over QMP to learn the pty.
const ConsoleLabel = "console"

// StartError says QEMU could not be started or brought to the point of
// running the guest. Stderr holds what QEMU said, if anything.
type StartError struct {
	Op     string
	Stderr string
	Err    error
}

func (e *StartError) Error() string {
	msg := fmt.Sprintf("qemu: %s: %v", e.Op, e.Err)
	if s := strings.TrimSpace(e.Stderr); s != "" {
		msg += ": " + s
	}
	return msg
}

func (e *StartError) Unwrap() error { return e.Err }

// Options are a Start's choices beyond the command line.
type Options struct {
	// Input, when set, is copied to the console as it comes, until it
	// ends or QEMU does: a person typing.
	Input io.Reader
	// Hold leaves the guest paused (argv has -S) for a debugger on QEMU's
	// gdb stub to resume, instead of resuming it over QMP.
	Hold bool
}

// Machine is a running QEMU.
type Machine struct {
	cmd     *exec.Cmd
	mon     *qmp.SocketMonitor
	port    serial.Port
	inq     int // a second fd on the console pty, only to ask how much is unread
	stderr  *tailBuffer
	version string

	exited   chan struct{} // closed when the process has been reaped
	waitErr  error
	shutdown chan struct{} // closed when the guest shut down or reset
	shutOnce sync.Once
	shutWhy  string        // QEMU's reason for the shutdown, set before shutdown closes
	drained  chan struct{} // closed when the console reader has stopped
	lastRead chanTime
}

// Start runs argv (QEMU with -S, a -qmp unix socket at qmpPath, and a
// "pty" chardev labelled ConsoleLabel), opens the console pty, and only
// then lets the guest run. Every console byte goes to console, in order,
// from one goroutine.
func Start(ctx context.Context, argv []string, qmpPath string, console io.Writer, opts Options) (*Machine, error) {
	if len(argv) == 0 {
		return nil, errors.New("qemu: empty argv")
	}
	m := &Machine{
		stderr:   &tailBuffer{max: 64 << 10},
		exited:   make(chan struct{}),
		inq:      -1,
		shutdown: make(chan struct{}),
		drained:  make(chan struct{}),
	}
	m.lastRead.set(time.Now())
	m.cmd = exec.Command(argv[0], argv[1:]...)
	m.cmd.Stdin = nil
	m.cmd.Stdout = m.stderr
	m.cmd.Stderr = m.stderr
	// Own process group: a terminal's Ctrl-C reaches us, and we stop QEMU
	// in order. Pdeathsig: if we die anyway, so does QEMU.
	m.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := m.cmd.Start(); err != nil {
		return nil, &StartError{Op: "start " + argv[0], Err: err}
	}
	go func() {
		m.waitErr = m.cmd.Wait()
		close(m.exited)
	}()
	fail := func(op string, err error) (*Machine, error) {
		// QEMU that refuses a kernel or dtb may close QMP first and say
		// why a moment later: let it finish, so the reason is in stderr.
		select {
		case <-m.exited:
		case <-time.After(2 * time.Second):
		}
		m.kill()
		<-m.exited
		if m.port != nil {
			m.port.Close()
		}
		if m.inq >= 0 {
			unix.Close(m.inq)
		}
		if m.mon != nil {
			m.mon.Disconnect()
		}
		return nil, &StartError{Op: op, Stderr: m.stderr.String(), Err: err}
	}
	if err := m.connectQMP(ctx, qmpPath); err != nil {
		return fail("connect QMP", err)
	}
	pty, err := m.consolePTY()
	if err != nil {
		return fail("find console pty", err)
	}
	// Opened before serial.Open takes the pty exclusively. Bytes still
	// queued on the pty when QEMU quits are thrown away by the kernel, so
	// Stop must see this queue empty first.
	m.inq, err = unix.Open(pty, unix.O_RDONLY|unix.O_NOCTTY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		m.inq = -1
		return fail("open console "+pty, err)
	}
	// Input has a descriptor of its own, which writeConsole closes: it
	// may still be blocked reading its input when Stop closes the port.
	var in *os.File
	if opts.Input != nil {
		if in, err = os.OpenFile(pty, os.O_WRONLY|unix.O_NOCTTY, 0); err != nil {
			return fail("open console "+pty+" for input", err)
		}
	}
	m.port, err = serial.Open(pty, &serial.Mode{BaudRate: 115200})
	if err != nil {
		if in != nil {
			in.Close()
		}
		return fail("open console "+pty, err)
	}
	go m.readConsole(console)
	if in != nil {
		go writeConsole(in, opts.Input)
	}
	if opts.Hold {
		return m, nil
	}
	if _, err := m.mon.Run([]byte(`{"execute":"cont"}`)); err != nil {
		return fail("resume guest", err)
	}
	return m, nil
}

// writeConsole copies r to the console until r ends or QEMU has gone
// (writes to a pty whose other end is closed fail), then closes the
// console's descriptor. A read blocked on r outlasts QEMU until r yields.
func writeConsole(console *os.File, r io.Reader) {
	defer console.Close()
	buf := make([]byte, 4096)
	for {
		n, err := r.Read(buf)
		if n > 0 {
			if _, werr := console.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// connectQMP waits for QEMU's QMP socket, which appears once QEMU has
// parsed its arguments and built the machine; QEMU exiting first is the
// usual way a bad argv or an unloadable kernel shows.
func (m *Machine) connectQMP(ctx context.Context, path string) error {
	deadline := time.NewTimer(90 * time.Second)
	defer deadline.Stop()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		if _, err := os.Stat(path); err == nil {
			mon, err := qmp.NewSocketMonitor("unix", path, 5*time.Second)
			if err == nil {
				connected := make(chan error, 1)
				go func() { connected <- mon.Connect() }()
				select {
				case err = <-connected:
				case <-m.exited:
					err = m.exitError()
				case <-time.After(60 * time.Second):
					err = errors.New("no QMP greeting within 60s")
				}
				if err != nil {
					mon.Disconnect()
					return err
				}
				m.mon = mon
				if v := mon.Version; v != nil {
					m.version = fmt.Sprintf("%d.%d.%d", v.QEMU.Major, v.QEMU.Minor, v.QEMU.Micro)
					if pkg := strings.TrimSpace(v.Package); pkg != "" {
						m.version += " " + pkg
					}
				}
				events, err := mon.Events(context.Background())
				if err != nil {
					return err
				}
				go m.watchEvents(events)
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-m.exited:
			return m.exitError()
		case <-deadline.C:
			return errors.New("QMP socket did not appear within 90s")
		case <-tick.C:
		}
	}
}

func (m *Machine) exitError() error {
	if m.waitErr != nil {
		return fmt.Errorf("exited early: %w", m.waitErr)
	}
	return errors.New("exited early")
}

// watchEvents drains QMP events; the library blocks if nobody reads them.
func (m *Machine) watchEvents(events <-chan qmp.Event) {
	for ev := range events {
		switch ev.Event {
		case "SHUTDOWN", "RESET":
			reason, _ := ev.Data["reason"].(string)
			m.shutOnce.Do(func() {
				m.shutWhy = reason
				close(m.shutdown)
			})
		}
	}
}

func (m *Machine) consolePTY() (string, error) {
	raw, err := m.mon.Run([]byte(`{"execute":"query-chardev"}`))
	if err != nil {
		return "", err
	}
	var resp struct {
		Return []struct {
			Label    string `json:"label"`
			Filename string `json:"filename"`
		} `json:"return"`
	}
	if err := json.Unmarshal(raw, &resp); err != nil {
		return "", fmt.Errorf("decode query-chardev: %w", err)
	}
	for _, c := range resp.Return {
		if c.Label == ConsoleLabel {
			if pty, ok := strings.CutPrefix(c.Filename, "pty:"); ok {
				return pty, nil
			}
			return "", fmt.Errorf("console chardev is %q, not a pty", c.Filename)
		}
	}
	return "", fmt.Errorf("no chardev labelled %q", ConsoleLabel)
}

func (m *Machine) readConsole(w io.Writer) {
	defer close(m.drained)
	buf := make([]byte, 32<<10)
	for {
		n, err := m.port.Read(buf)
		if n > 0 {
			m.lastRead.set(time.Now())
			w.Write(buf[:n])
		}
		if err != nil || n == 0 {
			// The pty reports EIO once QEMU has closed it; a zero read
			// means the port was closed by us.
			return
		}
	}
}

// Version is QEMU's version as its QMP greeting gave it.
func (m *Machine) Version() string { return m.version }

// Exited is closed when the QEMU process has ended.
func (m *Machine) Exited() <-chan struct{} { return m.exited }

// GuestShutdown is closed when the guest powered off or reset. QEMU stays
// up (paused) if argv says -action shutdown=pause, so the console can be
// drained before Stop.
func (m *Machine) GuestShutdown() <-chan struct{} { return m.shutdown }

// ShutdownReason is QEMU's reason for the guest's shutdown once
// GuestShutdown is closed: "guest-shutdown" for a power-off, "guest-reset"
// for a reboot, "guest-panic", "host-qmp-quit", and so on.
func (m *Machine) ShutdownReason() string {
	select {
	case <-m.shutdown:
		return m.shutWhy
	default:
		return ""
	}
}

// LastOutput is when the console last delivered bytes (or Start, before any).
func (m *Machine) LastOutput() time.Time { return m.lastRead.get() }

// Stderr is the tail of what QEMU printed on its stdout and stderr.
func (m *Machine) Stderr() string { return m.stderr.String() }

// ExitStatus says how QEMU ended, e.g. "exit status 1" or "signal: killed".
func (m *Machine) ExitStatus() string {
	if m.cmd.ProcessState == nil {
		return "still running"
	}
	return m.cmd.ProcessState.String()
}

// ExitCode is QEMU's exit status once Exited is closed: -1 if killed by a signal.
func (m *Machine) ExitCode() int {
	if m.cmd.ProcessState == nil {
		return -1
	}
	return m.cmd.ProcessState.ExitCode()
}

// Stop ends QEMU however it is: an ACPI power-down request first (when
// powerdown is true, the guest is still running and ctx is not done), then QMP quit, then
// SIGKILL to the process group. It waits for the console to be read to
// its end (bounded by drain), closes the pty and the QMP connection, and
// reaps the process. It is safe to call more than once.
func (m *Machine) Stop(ctx context.Context, powerdown bool, grace time.Duration) {
	m.drain(250*time.Millisecond, 30*time.Second)
	if powerdown && !m.done(m.shutdown) && !m.done(m.exited) && ctx.Err() == nil {
		m.mon.Run([]byte(`{"execute":"system_powerdown"}`))
		t := time.NewTimer(grace)
		select { // an interrupt cuts the polite wait short
		case <-m.exited:
		case <-m.shutdown:
		case <-ctx.Done():
		case <-t.C:
		}
		t.Stop()
		m.drain(250*time.Millisecond, 30*time.Second)
	}
	if !m.done(m.exited) {
		m.mon.Run([]byte(`{"execute":"quit"}`))
		waitFor(5*time.Second, m.exited, nil)
	}
	m.kill()
	<-m.exited
	m.mon.Disconnect()
	if m.port != nil {
		m.port.Close()
	}
	<-m.drained
	if m.inq >= 0 {
		unix.Close(m.inq)
		m.inq = -1
	}
}

// drain waits, at most max, until every byte QEMU wrote to the console
// has been read: nothing queued on the pty, and nothing new for quiet
// (QEMU may hold bytes of its own while the pty was full).
func (m *Machine) drain(quiet, max time.Duration) {
	end := time.Now().Add(max)
	for time.Now().Before(end) {
		if m.done(m.drained) || m.unread() == 0 && time.Since(m.lastRead.get()) >= quiet {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// unread is how many console bytes wait on the pty; 0 if unknown.
func (m *Machine) unread() int {
	if m.inq < 0 {
		return 0
	}
	n, err := unix.IoctlGetInt(m.inq, unix.TIOCINQ)
	if err != nil {
		return 0
	}
	return n
}

func (m *Machine) kill() {
	if m.cmd.Process == nil {
		return
	}
	select {
	case <-m.exited:
		return
	default:
	}
	syscall.Kill(-m.cmd.Process.Pid, syscall.SIGKILL)
	m.cmd.Process.Kill()
}

func (m *Machine) done(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// waitFor waits for a or b to close, at most d; a nil channel never closes.
func waitFor(d time.Duration, a, b <-chan struct{}) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-a:
	case <-b:
	case <-t.C:
	}
}

// chanTime is a time guarded for one writer and many readers.
type chanTime struct {
	mu sync.Mutex
	t  time.Time
}

func (c *chanTime) set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }
func (c *chanTime) get() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if over := len(t.b) - t.max; over > 0 {
		t.b = append(t.b[:0], t.b[over:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b)
}
