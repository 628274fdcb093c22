package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/tuxboot/tuxboot/runner/device"
)

func devicesMain(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("tuxboot devices", flag.ContinueOnError)
	fs.SetOutput(stderr)
	asJSON := fs.Bool("json", false, "print the table as JSON")
	if err := fs.Parse(args); err != nil {
		return flagExit(err)
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "tuxboot devices: unexpected argument %q\n", fs.Arg(0))
		return exitBadRequest
	}
	devs := device.Builtin().All()
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(devs); err != nil {
			fmt.Fprintf(stderr, "tuxboot devices: %v\n", err)
			return exitInfra
		}
		return exitPass
	}
	w := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "DEVICE\tQEMU\tMACHINE\tCPU\tMEM\tCONSOLE\tKERNEL\tDTB\tDISK (root=)\tKVM ON HOSTS\tSTATUS")
	for _, d := range devs {
		status := "unverified"
		if d.Verified {
			status = "verified"
		}
		kvm := "-"
		if len(d.KVMHosts) > 0 {
			kvm = strings.Join(d.KVMHosts, ",")
		}
		machine := d.Machine
		if len(machine) > 24 {
			machine = machine[:21] + "..."
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%dM\t%s\t%s\t%s\t%s (%s)\t%s\t%s\n", d.Name, d.Binary, machine, d.CPU,
			d.Memory, d.Console, d.KernelFormat, d.DTB, d.Disk.Interface, d.Disk.Root, kvm, status)
	}
	if err := w.Flush(); err != nil {
		return exitInfra
	}
	return exitPass
}
