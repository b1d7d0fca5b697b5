#!/usr/bin/env bash
# Smoke test of the control-plane tier: the real kube-apiserver (scripts/apiserver.sh, built once
# and cached) started into a temporary directory, then, with kubectl:
#   - crds/ applied server-side with strict field validation, every CRD Established;
#   - examples/quickstart/*.yaml applied the same way, read back, with the CRD's defaults filled
#     in by the server;
#   - bad OAuth2Credentials rejected by the server, each error naming the field (unknown field,
#     enum, pattern, CEL rule) and nothing stored;
#   - a ServiceAccount, a token for it from the TokenRequest API (`kubectl create token`) that the
#     server then authenticates, RBAC denying that account Secrets and allowing what a Role grants;
#   - the chart: `helm install`, `helm upgrade` with changed values (replicas, class, namespaced
#     RBAC) reflected in the live objects and permissions, `helm uninstall` keeping the CRDs;
#     then, with the Gateway API CRDs installed, `helm install` adding the GatewayClass `tollgate`;
# and the server stopped (SIGTERM) at the end. Prints one line per check and a closing
# "N passed, N failed" line; exits non-zero on any failure (the data directory is then kept).
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root" || exit 1

passed=0
failed=0
work="$(mktemp -d "${TMPDIR:-/tmp}/tollgate-apiserver.XXXXXX")" || exit 1
dir="$work/server"
log="$work/last-check.log"

# check NAME CMD...: runs CMD, records a pass or a failure (showing CMD's output on failure;
# with SHOW=1, its first line on success too).
check() {
    local name="$1"
    shift
    if "$@" >"$log" 2>&1; then
        passed=$((passed + 1))
        echo "ok    $name"
        [ "${SHOW:-0}" = 1 ] && head -n 1 "$log" | cut -c1-200 | sed 's/^/      /'
    else
        failed=$((failed + 1))
        echo "FAIL  $name"
        sed 's/^/      /' "$log" | tail -n 40
    fi
}

# rejects FILE PATTERN...: the server refuses FILE (server-side apply, strict field validation),
# and its error matches every PATTERN. With REJECT_VERB=create, `kubectl create` instead.
rejects() {
    local file="$1" err p
    shift
    local how=(apply --server-side)
    [ "${REJECT_VERB:-apply}" = create ] && how=(create)
    if err="$(k "${how[@]}" --validate=strict -f "$file" 2>&1)"; then
        echo "applied without error: $err"
        return 1
    fi
    # first the part of the error that the first PATTERN matches (what SHOW=1 prints), then all
    grep -oE -- ".{0,40}$1.{0,60}" <<<"$err" | head -n 1
    echo "$err"
    for p in "$@"; do
        grep -qE -- "$p" <<<"$err" || {
            echo "(error does not match: $p)"
            return 1
        }
    done
}

# --- tools and server ----------------------------------------------------------------------------
# shellcheck source=scripts/tools.sh
source "$root/scripts/tools.sh" || { echo "apiserver-test: cannot install kubectl" >&2; exit 1; }
# shellcheck source=scripts/apiserver.sh
source "$root/scripts/apiserver.sh"

finish() {
    apiserver_stop "$dir" || true
    if [ "$failed" -eq 0 ]; then
        rm -rf "$work"
    else
        echo "apiserver-test: kept $work (server log: $dir/apiserver.log)"
    fi
}
trap finish EXIT

start=$SECONDS
ready="$(apiserver_start "$dir")" || {
    echo "FAIL  kube-apiserver starts"
    echo "0 passed, 1 failed"
    failed=1
    exit 1
}
kubeconfig="$(sed -n 's/.*kubeconfig=\([^ ]*\).*/\1/p' <<<"$ready")"
echo "      $ready (script: $((SECONDS - start))s incl. any build)"
k() { kubectl --kubeconfig "$kubeconfig" "$@"; }

check "kube-apiserver starts and is ready ($(k version -o json 2>/dev/null |
    sed -n '/serverVersion/,/}/s/.*"gitVersion": "\([^"]*\)".*/\1/p'))" \
    k get --raw /readyz

# --- CRDs --------------------------------------------------------------------------------------
check "crds/ applied server-side (--validate=strict)" \
    k apply --server-side --validate=strict -f crds/
check "every CRD Established" \
    k wait --for=condition=Established --timeout=60s -f crds/

# --- quickstart ----------------------------------------------------------------------------------
check "examples/quickstart applied server-side (--validate=strict)" \
    k apply --server-side --validate=strict -f examples/quickstart/
check "quickstart objects read back" \
    k get consumer/jane oauth2credential/demo authplugin/oauth2 authplugin/oidc \
    gatewayroute/auth gatewayroute/httpbin secret/demo-client-secret
defaulted() {
    local got
    got="$(k get oauth2credential demo -o jsonpath='{.spec.clientType}')"
    echo "spec.clientType=$got"
    [ "$got" = confidential ]
}
check "the server filled in the CRD default (spec.clientType=confidential)" defaulted

# --- rejections by the server's validation ---------------------------------------------------
bad() { # bad NAME: an OAuth2Credential manifest in $work, its spec from stdin
    {
        printf 'apiVersion: tollgate.dev/v1alpha1\nkind: OAuth2Credential\nmetadata:\n  name: %s\nspec:\n' "$1"
        sed 's/^/  /'
    } >"$work/$1.yaml"
    echo "$work/$1.yaml"
}
f="$(bad bad-unknown <<'YAML'
consumerRef: {name: jane}
name: bad
clientId: bad-client
clientSecret: plain-text-secret
clientSecretRef: {name: demo-client-secret}
YAML
)"
# The two paths report an unknown field differently: server-side apply when it builds the typed
# patch, create through the strict decoder.
SHOW=1 check "rejected: unknown field spec.clientSecret (server-side apply)" \
    rejects "$f" '\.spec\.clientSecret: field not declared in schema'
rejects_on_create() { REJECT_VERB=create rejects "$@"; }
SHOW=1 check "rejected: unknown field spec.clientSecret (create, strict field validation)" \
    rejects_on_create "$f" 'strict decoding error: unknown field "spec\.clientSecret"'
f="$(bad bad-enum <<'YAML'
consumerRef: {name: jane}
name: bad
clientId: bad-client
clientType: secretive
clientSecretRef: {name: demo-client-secret}
YAML
)"
SHOW=1 check "rejected: spec.clientType not in its enum" \
    rejects "$f" 'spec\.clientType: Unsupported value: "secretive"'
f="$(bad bad-pattern <<'YAML'
consumerRef: {name: jane}
name: bad
clientId: "has spaces"
clientSecretRef: {name: demo-client-secret}
YAML
)"
SHOW=1 check "rejected: spec.clientId against its pattern" \
    rejects "$f" 'spec\.clientId: Invalid value: "has spaces"'
f="$(bad bad-cel <<'YAML'
consumerRef: {name: jane}
name: bad
clientId: bad-client
clientType: public
clientSecretRef: {name: demo-client-secret}
YAML
)"
SHOW=1 check "rejected: CEL rule (a public client has no secret)" \
    rejects "$f" 'spec: Invalid value: .*a public client has no secret'
none_stored() {
    local names
    names="$(k get oauth2credentials -o name)"
    echo "$names"
    [ "$names" = "oauth2credential.tollgate.dev/demo" ]
}
check "no rejected object was stored" none_stored

# --- service account, TokenRequest, RBAC ---------------------------------------------------------
check "ServiceAccount sa created" k create serviceaccount sa
token=""
issue_token() {
    token="$(k create token sa --duration=10m)" || return 1
    [ "$(tr -cd . <<<"$token")" = ".." ] || { echo "not a JWT: $token"; return 1; }
}
check "kubectl create token sa (TokenRequest API)" issue_token
whoami() {
    local server who
    server="$(k config view --minify -o jsonpath='{.clusters[0].cluster.server}')"
    # only the token and the CA: no client certificate
    who="$(kubectl --kubeconfig /dev/null --server "$server" --token "$token" \
        --certificate-authority "$dir/pki/ca.crt" auth whoami -o jsonpath='{.status.userInfo.username}')" || return 1
    echo "username=$who"
    [ "$who" = system:serviceaccount:default:sa ]
}
SHOW=1 check "the server authenticates the token as system:serviceaccount:default:sa" whoami
can_i() { # can_i WANT VERB RESOURCE
    local got
    got="$(k auth can-i "$2" "$3" --as=system:serviceaccount:default:sa 2>&1)"
    echo "can-i $2 $3: $got"
    [ "$got" = "$1" ]
}
check "RBAC: sa may not list secrets" can_i no list secrets
check "Role and RoleBinding granting sa list consumers" \
    eval 'k create role consumer-reader --verb=get,list --resource=consumers.tollgate.dev &&
        k create rolebinding sa-consumer-reader --role=consumer-reader --serviceaccount=default:sa'
check "RBAC: sa may list consumers once bound" can_i yes list consumers.tollgate.dev
check "RBAC: still no secrets for sa" can_i no list secrets

# --- the chart: helm install, upgrade, uninstall -----------------------------------------------
# No --wait: nothing runs pods here. What is checked is what the API server holds.
h() { helm --kubeconfig "$kubeconfig" "$@"; }
helm_install() {
    h install rel charts/tollgate --namespace chart-test --create-namespace \
        --set proxy.replicas=3 || return 1
    [ "$(k -n chart-test get deployment rel-tollgate-proxy -o jsonpath='{.spec.replicas}')" = 3 ]
}
check "helm install (the chart's CRDs already present, kept as they are)" helm_install
controller_args() {
    k -n chart-test get deployment rel-tollgate-controller \
        -o jsonpath='{.spec.template.spec.containers[0].args}'
}
helm_upgrade() {
    h upgrade rel charts/tollgate --namespace chart-test --reuse-values \
        --set proxy.replicas=1 --set controller.class=team-b --set watchNamespaces='{chart-test}' ||
        return 1
    [ "$(k -n chart-test get deployment rel-tollgate-proxy -o jsonpath='{.spec.replicas}')" = 1 ] ||
        return 1
    controller_args | grep -q -- '--class=team-b' || return 1
    controller_args | grep -q -- '--namespaces=chart-test' || return 1
    # namespaced RBAC now: the ClusterRoleBinding is gone, a RoleBinding grants the rules
    ! k get clusterrolebinding rel-tollgate-controller 2>/dev/null || return 1
    k -n chart-test get rolebinding rel-tollgate-controller >/dev/null || return 1
    [ "$(h status rel --namespace chart-test -o json | sed -n 's/.*"version":\([0-9]*\).*/\1/p' |
        head -n 1)" = 2 ]
}
check "helm upgrade (changed values, same release: live objects and RBAC follow)" helm_upgrade
sa_can() { # sa_can WANT VERB RESOURCE [NAMESPACE]
    local got
    got="$(k auth can-i "$2" "$3" --as system:serviceaccount:chart-test:rel-tollgate-controller \
        -n "${4:-chart-test}" 2>/dev/null)"
    echo "can-i $2 $3 in ${4:-chart-test}: $got"
    [ "$got" = "$1" ]
}
check "the upgraded controller may list consumers in its namespace" \
    sa_can yes list consumers.tollgate.dev
check "...and not in another one" sa_can no list consumers.tollgate.dev default
helm_uninstall() {
    h uninstall rel --namespace chart-test || return 1
    ! k -n chart-test get deployment rel-tollgate-controller 2>/dev/null || return 1
    ! k -n chart-test get serviceaccount rel-tollgate-controller 2>/dev/null || return 1
    k get crd oauth2credentials.tollgate.dev >/dev/null   # Helm never deletes crds/
}
check "helm uninstall (release objects gone, CRDs kept)" helm_uninstall
helm_install_gateway_class() {
    # Without the Gateway API CRDs the first install skipped the GatewayClass; with them (from the
    # Go module, as scripts/gateway-api-crds.sh fetches them) the chart renders it, because helm
    # asks this server which APIs it serves (.Capabilities.APIVersions).
    ! k get gatewayclass 2>/dev/null || return 1
    local crds kind
    crds="$(bash scripts/gateway-api-crds.sh)" || return 1
    for kind in gatewayclasses gateways httproutes referencegrants; do
        k apply --server-side -f "$crds/gateway.networking.k8s.io_$kind.yaml" || return 1
    done
    k wait --for=condition=Established crd --all --timeout=60s || return 1
    h install rel charts/tollgate --namespace chart-test --create-namespace || return 1
    [ "$(k get gatewayclass tollgate -o jsonpath='{.spec.controllerName}')" = \
        tollgate.dev/gateway-controller ] || return 1
    sa_can yes list httproutes.gateway.networking.k8s.io || return 1
    sa_can yes list gatewayclasses.gateway.networking.k8s.io default || return 1
    h uninstall rel --namespace chart-test || return 1
    ! k get gatewayclass tollgate 2>/dev/null
}
check "helm install with the Gateway API CRDs installs the GatewayClass tollgate" \
    helm_install_gateway_class

# --- stop ------------------------------------------------------------------------------------------
stop_clean() {
    local pid
    pid="$(cat "$dir/apiserver.pid")"
    apiserver_stop "$dir" || return 1
    ! kill -0 "$pid" 2>/dev/null || return 1
    grep -E 'kube-apiserver stopped|etcd stopped' "$dir/apiserver.log"
    grep -q 'etcd stopped' "$dir/apiserver.log"
}
check "SIGTERM stops kube-apiserver and etcd cleanly" stop_clean

echo "apiserver: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
