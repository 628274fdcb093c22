#!/usr/bin/env bash
# testdata.sh fetches the real Debian kernels that TuxBoot's tests boot, with
# apt only, builds a busybox initramfs of the same architecture for each, and
# caches both where runner/testkernel finds them.
#
# Usage: hack/testdata.sh [-f] [-r] [-n] [ARCH...]
#
#   ARCH  Debian architecture names; default: amd64 i386 arm64 armhf ppc64el
#         s390x mips64el mipsel riscv64. armel (the Raspberry Pi kernel) is
#         fetched only when asked for.
#   -f    fetch again even when the cache is complete
#   -r    refresh: re-resolve each kernel meta package and fetch again only
#         where the archive has moved on
#   -n    do not boot the kernels (by default each is booted once with
#         hack/bootcheck.sh, when its QEMU is installed, and its time noted)
#
# Output, per architecture, in ${TUXBOOT_TESTDATA:-$HOME/.cache/tuxboot/testdata}/ARCH/:
#   kernel          the image QEMU boots with -kernel
#   release         the kernel release, as uname -r prints it
#   modules.tar.xz  the package's lib/modules/RELEASE tree
#   rootfs.cpio.gz  busybox initramfs; its /init obeys tuxboot.mode=MODE on
#                   the kernel command line (see write_init below)
#   dtb             armel only: the device tree QEMU's raspi0 needs
#   info.json       where it all came from, the QEMU settings, the boot time
#   console.log     the console of the check boot
#   .complete       checksums of the above, written last: a directory
#                   without it is never trusted
# Per-architecture apt state lives in the same cache, under apt/.
set -euo pipefail

readonly default_arches=(amd64 i386 arm64 armhf ppc64el s390x mips64el mipsel riscv64)
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
readonly here
readonly cache=${TUXBOOT_TESTDATA:-$HOME/.cache/tuxboot/testdata}
readonly keyring=/usr/share/keyrings/debian-archive-keyring.gpg

usage() {
	sed -n '/^# Usage:/,/^# Output/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'
}

log() { printf 'testdata: %s\n' "$*" >&2; }
die() {
	log "$*"
	exit 1
}

# arch_conf sets what to fetch for a Debian architecture: the suite, the
# kernel meta package and the file in its /boot that QEMU boots (see
# /work/shared/realboot.md for which boot).
arch_conf() {
	suite=bookworm kfile=vmlinuz dtb=
	case $1 in
	amd64) meta=linux-image-amd64 ;;
	i386) meta=linux-image-686 ;;
	arm64) meta=linux-image-arm64 ;;
	armhf) meta=linux-image-armmp ;;
	armel) meta=linux-image-rpi dtb=bcm2835-rpi-zero.dtb ;;
	# QEMU's pseries loads the ELF vmlinux.
	ppc64el) meta=linux-image-powerpc64le kfile=vmlinux ;;
	s390x) meta=linux-image-s390x ;;
	# The mips vmlinuz is an ELF that decompresses itself: malta loads it.
	mips64el) meta=linux-image-5kc-malta ;;
	mipsel) meta=linux-image-4kc-malta ;;
	# bookworm has no riscv64 port; trixie does.
	# Its vmlinux is the flat Image, as OpenSBI wants it, not an ELF.
	riscv64) meta=linux-image-riscv64 suite=trixie kfile=vmlinux ;;
	*) return 1 ;;
	esac
}

# retry runs a command up to four times, for the live archive, where an
# index or a package can be replaced between two requests.
retry() {
	local n
	for n in 1 2 3 4; do
		"$@" && return 0
		((n < 4)) || break
		log "$1 failed (attempt $n), retrying in $((n * 5)) s"
		sleep $((n * 5))
	done
	return 1
}

# host_packages installs the host tools this script needs, if any is missing.
host_packages() {
	local -a need=()
	command -v cpio >/dev/null || need+=(cpio)
	command -v gzip >/dev/null || need+=(gzip)
	command -v xz >/dev/null || need+=(xz-utils)
	command -v flock >/dev/null || need+=(util-linux)
	if [[ " ${arches[*]} " == *" armel "* ]]; then
		command -v fdtput >/dev/null || need+=(device-tree-compiler)
	fi
	((${#need[@]})) || return 0
	((EUID == 0)) || die "missing host packages, install them as root: ${need[*]}"
	log "installing ${need[*]}"
	retry apt-get -qq update
	retry env DEBIAN_FRONTEND=noninteractive apt-get -qq install -y --no-install-recommends "${need[@]}"
}

# find_mirrors sets mirror and security_mirror to the Debian archive URIs
# this machine's apt already uses: it may reach no other host.
find_mirrors() {
	local codename uri suite
	# shellcheck disable=SC1091 # the host's, read at run time
	codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
	mirror=${TUXBOOT_DEBIAN_MIRROR:-} security_mirror=${TUXBOOT_DEBIAN_SECURITY_MIRROR:-}
	while read -r uri suite; do
		case $suite in
		"$codename" | "$codename"-updates) mirror=${mirror:-$uri} ;;
		"$codename"-security | "$codename"/updates) security_mirror=${security_mirror:-$uri} ;;
		esac
	done < <(apt_sources)
	mirror=${mirror:-http://deb.debian.org/debian}
	# The security archive sits beside the main one on Debian's mirrors.
	security_mirror=${security_mirror:-${mirror%/debian}/debian-security}
	mirror=${mirror%/} security_mirror=${security_mirror%/}
}

# apt_sources prints "URI SUITE" for every deb source of the host's apt, from
# both the one-line and the deb822 formats.
apt_sources() {
	local f
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
		[[ -f $f ]] || continue
		sed -e 's/#.*//' -e 's/\[[^]]*\]//' "$f" | awk '$1 == "deb" { print $2, $3 }'
	done
	for f in /etc/apt/sources.list.d/*.sources; do
		[[ -f $f ]] || continue
		awk '
			function flush(   i, j, n, m, u, s) {
				if (types ~ /(^| )deb( |$)/ && enabled != "no") {
					n = split(uris, u, " "); m = split(suites, s, " ")
					for (i = 1; i <= n; i++) for (j = 1; j <= m; j++) print u[i], s[j]
				}
				types = uris = suites = enabled = ""
			}
			/^[ \t]*$/ { flush(); next }
			/^#/ { next }
			{ key = tolower($1); $1 = "" ; sub(/^ +/, "") }
			key == "types:" { types = $0 }
			key == "uris:" { uris = $0 }
			key == "suites:" { suites = $0 }
			key == "enabled:" { enabled = tolower($0) }
			END { flush() }' "$f"
	done
}

# apt_setup sets apt_opts to an apt of its own for an architecture and suite,
# kept in the cache: it neither reads nor touches the host's apt state, so it
# needs no multiarch and no lock that the host's apt holds.
apt_setup() {
	local arch=$1 suite=$2 st
	st=$cache/apt/$arch-$suite
	mkdir -p "$st/lists/partial" "$st/cache/archives/partial" "$st/sources.list.d" "$st/preferences.d"
	touch "$st/status"
	# target=Packages: the indexes apt-get download needs and nothing else
	# (no translations, no AppStream metadata the host may ask for).
	local opts="[signed-by=$keyring target=Packages]"
	printf '%s\n' \
		"deb $opts $mirror $suite main" \
		"deb $opts $mirror $suite-updates main" \
		"deb $opts $security_mirror $suite-security main" >"$st/sources.list"
	apt_opts=(
		-o "APT::Architecture=$arch" -o "APT::Architectures=$arch"
		-o "Dir::State::Lists=$st/lists" -o "Dir::State::status=$st/status"
		-o "Dir::Cache=$st/cache"
		-o "Dir::Etc::SourceList=$st/sources.list" -o "Dir::Etc::SourceParts=$st/sources.list.d"
		-o "Dir::Etc::Preferences=$st/preferences" -o "Dir::Etc::PreferencesParts=$st/preferences.d"
		-o "Acquire::Retries=3" -o "Acquire::Languages=none"
		# Keep the indexes compressed, as they came: this state is cache.
		-o "Acquire::GzipIndexes=true"
		# The download goes to the staging directory, which only we may
		# write: do not hand it to the _apt user.
		-o "APT::Sandbox::User=$(id -un)"
	)
}

# resolve sets pkg to the versioned kernel package the meta package points
# at now, after refreshing the indexes.
resolve() {
	local meta=$1
	apt-get "${apt_opts[@]}" -qq update || return 1
	pkg=$(apt-cache "${apt_opts[@]}" depends --important "$meta" |
		awk '$1 ~ /^\|?Depends:$/ && $2 ~ /^linux-image-[0-9]/ { print $2; exit }')
	if [[ -z $pkg ]]; then
		log "$meta depends on no versioned linux-image package"
		return 1
	fi
}

# download resolves the kernel and fetches it and busybox-static into the
# current directory.
download() {
	rm -f ./*.deb
	resolve "$1" && apt-get "${apt_opts[@]}" -qq download "$pkg" busybox-static
}

# write_init prints the initramfs /init. The console analyser's tests read
# what it prints, so every signal is one echo: one whole console line.
write_init() {
	cat <<'EOF'
#!/bin/sh
# TuxBoot's test init, written by hack/testdata.sh. tuxboot.mode=MODE on the
# kernel command line says what to do:
#   pass (default)  LAVA signals of a passing smoke test run, then power off
#   fail            the same with one failing test case
#   panic           crash the kernel with sysrq
#   exit            exit, so that the kernel panics for init's death
#   hang            print nothing more, forever
#   chatter         print a line every second, forever
#   reboot          reboot without being asked
#   shell           show a root shell prompt, then power off
export PATH=/sbin:/bin:/usr/sbin:/usr/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
# The shipped /dev/console let the kernel give us a console; devtmpfs
# brings the rest of /dev.
mount -t devtmpfs devtmpfs /dev
# Every applet on PATH, for the shell mode and for tests that add to /init.
busybox --install -s 2>/dev/null

mode=pass
for arg in $(cat /proc/cmdline); do
	case $arg in
	tuxboot.mode=*) mode=${arg#tuxboot.mode=} ;;
	esac
done

echo "TUXBOOT-INIT: $(uname -m) $(uname -r)"

result() {
	if "$@"; then echo pass; else echo fail; fi
}

smoke() {
	echo "<LAVA_SIGNAL_STARTRUN 0_smoke smoke>"
	echo "<LAVA_SIGNAL_TESTCASE TEST_CASE_ID=uname RESULT=$(result test -n "$(uname -r)")>"
	echo "<LAVA_SIGNAL_TESTCASE TEST_CASE_ID=proc-mounted RESULT=$(result test -e /proc/self)>"
	echo "<LAVA_SIGNAL_TESTCASE TEST_CASE_ID=dev-console RESULT=$(result test -c /dev/console)>"
	if [ "$1" = fail ]; then
		echo "<LAVA_SIGNAL_TESTCASE TEST_CASE_ID=deliberate-failure RESULT=fail>"
	fi
	echo "<LAVA_SIGNAL_ENDRUN 0_smoke smoke>"
}

# off powers off once the console has sent what we wrote: output still
# queued in the tty when the kernel powers off is lost, and on a busy host
# the queue drains slowly. Setting the console's own mode again waits for
# the queue (tcsetattr TCSADRAIN); the pause covers the UART behind it.
off() {
	stty -F /dev/console "$(stty -F /dev/console -g)" 2>/dev/null
	sleep 1
	poweroff -f
}

case $mode in
pass | fail)
	smoke "$mode"
	off
	;;
panic)
	echo 1 >/proc/sys/kernel/sysrq
	echo c >/proc/sysrq-trigger
	;;
exit) exit 1 ;;
hang)
	while :; do sleep 3600; done
	;;
chatter)
	n=0
	while :; do
		n=$((n + 1))
		echo "TUXBOOT-CHATTER: line $n"
		sleep 1
	done
	;;
reboot) reboot -f ;;
shell)
	# A real interactive shell, fed from a pipe: it prints its own prompt.
	cd /
	printf 'uname -a\nexit\n' | PS1='/ # ' sh -i 2>&1
	echo
	off
	;;
*)
	echo "TUXBOOT-INIT: unknown tuxboot.mode=$mode"
	off
	;;
esac
# Reached only when the mode's last step did not work. Exiting makes the
# kernel panic, which no check mistakes for success.
exit 1
EOF
}

# newc_node prints a newc cpio entry for a device node: GNU cpio archives
# only nodes that exist, and making one needs root.
newc_node() {
	local name=$1 mode=$2 major=$3 minor=$4 ino=$5
	local namesize=$((${#name} + 1))
	printf '070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%s\0' \
		"$ino" "$mode" 0 0 1 0 0 0 0 "$major" "$minor" "$namesize" 0 "$name"
	# Header and name are padded to a multiple of four bytes.
	head -c $(((4 - (110 + namesize) % 4) % 4)) /dev/zero
}

# build_rootfs makes the busybox initramfs from a busybox-static .deb.
# The kernel unpacks concatenated cpio archives in turn, so /dev/console
# comes as a second archive after the tree that GNU cpio packs.
build_rootfs() {
	local deb=$1 out=$2 work=$3 a
	local root=$work/rootfs
	mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,dev,proc,sys,tmp,root,etc}
	mkdir -p "$work/busybox"
	dpkg-deb -x "$deb" "$work/busybox"
	# trixie's package has it in /usr/bin, bookworm's in /bin.
	local bb=$work/busybox/bin/busybox
	[[ -f $bb ]] || bb=$work/busybox/usr/bin/busybox
	install -m 0755 "$bb" "$root/bin/busybox"
	# The applets /init needs even if its busybox --install fails.
	for a in sh mount cat uname test sleep stty poweroff reboot; do
		ln -s busybox "$root/bin/$a"
	done
	write_init >"$root/init"
	chmod 0755 "$root/init"
	chmod 1777 "$root/tmp"
	(
		cd "$root"
		find . -mindepth 1 -printf '%P\n' | LC_ALL=C sort | cpio --quiet -o -H newc -R 0:0
		newc_node dev/console $((8#020600)) 5 1 1000000
		newc_node TRAILER!!! 0 0 0 0
	) | gzip -9 -n >"$out"
}

# check_files validates a finished architecture directory against its stamp.
check_files() {
	local d=$1
	[[ -f $d/.complete ]] || return 1
	(cd "$d" && sha256sum --status --strict -c .complete) 2>/dev/null || return 1
	local f
	for f in kernel release modules.tar.xz rootfs.cpio.gz info.json; do
		grep -q "  $f\$" "$d/.complete" || return 1
	done
	# A rootfs whose /init is not today's is stale.
	cmp -s <(write_init) <(gzip -dc "$d/rootfs.cpio.gz" | cpio --quiet -i --to-stdout init 2>/dev/null) || return 1
}

# info_field prints one string field of a flat info.json.
info_field() {
	sed -n "s/^  \"$2\": \"\\(.*\\)\",\\{0,1\\}\$/\\1/p" "$1/info.json"
}

# summary prints the one line per architecture.
summary() {
	local arch=$1 d=$cache/$1 how=$2 secs
	secs=$(sed -n 's/^  "boot_seconds": \([0-9.]*\),\{0,1\}$/\1 s/p' "$d/info.json")
	printf '%-9s %-7s %-35s %-17s %-23s boot %s\n' "$arch" "$how" \
		"$(info_field "$d" package)" "$(info_field "$d" version)" \
		"$(cat "$d/release")" "${secs:-not checked}"
}

# fetch_arch builds one architecture's directory in a staging directory and
# moves it into place. It runs in a subshell of its own with errexit on.
fetch_arch() {
	local arch=$1 suite meta kfile dtb pkg
	local -a apt_opts
	arch_conf "$arch" || die "unknown architecture $arch"
	apt_setup "$arch" "$suite"

	local final=$cache/$arch stage
	stage=$(mktemp -d "$cache/.stage-$arch.XXXXXX")
	chmod 0755 "$stage"
	trap 'rm -rf "$stage"' EXIT
	trap 'exit 143' TERM
	local work=$stage/work
	mkdir -p "$work/deb"

	log "$arch: fetching $meta and busybox-static ($suite)"
	cd "$work/deb"
	retry download "$meta" || die "$arch: could not fetch $meta and busybox-static from $mirror ($suite)"
	cd "$cache"
	local kdeb bbdeb
	kdeb=$(echo "$work/deb/${pkg}"_*.deb)
	bbdeb=$(echo "$work/deb/busybox-static"_*.deb)
	[[ -f $kdeb && -f $bbdeb ]] || die "$arch: apt-get download left no .deb"
	local version bbversion
	version=$(dpkg-deb -f "$kdeb" Version)
	bbversion=$(dpkg-deb -f "$bbdeb" Version)

	# The release is what the package's modules directory is called:
	# package names and versions do not always spell it the same way.
	local x=$work/x mods rels
	dpkg-deb -x "$kdeb" "$x"
	mods=$x/lib/modules
	[[ -d $mods ]] || mods=$x/usr/lib/modules
	mapfile -t rels < <(find "$mods" -mindepth 1 -maxdepth 1 -type d -printf '%f\n')
	((${#rels[@]} == 1)) || die "$arch: $pkg has ${#rels[@]} module directories, want 1"
	local release=${rels[0]}
	echo "$release" >"$stage/release"
	[[ -f $x/boot/$kfile-$release ]] || die "$arch: $pkg has no /boot/$kfile-$release"
	mv "$x/boot/$kfile-$release" "$stage/kernel"
	# Rooted at lib/modules whichever of / and /usr the package uses, as
	# a module loader inside the guest looks for it there.
	tar -C "${mods%/lib/modules}" --owner=0 --group=0 --numeric-owner --sort=name \
		-cf - "lib/modules/$release" | xz -T0 -1 >"$stage/modules.tar.xz"

	if [[ -n $dtb ]]; then
		local src
		src=$(find "$x" -name "$dtb" -print -quit)
		[[ -n $src ]] || die "$arch: $pkg has no $dtb"
		cp "$src" "$stage/dtb"
		# QEMU's raspi0 does not model the AXI bridges (ASB) of the
		# power-management block: the kernel's power-domain driver for
		# them crashes early with no console. Without the "asb" region
		# that driver stays away, while the block's watchdog, which
		# powers off and restarts, keeps working.
		local pm=/soc/watchdog@7e100000 reg
		[[ $(fdtget "$stage/dtb" "$pm" compatible) == "brcm,bcm2835-pm "* &&
			$(fdtget "$stage/dtb" "$pm" reg-names) == "pm asb" ]] ||
			die "$arch: $dtb has no bcm2835-pm with pm and asb regions at $pm"
		read -ra reg < <(fdtget -t x "$stage/dtb" "$pm" reg)
		fdtput -t x "$stage/dtb" "$pm" reg "${reg[@]:0:2}"
		fdtput -t s "$stage/dtb" "$pm" reg-names pm
	fi
	rm -rf "$x"

	build_rootfs "$bbdeb" "$stage/rootfs.cpio.gz" "$work"
	rm -rf "$work"

	local -A q=()
	local k v
	while IFS='=' read -r k v; do
		q[$k]=$v
	done < <("$here/bootcheck.sh" --settings "$arch")

	local secs=null uname_m=
	if ((boot)) && command -v "${q[qemu]}" >/dev/null; then
		local line
		log "$arch: booting $pkg $version with ${q[qemu]}"
		if ! "$here/bootcheck.sh" -d "$stage" "$arch" >"$stage/console.log" 2>&1; then
			tail -n 30 "$stage/console.log" >&2
			die "$arch: $pkg $version does not boot (console above)"
		fi
		# bootcheck.sh times QEMU alone, from its start to its exit.
		secs=$(sed -n 's/^bootcheck: .* ok in \([0-9.]*\) s$/\1/p' "$stage/console.log")
		line=$(grep -a -o "TUXBOOT-INIT: [^ ]* $release" "$stage/console.log" | head -n 1) ||
			die "$arch: the console does not show release $release"
		uname_m=$(awk '{ print $2 }' <<<"$line")
	elif ((boot)); then
		log "$arch: ${q[qemu]} is not installed: not booted"
	fi

	cat >"$stage/info.json" <<EOF
{
  "arch": "$arch",
  "suite": "$suite",
  "mirror": "$mirror",
  "meta_package": "$meta",
  "package": "$pkg",
  "version": "$version",
  "busybox_version": "$bbversion",
  "release": "$release",
  "uname_m": "$uname_m",
  "kernel_file": "/boot/$kfile-$release",
  "qemu": "${q[qemu]}",
  "machine": "${q[machine]}",
  "cpu": "${q[cpu]}",
  "memory_mb": ${q[memory_mb]},
  "console": "${q[console]}",
  "qemu_extra": "${q[extra]}",
  "dtb": "${q[dtb]}",
  "boot_seconds": $secs,
  "fetched": "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
}
EOF

	local -a files=(kernel release modules.tar.xz rootfs.cpio.gz info.json)
	[[ -z $dtb ]] || files+=(dtb)
	[[ ! -f $stage/console.log ]] || files+=(console.log)
	(cd "$stage" && sha256sum -- "${files[@]}") >"$stage/.complete.new"

	# Untrust the old directory before anything else, then swap the new
	# one in with renames (a test that has a file of the old one open
	# keeps reading it), and only then stamp it.
	local old=$cache/.old-$arch.$$
	rm -f "$final/.complete"
	if [[ -e $final ]]; then
		mv "$final" "$old"
	fi
	mv "$stage" "$final"
	trap - EXIT
	mv "$final/.complete.new" "$final/.complete"
	rm -rf "$old"
}

# current prints whether a cached architecture still matches what its meta
# package resolves to in the archive: current, moved or (when the archive
# could not be read) unchecked.
current() {
	local arch=$1 suite meta kfile dtb pkg want
	local -a apt_opts
	arch_conf "$arch"
	apt_setup "$arch" "$suite"
	# Only the verdict goes to stdout, which the caller reads.
	if ! retry resolve "$meta" >/dev/null; then
		echo unchecked
		return
	fi
	want=$(apt-cache "${apt_opts[@]}" policy "$pkg" | awk '$1 == "Candidate:" { print $2 }')
	if [[ $pkg == "$(info_field "$cache/$arch" package)" &&
		$want == "$(info_field "$cache/$arch" version)" ]]; then
		echo current
	else
		echo moved
	fi
}

force=0 refresh=0 boot=1
while getopts frnh opt; do
	case $opt in
	f) force=1 ;;
	r) refresh=1 ;;
	n) boot=0 ;;
	h)
		usage
		exit 0
		;;
	*)
		usage >&2
		exit 2
		;;
	esac
done
shift $((OPTIND - 1))
arches=("$@")
((${#arches[@]})) || arches=("${default_arches[@]}")
for arch in "${arches[@]}"; do
	arch_conf "$arch" || die "unknown architecture $arch"
done

host_packages
mkdir -p "$cache"
# One fetch at a time per cache: two runs would swap directories under
# each other.
exec 9>"$cache/.lock"
if ! flock -n 9; then
	log "waiting for another hack/testdata.sh using $cache"
	flock 9
fi
# What a killed run left behind.
rm -rf "$cache"/.stage-* "$cache"/.old-*

# in_group runs a function in a subshell of its own, in a process group of
# its own, and waits for it. The subshell keeps errexit on, which it would
# not as part of a condition; INT and TERM reach the whole group, so that no
# apt-get, xz or QEMU outlives the script.
child=
in_group() {
	set -m
	(
		set -e
		"$@"
	) &
	child=$!
	set +m
	local rc=0
	wait "$child" || rc=$?
	child=
	return "$rc"
}
stop() {
	if [[ -n $child ]]; then
		kill -TERM -- "-$child" 2>/dev/null || true
		wait "$child" || true
	fi
	exit "$1"
}
trap 'stop 130' INT
trap 'stop 143' TERM

find_mirrors
started=$EPOCHREALTIME
failed=()
for arch in "${arches[@]}"; do
	how=fetched
	if ((!force)) && check_files "$cache/$arch"; then
		how=cached
		if ((refresh)); then
			how=$(current "$arch")
		fi
	fi
	if [[ $how == fetched || $how == moved ]]; then
		how=fetched
		rc=0
		in_group fetch_arch "$arch" || rc=$?
		if ((rc != 0)); then
			printf '%-9s FAILED\n' "$arch"
			failed+=("$arch")
			continue
		fi
	fi
	summary "$arch" "$how"
done
log "done in $(awk -v a="$started" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.0f", b - a }') s, cache $cache"
if ((${#failed[@]})); then
	die "failed: ${failed[*]}"
fi
