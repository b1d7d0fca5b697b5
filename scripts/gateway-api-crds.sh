#!/usr/bin/env bash
# Prints the directory holding the Gateway API's standard-channel CRDs (GatewayClass, Gateway,
# HTTPRoute, GRPCRoute, ReferenceGrant, ...) of the release Tollgate targets, fetched the way any
# machine with Go can: the Go module `sigs.k8s.io/gateway-api` carries them under
# `config/crd/standard/`, and `go mod download` puts it in the module cache (verified against the
# checksum database). Users install the same files from the Gateway API release:
#   kubectl apply -f https://github.com/kubernetes-sigs/gateway-api/releases/download/v1.5.1/standard-install.yaml
# Usage: scripts/gateway-api-crds.sh            # prints the directory
#        kubectl apply -f "$(scripts/gateway-api-crds.sh)"
set -euo pipefail
VERSION="${GATEWAY_API_VERSION:-v1.5.1}"
if ! command -v go >/dev/null 2>&1; then
    echo "gateway-api-crds: needs Go (the Gateway API CRDs come from its Go module)" >&2
    exit 1
fi
# Outside any module: `go mod download` of a module path needs no go.mod.
cd "$(mktemp -d)"
trap 'rmdir "$PWD" 2>/dev/null || true' EXIT
json="$(GOFLAGS=-mod=mod go mod download -json "sigs.k8s.io/gateway-api@$VERSION")"
dir="$(printf '%s' "$json" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p')"
if [ -z "$dir" ] || [ ! -d "$dir/config/crd/standard" ]; then
    echo "gateway-api-crds: go mod download gave no config/crd/standard:" >&2
    printf '%s\n' "$json" >&2
    exit 1
fi
printf '%s\n' "$dir/config/crd/standard"
