package main

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nuid"

	"github.com/tuxboot/tuxboot/runner/boot"
)

func TestEscapeReader(t *testing.T) {
	tests := []struct {
		name   string
		chunks []string
		want   string
		quit   bool
	}{
		{"plain", []string{"ls\r", "exit\r"}, "ls\rexit\r", false},
		{"Ctrl-A x quits, the rest is not sent", []string{"ab\x01xcd"}, "ab", true},
		{"Ctrl-A X quits", []string{"\x01X"}, "", true},
		{"across reads", []string{"ab\x01", "x", "cd"}, "ab", true},
		{"Ctrl-A Ctrl-A is one Ctrl-A", []string{"a\x01\x01b"}, "a\x01b", false},
		{"Ctrl-A then another key passes both", []string{"\x01c", "\x01", "d"}, "\x01c\x01d", false},
		{"a lone Ctrl-A at the end is dropped", []string{"a\x01"}, "a", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			quit := false
			r := &escapeReader{r: &chunkReader{chunks: tt.chunks}, quit: func() { quit = true }}
			var got []byte
			buf := make([]byte, 1) // the smallest reads: nothing may be lost between them
			for {
				n, err := r.Read(buf)
				got = append(got, buf[:n]...)
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
			}
			if string(got) != tt.want || quit != tt.quit {
				t.Errorf("got %q quit %v, want %q quit %v", got, quit, tt.want, tt.quit)
			}
		})
	}
}

// chunkReader yields its chunks one Read each.
type chunkReader struct{ chunks []string }

func (c *chunkReader) Read(p []byte) (int, error) {
	if len(c.chunks) == 0 {
		return 0, io.EOF
	}
	n := copy(p, c.chunks[0])
	if c.chunks[0] = c.chunks[0][n:]; c.chunks[0] == "" {
		c.chunks = c.chunks[1:]
	}
	return n, nil
}

// reproduceFile writes what `tuxboot status` prints of a finished test
// of a real arm64 boot: the request, and results.json with the artefacts'
// digests, which reproduce pins. kernelSum replaces the kernel's digest.
func reproduceFile(t *testing.T, dir, bootArgs, kernelSum string) (string, boot.Request) {
	t.Helper()
	req := realRequest(t, "arm64", "qemu-arm64", bootArgs)
	sum := func(path string) string {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		s := sha256.Sum256(data)
		return hex.EncodeToString(s[:])
	}
	if kernelSum == "" {
		kernelSum = sum(req.Kernel)
	}
	status := map[string]any{
		"uid": "reproduced", "request": req,
		"results_json": boot.Result{Result: boot.Pass, Device: req.Device, Artefacts: map[string]boot.Artefact{
			"kernel": {Source: req.Kernel, SHA256: kernelSum},
			"rootfs": {Source: req.Rootfs, SHA256: sum(req.Rootfs)},
		}},
	}
	data, _ := json.Marshal(status)
	file := filepath.Join(dir, "status-"+nuid.Next()+".json")
	if err := os.WriteFile(file, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return file, req
}

// reproduceProc is `tuxboot reproduce` as a child process with its own
// stdin, stdout and stderr, all pipes: not a terminal.
type reproduceProc struct {
	cmd            *exec.Cmd
	stdin          io.WriteCloser
	stdout, stderr *syncBuffer
	exited         chan struct{}
}

func startReproduce(t *testing.T, tag string, args ...string) *reproduceProc {
	t.Helper()
	p := &reproduceProc{cmd: exec.Command(os.Args[0], append([]string{"reproduce"}, args...)...),
		stdout: &syncBuffer{}, stderr: &syncBuffer{}, exited: make(chan struct{})}
	p.cmd.Env = append(os.Environ(), "TUXBOOT_TEST_MAIN=1", testTagEnv+"="+tag)
	p.cmd.Stdout, p.cmd.Stderr = p.stdout, p.stderr
	var err error
	if p.stdin, err = p.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.cmd.Wait(); close(p.exited) }()
	t.Cleanup(func() {
		p.stdin.Close()
		select {
		case <-p.exited:
		default:
			p.cmd.Process.Signal(os.Interrupt)
			select {
			case <-p.exited:
			case <-time.After(30 * time.Second):
				p.cmd.Process.Kill()
				<-p.exited
			}
		}
		if t.Failed() {
			t.Logf("reproduce stdout:\n%s\nstderr:\n%s", tail(p.stdout.String(), 40), tail(p.stderr.String(), 40))
		}
	})
	return p
}

// waitFor waits until what says is in one of the child's outputs.
func (p *reproduceProc) waitFor(t *testing.T, out *syncBuffer, what *regexp.Regexp, within time.Duration) []string {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		if m := what.FindStringSubmatch(out.String()); m != nil {
			return m
		}
		select {
		case <-p.exited:
			if m := what.FindStringSubmatch(out.String()); m != nil {
				return m
			}
			t.Fatalf("reproduce exited (%v) before printing %q", p.cmd.ProcessState, what)
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %q within %s", what, within)
		}
	}
}

// wait waits for the child to exit and returns its status.
func (p *reproduceProc) wait(t *testing.T, within time.Duration) int {
	t.Helper()
	select {
	case <-p.exited:
		return p.cmd.ProcessState.ExitCode()
	case <-time.After(within):
		t.Fatalf("reproduce still running after %s", within)
		return -1
	}
}

// taggedQEMU lists the QEMU processes among those carrying tag.
func taggedQEMU(tag string) []int {
	var out []int
	for _, pid := range taggedPIDs(tag) {
		comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
		if err == nil && strings.HasPrefix(string(comm), "qemu-system") {
			out = append(out, pid)
		}
	}
	return out
}

// gdbPacket sends a GDB remote-protocol packet and returns the answer's
// payload, checking the acknowledgement and the answer's checksum.
func gdbPacket(conn net.Conn, r *bufio.Reader, payload string) (string, error) {
	sum := 0
	for _, c := range []byte(payload) {
		sum += int(c)
	}
	if _, err := fmt.Fprintf(conn, "$%s#%02x", payload, sum&0xff); err != nil {
		return "", err
	}
	if ack, err := r.ReadByte(); err != nil || ack != '+' {
		return "", fmt.Errorf("no ack of %q: %q %v", payload, ack, err)
	}
	if payload == "c" {
		return "", nil // the answer comes when the guest stops again
	}
	if _, err := r.ReadString('$'); err != nil {
		return "", err
	}
	body, err := r.ReadString('#')
	if err != nil {
		return "", err
	}
	body = strings.TrimSuffix(body, "#")
	check := make([]byte, 2)
	if _, err := io.ReadFull(r, check); err != nil {
		return "", err
	}
	sum = 0
	for _, c := range []byte(body) {
		sum += int(c)
	}
	if fmt.Sprintf("%02x", sum&0xff) != string(check) {
		return "", fmt.Errorf("answer %q: checksum %s, want %02x", body, check, sum&0xff)
	}
	conn.Write([]byte("+"))
	return body, nil
}

// TestReproduceGDB reproduces a real arm64 boot with --gdb: QEMU waits,
// the guest held at its first instruction, until a debugger, here a
// minimal GDB remote-protocol client, asks why it stopped and continues
// it; then the boot runs to its verdict.
func TestReproduceGDB(t *testing.T) {
	if testing.Short() {
		t.Skip("boots QEMU")
	}
	dir := t.TempDir()
	tag := nuid.Next()
	t.Cleanup(func() { reapTagged(t, tag, 30*time.Second) })
	cache := filepath.Join(dir, "cache")

	// Pinned artefacts are checked before QEMU starts: a digest that does
	// not match is refused.
	wrong, _ := reproduceFile(t, dir, "", strings.Repeat("0", 64))
	p := startReproduce(t, tag, "--gdb", wrong, "--", "--cache-dir", cache, "--quiet")
	if code := p.wait(t, 2*time.Minute); code != exitBadRequest || strings.Contains(p.stderr.String(), "target remote") {
		t.Errorf("a kernel whose digest differs: exit %d, want %d before QEMU starts\n%s%s", code, exitBadRequest, p.stdout.String(), p.stderr.String())
	}

	file, req := reproduceFile(t, dir, "", "")
	results := filepath.Join(dir, "results.json")
	p = startReproduce(t, tag, "--gdb", file, "--", "--cache-dir", cache, "--results", results, "--quiet")
	m := p.waitFor(t, p.stderr, regexp.MustCompile(`gdb vmlinux -ex 'target remote (127\.0\.0\.1:\d+)'`), 3*time.Minute)
	help := p.stderr.String()
	if !strings.Contains(help, "nokaslr") || !strings.Contains(help, "the kernel file QEMU\n  boots is /") {
		t.Errorf("the help says nothing of nokaslr or of the kernel file:\n%s", help)
	}
	conn, err := net.DialTimeout("tcp", m[1], 10*time.Second)
	if err != nil {
		t.Fatalf("connect to the gdb stub at %s: %v", m[1], err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(time.Minute))
	r := bufio.NewReader(conn)
	stop, err := gdbPacket(conn, r, "?")
	if err != nil || (!strings.HasPrefix(stop, "S") && !strings.HasPrefix(stop, "T")) {
		t.Fatalf("stop reply to '?': %q %v", stop, err)
	}
	// Held, not booting: it waits for the debugger however long it
	// takes, its registers as they were.
	regs, err := gdbPacket(conn, r, "g")
	if err != nil || !regexp.MustCompile(`^[0-9a-fx]{64,}$`).MatchString(regs) {
		t.Fatalf("read the stopped guest's registers: %q %v", regs, err)
	}
	time.Sleep(2 * time.Second)
	if again, err := gdbPacket(conn, r, "g"); err != nil || again != regs {
		t.Errorf("the held guest's registers changed: %v\n%s\n%s", err, regs, again)
	}
	select {
	case <-p.exited:
		t.Fatalf("reproduce ended before the debugger continued the guest:\n%s", p.stdout.String())
	default:
	}
	if _, err := gdbPacket(conn, r, "c"); err != nil {
		t.Fatal(err)
	}
	if code := p.wait(t, 5*time.Minute); code != exitPass || !strings.Contains(p.stdout.String(), "result: pass") {
		t.Fatalf("reproduce --gdb after continue: exit %d\n%s", code, p.stdout.String())
	}
	var res boot.Result
	data, _ := os.ReadFile(results)
	if err := json.Unmarshal(data, &res); err != nil || res.Result != boot.Pass || !strings.Contains(strings.Join(res.QEMU.Argv, " "), "-gdb tcp:"+m[1]) {
		t.Errorf("results: %v %s %v", err, res.Result, res.QEMU.Argv)
	}
	if res.Artefacts["kernel"].Source != req.Kernel || res.Artefacts["kernel"].SHA256 == "" {
		t.Errorf("kernel artefact %+v", res.Artefacts["kernel"])
	}
}

// TestReproduceInteractive reproduces real arm64 boots with the console
// on the child's stdin and stdout, pipes here: the console's output
// arrives, keystrokes reach the guest (its tty echoes them), the boot
// ends by itself when the guest powers off, and Ctrl-A x ends it at once.
func TestReproduceInteractive(t *testing.T) {
	if testing.Short() {
		t.Skip("boots QEMU")
	}
	dir := t.TempDir()
	tag := nuid.Next()
	t.Cleanup(func() { reapTagged(t, tag, 30*time.Second) })
	cache := filepath.Join(dir, "cache")
	initOutput := regexp.MustCompile(`TUXBOOT-INIT: aarch64 `)

	t.Run("powered off by the guest", func(t *testing.T) {
		file, _ := reproduceFile(t, dir, "tuxboot.mode=pass", "")
		p := startReproduce(t, tag, "--interactive", file, "--", "--cache-dir", cache)
		p.waitFor(t, p.stdout, initOutput, 3*time.Minute)
		if code := p.wait(t, 3*time.Minute); code != exitPass {
			t.Errorf("exit %d after the guest powered off, want %d", code, exitPass)
		}
		out := p.stdout.String()
		if !strings.Contains(out, "<LAVA_SIGNAL_ENDRUN 0_smoke smoke>") || !strings.Contains(out, "result: pass") {
			t.Errorf("the console or the result is missing from stdout:\n%s", tail(out, 20))
		}
		if !strings.Contains(p.stderr.String(), "Ctrl-A x quits") {
			t.Errorf("the escape is not told:\n%s", p.stderr.String())
		}
	})

	t.Run("typed into, then quit", func(t *testing.T) {
		file, _ := reproduceFile(t, dir, "tuxboot.mode=hang", "")
		p := startReproduce(t, tag, "--interactive", file, "--", "--cache-dir", cache)
		p.waitFor(t, p.stdout, initOutput, 3*time.Minute)
		typed := "typed-by-" + nuid.Next()
		if _, err := io.WriteString(p.stdin, typed+"\r"); err != nil {
			t.Fatal(err)
		}
		p.waitFor(t, p.stdout, regexp.MustCompile(regexp.QuoteMeta(typed)), time.Minute)
		if len(taggedQEMU(tag)) == 0 {
			t.Error("no QEMU of this test is running while the guest hangs")
		}
		if _, err := io.WriteString(p.stdin, "\x01x"); err != nil {
			t.Fatal(err)
		}
		if code := p.wait(t, time.Minute); code != exitInfra || !strings.Contains(p.stdout.String(), "failure: interrupted") {
			t.Errorf("Ctrl-A x: exit %d, want %d (interrupted)\n%s", code, exitInfra, tail(p.stdout.String(), 10))
		}
		if out := p.stdout.String(); !strings.Contains(out, "quit with Ctrl-A x") || strings.Contains(out, "context canceled") {
			t.Errorf("Ctrl-A x: the summary does not say the console was quit\n%s", tail(out, 10))
		}
		if pids := taggedQEMU(tag); len(pids) > 0 {
			t.Errorf("QEMU %v still running after reproduce exited", pids)
		}
	})
}
