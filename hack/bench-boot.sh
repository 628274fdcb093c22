#!/usr/bin/env bash
# bench-boot.sh measures what TuxBoot costs over bare QEMU: N boots of the
# same kernel and initramfs at once (N = 1 2 4 8 by default), first as bare
# QEMU command lines (hack/bootcheck.sh), then through `tuxboot run`, then
# through the whole pipeline with the local executor (`tuxboot submit
# --wait` to one `tuxboot serve`: HTTP API, JetStream, controller,
# `tuxboot runner` child processes), in one run, and prints the wall times
# and their ratios to bare QEMU as a Markdown table.
#
# Usage: hack/bench-boot.sh [-a ARCH] [N...]     (default ARCH arm64)
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"

arch=arm64
if [ "${1:-}" = -a ]; then
	arch=$2
	shift 2
fi
counts=("$@")
[ ${#counts[@]} -gt 0 ] || counts=(1 2 4 8)
# shellcheck source=hack/devices.sh
source hack/devices.sh
dev=${device[$arch]:?no device for $arch}
data="${TUXBOOT_TESTDATA:-$HOME/.cache/tuxboot/testdata}/$arch"
[ -f "$data/kernel" ] || bash hack/testdata.sh -n "$arch"
mkdir -p bin
go build -o bin/tuxboot ./cmd/tuxboot
work=$(mktemp -d)
serve_pid=
stop() {
	if [ -n "$serve_pid" ]; then
		kill -TERM "$serve_pid" 2>/dev/null || true
		wait "$serve_pid" 2>/dev/null || true
	fi
	rm -rf "$work"
}
trap stop EXIT

# wall N CMD... runs N copies of CMD at once and prints the wall seconds;
# any copy failing fails the measurement.
wall() {
	local n=$1 start end pids=() rc=0
	shift
	start=$(date +%s.%N)
	for i in $(seq "$n"); do
		"$@" >"$work/out.$i" 2>&1 &
		pids+=($!)
	done
	for p in "${pids[@]}"; do wait "$p" || rc=$?; done
	end=$(date +%s.%N)
	if [ "$rc" -ne 0 ]; then
		echo "bench-boot: a boot failed (exit $rc):" >&2
		tail -20 "$work"/out.* >&2
		exit 1
	fi
	echo "$end - $start" | bc
}

# Warm the artefact cache and the page cache so both sides start equal.
bin/tuxboot run --quiet --device "$dev" --kernel "$data/kernel" --rootfs "$data/rootfs.cpio.gz" \
	--accel tcg --cache-dir "$work/cache" >/dev/null
bash hack/bootcheck.sh "$arch" >/dev/null

# One server for every round, as many boots at once as the largest round.
maxn=$(printf '%s\n' "${counts[@]}" | sort -n | tail -1)
bin/tuxboot serve --listen 127.0.0.1:0 --addr-file "$work/addr" --data-dir "$work/serve" \
	--cache-dir "$work/cache" --max-parallel "$maxn" --artefact-dir "$data" --log-format json >"$work/serve.log" 2>&1 &
serve_pid=$!
for _ in $(seq 300); do
	[ -s "$work/addr" ] && break
	kill -0 "$serve_pid" 2>/dev/null || { cat "$work/serve.log" >&2; exit 3; }
	sleep 0.1
done
[ -s "$work/addr" ] || { echo "bench-boot: tuxboot serve did not start" >&2; exit 3; }
submit=(bin/tuxboot submit --url "http://$(cat "$work/addr")" --project bench --device "$dev"
	--kernel "$data/kernel" --rootfs "$data/rootfs.cpio.gz" --accel tcg --wait)
"${submit[@]}" >/dev/null

echo "| boots at once | bare QEMU (s) | tuxboot run (s) | ratio | overhead per boot (s) | tuxboot serve, local executor (s) | ratio | overhead per boot (s) |"
echo "|---|---|---|---|---|---|---|---|"
for n in "${counts[@]}"; do
	bare=$(wall "$n" bash hack/bootcheck.sh "$arch")
	tux=$(wall "$n" bin/tuxboot run --quiet --device "$dev" --kernel "$data/kernel" \
		--rootfs "$data/rootfs.cpio.gz" --accel tcg --cache-dir "$work/cache")
	served=$(wall "$n" "${submit[@]}")
	printf '| %d | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f |\n' "$n" "$bare" "$tux" \
		"$(echo "$tux / $bare" | bc -l)" "$(echo "($tux - $bare) / $n" | bc -l)" \
		"$served" "$(echo "$served / $bare" | bc -l)" "$(echo "($served - $bare) / $n" | bc -l)"
done
