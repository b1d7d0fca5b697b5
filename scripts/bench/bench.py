#!/usr/bin/env python3
"""Tollgate side-by-side benchmark driver. Run through `scripts/bench/run.sh` (see
scripts/bench/README.md).

Starts an nginx upstream, nginx and HAProxy as plain keep-alive reverse proxies (plain HTTP, and
TLS with HTTP/2 on the same ECDSA P-256 certificate as Tollgate), and Tollgate (standalone mode on
generated manifests, plus a bare `tollgate-proxy` for the scale and push scenarios), then
measures them interleaved with wrk and h2load and writes scripts/bench/results/latest.json.
The `hashed` phase (not in the default run) starts the controller cold and warm with thousands of
argon2id-hashed client secrets, in standalone mode and as the operator against the API emulator.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import secrets
import shutil
import signal
import sys
import time
from pathlib import Path

from benchlib import hashed, operations, report, scenarios, shapes
from benchlib import tollgate as tg
from benchlib.peers import nginx_proxy_conf, nginx_upstream_conf, start_haproxy, start_nginx
from benchlib.procs import BenchError, Supervisor, children_of, http_status, port_free, rss_mib, wait_until
from benchlib.scenarios import Ctx
from benchlib.wrk import Target, measure

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent.parent
LABELS = {
    "direct": "upstream direct",
    "nginx": "nginx proxy_pass",
    "haproxy": "HAProxy",
    "tollgate-open": "Tollgate, no auth",
    "tollgate-auth": "Tollgate, token verified",
    "tollgate-limited": "Tollgate, token verified + rate limit",
    "token-hashed": "token endpoint, argon2id secret",
    "token-plain": "token endpoint, plain secret",
}
PHASES = (
    "matrix", "shapes", "isolation", "reload", "access-log", "tls-sni", "jwt", "routes", "scale", "scale-standalone",
    "hashed",
)
# `hashed` takes several minutes of hashing on 2 cores: run it with --phases hashed.
DEFAULT_PHASES = PHASES[:-1]
# Phases that need the peers (nginx, HAProxy, wrk) and the Tollgate of the matrix.
PEER_PHASES = set(DEFAULT_PHASES)


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=3, help="interleaved rounds per row (default 3)")
    ap.add_argument("--duration", type=float, default=5, help="seconds per wrk run (default 5)")
    ap.add_argument("--conns", default="64,1", help="wrk connection counts (default 64,1)")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 2, help="wrk threads (default nproc)")
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 2, help="nginx workers / HAProxy threads")
    ap.add_argument(
        "--phases",
        default=",".join(DEFAULT_PHASES),
        help=f"subset of {','.join(PHASES)} (default: all but hashed)",
    )
    ap.add_argument("--scale-consumers", type=int, default=100_000)
    ap.add_argument("--scale-routes", type=int, default=10_000)
    ap.add_argument("--reload-changes", type=int, default=50)
    ap.add_argument("--budget-routes", type=int, default=operations.ROUTES, help="routes phase: HTTPRoutes of 4 rules (default 5000)")
    ap.add_argument("--shapes", default=",".join(s.key for s in shapes.SHAPES), help="shapes phase: which traffic shapes (default all)")
    ap.add_argument(
        "--hashed-counts", default="1000,10000", help="hashed phase: argon2id credentials per run (default 1000,10000)"
    )
    ap.add_argument(
        "--hashed-modes",
        default=",".join(hashed.MODES),
        help="hashed phase: standalone and/or operator (tollgate-controller run against the API emulator)",
    )
    ap.add_argument(
        "--hash-threads", type=int, default=None, help="hashed phase: the controller's --hash-threads (default: its own)"
    )
    ap.add_argument(
        "--tollgate",
        choices=["auto", "standalone", "proxy"],
        default="auto",
        help="what serves the Tollgate rows: standalone mode on manifests (default when built), or a "
        "bare tollgate-proxy fed over POST /config (no argon2id row: Python cannot hash argon2)",
    )
    ap.add_argument("--bin-dir", type=Path, default=REPO / "target" / "release")
    ap.add_argument("--port-base", type=int, default=24100, help="first of the loopback ports used (default 24100)")
    ap.add_argument("--max-minutes", type=float, default=15, help="skip remaining phases after this")
    ap.add_argument("--out", type=Path, default=BENCH / "results" / "latest.json")
    return ap.parse_args()


def ports(base: int) -> dict[str, int]:
    names = ["upstream", "nginx", "haproxy", "tg_http", "tg_https", "tg_admin", "px_http", "px_https", "px_admin"]
    names += ["hs_http", "hs_https", "hs_admin", "emulator", "op_admin"]
    names += ["al_http", "al_https", "al_admin", "t1_http", "t1_https", "t1_admin", "tn_http", "tn_https", "tn_admin"]
    names += ["nginx_tls", "haproxy_tls", "rt_http", "rt_https", "rt_admin", "jw_issuer", "px_metrics"]
    return {name: base + i for i, name in enumerate(names)}


def start_standalone(ctx: Ctx, log: list[str]) -> None:
    exe = ctx.bin_dir / "tollgate-controller"
    if not exe.exists():
        log.append(f"Tollgate rows skipped: {exe} not built")
        return
    ctx.manifests = ctx.work / "manifests"
    tg.write_base_manifests(ctx.manifests, ctx.upstream_port, {"hashed": ctx.secrets["hashed"], "plain": ctx.secrets["plain"]})
    p = ctx.ports
    ctx.standalone = ctx.sup.start(
        "tollgate-standalone",
        [
            str(exe), "standalone",
            "--manifests", str(ctx.manifests),
            "--state-dir", str(ctx.work / "state"),
            "--http-addr", f"127.0.0.1:{p['tg_http']}",
            "--https-addr", f"127.0.0.1:{p['tg_https']}",
            "--admin-addr", f"127.0.0.1:{p['tg_admin']}",
            "--trusted-proxies", "127.0.0.1/32",
            "--log-format", "text",
            "--tls-cert", str(ctx.tls[0]),
            "--tls-key", str(ctx.tls[1]),
            # Like for like: nginx and HAProxy log nothing either. The access-log phase measures
            # the log's cost on a second gateway.
            "--access-log", "off",
        ],
        env={"RUST_LOG": "warn"},
    )
    ready = f"http://127.0.0.1:{p['tg_admin']}/readyz"
    wait_until("Tollgate standalone /readyz", lambda: http_status(ready) == 200, 90, ctx.standalone)
    bearer, scheme = tg.fetch_token(p["tg_http"], p["tg_https"], "bench-plain", ctx.secrets["plain"])
    token_url = (
        f"http://127.0.0.1:{p['tg_http']}{tg.TOKEN_PATH}" if scheme == "http" else f"https://127.0.0.1:{p['tg_https']}{tg.TOKEN_PATH}"
    )
    form_headers = {"Content-Type": "application/x-www-form-urlencoded"}
    if scheme == "http":
        form_headers["X-Forwarded-Proto"] = "https"
    log.append(f"token endpoint measured over {scheme}")
    ctx.targets.update(
        {
            "tollgate-open": Target("tollgate-open", f"http://127.0.0.1:{p['tg_http']}/open"),
            "tollgate-auth": Target(
                "tollgate-auth", f"http://127.0.0.1:{p['tg_http']}/protected", headers={"Authorization": f"Bearer {bearer}"}
            ),
            "tollgate-limited": Target(
                "tollgate-limited", f"http://127.0.0.1:{p['tg_http']}/limited", headers={"Authorization": f"Bearer {bearer}"}
            ),
            "token-hashed": Target("token-hashed", token_url, "POST", tg.token_form("bench-hashed", ctx.secrets["hashed"]), form_headers),
            "token-plain": Target("token-plain", token_url, "POST", tg.token_form("bench-plain", ctx.secrets["plain"]), form_headers),
        }
    )


def use_proxy_rows(ctx: Ctx, log: list[str]) -> None:
    """Tollgate rows served by the bare tollgate-proxy and its pushed snapshot."""
    p = ctx.ports
    log.append("Tollgate rows served by a bare tollgate-proxy fed over POST /config (no argon2id row)")
    ctx.targets.update(
        {
            "tollgate-open": Target("tollgate-open", f"http://127.0.0.1:{p['px_http']}/open"),
            "tollgate-auth": Target("tollgate-auth", ctx.targets["proxy-bench"].url, headers=ctx.targets["proxy-bench"].headers),
            "token-plain": Target(
                "token-plain",
                f"http://127.0.0.1:{p['px_http']}{tg.TOKEN_PATH}",
                "POST",
                tg.token_form("bench-client", ctx.secrets["proxy"]),
                {"Content-Type": "application/x-www-form-urlencoded", "X-Forwarded-Proto": "https"},
            ),
        }
    )


def run_matrix(ctx: Ctx, proxies: dict[str, list[int]], conns_levels: list[int]) -> dict[str, dict]:
    names = [n for n in LABELS if n in ctx.targets]
    for name in names:  # warm-up: connection pools, caches, page faults
        measure(ctx.targets[name], ctx.work, 64, 1, ctx.threads, {})
    rounds: dict[str, list[dict]] = {}
    for r in range(ctx.rounds):
        for conns in conns_levels:
            for name in names:
                groups = {"upstream": ctx.upstream_pids}
                if name != "direct":
                    groups["proxy"] = proxies[name]
                res, cpu = measure(ctx.targets[name], ctx.work, conns, ctx.duration, ctx.threads, groups)
                entry = {**res.to_dict(), "cpu_s": cpu}
                rounds.setdefault(f"{name}@{conns}", []).append(entry)
                print(f"  round {r + 1} {name:14} c={conns:<3} {res.rps:>10,.0f} req/s  p99 {res.p99_us}us  errors {res.errors}", flush=True)
    rows = {}
    for conns in conns_levels:
        for name in names:
            key = f"{name}@{conns}"
            rows[key] = {"target": name, "conns": conns, **report.aggregate(rounds[key]), "raw": rounds[key]}
    report.add_ratios(rows, conns_levels)
    return rows


def run_shapes(ctx: Ctx) -> dict:
    chosen = [s for s in shapes.SHAPES if s.key in ctx.shape_keys]
    result = shapes.run(ctx.shape_servers, ctx.work, ctx.rounds, ctx.duration, ctx.threads, ctx.upstream_pids, chosen)
    print("\n" + shapes.table(result) + "\n", flush=True)
    return result


def start_peers_and_tollgate(ctx: Ctx, args: argparse.Namespace, notes: list[str]) -> dict[str, list[int]]:
    """The upstream, nginx, HAProxy and the Tollgate of the matrix; returns the proxy pids per row."""
    p, work, sup = ctx.ports, ctx.work, ctx.sup
    cert, key, pem = ctx.tls
    upstream = start_nginx(sup, work, "upstream", nginx_upstream_conf(work, p["upstream"], args.workers), p["upstream"])
    nginx_conf = nginx_proxy_conf(work, p["nginx"], p["upstream"], args.workers, (p["nginx_tls"], cert, key))
    nginx = start_nginx(sup, work, "nginx-proxy", nginx_conf, p["nginx"])
    haproxy = start_haproxy(sup, work, p["haproxy"], p["upstream"], args.workers, (p["haproxy_tls"], pem))
    ctx.upstream_pids = upstream.pids()
    ctx.targets.update(
        {
            "direct": Target("direct", f"http://127.0.0.1:{p['upstream']}/"),
            "nginx": Target("nginx", f"http://127.0.0.1:{p['nginx']}/"),
            "haproxy": Target("haproxy", f"http://127.0.0.1:{p['haproxy']}/"),
        }
    )
    proxies = {"nginx": [nginx.pid, *children_of(nginx.pid)], "haproxy": [haproxy.pid]}
    ctx.shape_servers = {
        "nginx": shapes.Server("nginx", f"http://127.0.0.1:{p['nginx']}", f"https://127.0.0.1:{p['nginx_tls']}", "/", {}, proxies["nginx"]),
        "haproxy": shapes.Server("haproxy", f"http://127.0.0.1:{p['haproxy']}", f"https://127.0.0.1:{p['haproxy_tls']}", "/", {}, proxies["haproxy"]),
    }
    standalone_built = (args.bin_dir / "tollgate-controller").exists()
    if args.tollgate == "standalone" or (args.tollgate == "auto" and standalone_built):
        start_standalone(ctx, notes)
    if ctx.standalone:
        for name in ("tollgate-open", "tollgate-auth", "tollgate-limited", "token-hashed", "token-plain"):
            proxies[name] = [ctx.standalone.pid]
        auth = ctx.targets["tollgate-auth"]
        ctx.shape_servers["tollgate"] = shapes.Server(
            "tollgate", f"http://127.0.0.1:{p['tg_http']}", f"https://127.0.0.1:{p['tg_https']}", "/protected",
            dict(auth.headers or {}), [ctx.standalone.pid],
        )
    elif (args.bin_dir / "tollgate-proxy").exists() and args.tollgate != "standalone":
        px, _ = scenarios.ensure_proxy(ctx)
        use_proxy_rows(ctx, notes)
        for name in ("tollgate-open", "tollgate-auth", "token-plain"):
            proxies[name] = [px.pid]
    return proxies


def main() -> int:
    args = parse_args()
    started = time.monotonic()
    phases = [p for p in args.phases.split(",") if p]
    unknown = [p for p in phases if p not in PHASES]
    if unknown:
        raise BenchError(f"unknown phases: {', '.join(unknown)} (known: {', '.join(PHASES)})")
    needs_peers = bool(PEER_PHASES & set(phases))
    conns_levels = [int(c) for c in args.conns.split(",")]
    for tool in ("nginx", "haproxy", "wrk", "openssl") if needs_peers else ():
        if not shutil.which(tool):
            raise BenchError(f"{tool} is not installed (scripts/bench/run.sh installs it)")
    if "shapes" in phases and not shutil.which("h2load"):
        raise BenchError("h2load is not installed (Debian's nghttp2-client; scripts/bench/run.sh installs it)")
    work = BENCH / ".work"
    shutil.rmtree(work, ignore_errors=True)
    (work / "logs").mkdir(parents=True)
    p = ports(args.port_base)
    busy = [f"{n}={port}" for n, port in p.items() if not port_free(port)]
    if busy:
        raise BenchError(f"ports in use: {', '.join(busy)} (pick another --port-base)")
    # Run private copies: other builds may replace target/release/* while the benchmark runs.
    (work / "bin").mkdir()
    source_bins = args.bin_dir
    for name in ("tollgate-controller", "tollgate-proxy"):
        if (args.bin_dir / name).exists():
            shutil.copy2(args.bin_dir / name, work / "bin" / name)
    args.bin_dir = work / "bin"
    sup = Supervisor(work / "logs")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    notes: list[str] = []
    out: dict = {"machine": report.machine(REPO, source_bins), "params": {k: str(v) for k, v in vars(args).items()}, "notes": notes}
    try:
        unknown_shapes = set(args.shapes.split(",")) - {s.key for s in shapes.SHAPES}
        if unknown_shapes:
            raise BenchError(f"unknown shapes: {', '.join(sorted(unknown_shapes))}")
        ctx = Ctx(
            work=work, sup=sup, duration=args.duration, rounds=args.rounds, threads=args.threads,
            upstream_port=p["upstream"], upstream_pids=[], bin_dir=args.bin_dir, ports=p,
            secrets={
                "hashed": secrets.token_urlsafe(24), "plain": secrets.token_urlsafe(24),
                "proxy": secrets.token_urlsafe(24), "key_b64": base64.b64encode(os.urandom(32)).decode(),
            },
            shape_keys=args.shapes.split(","),
        )
        proxies: dict[str, list[int]] = {}
        if needs_peers:
            ctx.tls = shapes.certificate(work / "tls-bench")
            proxies = start_peers_and_tollgate(ctx, args, notes)
        out["scenarios"] = {}

        def phase(name: str, fn) -> None:
            if name not in phases:
                return
            if (time.monotonic() - started) / 60 > args.max_minutes:
                notes.append(f"phase {name} skipped: over --max-minutes")
                return
            print(f"== {name}", flush=True)
            try:
                out["scenarios"][name] = fn()
            except (BenchError, OSError, KeyError, AssertionError) as err:
                notes.append(f"phase {name} failed: {err}")
                print(f"   {name} failed: {err}", flush=True)

        if "matrix" in phases:
            print("== matrix", flush=True)
            out["rows"] = run_matrix(ctx, proxies, conns_levels)
            print("\n" + report.table(out["rows"], LABELS) + "\n", flush=True)
            out["table_markdown"] = report.markdown_table(out["rows"], LABELS)
            if ctx.standalone:
                out["tollgate_rss_after_matrix_mib"] = rss_mib(ctx.standalone.pid)
        if "tollgate" in ctx.shape_servers:
            phase("shapes", lambda: run_shapes(ctx))
        elif "shapes" in phases:
            notes.append("phase shapes skipped: it needs the standalone gateway (--tollgate standalone)")
        if ctx.standalone:
            phase("isolation", lambda: scenarios.isolation(ctx))
            phase("reload", lambda: scenarios.reload_standalone(ctx, args.reload_changes))
            # Before the scale phases, which add a big manifest to the directory these share.
            phase("access-log", lambda: operations.access_log(ctx))
            phase("tls-sni", lambda: operations.tls_sni(ctx))
            phase("jwt", lambda: operations.jwt_tokens(ctx))
            phase("routes", lambda: operations.many_routes(ctx, args.budget_routes))
        if (args.bin_dir / "tollgate-proxy").exists():
            phase("scale", lambda: scenarios.scale(ctx, args.scale_consumers, args.scale_routes))
            phase("reload", lambda: {**out["scenarios"].get("reload", {}), "push": scenarios.reload_push(ctx, args.reload_changes)})
            if ctx.proxy:
                sup.stop(ctx.proxy[0])
        if ctx.standalone:
            phase("scale-standalone", lambda: scenarios.scale_standalone(ctx, args.scale_consumers, args.scale_routes))
        if "hashed" in phases:
            if not (args.bin_dir / "tollgate-controller").exists():
                notes.append("phase hashed skipped: tollgate-controller not built")
            else:
                if ctx.standalone:  # idle from here on; its memory and threads are not needed
                    sup.stop(ctx.standalone)
                    ctx.standalone = None
                hctx = hashed.HashedCtx(
                    work=work, sup=sup, bin_dir=args.bin_dir, repo=REPO, ports=p, hash_threads=args.hash_threads
                )
                counts = [int(c) for c in args.hashed_counts.split(",") if c]
                modes = [m for m in args.hashed_modes.split(",") if m]
                phase("hashed", lambda: hashed.run(hctx, counts, modes))
                for err in out["scenarios"].get("hashed", {}).get("errors", []):
                    notes.append(f"phase hashed: {err}")
    except BenchError as err:
        notes.append(f"aborted: {err}")
        print(f"bench: {err}", file=sys.stderr)
    finally:
        sup.stop_all()
        out["targets"] = report.targets(out)
        out["elapsed_s"] = round(time.monotonic() - started, 1)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(out, indent=2, default=str) + "\n")
        args.out.with_suffix(".md").write_text(report.performance_markdown(out, LABELS))
    print_summary(out)
    print(f"wrote {args.out} and {args.out.with_suffix('.md').name} in {out['elapsed_s']:.0f}s (logs in {work / 'logs'})")
    return 1 if any(n.startswith("aborted") for n in notes) else 0


def print_summary(out: dict) -> None:
    s = out.get("scenarios", {})
    iso = s.get("isolation")
    if iso:
        print(f"isolation: authenticated route {iso['flooded_rps']:,.0f} req/s under a wrong-secret flood vs {iso['unloaded_rps']:,.0f} unloaded = {iso['ratio']:.2f}x")
    rl = s.get("reload", {})
    for r in (rl if "mode" in rl else None, rl.get("push")):
        if r:
            print(f"reload ({r['mode']}): {r['changes_applied']} changes under load, {r['failed_requests']} failed of {r['requests']:,} requests")
    sc = s.get("scale")
    if sc:
        print(
            f"scale: {sc['credentials']:,} credentials + {sc['routes']:,} routes: push+swap {sc['push_swap_s']:.2f}s, "
            f"RSS {sc['rss_big_mib']:.0f} MiB (peak {sc['rss_peak_mib']:.0f}), auth throughput {sc['ratio']:.2f}x of 10 credentials"
        )
    al = s.get("access-log")
    if al:
        print(f"access log: authenticated route {al['on_rps']:,.0f} req/s with it on vs {al['off_rps']:,.0f} off = {al['ratio']:.3f}x")
    if s.get("shapes"):
        print("traffic shapes (authenticated route vs nginx and HAProxy, same certificate):\n" + shapes.table(s["shapes"]))
    ts = s.get("tls-sni")
    if ts:
        print(
            f"TLS handshakes (new connection per request): {ts['sni_rps']:,.0f} req/s with {ts['sni_certificates']} SNI "
            f"certificates vs {ts['one_rps']:,.0f} with one = {ts['ratio']:.3f}x"
        )
    ss = s.get("scale-standalone")
    if ss:
        print(
            f"scale (standalone manifests, {ss['manifest_bytes'] / 1e6:.0f} MB): applied in {ss['apply_s']:.2f}s "
            f"(target 2 s; {ss.get('apply_cpu_s', 0):.2f} s of CPU), RSS {ss['rss_mib']:.0f} MiB, peak {ss['rss_peak_mib']:.0f} MiB (target 300 MiB)"
        )
    hs = s.get("hashed")
    if hs and hs.get("runs"):
        print(f"hashed client secrets (argon2id), cold and warm starts, hashing threads {hs['hash_threads']}:")
        print(report.hashed_table(hs))
        for t in report.hashed_targets(hs):
            ratio = report.target_ratio(t)
            if ratio is not None:
                print(f"  {t['target']}: {t['value']:g} {t['unit']} = {ratio:.2f}x the {t['goal']:g} {t['unit']} target")
    shown = out.get("targets", [])
    if set(s) == {"hashed"} and not out.get("rows"):  # a run of the hashed phase alone
        shown = report.hashed_targets(hs)
    budgets = report.budgets(out)
    if any(b["ratio"] is not None for b in budgets):
        print("feature budgets (each against its absence, same run):\n" + report.budgets_text(budgets))
    print("performance targets (ratios from this run):\n" + report.targets_text(shown))
    for note in out.get("notes", []):
        print(f"note: {note}")


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchError as err:
        print(f"bench: {err}", file=sys.stderr)
        sys.exit(1)
