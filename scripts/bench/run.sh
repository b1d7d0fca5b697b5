#!/usr/bin/env bash
# Tollgate side-by-side benchmark: one command.
#
#   scripts/bench/run.sh              # full run (about 13 minutes on 2 cores, plus the build)
#   scripts/bench/run.sh --rounds 1 --duration 2 --phases matrix    # quick look
#
# Installs nginx, HAProxy, wrk and h2load (nghttp2-client) from Debian's apt when missing, builds the release binaries
# (tollgate-controller, tollgate-proxy), then runs scripts/bench/bench.py, which prints a table
# and writes scripts/bench/results/latest.json. Every argument is passed to bench.py
# (`scripts/bench/run.sh --help`).
# BENCH_SKIP_BUILD=1 skips the cargo build (use the binaries already in target/release).
set -euo pipefail
cd "$(dirname "$0")/../.."

missing=()
for tool in nginx haproxy wrk h2load; do
  package="$tool"
  [ "$tool" = h2load ] && package=nghttp2-client
  command -v "$tool" >/dev/null 2>&1 || [ -x "/usr/sbin/$tool" ] || missing+=("$package")
done
if ((${#missing[@]})); then
  sudo=()
  [ "$(id -u)" -eq 0 ] || sudo=(sudo)
  echo "bench: installing ${missing[*]} from apt"
  "${sudo[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y --no-install-recommends "${missing[@]}"
fi
export PATH="$PATH:/usr/sbin"

if [ -z "${BENCH_SKIP_BUILD:-}" ]; then
  echo "bench: cargo build --release -p tollgate-controller -p tollgate-proxy"
  cargo build --release -p tollgate-controller -p tollgate-proxy
fi

exec python3 scripts/bench/bench.py "$@"
