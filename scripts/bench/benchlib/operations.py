"""What features cost on the hot path, each against its absence in the same run: the access log
(on vs off, authenticated route), the HTTPS certificate choice by SNI (new TLS connection per
request, several certificates vs one), external JWTs (ES256, cached) vs the gateway's own
`kong_oauth2` tokens, and 5,000 HTTPRoutes (20,000 rules) vs the few routes of the matrix.

Each compares two standalone gateways on the same manifests, measured in interleaved rounds in
the same run, so the ratio is meaningful on a shared machine."""

from __future__ import annotations

import base64
import json
import shutil
import statistics
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from . import tollgate as tg
from .procs import BenchError, Child, http_status, wait_until, rss_mib
from .scenarios import Ctx, _round, wait_for_new_hash
from .wrk import Target

# SNI certificates besides the one the benchmark asks for.
SNI_OTHERS = 9


def _start(ctx: Ctx, name: str, prefix: str, extra: list[str], manifests: Path | None = None, ready_s: float = 120) -> Child:
    """A second standalone gateway on the matrix's manifests (or `manifests`), on its own ports
    and state."""
    exe = ctx.bin_dir / "tollgate-controller"
    manifests = manifests or ctx.manifests
    if manifests is None or not exe.exists():
        raise BenchError("needs the standalone gateway of the matrix")
    p = ctx.ports
    child = ctx.sup.start(
        name,
        [
            str(exe), "standalone",
            "--manifests", str(manifests),
            "--state-dir", str(ctx.work / f"state-{name}"),
            "--http-addr", f"127.0.0.1:{p[prefix + '_http']}",
            "--https-addr", f"127.0.0.1:{p[prefix + '_https']}",
            "--admin-addr", f"127.0.0.1:{p[prefix + '_admin']}",
            "--trusted-proxies", "127.0.0.1/32",
            "--log-format", "text",
            *extra,
        ],
        env={"RUST_LOG": "warn"},
    )
    ready = f"http://127.0.0.1:{p[prefix + '_admin']}/readyz"
    wait_until(f"{name} /readyz", lambda: http_status(ready) == 200, ready_s, child)
    return child


def _median(rounds: list[dict], key: str) -> float | None:
    values = [r[key] for r in rounds if r.get(key) is not None]
    return statistics.median(values) if values else None


def _compare(ctx: Ctx, a: tuple[Target, Child], b: tuple[Target, Child], conns: int) -> tuple[list[dict], list[dict]]:
    rounds_a, rounds_b = [], []
    for r in range(ctx.rounds):
        for (target, child), rounds in ((a, rounds_a), (b, rounds_b)):
            res = _round(ctx, target, child, conns)
            rounds.append(res)
            print(f"  round {r + 1} {target.name:18} c={conns:<3} {res['rps']:>10,.0f} req/s  p99 {res['p99_us']}us  errors {res['errors']}", flush=True)
    return rounds_a, rounds_b


def access_log(ctx: Ctx) -> dict:
    """The authenticated route with the access log on (the matrix's gateway, stdout to a file) and
    off (a second gateway, `--access-log off`), interleaved at 64 connections."""
    if ctx.standalone is None:
        raise BenchError("needs the standalone gateway of the matrix")
    off = _start(ctx, "tollgate-access-log-off", "al", ["--access-log", "off"])
    try:
        p = ctx.ports
        bearer, _ = tg.fetch_token(p["al_http"], p["al_https"], "bench-plain", ctx.secrets["plain"])
        on_target = Target("access-log-on", ctx.targets["tollgate-auth"].url, headers=ctx.targets["tollgate-auth"].headers)
        off_target = Target("access-log-off", f"http://127.0.0.1:{p['al_http']}/protected", headers={"Authorization": f"Bearer {bearer}"})
        for target in (on_target, off_target):  # warm-up
            _round(ctx, target, off if target is off_target else ctx.standalone, 64)
        on_rounds, off_rounds = _compare(ctx, (on_target, ctx.standalone), (off_target, off), 64)
    finally:
        ctx.sup.stop(off)
    on_rps, off_rps = _median(on_rounds, "rps"), _median(off_rounds, "rps")
    return {
        "conns": 64,
        "on_rps": on_rps,
        "off_rps": off_rps,
        "ratio": on_rps / off_rps if on_rps and off_rps else None,
        "on_cpu_us_per_req": _median(on_rounds, "proxy_cpu_us_per_req"),
        "off_cpu_us_per_req": _median(off_rounds, "proxy_cpu_us_per_req"),
        "on_p99_us": _median(on_rounds, "p99_us"),
        "off_p99_us": _median(off_rounds, "p99_us"),
        "errors": sum(r["errors"] for r in on_rounds + off_rounds),
        "rounds": {"on": on_rounds, "off": off_rounds},
    }


def _certificate(dir_: Path, name: str, dns: str) -> tuple[Path, Path]:
    """An ECDSA P-256 self-signed certificate for `dns` (openssl), as `name.crt` and `name.key`."""
    dir_.mkdir(parents=True, exist_ok=True)
    cert, key = dir_ / f"{name}.crt", dir_ / f"{name}.key"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-days", "2", "-subj", f"/CN={dns}", "-addext", f"subjectAltName=DNS:{dns}",
            "-keyout", str(key), "-out", str(cert),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


def tls_sni(ctx: Ctx) -> dict:
    """A new TLS connection per request (`Connection: close`; wrk resumes no session) to `/open`
    asking for `localhost`: one gateway with one certificate, one with a default certificate for
    another name and 1 + SNI_OTHERS certificates in its SNI directory, one of them for
    `localhost`. Same key type everywhere, interleaved at 64 connections."""
    certs = ctx.work / "tls-certs"
    one_cert, one_key = _certificate(certs / "one", "localhost", "localhost")
    default_cert, default_key = _certificate(certs / "several", "default", "default.bench.test")
    sni = certs / "sni"
    _certificate(sni, "localhost", "localhost")
    for i in range(SNI_OTHERS):
        _certificate(sni, f"api{i}", f"api{i}.bench.test")
    one = _start(ctx, "tollgate-tls-one", "t1", ["--tls-cert", str(one_cert), "--tls-key", str(one_key)])
    several = None
    try:
        several = _start(
            ctx, "tollgate-tls-sni", "tn",
            ["--tls-cert", str(default_cert), "--tls-key", str(default_key), "--tls-sni-dir", str(sni)],
        )
        p = ctx.ports
        close = {"Connection": "close"}
        one_target = Target("tls-one-cert", f"https://localhost:{p['t1_https']}/open", headers=close)
        sni_target = Target(f"tls-{SNI_OTHERS + 1}-sni-certs", f"https://localhost:{p['tn_https']}/open", headers=close)
        for target, child in ((one_target, one), (sni_target, several)):  # warm-up
            _round(ctx, target, child, 64)
        one_rounds, sni_rounds = _compare(ctx, (one_target, one), (sni_target, several), 64)
    finally:
        ctx.sup.stop(one)
        if several is not None:
            ctx.sup.stop(several)
    one_rps, sni_rps = _median(one_rounds, "rps"), _median(sni_rounds, "rps")
    return {
        "conns": 64,
        "sni_certificates": SNI_OTHERS + 1,
        "one_rps": one_rps,
        "sni_rps": sni_rps,
        "ratio": sni_rps / one_rps if one_rps and sni_rps else None,
        "one_cpu_us_per_req": _median(one_rounds, "proxy_cpu_us_per_req"),
        "sni_cpu_us_per_req": _median(sni_rounds, "proxy_cpu_us_per_req"),
        "errors": sum(r["errors"] for r in one_rounds + sni_rounds),
        "rounds": {"one": one_rounds, "sni": sni_rounds},
    }


# ---------------------------------------------------------------- external JWTs


JWT_AUDIENCE = "https://api.bench.test"
JWT_CLIENT = "bench-jwt-client"


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def der_ecdsa_to_raw(der: bytes, size: int = 32) -> bytes:
    """An ECDSA signature from DER (SEQUENCE of two INTEGERs, what `openssl dgst -sign` writes)
    to the JOSE form r || s, each `size` bytes."""
    if len(der) < 8 or der[0] != 0x30:
        raise BenchError("not a DER ECDSA signature")
    i = 3 if der[1] & 0x80 else 2
    out = b""
    for _ in range(2):
        if der[i] != 0x02:
            raise BenchError("not a DER ECDSA signature")
        n = der[i + 1]
        out += der[i + 2 : i + 2 + n].lstrip(b"\0").rjust(size, b"\0")
        i += 2 + n
    return out


def es256_issuer(dir_: Path, issuer: str, kid: str = "bench-es256") -> tuple[dict, callable]:
    """An ES256 key made with openssl: its JWKS, and a function signing a payload into a JWT."""
    dir_.mkdir(parents=True, exist_ok=True)
    key = dir_ / "jwt-es256.key"
    subprocess.run(["openssl", "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", str(key)], check=True, capture_output=True)
    spki = subprocess.run(["openssl", "ec", "-in", str(key), "-pubout", "-outform", "DER"], check=True, capture_output=True).stdout
    point = spki[-65:]  # the uncompressed point 04 || x || y ends the SubjectPublicKeyInfo
    if point[0] != 4:
        raise BenchError("unexpected EC public key encoding")
    jwks = {"keys": [{"kty": "EC", "crv": "P-256", "kid": kid, "alg": "ES256", "use": "sig",
                      "x": _b64url(point[1:33]), "y": _b64url(point[33:])}]}

    def sign(payload: dict) -> str:
        header = {"alg": "ES256", "typ": "at+jwt", "kid": kid}
        signing_input = f"{_b64url(json.dumps(header).encode())}.{_b64url(json.dumps(payload).encode())}"
        der = subprocess.run(["openssl", "dgst", "-sha256", "-sign", str(key)], input=signing_input.encode(),
                             check=True, capture_output=True).stdout
        return f"{signing_input}.{_b64url(der_ecdsa_to_raw(der))}"

    return jwks, sign


def serve_issuer(port: int, jwks: dict) -> ThreadingHTTPServer:
    """OpenID discovery and the JWKS on 127.0.0.1:`port` (a thread of this process; only the
    controller's key fetches reach it)."""
    issuer = f"http://127.0.0.1:{port}"
    docs = {
        "/.well-known/openid-configuration": {"issuer": issuer, "jwks_uri": f"{issuer}/jwks"},
        "/jwks": jwks,
    }

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            body = json.dumps(docs[self.path]).encode() if self.path in docs else b"{}"
            self.send_response(200 if self.path in docs else 404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def jwt_manifest(issuer: str, upstream_port: int) -> str:
    return tg.docs(
        f"apiVersion: tollgate.dev/v1alpha1\nkind: Consumer\n{tg._meta('jwt-user')}spec:\n  username: {JWT_CLIENT}\n",
        f"apiVersion: tollgate.dev/v1alpha1\nkind: AuthPlugin\n{tg._meta('external')}spec:\n  type: openid-connect\n"
        f"  openidConnect:\n    authMethods: [bearer]\n    issuer: \"{issuer}\"\n"
        f"    audienceRequired: [\"{JWT_AUDIENCE}\"]\n    consumerClaim: [client_id]\n    bearerTokenParamType: [header]\n",
        tg.route_doc("jwt", "/jwt", "external", upstream_port),
    )


def jwt_tokens(ctx: Ctx) -> dict:
    """Route `/jwt` (openid-connect `bearer`: an ES256 JWT of a loopback issuer whose keys the
    controller fetched) beside `/protected` (`kong_oauth2`: the gateway's own token) on the
    matrix's gateway, the same token on every request (the per-worker caches of verified
    tokens at work), interleaved at 64 connections."""
    if ctx.standalone is None or ctx.manifests is None:
        raise BenchError("needs the standalone gateway of the matrix")
    port = ctx.ports["jw_issuer"]
    issuer = f"http://127.0.0.1:{port}"
    jwks, sign = es256_issuer(ctx.work / "jwt", issuer)
    server = serve_issuer(port, jwks)
    try:
        now = int(time.time())
        token = sign({"iss": issuer, "aud": JWT_AUDIENCE, "sub": JWT_CLIENT, "client_id": JWT_CLIENT,
                      "iat": now, "exp": now + 6 * 3600, "scope": "orders:read"})
        tg.write_atomic(ctx.manifests / "jwt.yaml", jwt_manifest(issuer, ctx.upstream_port))
        url = f"http://127.0.0.1:{ctx.ports['tg_http']}/jwt"
        headers = {"Authorization": f"Bearer {token}"}
        wait_until("the /jwt route to accept the ES256 token", lambda: _status(url, headers) == 200, 60, ctx.standalone)
        jwt_target = Target("jwt-es256", url, headers=headers)
        own = ctx.targets["tollgate-auth"]
        own_target = Target("kong-oauth2", own.url, headers=own.headers)
        for target in (jwt_target, own_target):  # warm-up
            _round(ctx, target, ctx.standalone, 64)
        jwt_rounds, own_rounds = _compare(ctx, (jwt_target, ctx.standalone), (own_target, ctx.standalone), 64)
    finally:
        server.shutdown()
        server.server_close()
    jwt_rps, own_rps = _median(jwt_rounds, "rps"), _median(own_rounds, "rps")
    return {
        "conns": 64,
        "alg": "ES256",
        "jwt_rps": jwt_rps,
        "own_rps": own_rps,
        "ratio": jwt_rps / own_rps if jwt_rps and own_rps else None,
        "jwt_cpu_us_per_req": _median(jwt_rounds, "proxy_cpu_us_per_req"),
        "own_cpu_us_per_req": _median(own_rounds, "proxy_cpu_us_per_req"),
        "errors": sum(r["errors"] for r in jwt_rounds + own_rounds),
        "rounds": {"jwt": jwt_rounds, "own": own_rounds},
    }


def _status(url: str, headers: dict[str, str]) -> int | None:
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=2) as resp:
            return resp.status
    except urllib.error.HTTPError as err:
        return err.code
    except OSError:
        return None


# ---------------------------------------------------------------- many routes


ROUTES = 5_000
PATHS_PER_ROUTE = 4


def many_routes_manifest(n: int, upstream_port: int) -> str:
    """A Gateway and `n` HTTPRoutes of PATHS_PER_ROUTE rules each (PathPrefix matches), all
    guarded by the base manifests' `oidc` plugin through the `tollgate.dev/plugins` annotation and
    sent to a Service resolved through its EndpointSlice; one route in ten also names a host."""
    parts = [
        "apiVersion: gateway.networking.k8s.io/v1\nkind: GatewayClass\nmetadata:\n  name: bench-routes\n"
        "spec:\n  controllerName: tollgate.dev/gateway-controller\n",
        f"apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\n{tg._meta('bench-routes')}spec:\n"
        "  gatewayClassName: bench-routes\n  listeners:\n  - {name: http, protocol: HTTP, port: 80}\n",
        f"apiVersion: v1\nkind: Service\n{tg._meta('bench-upstream')}spec:\n"
        f"  ports: [{{name: http, port: 80, targetPort: {upstream_port}}}]\n",
        f"apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\n"
        f"{tg._meta('bench-upstream-1', {'kubernetes.io/service-name': 'bench-upstream'})}"
        f"addressType: IPv4\nports: [{{name: http, port: {upstream_port}}}]\n"
        "endpoints:\n- addresses: [127.0.0.1]\n",
    ]
    for i in range(n):
        rules = "".join(
            f"  - matches: [{{path: {{type: PathPrefix, value: /api-{i}/{p}}}}}]\n"
            "    backendRefs: [{name: bench-upstream, port: 80}]\n"
            for p in ("users", "orders", "items", "health")[:PATHS_PER_ROUTE]
        )
        host = f"  hostnames: [r{i}.routes.bench.test]\n" if i % 10 == 0 else ""
        meta = tg._meta(f"many-{i}").replace("metadata:\n", "metadata:\n  annotations: {tollgate.dev/plugins: oidc}\n", 1)
        parts.append(
            f"apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\n{meta}spec:\n"
            f"  parentRefs: [{{name: bench-routes}}]\n{host}  rules:\n{rules}"
        )
    return tg.docs(*parts)


def many_routes(ctx: Ctx, n: int = ROUTES) -> dict:
    """The authenticated route `/protected` on a gateway that also holds `n` HTTPRoutes
    (n × PATHS_PER_ROUTE rules) vs the matrix's gateway (its few base routes), interleaved at 64
    connections. Both gateways run with the same flags. The HTTPRoutes are written into the big
    gateway's directory once it serves the base manifests, and the time until it serves them
    (manifest read, translation, validation, swap) is the load time."""
    if ctx.standalone is None or ctx.manifests is None:
        raise BenchError("needs the standalone gateway of the matrix")
    dir_ = ctx.work / "manifests-routes"
    dir_.mkdir(parents=True, exist_ok=True)
    for name in ("base.yaml", "protected.yaml"):
        shutil.copy2(ctx.manifests / name, dir_ / name)
    (dir_ / "routes.yaml").unlink(missing_ok=True)
    text = many_routes_manifest(n, ctx.upstream_port)
    many = _start(ctx, "tollgate-routes", "rt", [], manifests=dir_, ready_s=300)
    try:
        p = ctx.ports
        old = tg.config_hash(p["rt_admin"])
        started = time.monotonic()
        tg.write_atomic(dir_ / "routes.yaml", text)
        wait_for_new_hash(p["rt_admin"], old, 300, many)
        load_s = time.monotonic() - started
        probe = f"http://127.0.0.1:{p['rt_http']}/api-{n - 1}/users"
        wait_until("an HTTPRoute guarded (401 without a token)", lambda: _status(probe, {}) == 401, 60, many)
        bearer, _ = tg.fetch_token(p["rt_http"], p["rt_https"], "bench-plain", ctx.secrets["plain"])
        many_target = Target(f"routes-{n}", f"http://127.0.0.1:{p['rt_http']}/protected", headers={"Authorization": f"Bearer {bearer}"})
        wait_until("the big gateway's /protected", lambda: _status(many_target.url, many_target.headers) == 200, 60, many)
        base = ctx.targets["tollgate-auth"]
        base_target = Target("routes-base", base.url, headers=base.headers)
        for target, child in ((many_target, many), (base_target, ctx.standalone)):  # warm-up
            _round(ctx, target, child, 64)
        many_rounds, base_rounds = _compare(ctx, (many_target, many), (base_target, ctx.standalone), 64)
        rss = rss_mib(many.pid)
    finally:
        ctx.sup.stop(many)
    many_rps, base_rps = _median(many_rounds, "rps"), _median(base_rounds, "rps")
    return {
        "conns": 64,
        "routes": n,
        "kind": "HTTPRoute",
        "paths": n * PATHS_PER_ROUTE,
        "load_s": load_s,
        "many_rps": many_rps,
        "base_rps": base_rps,
        "ratio": many_rps / base_rps if many_rps and base_rps else None,
        "many_cpu_us_per_req": _median(many_rounds, "proxy_cpu_us_per_req"),
        "base_cpu_us_per_req": _median(base_rounds, "proxy_cpu_us_per_req"),
        "many_rss_mib": rss,
        "errors": sum(r["errors"] for r in many_rounds + base_rounds),
        "rounds": {"many": many_rounds, "base": base_rounds},
    }
