"""Tollgate inputs: standalone-mode manifests, config-channel snapshots, and small HTTP clients
for the token endpoint and the admin port."""

from __future__ import annotations

import base64
import hashlib
import http.client
import json
import ssl
import time
import urllib.parse
import uuid
from pathlib import Path

from .procs import BenchError

NS = "bench"
# core::ids::TOLLGATE_NAMESPACE, so generated ids look like the ones standalone mode derives.
TOLLGATE_NAMESPACE = uuid.UUID(int=0x5C1F7B0E3A6D5E599C2B8D4A1F6E0B37)
TOKEN_PATH = "/auth/oauth2/token"


def object_id(kind: str, name: str) -> str:
    return str(uuid.uuid5(TOLLGATE_NAMESPACE, f"{kind}/{NS}/{name}"))


def b64_nopad(data: bytes) -> str:
    return base64.b64encode(data).decode().rstrip("=")


def sha256_verifier(credential_id: str, secret: str) -> str:
    """`$sha256$<salt>$<hash>` with hash = SHA-256(salt || secret), as core `secret` checks it."""
    salt = hashlib.sha256(b"bench-salt:" + credential_id.encode()).digest()[:16]
    return f"$sha256${b64_nopad(salt)}${b64_nopad(hashlib.sha256(salt + secret.encode()).digest())}"


# ---------------------------------------------------------------- standalone manifests


def _meta(name: str, labels: dict[str, str] | None = None) -> str:
    out = f"metadata:\n  name: {name}\n  namespace: {NS}\n"
    if labels:
        out += "  labels:\n" + "".join(f"    {k}: {v}\n" for k, v in labels.items())
    return out


def secret_doc(name: str, data: dict[str, str]) -> str:
    body = "".join(f"  {k}: {json.dumps(v)}\n" for k, v in data.items())
    return (
        "apiVersion: v1\nkind: Secret\n"
        + _meta(name, {"tollgate.dev/secret": "credential"})
        + "stringData:\n"
        + body
    )


def consumer_doc(name: str, custom_id: str | None = None) -> str:
    spec = f"  username: {name}\n" + (f"  customId: {custom_id}\n" if custom_id else "")
    return f"apiVersion: tollgate.dev/v1alpha1\nkind: Consumer\n{_meta(name)}spec:\n{spec}"


def credential_doc(name: str, consumer: str, client_id: str, secret_name: str, key: str, hashed: bool) -> str:
    return (
        f"apiVersion: tollgate.dev/v1alpha1\nkind: OAuth2Credential\n{_meta(name)}spec:\n"
        f"  consumerRef: {{name: {consumer}}}\n  name: {name}\n  clientId: {client_id}\n"
        f"  clientSecretRef: {{name: {secret_name}, key: {key}}}\n"
        f"  hashSecret: {'true' if hashed else 'false'}\n"
    )


def token_plugin_doc(name: str = "token") -> str:
    return (
        f"apiVersion: tollgate.dev/v1alpha1\nkind: AuthPlugin\n{_meta(name)}spec:\n  type: oauth2\n"
        "  oauth2:\n    enableClientCredentials: true\n    globalCredentials: true\n"
        "    acceptHttpIfAlreadyTerminated: true\n"
    )


def oidc_plugin_doc(name: str = "oidc") -> str:
    return (
        f"apiVersion: tollgate.dev/v1alpha1\nkind: AuthPlugin\n{_meta(name)}spec:\n  type: openid-connect\n"
        "  openidConnect:\n    authMethods: [kong_oauth2]\n    bearerTokenParamType: [header]\n"
    )


# The rate limit of the `/limited` route: configured in two windows and never reached in a run,
# so the row measures what counting costs, not refusals.
LIMIT_PER_SECOND = 1_000_000
LIMIT_PER_HOUR = 1_000_000_000


def rate_limit_plugin_doc(name: str = "limit") -> str:
    return (
        f"apiVersion: tollgate.dev/v1alpha1\nkind: AuthPlugin\n{_meta(name)}spec:\n  type: rate-limiting\n"
        f"  rateLimiting:\n    second: {LIMIT_PER_SECOND}\n    hour: {LIMIT_PER_HOUR}\n    limitBy: consumer\n"
    )


def route_doc(
    name: str,
    path: str,
    plugin: str | None,
    upstream_port: int | None,
    read_timeout_ms: int = 60000,
    hosts: list[str] | None = None,
) -> str:
    spec = f"  paths: [{path}]\n"
    if hosts:
        spec += f"  hosts: [{', '.join(hosts)}]\n"
    if plugin:
        spec += f"  plugins: [{plugin}]\n"
    if upstream_port is not None:
        spec += (
            f"  backend:\n    url: http://127.0.0.1:{upstream_port}\n"
            f"    connectTimeoutMs: 5000\n    readTimeoutMs: {read_timeout_ms}\n"
        )
    return f"apiVersion: tollgate.dev/v1alpha1\nkind: GatewayRoute\n{_meta(name)}spec:\n{spec}"


def docs(*items: str) -> str:
    return "---\n".join(items)


def write_atomic(path: Path, text: str) -> None:
    """Writes via a hidden temp file and a rename, so the manifest watcher never reads half a file."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    tmp.replace(path)


FLOOD_CLIENTS = 32


def flood_client_id(i: int) -> str:
    return f"flood-{i}"


def write_base_manifests(dir_: Path, upstream_port: int, secrets: dict[str, str]) -> None:
    """The benchmark's routes: `/open` (no auth), `/protected` (openid-connect/kong_oauth2),
    `/limited` (the same plus a rate limit never reached) and `/auth` (oauth2 token endpoint),
    with one argon2id-hashed and one plain credential, plus
    FLOOD_CLIENTS argon2id clients that the isolation flood rotates through (so a per-client
    brute-force throttle does not cap the flood)."""
    dir_.mkdir(parents=True, exist_ok=True)
    flood = [secret_doc("flood-secrets", {f"f{i}": f"{secrets['hashed']}-flood-{i}" for i in range(FLOOD_CLIENTS)})]
    for i in range(FLOOD_CLIENTS):
        flood.append(credential_doc(f"flood-{i}", "bench-user", flood_client_id(i), "flood-secrets", f"f{i}", True))
    write_atomic(dir_ / "flood.yaml", docs(*flood))
    write_atomic(
        dir_ / "base.yaml",
        docs(
            secret_doc("bench-secrets", secrets),
            consumer_doc("bench-user"),
            credential_doc("hashed", "bench-user", "bench-hashed", "bench-secrets", "hashed", True),
            credential_doc("plain", "bench-user", "bench-plain", "bench-secrets", "plain", False),
            token_plugin_doc(),
            oidc_plugin_doc(),
            route_doc("auth", "/auth", "token", None),
            route_doc("open", "/open", None, upstream_port),
            rate_limit_plugin_doc(),
            route_doc("limited", "/limited", "oidc, limit", upstream_port),
        ),
    )
    write_protected_route(dir_, upstream_port, 60000)


def write_protected_route(dir_: Path, upstream_port: int, read_timeout_ms: int) -> None:
    write_atomic(
        dir_ / "protected.yaml", route_doc("protected", "/protected", "oidc", upstream_port, read_timeout_ms)
    )


def scale_manifests(
    n_consumers: int,
    n_routes: int,
    upstream_port: int,
    secret: str,
    *,
    hash_secret: bool = False,
    own_secrets: bool = False,
) -> str:
    """100k-style manifests: consumers with one credential each and routes protected by the
    `oidc` plugin of base.yaml. Credentials have plain (salted SHA-256) secrets held in one Secret
    by default; `hash_secret` gives them `hashSecret: true` (argon2id, the OAuth2Credential
    default) and `own_secrets` one labelled Secret per credential (`ss<i>`, key `client_secret`),
    as users usually create them. Client `scale-client-<i>` has the secret `<secret>-<i>`."""
    parts = [] if own_secrets else [secret_doc("scale-secrets", {f"s{i}": f"{secret}-{i}" for i in range(n_consumers)})]
    for i in range(n_consumers):
        if own_secrets:
            parts.append(secret_doc(f"ss{i}", {"client_secret": f"{secret}-{i}"}))
        secret_name, key = (f"ss{i}", "client_secret") if own_secrets else ("scale-secrets", f"s{i}")
        parts.append(consumer_doc(f"sc{i}"))
        parts.append(credential_doc(f"sk{i}", f"sc{i}", scale_client_id(i), secret_name, key, hash_secret))
    for i in range(n_routes):
        hosts = [f"h{i}.scale.example"] if i % 10 == 0 else None
        parts.append(route_doc(f"sr{i}", f"/scale-{i}", "oidc", upstream_port, hosts=hosts))
    return docs(*parts)


def scale_client_id(i: int) -> str:
    return f"scale-client-{i}"


# ---------------------------------------------------------------- config-channel snapshots


def snapshot(
    n_consumers: int,
    n_routes: int,
    upstream_port: int,
    bench_secret: str,
    key_b64: str,
    read_timeout_ms: int = 60000,
) -> dict:
    """A snapshot for `POST /config`: the `/auth` token route, the `/bench` protected route and
    the unprotected `/open` route, with one plain-secret credential `bench-client`, plus `n_consumers` consumers+credentials (sha256
    verifiers, so generation is fast) and `n_routes` protected routes."""
    backend = {
        "scheme": "http",
        "path": "",
        "endpoints": [f"127.0.0.1:{upstream_port}"],
        "connectTimeoutMs": 5000,
        "readTimeoutMs": read_timeout_ms,
    }
    consumers, credentials = [], []

    def add(cname: str, kname: str, client_id: str, secret: str) -> None:
        cid, kid = object_id("Consumer", cname), object_id("OAuth2Credential", kname)
        consumers.append({"id": cid, "object": f"{NS}/{cname}", "username": cname})
        credentials.append(
            {
                "id": kid,
                "object": f"{NS}/{kname}",
                "consumerId": cid,
                "name": kname,
                "clientId": client_id,
                "clientType": "confidential",
                "secretVerifier": sha256_verifier(kid, secret),
            }
        )

    add("bench-user", "bench-client", "bench-client", bench_secret)
    for i in range(n_consumers):
        add(f"c{i}", f"k{i}", f"client-{i}", f"{bench_secret}-{i}")
    plugins = [
        {
            "id": f"{NS}/token",
            "config": {
                "type": "oauth2",
                "enableClientCredentials": True,
                "globalCredentials": True,
                "tokenExpiration": 7200,
                "scopes": [],
                "mandatoryScope": False,
                "hideCredentials": False,
                "acceptHttpIfAlreadyTerminated": True,
                "authHeaderName": "authorization",
            },
        },
        {
            "id": f"{NS}/oidc",
            "config": {"type": "openid-connect", "bearerTokenParamType": ["header"], "hideCredentials": False},
        },
    ]
    routes = [
        {"id": f"{NS}/auth", "paths": ["/auth"], "stripPath": True, "plugins": [f"{NS}/token"]},
        {"id": f"{NS}/bench", "paths": ["/bench"], "stripPath": True, "plugins": [f"{NS}/oidc"], "backend": backend},
        {"id": f"{NS}/open", "paths": ["/open"], "stripPath": True, "backend": backend},
    ]
    for i in range(n_routes):
        route = {"id": f"{NS}/r{i:05d}", "paths": [f"/svc-{i}"], "stripPath": True, "plugins": [f"{NS}/oidc"]}
        if i % 10 == 0:
            route["hosts"] = [f"h{i}.scale.example"]
        route["backend"] = backend
        routes.append(route)
    by_id = lambda item: item["id"]  # noqa: E731
    return {
        "format": 1,
        "signingKeys": [{"id": "k-bench", "secretB64": key_b64}],
        "activeKey": "k-bench",
        "consumers": sorted(consumers, key=by_id),
        "credentials": sorted(credentials, key=by_id),
        "plugins": sorted(plugins, key=by_id),
        "routes": sorted(routes, key=by_id),
    }


# ---------------------------------------------------------------- HTTP clients


def token_form(client_id: str, secret: str) -> str:
    return urllib.parse.urlencode(
        {"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret}
    )


def _request(conn: http.client.HTTPConnection, method: str, path: str, body: bytes | None, headers: dict) -> tuple[int, bytes]:
    try:
        conn.request(method, path, body=body, headers=headers)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def fetch_token(http_port: int, https_port: int, client_id: str, secret: str, timeout: float = 30) -> tuple[str, str]:
    """A client-credentials token. Tries plain HTTP marked `X-Forwarded-Proto: https` from a
    trusted peer first (what the wrk token rows use), then HTTPS. Returns (token, scheme)."""
    form = token_form(client_id, secret).encode()
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    attempts = [
        ("http", http.client.HTTPConnection("127.0.0.1", http_port, timeout=timeout), {"X-Forwarded-Proto": "https"}),
        (
            "https",
            http.client.HTTPSConnection(
                "127.0.0.1", https_port, timeout=timeout, context=ssl._create_unverified_context()  # noqa: S323
            ),
            {},
        ),
    ]
    problems = []
    for scheme, conn, extra in attempts:
        try:
            status, body = _request(conn, "POST", TOKEN_PATH, form, {**headers, **extra})
        except OSError as err:
            problems.append(f"{scheme}: {err}")
            continue
        if status == 200:
            return json.loads(body)["access_token"], scheme
        problems.append(f"{scheme}: {status} {body[:200]!r}")
    raise BenchError("token request failed: " + "; ".join(problems))


def get_json(port: int, path: str, timeout: float = 5) -> tuple[int, dict | None]:
    try:
        status, body = _request(http.client.HTTPConnection("127.0.0.1", port, timeout=timeout), "GET", path, None, {})
    except OSError:
        return 0, None
    try:
        return status, json.loads(body)
    except ValueError:
        return status, None


def config_hash(admin_port: int) -> str | None:
    status, body = get_json(admin_port, "/config")
    return body.get("hash") if status == 200 and body else None


def post_config(admin_port: int, token: str, body: bytes, timeout: float = 120) -> tuple[int, bytes, float]:
    """POST /config; returns (status, body, seconds until the response arrived)."""
    conn = http.client.HTTPConnection("127.0.0.1", admin_port, timeout=timeout)
    start = time.monotonic()
    status, resp = _request(
        conn, "POST", "/config", body, {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    )
    return status, resp, time.monotonic() - start
