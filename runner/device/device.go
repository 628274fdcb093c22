// Package device is the table of QEMU devices TuxBoot can boot, as data,
// and the QEMU command line each one yields for a boot.
package device

import (
	"fmt"
	"sort"
	"strings"
)

// Disk says how a disk rootfs is attached to a device and which root= finds it.
type Disk struct {
	// Interface is the QEMU device that carries the drive, e.g.
	// "virtio-blk-pci", "virtio-blk-device", "virtio-blk-ccw", or "ide"
	// for the machine's own IDE bus (-drive if=ide).
	Interface string `json:"interface"`
	Root      string `json:"root"` // the root= argument, e.g. /dev/vda
}

// Device is one row of the table.
type Device struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	// Arch is the kernel's architecture as `uname -m` prints it.
	Arch    string `json:"arch"`
	Binary  string `json:"qemu_binary"`
	Machine string `json:"machine"`
	CPU     string `json:"cpu"`
	Memory  int    `json:"memory_mib"`
	SMP     int    `json:"smp"`
	Console string `json:"console"`
	// SerialIndex is the QEMU serial port that carries Console; most
	// machines use the first.
	SerialIndex int `json:"serial_index,omitempty"`
	// KernelFormat is the image the device expects: Image, zImage, bzImage, vmlinux, uImage.
	KernelFormat string `json:"kernel_format"`
	// DTB is "none", "optional" or "required".
	DTB  string `json:"dtb"`
	Disk Disk   `json:"disk"`
	// Extra is appended to QEMU's argv (firmware choice and the like).
	Extra []string `json:"extra_args,omitempty"`
	// ExtraBootArgs are added to the kernel command line before the user's.
	ExtraBootArgs string `json:"extra_boot_args,omitempty"`
	// KVMHosts lists the host architectures (Go's GOARCH) on which KVM can run this guest.
	KVMHosts []string `json:"kvm_hosts,omitempty"`
	// Verified is true only when this repo's tests boot a real kernel on the device.
	Verified bool `json:"verified"`
}

// DTB needs.
const (
	DTBNone     = "none"
	DTBOptional = "optional"
	DTBRequired = "required"
)

// Table is the device table. A Table is read-only once built.
type Table struct {
	byName map[string]Device
}

// Lookup finds a device by name.
func (t *Table) Lookup(name string) (Device, error) {
	d, ok := t.byName[name]
	if !ok {
		return Device{}, fmt.Errorf("unknown device %q (known: %s)", name, strings.Join(t.Names(), ", "))
	}
	return d, nil
}

// Names lists the devices in name order.
func (t *Table) Names() []string {
	names := make([]string, 0, len(t.byName))
	for n := range t.byName {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// All lists the devices in name order.
func (t *Table) All() []Device {
	var all []Device
	for _, n := range t.Names() {
		all = append(all, t.byName[n])
	}
	return all
}

// NewTable builds a table from rows, refusing duplicates and incomplete rows.
func NewTable(rows []Device) (*Table, error) {
	t := &Table{byName: map[string]Device{}}
	for _, d := range rows {
		switch {
		case d.Name == "" || d.Binary == "" || d.Machine == "" || d.Console == "" || d.Arch == "":
			return nil, fmt.Errorf("device %q: name, arch, qemu binary, machine and console are required", d.Name)
		case d.Memory <= 0 || d.SMP <= 0:
			return nil, fmt.Errorf("device %q: memory and smp must be positive", d.Name)
		}
		if _, dup := t.byName[d.Name]; dup {
			return nil, fmt.Errorf("device %q listed twice", d.Name)
		}
		t.byName[d.Name] = d
	}
	return t, nil
}

// Builtin returns the table TuxBoot ships.
func Builtin() *Table {
	t, err := NewTable(builtinRows())
	if err != nil {
		panic(err) // the built-in rows are checked by the tests
	}
	return t
}

// builtinRows is the device table. Rows marked Verified are booted with a
// real Debian kernel by runner's tests (see runner/realboot_test.go); the
// machine and CPU chosen for those rows are the ones that boot Debian's
// kernels here. The others follow tuxrun's devices and are untested.
func builtinRows() []Device {
	pciVirtio := Disk{Interface: "virtio-blk-pci", Root: "/dev/vda"}
	mmioVirtio := Disk{Interface: "virtio-blk-device", Root: "/dev/vda"}
	ide := Disk{Interface: "ide", Root: "/dev/sda"}
	return []Device{
		{Name: "qemu-x86_64", Description: "x86_64 PC (q35)", Arch: "x86_64", Binary: "qemu-system-x86_64",
			Machine: "q35", CPU: "max", Memory: 512, SMP: 1, Console: "ttyS0", KernelFormat: "bzImage", DTB: DTBNone,
			Disk: pciVirtio, KVMHosts: []string{"amd64"}, Verified: true},
		{Name: "qemu-i386", Description: "32-bit x86 PC", Arch: "i686", Binary: "qemu-system-i386",
			Machine: "pc", CPU: "max", Memory: 512, SMP: 1, Console: "ttyS0", KernelFormat: "bzImage", DTB: DTBNone,
			Disk: pciVirtio, KVMHosts: []string{"amd64", "386"}, Verified: true},
		{Name: "qemu-arm64", Description: "AArch64 virt board, little-endian", Arch: "aarch64", Binary: "qemu-system-aarch64",
			Machine: "virt", CPU: "cortex-a57", Memory: 512, SMP: 1, Console: "ttyAMA0", KernelFormat: "Image", DTB: DTBOptional,
			Disk: pciVirtio, KVMHosts: []string{"arm64"}, Verified: true},
		{Name: "qemu-arm64be", Description: "AArch64 virt board, big-endian kernel", Arch: "aarch64_be", Binary: "qemu-system-aarch64",
			Machine: "virt", CPU: "cortex-a57", Memory: 512, SMP: 1, Console: "ttyAMA0", KernelFormat: "Image", DTB: DTBOptional,
			Disk: pciVirtio},
		{Name: "qemu-armv5", Description: "ARM926 Versatile PB", Arch: "armv5tejl", Binary: "qemu-system-arm",
			Machine: "versatilepb", CPU: "arm926", Memory: 256, SMP: 1, Console: "ttyAMA0", KernelFormat: "zImage", DTB: DTBRequired,
			Disk: Disk{Interface: "scsi", Root: "/dev/sda"}},
		{Name: "qemu-armv7", Description: "ARMv7 virt board (Cortex-A15)", Arch: "armv7l", Binary: "qemu-system-arm",
			Machine: "virt,highmem=off", CPU: "cortex-a15", Memory: 512, SMP: 1, Console: "ttyAMA0", KernelFormat: "zImage", DTB: DTBOptional,
			Disk: mmioVirtio, KVMHosts: []string{"arm"}, Verified: true},
		{Name: "qemu-armv7be", Description: "ARMv7 virt board, big-endian kernel", Arch: "armv7b", Binary: "qemu-system-arm",
			Machine: "virt,highmem=off", CPU: "cortex-a15", Memory: 512, SMP: 1, Console: "ttyAMA0", KernelFormat: "zImage", DTB: DTBOptional,
			Disk: mmioVirtio},
		{Name: "qemu-m68k", Description: "Macintosh Quadra 800", Arch: "m68k", Binary: "qemu-system-m68k",
			Machine: "q800", CPU: "m68040", Memory: 256, SMP: 1, Console: "ttyS0", KernelFormat: "vmlinux", DTB: DTBNone,
			Disk: Disk{Interface: "scsi", Root: "/dev/sda"}},
		{Name: "qemu-mips32", Description: "MIPS Malta, 32-bit big-endian", Arch: "mips", Binary: "qemu-system-mips",
			Machine: "malta", CPU: "24Kf", Memory: 512, SMP: 1, Console: "ttyS0", KernelFormat: "vmlinux", DTB: DTBNone,
			Disk: ide},
		{Name: "qemu-mips32el", Description: "MIPS Malta, 32-bit little-endian (mips32r2)", Arch: "mips", Binary: "qemu-system-mipsel",
			Machine: "malta", CPU: "24Kf", Memory: 512, SMP: 1, Console: "ttyS0", KernelFormat: "vmlinux", DTB: DTBNone,
			Disk: ide, Verified: true},
		{Name: "qemu-mips64", Description: "MIPS Malta, 64-bit big-endian", Arch: "mips64", Binary: "qemu-system-mips64",
			Machine: "malta", CPU: "5KEc", Memory: 512, SMP: 1, Console: "ttyS0", KernelFormat: "vmlinux", DTB: DTBNone,
			Disk: ide},
		{Name: "qemu-mips64el", Description: "MIPS Malta, 64-bit little-endian", Arch: "mips64", Binary: "qemu-system-mips64el",
			Machine: "malta", CPU: "5KEc", Memory: 512, SMP: 1, Console: "ttyS0", KernelFormat: "vmlinux", DTB: DTBNone,
			Disk: ide, Verified: true},
		{Name: "qemu-ppc32", Description: "PowerPC e500 (ppce500)", Arch: "ppc", Binary: "qemu-system-ppc",
			Machine: "ppce500", CPU: "e500mc", Memory: 512, SMP: 1, Console: "ttyS0", KernelFormat: "uImage", DTB: DTBNone,
			Disk: pciVirtio},
		{Name: "qemu-ppc64", Description: "pSeries POWER8, big-endian", Arch: "ppc64", Binary: "qemu-system-ppc64",
			Machine: "pseries,cap-cfpc=broken,cap-sbbc=broken,cap-ibs=broken,cap-ccf-assist=off", CPU: "POWER8", Memory: 1024, SMP: 1,
			Console: "hvc0", KernelFormat: "vmlinux", DTB: DTBNone, Disk: Disk{Interface: "virtio-blk-pci", Root: "/dev/vda"}},
		{Name: "qemu-ppc64le", Description: "pSeries POWER9, little-endian", Arch: "ppc64le", Binary: "qemu-system-ppc64",
			Machine: "pseries,cap-cfpc=broken,cap-sbbc=broken,cap-ibs=broken,cap-ccf-assist=off", CPU: "POWER9", Memory: 1024, SMP: 1,
			Console: "hvc0", KernelFormat: "vmlinux", DTB: DTBNone, Disk: pciVirtio, KVMHosts: []string{"ppc64le"}, Verified: true},
		{Name: "qemu-riscv32", Description: "RISC-V 32-bit virt board with OpenSBI", Arch: "riscv32", Binary: "qemu-system-riscv32",
			Machine: "virt", CPU: "rv32", Memory: 512, SMP: 1, Console: "ttyS0", KernelFormat: "Image", DTB: DTBOptional,
			Disk: mmioVirtio, Extra: []string{"-bios", "default"}},
		{Name: "qemu-riscv64", Description: "RISC-V 64-bit virt board with OpenSBI", Arch: "riscv64", Binary: "qemu-system-riscv64",
			Machine: "virt", CPU: "rv64", Memory: 512, SMP: 1, Console: "ttyS0", KernelFormat: "Image", DTB: DTBOptional,
			Disk: mmioVirtio, Extra: []string{"-bios", "default"}, KVMHosts: []string{"riscv64"}, Verified: true},
		{Name: "qemu-s390", Description: "IBM Z (s390-ccw-virtio)", Arch: "s390x", Binary: "qemu-system-s390x",
			Machine: "s390-ccw-virtio", CPU: "max", Memory: 512, SMP: 1, Console: "ttysclp0", KernelFormat: "bzImage", DTB: DTBNone,
			Disk: Disk{Interface: "virtio-blk-ccw", Root: "/dev/vda"}, KVMHosts: []string{"s390x"}, Verified: true},
		{Name: "qemu-sh4", Description: "SuperH SH7785 (r2d)", Arch: "sh4", Binary: "qemu-system-sh4",
			Machine: "r2d", CPU: "sh7785", Memory: 64, SMP: 1, Console: "ttySC1", SerialIndex: 1, KernelFormat: "zImage", DTB: DTBNone,
			Disk: ide},
		{Name: "qemu-sparc64", Description: "Sun UltraSPARC (sun4u)", Arch: "sparc64", Binary: "qemu-system-sparc64",
			Machine: "sun4u", CPU: "TI UltraSparc IIi", Memory: 512, SMP: 1, Console: "ttyS0", KernelFormat: "vmlinux", DTB: DTBNone,
			Disk: Disk{Interface: "ide", Root: "/dev/sda"}},
		{Name: "qemu-loongarch64", Description: "LoongArch virt board", Arch: "loongarch64", Binary: "qemu-system-loongarch64",
			Machine: "virt", CPU: "la464", Memory: 1024, SMP: 1, Console: "ttyS0", KernelFormat: "vmlinux", DTB: DTBNone,
			Disk: pciVirtio},
	}
}
