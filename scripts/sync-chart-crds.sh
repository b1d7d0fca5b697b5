#!/usr/bin/env bash
# Copies the generated CRDs (crds/*.yaml, written by `cargo run -p tollgate-controller --bin crdgen`)
# into the Helm chart (charts/tollgate/crds/), so the chart ships exactly the same files.
#   scripts/sync-chart-crds.sh          copy (removes chart CRDs that no longer exist in crds/)
#   scripts/sync-chart-crds.sh --check  exit 1, listing the differences, if the copies drifted
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
src="$root/crds"
dst="$root/charts/tollgate/crds"
mode="${1:-sync}"

shopt -s nullglob
mkdir -p "$dst"
case "$mode" in
    sync)
        for f in "$dst"/*.yaml; do
            [ -e "$src/$(basename "$f")" ] || { rm -f "$f"; echo "removed $(basename "$f")"; }
        done
        n=0
        for f in "$src"/*.yaml; do
            cp "$f" "$dst/$(basename "$f")"
            n=$((n + 1))
        done
        echo "synced $n CRD file(s) into charts/tollgate/crds/"
        ;;
    --check)
        if diff -r -q --exclude='.*' "$src" "$dst" >/dev/null 2>&1; then
            files=("$src"/*.yaml)
            echo "charts/tollgate/crds/ matches crds/ (${#files[@]} CRD files)"
        else
            echo "charts/tollgate/crds/ differs from crds/ (run scripts/sync-chart-crds.sh):" >&2
            diff -r -q --exclude='.*' "$src" "$dst" >&2 || true
            exit 1
        fi
        ;;
    *)
        echo "usage: $0 [--check]" >&2
        exit 2
        ;;
esac
