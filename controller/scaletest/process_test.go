package scaletest

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// buildTuxboot builds the tuxboot binary the controller runs as.
func buildTuxboot(t *testing.T) string {
	goBin := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(goBin); err != nil {
		goBin = "go"
	}
	out := filepath.Join(t.TempDir(), "tuxboot")
	cmd := exec.Command(goBin, "build", "-o", out, "github.com/tuxboot/tuxboot/cmd/tuxboot")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build tuxboot: %v\n%s", err, b)
	}
	return out
}

// controllerProc is `tuxboot controller`, run, killed and run again.
type controllerProc struct {
	t    *testing.T
	bin  string
	args []string
	dir  string

	n      int // incarnations
	cmd    *exec.Cmd
	exited chan struct{}

	// Of the incarnations that ended.
	cpu     time.Duration
	peakRSS int64 // bytes
}

// start starts a new incarnation.
func (c *controllerProc) start() {
	c.n++
	logf, err := os.Create(filepath.Join(c.dir, fmt.Sprintf("controller-%d.log", c.n)))
	if err != nil {
		c.t.Fatal(err)
	}
	cmd := exec.Command(c.bin, append([]string{"controller"}, c.args...)...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Env = append(os.Environ(), "POD_NAME=controller-"+strconv.Itoa(c.n))
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		c.t.Fatalf("start controller: %v", err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); logf.Close(); close(exited) }()
	c.cmd, c.exited = cmd, exited
}

// stop ends the running incarnation: SIGKILL when kill, else SIGTERM and
// a wait for its shutdown. Its CPU time and peak memory are added up
// just before.
func (c *controllerProc) stop(kill bool) {
	if c.cmd == nil {
		return
	}
	c.sample()
	sig := syscall.SIGTERM
	if kill {
		sig = syscall.SIGKILL
	}
	c.cmd.Process.Signal(sig)
	select {
	case <-c.exited:
	case <-time.After(30 * time.Second):
		syscall.Kill(-c.cmd.Process.Pid, syscall.SIGKILL)
		<-c.exited
	}
	c.cmd = nil
}

// sample reads the running incarnation's CPU time and peak RSS from /proc.
func (c *controllerProc) sample() {
	pid := c.cmd.Process.Pid
	if stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil {
		// Fields after the command's closing parenthesis; utime and
		// stime are the 14th and 15th of the whole line.
		if i := bytes.LastIndexByte(stat, ')'); i > 0 {
			f := strings.Fields(string(stat[i+1:]))
			if len(f) > 13 {
				u, _ := strconv.ParseInt(f[11], 10, 64)
				s, _ := strconv.ParseInt(f[12], 10, 64)
				c.cpu += time.Duration(u+s) * time.Second / 100 // USER_HZ
			}
		}
	}
	if status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid)); err == nil {
		for _, l := range strings.Split(string(status), "\n") {
			if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
				kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
				c.peakRSS = max(c.peakRSS, kb<<10)
			}
		}
	}
}

// log returns the last lines of every incarnation's log.
func (c *controllerProc) log(lines int) string {
	var b strings.Builder
	for i := 1; i <= c.n; i++ {
		data, _ := os.ReadFile(filepath.Join(c.dir, fmt.Sprintf("controller-%d.log", i)))
		ls := strings.Split(string(data), "\n")
		fmt.Fprintf(&b, "--- controller-%d.log (last %d lines)\n%s\n", i, lines, strings.Join(ls[max(0, len(ls)-lines):], "\n"))
	}
	return b.String()
}
