#!/usr/bin/env bash
# bootcheck.sh boots one architecture's test kernel and initramfs (fetched by
# hack/testdata.sh) under plain QEMU, with nothing of TuxBoot in between,
# prints the console and says whether the boot did what MODE asks of it.
# It is the baseline that TuxBoot's own boots are compared against, so it
# stays a bare QEMU command line.
#
# Usage: hack/bootcheck.sh [-d DIR] [-t SECONDS] ARCH [MODE]
#        hack/bootcheck.sh --settings ARCH
#
#   ARCH      Debian architecture name: amd64 i386 arm64 armhf armel ppc64el
#             s390x mips64el mipsel riscv64
#   MODE      what the initramfs /init does (tuxboot.mode= on the command
#             line): pass (default), fail, panic, exit, hang, chatter,
#             reboot, shell
#   -d DIR    the inputs (kernel, rootfs.cpio.gz); default
#             ${TUXBOOT_TESTDATA:-$HOME/.cache/tuxboot/testdata}/ARCH
#   -t SECS   kill QEMU after SECS seconds (default 120)
#   --settings  print the QEMU settings of ARCH as key=value lines and exit
#
# Exit status: 0 when the console shows what MODE should show:
#   pass, fail  the marker, the LAVA signals up to ENDRUN (fail: with the
#               deliberate failure, pass: without any failure) and a power-off
#   shell       the marker, a "/ # " prompt and a power-off
#   panic       the sysrq crash's kernel panic
#   exit        the kernel panic for init's exit
#   reboot      a restart
#   hang        the marker, then silence until the timeout
#   chatter     the marker and output that never ends, until the timeout
# 1 otherwise, 2 on bad usage.
set -euo pipefail

usage() {
	sed -n '/^# Usage:/,/^# 1 otherwise/s/^# \{0,1\}//p' "$0" >&2
	exit 2
}

# settings sets the QEMU settings of an architecture; they are the ones
# measured in /work/shared/realboot.md.
settings() {
	mem=512 extra=() dtb=
	case $1 in
	amd64) qemu=qemu-system-x86_64 machine=q35 cpu=max console=ttyS0 ;;
	i386) qemu=qemu-system-i386 machine=pc cpu=max console=ttyS0 ;;
	arm64) qemu=qemu-system-aarch64 machine=virt cpu=cortex-a57 console=ttyAMA0 ;;
	# highmem=off: the armmp kernel has no LPAE and cannot reach what
	# virt puts above 4 GiB for a cortex-a15, which has LPAE.
	armhf) qemu=qemu-system-arm machine=virt,highmem=off cpu=cortex-a15 console=ttyAMA0 ;;
	# raspi0 has no generated device tree: the kernel package's own, with
	# what QEMU does not model taken out, comes as the file dtb.
	armel) qemu=qemu-system-arm machine=raspi0 cpu=arm1176 console=ttyAMA0 dtb=dtb ;;
	# The cap-* settings ask for no more Spectre mitigations than TCG
	# has; without them QEMU warns about each one on every start.
	ppc64el)
		qemu=qemu-system-ppc64 cpu=POWER9 console=hvc0 mem=1024
		machine=pseries,cap-cfpc=broken,cap-sbbc=broken,cap-ibs=broken,cap-ccf-assist=off
		;;
	s390x) qemu=qemu-system-s390x machine=s390-ccw-virtio cpu=max console=ttysclp0 ;;
	mips64el) qemu=qemu-system-mips64el machine=malta cpu=5KEc console=ttyS0 ;;
	# The 4kc-malta kernel is mips32r2: a mips32r6 CPU cannot run it.
	mipsel) qemu=qemu-system-mipsel machine=malta cpu=24Kf console=ttyS0 ;;
	# -bios default: OpenSBI, the SBI firmware the kernel runs on (QEMU's
	# default, spelt out).
	riscv64) qemu=qemu-system-riscv64 machine=virt cpu=rv64 console=ttyS0 extra=(-bios default) ;;
	*)
		echo "bootcheck: unknown architecture $1" >&2
		exit 2
		;;
	esac
}

dir="" timeout=120
while (($#)); do
	case $1 in
	--settings)
		(($# == 2)) || usage
		settings "$2"
		printf '%s=%s\n' qemu "$qemu" machine "$machine" cpu "$cpu" \
			memory_mb "$mem" console "$console" extra "${extra[*]}" dtb "$dtb"
		exit 0
		;;
	-d)
		(($# >= 2)) || usage
		dir=$2
		shift 2
		;;
	-t)
		(($# >= 2)) || usage
		timeout=$2
		shift 2
		;;
	-h | --help) usage ;;
	-*) usage ;;
	*) break ;;
	esac
done
(($# == 1 || $# == 2)) || usage
arch=$1 mode=${2:-pass}
case $mode in
pass | fail | panic | exit | hang | chatter | reboot | shell) ;;
*) usage ;;
esac
settings "$arch"
dir=${dir:-${TUXBOOT_TESTDATA:-$HOME/.cache/tuxboot/testdata}/$arch}
for f in kernel rootfs.cpio.gz ${dtb:+"$dtb"}; do
	if [[ ! -s $dir/$f ]]; then
		echo "bootcheck: $dir/$f is missing: run hack/testdata.sh $arch" >&2
		exit 1
	fi
done
if [[ -n $dtb ]]; then
	extra+=(-dtb "$dir/$dtb")
fi

append="console=$console panic=-1"
# pass is what /init does by default: leave the command line bare for it.
if [[ $mode != pass ]]; then
	append+=" tuxboot.mode=$mode"
fi

log=$(mktemp)
trap 'rm -f "$log"' EXIT
cmd=(timeout -k 5 "$timeout" "$qemu" -M "$machine" -cpu "$cpu" -m "$mem"
	-nographic -no-reboot "${extra[@]}"
	-kernel "$dir/kernel" -initrd "$dir/rootfs.cpio.gz" -append "$append")
echo "bootcheck: ${cmd[*]}" >&2
start=$EPOCHREALTIME
rc=0
"${cmd[@]}" </dev/null 2>&1 | tee "$log" || rc=${PIPESTATUS[0]}
end=$EPOCHREALTIME
secs=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.1f", b - a }')

# has reports whether the console shows an extended regular expression.
has() { grep -Eq -- "$1" "$log"; }

# powered_off reports whether the guest powered off. The kernel's last
# words, "reboot: Power down", do not always make it out (s390x's SCLP
# console is buffered): QEMU leaving by itself without a panic or a
# restart on the console counts too.
powered_off() {
	has 'reboot: Power down' ||
		{ ((rc == 0)) && ! has 'Kernel panic|reboot: Restarting system'; }
}

why=
marker='TUXBOOT-INIT: [^ ]+ [^ ]+'
case $mode in
pass | fail)
	if ! has "$marker"; then
		why="no TUXBOOT-INIT marker"
	elif ! has '<LAVA_SIGNAL_ENDRUN 0_smoke smoke>'; then
		why="no ENDRUN signal"
	elif [[ $mode == pass ]] && has 'RESULT=fail'; then
		why="a test case failed"
	elif [[ $mode == fail ]] && ! has 'TEST_CASE_ID=deliberate-failure RESULT=fail'; then
		why="no deliberate failure"
	elif ! powered_off; then
		why="no power-off"
	fi
	;;
shell)
	if ! has "$marker"; then
		why="no TUXBOOT-INIT marker"
	elif ! has '^/ # '; then
		why="no shell prompt"
	elif ! powered_off; then
		why="no power-off"
	fi
	;;
panic) has 'Kernel panic - not syncing: sysrq triggered crash' || why="no sysrq panic" ;;
exit) has 'Kernel panic - not syncing: Attempted to kill init!' || why="no panic for init's exit" ;;
reboot) has 'reboot: Restarting system' || why="no restart" ;;
hang | chatter)
	if ! has "$marker"; then
		why="no TUXBOOT-INIT marker"
	elif ((rc != 124)); then
		why="QEMU stopped (exit status $rc) before the timeout"
	elif [[ $mode == chatter ]] && (($(grep -c 'TUXBOOT-CHATTER:' "$log") < 3)); then
		why="fewer than 3 chatter lines"
	fi
	;;
esac
if [[ -z $why && $mode != hang && $mode != chatter ]] && ((rc == 124)); then
	why="timed out after $timeout s"
fi

if [[ -n $why ]]; then
	echo "bootcheck: $arch $mode: FAILED after $secs s: $why (QEMU exit status $rc)" >&2
	exit 1
fi
echo "bootcheck: $arch $mode: ok in $secs s" >&2
