#!/usr/bin/env bash
# Installs the Debian packages TuxBoot needs to boot and test kernels here:
# QEMU for every architecture we boot, firmware, and the tools that build
# and inspect root filesystems. Safe to run again: it skips what is there.
set -euo pipefail

packages=(
	qemu-system-x86 qemu-system-arm qemu-system-mips qemu-system-ppc
	qemu-system-misc qemu-system-sparc qemu-utils
	opensbi ipxe-qemu seabios
	cpio gzip xz-utils zstd bzip2 e2fsprogs device-tree-compiler
	ca-certificates curl jq
)

missing=()
for p in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	if [ "$(id -u)" -ne 0 ]; then
		echo "hack/deps.sh: missing packages (${missing[*]}); run as root to install them" >&2
		exit 1
	fi
	echo "hack/deps.sh: installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -q
	apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

if ! command -v go >/dev/null 2>&1; then
	if [ -x /usr/local/go/bin/go ]; then
		echo "hack/deps.sh: go is in /usr/local/go/bin; add it to PATH" >&2
	else
		echo "hack/deps.sh: Go is not installed (need Go 1.26 or newer, see go.mod)" >&2
	fi
	exit 1
fi
