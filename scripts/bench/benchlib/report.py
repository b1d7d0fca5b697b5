"""Aggregation of repeated wrk rounds, the printed table, and the machine description."""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
import time
from pathlib import Path

from . import hashed as hashed_phase


def aggregate(rounds: list[dict]) -> dict:
    """Median req/s and latencies over rounds; CPU per request from summed CPU and requests."""
    reqs = sum(r["requests"] for r in rounds)
    out = {
        "rounds": len(rounds),
        "rps": statistics.median(r["rps"] for r in rounds),
        "rps_min": min(r["rps"] for r in rounds),
        "rps_max": max(r["rps"] for r in rounds),
        "p50_us": statistics.median(r["p50_us"] for r in rounds),
        "p99_us": statistics.median(r["p99_us"] for r in rounds),
        "requests": reqs,
        "errors": sum(r["errors"] for r in rounds),
        "status_errors": sum(r["status_errors"] for r in rounds),
        "socket_errors": sum(r["socket_errors"] + r["timeouts"] for r in rounds),
    }
    for group in ("proxy", "upstream"):
        secs = [r["cpu_s"].get(group) for r in rounds]
        if reqs and all(s is not None for s in secs):
            out[f"{group}_cpu_us_per_req"] = sum(secs) / reqs * 1e6
        else:
            out[f"{group}_cpu_us_per_req"] = None
    return out


def add_ratios(rows: dict[str, dict], conns_levels: list[int]) -> None:
    """Ratios of req/s to nginx and to the direct upstream at the same connection count."""
    for conns in conns_levels:
        nginx = rows.get(f"nginx@{conns}")
        direct = rows.get(f"direct@{conns}")
        for key, row in rows.items():
            if row["conns"] != conns:
                continue
            row["x_nginx"] = row["rps"] / nginx["rps"] if nginx and nginx["rps"] else None
            row["x_direct"] = row["rps"] / direct["rps"] if direct and direct["rps"] else None
            if nginx and row.get("proxy_cpu_us_per_req") and nginx.get("proxy_cpu_us_per_req"):
                row["cpu_x_nginx"] = row["proxy_cpu_us_per_req"] / nginx["proxy_cpu_us_per_req"]


def _fmt(value, spec: str, none: str = "-") -> str:
    return none if value is None else format(value, spec)


def _latency(us: float | None) -> str:
    if us is None:
        return "-"
    return f"{us / 1000:.2f}ms" if us >= 1000 else f"{us:.0f}us"


def table(rows: dict[str, dict], labels: dict[str, str]) -> str:
    header = ("row", "conns", "req/s", "min..max", "x nginx", "x direct", "p50", "p99", "proxy CPU/req", "errors")
    lines = [header]
    for key, row in rows.items():
        lines.append(
            (
                labels.get(row["target"], row["target"]),
                str(row["conns"]),
                f"{row['rps']:,.0f}",
                f"{row['rps_min']:,.0f}..{row['rps_max']:,.0f}",
                _fmt(row.get("x_nginx"), ".2f"),
                _fmt(row.get("x_direct"), ".2f"),
                _latency(row["p50_us"]),
                _latency(row["p99_us"]),
                _fmt(row.get("proxy_cpu_us_per_req"), ".1f") + ("us" if row.get("proxy_cpu_us_per_req") else ""),
                str(row["errors"]),
            )
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    out = []
    for n, line in enumerate(lines):
        out.append("  ".join(cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in enumerate(zip(line, widths))))
        if n == 0:
            out.append("  ".join("-" * w for w in widths))
    return "\n".join(out)


def markdown_table(rows: dict[str, dict], labels: dict[str, str]) -> str:
    out = [
        "| row | conns | req/s | × nginx | × direct | p50 | p99 | proxy CPU/req | errors |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows.values():
        cpu = row.get("proxy_cpu_us_per_req")
        out.append(
            f"| {labels.get(row['target'], row['target'])} | {row['conns']} | {row['rps']:,.0f} | "
            f"{_fmt(row.get('x_nginx'), '.2f')} | {_fmt(row.get('x_direct'), '.2f')} | "
            f"{_latency(row['p50_us'])} | {_latency(row['p99_us'])} | "
            f"{_fmt(cpu, '.1f')}{' µs' if cpu else ''} | {row['errors']} |"
        )
    return "\n".join(out)


def _first_line(argv: list[str]) -> str | None:
    try:
        res = subprocess.run(argv, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    text = (res.stdout or res.stderr).strip()
    return text.splitlines()[0] if text else None


def machine(repo: Path, bin_dir: Path) -> dict:
    model = None
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "nproc": os.cpu_count(),
        "cpu_model": model,
        "kernel": platform.release(),
        "nginx": _first_line(["nginx", "-v"]),
        "haproxy": _first_line(["haproxy", "-v"]),
        "wrk": _first_line(["wrk", "-v"]),
        "git_commit": _first_line(["git", "-C", str(repo), "rev-parse", "--short", "HEAD"]),
        "binaries": {
            exe.name: time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(exe.stat().st_mtime))
            for exe in (bin_dir / name for name in ("tollgate-controller", "tollgate-proxy"))
            if exe.exists()
        },
    }



def _target(name: str, value, goal: float, higher_is_better: bool, unit: str = "x") -> dict:
    cmp = ">=" if higher_is_better else "<="
    if value is None:
        return {"target": name, "value": None, "goal": goal, "cmp": cmp, "unit": unit, "met": None}
    met = value >= goal if higher_is_better else value <= goal
    return {"target": name, "value": round(value, 3), "goal": goal, "cmp": cmp, "unit": unit, "met": met}


def targets(out: dict) -> list[dict]:
    """The performance targets (docs/performance.md), evaluated on this run's figures (ratios from the same run)."""
    rows = out.get("rows", {})
    s = out.get("scenarios", {})
    auth, nginx = rows.get("tollgate-auth@64", {}), rows.get("nginx@64", {})
    limited = rows.get("tollgate-limited@64", {})
    hashed, plain = rows.get("token-hashed@64", {}), rows.get("token-plain@64", {})

    def ratio(a, b):
        return a / b if a is not None and b else None

    sc = s.get("scale", {})
    ss = s.get("scale-standalone", {})
    rl = s.get("reload", {})
    failed = [r["failed_requests"] for r in (rl, rl.get("push", {})) if "failed_requests" in r]
    return [
        _target("authenticated req/s vs nginx (64 conns)", auth.get("x_nginx"), 1.0, True),
        _target("authenticated p99 vs nginx p99 (64 conns)", ratio(auth.get("p99_us"), nginx.get("p99_us")), 1.0, False),
        _target("authenticated proxy CPU/req vs nginx", auth.get("cpu_x_nginx"), 1.0, False),
        _target("token endpoint argon2id vs plain req/s", ratio(hashed.get("rps"), plain.get("rps")), 0.8, True),
        _target("rate limit configured, not reached vs none (authenticated, 64 conns)",
                ratio(limited.get("rps"), auth.get("rps")), 0.95, True),
        _target("isolation: flooded vs unloaded req/s", s.get("isolation", {}).get("ratio"), 0.5, True),
        _target("scale: auth req/s vs 10 credentials", sc.get("ratio"), 0.95, True),
        _target("scale: push+swap", sc.get("push_swap_s"), 2.0, False, "s"),
        _target("scale: proxy peak RSS", sc.get("rss_peak_mib"), 300, False, "MiB"),
        _target("scale (standalone manifests): applied in", ss.get("apply_s"), 2.0, False, "s"),
        _target("scale (standalone manifests): peak RSS", ss.get("rss_peak_mib"), 300, False, "MiB"),
        _target("reload: failed requests", sum(failed) if failed else None, 0, False, "requests"),
        _target("access log on vs off, authenticated req/s", s.get("access-log", {}).get("ratio"), 0.95, True),
        _target("TLS handshakes, several SNI certificates vs one, req/s", s.get("tls-sni", {}).get("ratio"), 0.97, True),
        _target("ES256 JWT (cached) vs kong_oauth2 token, authenticated req/s", s.get("jwt", {}).get("ratio"), 0.90, True),
        _target(f"{s.get('routes', {}).get('routes', 5000):,} routes vs the base routes, authenticated req/s",
                s.get("routes", {}).get("ratio"), 0.95, True),
        *shape_targets(s.get("shapes")),
        *hashed_targets(s.get("hashed")),
    ]


def shape_targets(result: dict | None) -> list[dict]:
    from . import shapes

    return shapes.targets(result)


def budgets(out: dict) -> list[dict]:
    """What each hot-path feature costs, measured against its absence in the same run, with its
    budget: the ratio (with / without, req/s) must stay at or above `floor`."""
    rows, s = out.get("rows", {}), out.get("scenarios", {})
    limited, auth = rows.get("tollgate-limited@64", {}), rows.get("tollgate-auth@64", {})
    al, jwt, sni, routes = (s.get(k, {}) for k in ("access-log", "jwt", "tls-sni", "routes"))

    def row(name, budget, floor, with_, without, with_label, without_label):
        ratio = with_ / without if with_ and without else None
        return {
            "budget_row": name, "budget": budget, "floor": floor, "with_rps": with_, "without_rps": without,
            "with": with_label, "without": without_label, "ratio": ratio,
            "met": None if ratio is None else ratio >= floor,
        }

    n = routes.get("routes", 5000)
    return [
        row("access log on", "≤ 5%", 0.95, al.get("on_rps"), al.get("off_rps"), "on (stdout to a file)", "--access-log off"),
        row("rate limit configured, not reached", "≤ 5%", 0.95, limited.get("rps"), auth.get("rps"),
            "/limited (oidc + rate-limiting)", "/protected (oidc)"),
        row("JWT ES256 (cached)", "within 10%", 0.90, jwt.get("jwt_rps"), jwt.get("own_rps"), "bearer ES256 JWT", "kong_oauth2 token"),
        row("several SNI certificates", "≤ 3%", 0.97, sni.get("sni_rps"), sni.get("one_rps"),
            f"{sni.get('sni_certificates', 10)} certificates by SNI", "one certificate"),
        row(f"{n:,} HTTPRoutes", "≤ 5%", 0.95, routes.get("many_rps"), routes.get("base_rps"),
            f"{n:,} HTTPRoutes, {routes.get('paths', n * 4):,} rules, loaded in {_fmt(routes.get('load_s'), '.2f')} s (target < 1 s)",
            "the matrix's base routes"),
    ]


BUDGET_HEADER = ("feature", "with", "without", "req/s with", "req/s without", "ratio", "budget", "")


def _budget_cells(b: dict) -> tuple[str, ...]:
    mark = "-" if b["met"] is None else ("met" if b["met"] else "MISSED")
    return (
        b["budget_row"], b["with"], b["without"], _fmt(b["with_rps"], ",.0f"), _fmt(b["without_rps"], ",.0f"),
        _fmt(b["ratio"], ".3f"), b["budget"], mark,
    )


def budgets_text(items: list[dict]) -> str:
    lines = [BUDGET_HEADER, *(_budget_cells(b) for b in items)]
    widths = [max(len(line[i]) for line in lines) for i in range(len(BUDGET_HEADER))]
    out = []
    for n, line in enumerate(lines):
        out.append("  " + "  ".join(c.ljust(w) if i < 3 or i > 5 else c.rjust(w) for i, (c, w) in enumerate(zip(line, widths))))
        if n == 0:
            out.append("  " + "  ".join("-" * w for w in widths))
    return "\n".join(out)


def budgets_markdown(items: list[dict]) -> str:
    out = ["| " + " | ".join(BUDGET_HEADER[:-1]) + " | |", "|---|---|---|---:|---:|---:|---|---|"]
    out += ["| " + " | ".join(_budget_cells(b)) + " |" for b in items]
    return "\n".join(out)


def hashed_targets(h: dict | None) -> list[dict]:
    """The hashed-secret targets at 10,000 credentials, per mode that ran: the controller's peak
    RSS (over the cold and the warm start) and the warm restart's time to the first configuration."""
    if not h:
        return []
    n = hashed_phase.TARGET_CREDENTIALS
    out = []
    for mode in hashed_phase.MODES:
        if mode not in h.get("modes", hashed_phase.MODES) or n not in h.get("counts", [n]):
            continue
        runs = [r for r in h.get("runs", []) if r["n"] == n and r["mode"] == mode]
        peaks = [v for r in runs for v in (r.get("peak_rss_mib"), r.get("peak_rss_run_mib")) if v is not None]
        warm = next((r["first_config_s"] for r in runs if r["start"] == "warm"), None)
        out.append(_target(f"hashed {mode}: peak RSS, {n:,} argon2id credentials", max(peaks) if peaks else None,
                           hashed_phase.RSS_TARGET_MIB, False, "MiB"))
        out.append(_target(f"hashed {mode}: warm restart to first configuration, {n:,} credentials", warm,
                           hashed_phase.WARM_TARGET_S, False, "s"))
    return out


HASHED_HEADER = (
    "N", "mode", "start", "first config", "caches synced", "peak RSS", "RSS after", "peak, whole run",
    "hashed at start", "CPU to first config", "load (1 min)",
)
# Columns aligned left (the others are figures).
_HASHED_TEXT_COLUMNS = (1, 2)


def hashed_rows(h: dict) -> list[tuple[str, ...]]:
    """One row per start of the hashed phase, formatted. "caches synced" is the operator's (its
    first configuration follows the API's lists); the whole-run peak includes what happened after
    the first configuration (a token check, verifier-cache writes, status writes)."""
    rows = []
    for r in h.get("runs", []):
        synced = r.get("caches_synced_s")
        rows.append(
            (
                f"{r['n']:,}",
                r["mode"],
                r["start"],
                f"{r['first_config_s']:.2f} s",
                "-" if synced is None else f"{synced:.2f} s",
                f"{_fmt(r.get('peak_rss_mib'), '.0f')} MiB",
                f"{_fmt(r.get('rss_after_mib'), '.0f')} MiB",
                f"{_fmt(r.get('peak_rss_run_mib'), '.0f')} MiB",
                f"{r.get('secrets_hashed') or 0:,}",
                f"{_fmt(r.get('cpu_s'), '.1f')} s",
                _fmt(r.get("loadavg_1m"), ".1f"),
            )
        )
    return rows


def hashed_table(h: dict) -> str:
    lines = [HASHED_HEADER, *hashed_rows(h)]
    widths = [max(len(line[i]) for line in lines) for i in range(len(HASHED_HEADER))]
    out = []
    for n, line in enumerate(lines):
        out.append(
            "  ".join(
                cell.ljust(w) if i in _HASHED_TEXT_COLUMNS else cell.rjust(w)
                for i, (cell, w) in enumerate(zip(line, widths))
            )
        )
        if n == 0:
            out.append("  ".join("-" * w for w in widths))
    return "\n".join(out)


def hashed_markdown(h: dict) -> str:
    align = ["---" if i in _HASHED_TEXT_COLUMNS else "---:" for i in range(len(HASHED_HEADER))]
    out = ["| " + " | ".join(HASHED_HEADER) + " |", "|" + "|".join(align) + "|"]
    out += ["| " + " | ".join(row) + " |" for row in hashed_rows(h)]
    return "\n".join(out)


def target_ratio(t: dict) -> float | None:
    """A target's measured value as a multiple of its goal (below 1 is better for `<=` targets)."""
    return t["value"] / t["goal"] if t.get("value") is not None and t.get("goal") else None


def targets_text(items: list[dict]) -> str:
    out = []
    for t in items:
        unit = "" if t["unit"] == "x" else f" {t['unit']}"
        if t["met"] is None:
            out.append(f"  n/a     {t['target']} (goal {t['cmp']} {t['goal']:g}{unit})")
            continue
        mark = "met   " if t["met"] else "MISSED"
        out.append(f"  {mark}  {t['target']}: {t['value']:g}{unit} (goal {t['cmp']} {t['goal']:g}{unit})")
    return "\n".join(out)


def performance_markdown(out: dict, labels: dict[str, str]) -> str:
    """The "latest run" section of docs/performance.md, from one run."""
    m = out.get("machine", {})
    s = out.get("scenarios", {})
    if not out.get("rows") and s.get("hashed"):
        return hashed_only_markdown(out)
    lines = [
        "## Performance",
        "",
        f"`scripts/bench/run.sh` (see `scripts/bench/README.md`) on {m.get('nproc')} cores ({m.get('cpu_model')}, "
        f"Linux {m.get('kernel')}), loopback, wrk with 64 and 1 connections, "
        f"{out.get('params', {}).get('rounds', '?')} interleaved rounds of "
        f"{out.get('params', {}).get('duration', '?')} s, medians; "
        f"{(m.get('nginx') or '').replace('nginx version: nginx/', 'nginx ')}, "
        f"{' '.join((m.get('haproxy') or '').replace(' version', '').split()[:2])}. "
        "wrk, the upstream and the proxy share the cores, "
        "so compare ratios, not absolute numbers.",
        "",
    ]
    if out.get("rows"):
        lines += [markdown_table(out["rows"], labels), ""]
    if s.get("shapes"):
        from . import shapes

        lines += [
            f"Traffic shapes: nginx, HAProxy and the authenticated route side by side, the same ECDSA P-256 "
            f"certificate on every TLS listener, HTTP/2 with h2load ({s['shapes'].get('h2_streams')} streams per connection):",
            "",
            shapes.markdown(s["shapes"]),
            "",
        ]
    budget_rows = budgets(out)
    if any(b["ratio"] is not None for b in budget_rows):
        lines += ["Feature budgets, each against its absence in the same run:", "", budgets_markdown(budget_rows), ""]
    iso, rl, sc, ss = s.get("isolation"), s.get("reload", {}), s.get("scale"), s.get("scale-standalone")
    if iso:
        lines.append(
            f"- Isolation: with the token endpoint flooded by wrong secrets (argon2id), the authenticated "
            f"route keeps {iso['ratio']:.2f}× its unloaded throughput ({iso['flooded_rps']:,.0f} vs "
            f"{iso['unloaded_rps']:,.0f} req/s)."
        )
    for r in (rl if "mode" in rl else None, rl.get("push")):
        if r:
            lines.append(
                f"- Reload under load ({r['mode']}): {r['changes_applied']} changes, "
                f"{r['failed_requests']} failed requests of {r['requests']:,}."
            )
    if sc:
        lines.append(
            f"- Scale: {sc['credentials']:,} consumers and credentials, {sc['routes']:,} routes "
            f"({sc['snapshot_bytes'] / 1e6:.0f} MB snapshot): push + validate + swap {sc['push_swap_s']:.2f} s; "
            f"proxy RSS {sc['rss_big_mib']:.0f} MiB (peak {sc['rss_peak_mib']:.0f} MiB); authenticated "
            f"throughput {sc['ratio']:.2f}× the 10-credential case."
        )
    al, ts = s.get("access-log"), s.get("tls-sni")
    if al:
        lines.append(
            f"- Access log: the authenticated route serves {al['on_rps']:,.0f} req/s with it on (stdout to a file) "
            f"and {al['off_rps']:,.0f} with `--access-log off`: {al['ratio']:.3f}×; proxy CPU per request "
            f"{al['on_cpu_us_per_req']:.1f} vs {al['off_cpu_us_per_req']:.1f} µs."
        )
    if ts:
        lines.append(
            f"- TLS handshakes (a new connection per request to `/open`): {ts['sni_rps']:,.0f} req/s with "
            f"{ts['sni_certificates']} certificates chosen by SNI vs {ts['one_rps']:,.0f} with one: {ts['ratio']:.3f}×."
        )
    if ss:
        lines.append(
            f"- Standalone mode applies the same objects as a {ss['manifest_bytes'] / 1e6:.0f} MB manifest in "
            f"{ss['apply_s']:.1f} s (parse, translate, validate, swap), peak RSS {ss['rss_peak_mib']:.0f} MiB."
        )
    h = s.get("hashed")
    if h and h.get("runs"):
        lines += [
            "",
            f"Hashed client secrets (argon2id, `hashSecret: true`), cold start (empty state) and warm "
            f"restart, hashing threads: {h.get('hash_threads')}:",
            "",
            hashed_markdown(h),
        ]
    if out.get("targets"):
        lines += ["", "Performance targets in this run:", "", "```", targets_text(out["targets"]), "```"]
    return "\n".join(lines) + "\n"


def hashed_only_markdown(out: dict) -> str:
    """The report of a run of the hashed phase alone."""
    m, h = out.get("machine", {}), out["scenarios"]["hashed"]
    lines = [
        "## Hashed client secrets at scale",
        "",
        f"`bench/bench.py --phases hashed` on {m.get('nproc')} cores ({m.get('cpu_model')}, Linux {m.get('kernel')}), "
        f"git HEAD {m.get('git_commit')} at run time, tollgate-controller built "
        f"{m.get('binaries', {}).get('tollgate-controller')}; hashing threads: {h.get('hash_threads')}.",
        "",
        hashed_markdown(h),
    ]
    lines += ["", "Performance targets in this run:", "", "```", targets_text(hashed_targets(h)), "```"]
    return "\n".join(lines) + "\n"
