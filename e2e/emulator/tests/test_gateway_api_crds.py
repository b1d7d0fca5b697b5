"""The Gateway API's standard-channel CRDs (v1.5.1, from its Go module through
scripts/gateway-api-crds.sh) load, and their schemas and CEL rules judge Gateway API objects as a
cluster with them installed does."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from .conftest import REAL, REPO

KINDS = ("gatewayclasses", "gateways", "httproutes", "referencegrants", "grpcroutes")


def crd_dir():
    if shutil.which("go") is None:
        pytest.skip("needs Go: the Gateway API CRDs come from its Go module")
    out = subprocess.run(
        ["bash", str(REPO / "scripts" / "gateway-api-crds.sh")],
        capture_output=True, text=True, timeout=600, check=False,
    )
    if out.returncode != 0:
        pytest.fail(f"scripts/gateway-api-crds.sh failed: {out.stderr}")
    from pathlib import Path

    return Path(out.stdout.strip())


@pytest.fixture(scope="module")
def gateway_api(emulator):
    directory = crd_dir()
    for kind in KINDS:
        # Server-side: the HTTPRoute CRD is larger than the client-side annotation allows.
        emulator.kubectl("apply", "--server-side", "-f", str(directory / f"gateway.networking.k8s.io_{kind}.yaml"))
    if REAL:
        emulator.kubectl("wait", "--for=condition=Established", "crd", "--all", "--timeout=60s")
    return emulator


def apply(emulator, manifest: str, check: bool = True):
    return emulator.kubectl("apply", "-f", "-", stdin=manifest, check=check)


def test_the_crds_are_served_in_v1(gateway_api):
    for kind in KINDS:
        crd = gateway_api.kubectl_json("get", "crd", f"{kind}.gateway.networking.k8s.io")
        served = [v["name"] for v in crd["spec"]["versions"] if v["served"]]
        assert "v1" in served, (kind, served)
        assert crd["metadata"]["annotations"]["gateway.networking.k8s.io/bundle-version"] == "v1.5.1"


def test_a_gateway_and_an_http_route_of_the_seed_flow_apply(gateway_api, ns):
    apply(gateway_api, f"""apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: {{name: tollgate-{ns}}}
spec: {{controllerName: tollgate.dev/gateway-controller}}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {{name: gw, namespace: {ns}}}
spec:
  gatewayClassName: tollgate-{ns}
  listeners:
  - {{name: http, protocol: HTTP, port: 80, hostname: "*.example.com", allowedRoutes: {{namespaces: {{from: All}}}}}}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {{name: api, namespace: {ns}}}
spec:
  parentRefs: [{{name: gw, sectionName: http}}]
  hostnames: [api.example.com]
  rules:
  - matches: [{{path: {{type: PathPrefix, value: /auth}}}}]
    filters: [{{type: ExtensionRef, extensionRef: {{group: tollgate.dev, kind: AuthPlugin, name: oauth2}}}}]
  - matches: [{{path: {{type: Exact, value: /get}}, headers: [{{name: x-v, value: "1"}}], method: GET}}]
    filters:
    - {{type: ExtensionRef, extensionRef: {{group: tollgate.dev, kind: AuthPlugin, name: oidc}}}}
    - type: RequestHeaderModifier
      requestHeaderModifier: {{add: [{{name: x-added, value: "yes"}}]}}
    backendRefs: [{{name: httpbin, port: 80, weight: 3}}]
    timeouts: {{request: 10s}}
---
apiVersion: gateway.networking.k8s.io/v1
kind: ReferenceGrant
metadata: {{name: allow, namespace: {ns}}}
spec:
  from: [{{group: gateway.networking.k8s.io, kind: HTTPRoute, namespace: other}}]
  to: [{{group: "", kind: Service}}]
""")
    route = gateway_api.kubectl_json("get", "httproutes.gateway.networking.k8s.io", "api", "-n", ns)
    # Schema defaults apply (a parentRef's group and kind, a backendRef's group and kind).
    assert route["spec"]["parentRefs"][0]["kind"] == "Gateway"
    assert route["spec"]["rules"][1]["backendRefs"][0]["kind"] == "Service"


def test_a_cel_rule_of_the_http_route_crd_refuses_a_bad_route(gateway_api, ns):
    # "ReplacePrefixMatch needs a PathPrefix match" (an x-kubernetes-validations rule of the
    # HTTPRoute CRD) — evaluated by the emulator's CEL as by the real server.
    res = apply(gateway_api, f"""apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {{name: bad, namespace: {ns}}}
spec:
  parentRefs: [{{name: gw}}]
  rules:
  - matches: [{{path: {{type: Exact, value: /a}}}}]
    filters:
    - type: URLRewrite
      urlRewrite: {{path: {{type: ReplacePrefixMatch, replacePrefixMatch: /b}}}}
""", check=False)
    assert res.returncode != 0
    assert 'The HTTPRoute "bad" is invalid' in res.stderr


def test_a_cel_rule_of_the_gateway_crd_refuses_tls_on_an_http_listener(gateway_api, ns):
    res = apply(gateway_api, f"""apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {{name: bad, namespace: {ns}}}
spec:
  gatewayClassName: x
  listeners:
  - {{name: http, protocol: HTTP, port: 80, tls: {{certificateRefs: [{{name: cert}}]}}}}
""", check=False)
    assert res.returncode != 0
    assert "tls must not be specified for protocols" in res.stderr


def test_listener_names_must_be_unique(gateway_api, ns):
    res = apply(gateway_api, f"""apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {{name: twice, namespace: {ns}}}
spec:
  gatewayClassName: x
  listeners:
  - {{name: a, protocol: HTTP, port: 80}}
  - {{name: a, protocol: HTTP, port: 81}}
""", check=False)
    assert res.returncode != 0


def test_a_header_filter_naming_one_header_twice_is_refused(gateway_api, ns):
    # A rule with a list-map key and a CEL rule on the same object.
    res = apply(gateway_api, f"""apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {{name: twice, namespace: {ns}}}
spec:
  parentRefs: [{{name: gw}}]
  rules:
  - filters:
    - type: RequestHeaderModifier
      requestHeaderModifier: {{set: [{{name: x-a, value: "1"}}, {{name: x-a, value: "2"}}]}}
""", check=False)
    assert res.returncode != 0


def test_a_backend_request_timeout_longer_than_the_request_timeout_is_refused(gateway_api, ns):
    # The HTTPRoute CRD compares durations with CEL's duration().
    res = apply(gateway_api, f"""apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {{name: slow, namespace: {ns}}}
spec:
  parentRefs: [{{name: gw}}]
  rules:
  - timeouts: {{request: 1s, backendRequest: 2s}}
""", check=False)
    assert res.returncode != 0
    assert "backendRequest timeout cannot be longer than request timeout" in res.stderr
    apply(gateway_api, f"""apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {{name: fine, namespace: {ns}}}
spec:
  parentRefs: [{{name: gw}}]
  rules:
  - timeouts: {{request: 2s, backendRequest: 1500ms}}
""")


def test_an_invalid_hostname_is_refused_by_a_raw_string_pattern(gateway_api, ns):
    res = apply(gateway_api, f"""apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {{name: addr, namespace: {ns}}}
spec:
  gatewayClassName: x
  listeners: [{{name: http, protocol: HTTP, port: 80}}]
  addresses: [{{type: Hostname, value: "Not_A_Host"}}]
""", check=False)
    assert res.returncode != 0
