#!/usr/bin/env bash
# Tests the Helm chart without a cluster:
#   - the Dockerfile linted with hadolint (it cannot be built without Docker);
#   - `helm lint --strict` and `helm template` with the default values and every variant in
#     charts/tollgate/ci/ (namespaced, bring-your-own secrets, TLS, ServiceMonitor, Grafana
#     dashboard);
#   - every rendered manifest (CRDs included) validated offline against the Kubernetes 1.33 schemas
#     with kubernetes-validate --strict, and a broken manifest shown to fail that validation;
#   - the render tests in e2e/chart (RBAC rule set, security contexts, wiring between objects,
#     values that break values.schema.json rejected) and the tests of scripts/rbac_check.py;
#   - the controller's RBAC rules written to target/chart-test/rbac-rules{,-namespaced}.json for
#     scripts/rbac_check.py;
#   - on the API emulator (e2e/emulator/, started on a free loopback port and stopped at the end):
#     `kubectl apply` of every rendered variant with every object read back, the `lookup` that keeps
#     generated Secrets across upgrades (server-side render), and rbac_check on its audit log.
# Prints one line per check and a closing "N passed, N failed" line; exits non-zero on any failure.
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root" || exit 1
out="${TOLLGATE_CHART_TEST_OUT:-$root/target/chart-test}"
k8s_version="${TOLLGATE_K8S_SCHEMA_VERSION:-1.33.0}"
chart=charts/tollgate
ns=tollgate-system

passed=0
failed=0
log="$out/last-step.log"
mkdir -p "$out"

# check NAME CMD...: runs CMD, records a pass or a failure (showing CMD's output on failure).
check() {
    local name="$1"
    shift
    if "$@" >"$log" 2>&1; then
        passed=$((passed + 1))
        echo "ok    $name"
    else
        failed=$((failed + 1))
        echo "FAIL  $name"
        sed 's/^/      /' "$log" | tail -n 40
    fi
}

# render OUT [HELM ARGS...]: the chart, CRDs included, into OUT
render() {
    local dest="$1"
    shift
    helm template tollgate "$chart" --namespace "$ns" --include-crds "$@" >"$dest"
}

# fails CMD...: succeeds when CMD fails
fails() {
    ! "$@"
}

# schema_rejects VALUES: helm refuses to render with VALUES, and says it is the schema
schema_rejects() {
    local err
    if err="$(helm template tollgate "$chart" -f "$1" 2>&1 >/dev/null)"; then
        echo "rendered without error"
        return 1
    fi
    echo "$err"
    grep -q "schema" <<<"$err"
}

# --- tools ----------------------------------------------------------------------------------
# shellcheck source=scripts/tools.sh
source "$root/scripts/tools.sh" || { echo "chart-test: cannot install helm/kubectl" >&2; exit 1; }
py="$root/.venv/bin/python"
if [ ! -x "$py" ]; then
    python3 -m venv "$root/.venv" || { echo "chart-test: cannot create .venv" >&2; exit 1; }
fi
# Python deps: ours, and the API emulator's when it has a requirements file. Reinstalled only when a
# requirements file changed since the last install (or the imports fail).
reqs=(e2e/chart/requirements.txt)
[ -f e2e/emulator/requirements.txt ] && reqs+=(e2e/emulator/requirements.txt)
pip_args=()
for r in "${reqs[@]}"; do pip_args+=(-r "$r"); done
stamp="$root/.venv/.tollgate-chart-requirements"
want="$(cat "${reqs[@]}" | sha256sum | cut -d' ' -f1)"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ] \
    || ! "$py" -c 'import kubernetes_validate, yaml' 2>/dev/null \
    || [ ! -x "$root/.venv/bin/hadolint" ]; then
    "$py" -m pip install --disable-pip-version-check -q "${pip_args[@]}" \
        || { echo "chart-test: pip install ${pip_args[*]} failed" >&2; exit 1; }
    echo "$want" >"$stamp"
fi
validate=("$root/.venv/bin/kubernetes-validate" --strict --quiet -k "$k8s_version")

# --- image ----------------------------------------------------------------------------------
check "Dockerfile passes hadolint" "$root/.venv/bin/hadolint" Dockerfile

# --- lint, render, validate each variant -------------------------------------------------------
variants=(default)
for f in "$chart"/ci/*-values.yaml; do
    v="$(basename "$f" -values.yaml)"
    variants+=("$v")
done
for v in "${variants[@]}"; do
    values=()
    [ "$v" = default ] || values=(-f "$chart/ci/$v-values.yaml")
    check "helm lint --strict ($v)" helm lint --strict "$chart" --namespace "$ns" "${values[@]}"
    check "helm template ($v)" render "$out/rendered-$v.yaml" "${values[@]}"
    check "rendered manifests valid against Kubernetes $k8s_version schemas ($v)" \
        "${validate[@]}" "$out/rendered-$v.yaml"
done

# The validator must be able to fail: an unknown field and a wrong type in a Deployment.
cat >"$out/broken-deployment.yaml" <<'YAML'
apiVersion: apps/v1
kind: Deployment
metadata: {name: broken}
spec:
  replicas: "two"
  selector: {matchLabels: {app: x}}
  template:
    metadata: {labels: {app: x}}
    spec:
      containers: [{name: x, image: x, imagePullPolicy: Sometimes, readOnlyRootFS: true}]
YAML
check "kubernetes-validate rejects a broken manifest (negative control)" \
    fails "${validate[@]}" "$out/broken-deployment.yaml"

# --- values schema ----------------------------------------------------------------------------
for f in e2e/chart/invalid-values/*.yaml; do
    check "values.schema.json rejects $(basename "$f" .yaml)" \
        schema_rejects "$f"
done

# --- render tests and rbac_check tests --------------------------------------------------------
check "e2e/chart (render assertions, RBAC rule set, schema cases, rbac_check)" \
    "$py" -m unittest discover -s e2e/chart -t e2e/chart

# --- RBAC rules for the operator's audit-log check --------------------------------------------
check "RBAC rules written to $out/rbac-rules.json" \
    "$py" scripts/rbac_check.py --extract "$out/rendered-default.yaml" -o "$out/rbac-rules.json"
check "RBAC rules written to $out/rbac-rules-namespaced.json" \
    "$py" scripts/rbac_check.py --extract "$out/rendered-namespaced.yaml" \
    -o "$out/rbac-rules-namespaced.json"

# --- the rendered chart applied to the API emulator (the cluster-less suite's API server) -------
emu_pid=""
stop_emulator() {
    if [ -n "$emu_pid" ]; then
        kill "$emu_pid" 2>/dev/null || true
        wait "$emu_pid" 2>/dev/null || true
        emu_pid=""
    fi
}
trap stop_emulator EXIT

start_emulator() {
    local dir="$out/emulator"
    rm -rf "$dir"
    mkdir -p "$dir"
    # `python -m emulator`: the package lives in e2e/
    PYTHONPATH="$root/e2e${PYTHONPATH:+:$PYTHONPATH}" "$py" -m emulator --port 0 \
        --kubeconfig "$dir/kubeconfig" --audit-log "$dir/audit.jsonl" >"$dir/emulator.log" 2>&1 &
    emu_pid=$!
    export KUBECONFIG="$dir/kubeconfig"
    # wait (bounded) until it answers /version
    local deadline=$((SECONDS + 30))
    until [ -s "$dir/kubeconfig" ] && kubectl version >/dev/null 2>&1; do
        if ! kill -0 "$emu_pid" 2>/dev/null || [ "$SECONDS" -ge "$deadline" ]; then
            cat "$dir/emulator.log"
            return 1
        fi
        sleep 0.1
    done
}

namespaces() {
    local n
    for n in "$@"; do
        printf 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: %s\n---\n' "$n"
    done | kubectl apply -f -
}

# apply_variant VARIANT: kubectl apply of the rendered chart (CRDs included), then every object
# is read back from the server.
apply_variant() {
    local file="$out/rendered-$1.yaml"
    kubectl apply -f "$file" || return 1
    "$py" - "$file" <<'PY'
import subprocess, sys, yaml
missing = []
for d in yaml.safe_load_all(open(sys.argv[1])):
    if not d:
        continue
    meta = d["metadata"]
    cmd = ["kubectl", "get", f'{d["kind"]}.{d["apiVersion"].split("/")[0] if "/" in d["apiVersion"] else ""}'.rstrip("."), meta["name"], "-o", "name"]
    if meta.get("namespace"):
        cmd += ["-n", meta["namespace"]]
    if subprocess.run(cmd, capture_output=True).returncode != 0:
        missing.append(f'{d["kind"]} {meta.get("namespace", "")}/{meta["name"]}')
print("\n".join(missing) or "every applied object is served back")
sys.exit(1 if missing else 0)
PY
}

# With `generatedSecrets: chart`, the chart's `lookup` keeps generated Secrets across upgrades:
# with the Secrets of an earlier install on the server, a server-side render reuses their data
# instead of generating new values. (By default the controller creates them and the chart
# renders none.)
lookup_keeps_secrets() {
    local rel=keep relns=lookup-test first="$out/emulator/keep-first.yaml"
    local second="$out/emulator/keep-second.yaml"
    namespaces "$relns" >/dev/null || return 1
    # The IngressClass is cluster-scoped and the variants above already made one of that name
    # (not owned by this release): this check is about Secrets, so the release makes none.
    helm template "$rel" "$chart" --namespace "$relns" --set generatedSecrets=chart \
        --set ingressClass.create=false >"$first" || return 1
    "$py" - "$first" "$rel" "$relns" <<'PY' | kubectl apply -f - || return 1
import sys, yaml
path, rel, ns = sys.argv[1:]
for d in yaml.safe_load_all(open(path)):
    if d and d["kind"] == "Secret":
        # what `helm install` would have stamped on them
        d["metadata"].setdefault("annotations", {}).update(
            {"meta.helm.sh/release-name": rel, "meta.helm.sh/release-namespace": ns})
        print("---\n" + yaml.safe_dump(d))
PY
    helm template "$rel" "$chart" --namespace "$relns" --set generatedSecrets=chart \
        --set ingressClass.create=false --dry-run=server >"$second" || return 1
    "$py" - "$first" "$second" <<'PY'
import sys, yaml
def secrets(path):
    return {d["metadata"]["name"]: d["data"] for d in yaml.safe_load_all(open(path))
            if d and d["kind"] == "Secret"}
a, b = secrets(sys.argv[1]), secrets(sys.argv[2])
print(f"first render: {sorted(a)}; server-side render: {sorted(b)}")
sys.exit(0 if a and a == b else 1)
PY
}

# Negative control on a real audit log: kubectl created CRDs and namespaces on the emulator, which
# the controller's rules must not allow.
rbac_denies_kubectl() {
    local report code=0
    report="$("$py" scripts/rbac_check.py "$out/rbac-rules.json" "$out/emulator/audit.jsonl" \
        --user-agent kubectl)" || code=$?
    echo "$report"
    [ "$code" -eq 1 ] && grep -q "DENIED create apiextensions.k8s.io customresourcedefinitions" <<<"$report"
}

if [ -f e2e/emulator/__main__.py ]; then
    if check "API emulator starts" start_emulator; then
        check "namespaces for the variants created on the emulator" \
            namespaces "$ns" team-a team-b
        check "ServiceMonitor stand-in CRD applied to the emulator" \
            kubectl apply -f e2e/chart/fixtures/servicemonitor-crd.yaml
        for v in "${variants[@]}"; do
            check "helm template | kubectl apply to the API emulator ($v)" apply_variant "$v"
        done
        check "lookup keeps the generated Secrets on upgrade (server-side render on the emulator)" \
            lookup_keeps_secrets
        check "rbac_check reads the emulator's audit log and denies kubectl's CRD writes" \
            rbac_denies_kubectl
    fi
    stop_emulator
else
    echo "skip  API emulator steps: e2e/emulator/ not present"
fi

rm -f "$log"
echo "chart-test: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
