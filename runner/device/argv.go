package device

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Boot is what one boot puts on a device: local files and settings
// already resolved by the runner.
type Boot struct {
	Kernel     string
	Initrd     string // a cpio initramfs, passed as -initrd
	Disk       string // a disk image, attached per Device.Disk
	DiskFormat string // raw or qcow2
	DTB        string
	BIOS       string
	BootArgs   string // the user's, appended after the device's own
	MemoryMiB  int    // 0 = the device's default
	SMP        int    // 0 = the device's default
	Accel      string // kvm or tcg
	// Console is the chardev backend of the console, e.g. "pty".
	Console string
	// QMP is the path of the QMP unix socket QEMU listens on.
	QMP string
	// Paused starts QEMU stopped (-S), to be resumed over QMP.
	Paused bool
	// GDB, when set, is a TCP address (host:port) for QEMU's gdb stub.
	GDB string
}

// CommandLine is the kernel command line the device gives a boot.
func (d Device) CommandLine(b Boot) string {
	args := []string{"console=" + d.Console}
	if b.Disk != "" {
		args = append(args, "root="+d.Disk.Root, "rw", "rootwait")
	}
	if d.ExtraBootArgs != "" {
		args = append(args, d.ExtraBootArgs)
	}
	if s := strings.TrimSpace(b.BootArgs); s != "" {
		args = append(args, s)
	}
	return strings.Join(args, " ")
}

// Argv is the full QEMU command line (binary first) for a boot.
func (d Device) Argv(binary string, b Boot) ([]string, error) {
	if b.Kernel == "" {
		return nil, errors.New("no kernel")
	}
	if d.DTB == DTBRequired && b.DTB == "" {
		return nil, fmt.Errorf("device %s needs a dtb (--dtb)", d.Name)
	}
	if b.Initrd != "" && b.Disk != "" {
		return nil, errors.New("an initramfs and a disk rootfs are exclusive")
	}
	if binary == "" {
		binary = d.Binary
	}
	mem, smp := d.Memory, d.SMP
	if b.MemoryMiB > 0 {
		mem = b.MemoryMiB
	}
	if b.SMP > 0 {
		smp = b.SMP
	}
	accel := b.Accel
	if accel == "" {
		accel = "tcg"
	}
	cpu := d.CPU
	if accel == "kvm" {
		cpu = "host"
	}
	argv := []string{binary,
		"-machine", d.Machine,
		"-accel", accel,
		"-m", strconv.Itoa(mem) + "M",
		"-smp", strconv.Itoa(smp),
		"-display", "none",
		"-monitor", "none",
		// A reboot ends the boot, like -no-reboot; a power-off pauses the
		// machine so the console can be read to its end before QEMU quits.
		"-action", "reboot=shutdown,shutdown=pause",
	}
	if b.Paused {
		argv = append(argv, "-S")
	}
	if cpu != "" {
		argv = append(argv, "-cpu", cpu)
	}
	if b.QMP != "" {
		argv = append(argv, "-qmp", "unix:"+b.QMP+",server=on,wait=off")
	}
	if b.GDB != "" {
		argv = append(argv, "-gdb", "tcp:"+b.GDB)
	}
	console := b.Console
	if console == "" {
		console = "stdio"
	}
	argv = append(argv, "-chardev", console+",id=console")
	// Ports before the console's get nothing attached, so the console lands
	// on the port the kernel's console= names.
	for i := 0; i < d.SerialIndex; i++ {
		argv = append(argv, "-serial", "null")
	}
	argv = append(argv, "-serial", "chardev:console")
	extra := d.Extra
	if b.BIOS != "" {
		extra = withoutOption(extra, "-bios")
		argv = append(argv, "-bios", b.BIOS)
	}
	argv = append(argv, extra...)
	argv = append(argv, "-kernel", b.Kernel)
	if b.DTB != "" {
		argv = append(argv, "-dtb", b.DTB)
	}
	if b.Initrd != "" {
		argv = append(argv, "-initrd", b.Initrd)
	}
	if b.Disk != "" {
		format := b.DiskFormat
		if format == "" {
			format = "raw"
		}
		// snapshot=on: a boot never changes the image it was given.
		drive := "file=" + qemuEscape(b.Disk) + ",format=" + format + ",snapshot=on"
		if d.Disk.Interface == "ide" || d.Disk.Interface == "scsi" {
			argv = append(argv, "-drive", drive+",if="+d.Disk.Interface)
		} else {
			argv = append(argv, "-drive", drive+",if=none,id=rootfs", "-device", d.Disk.Interface+",drive=rootfs")
		}
	}
	argv = append(argv, "-append", d.CommandLine(b))
	return argv, nil
}

// qemuEscape doubles commas, QEMU's escape inside option values.
func qemuEscape(s string) string { return strings.ReplaceAll(s, ",", ",,") }

// withoutOption drops an option and its value from args.
func withoutOption(args []string, opt string) []string {
	var out []string
	for i := 0; i < len(args); i++ {
		if args[i] == opt {
			i++
			continue
		}
		out = append(out, args[i])
	}
	return out
}
