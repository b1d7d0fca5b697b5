#!/usr/bin/env bash
# Tollgate's quickstart (the README's first command): serves examples/quickstart/ on one machine.
#   - sets up .venv with httpbin (scripts/venv.sh) if needed;
#   - starts httpbin on 127.0.0.1:8080 in the background (stopped when this script exits);
#   - runs `tollgate-controller standalone --manifests examples/quickstart` (release build) on
#     :8000 (HTTP), :8443 (HTTPS, self-signed certificate in .tollgate-state/) and 127.0.0.1:8100
#     (admin, loopback only in standalone mode).
# Extra arguments go to `tollgate-controller standalone`. Stop with Ctrl-C.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

# shellcheck source=scripts/venv.sh
source "$root/scripts/venv.sh"
tollgate_venv

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

if port_open 8080; then
    echo "quickstart: something already listens on 127.0.0.1:8080; stop it first (the quickstart's upstream runs there)." >&2
    exit 1
fi

mkdir -p target
"$TOLLGATE_PYTHON" -m gunicorn --no-control-socket --workers 2 --bind 127.0.0.1:8080 \
    --access-logfile - httpbin:app >target/quickstart-httpbin.log 2>&1 &
httpbin_pid=$!
cleanup() {
    kill "$httpbin_pid" 2>/dev/null || true
    wait "$httpbin_pid" 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM

for _ in $(seq 1 100); do
    port_open 8080 && break
    if ! kill -0 "$httpbin_pid" 2>/dev/null; then
        echo "quickstart: httpbin did not start; its log:" >&2
        cat target/quickstart-httpbin.log >&2
        exit 1
    fi
    sleep 0.1
done
port_open 8080 || {
    echo "quickstart: httpbin did not listen on 127.0.0.1:8080 within 10s" >&2
    exit 1
}
echo "quickstart: httpbin upstream on http://127.0.0.1:8080 (log: target/quickstart-httpbin.log)"

cargo run --release -p tollgate-controller --bin tollgate-controller -- standalone --manifests examples/quickstart "$@"
