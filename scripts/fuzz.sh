#!/usr/bin/env bash
# Runs Tollgate's fuzz targets (scripts/fuzz/, a cargo-fuzz project) for a bounded time each and
# prints the executions and crashes of every target:
#   token_open     the token decoder (KeyRing::open) and the verification decision
#   token_request  the token-endpoint parser (method, scheme, query, content type, Basic, body)
#   snapshot       the config channel: JSON -> Snapshot -> validate -> the proxy's apply step
#   path           path normalization, route matching and the upstream path (path tricks)
#
#   scripts/fuzz.sh              # 60 s per target
#   scripts/fuzz.sh 10           # 10 s per target
#   scripts/fuzz.sh 300 snapshot # 300 s, one target
#
# cargo-fuzz needs nightly-only compiler flags; with only a stable toolchain they are unlocked
# with RUSTC_BOOTSTRAP=1 (set here). AddressSanitizer is used when it links, else the targets
# run without a sanitizer (`-s none`); force one with TOLLGATE_FUZZ_SANITIZER=address|none.
# Seeds are written fresh on every run from real tokens, token requests and snapshots
# (scripts/fuzz/seedgen); the growing corpus lives in scripts/fuzz/corpus/<target> (not
# committed). A crash leaves its input in scripts/fuzz/artifacts/<target>/; turn it into a
# regression test in the owning crate's tests (core/tests/suite/hostile_*.rs) and reproduce it with
#   cd scripts/fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run <target> artifacts/<target>/<file>
# Exits non-zero when any target crashed.
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root/scripts/fuzz" || exit 1

seconds="${1:-60}"
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    targets=(token_open token_request snapshot path)
fi
export RUSTC_BOOTSTRAP=1

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz.sh: installing cargo-fuzz"
    cargo install cargo-fuzz --locked || exit 1
fi

sanitizer="${TOLLGATE_FUZZ_SANITIZER:-}"
if [ -z "$sanitizer" ]; then
    if cargo fuzz build -O >/tmp/tollgate-fuzz-build.log 2>&1; then
        sanitizer=address
    else
        echo "fuzz.sh: the AddressSanitizer build failed (see /tmp/tollgate-fuzz-build.log); running without a sanitizer"
        sanitizer=none
    fi
fi
cargo fuzz build -O -s "$sanitizer" || exit 1

seeds="$root/scripts/fuzz/target/seeds"
rm -rf "$seeds"
cargo run --quiet --release -p tollgate-fuzz-seeds -- "$seeds" || exit 1

declare -A max_len=([token_open]=4096 [token_request]=20000 [snapshot]=16384 [path]=1024)
summary=()
crashed=0
for target in "${targets[@]}"; do
    corpus="$root/scripts/fuzz/corpus/$target"
    artifacts="$root/scripts/fuzz/artifacts/$target"
    mkdir -p "$corpus" "$artifacts"
    before=$(find "$artifacts" -type f | wc -l)
    log="$root/scripts/fuzz/target/$target.log"
    echo "==> $target: ${seconds}s, sanitizer $sanitizer"
    cargo fuzz run -O -s "$sanitizer" "$target" "$corpus" "$seeds/$target" -- \
        -max_total_time="$seconds" -max_len="${max_len[$target]:-4096}" -rss_limit_mb=2048 \
        -timeout=10 -print_final_stats=1 -artifact_prefix="$artifacts/" >"$log" 2>&1
    status=$?
    execs=$(grep -a -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
    units=$(find "$corpus" -type f | wc -l)
    after=$(find "$artifacts" -type f | wc -l)
    crashes=$((after - before))
    if grep -a -q "failed to build fuzz script" "$log"; then
        crashes="build failed"
    elif [ "$status" -ne 0 ] && [ "$crashes" -eq 0 ]; then
        crashes=1
    fi
    if [ "$crashes" != 0 ]; then
        crashed=1
        tail -40 "$log"
    fi
    summary+=("$(printf '%-14s executions %-12s corpus %-6s crashes %s' "$target" "${execs:-?}" "$units" "$crashes")")
done

echo
echo "fuzz.sh: ${seconds}s per target, sanitizer $sanitizer"
printf '%s\n' "${summary[@]}"
exit "$crashed"
