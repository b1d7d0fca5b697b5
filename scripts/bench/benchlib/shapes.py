"""Traffic shapes: nginx, HAProxy and Tollgate's authenticated route side by side in the shapes
real traffic has (keep-alive at 64 and 1,000 connections, a new TCP or TLS connection per
request, TLS keep-alive, HTTP/2 over TLS), interleaved rounds, medians, ratios, p99 and CPU per
request of each server. The three servers present the same ECDSA P-256 certificate."""

from __future__ import annotations

import statistics
import subprocess
from dataclasses import dataclass
from pathlib import Path

from . import report
from .procs import BenchError, cpu_seconds
from .wrk import Target, measure


@dataclass(frozen=True)
class Shape:
    key: str
    label: str
    # "http", "https" (wrk) or "h2" (h2load over TLS)
    transport: str
    conns: int
    # A new connection per request (`Connection: close`).
    close: bool = False


SHAPES = [
    Shape("keepalive-64", "HTTP/1.1 keep-alive, 64 connections", "http", 64),
    Shape("keepalive-1000", "HTTP/1.1 keep-alive, 1,000 connections", "http", 1000),
    Shape("close-64", "new TCP connection per request, 64 at a time", "http", 64, close=True),
    Shape("tls-keepalive-64", "TLS keep-alive, 64 connections", "https", 64),
    Shape("tls-close-64", "new TLS connection per request, 64 at a time", "https", 64, close=True),
    Shape("h2-64", "HTTP/2 over TLS (h2load), 64 connections", "h2", 64),
]
SERVERS = {"nginx": "nginx", "haproxy": "HAProxy", "tollgate": "Tollgate, token verified"}
# Concurrent streams per HTTP/2 connection (h2load -m).
H2_STREAMS = 10


@dataclass
class Server:
    """One server under test: its plain and TLS base URLs, the path and headers of the request,
    and the processes whose CPU is counted."""

    name: str
    http: str
    https: str
    path: str
    headers: dict[str, str]
    pids: list[int]


def certificate(dir_: Path) -> tuple[Path, Path, Path]:
    """One ECDSA P-256 certificate for `localhost` and 127.0.0.1: (cert, key, cert+key PEM for
    HAProxy)."""
    dir_.mkdir(parents=True, exist_ok=True)
    cert, key, both = dir_ / "bench.crt", dir_ / "bench.key", dir_ / "bench.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-days", "2", "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
            "-keyout", str(key), "-out", str(cert),
        ],
        check=True,
        capture_output=True,
    )
    both.write_text(cert.read_text() + key.read_text())
    return cert, key, both


# ---------------------------------------------------------------- h2load


def h2load_argv(url: str, headers: dict[str, str], conns: int, duration: float, threads: int, log: Path) -> list[str]:
    threads = max(1, min(threads, conns))
    argv = [
        "h2load", f"-t{threads}", f"-c{conns}", f"-m{H2_STREAMS}", f"-D{max(1, round(duration))}",
        f"--log-file={log}",
    ]
    for name, value in headers.items():
        argv += ["-H", f"{name.lower()}: {value}"]
    return [*argv, url]


def parse_h2load(stdout: str, log_text: str, duration: float) -> dict:
    """h2load's summary (requests done and their status classes) and, from its per-request log
    (start time, status, duration in µs, tab-separated), the latency percentiles. Fields as
    benchlib.wrk.WrkResult.to_dict()."""
    done = errored = timeouts = bad_status = None
    for line in stdout.splitlines():
        line = line.strip()
        if line.startswith("requests:"):
            fields = {}
            for part in line[len("requests:") :].split(","):
                n, _, what = part.strip().partition(" ")
                fields[what.strip()] = int(n)
            done = fields.get("done", 0)
            errored, timeouts = fields.get("errored", 0), fields.get("timeout", 0)
        elif line.startswith("status codes:"):
            classes = {}
            for part in line[len("status codes:") :].split(","):
                n, _, what = part.strip().partition(" ")
                classes[what.strip()] = int(n)
            bad_status = classes.get("4xx", 0) + classes.get("5xx", 0)
    if done is None or bad_status is None:
        raise BenchError(f"h2load printed no summary:\n{stdout[-2000:]}")
    latencies = sorted(int(f[2]) for f in (l.split("\t") for l in log_text.splitlines()) if len(f) >= 3 and f[2].isdigit())

    def pct(p: float) -> int:
        return latencies[min(len(latencies) - 1, int(len(latencies) * p / 100))] if latencies else 0

    return {
        "requests": done,
        "duration_s": duration,
        "rps": done / duration if duration else 0.0,
        "p50_us": pct(50),
        "p90_us": pct(90),
        "p99_us": pct(99),
        "mean_us": statistics.fmean(latencies) if latencies else 0.0,
        "max_us": latencies[-1] if latencies else 0,
        "status_errors": bad_status,
        "socket_errors": errored,
        "timeouts": timeouts,
        "errors": bad_status + errored + timeouts,
    }


def measure_h2(url: str, headers: dict[str, str], work: Path, conns: int, duration: float, threads: int,
               cpu_pids: dict[str, list[int]]) -> tuple[dict, dict[str, float]]:
    log = work / "h2load.log"
    before = {name: cpu_seconds(pids) for name, pids in cpu_pids.items()}
    res = subprocess.run(
        h2load_argv(url, headers, conns, duration, threads, log), capture_output=True, text=True, timeout=duration + 60
    )
    after = {name: cpu_seconds(pids) for name, pids in cpu_pids.items()}
    try:
        log_text = log.read_text()
    except OSError:
        log_text = ""
    log.unlink(missing_ok=True)
    return parse_h2load(res.stdout, log_text, max(1, round(duration))), {n: after[n] - before[n] for n in cpu_pids}


# ---------------------------------------------------------------- the phase


def _one(shape: Shape, server: Server, work: Path, duration: float, threads: int, upstream_pids: list[int]) -> dict:
    groups = {"proxy": server.pids, "upstream": upstream_pids}
    base = server.http if shape.transport == "http" else server.https
    if shape.transport == "h2":
        res, cpu = measure_h2(base + server.path, server.headers, work, shape.conns, duration, threads, groups)
        return {**res, "cpu_s": cpu}
    headers = {**server.headers, **({"Connection": "close"} if shape.close else {})}
    target = Target(f"shape-{shape.key}-{server.name}", base + server.path, headers=headers)
    result, cpu = measure(target, work, shape.conns, duration, threads, groups)
    return {**result.to_dict(), "cpu_s": cpu}


def run(servers: dict[str, Server], work: Path, rounds: int, duration: float, threads: int,
        upstream_pids: list[int], shapes: list[Shape] | None = None) -> dict:
    """Every shape against every server, interleaved (round 1 of every pair, then round 2, ...),
    after a one-second warm-up of each pair."""
    shapes = shapes or SHAPES
    for shape in shapes:
        for server in servers.values():
            _one(shape, server, work, 1, threads, upstream_pids)
    raw: dict[str, list[dict]] = {}
    for r in range(rounds):
        for shape in shapes:
            for server in servers.values():
                entry = _one(shape, server, work, duration, threads, upstream_pids)
                raw.setdefault(f"{shape.key}/{server.name}", []).append(entry)
                print(
                    f"  round {r + 1} {shape.key:16} {server.name:9} {entry['rps']:>10,.0f} req/s  "
                    f"p99 {entry['p99_us']}us  errors {entry['errors']}",
                    flush=True,
                )
    rows = {}
    for shape in shapes:
        for server in servers.values():
            key = f"{shape.key}/{server.name}"
            rows[key] = {"shape": shape.key, "server": server.name, "conns": shape.conns,
                         **report.aggregate(raw[key]), "raw": raw[key]}
        add_ratios(rows, shape.key)
    return {"shapes": {s.key: s.label for s in shapes}, "h2_streams": H2_STREAMS, "rows": rows}


def add_ratios(rows: dict[str, dict], shape: str) -> None:
    """Per shape: req/s, p99 and CPU per request of each server as multiples of nginx's and HAProxy's."""
    peers = {peer: rows.get(f"{shape}/{peer}") for peer in ("nginx", "haproxy")}
    for row in (r for r in rows.values() if r["shape"] == shape):
        for peer, base in peers.items():
            row[f"x_{peer}"] = _ratio(row["rps"], base and base["rps"])
            row[f"p99_x_{peer}"] = _ratio(row["p99_us"], base and base["p99_us"])
            row[f"cpu_x_{peer}"] = _ratio(row.get("proxy_cpu_us_per_req"), base and base.get("proxy_cpu_us_per_req"))


def _ratio(a, b):
    return a / b if a is not None and b else None


HEADER = ("shape", "server", "req/s", "min..max", "x nginx", "x HAProxy", "p50", "p99", "p99 x nginx",
          "CPU/req", "CPU x nginx", "errors")


def table_rows(result: dict) -> list[tuple[str, ...]]:
    out = []
    for row in result["rows"].values():
        cpu = row.get("proxy_cpu_us_per_req")
        out.append(
            (
                row["shape"],
                SERVERS.get(row["server"], row["server"]),
                f"{row['rps']:,.0f}",
                f"{row['rps_min']:,.0f}..{row['rps_max']:,.0f}",
                report._fmt(row.get("x_nginx"), ".2f"),
                report._fmt(row.get("x_haproxy"), ".2f"),
                report._latency(row["p50_us"]),
                report._latency(row["p99_us"]),
                report._fmt(row.get("p99_x_nginx"), ".2f"),
                "-" if cpu is None else f"{cpu:.1f}us",
                report._fmt(row.get("cpu_x_nginx"), ".2f"),
                str(row["errors"]),
            )
        )
    return out


def table(result: dict) -> str:
    lines = [HEADER, *table_rows(result)]
    widths = [max(len(line[i]) for line in lines) for i in range(len(HEADER))]
    out = []
    for n, line in enumerate(lines):
        out.append("  ".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(line, widths))))
        if n == 0:
            out.append("  ".join("-" * w for w in widths))
    return "\n".join(out)


def markdown(result: dict) -> str:
    align = ["---", "---"] + ["---:"] * (len(HEADER) - 2)
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "|".join(align) + "|"]
    lines += ["| " + " | ".join(c[:-2] + " µs" if c.endswith("us") else c for c in r) + " |" for r in table_rows(result)]
    return "\n".join(lines)


def targets(result: dict | None) -> list[dict]:
    """Per shape, Tollgate's authenticated route: req/s ≥ nginx's and HAProxy's, p99 and CPU per
    request ≤ nginx's."""
    if not result:
        return []
    out = []
    for key in result.get("shapes", {}):
        row = result["rows"].get(f"{key}/tollgate")
        if not row:
            continue
        out += [
            report._target(f"{key}: authenticated req/s vs nginx", row.get("x_nginx"), 1.0, True),
            report._target(f"{key}: authenticated req/s vs HAProxy", row.get("x_haproxy"), 1.0, True),
            report._target(f"{key}: authenticated p99 vs nginx p99", row.get("p99_x_nginx"), 1.0, False),
            report._target(f"{key}: authenticated CPU/req vs nginx", row.get("cpu_x_nginx"), 1.0, False),
        ]
    return out
