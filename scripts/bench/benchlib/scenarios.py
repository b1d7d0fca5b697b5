"""The scenarios beyond the throughput matrix: isolation, reload under load, and scale."""

from __future__ import annotations

import base64
import json
import os
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path

from . import tollgate as tg
from .procs import BenchError, Child, Supervisor, cpu_seconds, http_status, port_open, rss_mib, wait_until
from .wrk import Target, WrkRun, measure


@dataclass
class Ctx:
    """What every scenario needs: where to work, how long to measure, and the running pieces."""

    work: Path
    sup: Supervisor
    duration: float
    rounds: int
    threads: int
    upstream_port: int
    upstream_pids: list[int]
    bin_dir: Path
    ports: dict[str, int]
    standalone: Child | None = None
    proxy: tuple[Child, str] | None = None
    manifests: Path | None = None
    targets: dict[str, Target] = field(default_factory=dict)
    secrets: dict[str, str] = field(default_factory=dict)
    # The ECDSA P-256 certificate every TLS listener presents: (cert, key, cert+key PEM).
    tls: tuple[Path, Path, Path] | None = None
    # The traffic-shapes phase: servers side by side, and which shapes run.
    shape_servers: dict = field(default_factory=dict)
    shape_keys: list[str] = field(default_factory=list)


def _cpu_groups(ctx: Ctx, proxy: Child) -> dict[str, list[int]]:
    return {"proxy": [proxy.pid], "upstream": ctx.upstream_pids}


def _round(ctx: Ctx, target: Target, proxy: Child, conns: int = 64) -> dict:
    result, cpu = measure(target, ctx.work, conns, ctx.duration, ctx.threads, _cpu_groups(ctx, proxy))
    out = result.to_dict()
    out["proxy_cpu_us_per_req"] = cpu["proxy"] / result.requests * 1e6 if result.requests else None
    return out


def wait_for_new_hash(admin_port: int, old: str | None, timeout: float, child: Child) -> tuple[str, float]:
    seen: dict[str, str] = {}

    def changed() -> bool:
        h = tg.config_hash(admin_port)
        if h and h != old:
            seen["hash"] = h
            return True
        return False

    waited = wait_until("a new config hash", changed, timeout, child)
    return seen["hash"], waited


# ---------------------------------------------------------------- isolation


FLOOD_CONNS = 64


def isolation(ctx: Ctx) -> dict:
    """Authenticated-route throughput while the token endpoint is flooded with wrong secrets
    (FLOOD_CONNS connections rotating through argon2id-hashed clients), as a ratio to the same
    route unloaded (alternating rounds)."""
    assert ctx.standalone is not None
    auth = ctx.targets["tollgate-auth"]
    hashed = ctx.targets["token-hashed"]
    flood_target = Target(
        "token-wrong",
        hashed.url,
        "POST",
        headers=hashed.headers,
        bodies=[tg.token_form(tg.flood_client_id(i), f"wrong-{i}") for i in range(tg.FLOOD_CLIENTS)],
    )
    unloaded, flooded, floods = [], [], []
    for _ in range(max(2, ctx.rounds - 1)):
        unloaded.append(_round(ctx, auth, ctx.standalone))
        flood = WrkRun(flood_target, ctx.work, FLOOD_CONNS, ctx.duration + 30, 1)
        try:
            flooded.append(_round(ctx, auth, ctx.standalone))
        finally:
            flood.interrupt()
        floods.append(flood.result().to_dict())
    base = statistics.median(r["rps"] for r in unloaded)
    loaded = statistics.median(r["rps"] for r in flooded)
    return {
        "rss_after_mib": rss_mib(ctx.standalone.pid),
        "unloaded_rps": base,
        "flooded_rps": loaded,
        "ratio": loaded / base if base else None,
        "flooded_errors": sum(r["errors"] for r in flooded),
        "flood_rps": statistics.median(f["rps"] for f in floods),
        "flood_non_2xx": sum(f["status_errors"] for f in floods),
        "flood_socket_errors": sum(f["socket_errors"] + f["timeouts"] for f in floods),
        "unloaded": unloaded,
        "flooded": flooded,
    }


# ---------------------------------------------------------------- reload under load


def reload_standalone(ctx: Ctx, changes: int) -> dict:
    """`changes` manifest edits while wrk runs on the protected route: odd edits add or move an
    unrelated route, even edits change the protected route's own backend (its read timeout)."""
    assert ctx.standalone is not None and ctx.manifests is not None
    admin = ctx.ports["tg_admin"]
    run = WrkRun(ctx.targets["tollgate-auth"], ctx.work, 64, 600, ctx.threads)
    applied, waits = 0, []
    try:
        current = tg.config_hash(admin)
        for i in range(1, changes + 1):
            if i % 2:
                tg.write_atomic(
                    ctx.manifests / "reload.yaml",
                    tg.route_doc("reload", f"/reload-{i}", None, ctx.upstream_port),
                )
            else:
                tg.write_protected_route(ctx.manifests, ctx.upstream_port, 60000 + i)
            current, waited = wait_for_new_hash(admin, current, 30, ctx.standalone)
            applied += 1
            waits.append(waited)
    finally:
        run.interrupt()
    result = run.result()
    return {
        "mode": "standalone manifest edits",
        "changes_applied": applied,
        "failed_requests": result.errors,
        "requests": result.requests,
        "rps": result.rps,
        "p99_us": result.p99_us,
        "apply_wait_median_s": statistics.median(waits) if waits else None,
        "apply_wait_max_s": max(waits) if waits else None,
    }


def reload_push(ctx: Ctx, changes: int) -> dict:
    """`changes` snapshot pushes to a `tollgate-proxy` while wrk runs on its protected route;
    each push changes the protected route's backend (read timeout)."""
    _, config_token = ensure_proxy(ctx)
    admin = ctx.ports["px_admin"]
    run = WrkRun(ctx.targets["proxy-bench"], ctx.work, 64, 600, ctx.threads)
    applied, push_s = 0, []
    try:
        deadline = time.monotonic() + max(ctx.duration, 5)
        for i in range(1, changes + 1):
            snap = tg.snapshot(10, 10, ctx.upstream_port, ctx.secrets["proxy"], ctx.secrets["key_b64"], 60000 + i)
            status, body, secs = tg.post_config(admin, config_token, json.dumps(snap).encode())
            if status != 200:
                raise BenchError(f"push {i} refused: {status} {body[:300]!r}")
            applied += 1
            push_s.append(secs)
            # Spread the pushes over the run so they land while wrk is busy.
            time.sleep(max(0.0, (deadline - time.monotonic()) / (changes - i + 1)))
    finally:
        run.interrupt()
    result = run.result()
    return {
        "mode": "POST /config pushes",
        "changes_applied": applied,
        "failed_requests": result.errors,
        "requests": result.requests,
        "rps": result.rps,
        "p99_us": result.p99_us,
        "push_median_s": statistics.median(push_s) if push_s else None,
    }


# ---------------------------------------------------------------- scale


def ensure_proxy(ctx: Ctx) -> tuple[Child, str]:
    """The bare `tollgate-proxy` (started on first use), holding the small snapshot, and its
    config-channel token."""
    if ctx.proxy is None:
        child, token = start_proxy(ctx)
        small = tg.snapshot(10, 10, ctx.upstream_port, ctx.secrets["proxy"], ctx.secrets["key_b64"])
        _push(ctx, token, json.dumps(small).encode())
        # Health and metrics are on their own listener; the admin port keeps the config channel.
        ready = f"http://127.0.0.1:{ctx.ports['px_metrics']}/readyz"
        wait_until("tollgate-proxy /readyz", lambda: http_status(ready) == 200, 30, child)
        bearer, _ = tg.fetch_token(ctx.ports["px_http"], ctx.ports["px_https"], "bench-client", ctx.secrets["proxy"])
        ctx.targets["proxy-bench"] = Target(
            "proxy-bench", f"http://127.0.0.1:{ctx.ports['px_http']}/bench", headers={"Authorization": f"Bearer {bearer}"}
        )
        ctx.proxy = (child, token)
    return ctx.proxy


def start_proxy(ctx: Ctx) -> tuple[Child, str]:
    """A bare `tollgate-proxy` with the config channel enabled."""
    token = base64.urlsafe_b64encode(os.urandom(24)).decode()
    token_file = ctx.work / "config-token"
    token_file.write_text(token)
    token_file.chmod(0o600)
    p = ctx.ports
    child = ctx.sup.start(
        "tollgate-proxy",
        [
            str(ctx.bin_dir / "tollgate-proxy"),
            "--http-addr", f"127.0.0.1:{p['px_http']}",
            "--https-addr", f"127.0.0.1:{p['px_https']}",
            "--admin-addr", f"127.0.0.1:{p['px_admin']}",
            "--metrics-addr", f"127.0.0.1:{p['px_metrics']}",
            "--trusted-proxies", "127.0.0.1/32",
            # The benchmark's upstreams are on loopback, which tollgate-proxy refuses by default.
            "--backend-allow-cidr", "127.0.0.0/8",
            "--config-token-file", str(token_file),
            # The config channel is on loopback here; without a certificate the proxy insists on
            # being told that plain HTTP is meant.
            "--config-channel-plaintext",
            "--log-format", "text",
        ],
        env={"RUST_LOG": "warn"},
    )
    wait_until("tollgate-proxy admin port", lambda: port_open(p["px_admin"]), 30, child)
    return child, token


def _push(ctx: Ctx, token: str, body: bytes) -> float:
    status, resp, secs = tg.post_config(ctx.ports["px_admin"], token, body)
    if status != 200:
        raise BenchError(f"POST /config refused: {status} {resp[:500]!r}")
    return secs


def scale(ctx: Ctx, consumers: int, routes: int) -> dict:
    """Authenticated throughput of `/bench` with 10 credentials vs `consumers` credentials and
    `routes` routes (alternating pushes), push+swap time of the big snapshot, and RSS."""
    proxy, token = ensure_proxy(ctx)
    small_snap = tg.snapshot(10, 10, ctx.upstream_port, ctx.secrets["proxy"], ctx.secrets["key_b64"])
    small = json.dumps(small_snap).encode()
    t0 = time.monotonic()
    big_snap = tg.snapshot(consumers, routes, ctx.upstream_port, ctx.secrets["proxy"], ctx.secrets["key_b64"])
    t1 = time.monotonic()
    big = json.dumps(big_snap, separators=(",", ":")).encode()
    t2 = time.monotonic()
    del big_snap
    target = ctx.targets["proxy-bench"]
    rss_small = rss_mib(proxy.pid)
    small_rounds, big_rounds, push_big, push_small, rss_big = [], [], [], [], []
    for _ in range(ctx.rounds):
        push_small.append(_push(ctx, token, small))
        small_rounds.append(_round(ctx, target, proxy))
        push_big.append(_push(ctx, token, big))
        rss_big.append(rss_mib(proxy.pid))
        big_rounds.append(_round(ctx, target, proxy))
    # Leave the small snapshot in place for the reload scenario.
    push_small.append(_push(ctx, token, small))
    base = statistics.median(r["rps"] for r in small_rounds)
    loaded = statistics.median(r["rps"] for r in big_rounds)
    return {
        "consumers": consumers,
        "credentials": consumers,
        "routes": routes,
        "snapshot_bytes": len(big),
        "generate_s": t1 - t0,
        "serialize_s": t2 - t1,
        "push_swap_s": statistics.median(push_big),
        "push_swap_max_s": max(push_big),
        "push_small_s": statistics.median(push_small),
        "rss_small_mib": rss_small,
        "rss_big_mib": max(r for r in rss_big if r is not None) if any(rss_big) else None,
        "rss_peak_mib": rss_mib(proxy.pid, "VmHWM"),
        "rps_10_credentials": base,
        "rps_big": loaded,
        "ratio": loaded / base if base else None,
        "errors": sum(r["errors"] for r in small_rounds + big_rounds),
        "small_rounds": small_rounds,
        "big_rounds": big_rounds,
    }


def scale_standalone(ctx: Ctx, consumers: int, routes: int) -> dict:
    """The same scale through standalone mode: write one big manifest file and time until the
    new snapshot is served (manifest load + translation + validation + swap)."""
    assert ctx.standalone is not None and ctx.manifests is not None
    admin = ctx.ports["tg_admin"]
    t0 = time.monotonic()
    text = tg.scale_manifests(consumers, routes, ctx.upstream_port, ctx.secrets["hashed"] + "-scale")
    t1 = time.monotonic()
    old = tg.config_hash(admin)
    rss_before = rss_mib(ctx.standalone.pid)
    cpu_before = cpu_seconds([ctx.standalone.pid])
    start = time.monotonic()
    tg.write_atomic(ctx.manifests / "scale.yaml", text)
    _, _ = wait_for_new_hash(admin, old, 300, ctx.standalone)
    applied = time.monotonic() - start
    # CPU time of the process over the apply: what a loaded machine changes least.
    cpu = cpu_seconds([ctx.standalone.pid]) - cpu_before
    rss = rss_mib(ctx.standalone.pid)
    after = _round(ctx, ctx.targets["tollgate-auth"], ctx.standalone)
    return {
        "manifest_bytes": len(text),
        "generate_s": t1 - t0,
        "apply_s": applied,
        "apply_cpu_s": cpu,
        "rss_before_mib": rss_before,
        "rss_mib": rss,
        "rss_peak_mib": rss_mib(ctx.standalone.pid, "VmHWM"),
        "auth_rps_after": after["rps"],
        "auth_errors_after": after["errors"],
    }
