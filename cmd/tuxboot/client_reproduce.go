package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"slices"
	"strings"

	"github.com/tuxboot/tuxboot/controller/api"
	"github.com/tuxboot/tuxboot/runner/boot"
)

// reproduceMain is `tuxboot reproduce UID|FILE [--interactive] [--gdb]
// [-- run flags]`: boot here, through `tuxboot run`'s own code, what a
// TuxBoot server booted, with every artefact pinned to the digest
// results.json recorded. FILE is the output of `tuxboot status` (the
// request and results.json) or a bare results.json, which lacks the
// request's boot arguments and timeouts. --interactive gives the console
// to stdin and stdout (Ctrl-A x quits); --gdb holds the guest at its
// first instruction for gdb on a loopback port. Either lifts the
// timeouts: the boot ends when the guest powers off or the person quits.
func reproduceMain(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	var runArgs []string
	if i := slices.Index(args, "--"); i >= 0 {
		args, runArgs = args[:i], args[i+1:]
	}
	at := attach{stdin: stdin}
	const operand = `UID|status.json|results.json [-- RUN FLAGS]

Boots here what the server booted: the test UID on the server, or a saved
status or results JSON file. RUN FLAGS after -- are tuxboot run's, added
to the original's; --boot-args adds to the original boot's arguments.`
	c, target, code := clientCommand("reproduce", operand, args, stderr, func(fs *flag.FlagSet) {
		fs.BoolVar(&at.interactive, "interactive", false, "attach the serial console to this terminal (keystrokes to the guest; Ctrl-A x quits); no timeouts")
		fs.BoolVar(&at.gdb, "gdb", false, "start QEMU with a gdb stub on a free loopback port, the guest paused at its first instruction; no timeouts")
	})
	if code >= 0 {
		return code
	}
	var req boot.Request
	var res *boot.Result
	if data, err := os.ReadFile(target); err == nil {
		req, res, err = parseReproduceFile(data)
		if err != nil {
			fmt.Fprintf(stderr, "tuxboot reproduce: %s: %v\n", target, err)
			return exitBadRequest
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		fmt.Fprintln(stderr, "tuxboot reproduce:", err)
		return exitBadRequest
	} else {
		v, err := c.status(ctx, target)
		if err != nil {
			fmt.Fprintln(stderr, "tuxboot reproduce:", err)
			return exitCode(err)
		}
		req, res = v.Request, v.Results
		if res == nil {
			// The status object carries results.json once finished; ask for it directly otherwise.
			var r boot.Result
			if err := c.getJSON(ctx, "GET", "/"+url.PathEscape(target)+"/results", nil, &r); err == nil {
				res = &r
			}
		}
	}
	if res == nil {
		fmt.Fprintln(stderr, "tuxboot reproduce: no results.json yet: the artefacts are not pinned by digest")
	} else {
		fmt.Fprintf(stderr, "tuxboot reproduce: the original boot's result was %s\n", res.Result)
	}
	runArgs = addBootArgs(&req, runArgs)
	return runBoot(ctx, append(api.RunArgs(req, res), runArgs...), stdout, stderr, at)
}

// addBootArgs takes --boot-args out of the extra run flags and adds them
// to the request's own, which a later --boot-args would otherwise
// replace: `-- --boot-args nokaslr` must not drop what made the boot fail.
func addBootArgs(req *boot.Request, runArgs []string) []string {
	var rest []string
	for i := 0; i < len(runArgs); i++ {
		a := runArgs[i]
		var extra string
		switch {
		case a == "--boot-args" || a == "-boot-args":
			if i+1 >= len(runArgs) {
				return append(rest, runArgs[i:]...) // run's own parser says what is missing
			}
			extra = runArgs[i+1]
			i++
		case strings.HasPrefix(a, "--boot-args=") || strings.HasPrefix(a, "-boot-args="):
			_, extra, _ = strings.Cut(a, "=")
		default:
			rest = append(rest, a)
			continue
		}
		req.BootArgs = strings.TrimSpace(req.BootArgs + " " + extra)
	}
	return rest
}

// parseReproduceFile reads a status object or a results.json.
func parseReproduceFile(data []byte) (boot.Request, *boot.Result, error) {
	var v api.View
	if err := json.Unmarshal(data, &v); err != nil {
		return boot.Request{}, nil, fmt.Errorf("not JSON: %w", err)
	}
	if v.Request.Device != "" {
		return v.Request, v.Results, nil
	}
	var res boot.Result
	if err := json.Unmarshal(data, &res); err != nil || res.Device == "" || res.Artefacts["kernel"].Source == "" {
		return boot.Request{}, nil, errors.New("neither a status object nor a results.json with a kernel")
	}
	req := boot.Request{Device: res.Device}
	for name, dst := range map[string]*string{"kernel": &req.Kernel, "rootfs": &req.Rootfs, "modules": &req.Modules, "dtb": &req.DTB, "bios": &req.BIOS} {
		*dst = res.Artefacts[name].Source
	}
	for i := 0; ; i++ {
		a, ok := res.Artefacts[fmt.Sprintf("overlay-%d", i)]
		if !ok {
			break
		}
		req.Overlays = append(req.Overlays, a.Source)
	}
	return req, &res, nil
}
