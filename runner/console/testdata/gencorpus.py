#!/usr/bin/env python3
"""Writes the labelled console corpus of runner/console: NAME.log and NAME.json.

    python3 testdata/gencorpus.py testdata/corpus

The logs are assembled from the formats real kernels, firmware and test
runners print, per architecture; each case states its expected analysis by
hand (kind and title of every crash, tests, milestones, verdict). The
analyser's output is never used to write an expectation: TestCorpus compares
the two. Edit a case here and regenerate rather than editing the files.
"""
import json, os, sys

OUT = sys.argv[1]

class Log:
    def __init__(self, arch, ts=True, caller=False, level=False, eol="\n"):
        self.arch, self.ts, self.caller, self.level, self.eol = arch, ts, caller, level, eol
        self.parts = []
        self.t = 0.0
        self.pid = 1
        self.exp = dict(kernel_version="", milestones=[], crashes=[], tests=[], failure=None)
    # output
    def raw(self, s):
        self.parts.append(s)
    def u(self, *lines):
        for l in lines:
            self.parts.append(l + self.eol)
    def k(self, *lines, dt=0.004, t=None):
        if t is not None:
            self.t = t
        for l in lines:
            pre = ""
            if self.level:
                pre += "<6>"
            if self.ts:
                pre += "[%5d.%06d]" % (int(self.t), round((self.t % 1) * 1e6) % 1000000)
                if self.caller:
                    pre += "[%6s]" % ("T%d" % self.pid)
                pre += " "
            elif self.caller:
                pre += "[%6s] " % ("T%d" % self.pid)
            self.parts.append(pre + l + self.eol)
            self.t += dt
    # expectations
    def ms(self, *names):
        for n in names:
            if n not in self.exp["milestones"]:
                self.exp["milestones"].append(n)
    def crash(self, kind, title, fatal):
        self.exp["crashes"].append(dict(kind=kind, title=title, fatal=fatal))
        if fatal and self.exp["failure"] is None:
            self.exp["failure"] = dict(kind=kind, title=title)
        if not fatal and not any(t["suite"] == "log-parser" and t["name"] == "check-kernel-" + kind.replace("_", "-") for t in self.exp["tests"]):
            self.test("log-parser", "check-kernel-" + kind.replace("_", "-"), "fail")
    def test(self, suite, name, result):
        self.exp["tests"].append(dict(suite=suite, name=name, result=result))

CORPUS = []
def case(name, category, boot_ok, note=""):
    def deco(fn):
        CORPUS.append((name, category, boot_ok, note, fn))
        return fn
    return deco

# ---------------------------------------------------------------- arches
ARCH = {
 "x86_64": dict(ver="6.1.0-28-amd64", banner="6.1.0-28-amd64 (debian-kernel@lists.debian.org) (gcc-12 (Debian 12.2.0-14) 12.2.0, GNU ld (GNU Binutils for Debian) 2.40) #1 SMP PREEMPT_DYNAMIC Debian 6.1.119-1 (2024-11-22)", hw="QEMU Standard PC (i440FX + PIIX, 1996), BIOS 1.16.2-debian-1.16.2-1 04/01/2014", tty="ttyS0"),
 "i386": dict(ver="6.6.63", banner="6.6.63 (tuxmake@tuxmake) (i686-linux-gnu-gcc (Debian 13.2.0-7) 13.2.0, GNU ld (GNU Binutils for Debian) 2.41) #1 SMP PREEMPT_DYNAMIC @1732800000", hw="QEMU Standard PC (i440FX + PIIX, 1996), BIOS 1.16.3-debian-1.16.3-2 04/01/2014", tty="ttyS0"),
 "arm64": dict(ver="6.12.1", banner="6.12.1 (tuxmake@tuxmake) (aarch64-linux-gnu-gcc (Debian 13.3.0-5) 13.3.0, GNU ld (GNU Binutils for Debian) 2.43.1) #1 SMP PREEMPT @1732700000", hw="linux,dummy-virt (DT)", tty="ttyAMA0"),
 "armv7": dict(ver="6.1.119", banner="6.1.119 (tuxmake@tuxmake) (arm-linux-gnueabihf-gcc (Debian 12.2.0-14) 12.2.0, GNU ld (GNU Binutils for Debian) 2.40) #1 SMP @1732600000", hw="Generic DT based system", tty="ttyAMA0"),
 "riscv64": dict(ver="6.11.0-rc3-next-20240815", banner="6.11.0-rc3-next-20240815 (tuxmake@tuxmake) (riscv64-linux-gnu-gcc (Debian 13.3.0-5) 13.3.0, GNU ld (GNU Binutils for Debian) 2.43.1) #1 SMP @1723700000", hw="riscv-virtio,qemu (DT)", tty="ttyS0"),
 "ppc64le": dict(ver="5.15.170", banner="5.15.170 (tuxmake@tuxmake) (powerpc64le-linux-gnu-gcc (Debian 12.2.0-14) 12.2.0, GNU ld (GNU Binutils for Debian) 2.40) #1 SMP @1731000000", hw="IBM pSeries (emulated by qemu) POWER9 (raw) 0x4e1202 0xf000005 of:SLOF,HEAD hv:linux,kvm pSeries", tty="hvc0"),
 "s390x": dict(ver="6.6.63", banner="6.6.63 (tuxmake@tuxmake) (s390x-linux-gnu-gcc (Debian 13.2.0-7) 13.2.0, GNU ld (GNU Binutils for Debian) 2.41) #1 SMP @1732800000", hw="QEMU 3906 QEMU (KVM/Linux)", tty="ttysclp0"),
 "mips": dict(ver="6.1.119", banner="6.1.119 (tuxmake@tuxmake) (mips-linux-gnu-gcc (Debian 12.2.0-14) 12.2.0, GNU ld (GNU Binutils for Debian) 2.40) #1 SMP @1732600000", hw="mti,malta", tty="ttyS0"),
}

def firmware(L):
    a = L.arch
    if a in ("x86_64", "i386"):
        L.raw("\x1b[2J\x1b[1;1H\x1bcSeaBIOS (version 1.16.2-debian-1.16.2-1)\r\n\r\n\r\n")
        L.raw("iPXE (https://ipxe.org) 00:03.0 CA00 PCI2.10 PnP PMM+7EFCAB80+7EF0AB80 CA00\r\nPress Ctrl-B to configure iPXE (PCI 00:03.0)...\r                                                                               \r\n\r\n\r\nBooting from ROM..\r\n")
        L.ms("firmware")
    elif a == "riscv64":
        L.u("", "OpenSBI v1.5.1",
            "   ____                    _____ ____ _____",
            "  / __ \\                  / ____|  _ \\_   _|",
            " | |  | |_ __   ___ _ __ | (___ | |_) || |",
            " | |  | | '_ \\ / _ \\ '_ \\ \\___ \\|  _ < | |",
            " | |__| | |_) |  __/ | | |____) | |_) || |_",
            "  \\____/| .__/ \\___|_| |_|_____/|____/_____|",
            "        | |", "        |_|", "",
            "Platform Name             : riscv-virtio,qemu",
            "Platform Features         : medeleg",
            "Platform HART Count       : 2",
            "Firmware Base             : 0x80000000",
            "Domain0 Next Address      : 0x0000000080200000",
            "Boot HART ID              : 0",
            "Boot HART ISA             : rv64imafdch",
            "")
        L.ms("firmware")
    elif a == "ppc64le":
        L.u("", "", "SLOF **********************************************************************",
            "QEMU Starting",
            " Build Date = Feb 22 2023 00:00:00",
            " FW Version = git-6b6c16b4b40763507cf1f518096f3c3883c5cf2d",
            " Press \"s\" to enter Open Firmware.", "",
            "Populating /vdevice methods", "Populating /vdevice/vty@71000000",
            "Populating /vdevice/nvram@71000001", "Populating /pci@800000020000000",
            "No NVRAM common partition, re-initializing...",
            "Scanning USB ", "Using default console: /vdevice/vty@71000000",
            "     ", "  Welcome to Open Firmware", "",
            "  Copyright (c) 2004, 2017 IBM Corporation All rights reserved.",
            "  This program and the accompanying materials are made available",
            "  under the terms of the BSD License available at",
            "  http://www.opensource.org/licenses/bsd-license.php", "",
            "Booting from memory...",
            "OF stdout device is: /vdevice/vty@71000000",
            "Preparing to boot Linux version " + ARCH[a]["banner"],
            "Detected machine type: 0000000000000101",
            "command line: console=hvc0 root=/dev/vda rw",
            "Max number of cores passed to firmware: 2048 (NR_CPUS = 2048)",
            "Calling ibm,client-architecture-support... done",
            "memory layout at init:",
            "  memory_limit : 0000000000000000 (16 MB aligned)",
            "Booting Linux via __start() @ 0x0000000000440000 ...")
        L.ms("firmware")
    elif a == "arm64":
        L.u("UEFI firmware (version edk2-stable202302-for-qemu built at 00:00:00 on Jan  1 2023)",
            "EFI stub: Booting Linux Kernel...",
            "EFI stub: EFI_RNG_PROTOCOL unavailable",
            "EFI stub: Using DTB from configuration table",
            "EFI stub: Exiting boot services...")
        L.ms("firmware")
    elif a == "armv7":
        L.u("", "", "U-Boot 2023.01+dfsg-2+deb12u1 (Oct 12 2024 - 09:30:00 +0000)", "",
            "DRAM:  1 GiB", "Core:  41 devices, 11 uclasses, devicetree: board",
            "Flash: 64 MiB", "Loading Environment from Flash... *** Warning - bad CRC, using default environment", "",
            "In:    pl011@9000000", "Out:   pl011@9000000", "Err:   pl011@9000000",
            "Net:   eth0: virtio-net#32",
            "Hit any key to stop autoboot:  0 ",
            "=> bootz 0x40400000 - 0x40000000",
            "Kernel image @ 0x40400000 [ 0x000000 - 0x9a1200 ]",
            "## Flattened Device Tree blob at 40000000",
            "   Booting using the fdt blob at 0x40000000",
            "Working FDT set to 40000000",
            "   Loading Device Tree to 7eaf3000, end 7eaff9ff ... OK",
            "Working FDT set to 7eaf3000", "",
            "Starting kernel ...", "")
        L.ms("firmware")
    # s390x and mips boot straight into the kernel under QEMU

def early(L):
    a = L.arch
    A = ARCH[a]
    if a in ("arm64", "armv7"):
        L.k("Booting Linux on physical CPU 0x%s" % ("0000000000 [0x000f0510]" if a == "arm64" else "0"), t=0.0, dt=0)
    L.k("Linux version " + A["banner"], t=0.0, dt=0)
    L.exp["kernel_version"] = A["ver"]
    L.ms("kernel_started")
    if a in ("x86_64", "i386"):
        L.k("Command line: console=ttyS0,115200 root=/dev/vda rw" if a == "x86_64" else "KERNEL supported cpus:", dt=0)
        L.k("BIOS-provided physical RAM map:", "BIOS-e820: [mem 0x0000000000000000-0x000000000009fbff] usable",
            "BIOS-e820: [mem 0x000000000009fc00-0x000000000009ffff] reserved",
            "BIOS-e820: [mem 0x0000000000100000-0x000000007ffdffff] usable",
            "NX (Execute Disable) protection: active", "APIC: Static calls initialized",
            "SMBIOS 2.8 present.", "DMI: " + A["hw"], "DMI: Memory slots populated: 1/1",
            "tsc: Fast TSC calibration using PIT", "tsc: Detected 2394.454 MHz processor",
            "last_pfn = 0x7ffe0 max_arch_pfn = 0x400000000", dt=0)
        L.k("ACPI: Early table checksum verification disabled", "ACPI: RSDP 0x00000000000F5A50 000014 (v00 BOCHS )",
            "Zone ranges:", "  DMA      [mem 0x0000000000001000-0x0000000000ffffff]",
            "Kernel command line: console=ttyS0,115200 root=/dev/vda rw",
            "Memory: 1993344K/2096632K available (14336K kernel code, 2388K rwdata, 9516K rodata, 2688K init, 3428K bss, 103028K reserved, 0K cma-reserved)",
            "SLUB: HWalign=64, Order=0-3, MinObjects=0, CPUs=2, Nodes=1",
            "rcu: Preemptible hierarchical RCU implementation.",
            "Console: colour VGA+ 80x25", "printk: console [ttyS0] enabled",
            "ACPI: Core revision 20220331", "APIC: Switch to symmetric I/O mode setup",
            "smpboot: CPU0: Intel Core Processor (Haswell, no TSX) (family: 0x6, model: 0x3c, stepping: 0x1)",
            "Performance Events: unsupported p6 CPU model 60 no PMU driver, software events only.",
            "smp: Bringing up secondary CPUs ...", "smp: Brought up 1 node, 2 CPUs",
            "devtmpfs: initialized", "PCI: Using configuration type 1 for base access",
            "ACPI: Interpreter enabled", "ACPI: PM: (supports S0 S3 S4 S5)",
            "pci 0000:00:01.0: [8086:7000] type 00 class 0x060100",
            "clocksource: Switched to clocksource tsc-early",
            "Serial: 8250/16550 driver, 4 ports, IRQ sharing enabled",
            "00:04: ttyS0 at I/O 0x3f8 (irq = 4, base_baud = 115200) is a 16550A",
            "virtio_blk virtio1: [vda] 2097152 512-byte logical blocks (1.07 GB/1.00 GiB)",
            "input: AT Translated Set 2 keyboard as /devices/platform/i8042/serio0/input/input1",
            "clocksource: Switched to clocksource tsc", dt=0.02)
    elif a == "arm64":
        L.k("KASLR disabled due to lack of seed", "Machine model: linux,dummy-virt",
            "efi: UEFI not found.", "NUMA: No NUMA configuration found",
            "Zone ranges:", "  DMA      [mem 0x0000000040000000-0x00000000bfffffff]",
            "psci: probing for conduit method from DT.", "psci: PSCIv1.1 detected in firmware.",
            "Kernel command line: console=ttyAMA0 root=/dev/vda rw",
            "Memory: 1966344K/2097152K available (16512K kernel code, 4380K rwdata, 11500K rodata, 10176K init, 734K bss, 97192K reserved, 32768K cma-reserved)",
            "rcu: Hierarchical RCU implementation.",
            "GICv3: 256 SPIs implemented", "arch_timer: cp15 timer(s) running at 62.50MHz (virt).",
            "clocksource: arch_sys_counter: mask: 0x1ffffffffffffff max_cycles: 0x1cd42e208c, max_idle_ns: 881590405314 ns",
            "Console: colour dummy device 80x25", "Calibrating delay loop (skipped), value calculated using timer frequency.. 125.00 BogoMIPS (lpj=250000)",
            "smp: Bringing up secondary CPUs ...", "CPU1: Booted secondary processor 0x0000000001 [0x000f0510]",
            "smp: Brought up 1 node, 2 CPUs", "CPU features: detected: 32-bit EL0 Support",
            "devtmpfs: initialized", "ASID allocator initialised with 65536 entries",
            "Serial: AMBA PL011 UART driver",
            "9000000.pl011: ttyAMA0 at MMIO 0x9000000 (irq = 13, base_baud = 0) is a PL011 rev1",
            "printk: console [ttyAMA0] enabled",
            "virtio_blk virtio1: 2/0/0 default/read/poll queues",
            "virtio_blk virtio1: [vda] 2097152 512-byte logical blocks (1.07 GB/1.00 GiB)", dt=0.03)
    elif a == "armv7":
        L.k("CPU: ARMv7 Processor [414fc0f0] revision 0 (ARMv7), cr=10c5387d",
            "CPU: div instructions available: patching division code",
            "OF: fdt: Machine model: linux,dummy-virt", "Memory policy: Data cache writealloc",
            "psci: probing for conduit method from DT.", "psci: PSCIv0.2 detected in firmware.",
            "Kernel command line: console=ttyAMA0,115200 root=/dev/vda rw",
            "Memory: 1011300K/1048576K available (10240K kernel code, 1468K rwdata, 3152K rodata, 1024K init, 260K bss, 37276K reserved, 0K cma-reserved, 262144K highmem)",
            "rcu: Hierarchical RCU implementation.",
            "arch_timer: cp15 timer(s) running at 62.50MHz (virt).",
            "Console: colour dummy device 80x30",
            "smp: Bringing up secondary CPUs ...", "smp: Brought up 1 node, 2 CPUs",
            "SMP: Total of 2 processors activated (250.00 BogoMIPS).",
            "devtmpfs: initialized",
            "9000000.pl011: ttyAMA0 at MMIO 0x9000000 (irq = 29, base_baud = 0) is a PL011 rev1",
            "printk: console [ttyAMA0] enabled",
            "virtio_blk virtio0: [vda] 2097152 512-byte logical blocks (1.07 GB/1.00 GiB)", dt=0.03)
    elif a == "riscv64":
        L.k("Machine model: riscv-virtio,qemu", "SBI specification v2.0 detected",
            "SBI implementation ID=0x1 Version=0x10005", "SBI TIME extension detected",
            "efi: UEFI not found.", "OF: reserved mem: 0x0000000080000000..0x000000008003ffff (256 KiB) nomap non-reusable mmode_resv0@80000000",
            "Zone ranges:", "riscv: base ISA extensions acdfhim",
            "riscv: ELF capabilities acdfim",
            "Kernel command line: console=ttyS0 root=/dev/vda rw earlycon",
            "Memory: 1999872K/2097152K available (9466K kernel code, 4871K rwdata, 4096K rodata, 2245K init, 480K bss, 97280K reserved, 0K cma-reserved)",
            "riscv-intc: 64 local interrupts mapped",
            "riscv-timer: riscv_timer_init_dt: Registering clocksource cpuid [0] hartid [0]",
            "clocksource: riscv_clocksource: mask: 0xffffffffffffffff max_cycles: 0x24e6a1710, max_idle_ns: 440795202120 ns",
            "Console: colour dummy device 80x25", "smp: Bringing up secondary CPUs ...",
            "smp: Brought up 1 node, 2 CPUs", "devtmpfs: initialized",
            "Serial: 8250/16550 driver, 4 ports, IRQ sharing disabled",
            "10000000.serial: ttyS0 at MMIO 0x10000000 (irq = 12, base_baud = 230400) is a 16550A",
            "printk: legacy console [ttyS0] enabled",
            "virtio_blk virtio0: [vda] 2097152 512-byte logical blocks (1.07 GB/1.00 GiB)", dt=0.05)
    elif a == "ppc64le":
        L.k("Page sizes from device-tree:", "Using 1TB segments", "Initializing hash mmu with SLB",
            "Linux version " + A["banner"] if False else "Found initrd at 0xc000000003000000:0xc000000003400000",
            "Using pSeries machine description", "printk: bootconsole [udbg0] enabled",
            "Partition configured for 2 cpus.", "CPU maps initialized for 1 thread per core",
            "-----------------------------------------------------",
            "phys_mem_size     = 0x80000000", "dcache_bsize      = 0x80", "cpu_features      = 0x0001c07f8f5f91a7",
            "-----------------------------------------------------",
            "rfi-flush: fallback displacement flush available",
            "Kernel command line: console=hvc0 root=/dev/vda rw",
            "Memory: 1988800K/2097152K available (13632K kernel code, 2624K rwdata, 3904K rodata, 5056K init, 2514K bss, 108352K reserved, 0K cma-reserved)",
            "rcu: Hierarchical RCU implementation.",
            "time_init: decrementer frequency = 512.000000 MHz",
            "Console: colour dummy device 80x25", "printk: console [hvc0] enabled",
            "printk: bootconsole [udbg0] disabled", "smp: Brought up 1 node, 2 CPUs",
            "EEH: pSeries platform initialized", "devtmpfs: initialized",
            "virtio_blk virtio0: [vda] 2097152 512-byte logical blocks (1.07 GB/1.00 GiB)", dt=0.04)
    elif a == "s390x":
        L.k("setup: Linux is running under KVM in 64-bit mode",
            "setup: The maximum memory size is 2048MB",
            "cpu: 2 configured CPUs, 0 standby CPUs",
            "Write protected kernel read-only data: 9584k",
            "Zone ranges:", "  DMA      [mem 0x0000000000000000-0x000000007fffffff]",
            "Kernel command line: console=ttysclp0 root=/dev/vda rw",
            "Memory: 1993132K/2097152K available (10776K kernel code, 2020K rwdata, 3468K rodata, 4188K init, 792K bss, 104020K reserved, 0K cma-reserved)",
            "rcu: Hierarchical RCU implementation.", "clocksource: tod: mask: 0xffffffffffffffff max_cycles: 0x3b0a9be803b0a9, max_idle_ns: 1805497147909793 ns",
            "Console: colour dummy device 80x25", "printk: console [ttysclp0] enabled",
            "smp: Brought up 1 node, 2 CPUs", "devtmpfs: initialized",
            "virtio_blk virtio1: [vda] 2097152 512-byte logical blocks (1.07 GB/1.00 GiB)", dt=0.02)
    elif a == "mips":
        L.k("earlycon: uart8250 at I/O port 0x3f8 (options '38400n8')",
            "printk: bootconsole [uart8250] enabled", "Config serial console: console=ttyS0,38400n8r",
            "CPU0 revision is: 00019300 (MIPS 24Kc)", "FPU revision is: 00739300",
            "MIPS: machine is mti,malta", "Software DMA cache coherency enabled",
            "Initrd not found or empty - disabling initrd",
            "Primary instruction cache 2kB, VIPT, 2-way, linesize 16 bytes.",
            "Kernel command line: rd_start=0x00000000 rd_size=0 console=ttyS0 root=/dev/hda rw",
            "Memory: 249576K/262144K available (7231K kernel code, 672K rwdata, 1520K rodata, 1288K init, 239K bss, 12568K reserved, 0K cma-reserved)",
            "NR_IRQS: 256", "CPU frequency 200.00 MHz", "Console: colour dummy device 80x25",
            "Calibrating delay loop... 1030.14 BogoMIPS (lpj=5150720)",
            "Serial: 8250/16550 driver, 4 ports, IRQ sharing enabled",
            "ata1.00: ATA-7: QEMU HARDDISK, 2.5+, max UDMA/100",
            "scsi 0:0:0:0: Direct-Access     ATA      QEMU HARDDISK    2.5+ PQ: 0 ANSI: 5", dt=0.06)

def rootfs(L, dev="vda"):
    L.k("EXT4-fs (%s): mounted filesystem 1c6f3e2b-7d91-4c5e-9f2a-3b4c5d6e7f80 r/w with ordered data mode. Quota mode: none." % dev,
        "VFS: Mounted root (ext4 filesystem) on device 254:0.", "devtmpfs: mounted",
        "Freeing unused kernel image (initmem) memory: 2688K", "Write protecting the kernel read-only data: 26624k",
        "Run /sbin/init as init process", dt=0.05)
    L.ms("init_started")

def buildroot(L, login=True):
    L.k("EXT4-fs (%s): re-mounted 1c6f3e2b-7d91-4c5e-9f2a-3b4c5d6e7f80 r/w. Quota mode: none." % "vda", dt=0.2)
    L.u("Seeding 256 bits and crediting", "Saving 256 bits of creditable seed for next boot",
        "Starting syslogd: OK", "Starting klogd: OK", "Running sysctl: OK", "Starting network: OK", "",
        "Welcome to Buildroot")
    if login:
        L.raw("buildroot login: ")
        L.ms("login_prompt")

def shell(L, prompt="/ # "):
    L.u("", "Please press Enter to activate this console. ")
    L.raw(prompt)
    L.ms("shell_prompt")

def boot_to_init(L, **kw):
    firmware(L); early(L); rootfs(L)

def x86_regs(L, fn, off="0x12/0x40", mod=""):
    L.k("RIP: 0010:%s+%s%s" % (fn, off, mod),
        "Code: 48 89 e5 41 54 53 48 8b 47 08 48 85 c0 74 1d 48 8b 58 10 <48> 8b 03 48 85 c0 74 0b",
        "RSP: 0018:ffffc90000013d60 EFLAGS: 00010246",
        "RAX: 0000000000000000 RBX: 0000000000000000 RCX: 0000000000000000",
        "RDX: 0000000000000000 RSI: ffffffff82a1b2c0 RDI: ffff888003d4a000",
        "RBP: ffffc90000013d70 R08: 0000000000000000 R09: 0000000000000000",
        "R10: 0000000000000000 R11: 0000000000000000 R12: ffff888003d4a000",
        "R13: 0000000000000000 R14: 0000000000000000 R15: 0000000000000000",
        "FS:  0000000000000000(0000) GS:ffff88807dc00000(0000) knlGS:0000000000000000",
        "CS:  0010 DS: 0000 ES: 0000 CR0: 0000000080050033",
        "CR2: 0000000000000000 CR3: 000000000260a000 CR4: 00000000000006f0", dt=0)

def x86_trace(L, frames, task=True):
    L.k("Call Trace:", dt=0)
    if task: L.k(" <TASK>", dt=0)
    for f in frames:
        L.k(" " + f, dt=0)
    if task: L.k(" </TASK>", dt=0)

def cpu_line(L, comm="swapper/0", pid=1, taint="Not tainted", cpu=0):
    L.k("CPU: %d PID: %d Comm: %s %s %s #1" % (cpu, pid, comm, taint, ARCH[L.arch]["ver"]),
        "Hardware name: " + ARCH[L.arch]["hw"], dt=0)

def arm64_regs(L, fn, lr="do_one_initcall"):
    L.k("pstate: 60400005 (nZCv daif +PAN -UAO -TCO -DIT -SSBS BTYPE=--)",
        "pc : %s+0x1c/0x40" % fn, "lr : %s+0x48/0x1d0" % lr,
        "sp : ffff80008003bd40",
        "x29: ffff80008003bd40 x28: 0000000000000000 x27: 0000000000000000",
        "x26: 0000000000000000 x25: 0000000000000000 x24: ffff8000818e0a58",
        "x2 : 0000000000000000 x1 : 0000000000000000 x0 : 0000000000000000", dt=0)

# ---------------------------------------------------------------- clean boots
for arch in ARCH:
    def mk(arch):
        @case("clean-%s-buildroot" % arch, "clean", True, "boots to a login prompt")
        def _(L):
            boot_to_init(L); buildroot(L)
        return _
    mk(arch)

@case("clean-x86_64-debian-systemd", "clean", True)
def _(L):
    boot_to_init(L)
    L.u("", "Welcome to \x1b[1mDebian GNU/Linux 12 (bookworm)\x1b[0m!", "",
        "[\x1b[0;32m  OK  \x1b[0m] Created slice \x1b[0;1;39msystem-getty.slice\x1b[0m - Slice /system/getty.",
        "[\x1b[0;32m  OK  \x1b[0m] Reached target \x1b[0;1;39mlocal-fs.target\x1b[0m - Local File Systems.",
        "[\x1b[0;1;31mFAILED\x1b[0m] Failed to start \x1b[0;1;39msystemd-networkd-wait-online.service\x1b[0m.",
        "See 'systemctl status systemd-networkd-wait-online.service' for details.",
        "[\x1b[0;32m  OK  \x1b[0m] Started \x1b[0;1;39mserial-getty@ttyS0.service\x1b[0m - Serial Getty on ttyS0.", "",
        "Debian GNU/Linux 12 debian ttyS0", "")
    L.raw("debian login: ")
    L.ms("login_prompt")

@case("clean-arm64-debian-login-shell", "clean", True, "logs in; Last login is not a prompt")
def _(L):
    boot_to_init(L)
    L.u("Debian GNU/Linux 12 debian ttyAMA0", "", "debian login: root", "Password: ",
        "Last login: Tue Dec  1 10:00:00 UTC 2026 on ttyAMA0",
        "Linux debian 6.12.1 #1 SMP PREEMPT Tue Nov 26 10:00:00 UTC 2024 aarch64")
    L.ms("login_prompt")
    L.raw("root@debian:~# ")
    L.ms("shell_prompt")

@case("clean-riscv64-busybox-shell", "clean", True)
def _(L):
    boot_to_init(L); shell(L)

@case("clean-x86_64-benign-noise", "clean", True, "scary words that are not crashes")
def _(L):
    firmware(L); early(L)
    L.k("ACPI Error: AE_NOT_FOUND, While resolving a named reference package element - \\_SB_.PCI0.S08_ (20220331/dspkginit-438)",
        "ACPI BIOS Error (bug): Could not resolve symbol [\\_SB.PCI0.S18], AE_NOT_FOUND (20220331/psargs-330)",
        "platform regulatory.0: Direct firmware load for regulatory.db failed with error -2",
        "======================================================",
        "WARNING: The mand mount option has been deprecated and",
        "         and is ignored by this kernel. Remove the mand",
        "         option from the mount to silence this warning.",
        "=======================================================",
        "kvm: no hardware support for 'kvm_intel'",
        "RAS: Correctable Errors collector initialized.",
        "Oops-tracker: not configured",
        "hung_task: panic on hung task disabled",
        "nmi_watchdog: Perf NMI watchdog permanently disabled", dt=0.01)
    rootfs(L); buildroot(L, login=False)
    L.u("", "Please press Enter to activate this console. ")
    L.raw("~ # ")
    L.ms("shell_prompt")
    L.u("cat /proc/version", "Linux version " + ARCH["x86_64"]["banner"],
        "echo 'BUG: this is not a kernel line'", "BUG: this is not a kernel line")

@case("clean-arm64-dump-stack-no-crash", "clean", True, "a stack dump without a crash header is not a crash")
def _(L):
    boot_to_init(L)
    cpu_line(L, "swapper/0", 1)
    L.k("Call trace:", " dump_backtrace+0x9c/0x100", " show_stack+0x20/0x38", " dump_stack_lvl+0x48/0x60",
        " my_debug_probe+0x30/0x60", " do_one_initcall+0x60/0x1d0", dt=0)
    buildroot(L)

@case("clean-x86_64-shutdown", "clean", True, "init, then a clean power off")
def _(L):
    boot_to_init(L); buildroot(L, login=False)
    L.u("Stopping network: OK", "Seeding 256 bits without crediting", "Stopping klogd: OK", "Stopping syslogd: OK",
        "umount: devtmpfs busy - remounted read-only", "The system is going down NOW!",
        "Sent SIGTERM to all processes", "Sent SIGKILL to all processes", "Requesting system poweroff")
    L.k("ACPI: PM: Preparing to enter system sleep state S5", "reboot: Power down", t=5.0)
    L.ms("shutdown")

@case("clean-s390x-systemd-shutdown", "clean", True)
def _(L):
    boot_to_init(L)
    L.u("systemd 252.31-1~deb12u1 running in system mode (+PAM +AUDIT +SELINUX +APPARMOR)", "Welcome to Debian GNU/Linux 12 (bookworm)!")
    L.k("systemd-journald[120]: Received client request to flush runtime journal.", dt=1)
    L.u("         Stopping systemd-journald.service - Journal Service...")
    L.k("systemd-shutdown[1]: Syncing filesystems and block devices.",
        "systemd-shutdown[1]: Sending SIGTERM to remaining processes...", "reboot: System halted", t=9.0)
    L.ms("shutdown")

@case("clean-x86_64-crlf-caller-id", "clean", True, "CRLF line ends and printk caller ids")
def _(L):
    L.eol = "\r\n"; L.caller = True
    boot_to_init(L); buildroot(L)

@case("clean-arm64-no-timestamps", "clean", True, "printk.time=0")
def _(L):
    L.ts = False
    boot_to_init(L); shell(L)

@case("clean-mips-loglevel-prefix", "clean", True, "<N> log levels on the console")
def _(L):
    L.level = True
    boot_to_init(L); buildroot(L)

@case("clean-i386-split-utf8", "clean", True, "invalid UTF-8 and a long line")
def _(L):
    boot_to_init(L)
    L.u("motd: \xff\xfe caf\xc3\xa9 \xe2\x82", "x" * 40000)
    buildroot(L)

@case("clean-ppc64le-restart-after-tests", "clean", True, "a reboot after the tests finished is expected")
def _(L):
    boot_to_init(L); shell(L)
    L.u("", "<LAVA_SIGNAL_STARTRUN 0_boot 1001_boot>", "<LAVA_SIGNAL_TESTCASE TEST_CASE_ID=boot RESULT=pass>", "<LAVA_SIGNAL_ENDRUN 0_boot 1001_boot>")
    L.ms("tests_started", "tests_finished"); L.test("boot", "boot", "pass")
    L.k("reboot: Restarting system", t=20.0)

# ---------------------------------------------------------------- tests
def lava_run(L, name, idx, cases, sets=None):
    L.u("<LAVA_SIGNAL_STARTRUN %d_%s 4f1c2d3e-%d_%s>" % (idx, name, idx, name))
    L.ms("tests_started")
    for c in cases:
        if c[0] == "set":
            L.u("<LAVA_SIGNAL_TESTSET START %s>" % c[1]); cur = c[1]; continue
        if c[0] == "endset":
            L.u("<LAVA_SIGNAL_TESTSET STOP>"); continue
        tid, res = c[0], c[1]
        extra = ""
        if len(c) > 2:
            extra = " MEASUREMENT=%s UNITS=%s" % (c[2], c[3])
        L.u("+ lava-test-case %s --result %s" % (tid, res), "<LAVA_SIGNAL_STARTTC %s>" % tid,
            "<LAVA_SIGNAL_TESTCASE TEST_CASE_ID=%s RESULT=%s%s>" % (tid, res, extra), "<LAVA_SIGNAL_ENDTC %s>" % tid)
    L.u("<LAVA_SIGNAL_ENDRUN %d_%s 4f1c2d3e-%d_%s>" % (idx, name, idx, name))
    L.ms("tests_finished")

@case("tests-x86_64-lava-smoke", "tests", True)
def _(L):
    boot_to_init(L); shell(L); L.u("")
    lava_run(L, "smoke-tests", 0, [("linux-posix-pwd", "pass"), ("linux-posix-uname", "pass"), ("linux-posix-vmstat", "pass"), ("linux-posix-ifconfig", "skip")])
    for n, r in [("linux-posix-pwd", "pass"), ("linux-posix-uname", "pass"), ("linux-posix-vmstat", "pass"), ("linux-posix-ifconfig", "skip")]:
        L.test("smoke-tests", n, r)
    L.u("<LAVA_TEST_RUNNER EXIT>")

@case("tests-arm64-lava-testset-measure", "tests", True, "test sets and measurements; a failing test does not fail the boot")
def _(L):
    boot_to_init(L); shell(L, "root@runner-arm64:~# "); L.u("")
    lava_run(L, "ltp-syscalls", 1, [("set", "syscalls"), ("abort01", "pass"), ("accept01", "fail"), ("endset",), ("boot-time", "pass", "2.431", "seconds")])
    L.test("syscalls", "abort01", "pass"); L.test("syscalls", "accept01", "fail"); L.test("ltp-syscalls", "boot-time", "pass")

@case("tests-riscv64-lava-interleaved", "tests", True, "kernel lines cut into LAVA signals")
def _(L):
    boot_to_init(L); shell(L); L.u("")
    L.u("<LAVA_SIGNAL_STARTRUN 0_smoke 77_smoke>")
    L.raw("<LAVA_SIGNAL_TESTCASE TEST_CASE_ID=uname RESU")
    L.k("random: crng init done", t=12.5)
    L.u("LT=pass>")
    L.raw("<LAVA_SIG")
    L.k("virtio_net virtio1 eth0: renamed from veth0", t=12.6)
    L.u("NAL_TESTCASE TEST_CASE_ID=network RESULT=fail>")
    L.u("<LAVA_SIGNAL_ENDRUN 0_smoke 77_smoke>")
    L.ms("tests_started", "tests_finished")
    L.test("smoke", "uname", "pass"); L.test("smoke", "network", "fail")

@case("tests-s390x-lava-testraise", "tests", True, "a test definition raises")
def _(L):
    boot_to_init(L); shell(L); L.u("")
    L.u("<LAVA_SIGNAL_STARTRUN 2_network-basic 9_network-basic>", "<LAVA_SIGNAL_TESTCASE TEST_CASE_ID=ip-link RESULT=pass>",
        "<LAVA_SIGNAL_TESTRAISE network-unreachable>", "<LAVA_SIGNAL_ENDRUN 2_network-basic 9_network-basic>", "<LAVA_TEST_RUNNER EXIT>")
    L.ms("tests_started", "tests_finished")
    L.test("network-basic", "ip-link", "pass"); L.test("network-basic", "network-unreachable", "error")

@case("tests-ppc64le-lava-two-runs-unknown", "tests", True)
def _(L):
    boot_to_init(L); shell(L); L.u("")
    lava_run(L, "smoke", 0, [("pwd", "pass")])
    L.u("<LAVA_SIGNAL_STARTRUN 1_perf 8_perf>", "<LAVA_SIGNAL_TESTCASE TEST_CASE_ID=perf-record RESULT=unknown>", "<LAVA_SIGNAL_ENDRUN 1_perf 8_perf>", "<LAVA_TEST_RUNNER EXIT>")
    L.test("smoke", "pwd", "pass"); L.test("perf", "perf-record", "error")

def kunit(L, suites, top_plan=None):
    L.k("KTAP version 1", "1..%d" % (top_plan or len(suites)), dt=0.001)
    L.ms("tests_started")
    for i, (name, cases, sub) in enumerate(suites, 1):
        L.k("    KTAP version 1", "    # Subtest: " + name, "    # module: " + name + "_test", "    1..%d" % len(cases), dt=0.001)
        allok = True
        for j, (cn, st, params) in enumerate(cases, 1):
            if params:
                L.k("        KTAP version 1", "        # Subtest: " + cn, dt=0.001)
                for pi, (pn, pst) in enumerate(params, 1):
                    L.k("        %s %d %s" % ("ok" if pst != "fail" else "not ok", pi, pn + (" # SKIP not supported" if pst == "skip" else "")), dt=0.001)
                    L.test(name + "/" + cn, pn, pst)
                L.k("    # %s: pass:%d fail:0 skip:0 total:%d" % (cn, len(params), len(params)), dt=0)
            if st == "fail":
                L.k("    # %s: EXPECTATION FAILED at lib/%s_test.c:42" % (cn, name), "    Expected ret == 0, but", "        ret == -22 (0xffffffffffffffea)", dt=0.001)
                allok = False
            L.k("    %s %d %s%s" % ("not ok" if st == "fail" else "ok", j, cn, " # SKIP not supported on this architecture" if st == "skip" else ""), dt=0.001)
            L.test(name, cn, st)
        L.k("# %s: pass:%d fail:%d skip:0 total:%d" % (name, len(cases), 0 if allok else 1, len(cases)), dt=0)
        L.k("%s %d %s" % ("ok" if allok else "not ok", i, name), dt=0.001)
        L.test("kunit", name, "pass" if allok else "fail")
    L.k("# Totals: pass:%d fail:0 skip:0 total:%d" % (len(suites), len(suites)), dt=0)
    L.ms("tests_finished")

@case("tests-arm64-kunit", "tests", True, "KUnit at boot, then init")
def _(L):
    firmware(L); early(L)
    kunit(L, [("example", [("example_simple_test", "pass", None), ("example_skip_test", "skip", None), ("example_params_test", "pass", [("example value 3", "pass"), ("example value 0", "skip")])], None),
              ("list-kunit-test", [("list_test_list_init", "pass", None), ("list_test_list_add", "pass", None)], None)])
    rootfs(L); shell(L)

@case("tests-x86_64-kunit-failure", "tests", True, "a failing KUnit case does not fail the boot")
def _(L):
    firmware(L); early(L)
    kunit(L, [("time_test_cases", [("time64_to_tm_test_date_range", "pass", None)], None),
              ("overflow", [("u8_overflow_test", "pass", None), ("shift_sane_test", "fail", None)], None)])
    rootfs(L); buildroot(L)

@case("tests-riscv64-kunit-only-shutdown", "tests", True, "kunit.enable with kunit_shutdown=poweroff: no init at all")
def _(L):
    firmware(L); early(L)
    kunit(L, [("sysctl_test", [("sysctl_test_api_dointvec_null_tbl_data", "pass", None), ("sysctl_test_api_dointvec_table_maxlen_unset", "pass", None)], None)])
    L.k("reboot: Power down", dt=0.01)
    L.ms("shutdown")

def kselftest(L, collections):
    L.u("TAP version 13", "1..%d" % len(collections))
    L.ms("tests_started")
    for i, (col, test, sub, result, directive) in enumerate(collections, 1):
        L.u("# timeout set to 45", "# selftests: %s: %s" % (col, test))
        if sub is not None:
            L.u("# TAP version 13", "# 1..%d" % len(sub))
            for j, (n, st, d) in enumerate(sub, 1):
                L.u("# %s %d %s%s" % ("ok" if st in ("pass", "skip", "xfail") else "not ok", j, n, (" # " + d) if d else ""))
                L.test("kselftest-%s/%s" % (col, test), n, {"pass": "pass", "fail": "fail", "skip": "skip", "xfail": "pass", "todo": "skip"}[st])
            L.u("# # Totals: pass:%d fail:0 xfail:0 xpass:0 skip:0 error:0" % len(sub))
        L.u("%s %d selftests: %s: %s%s" % ("ok" if result in ("pass", "skip") else "not ok", i, col, test, (" # " + directive) if directive else ""))
        L.test("kselftest-" + col, test, result)
    L.ms("tests_finished")

@case("tests-x86_64-kselftest-net", "tests", True, "kselftest TAP with nested '# ' output, SKIP, XFAIL and a TIMEOUT")
def _(L):
    boot_to_init(L); shell(L); L.u("./run_kselftest.sh -c net")
    kselftest(L, [("net", "reuseport_bpf", [("reuseport_bpf_ipv4", "pass", None), ("reuseport_bpf_ipv6", "xfail", "XFAIL no ipv6")], "pass", None),
                  ("net", "tls", None, "skip", "SKIP"),
                  ("net", "fcnal-test.sh", None, "fail", "TIMEOUT 45 seconds")])

@case("tests-arm64-kselftest-todo-bailout", "tests", True, "TODO and a nested bail out")
def _(L):
    boot_to_init(L); shell(L); L.u("./run_kselftest.sh -c timers")
    L.u("TAP version 13", "1..2", "# selftests: timers: posix_timers", "# TAP version 13", "# 1..2",
        "# ok 1 Check itimer virtual", "# not ok 2 Check itimer prof # TODO flaky under TCG",
        "ok 1 selftests: timers: posix_timers",
        "# selftests: timers: rtcpie", "# TAP version 13", "# 1..3", "# Bail out! /dev/rtc0 missing",
        "not ok 2 selftests: timers: rtcpie # exit=1")
    L.ms("tests_started", "tests_finished")
    L.test("kselftest-timers/posix_timers", "Check itimer virtual", "pass")
    L.test("kselftest-timers/posix_timers", "Check itimer prof", "skip")
    L.test("kselftest-timers", "posix_timers", "pass")
    L.test("kselftest-timers/rtcpie", "bail-out", "error")
    L.test("kselftest-timers", "rtcpie", "fail")

@case("tests-armv7-kselftest-interleaved-kernel", "tests", True, "kernel lines between TAP lines")
def _(L):
    boot_to_init(L); shell(L); L.u("./run_kselftest.sh -c size")
    L.u("TAP version 13", "1..2", "# selftests: size: get_size")
    L.k("random: crng init done", t=30.0)
    L.u("# TAP version 13", "# 1..1", "# ok 1 get runtime memory use", "ok 1 selftests: size: get_size")
    L.k("hrtimer: interrupt took 4123456 ns", t=31.0)
    L.u("ok 2 selftests: size: get_size2")
    L.ms("tests_started", "tests_finished")
    L.test("kselftest-size/get_size", "get runtime memory use", "pass"); L.test("kselftest-size", "get_size", "pass"); L.test("kselftest-size", "get_size2", "pass")

@case("tests-i386-lava-kselftest", "tests", True, "kselftest inside a LAVA run")
def _(L):
    boot_to_init(L); shell(L)
    L.u("<LAVA_SIGNAL_STARTRUN 0_kselftest-exec 3_kselftest-exec>")
    kselftest(L, [("exec", "execveat", None, "pass", None), ("exec", "non-regular", None, "pass", None)])
    L.u("<LAVA_SIGNAL_TESTCASE TEST_CASE_ID=exec_execveat RESULT=pass>", "<LAVA_SIGNAL_ENDRUN 0_kselftest-exec 3_kselftest-exec>")
    L.test("kselftest-exec", "exec_execveat", "pass")

@case("tests-mips-lava-fail-then-poweroff", "tests", True)
def _(L):
    boot_to_init(L); shell(L)
    lava_run(L, "smoke", 0, [("ping", "fail"), ("uname", "pass")])
    L.test("smoke", "ping", "fail"); L.test("smoke", "uname", "pass")
    L.k("reboot: Power down", t=50.0)
    L.ms("shutdown")

# ---------------------------------------------------------------- crashes
def vfs_panic(L, arch_trace):
    L.k("VFS: Cannot open root device \"vda\" or unknown-block(0,0): error -6",
        "Please append a correct \"root=\" boot option; here are the available partitions:",
        "List of all bdev filesystems:", " ext3", " ext2", " ext4", "",
        "Kernel panic - not syncing: VFS: Unable to mount root fs on unknown-block(0,0)", dt=0.01)
    cpu_line(L)
    arch_trace()
    L.k("---[ end Kernel panic - not syncing: VFS: Unable to mount root fs on unknown-block(0,0) ]---", dt=0)

PANIC_TRACE = {
 "x86_64": lambda L: x86_trace(L, ["dump_stack_lvl+0x33/0x50", "panic+0x314/0x340", "mount_root_generic+0x1cb/0x260", "prepare_namespace+0x69/0x280", "kernel_init_freeable+0x255/0x280", "? __pfx_kernel_init+0x10/0x10", "kernel_init+0x1a/0x1c0", "ret_from_fork+0x34/0x50", "ret_from_fork_asm+0x1b/0x30"]) or L.k("Kernel Offset: disabled", dt=0),
 "i386": lambda L: L.k("Call Trace:", " dump_stack_lvl+0x3c/0x54", " dump_stack+0xd/0x10", " panic+0xa5/0x270", " mount_block_root+0x1a2/0x250", " prepare_namespace+0x13a/0x16c", " kernel_init_freeable+0x1a2/0x1b0", " kernel_init+0x12/0x110", " ret_from_fork+0x1c/0x28", "Kernel Offset: disabled", dt=0),
 "arm64": lambda L: L.k("Call trace:", " dump_backtrace+0x9c/0x100", " show_stack+0x20/0x38", " dump_stack_lvl+0x48/0x60", " dump_stack+0x18/0x28", " panic+0x32c/0x388", " mount_root_generic+0x1d4/0x2a0", " prepare_namespace+0x6c/0x2b0", " kernel_init_freeable+0x24c/0x288", " kernel_init+0x2c/0x1f8", " ret_from_fork+0x10/0x20", "Kernel Offset: disabled", "CPU features: 0x00,00000000,00200000,4200400b", "Memory Limit: none", dt=0),
 "armv7": lambda L: L.k(" unwind_backtrace from show_stack+0x18/0x1c", " show_stack from dump_stack_lvl+0x40/0x4c", " dump_stack_lvl from panic+0x118/0x328", " panic from mount_block_root+0x1a8/0x238", " mount_block_root from prepare_namespace+0x150/0x18c", " prepare_namespace from kernel_init+0x1c/0x12c", " kernel_init from ret_from_fork+0x14/0x28", "Exception stack(0xf0815fb0 to 0xf0815ff8)", "5fa0:                                     00000000 00000000 00000000 00000000", dt=0),
 "riscv64": lambda L: L.k("Call Trace:", "[<ffffffff80006b3c>] dump_backtrace+0x1c/0x24", "[<ffffffff80a0ee5a>] show_stack+0x2c/0x38", "[<ffffffff80a1b2f0>] dump_stack_lvl+0x52/0x74", "[<ffffffff80a0f0be>] panic+0x10a/0x2f6", "[<ffffffff80c01580>] mount_root_generic+0x1e0/0x290", "[<ffffffff80c01830>] prepare_namespace+0x1ca/0x222", "[<ffffffff80c00f40>] kernel_init_freeable+0x1f2/0x21a", "[<ffffffff80a1c2e4>] kernel_init+0x1e/0x10a", "[<ffffffff80003c42>] ret_from_exception+0x0/0x16", dt=0),
 "ppc64le": lambda L: L.k("Call Trace:", "[c0000000030efb80] [c000000000e71b50] dump_stack_lvl+0x74/0xa8 (unreliable)", "[c0000000030efbc0] [c00000000014ee30] panic+0x1a4/0x42c", "[c0000000030efc60] [c0000000020059d0] mount_block_root+0x1d4/0x2a8", "[c0000000030efd30] [c000000002005cb4] prepare_namespace+0x168/0x1b4", "[c0000000030efdb0] [c000000002005364] kernel_init_freeable+0x388/0x3d8", "[c0000000030efe90] [c000000000012d10] kernel_init+0x30/0x198", "[c0000000030efe10] [c00000000000cf5c] ret_from_kernel_thread+0x5c/0x64", dt=0),
 "s390x": lambda L: L.k("Call Trace:", " [<0000000000b8a1f2>] dump_stack_lvl+0x62/0x88 ", " [<0000000000b7b0a4>] panic+0x11c/0x318 ", " [<000000000147c6be>] mount_block_root+0x1d6/0x288 ", " [<000000000147c9aa>] prepare_namespace+0x16a/0x1a8 ", " [<000000000147bf32>] kernel_init_freeable+0x2a2/0x2d8 ", " [<0000000000b8d8a2>] kernel_init+0x2a/0x158 ", " [<0000000000103d9c>] __ret_from_fork+0x3c/0x58 ", " [<0000000000b99a9a>] ret_from_fork+0xa/0x30 ", dt=0),
 "mips": lambda L: L.k("Stack : 00000000 00000000 00000000 00000000 80b6e4a4 00000000 00000000 00000000", "Call Trace:", "[<8010a4a4>] show_stack+0x38/0x118", "[<80a2d0d4>] dump_stack_lvl+0x60/0x80", "[<80a24f70>] panic+0x138/0x33c", "[<80c01760>] mount_block_root+0x1c8/0x260", "[<80c01a14>] prepare_namespace+0x158/0x19c", "[<80a2f4c8>] kernel_init+0x20/0x11c", "[<80103178>] ret_from_kernel_thread+0x14/0x1c", "", dt=0),
}

for arch in ARCH:
    def mk(arch):
        @case("panic-%s-vfs-no-root" % arch, "crash", False, "no root device: VFS panic")
        def _(L):
            firmware(L); early(L)
            vfs_panic(L, lambda: PANIC_TRACE[arch](L))
            L.crash("kernel_panic", "kernel panic: VFS: Unable to mount root fs on unknown-block(0,0)", True)
        return _
    mk(arch)

@case("panic-x86_64-init-killed", "crash", False, "init segfaults: Attempted to kill init")
def _(L):
    firmware(L); early(L); rootfs(L)
    L.u("/sbin/init: error while loading shared libraries: libc.so.6: cannot open shared object file: No such file or directory")
    L.k("Kernel panic - not syncing: Attempted to kill init! exitcode=0x00007f00", t=3.0, dt=0)
    cpu_line(L, "init", 1)
    x86_trace(L, ["dump_stack_lvl+0x33/0x50", "panic+0x314/0x340", "do_exit+0x95f/0xac0", "do_group_exit+0x31/0x80", "__x64_sys_exit_group+0x18/0x20", "do_syscall_64+0x58/0x90", "entry_SYSCALL_64_after_hwframe+0x6e/0xd8"])
    L.k("Kernel Offset: disabled", "---[ end Kernel panic - not syncing: Attempted to kill init! exitcode=0x00007f00 ]---", dt=0)
    L.crash("init_died", "kernel panic: Attempted to kill init!", True)

@case("panic-arm64-no-working-init", "crash", False)
def _(L):
    firmware(L); early(L)
    L.k("Freeing unused kernel memory: 10176K", "Run /init as init process", "Failed to execute /init (error -2)",
        "Run /sbin/init as init process", "Run /etc/init as init process", "Run /bin/init as init process", "Run /bin/sh as init process", t=2.0)
    L.ms("init_started")
    L.k("Kernel panic - not syncing: No working init found.  Try passing init= option to kernel. See Linux Documentation/admin-guide/init.rst for guidance.", dt=0)
    cpu_line(L)
    PANIC_TRACE["arm64"](L)
    L.k("---[ end Kernel panic - not syncing: No working init found.  Try passing init= option to kernel. See Linux Documentation/admin-guide/init.rst for guidance. ]---", dt=0)
    L.crash("init_died", "kernel panic: No working init found", True)

@case("panic-riscv64-requested-init-failed", "crash", False)
def _(L):
    firmware(L); early(L)
    L.k("Run /bin/myinit as init process", t=2.0)
    L.ms("init_started")
    L.k("Kernel panic - not syncing: Requested init /bin/myinit failed (error -2).", dt=0)
    cpu_line(L)
    PANIC_TRACE["riscv64"](L)
    L.k("---[ end Kernel panic - not syncing: Requested init /bin/myinit failed (error -2). ]---", dt=0)
    L.crash("init_died", "kernel panic: Requested init /bin/myinit failed", True)

@case("oops-x86_64-null-deref", "crash", False, "NULL dereference in a driver probe, then Fatal exception")
def _(L):
    firmware(L); early(L)
    L.k("BUG: kernel NULL pointer dereference, address: 0000000000000008", "#PF: supervisor read access in kernel mode",
        "#PF: error_code(0x0000) - not-present page", "PGD 0 P4D 0", "Oops: 0000 [#1] PREEMPT SMP NOPTI", t=1.5, dt=0)
    cpu_line(L)
    x86_regs(L, "virtnet_probe", "0x3a1/0xd60")
    x86_trace(L, ["? __die+0x1f/0x70", "? page_fault_oops+0x171/0x4e0", "? exc_page_fault+0x7f/0x180", "? asm_exc_page_fault+0x26/0x30", "? virtnet_probe+0x3a1/0xd60", "virtio_dev_probe+0x1c6/0x2c0", "really_probe+0x1e0/0x3e0", "driver_probe_device+0x1f/0x90", "kernel_init+0x1a/0x1c0", "ret_from_fork+0x34/0x50"])
    L.k("Modules linked in:", "CR2: 0000000000000008", "---[ end trace 0000000000000000 ]---", dt=0)
    x86_regs(L, "virtnet_probe", "0x3a1/0xd60")
    L.k("Kernel panic - not syncing: Fatal exception", "Kernel Offset: disabled", "---[ end Kernel panic - not syncing: Fatal exception ]---", dt=0)
    L.crash("oops", "BUG: kernel NULL pointer dereference in virtnet_probe", True)

@case("oops-x86_64-gpf-kasan", "crash", False, "general protection fault with KASAN's range hint")
def _(L):
    L.caller = True
    boot_to_init(L); shell(L)
    L.k("Oops: general protection fault, probably for non-canonical address 0xdffffc0000000001: 0000 [#1] PREEMPT SMP KASAN NOPTI",
        "KASAN: null-ptr-deref in range [0x0000000000000008-0x000000000000000f]", t=40.0, dt=0)
    cpu_line(L, "syz-executor", 3141, "Not tainted")
    x86_regs(L, "nf_tables_newrule", "0x1b4/0x2450 [nf_tables]")
    x86_trace(L, ["? die_addr+0x3c/0xa0", "? exc_general_protection+0x148/0x220", "nfnetlink_rcv_batch+0x11c8/0x1840 [nfnetlink]", "nfnetlink_rcv+0x3e4/0x4a0 [nfnetlink]", "netlink_unicast+0x58a/0x850", "__sys_sendmsg+0x1c2/0x270", "do_syscall_64+0xc1/0x1d0"])
    L.k("Modules linked in: nf_tables nfnetlink", "---[ end trace 0000000000000000 ]---", dt=0)
    L.crash("oops", "general protection fault in nf_tables_newrule", True)

@case("oops-arm64-null-deref", "crash", False)
def _(L):
    boot_to_init(L); shell(L)
    L.u("echo 1 > /sys/kernel/debug/provoke-crash/DIRECT")
    L.k("Unable to handle kernel NULL pointer dereference at virtual address 0000000000000000", "Mem abort info:",
        "  ESR = 0x0000000096000045", "  EC = 0x25: DABT (current EL), IL = 32 bits", "  SET = 0, FnV = 0", "  EA = 0, S1PTW = 0",
        "  FSC = 0x05: level 1 translation fault", "Data abort info:", "  ISV = 0, ISS = 0x00000045, ISS2 = 0x00000000",
        "user pgtable: 4k pages, 48-bit VAs, pgdp=0000000043b0e000", "[0000000000000000] pgd=0000000000000000, p4d=0000000000000000",
        "Internal error: Oops: 0000000096000045 [#1] PREEMPT SMP", "Modules linked in:", t=25.0, dt=0)
    cpu_line(L, "sh", 142)
    arm64_regs(L, "lkdtm_WRITE_KERN", "lkdtm_do_action")
    L.k("Call trace:", " lkdtm_WRITE_KERN+0x1c/0x40", " lkdtm_do_action+0x24/0x48", " direct_entry+0xf4/0x130", " full_proxy_write+0x68/0xc0",
        " vfs_write+0xcc/0x2d8", " ksys_write+0x78/0x118", " __arm64_sys_write+0x24/0x38", " invoke_syscall+0x50/0x128", " el0_svc_common.constprop.0+0x48/0xf0",
        " do_el0_svc+0x24/0x38", " el0_svc+0x38/0xd0", " el0t_64_sync_handler+0x100/0x130", " el0t_64_sync+0x190/0x198",
        "Code: d503233f a9bf7bfd 910003fd d2800000 (b900001f) ", "---[ end trace 0000000000000000 ]---", dt=0)
    L.crash("oops", "Unable to handle kernel NULL pointer dereference in lkdtm_WRITE_KERN", True)

@case("oops-armv7-null-deref-old-format", "crash", False, "32-bit Arm: PC is at, (func) from")
def _(L):
    firmware(L); early(L)
    L.k("8<--- cut here ---", "Unable to handle kernel NULL pointer dereference at virtual address 00000000", "[00000000] *pgd=00000000",
        "Internal error: Oops: 5 [#1] SMP ARM", "Modules linked in:", t=1.8, dt=0)
    cpu_line(L)
    L.k("PC is at pl031_probe+0x58/0x1c4", "LR is at amba_probe+0xc4/0x14c", "pc : [<c06a3c3c>]    lr : [<c05e0a2c>]    psr: 60000013",
        "sp : c1859e48  ip : 00000000  fp : c1866c10", "r10: c1223c48  r9 : 00000000  r8 : c1a3b000",
        "Flags: nZCv  IRQs on  FIQs on  Mode SVC_32  ISA ARM  Segment none", "Control: 10c5387d  Table: 4000406a  DAC: 00000051",
        "Process swapper/0 (pid: 1, stack limit = 0x(ptrval))", "Stack: (0xc1859e48 to 0xc185a000)",
        "9e40:                   c1a3b000 00000000 c1223c48 c05e0a2c c1a3b000 c1223c48",
        "[<c06a3c3c>] (pl031_probe) from [<c05e0a2c>] (amba_probe+0xc4/0x14c)",
        "[<c05e0a2c>] (amba_probe) from [<c065a2e8>] (really_probe+0xe0/0x3c0)",
        "[<c065a2e8>] (really_probe) from [<c0101d1c>] (kernel_init+0x1c/0x12c)",
        "Code: e5943010 e3530000 0a000002 e5932000 (e5923000) ", "---[ end trace 0000000000000000 ]---",
        "Kernel panic - not syncing: Fatal exception", "---[ end Kernel panic - not syncing: Fatal exception ]---", dt=0)
    L.crash("oops", "Unable to handle kernel NULL pointer dereference in pl031_probe", True)

@case("oops-riscv64-paging-request", "crash", False)
def _(L):
    boot_to_init(L); buildroot(L)
    L.k("Unable to handle kernel paging request at virtual address ff60000002c0e008", "Oops [#1]", "Modules linked in:", t=60.0, dt=0)
    cpu_line(L, "kworker/0:2", 57)
    L.k("Workqueue: events virtio_gpu_dequeue_ctrl_func",
        "epc : virtio_gpu_dequeue_ctrl_func+0x6e/0x1a4", " ra : process_one_work+0x1c4/0x3b8",
        "epc : ffffffff806b3a2e ra : ffffffff8003c4a8 sp : ff20000000a1bd80",
        " gp : ffffffff8194d0a0 tp : ff600000030a8000 t0 : 0000000000000000",
        "status: 0000000200000120 badaddr: ff60000002c0e008 cause: 000000000000000d",
        "[<ffffffff806b3a2e>] virtio_gpu_dequeue_ctrl_func+0x6e/0x1a4",
        "[<ffffffff8003c4a8>] process_one_work+0x1c4/0x3b8",
        "[<ffffffff8003cc2e>] worker_thread+0x1de/0x31c",
        "[<ffffffff80043e62>] kthread+0xc8/0xe4",
        "[<ffffffff80003ab8>] ret_from_exception+0x0/0x16",
        "Code: 9793 0207 d793 0207 97ba 6398 c703 0007 (6b18) ", "---[ end trace 0000000000000000 ]---", dt=0)
    L.crash("oops", "Unable to handle kernel paging request in virtio_gpu_dequeue_ctrl_func", True)

@case("oops-ppc64le-null-deref", "crash", False)
def _(L):
    firmware(L); early(L)
    L.k("Kernel attempted to read user page (8) - exploit attempt? (uid: 0)", "BUG: Kernel NULL pointer dereference on read at 0x00000008",
        "Faulting instruction address: 0xc0000000008c1f34", "Oops: Kernel access of bad area, sig: 11 [#1]",
        "LE PAGE_SIZE=64K MMU=Hash SMP NR_CPUS=2048 NUMA pSeries", "Modules linked in:", t=2.1, dt=0)
    cpu_line(L)
    L.k("NIP:  c0000000008c1f34 LR: c0000000008c1ef0 CTR: 0000000000000000",
        "REGS: c0000000030ef8f0 TRAP: 0300   Not tainted  (" + ARCH["ppc64le"]["ver"] + ")",
        "MSR:  8000000002009033 <SF,VEC,EE,ME,IR,DR,RI,LE>  CR: 28000282  XER: 20000000",
        "NIP [c0000000008c1f34] ibmvscsi_probe+0x104/0x8d0", "LR [c0000000008c1ef0] ibmvscsi_probe+0xc0/0x8d0",
        "Call Trace:", "[c0000000030efb90] [c0000000008c1ef0] ibmvscsi_probe+0xc0/0x8d0 (unreliable)",
        "[c0000000030efc60] [c0000000000e8a4c] vio_bus_probe+0x9c/0x460", "[c0000000030efd00] [c0000000008049b8] really_probe+0x108/0x530",
        "Instruction dump:", "7c0802a6 fbe1fff8 f8010010 f821ff91 7c7f1b78 e9230008 2c290000 41820010",
        "---[ end trace 0000000000000000 ]---", "", "Kernel panic - not syncing: Fatal exception", dt=0)
    L.crash("oops", "BUG: Kernel NULL pointer dereference in ibmvscsi_probe", True)

@case("oops-s390x-pointer-deref", "crash", False)
def _(L):
    boot_to_init(L); shell(L)
    L.k("Unable to handle kernel pointer dereference in virtual kernel address space", "Failing address: 0000000000000000 TEID: 0000000000000483",
        "Fault in home space mode while using kernel ASCE.", "AS:0000000001a3c007 R3:000000007fffc007 S:000000007fffb800 P:000000000000013d",
        "Oops: 0004 ilc:3 [#1] SMP", "Modules linked in:", t=12.0, dt=0)
    cpu_line(L, "sh", 99)
    L.k("Krnl PSW : 0704c00180000000 00000000009e7c4a (sysrq_handle_crash+0x1a/0x20)",
        "           R:0 T:1 IO:1 EX:1 Key:0 M:1 W:0 P:0 AS:3 CC:0 PM:0 RI:0 EA:3",
        "Krnl GPRS: 0000000000000000 0000000000000000 0000000000000063 0000000000000000",
        "Krnl Code: 00000000009e7c3e: a7f40001\t\tbrc\t15,00000000009e7c40",
        "Call Trace:", " [<00000000009e7c4a>] sysrq_handle_crash+0x1a/0x20 ", " [<00000000009e84a8>] __handle_sysrq+0xb8/0x1d0 ",
        " [<00000000009e8c2e>] write_sysrq_trigger+0x5e/0x80 ", " [<00000000005d3a7a>] proc_reg_write+0x9a/0xe8 ",
        "Last Breaking-Event-Address:", " [<00000000009e84a6>] __handle_sysrq+0xb6/0x1d0",
        "---[ end trace 0000000000000000 ]---", dt=0)
    L.crash("oops", "Unable to handle kernel pointer dereference in sysrq_handle_crash", True)

@case("oops-mips-paging-request", "crash", False)
def _(L):
    firmware(L); early(L)
    L.k("CPU 0 Unable to handle kernel paging request at virtual address 00000004, epc == 80512a3c, ra == 80512a10", "Oops[#1]:", t=1.2, dt=0)
    L.k("CPU: 0 PID: 1 Comm: swapper/0 Not tainted %s #1" % ARCH["mips"]["ver"],
        "$ 0   : 00000000 00000001 00000000 00000000", "Hi    : 00000000", "Lo    : 00000000",
        "epc   : 80512a3c pcnet32_probe1+0x5c/0x7d0", "ra    : 80512a10 pcnet32_probe1+0x30/0x7d0",
        "Status: 1000a403\tKERNEL EXL IE", "Cause : 00800008 (ExcCode 02)", "BadVA : 00000004", "PrId  : 00019300 (MIPS 24Kc)",
        "Process swapper/0 (pid: 1, threadinfo=(ptrval), task=(ptrval), tls=00000000)",
        "Stack : 00000000 80ae0000 8fc4b240 80512db0 00000000 00000000 00000000 00000000",
        "Call Trace:", "[<80512a3c>] pcnet32_probe1+0x5c/0x7d0", "[<80512e2c>] pcnet32_probe_pci+0xc0/0x144",
        "[<8049a0b0>] pci_device_probe+0x88/0x130", "", "Code: 8fa40030  24050001  8c820000 <8c430004> 10600006", "",
        "---[ end trace 0000000000000000 ]---", "Kernel panic - not syncing: Attempted to kill init! exitcode=0x0000000b", "---[ end Kernel panic - not syncing: Attempted to kill init! exitcode=0x0000000b ]---", dt=0)
    L.crash("oops", "Unable to handle kernel paging request in pcnet32_probe1", True)
    L.crash("init_died", "kernel panic: Attempted to kill init!", True)

@case("oops-i386-null-deref", "crash", False)
def _(L):
    boot_to_init(L); buildroot(L)
    L.k("BUG: kernel NULL pointer dereference, address: 00000000", "#PF: supervisor write access in kernel mode", "#PF: error_code(0x0002) - not-present page",
        "*pde = 00000000 ", "Oops: 0002 [#1] PREEMPT SMP", t=33.0, dt=0)
    cpu_line(L, "modprobe", 201)
    L.k("EIP: crash_init+0xd/0x1000 [crashmod]", "Code: Unable to access opcode bytes at 0xf8a3dfe3.",
        "EAX: 00000000 EBX: 00000000 ECX: 00000000 EDX: 00000000", "ESI: f8a3e000 EDI: 00000000 EBP: c3539e40 ESP: c3539e40",
        "DS: 007b ES: 007b FS: 00d8 GS: 0000 SS: 0068 EFLAGS: 00010246", "CR0: 80050033 CR2: 00000000 CR3: 03558000 CR4: 00150ef0",
        "Call Trace:", " do_one_initcall+0x4e/0x1f0", " do_init_module+0x45/0x1f0", " load_module+0x1b6e/0x1e60", " __ia32_sys_finit_module+0x7b/0xd0",
        " do_int80_syscall_32+0x2c/0x70", " entry_INT80_32+0x10d/0x10d", "Modules linked in: crashmod(+)", "CR2: 0000000000000000", "---[ end trace 0000000000000000 ]---", dt=0)
    L.crash("oops", "BUG: kernel NULL pointer dereference in crash_init", True)

@case("bug-x86_64-kernel-bug-at", "crash", False, "BUG_ON: kernel BUG at, invalid opcode")
def _(L):
    boot_to_init(L); buildroot(L)
    L.k("------------[ cut here ]------------", "kernel BUG at mm/slub.c:436!", "invalid opcode: 0000 [#1] PREEMPT SMP NOPTI", t=70.0, dt=0)
    cpu_line(L, "kworker/1:1", 44, cpu=1)
    L.k("Workqueue: events free_work", dt=0)
    x86_regs(L, "__slab_free", "0x2a5/0x2e0")
    x86_trace(L, ["? die+0x36/0x90", "? do_trap+0xda/0x100", "? __slab_free+0x2a5/0x2e0", "kfree+0x1d4/0x2d0", "free_work+0x25/0x40", "process_one_work+0x1c7/0x380", "worker_thread+0x4d/0x380", "kthread+0xe5/0x120", "ret_from_fork+0x31/0x50"])
    L.k("Modules linked in:", "---[ end trace 0000000000000000 ]---", dt=0)
    L.crash("bug", "kernel BUG in __slab_free", True)

@case("bug-arm64-kernel-bug-at", "crash", False)
def _(L):
    firmware(L); early(L)
    L.k("------------[ cut here ]------------", "kernel BUG at drivers/virtio/virtio_ring.c:2174!",
        "Internal error: Oops - BUG: 00000000f2000800 [#1] PREEMPT SMP", "Modules linked in:", t=1.4, dt=0)
    cpu_line(L)
    arm64_regs(L, "virtqueue_kick_prepare_split", "virtqueue_kick")
    L.k("Call trace:", " virtqueue_kick_prepare_split+0x1c/0x40", " virtqueue_kick+0x24/0x60", " virtblk_probe+0x5a8/0x8a0",
        " virtio_dev_probe+0x1d0/0x2a0", "Code: 17ffffe6 d4210000 d4210000 d4210000 (d4210000) ", "---[ end trace 0000000000000000 ]---",
        "note: swapper/0[1] exited with irqs disabled", "Kernel panic - not syncing: Attempted to kill init! exitcode=0x0000000b",
        "SMP: stopping secondary CPUs", "Kernel Offset: disabled", "---[ end Kernel panic - not syncing: Attempted to kill init! exitcode=0x0000000b ]---", dt=0)
    L.crash("bug", "kernel BUG in virtqueue_kick_prepare_split", True)
    L.crash("init_died", "kernel panic: Attempted to kill init!", True)

@case("bug-x86_64-bad-page-state", "crash", False)
def _(L):
    boot_to_init(L); buildroot(L)
    L.k("BUG: Bad page state in process kswapd0  pfn:0a3b4", "page:00000000b7a6e2c1 refcount:0 mapcount:1 mapping:0000000000000000 index:0x7f2 pfn:0xa3b4",
        "flags: 0x100000000000014(uptodate|lru|node=0|zone=1)", "page dumped because: nonzero mapcount", "Modules linked in:", t=90.0, dt=0)
    cpu_line(L, "kswapd0", 35, "Tainted: G    B")
    x86_trace(L, ["dump_stack_lvl+0x33/0x50", "bad_page+0x70/0x110", "free_unref_page_prepare+0x21e/0x2c0", "shrink_folio_list+0x6c1/0xd80", "kswapd+0x2b4/0x580", "kthread+0xe5/0x120"])
    L.k("Disabling lock debugging due to kernel taint", dt=0)
    L.crash("bug", "BUG: Bad page state in process kswapd0", True)

def warning_x86(L, fn, file, comm="swapper/0", pid=1, mod=""):
    L.k("------------[ cut here ]------------", "WARNING: CPU: 0 PID: %d at %s %s+0x5e/0x90%s" % (pid, file, fn, mod), "Modules linked in:%s" % mod, dt=0)
    cpu_line(L, comm, pid)
    x86_regs(L, fn, "0x5e/0x90", mod)
    x86_trace(L, ["? __warn+0x81/0x130", "? %s+0x5e/0x90%s" % (fn, mod), "? report_bug+0x171/0x1a0", "? handle_bug+0x3c/0x80", "? exc_invalid_op+0x17/0x70", "? asm_exc_invalid_op+0x1a/0x20", "do_one_initcall+0x58/0x320", "kernel_init_freeable+0x25f/0x2e0", "kernel_init+0x1a/0x1c0", "ret_from_fork+0x34/0x50"])
    L.k("---[ end trace 0000000000000000 ]---", dt=0)

@case("warning-x86_64-warn-on", "crash", True, "a WARNING fails a log check, not the boot")
def _(L):
    firmware(L); early(L)
    L.t = 1.2
    warning_x86(L, "drm_vblank_init", "drivers/gpu/drm/drm_vblank.c:498")
    rootfs(L); buildroot(L)
    L.crash("warning", "WARNING in drm_vblank_init", False)

@case("warning-arm64-warn-on-two", "crash", True, "two warnings, one log check")
def _(L):
    firmware(L); early(L)
    for fn in ("of_irq_parse_raw", "gic_irq_domain_translate"):
        L.k("------------[ cut here ]------------", "WARNING: CPU: 1 PID: 1 at drivers/of/irq.c:311 %s+0x3c0/0x5c8" % fn, "Modules linked in:", dt=0)
        cpu_line(L, cpu=1)
        arm64_regs(L, fn)
        L.k("Call trace:", " %s+0x3c0/0x5c8" % fn, " of_irq_parse_one+0x124/0x1a8", " platform_get_irq_optional+0x40/0x1a0",
            "---[ end trace 0000000000000000 ]---", dt=0)
    rootfs(L); shell(L)
    L.crash("warning", "WARNING in of_irq_parse_raw", False)
    L.crash("warning", "WARNING in gic_irq_domain_translate", False)

@case("warning-riscv64-new-format", "crash", True, "the 6.x WARNING line format")
def _(L):
    firmware(L); early(L)
    L.k("------------[ cut here ]------------", "WARNING: kernel/irq/manage.c:1912 at free_irq+0x2b2/0x31a, CPU#0: swapper/0/1", "Modules linked in:", t=1.1, dt=0)
    cpu_line(L)
    L.k("epc : free_irq+0x2b2/0x31a", " ra : free_irq+0x2b2/0x31a", "[<ffffffff8006d9e2>] free_irq+0x2b2/0x31a", "[<ffffffff80a2e01c>] serial8250_do_shutdown+0x112/0x1f0",
        "---[ end trace 0000000000000000 ]---", dt=0)
    rootfs(L); buildroot(L)
    L.crash("warning", "WARNING in free_irq", False)

@case("warning-x86_64-panic-on-warn", "crash", False, "panic_on_warn turns a WARNING into a panic")
def _(L):
    firmware(L); early(L); L.t = 1.3
    warning_x86(L, "vmx_set_cpu_caps", "arch/x86/kvm/vmx/vmx.c:7950", mod=" [kvm_intel]")
    L.k("Kernel panic - not syncing: kernel: panic_on_warn set ...", dt=0)
    cpu_line(L)
    x86_trace(L, ["dump_stack_lvl+0x33/0x50", "panic+0x314/0x340", "check_panic_on_warn+0x44/0x50", "__warn+0xa9/0x130"])
    L.k("Kernel Offset: disabled", "---[ end Kernel panic - not syncing: kernel: panic_on_warn set ... ]---", dt=0)
    L.crash("warning", "WARNING in vmx_set_cpu_caps", False)
    L.crash("kernel_panic", "kernel panic: kernel: panic_on_warn set ...", True)

@case("warning-x86_64-lockdep-circular", "crash", True)
def _(L):
    boot_to_init(L)
    L.k("", "======================================================", "WARNING: possible circular locking dependency detected",
        "6.1.0-28-amd64 #1 Not tainted", "------------------------------------------------------", "kworker/0:2/63 is trying to acquire lock:",
        "ffff888005a1c0b8 (&dev->mutex){+.+.}-{3:3}, at: device_del+0x46/0x3f0", "", "but task is already holding lock:",
        "ffffffff82e8f4c8 (cpu_hotplug_lock){++++}-{0:0}, at: cpus_read_lock+0x12/0x20", "",
        "which lock already depends on the new lock.", "", "", "the existing dependency chain (in reverse order) is:", "",
        "-> #1 (cpu_hotplug_lock){++++}-{0:0}:", "       lock_acquire+0xd3/0x2f0", "       cpus_read_lock+0x3a/0xd0", "",
        "other info that might help us debug this:", "", " Possible unsafe locking scenario:", "",
        "       CPU0                    CPU1", "       ----                    ----", "  lock(cpu_hotplug_lock);", "",
        " *** DEADLOCK ***", "", "stack backtrace:", t=5.0, dt=0)
    cpu_line(L, "kworker/0:2", 63)
    x86_trace(L, ["dump_stack_lvl+0x5b/0x80", "check_noncircular+0x12a/0x150", "__lock_acquire+0x13a6/0x2360", "lock_acquire+0xd3/0x2f0", "__mutex_lock+0x8c/0x9a0", "device_del+0x46/0x3f0", "process_one_work+0x25e/0x5a0"])
    buildroot(L)
    L.crash("warning", "possible deadlock in device_del", False)

@case("warning-arm64-suspicious-rcu", "crash", True)
def _(L):
    firmware(L); early(L)
    L.k("", "=============================", "WARNING: suspicious RCU usage", "6.12.1 #1 Not tainted", "-----------------------------",
        "net/ipv4/fib_trie.c:1234 suspicious rcu_dereference_check() usage!", "", "other info that might help us debug this:", "",
        "rcu_scheduler_active = 2, debug_locks = 1", "1 lock held by swapper/0/1:", "stack backtrace:", t=1.0, dt=0)
    cpu_line(L)
    L.k("Call trace:", " dump_backtrace+0x9c/0x100", " lockdep_rcu_suspicious+0x160/0x1c8", " fib_table_lookup+0x5c8/0x6b8", " ip_route_output_key_hash+0x80/0xe0", dt=0)
    rootfs(L); shell(L)
    L.crash("warning", "suspicious RCU usage at net/ipv4/fib_trie.c:1234", False)

@case("warning-x86_64-sleeping-in-atomic", "crash", True)
def _(L):
    boot_to_init(L)
    L.k("BUG: sleeping function called from invalid context at kernel/locking/mutex.c:283",
        "in_atomic(): 1, irqs_disabled(): 0, non_block: 0, pid: 88, name: kworker/0:3", "preempt_count: 1, expected: 0",
        "RCU nest depth: 0, expected: 0", t=6.0, dt=0)
    cpu_line(L, "kworker/0:3", 88)
    x86_trace(L, ["dump_stack_lvl+0x33/0x50", "__might_resched+0x147/0x180", "mutex_lock+0x1a/0x40", "e1000_watchdog+0x4f/0x600", "process_one_work+0x1c7/0x380"])
    buildroot(L)
    L.crash("warning", "BUG: sleeping function called from invalid context in e1000_watchdog", False)

def kasan(L, typ, fn, access, size, extra_title=None):
    L.k("==================================================================", "BUG: KASAN: %s in %s+0x1b4/0x230" % (typ, fn), dt=0)
    if access:
        L.k("%s of size %d at addr ffff888006d2b1c8 by task swapper/0/1" % (access, size), dt=0)
    L.k("", dt=0)
    cpu_line(L)
    if L.arch == "arm64":
        L.k("Call trace:", " dump_backtrace+0x9c/0x100", " show_stack+0x20/0x38", " dump_stack_lvl+0x48/0x60", " print_report+0xf8/0x5d8",
            " kasan_report+0xc8/0x108", " __asan_report_store1_noabort+0x20/0x30", " %s+0x1b4/0x230" % fn, " kunit_try_run_case+0x14c/0x3d0", dt=0)
    else:
        x86_trace(L, ["dump_stack_lvl+0x5b/0x80", "print_report+0xcf/0x630", "kasan_report+0xd8/0x110", "%s+0x1b4/0x230" % fn, "do_one_initcall+0x58/0x320"])
    L.k("", "Allocated by task 1:", " kasan_save_stack+0x33/0x60", " __kasan_kmalloc+0x8f/0xa0", " %s+0x6a/0x230" % fn, "",
        "Freed by task 1:", " kasan_save_stack+0x33/0x60", " kfree+0xf5/0x2d0", "",
        "The buggy address belongs to the object at ffff888006d2b180", " which belongs to the cache kmalloc-96 of size 96",
        "Memory state around the buggy address:", " ffff888006d2b080: fa fb fb fb fb fb fb fb fb fb fb fb fc fc fc fc",
        ">ffff888006d2b180: fa fb fb fb fb fb fb fb fb fb fb fb fc fc fc fc", "                                              ^",
        "==================================================================", dt=0)

@case("kasan-x86_64-slab-use-after-free", "crash", False)
def _(L):
    firmware(L); early(L); L.t = 1.6
    kasan(L, "slab-use-after-free", "virtio_gpu_cleanup", "Read", 8)
    L.k("Disabling lock debugging due to kernel taint", dt=0)
    rootfs(L); buildroot(L)
    L.crash("kasan", "KASAN: slab-use-after-free Read in virtio_gpu_cleanup", True)

@case("kasan-arm64-out-of-bounds-write", "crash", False)
def _(L):
    L.arch = "arm64"
    boot_to_init(L); shell(L)
    L.t = 50
    kasan(L, "slab-out-of-bounds", "kmalloc_oob_right", "Write", 1)
    L.crash("kasan", "KASAN: slab-out-of-bounds Write in kmalloc_oob_right", True)

@case("kasan-x86_64-double-free-panic-on-warn", "crash", False, "a KASAN report then its panic")
def _(L):
    boot_to_init(L); L.t = 9.0
    kasan(L, "double-free", "snd_ctl_release", None, 0)
    L.k("Kernel panic - not syncing: KASAN: panic_on_warn set ...", dt=0)
    cpu_line(L)
    L.k("Kernel Offset: disabled", "Rebooting in 86400 seconds..", dt=0)
    L.crash("kasan", "KASAN: double-free in snd_ctl_release", True)
    L.crash("kernel_panic", "kernel panic: KASAN: panic_on_warn set ...", True)

@case("kcsan-x86_64-data-race", "crash", False)
def _(L):
    boot_to_init(L); buildroot(L)
    L.k("==================================================================", "BUG: KCSAN: data-race in tick_nohz_next_event / tick_nohz_stop_tick", "",
        "write to 0xffffffff8a0a4b40 of 8 bytes by interrupt on cpu 1:", " tick_nohz_stop_tick+0x9e/0x3d0", " tick_nohz_idle_stop_tick+0x2c6/0x450", "",
        "read to 0xffffffff8a0a4b40 of 8 bytes by task 0 on cpu 0:", " tick_nohz_next_event+0x53/0x1b0", " tick_nohz_idle_stop_tick+0x95/0x450", "",
        "value changed: 0x0000000000001f6e -> 0x0000000000001f6f", "", "Reported by Kernel Concurrency Sanitizer on:",
        "CPU: 0 PID: 0 Comm: swapper/0 Not tainted 6.1.0-28-amd64 #1", "==================================================================", t=20.0, dt=0)
    L.crash("kcsan", "KCSAN: data-race in tick_nohz_next_event / tick_nohz_stop_tick", True)

@case("kfence-arm64-out-of-bounds", "crash", False)
def _(L):
    boot_to_init(L); shell(L)
    L.k("==================================================================", "BUG: KFENCE: out-of-bounds read in test_out_of_bounds_read+0x98/0x1f0", "",
        "Out-of-bounds read at 0x00000000d6da4cee (1B left of kfence-#7):", " test_out_of_bounds_read+0x98/0x1f0", " kunit_try_run_case+0x70/0x178", "",
        "kfence-#7: 0x000000002d1a2b7f-0x000000008d47a7fe, size=32, cache=kmalloc-32", "", "allocated by task 214 on cpu 1 at 21.901010s:",
        " test_alloc+0x10c/0x3e8", "", "CPU: 1 PID: 214 Comm: kunit_try_catch Tainted: G    B            N 6.12.1 #1",
        "Hardware name: linux,dummy-virt (DT)", "==================================================================", t=22.0, dt=0)
    L.crash("kfence", "KFENCE: out-of-bounds read in test_out_of_bounds_read", True)

@case("ubsan-x86_64-shift-out-of-bounds", "crash", True, "UBSAN is non-fatal by default")
def _(L):
    firmware(L); early(L)
    L.k("================================================================================", "UBSAN: shift-out-of-bounds in drivers/ata/libata-core.c:2164:31",
        "shift exponent 32 is too large for 32-bit type 'int'", t=1.7, dt=0)
    cpu_line(L)
    x86_trace(L, ["dump_stack_lvl+0x48/0x70", "ubsan_epilogue+0x5/0x2b", "__ubsan_handle_shift_out_of_bounds.cold+0x61/0xe6", "ata_dev_configure+0x5a1/0x1610", "ata_eh_recover+0x9a1/0x1160", "ata_scsi_port_error_handler+0x29e/0x790"])
    L.k("================================================================================", dt=0)
    rootfs(L); buildroot(L)
    L.crash("ubsan", "UBSAN: shift-out-of-bounds in ata_dev_configure", False)

@case("ubsan-arm64-array-index-no-trace", "crash", True, "without a usable frame the file names the UBSAN report")
def _(L):
    firmware(L); early(L)
    L.k("================================================================================", "UBSAN: array-index-out-of-bounds in fs/ext4/super.c:1053:17",
        "index 4 is out of range for type '__u32 [4]'", "================================================================================", t=1.9, dt=0)
    rootfs(L); shell(L)
    L.crash("ubsan", "UBSAN: array-index-out-of-bounds in fs/ext4/super.c", False)

@case("lockup-x86_64-soft-lockup", "crash", True)
def _(L):
    boot_to_init(L); buildroot(L)
    L.k("watchdog: BUG: soft lockup - CPU#1 stuck for 26s! [stress-ng-cpu:512]", "Modules linked in:", t=100.0, dt=0)
    cpu_line(L, "stress-ng-cpu", 512, "Tainted: G             L", cpu=1)
    x86_regs(L, "smp_call_function_many_cond", "0x13e/0x3c0")
    x86_trace(L, ["<IRQ>", "? watchdog_timer_fn+0x1c5/0x230", "</IRQ>", "<TASK>", "? asm_sysvec_apic_timer_interrupt+0x1a/0x20", "on_each_cpu_cond_mask+0x24/0x40", "flush_tlb_kernel_range+0x8b/0xa0"], task=False)
    L.k(" </TASK>", dt=0)
    L.crash("lockup", "BUG: soft lockup in smp_call_function_many_cond", False)

@case("lockup-arm64-hard-lockup-panic", "crash", False, "hard lockup with hardlockup_panic")
def _(L):
    boot_to_init(L); shell(L)
    L.k("watchdog: Watchdog detected hard LOCKUP on cpu 1", "Modules linked in:", t=80.0, dt=0)
    cpu_line(L, "test_lockup", 301, cpu=1)
    arm64_regs(L, "test_lockup_fn", "kthread")
    L.k("Call trace:", " test_lockup_fn+0x30/0x60", " kthread+0x118/0x128", " ret_from_fork+0x10/0x20",
        "Kernel panic - not syncing: Hard LOCKUP", "SMP: stopping secondary CPUs", "Kernel Offset: disabled", "---[ end Kernel panic - not syncing: Hard LOCKUP ]---", dt=0)
    L.crash("lockup", "BUG: hard lockup in test_lockup_fn", False)
    L.crash("kernel_panic", "kernel panic: Hard LOCKUP", True)

@case("rcu-x86_64-self-detected-stall", "crash", True)
def _(L):
    boot_to_init(L); buildroot(L)
    L.k("rcu: INFO: rcu_preempt self-detected stall on CPU", "rcu: \t0-....: (21000 ticks this GP) idle=8a4c/1/0x4000000000000000 softirq=3010/3010 fqs=5191",
        "rcu: \t(t=21001 jiffies g=5873 q=1403 ncpus=2)", t=140.0, dt=0)
    cpu_line(L, "modprobe", 400)
    x86_regs(L, "native_safe_halt", "0xb/0x10")
    x86_trace(L, ["<IRQ>", "rcu_dump_cpu_stacks+0xc5/0x100", "rcu_sched_clock_irq+0x33e/0xc50", "update_process_times+0x5f/0x90", "</IRQ>", "<TASK>", "? asm_sysvec_apic_timer_interrupt+0x1a/0x20", "stall_loop+0x1e/0x40 [rcutorture]", "do_one_initcall+0x58/0x320", "</TASK>"], task=False)
    L.k("rcu: rcu_preempt kthread timer wakeup didn't happen for 2501 jiffies! g5873 f0x0 RCU_GP_WAIT_FQS(5) ->state=0x402", dt=0)
    L.crash("rcu_stall", "INFO: rcu detected stall in stall_loop", False)

@case("rcu-arm64-detected-stalls", "crash", True)
def _(L):
    boot_to_init(L); shell(L)
    L.k("rcu: INFO: rcu_sched detected stalls on CPUs/tasks:", "rcu: \t1-...0: (1 GPs behind) idle=7a2/1/0x4000000000000000 softirq=2010/2011 fqs=2458",
        "\t(detected by 0, t=5252 jiffies, g=3417, q=59 ncpus=2)", "Task dump for CPU 1:", "task:kworker/1:1     state:R  running task     stack:0     pid:40    ppid:2      flags:0x0000000a",
        "Call trace:", " __switch_to+0xe4/0x150", " my_spin_work+0x40/0x80", " process_one_work+0x1e0/0x3d8", t=200.0, dt=0)
    L.u("$ ")
    L.crash("rcu_stall", "INFO: rcu detected stall in my_spin_work", False)

@case("hung-task-x86_64", "crash", True)
def _(L):
    boot_to_init(L); buildroot(L)
    L.k("INFO: task jbd2/vda-8:180 blocked for more than 122 seconds.", "      Not tainted 6.1.0-28-amd64 #1",
        "\"echo 0 > /proc/sys/kernel/hung_task_timeout_secs\" disables this message.",
        "task:jbd2/vda-8      state:D stack:0     pid:180   ppid:2      flags:0x00004000", t=250.0, dt=0)
    x86_trace(L, ["__schedule+0x34d/0x9e0", "schedule+0x5a/0xd0", "io_schedule+0x42/0x70", "bit_wait_io+0xd/0x60", "__wait_on_bit+0x4b/0x150", "out_of_line_wait_on_bit+0x91/0xb0", "jbd2_journal_commit_transaction+0x1648/0x1a90", "kjournald2+0xa9/0x280", "kthread+0xe5/0x120", "ret_from_fork+0x31/0x50"])
    L.u("buildroot login: ")
    L.crash("hung_task", "INFO: task hung in bit_wait_io", False)

@case("oom-arm64-oom-kill", "crash", True, "an OOM kill is not fatal")
def _(L):
    boot_to_init(L); shell(L)
    L.k("stress-ng-vm invoked oom-killer: gfp_mask=0x140dca(GFP_HIGHUSER_MOVABLE|__GFP_COMP|__GFP_ZERO), order=0, oom_score_adj=1000", t=300.0, dt=0)
    cpu_line(L, "stress-ng-vm", 612)
    L.k("Call trace:", " dump_backtrace+0x9c/0x100", " dump_header+0x50/0x1f8", " oom_kill_process+0x2d0/0x2e0", " out_of_memory+0xf0/0x348",
        "Mem-Info:", "active_anon:4 inactive_anon:482312 isolated_anon:0", "Node 0 active_anon:16kB inactive_anon:1929248kB",
        "Tasks state (memory values in pages):", "[  pid  ]   uid  tgid total_vm      rss pgtables_bytes swapents oom_score_adj name",
        "[    612]     0   612   498123   482100  3911680        0          1000 stress-ng-vm",
        "oom-kill:constraint=CONSTRAINT_NONE,nodemask=(null),cpuset=/,mems_allowed=0,global_oom,task_memcg=/,task=stress-ng-vm,pid=612,uid=0",
        "Out of memory: Killed process 612 (stress-ng-vm) total-vm:1992492kB, anon-rss:1928400kB, file-rss:0kB, shmem-rss:0kB, UID:0 pgtables:3820kB oom_score_adj:1000", dt=0)
    L.u("stress-ng: info:  [611] successful run completed in 12.31s")
    L.raw("/ # ")
    L.crash("oom", "out of memory: stress-ng-vm invoked oom-killer", False)

@case("oom-x86_64-killed-only", "crash", True, "only the kill line (quiet oom-killer)")
def _(L):
    boot_to_init(L); buildroot(L)
    L.k("Out of memory: Killed process 733 (memhog) total-vm:2101232kB, anon-rss:1988120kB, file-rss:4kB, shmem-rss:0kB, UID:0 pgtables:3940kB oom_score_adj:0", t=120.0, dt=0)
    L.crash("oom", "out of memory: killed process memhog", False)

@case("reboot-x86_64-triple-fault", "crash", False, "SeaBIOS again: the machine reset itself")
def _(L):
    boot_to_init(L)
    L.u("Starting syslogd: OK")
    L.raw("\x1b[2J\x1b[1;1H\x1bcSeaBIOS (version 1.16.2-debian-1.16.2-1)\r\n\r\n\r\niPXE (https://ipxe.org) 00:03.0 CA00 PCI2.10 PnP PMM+7EFCAB80+7EF0AB80 CA00\r\nBooting from ROM..\r\n")
    early(L)
    L.crash("reboot", "unexpected reboot", True)

@case("reboot-arm64-restart-during-boot", "crash", False)
def _(L):
    boot_to_init(L)
    L.u("Starting watchdog: OK")
    L.k("reboot: Restarting system", t=8.0)
    L.u("UEFI firmware (version edk2-stable202302-for-qemu built at 00:00:00 on Jan  1 2023)")
    L.crash("reboot", "reboot: Restarting system", True)

@case("reboot-i386-after-panic-is-not-extra", "crash", False, "a panic that reboots reports the panic only")
def _(L):
    firmware(L); early(L)
    L.k("Kernel panic - not syncing: IO-APIC + timer doesn't work!  Boot with apic=debug and send a report.  Then try booting with the 'noapic' option.", t=0.5, dt=0)
    cpu_line(L)
    PANIC_TRACE["i386"](L)
    L.k("Rebooting in 1 seconds..", dt=0)
    L.raw("\x1bcSeaBIOS (version 1.16.3-debian-1.16.3-2)\r\n")
    L.crash("kernel_panic", "kernel panic: IO-APIC + timer doesn't work! Boot with apic=debug and send a report. Then try booting with the 'noapic' option.", True)

@case("early-x86_64-missing-cpu-features", "crash", False)
def _(L):
    firmware(L)
    L.u("This kernel requires the following features not present on the CPU:", "la57 ", "Unable to boot - please use a kernel appropriate for your CPU.")
    L.crash("early_boot_error", "This kernel requires the following features not present on the CPU", True)

@case("early-x86_64-decompressor", "crash", False)
def _(L):
    firmware(L)
    L.u("early console in extract_kernel", "input_data: 0x0000000002c4f3b4", "input_len: 0x00000000009f1b22", "output: 0x0000000001000000",
        "output_len: 0x0000000002a4c4d8", "kernel_total_size: 0x0000000002430000", "needed_size: 0x0000000002c00000", "",
        "Decompressing Linux... ", "", "Input is not in gzip format", "", " -- System halted")
    L.crash("early_boot_error", "decompressor: Input is not in gzip format", True)

@case("early-i386-early-exception", "crash", False)
def _(L):
    firmware(L)
    L.k("Linux version " + ARCH["i386"]["banner"], t=0.0, dt=0)
    L.exp["kernel_version"] = ARCH["i386"]["ver"]; L.ms("kernel_started")
    L.k("PANIC: early exception 0x0d IP 60:c1a0f3c4 error 0 cr2 0xffd2f000", dt=0)
    L.k("CPU: 0 PID: 0 Comm: swapper Not tainted 6.6.63 #1", "EIP: early_init_dt_scan_memory+0x4c/0x170", dt=0)
    L.crash("early_boot_error", "PANIC: early exception 0x0d", True)

@case("early-armv7-invalid-dtb", "crash", False)
def _(L):
    firmware(L)
    L.u("", "Error: invalid dtb and unrecognized/unsupported machine ID", "  r1=0x000008e0, r2=0x00000000", "Available machine support:", "", "ID (hex)\tNAME", "ffffffff\tGeneric DT based system", "", "Please check your kernel config and/or bootloader.")
    L.crash("early_boot_error", "Error: invalid dtb and unrecognized/unsupported machine ID", True)

@case("early-arm64-efi-stub-error", "crash", False)
def _(L):
    L.u("UEFI firmware (version edk2-stable202302-for-qemu built at 00:00:00 on Jan  1 2023)", "EFI stub: Booting Linux Kernel...",
        "EFI stub: ERROR: Failed to allocate usable memory for kernel.", "EFI stub: ERROR: Failed to relocate kernel", "Image: Error: Out of Resources")
    L.ms("firmware")
    L.crash("early_boot_error", "EFI stub: ERROR: Failed to allocate usable memory for kernel.", True)
    L.crash("early_boot_error", "EFI stub: ERROR: Failed to relocate kernel", True)

@case("firmware-x86_64-no-bootable-device", "crash", False)
def _(L):
    L.raw("\x1b[2J\x1b[1;1H\x1bcSeaBIOS (version 1.16.2-debian-1.16.2-1)\r\n\r\n\r\niPXE (https://ipxe.org) 00:03.0 CA00 PCI2.10 PnP PMM+7EFCAB80+7EF0AB80 CA00\r\n\r\n\r\n")
    L.raw("Booting from Hard Disk...\r\nBoot failed: not a bootable disk\r\n\r\nBooting from Floppy...\r\nBoot failed: could not read the boot disk\r\n\r\nNo bootable device.\r\n")
    L.ms("firmware")
    L.crash("firmware_error", "firmware error: No bootable device.", True)

@case("firmware-x86_64-boot-failed-then-rom", "clean", True, "a failed boot device, then the kernel: no error")
def _(L):
    L.raw("SeaBIOS (version 1.16.2-debian-1.16.2-1)\r\nBooting from Hard Disk...\r\nBoot failed: not a bootable disk\r\n\r\nBooting from ROM..\r\n")
    L.ms("firmware")
    early(L); rootfs(L); buildroot(L)

@case("firmware-armv7-uboot-bad-image", "crash", False)
def _(L):
    L.u("", "U-Boot 2023.01+dfsg-2+deb12u1 (Oct 12 2024 - 09:30:00 +0000)", "", "DRAM:  1 GiB", "Hit any key to stop autoboot:  0 ",
        "=> bootz 0x40400000 - 0x40000000", "Bad Linux ARM zImage magic!", "=> ")
    L.ms("firmware")
    L.crash("firmware_error", "firmware error: Bad Linux ARM zImage magic!", True)

@case("firmware-arm64-uboot-reset-board", "crash", False)
def _(L):
    L.u("", "U-Boot 2024.01 (Jan 08 2024 - 15:37:48 +0000)", "", "DRAM:  2 GiB", "## Loading kernel from FIT Image at 40400000 ...",
        "   Verifying Hash Integrity ... sha256 error!", "Bad hash value for 'hash-1' hash node in 'kernel-1' image node",
        "Bad Data Hash", "ERROR: can't get kernel image!", "### ERROR ### Please RESET the board ###")
    L.ms("firmware")
    L.crash("firmware_error", "firmware error: ERROR ### Please RESET the board", True)

@case("firmware-ppc64le-slof-no-device", "crash", False)
def _(L):
    L.u("", "SLOF **********************************************************************", "QEMU Starting", " Build Date = Feb 22 2023 00:00:00",
        "Populating /vdevice methods", "Trying to load:  from: /vdevice/v-scsi@71000003/disk@8000000000000000 ... ",
        "E3405: No such device", "", "E3407: Load failed", "", "  Type 'boot' and press return to continue booting the system.", "  Type 'reset-all' and press return to reboot the system.", "", "", "Ready! ", "0 > ")
    L.ms("firmware")
    L.crash("firmware_error", "firmware error: E3407: Load failed", True)

@case("firmware-riscv64-opensbi-init-failed", "crash", False)
def _(L):
    L.u("", "OpenSBI v1.5.1", "Platform Name             : riscv-virtio,qemu", "Platform HART Count       : 2",
        "init_coldboot: platform early init failed (error -3)")
    L.ms("firmware")
    L.crash("firmware_error", "firmware error: init_coldboot: platform early init failed (error -3)", True)

@case("qemu-x86_64-missing-drive", "crash", False, "QEMU's own error in the log")
def _(L):
    L.u("qemu-system-x86_64: -drive file=rootfs.ext4,if=virtio,format=raw: Could not open 'rootfs.ext4': No such file or directory")
    L.crash("qemu_error", "qemu error: -drive file=rootfs.ext4,if=virtio,format=raw: Could not open 'rootfs.ext4': No such file or directory", True)

@case("qemu-arm64-kvm-run-failed-after-boot", "crash", False)
def _(L):
    boot_to_init(L); shell(L)
    L.u("", "error: kvm run failed Function not implemented", "PC=ffff80008108c3b4 X00=0000000000000000 X01=0000000000000000",
        "qemu-system-aarch64: terminating on signal 15 from pid 4242 (tuxboot)")
    L.crash("qemu_error", "qemu error: kvm run failed Function not implemented", True)

@case("qemu-s390x-terminated-is-not-error", "clean", True, "QEMU stopped by the runner is not a QEMU error")
def _(L):
    boot_to_init(L); shell(L)
    L.u("", "qemu-system-s390x: terminating on signal 15 from pid 1234 (tuxboot)")

@case("panic-x86_64-sysrq-crash-no-timestamps", "crash", False, "sysrq-c without printk timestamps, and CRLF")
def _(L):
    L.ts = False; L.eol = "\r\n"
    boot_to_init(L); shell(L)
    L.u("echo c > /proc/sysrq-trigger")
    L.k("sysrq: Trigger a crash", "Kernel panic - not syncing: sysrq triggered crash", dt=0)
    cpu_line(L, "sh", 120)
    x86_trace(L, ["dump_stack_lvl+0x33/0x50", "panic+0x314/0x340", "sysrq_handle_crash+0x1a/0x20", "__handle_sysrq+0x9a/0x180", "write_sysrq_trigger+0x2b/0x40"])
    L.k("Kernel Offset: disabled", "---[ end Kernel panic - not syncing: sysrq triggered crash ]---", dt=0)
    L.crash("kernel_panic", "kernel panic: sysrq triggered crash", True)

@case("panic-riscv64-during-kunit-split", "crash", False, "a panic in the middle of KTAP output")
def _(L):
    firmware(L); early(L)
    L.k("KTAP version 1", "1..2", "    KTAP version 1", "    # Subtest: memcpy", "    1..2", "    ok 1 memcpy_test", dt=0.01)
    L.ms("tests_started"); L.test("memcpy", "memcpy_test", "pass")
    L.k("Kernel panic - not syncing: stack-protector: Kernel stack is corrupted in: memset_test+0x1f4/0x200", dt=0)
    cpu_line(L, "kunit_try_catch", 61)
    L.k("Call Trace:", "[<ffffffff80006b3c>] dump_backtrace+0x1c/0x24", "[<ffffffff80a0f0be>] panic+0x10a/0x2f6", "[<ffffffff80a0f2c0>] __stack_chk_fail+0x1c/0x20",
        "---[ end Kernel panic - not syncing: stack-protector: Kernel stack is corrupted in: memset_test+0x1f4/0x200 ]---", dt=0)
    L.crash("kernel_panic", "kernel panic: stack-protector: Kernel stack is corrupted in: memset_test", True)

@case("warning-x86_64-fatal-option", "crash", False, "with --fatal warning a WARNING fails the boot")
def _(L):
    L.options = {"fatal": ["warning"]}
    firmware(L); early(L); L.t = 1.2
    warning_x86(L, "usb_submit_urb", "drivers/usb/core/urb.c:504")
    rootfs(L); buildroot(L)
    L.crash("warning", "WARNING in usb_submit_urb", True)

# ---------------------------------------------------------------- write
def main():
    os.makedirs(OUT, exist_ok=True)
    order = ["firmware", "kernel_started", "init_started", "login_prompt", "shell_prompt", "tests_started", "tests_finished", "shutdown"]
    for name, category, boot_ok, note, fn in CORPUS:
        arch = next(a for a in sorted(ARCH, key=len, reverse=True) if "-" + a + "-" in "-" + name + "-")
        L = Log(arch)
        L.options = None
        fn(L)
        data = "".join(L.parts).encode("latin-1" if "\xff" in "".join(L.parts) else "utf-8")
        e = L.exp
        exp = {"arch": arch, "category": category, "note": note, "kernel_version": e["kernel_version"],
               "milestones": e["milestones"], "last_milestone": e["milestones"][-1] if e["milestones"] else "",
               "boot_ok": boot_ok, "failure": e["failure"], "crashes": e["crashes"], "tests": e["tests"]}
        if L.options:
            exp["options"] = L.options
        with open(os.path.join(OUT, name + ".log"), "wb") as f:
            f.write(data)
        with open(os.path.join(OUT, name + ".json"), "w") as f:
            json.dump(exp, f, indent=2); f.write("\n")
    print(len(CORPUS), "logs")

main()
