"""What operating features cost: the access log (on vs off, authenticated route) and the HTTPS
certificate choice by SNI (new TLS connection per request, several certificates vs one).

Each compares two standalone gateways on the same manifests, measured in interleaved rounds in
the same run, so the ratio is meaningful on a shared machine."""

from __future__ import annotations

import statistics
import subprocess
from pathlib import Path

from . import tollgate as tg
from .procs import BenchError, Child, http_status, wait_until
from .scenarios import Ctx, _round
from .wrk import Target

# SNI certificates besides the one the benchmark asks for.
SNI_OTHERS = 9


def _start(ctx: Ctx, name: str, prefix: str, extra: list[str]) -> Child:
    """A second standalone gateway on the matrix's manifests, on its own ports and state."""
    exe = ctx.bin_dir / "tollgate-controller"
    if ctx.manifests is None or not exe.exists():
        raise BenchError("needs the standalone gateway of the matrix")
    p = ctx.ports
    child = ctx.sup.start(
        name,
        [
            str(exe), "standalone",
            "--manifests", str(ctx.manifests),
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
    wait_until(f"{name} /readyz", lambda: http_status(ready) == 200, 120, child)
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
