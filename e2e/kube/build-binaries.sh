#!/usr/bin/env bash
# Builds the pinned Kubernetes, etcd and CoreDNS binaries from the Go module proxy into
# $1/<versions>/ and prints that folder. A folder whose versions match is reused (a build
# takes ~10 min cold on 2 cores, seconds with a warm Go build cache). Test equipment only.
set -euo pipefail
# The versions come from e2e/kube/layout.ts (VERSIONS), the one place they are pinned.
CACHE=${1:?usage: build-binaries.sh CACHE_DIR K8S_VERSION ETCD_VERSION COREDNS_VERSION}
K8S=${2:?kubernetes version}; ETCD=${3:?etcd version}; COREDNS=${4:?coredns version}
# k8s.io/kubernetes v1.X.Y publishes its staging modules as v0.X.Y.
STAGING=v0.${K8S#v1.}
OUT="$CACHE/k8s-$K8S-etcd-$ETCD-coredns-$COREDNS"
CMDS="kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kubectl"
complete() { for b in $CMDS etcd coredns; do [ -x "$OUT/$b" ] || return 1; done; }
if complete; then echo "$OUT"; exit 0; fi
mkdir -p "$OUT.partial"
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
export GOFLAGS=-mod=mod GOTOOLCHAIN=local

# k8s.io/kubernetes replaces its staging modules with ./staging/src/...; a module of our own
# requires it and maps each of those to its published version.
mkdir -p "$work/k8s" && cd "$work/k8s"
go mod download -json "k8s.io/kubernetes@$K8S" >/dev/null
modfile=$(go env GOMODCACHE)/cache/download/k8s.io/kubernetes/@v/$K8S.mod
{ echo "module local/k8s-binaries"; echo; echo "go 1.24.0"; echo; echo "require k8s.io/kubernetes $K8S"; echo; echo "replace ("
  grep "=> ./staging" "$modfile" | awk -v v="$STAGING" '{print "\t"$1" => "$1" "v}'; echo ")"; } > go.mod
{ echo "//go:build tools"; echo; echo "package tools"; echo; echo "import ("
  for c in $CMDS; do echo "	_ \"k8s.io/kubernetes/cmd/$c\""; done; echo ")"; } > tools.go
go mod tidy >&2
v=${K8S#v}
# Without the version ldflags every binary reports v0.0.0-master.
ld="-s -w -X k8s.io/component-base/version.gitVersion=$K8S -X k8s.io/component-base/version.gitMajor=${v%%.*} -X k8s.io/component-base/version.gitMinor=$(echo "$v" | cut -d. -f2)"
for c in $CMDS; do go build -ldflags "$ld" -o "$OUT.partial/$c" "k8s.io/kubernetes/cmd/$c" >&2; done

# etcd: its server module's etcdmain behind a main of our own.
mkdir -p "$work/etcd" && cd "$work/etcd"
printf 'module local/etcd\n\ngo 1.24\n' > go.mod
printf 'package main\n\nimport (\n\t"os"\n\n\t"go.etcd.io/etcd/server/v3/etcdmain"\n)\n\nfunc main() { etcdmain.Main(os.Args) }\n' > main.go
{ go get "go.etcd.io/etcd/server/v3@$ETCD" && go mod tidy && go build -ldflags "-s -w" -o "$OUT.partial/etcd" .; } >&2

# CoreDNS: dynamically linked, so it runs as a host process, not in a pod.
GOBIN="$OUT.partial" go install -ldflags "-s -w" "github.com/coredns/coredns@$COREDNS" >&2
rm -rf "$OUT" && mv "$OUT.partial" "$OUT"
echo "$OUT"
