#!/usr/bin/env bash
# Tollgate's test command (the README's second command). On a machine with a Rust toolchain,
# Python 3 with pip, Go (for the apiserver step), Debian's `prometheus` package (`prometheus` and
# `promtool`, for the metrics suite), and Debian's apt, it:
#   1. creates .venv and installs the Python requirements (httpbin, gunicorn, ...), quickly when
#      already done (scripts/venv.sh);
#   2. checks the cluster tools (kubectl) with scripts/tools.sh and that `prometheus` and
#      `promtool` are installed (e2e/tests/prometheus.rs runs them), and installs the tests'
#      OpenID provider (npm `oidc-provider`, scripts/oidc-provider.sh);
#   3. builds every binary once (the end-to-end tests spawn them from target/debug);
#   4. checks formatting and clippy (-D warnings) on the whole workspace, and that no two modules
#      of core and proxy use each other (scripts/use_graph.py);
#   5. runs the whole test suite (cargo nextest when installed, else cargo test), unit tests,
#      reconcile tests and the end-to-end tests (standalone mode against a real httpbin, and the
#      cluster-less operator suite: API emulator + kubectl + controller + two proxies);
#   6. runs the API emulator's own suite (pytest, real kubectl);
#   7. checks the Helm chart (scripts/chart-test.sh: lint, template variants, Kubernetes schemas,
#      values-schema rejections, RBAC rules, apply to the emulator);
#   8. smoke-tests the control-plane tier (scripts/apiserver-test.sh: the real kube-apiserver, built
#      from Go modules once and cached by scripts/apiserver.sh; CRDs, quickstart, server-side
#      validation, TokenRequest, RBAC);
#   9. runs the operator suite against that real kube-apiserver (TOLLGATE_E2E_APISERVER=real);
#      the Gateway API tests of both tiers install the Gateway API CRDs from the Go module
#      sigs.k8s.io/gateway-api (scripts/gateway-api-crds.sh, so Go is needed for step 5 too);
# and any further steps listed below. Exits non-zero when any step fails.
#
#   scripts/test.sh                 # every step
#   scripts/test.sh fmt clippy      # only the named steps (see `scripts/test.sh --list`)
#   TOLLGATE_E2E_LOG=debug scripts/test.sh tests   # more gateway logging in e2e failures
#
# Adding a step: write a function `step_<name>` and add <name> to STEPS. A step fails by
# returning non-zero; its output is shown as it runs.
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root" || exit 1

STEPS=(venv tools oidc build fmt clippy usegraph tests emulator chart apiserver realapi)
# Steps whose failure makes the rest pointless.
REQUIRED=(venv build)

step_venv() {
    # shellcheck source=scripts/venv.sh
    source "$root/scripts/venv.sh" && tollgate_venv
}

step_tools() {
    # kubectl (and helm) for the cluster-less operator suite; owned by scripts/tools.sh.
    bash "$root/scripts/tools.sh" || return 1
    # A real Prometheus scrapes the gateway in e2e/tests/prometheus.rs, and promtool lints the
    # expositions: both come from Debian's package (.ci/run installs it when missing).
    local tool
    for tool in prometheus promtool; do
        if [ -z "${TOLLGATE_PROMETHEUS_BIN:-}" ] && ! command -v "$tool" >/dev/null 2>&1; then
            echo "tools: '$tool' not found; the metrics suite (e2e/tests/prometheus.rs) needs" \
                "it: apt-get install prometheus (or set TOLLGATE_PROMETHEUS_BIN and" \
                "TOLLGATE_PROMTOOL_BIN)" >&2
            return 1
        fi
    done
    if [ -d "$root/.tools/bin" ]; then
        export PATH="$root/.tools/bin:$PATH"
    fi
}

step_oidc() {
    # The OpenID provider of the external-identity-provider tests (npm, pinned by a lockfile).
    bash "$root/scripts/oidc-provider.sh"
}

step_build() {
    cargo build --workspace --bins --locked
}

step_fmt() {
    cargo fmt --all --check
}

step_clippy() {
    cargo clippy --workspace --all-targets --locked --features tollgate-e2e/e2e -- -D warnings
}

step_usegraph() {
    # No two modules of core and proxy use each other, directly or in a ring, and proxy's seams
    # (server, admin, pipeline, upstream, shared) depend on each other one way.
    python3 "$root/scripts/use_graph.py"
}

step_tests() {
    if cargo nextest --version >/dev/null 2>&1; then
        cargo nextest run --workspace --locked --no-fail-fast --features tollgate-e2e/e2e &&
            cargo test --workspace --locked --doc
    else
        echo "(cargo-nextest not installed; using cargo test)"
        cargo test --workspace --locked --no-fail-fast --features tollgate-e2e/e2e
    fi
}

step_emulator() {
    # The Kubernetes API emulator's own suite, driven by the real kubectl; then its API tests
    # against the real kube-apiserver (the apiserver tier's binary), where each known difference
    # is an expected failure listed in e2e/emulator/README.md and anything else fails.
    "$TOLLGATE_PYTHON" -m pytest -q -p no:cacheprovider e2e/emulator/tests &&
        TOLLGATE_EMULATOR_TESTS_BACKEND=real \
            "$TOLLGATE_PYTHON" -m pytest -q -p no:cacheprovider e2e/emulator/tests
}

step_chart() {
    # helm lint/template variants, schema validation, values-schema rejections, RBAC rules,
    # and `helm template | kubectl apply` against the API emulator.
    bash "$root/scripts/chart-test.sh"
}

step_apiserver() {
    # The real kube-apiserver (+ embedded etcd) on loopback: needs Go, and the Go module proxy
    # for its first (cold) build; the binary is cached outside the work tree after that.
    bash "$root/scripts/apiserver-test.sh"
}

step_realapi() {
    # The operator suite (e2e/tests/cluster.rs) against the real kube-apiserver instead of the
    # emulator: each test starts its own server (the binary cached by the apiserver step).
    # The real server refuses loopback addresses in EndpointSlices, so the test proxies and
    # httpbin need another address. They get one in a private network namespace: a new one
    # (unshare, as root or through a user namespace) whose loopback interface also carries
    # $REALAPI_ADDR. Every process of the suite lives in it, and nothing reaches another host.
    local addr="${REALAPI_ADDR:-10.200.0.1}"
    if ! command -v unshare >/dev/null 2>&1 || ! command -v ip >/dev/null 2>&1; then
        echo "realapi: needs 'unshare' (util-linux) and 'ip' (iproute2) for a private network" \
            "namespace; install them (.ci/run does) or skip the step" >&2
        return 1
    fi
    # Built outside the namespace, which has no route to the registries; so are the Gateway API
    # CRDs the cluster tests install fetched (Go module sigs.k8s.io/gateway-api).
    cargo test -p tollgate-e2e --features e2e --test cluster --locked --no-run || return 1
    local gateway_api_crds
    gateway_api_crds="$(bash "$root/scripts/gateway-api-crds.sh")" || return 1
    if ! unshare --net --map-root-user true 2>/dev/null; then
        echo "realapi: this machine refuses a new network namespace (unshare --net" \
            "--map-root-user); run as root or allow unprivileged user namespaces" >&2
        return 1
    fi
    unshare --net --map-root-user -- env TOLLGATE_E2E_HOST_IP="$addr" \
        TOLLGATE_E2E_APISERVER=real TOLLGATE_GATEWAY_API_CRDS="$gateway_api_crds" bash -c '
        set -e
        ip link set lo up
        ip addr add "$TOLLGATE_E2E_HOST_IP/32" dev lo
        exec cargo test --offline --locked -p tollgate-e2e --features e2e --test cluster -- \
            --test-threads=2'
}

# ---------------------------------------------------------------------------------------------

if [ "${1:-}" = "--list" ]; then
    printf '%s\n' "${STEPS[@]}"
    exit 0
fi
selected=("$@")
if [ ${#selected[@]} -eq 0 ]; then
    selected=("${STEPS[@]}")
fi
for name in "${selected[@]}"; do
    if ! declare -F "step_$name" >/dev/null; then
        echo "test.sh: no step '$name' (steps: ${STEPS[*]})" >&2
        exit 2
    fi
done

# The e2e harness finds the binaries and the Python interpreter through these.
target_dir="${CARGO_TARGET_DIR:-$root/target}"
export TOLLGATE_BIN_DIR="${TOLLGATE_BIN_DIR:-$target_dir/debug}"
export TOLLGATE_PYTHON="${TOLLGATE_PYTHON:-$root/.venv/bin/python}"

bold=""
reset=""
if [ -t 1 ]; then
    bold="$(printf '\033[1m')"
    reset="$(printf '\033[0m')"
fi

passed=()
failed=()
start_all=$SECONDS
for name in "${selected[@]}"; do
    echo
    echo "${bold}==> $name${reset}"
    start=$SECONDS
    if "step_$name"; then
        echo "${bold}<== $name: ok ($((SECONDS - start))s)${reset}"
        passed+=("$name")
    else
        echo "${bold}<== $name: FAILED ($((SECONDS - start))s)${reset}"
        failed+=("$name")
        for required in "${REQUIRED[@]}"; do
            if [ "$required" = "$name" ]; then
                echo "test.sh: '$name' is required by the later steps; stopping." >&2
                break 2
            fi
        done
    fi
done

echo
echo "test.sh: steps ok: ${passed[*]:-none}; failed: ${failed[*]:-none} ($((SECONDS - start_all))s)"
if [ ${#failed[@]} -ne 0 ] || [ ${#passed[@]} -ne ${#selected[@]} ]; then
    exit 1
fi
