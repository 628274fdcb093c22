#!/usr/bin/env bash
# The scale and fault harness at full size: boot requests by the hundred
# through the real `tuxboot controller` (Kubernetes executor), a real
# kube-apiserver and kube-scheduler, kwok's simulated nodes and an embedded
# NATS server, with stand-in runners (controller/scaletest).
#
#   bash hack/scale.sh                               # 500 boots, 50 nodes, the fault schedule
#   bash hack/scale.sh -faults none -rate 0          # clean: all 500 queued at once
#   bash hack/scale.sh -faults nats                  # one kind of fault (see -faults)
#
# Later arguments override the defaults below; every flag is in
# controller/scaletest/scale_test.go. The report is printed, and written
# as JSON to $TUXBOOT_SCALE_REPORT (default ./scale-report.json).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"
bash hack/kube-tools.sh >/dev/null
report=${TUXBOOT_SCALE_REPORT:-$PWD/scale-report.json}
echo "hack/scale.sh: $(nproc) CPUs, $(free -g | awk '/^Mem:/ {print $2}') GiB, $(uname -r), $(go version | cut -d' ' -f3)" >&2
go test ./controller/scaletest -run '^TestScale$' -count=1 -v -timeout 60m -args \
	-boots 500 -nodes 50 -boot-time 20s -rate 10 -burst 100 -report "$report" "$@"
