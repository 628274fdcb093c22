package device

import (
	"strings"
	"testing"
)

// Every device tuxrun offers under QEMU, plus loongarch64, must be here.
func TestBuiltinCoversTuxrunDevices(t *testing.T) {
	table := Builtin()
	for _, name := range []string{"qemu-arm64", "qemu-arm64be", "qemu-armv5", "qemu-armv7", "qemu-armv7be", "qemu-i386",
		"qemu-m68k", "qemu-mips32", "qemu-mips32el", "qemu-mips64", "qemu-mips64el", "qemu-ppc32", "qemu-ppc64",
		"qemu-ppc64le", "qemu-riscv32", "qemu-riscv64", "qemu-s390", "qemu-sh4", "qemu-sparc64", "qemu-x86_64",
		"qemu-loongarch64"} {
		d, err := table.Lookup(name)
		if err != nil {
			t.Errorf("Lookup(%q): %v", name, err)
			continue
		}
		if !strings.HasPrefix(d.Binary, "qemu-system-") || d.KernelFormat == "" || d.Disk.Root == "" || d.Disk.Interface == "" {
			t.Errorf("%s: incomplete row %+v", name, d)
		}
	}
}

func TestLookupUnknownNamesTheKnown(t *testing.T) {
	_, err := Builtin().Lookup("qemu-vax")
	if err == nil || !strings.Contains(err.Error(), `"qemu-vax"`) || !strings.Contains(err.Error(), "qemu-arm64") {
		t.Fatalf("Lookup(qemu-vax) = %v, want an error naming the device and the known ones", err)
	}
}

func TestNewTableRefusesBadRows(t *testing.T) {
	good := Device{Name: "a", Arch: "x", Binary: "qemu-system-x", Machine: "m", Console: "ttyS0", Memory: 1, SMP: 1}
	noConsole := good
	noConsole.Console = ""
	noMemory := good
	noMemory.Memory = 0
	for _, rows := range [][]Device{{good, good}, {noConsole}, {noMemory}} {
		if _, err := NewTable(rows); err == nil {
			t.Errorf("NewTable(%+v) accepted", rows)
		}
	}
}

func TestArgv(t *testing.T) {
	table := Builtin()
	tests := []struct {
		device  string
		boot    Boot
		want    []string // must appear, in order, as adjacent pairs
		without []string
		cmdline string
	}{
		{"qemu-arm64", Boot{Kernel: "/k", Initrd: "/r.cpio", Console: "pty", QMP: "/q.sock", Paused: true},
			[]string{"qemu-system-aarch64", "-machine virt", "-accel tcg", "-m 512M", "-S", "-cpu cortex-a57", "-chardev pty,id=console", "-serial chardev:console", "-kernel /k", "-initrd /r.cpio"},
			[]string{"-drive", "-gdb"}, "console=ttyAMA0"},
		{"qemu-arm64", Boot{Kernel: "/k", Console: "pty", QMP: "/q.sock", Paused: true, GDB: "127.0.0.1:1234"},
			[]string{"-S", "-gdb tcp:127.0.0.1:1234", "-kernel /k"}, nil, "console=ttyAMA0"},
		{"qemu-x86_64", Boot{Kernel: "/k", Disk: "/d,x.img", DiskFormat: "qcow2", BootArgs: " quiet ", MemoryMiB: 1024, SMP: 2, Accel: "kvm"},
			[]string{"-accel kvm", "-m 1024M", "-smp 2", "-cpu host", "-drive file=/d,,x.img,format=qcow2,snapshot=on,if=none,id=rootfs", "-device virtio-blk-pci,drive=rootfs"},
			[]string{"-S", "-initrd"}, "console=ttyS0 root=/dev/vda rw rootwait quiet"},
		{"qemu-mips64el", Boot{Kernel: "/k", Disk: "/d.img"},
			[]string{"-drive file=/d.img,format=raw,snapshot=on,if=ide"}, nil, "console=ttyS0 root=/dev/sda rw rootwait"},
		{"qemu-riscv64", Boot{Kernel: "/k"}, []string{"-bios default"}, nil, "console=ttyS0"},
		{"qemu-riscv64", Boot{Kernel: "/k", BIOS: "/fw.bin"}, []string{"-bios /fw.bin"}, []string{"default"}, "console=ttyS0"},
		{"qemu-sh4", Boot{Kernel: "/k"}, []string{"-serial null", "-serial chardev:console"}, nil, "console=ttySC1"},
		{"qemu-s390", Boot{Kernel: "/k", Disk: "/d.img"}, []string{"-device virtio-blk-ccw,drive=rootfs"}, nil, "console=ttysclp0 root=/dev/vda rw rootwait"},
	}
	for _, tt := range tests {
		t.Run(tt.device, func(t *testing.T) {
			d, err := table.Lookup(tt.device)
			if err != nil {
				t.Fatal(err)
			}
			argv, err := d.Argv("", tt.boot)
			if err != nil {
				t.Fatal(err)
			}
			joined := " " + strings.Join(argv, " ") + " "
			pos := 0
			for _, w := range tt.want {
				i := strings.Index(joined[pos:], " "+w+" ")
				if i < 0 {
					t.Fatalf("argv %q lacks %q (in order)", argv, w)
				}
				pos += i
			}
			for _, w := range tt.without {
				if strings.Contains(joined, w) {
					t.Errorf("argv %q has %q", argv, w)
				}
			}
			if got := argv[len(argv)-1]; got != tt.cmdline || argv[len(argv)-2] != "-append" {
				t.Errorf("command line = %q, want %q", got, tt.cmdline)
			}
		})
	}
}

func TestArgvRefuses(t *testing.T) {
	table := Builtin()
	armv5, _ := table.Lookup("qemu-armv5")
	x86, _ := table.Lookup("qemu-x86_64")
	for name, c := range map[string]struct {
		d Device
		b Boot
	}{
		"no kernel":       {x86, Boot{}},
		"dtb required":    {armv5, Boot{Kernel: "/k"}},
		"initrd and disk": {x86, Boot{Kernel: "/k", Initrd: "/i", Disk: "/d"}},
	} {
		if _, err := c.d.Argv("", c.b); err == nil {
			t.Errorf("%s: Argv accepted", name)
		}
	}
}
