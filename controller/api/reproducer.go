package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/tuxboot/tuxboot/controller/store"
	"github.com/tuxboot/tuxboot/runner/boot"
)

// RunArgs are the `tuxboot run` flags that make the same request again.
// With res (results.json) every artefact it fetched is pinned to the
// digest it had, so a reproduction boots exactly those files or refuses.
func RunArgs(req boot.Request, res *boot.Result) []string {
	args := []string{"--device", req.Device, "--kernel", req.Kernel}
	opt := func(flag, v string) {
		if v != "" {
			args = append(args, "--"+flag, v)
		}
	}
	opt("rootfs", req.Rootfs)
	opt("modules", req.Modules)
	opt("dtb", req.DTB)
	opt("bios", req.BIOS)
	for _, o := range req.Overlays {
		opt("overlay", o)
	}
	opt("boot-args", req.BootArgs)
	for _, t := range req.Tests {
		opt("tests", t)
	}
	var timeouts []string
	for _, t := range []struct {
		name string
		n    int
	}{{"boot", req.Timeouts.Boot}, {"tests", req.Timeouts.Tests}, {"no_output", req.Timeouts.NoOutput}, {"overall", req.Timeouts.Overall}} {
		if t.n > 0 {
			timeouts = append(timeouts, t.name+"="+strconv.Itoa(t.n))
		}
	}
	opt("timeouts", strings.Join(timeouts, ","))
	if req.Accel != "" && req.Accel != "auto" {
		opt("accel", req.Accel)
	}
	opt("memory", req.Memory)
	if req.SMP > 0 {
		opt("smp", strconv.Itoa(req.SMP))
	}
	opt("qemu-binary", req.QEMUBinary)
	for _, f := range req.Fatal {
		opt("fatal", f)
	}
	sums := map[string]string{}
	for name, sum := range req.SHA256 {
		sums[name] = sum
	}
	if res != nil {
		for name, a := range res.Artefacts {
			if a.SHA256 != "" {
				sums[name] = a.SHA256
			}
		}
	}
	names := make([]string, 0, len(sums))
	for name := range sums {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		opt("sha256", name+"="+sums[name])
	}
	return args
}

// shellQuote quotes s for a POSIX shell.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_=./:,+@%") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// Reproducer is a shell script that runs the boot again with `tuxboot run`.
func Reproducer(rec *store.Record, res *boot.Result) string {
	var b strings.Builder
	b.WriteString("#!/bin/sh\n")
	fmt.Fprintf(&b, "# Reproduces TuxBoot test %s (%s/%s), which ended %s.\n", rec.ID, rec.Group, rec.Project, orDefault(rec.Result, "(not yet)"))
	if res == nil {
		b.WriteString("# The test has no results.json yet: artefacts are not pinned by digest.\n")
	}
	b.WriteString("# Extra arguments are passed on, e.g. --results results.json --log-file console.log\n")
	b.WriteString("exec tuxboot run")
	args := RunArgs(rec.Request, res)
	for i := 0; i < len(args); i += 2 {
		fmt.Fprintf(&b, " \\\n  %s %s", args[i], shellQuote(args[i+1]))
	}
	b.WriteString(" \\\n  \"$@\"\n")
	return b.String()
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func (s *Server) reproducer(w http.ResponseWriter, r *http.Request, rec *store.Record) {
	var res *boot.Result
	if rec.ResultObject != "" {
		data, err := s.Queue.Objects.GetBytes(r.Context(), rec.ResultObject)
		if err != nil {
			writeError(w, http.StatusServiceUnavailable, "cannot read results.json: "+err.Error())
			return
		}
		res = &boot.Result{}
		if err := json.Unmarshal(data, res); err != nil {
			writeError(w, http.StatusInternalServerError, "cannot decode results.json: "+err.Error())
			return
		}
	}
	w.Header().Set("Content-Type", "text/x-shellscript; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="reproduce-`+rec.ID+`.sh"`)
	w.Write([]byte(Reproducer(rec, res)))
}
