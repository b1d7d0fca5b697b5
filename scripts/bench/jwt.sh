#!/usr/bin/env bash
# Authenticated throughput with external JWT access tokens (the openid-connect plugin's bearer
# method, ES256 by default) side by side with the gateway's own kong_oauth2 tokens, in one run,
# interleaved rounds, on loopback:
#   - upstream: nginx answering `200 ok` (as scripts/bench/run.sh's);
#   - the OpenID provider of the tests (e2e/oidc-provider, Node) issuing the JWTs;
#   - tollgate-controller standalone (release build) with route /jwt (bearer, the provider's keys)
#     and route /own (kong_oauth2, the gateway's own tokens), both to the upstream;
#   - wrk, 64 connections, the same token on every request (the verified-token caches at work).
#
#   scripts/bench/jwt.sh [--rounds 3] [--duration 5] [--alg ES256|RS256|PS256|EdDSA]
# Prints req/s per round and the medians' ratio. Needs nginx and wrk (Debian packages), Node.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
rounds=3 duration=5 alg=ES256
while [ $# -gt 0 ]; do
    case "$1" in
        --rounds) rounds="$2"; shift 2 ;;
        --duration) duration="$2"; shift 2 ;;
        --alg) alg="$2"; shift 2 ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
done
for tool in nginx wrk node curl; do
    command -v "$tool" >/dev/null || { echo "jwt.sh: $tool is needed" >&2; exit 1; }
done
bash "$root/scripts/oidc-provider.sh" >/dev/null
if [ -z "${BENCH_SKIP_BUILD:-}" ]; then
    (cd "$root" && cargo build --release -q -p tollgate-controller --bin tollgate-controller)
fi
work="$root/scripts/bench/.work/jwt"
rm -rf "$work" && mkdir -p "$work/manifests" "$work/logs"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

up=24180 idp=24181 http=24182 https=24183 admin=24184
cat > "$work/nginx.conf" <<NGINX
worker_processes $(nproc);
pid $work/nginx.pid;
error_log $work/logs/nginx.log;
events { worker_connections 4096; }
http {
    access_log off;
    server { listen 127.0.0.1:$up; location / { return 200 "ok\n"; } }
}
NGINX
nginx -c "$work/nginx.conf" -p "$work" -g 'daemon off;' & pids+=($!)

(cd "$root/e2e/oidc-provider" && PORT=$idp KEYS_FILE="$work/keys.json" CLIENT_SECRET=bench \
    INTROSPECTOR_SECRET=unused ACCESS_TOKEN_ALG="$alg" ACCESS_TOKEN_TTL=3600 \
    node server.mjs > "$work/logs/oidc.log" 2>&1) & pids+=($!)
until curl -sf "http://127.0.0.1:$idp/.well-known/openid-configuration" >/dev/null; do sleep 0.2; done

# The quickstart's consumer, credential and token route (its own tokens), then the bench routes.
for f in "$root/examples/quickstart/"0[1-3]*.yaml; do cat "$f"; echo "---"; done > "$work/manifests/quickstart.yaml"
cat >> "$work/manifests/quickstart.yaml" <<YAML
apiVersion: tollgate.dev/v1alpha1
kind: Consumer
metadata: {name: bench-service}
spec: {username: tollgate-test}
---
apiVersion: tollgate.dev/v1alpha1
kind: AuthPlugin
metadata: {name: external}
spec:
  type: openid-connect
  openidConnect: {authMethods: [bearer], issuer: "http://127.0.0.1:$idp", audienceRequired: [https://api.example.test], consumerClaim: [client_id]}
---
apiVersion: tollgate.dev/v1alpha1
kind: AuthPlugin
metadata: {name: own}
spec: {type: openid-connect, openidConnect: {authMethods: [kong_oauth2]}}
---
apiVersion: tollgate.dev/v1alpha1
kind: GatewayRoute
metadata: {name: jwt}
spec: {paths: [/jwt], plugins: [external], backend: {url: "http://127.0.0.1:$up"}}
---
apiVersion: tollgate.dev/v1alpha1
kind: GatewayRoute
metadata: {name: own}
spec: {paths: [/own], plugins: [own], backend: {url: "http://127.0.0.1:$up"}}
YAML
"$root/target/release/tollgate-controller" --log-format text standalone --manifests "$work/manifests" \
    --state-dir "$work/state" --http-addr "127.0.0.1:$http" --https-addr "127.0.0.1:$https" \
    --admin-addr "127.0.0.1:$admin" > "$work/logs/tollgate.log" 2>&1 & pids+=($!)
until curl -sf "http://127.0.0.1:$admin/readyz" >/dev/null; do sleep 0.2; done

jwt=$(curl -s -u tollgate-test:bench -d "grant_type=client_credentials&resource=https://api.example.test&scope=orders:read" \
    "http://127.0.0.1:$idp/token" | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
own=$(curl -sk -d 'grant_type=client_credentials&client_id=client&client_secret=secret' \
    "https://127.0.0.1:$https/auth/oauth2/token" | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
until [ "$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $jwt" "http://127.0.0.1:$http/jwt")" = 200 ]; do sleep 0.2; done
[ "$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $own" "http://127.0.0.1:$http/own")" = 200 ]

run() { # path token -> req/s
    wrk -t"$(nproc)" -c64 -d"${duration}s" -H "Authorization: Bearer $2" "http://127.0.0.1:$http$1" \
        | awk '/Requests\/sec/ {print $2} /Non-2xx/ {print "ERRORS " $0 > "/dev/stderr"}'
}
run /jwt "$jwt" >/dev/null; run /own "$own" >/dev/null   # warm-up
jwt_rates=() own_rates=()
for r in $(seq "$rounds"); do
    j=$(run /jwt "$jwt"); o=$(run /own "$own")
    jwt_rates+=("$j"); own_rates+=("$o")
    echo "round $r: $alg JWT $j req/s, kong_oauth2 $o req/s"
done
python3 - "${jwt_rates[*]}" "${own_rates[*]}" "$alg" <<'PY'
import statistics, sys
jwt = [float(x) for x in sys.argv[1].split()]
own = [float(x) for x in sys.argv[2].split()]
j, o = statistics.median(jwt), statistics.median(own)
print(f"median: {sys.argv[3]} JWT {j:.0f} req/s, kong_oauth2 {o:.0f} req/s, ratio {j / o:.3f}")
PY
