#!/usr/bin/env bash
# The main job, on one machine: installs QEMU, fetches real Debian kernels
# with a busybox initramfs, builds tuxboot, and boots each kernel with
# `tuxboot run`, printing the verdicts. Arguments are Debian architectures
# (default: arm64 amd64); results and logs land in ./out/.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"

arches=("$@")
[ ${#arches[@]} -gt 0 ] || arches=(arm64 amd64)

bash hack/deps.sh
bash hack/testdata.sh -n "${arches[@]}"
data="${TUXBOOT_TESTDATA:-$HOME/.cache/tuxboot/testdata}"

mkdir -p bin out
go build -o bin/tuxboot ./cmd/tuxboot

# shellcheck source=hack/devices.sh
source hack/devices.sh
status=0
for arch in "${arches[@]}"; do
	dev=${device[$arch]:-}
	if [ -z "$dev" ]; then
		echo "hack/boot.sh: no device for architecture $arch (known: ${!device[*]})" >&2
		exit 2
	fi
	echo "== $dev: $(cat "$data/$arch/release")"
	rc=0
	bin/tuxboot run --device "$dev" \
		--kernel "$data/$arch/kernel" --rootfs "$data/$arch/rootfs.cpio.gz" \
		--results "out/$arch.json" --log-file "out/$arch.log" || rc=$?
	echo "== $dev: exit status $rc; results in out/$arch.json, console log in out/$arch.log"
	[ "$rc" -eq 0 ] || status=$rc
done
exit "$status"
