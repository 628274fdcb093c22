package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"strings"

	"golang.org/x/term"

	"github.com/tuxboot/tuxboot/runner"
)

// attach hands a boot to a person: reproduce's --interactive and --gdb.
type attach struct {
	// interactive attaches the console to stdin and stdout.
	interactive bool
	stdin       io.Reader
	// gdb gives QEMU a gdb stub on a free loopback port and holds the
	// guest at its first instruction until a debugger continues it.
	gdb bool
}

// consoleEscape is the byte that, followed by 'x', ends an interactive
// console: Ctrl-A, as QEMU's own -nographic console has it.
const consoleEscape = 0x01

// setUp makes r's boot attended as at says. It returns the context to
// run the boot with (the escape cancels it) and what to call once the
// boot is over (the terminal is given back its mode).
func (at attach) setUp(ctx context.Context, r *runner.Runner, f *runFlags, stdout, stderr io.Writer) (context.Context, func(), error) {
	if !at.interactive && !at.gdb {
		return ctx, func() {}, nil
	}
	var restore func()
	cancel := context.CancelCauseFunc(func(error) {})
	done := func() {
		if restore != nil {
			restore()
		}
		if at.interactive {
			fmt.Fprintln(stdout) // the console's last line may be unfinished
		}
		cancel(nil)
	}
	if at.gdb {
		addr, err := freeLoopbackAddr()
		if err != nil {
			return ctx, done, fmt.Errorf("--gdb: %w", err)
		}
		r.GDB = addr
	}
	if at.interactive {
		ctx, cancel = context.WithCancelCause(ctx)
		in := at.stdin
		if in == nil {
			in = strings.NewReader("")
		}
		r.ConsoleInput = &escapeReader{r: in, quit: func() { cancel(causeQuit) }}
		if r.Console != nil {
			r.Console = io.MultiWriter(stdout, r.Console)
		} else {
			r.Console = stdout
		}
	}
	r.OnQEMU = func(q runner.QEMUStarted) {
		if at.gdb {
			printGDBHelp(stderr, q, f.req.BootArgs)
		}
		if !at.interactive {
			return
		}
		fmt.Fprintln(stderr, "tuxboot reproduce: the console is yours: Ctrl-A x quits, Ctrl-A Ctrl-A sends Ctrl-A")
		if file, ok := at.stdin.(*os.File); ok && term.IsTerminal(int(file.Fd())) {
			fd := int(file.Fd())
			if old, err := term.MakeRaw(fd); err == nil {
				restore = func() { term.Restore(fd, old) }
			} else {
				fmt.Fprintf(stderr, "tuxboot reproduce: cannot put the terminal in raw mode: %v\n", err)
			}
		}
	}
	return ctx, done, nil
}

// printGDBHelp says how to attach gdb to the boot's stub.
func printGDBHelp(w io.Writer, q runner.QEMUStarted, bootArgs string) {
	fmt.Fprintf(w, `tuxboot reproduce: QEMU waits for a debugger, the guest paused at its first instruction:

    gdb vmlinux -ex 'target remote %s'

  then 'continue' to boot it. vmlinux is the kernel's ELF image with its symbols, from
  the kernel's build tree (Debian: the linux-image-*-dbg package); the kernel file QEMU
  boots is %s.
`, q.GDB, q.Kernel)
	if !strings.Contains(" "+bootArgs+" ", " nokaslr ") {
		args := strings.TrimSpace(bootArgs + " nokaslr")
		fmt.Fprintf(w, "  Add nokaslr to the boot arguments, or the kernel's addresses will not be vmlinux's:\n"+
			"  tuxboot reproduce ... --gdb -- --boot-args '%s'\n", args)
	}
	fmt.Fprintln(w)
}

// freeLoopbackAddr finds a TCP port free on 127.0.0.1 for QEMU to listen on.
func freeLoopbackAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("find a free port: %w", err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr, nil
}

// escapeReader passes a person's keystrokes on, except the escape:
// Ctrl-A x calls quit and ends the input, Ctrl-A Ctrl-A is one Ctrl-A,
// and Ctrl-A followed by anything else passes both on.
type escapeReader struct {
	r       io.Reader
	quit    func()
	escaped bool // the last byte read was Ctrl-A
	buf     []byte
	out     []byte // read, not yet returned
	err     error  // the input's end, returned once out is empty
}

func (e *escapeReader) Read(p []byte) (int, error) {
	for len(e.out) == 0 {
		if e.err != nil {
			return 0, e.err
		}
		if e.buf == nil {
			e.buf = make([]byte, 4096)
		}
		n, err := e.r.Read(e.buf)
		e.err = err
	chunk:
		for _, c := range e.buf[:n] {
			if e.escaped {
				e.escaped = false
				switch c {
				case 'x', 'X':
					e.quit()
					e.err = io.EOF
					break chunk
				case consoleEscape:
					e.out = append(e.out, c)
				default:
					e.out = append(e.out, consoleEscape, c)
				}
				continue
			}
			if c == consoleEscape {
				e.escaped = true
				continue
			}
			e.out = append(e.out, c)
		}
	}
	n := copy(p, e.out)
	e.out = e.out[n:]
	return n, nil
}
