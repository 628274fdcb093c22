// Command tuxboot boots Linux kernels under QEMU and says what happened.
//
//	tuxboot run --device qemu-arm64 --kernel Image --rootfs rootfs.cpio.gz
//	tuxboot devices [--json]
//	tuxboot analyze FILE|- [--json]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"syscall"
)

// Exit statuses, shared by every subcommand.
const (
	exitPass       = 0
	exitFail       = 1
	exitBadRequest = 2
	exitInfra      = 3
)

const usage = `usage: tuxboot COMMAND [flags]

Commands:
  run       boot a kernel under QEMU here and report the result
  devices   list the devices TuxBoot can boot
  serve     run TuxBoot here: embedded NATS, controller, local runners, HTTP API
  controller take boot requests off NATS and run them (--nats URL --executor local)
  api       serve the HTTP API alone, on an external NATS (--nats URL)
  runner    run one boot of a controller's and publish it to NATS
  analyze   analyse a saved console log
  submit    send a boot to a TuxBoot server (--wait to wait for its result)
  plan      send a plan (YAML or JSON) of boots to a TuxBoot server (--wait to follow them)
  status    show a submitted test's status (JSON)
  logs      print a test's console log (--follow: live until it ends)
  results   print a test's results.json
  cancel    cancel a test
  reproduce boot here what a server booted (UID or status/results JSON file;
            --interactive: the console is yours; --gdb: wait for a debugger)
  version   print the version

Run 'tuxboot COMMAND -h' or 'tuxboot help COMMAND' for a command's flags.
Exit status: 0 pass, 1 fail, 2 bad request, 3 infrastructure error.
`

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	ctx, stop := signalContext(context.Background())
	code := dispatch(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// signalContext is parent until the first SIGINT or SIGTERM, which cancels
// it with a cause naming the signal (a result's "interrupted by SIGINT")
// and gives the signals back their default action: the first signal asks
// for an orderly stop, a second one kills.
func signalContext(parent context.Context) (context.Context, func()) {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	ctx, cancel := context.WithCancelCause(parent)
	go func() {
		select {
		case s := <-sigs:
			cancel(signalCause(s))
		case <-ctx.Done():
		}
		signal.Stop(sigs)
	}()
	return ctx, func() { cancel(nil) }
}

// stopCause is why a command's context was canceled, in the words a
// result's failure message shows. It is a context.Canceled all the same.
type stopCause string

func (c stopCause) Error() string { return string(c) }

func (c stopCause) Is(target error) bool { return target == context.Canceled }

// Causes of a canceled boot.
const (
	// causeCanceled is a runner's boot canceled through the API, or
	// stopped by its controller.
	causeCanceled = stopCause("canceled")
	// causeQuit is an interactive console quit with its escape.
	causeQuit = stopCause("quit with Ctrl-A x")
)

// signalCause is the cause of a context canceled by signal s.
func signalCause(s os.Signal) error {
	name := s.String()
	switch s {
	case syscall.SIGINT:
		name = "SIGINT"
	case syscall.SIGTERM:
		name = "SIGTERM"
	}
	return stopCause("interrupted by " + name)
}

func dispatch(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitBadRequest
	}
	switch cmd, rest := args[0], args[1:]; cmd {
	case "run":
		return runMain(ctx, rest, stdout, stderr)
	case "devices":
		return devicesMain(rest, stdout, stderr)
	case "serve":
		return serveMain(ctx, rest, stdout, stderr)
	case "controller":
		return controllerMain(ctx, rest, stdout, stderr)
	case "api":
		return apiMain(ctx, rest, stdout, stderr)
	case "runner":
		return runnerMain(ctx, rest, stdout, stderr)
	case "analyze", "analyse":
		return analyzeMain(ctx, rest, stdin, stdout, stderr)
	case "submit":
		return submitMain(ctx, rest, stdout, stderr)
	case "plan":
		return planMain(ctx, rest, stdout, stderr)
	case "status":
		return statusMain(ctx, rest, stdout, stderr)
	case "logs":
		return logsMain(ctx, rest, stdout, stderr)
	case "results":
		return resultsMain(ctx, rest, stdout, stderr)
	case "cancel":
		return cancelMain(ctx, rest, stdout, stderr)
	case "reproduce":
		return reproduceMain(ctx, rest, stdin, stdout, stderr)
	case "version", "--version":
		fmt.Fprintln(stdout, "tuxboot", version)
		return exitPass
	case "help", "-h", "--help":
		if cmd == "help" && len(rest) > 0 && !slices.Contains([]string{"help", "-h", "--help"}, rest[0]) {
			return dispatch(ctx, []string{rest[0], "-h"}, stdin, stdout, stderr) // tuxboot help run
		}
		fmt.Fprint(stdout, usage)
		return exitPass
	default:
		fmt.Fprintf(stderr, "tuxboot: unknown command %q\n\n%s", cmd, usage)
		return exitBadRequest
	}
}

// flagExit is the exit status of a command whose flags did not parse:
// success for -h, a bad request otherwise (the flag package has said why).
func flagExit(err error) int {
	if errors.Is(err, flag.ErrHelp) {
		return exitPass
	}
	return exitBadRequest
}
