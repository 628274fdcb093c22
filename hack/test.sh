#!/usr/bin/env bash
# The project's test command: installs what the tests need, fetches the
# real kernels they boot, then vets and tests every package.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"

bash hack/deps.sh
bash hack/testdata.sh -n

echo "== gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go'))
if [ -n "$unformatted" ]; then
	echo "gofmt would change: $unformatted" >&2
	exit 1
fi
bash hack/kube-tools.sh # kube-apiserver, etcd, kubectl for the Kubernetes executor tests (cached)
echo "== go vet"
go vet ./...
echo "== go test"
go test -timeout 45m "$@" ./...
