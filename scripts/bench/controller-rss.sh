#!/usr/bin/env bash
# Controller memory with many Services and EndpointSlices in the cluster: starts the real
# kube-apiserver (scripts/apiserver.sh), creates SERVICES Services (default 10,000) and two
# EndpointSlices each (three endpoints apiece, with the node names, zones, target references and
# hints real slices carry), runs `tollgate-controller run` against it until its caches have
# synced, and prints its resident memory (VmRSS) and peak (VmHWM). Not a test: nothing fails on
# a figure.
#
#   scripts/bench/controller-rss.sh [--release] [SERVICES]
#
# Uses target/debug (or target/release with --release) and kubectl from PATH or .tools/bin.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
profile=debug
if [ "${1:-}" = "--release" ]; then
    profile=release
    shift
fi
services="${1:-10000}"
bin="${CARGO_TARGET_DIR:-$root/target}/$profile/tollgate-controller"
[ -x "$bin" ] || { echo "controller-rss: build $bin first" >&2; exit 2; }
export PATH="$root/.tools/bin:$PATH"
work="$(mktemp -d)"
pid=""
cleanup() {
    [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
    bash scripts/apiserver.sh stop "$work/apiserver" >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT

bash scripts/apiserver.sh start "$work/apiserver" >/dev/null
export KUBECONFIG="$work/apiserver/kubeconfig"
kubectl apply --server-side -f crds/ >/dev/null
kubectl wait --for=condition=Established crd --all --timeout=60s >/dev/null
kubectl create namespace tollgate-system >/dev/null
for n in 0 1 2 3 4 5 6 7 8 9; do kubectl create namespace "bench-$n" >/dev/null; done

start=$SECONDS
python3 - "$services" "$work/objects" <<'PY'
import json, os, sys
services, out = int(sys.argv[1]), sys.argv[2]
os.makedirs(out, exist_ok=True)
batch, items, n = 2000, [], 0
def flush():
    global items, n
    if items:
        with open(f"{out}/{n:04d}.json", "w") as f:
            json.dump({"apiVersion": "v1", "kind": "List", "items": items}, f)
        items, n = [], n + 1
for i in range(services):
    ns, name = f"bench-{i % 10}", f"svc-{i}"
    items.append({"apiVersion": "v1", "kind": "Service",
                  "metadata": {"name": name, "namespace": ns,
                               "labels": {"app": name, "team": "bench", "tier": "backend"},
                               "annotations": {"description": "a service of the benchmark " * 4}},
                  # headless: the local API server has a small service IP range
                  "spec": {"selector": {"app": name}, "clusterIP": "None",
                           "ports": [{"name": "http", "port": 80, "targetPort": 8080},
                                     {"name": "metrics", "port": 9090, "targetPort": 9090}]}})
    for s in range(2):
        items.append({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
                      "metadata": {"name": f"{name}-{s}", "namespace": ns,
                                   "labels": {"kubernetes.io/service-name": name,
                                              "endpointslice.kubernetes.io/managed-by": "bench"}},
                      "addressType": "IPv4",
                      "ports": [{"name": "http", "port": 8080, "protocol": "TCP"},
                                {"name": "metrics", "port": 9090, "protocol": "TCP"}],
                      "endpoints": [{"addresses": [f"10.{(i >> 8) & 255}.{i & 255}.{s * 3 + e + 1}"],
                                     "conditions": {"ready": True, "serving": True, "terminating": False},
                                     "nodeName": f"node-{(i + e) % 50}", "zone": f"zone-{e}",
                                     "targetRef": {"kind": "Pod", "namespace": ns,
                                                   "name": f"{name}-pod-{s}-{e}",
                                                   "uid": f"00000000-0000-4000-8000-{i:06d}{s}{e:05d}"},
                                     "hints": {"forZones": [{"name": f"zone-{e}"}]}}
                                    for e in range(3)]})
    if len(items) >= batch:
        flush()
flush()
PY
for f in "$work"/objects/*.json; do kubectl create -f "$f" >/dev/null; done
echo "created $services Services and $((services * 2)) EndpointSlices in $((SECONDS - start))s"

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$bin" run --proxy-service=tollgate-system/tollgate-proxy-config \
    --config-token-secret=tollgate-system/tollgate-config-token \
    --signing-key-secret=tollgate-system/tollgate-signing-keys \
    --lease-namespace=tollgate-system --admin-addr="127.0.0.1:$port" \
    >"$work/controller.log" 2>&1 &
pid=$!
start=$SECONDS
until curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1; do
    kill -0 "$pid" 2>/dev/null || { cat "$work/controller.log" >&2; exit 1; }
    [ $((SECONDS - start)) -lt 300 ] || { echo "controller-rss: not ready in 300 s" >&2; exit 1; }
    sleep 0.5
done
synced=$((SECONDS - start))
# One reconcile pass over everything has run by now or runs next; give it the time to finish
# by waiting for the reconcile counter to move.
until curl -fsS "http://127.0.0.1:$port/metrics" | grep -q '^tollgate_controller_reconciles_total [1-9]'; do
    sleep 0.5
done
rss=$(awk '/^VmRSS/ {print int($2 / 1024)}' "/proc/$pid/status")
hwm=$(awk '/^VmHWM/ {print int($2 / 1024)}' "/proc/$pid/status")
echo "controller ($profile): caches synced in ${synced}s; RSS ${rss} MiB, peak ${hwm} MiB with $services Services and $((services * 2)) EndpointSlices"
