#!/usr/bin/env bash
# The kind tier: the end-to-end scenarios against a real Kubernetes cluster with the Helm chart.
#
#   e2e/kind/run.sh
#
# 1. creates a kind cluster (loopback port mappings: HTTP on $KIND_HTTP_PORT, HTTPS on
#    $KIND_HTTPS_PORT, to the proxy Service's NodePorts 30080/30443);
# 2. builds the Dockerfile and loads the image into the cluster;
# 3. deploys the httpbin upstream (e2e/kind/httpbin.yaml) and installs charts/tollgate
#    (e2e/kind/values.yaml), waits for the rollouts;
# 4. checks that `helm upgrade` keeps the generated config token and signing keys;
# 5. runs the same scenarios as the cluster-less suite (e2e/, `--test cluster`) with
#      TOLLGATE_E2E_KUBECONFIG  kubeconfig of the kind cluster
#      TOLLGATE_E2E_PROXY       http://127.0.0.1:$KIND_HTTP_PORT   (proxy HTTP listener)
#      TOLLGATE_E2E_PROXY_HTTPS https://127.0.0.1:$KIND_HTTPS_PORT (proxy HTTPS listener)
#      TOLLGATE_E2E_NAMESPACE   the release namespace (controller, proxies, Secrets)
#      TOLLGATE_E2E_RELEASE     the Helm release name
#      TOLLGATE_E2E_UPSTREAM    http://httpbin.tollgate-e2e.svc.cluster.local (for backend.url)
# 6. deletes the cluster (KEEP_CLUSTER=1 keeps it).
#
# Needs Docker (a running daemon), kind, cargo; helm and kubectl come from scripts/tools.sh.
# Where Docker or kind is missing it says so and exits 2: the kind tier did not run.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
cluster="${KIND_CLUSTER_NAME:-tollgate-e2e}"
http_port="${KIND_HTTP_PORT:-18000}"
https_port="${KIND_HTTPS_PORT:-18443}"
release="${TOLLGATE_RELEASE:-tollgate}"
ns="${TOLLGATE_NAMESPACE:-tollgate-system}"
image="tollgate:kind-e2e"
test_cmd="${TOLLGATE_KIND_TEST_CMD:-cargo test -p tollgate-e2e --features e2e --test cluster -- --test-threads=1}"

say() { printf '\n==> %s\n' "$*"; }
die() {
    echo "kind tier: $*" >&2
    exit 1
}

# --- prerequisites: say what is missing, never pretend ------------------------------------------
missing=()
command -v docker >/dev/null 2>&1 || missing+=("docker (https://docs.docker.com/engine/install/)")
command -v kind >/dev/null 2>&1 || missing+=("kind (https://kind.sigs.k8s.io/docs/user/quick-start/#installation)")
command -v cargo >/dev/null 2>&1 || missing+=("cargo")
if [ ${#missing[@]} -eq 0 ] && ! docker info >/dev/null 2>&1; then
    missing+=("a running Docker daemon (docker info failed)")
fi
if [ ${#missing[@]} -gt 0 ]; then
    echo "kind tier NOT run: missing ${missing[*]}" >&2
    echo "The cluster-less end-to-end suite (scripts/test.sh) covers the same scenarios without Docker." >&2
    exit 2
fi
# shellcheck source=scripts/tools.sh
source "$root/scripts/tools.sh" || die "cannot install helm/kubectl (scripts/tools.sh)"

work="$(mktemp -d -t tollgate-kind.XXXXXX)"
kubeconfig="$work/kubeconfig"
export KUBECONFIG="$kubeconfig"
created=0

diagnose() {
    [ "$created" -eq 1 ] || return 0
    say "diagnostics (also in $work/diagnostics.txt)"
    {
        kubectl get all,endpointslices,leases,events -A -o wide || true
        kubectl get consumers,oauth2credentials,authplugins,gatewayroutes -A -o yaml || true
        for deploy in "$release-controller" "$release-proxy"; do
            echo "--- logs of deployment/$deploy"
            kubectl -n "$ns" logs "deployment/$deploy" --all-containers --tail=200 || true
        done
    } >"$work/diagnostics.txt" 2>&1
    tail -n 120 "$work/diagnostics.txt"
}

cleanup() {
    local code=$?
    [ "$code" -eq 0 ] || diagnose
    if [ "$created" -eq 1 ] && [ "${KEEP_CLUSTER:-0}" != 1 ]; then
        say "deleting kind cluster $cluster"
        kind delete cluster --name "$cluster" >/dev/null 2>&1 || true
        rm -rf "$work"
    elif [ "$created" -eq 1 ]; then
        echo "kept cluster $cluster; KUBECONFIG=$kubeconfig"
    else
        rm -rf "$work"
    fi
    if [ "$code" -eq 0 ]; then
        echo "kind tier: PASSED"
    else
        echo "kind tier: FAILED (exit $code)" >&2
    fi
    exit "$code"
}
trap cleanup EXIT

# --- cluster ------------------------------------------------------------------------------------
if kind get clusters 2>/dev/null | grep -qx "$cluster"; then
    die "a kind cluster named $cluster already exists (delete it or set KIND_CLUSTER_NAME)"
fi
cat >"$work/kind.yaml" <<EOF
kind: Cluster
apiVersion: kind.x-k8s.io/v1alpha4
nodes:
  - role: control-plane
    extraPortMappings:
      - {containerPort: 30080, hostPort: $http_port, listenAddress: "127.0.0.1", protocol: TCP}
      - {containerPort: 30443, hostPort: $https_port, listenAddress: "127.0.0.1", protocol: TCP}
EOF
say "creating kind cluster $cluster"
created=1
kind create cluster --name "$cluster" --config "$work/kind.yaml" --kubeconfig "$kubeconfig" --wait 180s

# --- image --------------------------------------------------------------------------------------
say "building $image from the Dockerfile"
DOCKER_BUILDKIT=1 docker build -f Dockerfile -t "$image" .
kind load docker-image "$image" --name "$cluster"

# --- upstream and chart -------------------------------------------------------------------------
say "deploying the httpbin upstream"
kubectl apply -f e2e/kind/httpbin.yaml
kubectl -n tollgate-e2e rollout status deployment/httpbin --timeout=180s

say "installing charts/tollgate as $release in $ns"
helm install "$release" charts/tollgate --namespace "$ns" --create-namespace \
    -f e2e/kind/values.yaml --timeout 5m
for crd in consumers oauth2credentials gatewayroutes authplugins; do
    kubectl wait --for=condition=Established "crd/$crd.tollgate.dev" --timeout=60s
done
kubectl -n "$ns" rollout status "deployment/$release-controller" --timeout=300s
# proxies are ready only once they hold a config pushed by the controller
kubectl -n "$ns" rollout status "deployment/$release-proxy" --timeout=300s

say "checking that helm upgrade keeps the generated Secrets"
secret_data() { kubectl -n "$ns" get secret "$1" -o jsonpath='{.data}'; }
token_before="$(secret_data "$release-config-token")"
keys_before="$(secret_data "$release-signing-keys")"
if [ -z "$token_before" ] || [ -z "$keys_before" ]; then die "generated Secrets not found"; fi
helm upgrade "$release" charts/tollgate --namespace "$ns" -f e2e/kind/values.yaml \
    --set-string 'controller.podAnnotations.tollgate\.dev/upgraded=1' --timeout 5m
[ "$(secret_data "$release-config-token")" = "$token_before" ] || die "helm upgrade changed the config token"
[ "$(secret_data "$release-signing-keys")" = "$keys_before" ] || die "helm upgrade changed the signing keys"
kubectl -n "$ns" rollout status "deployment/$release-controller" --timeout=300s
echo "config token and signing keys unchanged across the upgrade"

# --- scenarios ----------------------------------------------------------------------------------
say "running the end-to-end scenarios: $test_cmd"
export TOLLGATE_E2E_KUBECONFIG="$kubeconfig"
export TOLLGATE_E2E_PROXY="http://127.0.0.1:$http_port"
export TOLLGATE_E2E_PROXY_HTTPS="https://127.0.0.1:$https_port"
export TOLLGATE_E2E_NAMESPACE="$ns"
export TOLLGATE_E2E_RELEASE="$release"
export TOLLGATE_E2E_UPSTREAM="http://httpbin.tollgate-e2e.svc.cluster.local"
$test_cmd
