#!/usr/bin/env bash
# Builds the Kubernetes control-plane binaries the Kubernetes executor's
# tests run for real: kube-apiserver, kube-scheduler and kubectl (for
# `apply -k --dry-run=server`) from k8s.io/kubernetes, etcd from
# go.etcd.io/etcd/server, and kwok (simulated nodes, for the scale test in
# controller/scaletest) from sigs.k8s.io/kwok. Each is built in a throwaway
# Go module written under the cache dir, never in the repo's go.mod, so the
# repo does not inherit kubernetes' dependency graph. Binaries are cached
# by version: a second run is a no-op.
#
#   TUXBOOT_TOOLS   cache dir (default ~/.cache/tuxboot/tools)
#
# Prints the bin directory on the last line; tests find it through
# TUXBOOT_KUBE_BIN or the same default.
set -euo pipefail

K8S_VERSION=v1.37.2
STAGING_VERSION=v0.37.2
ETCD_VERSION=v3.6.16
KWOK_VERSION=v0.8.0

tools=${TUXBOOT_TOOLS:-$HOME/.cache/tuxboot/tools}
bin="$tools/kube-$K8S_VERSION-etcd-$ETCD_VERSION/bin"
export GOFLAGS=-mod=mod
export GOTOOLCHAIN=local
export CGO_ENABLED=0
export PATH="$PATH:/usr/local/go/bin"

mkdir -p "$bin"

if [ ! -x "$bin/kube-apiserver" ] || [ ! -x "$bin/kubectl" ] || [ ! -x "$bin/kube-scheduler" ]; then
	src="$tools/src/kubernetes-$K8S_VERSION"
	rm -rf "$src"
	mkdir -p "$src"
	echo "hack/kube-tools.sh: building kube-apiserver, kube-scheduler and kubectl $K8S_VERSION (15-25 minutes on 2 cores; cached after)" >&2
	# k8s.io/kubernetes replaces its staging modules with ./staging paths,
	# which a consumer cannot see: replace each with its published release.
	gomod=$(cd "$src" && go mod download -json "k8s.io/kubernetes@$K8S_VERSION" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",*$/\1/p')
	staging=$(sed -n 's#^[[:space:]]*\(k8s.io/[a-z0-9-]*\) => ./staging/.*#\1#p' "$gomod")
	{
		echo "module tuxboot.local/kubetools"
		echo
		echo "go 1.26"
		echo
		echo "require k8s.io/kubernetes $K8S_VERSION"
		echo
		for m in $staging; do
			echo "replace $m => $m $STAGING_VERSION"
		done
	} >"$src/go.mod"
	cat >"$src/tools.go" <<-'EOF'
	//go:build tools

	package tools

	import (
		_ "k8s.io/kubernetes/cmd/kube-apiserver"
		_ "k8s.io/kubernetes/cmd/kube-scheduler"
		_ "k8s.io/kubernetes/cmd/kubectl"
	)
	EOF
	(cd "$src" && go mod download k8s.io/kubernetes && go build -trimpath -ldflags=-s -o "$bin/" k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubectl)
fi

if [ ! -x "$bin/etcd" ]; then
	src="$tools/src/etcd-$ETCD_VERSION"
	rm -rf "$src"
	mkdir -p "$src"
	echo "hack/kube-tools.sh: building etcd $ETCD_VERSION" >&2
	cat >"$src/go.mod" <<-EOF
	module tuxboot.local/etcd

	go 1.26

	require go.etcd.io/etcd/server/v3 $ETCD_VERSION
	EOF
	cat >"$src/main.go" <<-'EOF'
	// Command etcd is etcd's own main, built from the server module.
	package main

	import (
		"os"

		"go.etcd.io/etcd/server/v3/etcdmain"
	)

	func main() { etcdmain.Main(os.Args) }
	EOF
	(cd "$src" && go build -trimpath -ldflags=-s -o "$bin/etcd" .)
fi

if [ ! -x "$bin/kwok" ]; then
	echo "hack/kube-tools.sh: building kwok $KWOK_VERSION" >&2
	# kwok's module has no replace directives: go install builds it with
	# its own dependency versions, outside any module here.
	(cd "$tools" && GOFLAGS= GOBIN="$bin" go install -trimpath -ldflags=-s "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION")
fi

"$bin/kube-apiserver" --version >&2
"$bin/etcd" --version 2>&1 | sed -n 1p >&2
"$bin/kwok" --version >&2
echo "$bin"
