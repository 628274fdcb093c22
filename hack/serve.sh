#!/usr/bin/env bash
# The main job, as the whole system: builds tuxboot, starts `tuxboot serve`
# (embedded NATS with JetStream, the controller, local runners, the HTTP
# API) on a temporary data directory, submits a boot of the real Debian
# kernel of each architecture through the HTTP API, streams their
# progress, prints their results and stops the server. Arguments are
# Debian architectures (default: amd64 arm64); results.json and console
# logs land in ./out/serve-ARCH.{json,log}, the server's log in
# ./out/serve.log. Exits non-zero if a boot did not pass.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"

arches=("$@")
[ ${#arches[@]} -gt 0 ] || arches=(amd64 arm64)

bash hack/deps.sh
bash hack/testdata.sh -n "${arches[@]}"
data="${TUXBOOT_TESTDATA:-$HOME/.cache/tuxboot/testdata}"

# shellcheck source=hack/devices.sh
source hack/devices.sh
for arch in "${arches[@]}"; do
	if [ -z "${device[$arch]:-}" ]; then
		echo "hack/serve.sh: no device for architecture $arch (known: ${!device[*]})" >&2
		exit 2
	fi
done

mkdir -p bin out
go build -o bin/tuxboot ./cmd/tuxboot

work=$(mktemp -d)
serve_pid=
followers=()
stop() {
	for p in "${followers[@]}"; do kill "$p" 2>/dev/null || true; done
	if [ -n "$serve_pid" ]; then
		kill -TERM "$serve_pid" 2>/dev/null || true
		wait "$serve_pid" 2>/dev/null || true
		echo "== tuxboot serve stopped"
	fi
	rm -rf "$work"
}
trap stop EXIT

# The kernels are submitted as local paths: the API takes those only under
# an --artefact-dir.
bin/tuxboot serve --listen 127.0.0.1:0 --addr-file "$work/addr" --data-dir "$work/data" \
	--artefact-dir "$data" --max-parallel 2 --log-format json >out/serve.log 2>&1 &
serve_pid=$!
for _ in $(seq 300); do
	[ -s "$work/addr" ] && break
	kill -0 "$serve_pid" 2>/dev/null || { cat out/serve.log >&2; exit 3; }
	sleep 0.1
done
[ -s "$work/addr" ] || { echo "hack/serve.sh: tuxboot serve did not start" >&2; exit 3; }
api="http://$(cat "$work/addr")/v1/groups/tuxboot/projects/main/tests"
echo "== tuxboot serve is up: $api"

declare -A uid
for arch in "${arches[@]}"; do
	body=$(jq -n --arg d "${device[$arch]}" --arg k "$data/$arch/kernel" --arg r "$data/$arch/rootfs.cpio.gz" \
		'{apiVersion: "tuxboot.dev/v1", device: $d, kernel: $k, rootfs: $r}')
	resp=$(curl -sS -X POST -H 'Content-Type: application/json' -d "$body" -w '\n%{http_code}' "$api")
	code=${resp##*$'\n'}
	resp=${resp%$'\n'*}
	if [ "$code" != 201 ]; then
		echo "hack/serve.sh: submitting $arch: HTTP $code: $resp" >&2
		exit 3
	fi
	uid[$arch]=$(jq -r .uid <<<"$resp")
	echo "== $arch: submitted ${device[$arch]} $(cat "$data/$arch/release") as test ${uid[$arch]}"
done

# Stream each test's events as they happen, one line each.
for arch in "${arches[@]}"; do
	curl -sSN "$api/${uid[$arch]}/events?follow=1" | jq -r --unbuffered --arg a "$arch" '
		"\($a): " + (
		if .type == "state" then "state \(.state)" + (if .message then " (\(.message))" else "" end)
		elif .type == "milestone" then "milestone \(.milestone.name) at \(.milestone.at_ms / 1000)s"
		elif .type == "kernel" then "kernel \(.kernel.version)"
		elif .type == "test" then "test \(.test.suite)/\(.test.name): \(.test.result)"
		elif .type == "crash" then "crash \(.crash.kind): \(.crash.title)"
		else "\(.type) \(.message // "")" end)' &
	followers+=($!)
done
for p in "${followers[@]}"; do wait "$p" || true; done
followers=()

status=0
for arch in "${arches[@]}"; do
	t="$api/${uid[$arch]}"
	curl -sS "$t/results" >"out/serve-$arch.json" || true
	curl -sS "$t/logs" >"out/serve-$arch.log" || true
	view=$(curl -sS "$t")
	result=$(jq -r '.result // "none"' <<<"$view")
	echo "== $arch: $(jq -r '"\(.state), result \(.result // "none") after \(.attempts | length) attempt(s)" + (if .failure then ": \(.failure.kind): \(.failure.title)" else "" end)' <<<"$view")"
	echo "   results in out/serve-$arch.json, console log in out/serve-$arch.log"
	[ "$result" = pass ] || status=1
done
exit "$status"
