"""Running wrk: a Lua script per target (static method/body/headers, so wrk stays on its fast
path) whose `done()` prints one machine-readable summary line, and parsing that line."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from dataclasses import dataclass, asdict
from pathlib import Path

from .procs import BenchError, cpu_seconds

MARKER = "WRKJSON "

DONE_LUA = r"""
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests":%d,"duration_us":%d,"bytes":%d,"connect":%d,"read":%d,"write":%d,' ..
    '"status":%d,"timeout":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,"mean_us":%.1f,"max_us":%d}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write,
    e.status, e.timeout, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.mean, latency.max))
end
"""


def lua_quote(s: str) -> str:
    """A Lua string literal for `s` (only printable ASCII is expected here)."""
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def lua_script(
    method: str = "GET",
    body: str | None = None,
    headers: dict[str, str] | None = None,
    bodies: list[str] | None = None,
) -> str:
    """A static request (wrk's fast path), or with `bodies` a `request()` that cycles through
    them (slower per request; used for floods only)."""
    lines = [f"wrk.method = {lua_quote(method)}"]
    if body is not None:
        lines.append(f"wrk.body = {lua_quote(body)}")
    for name, value in (headers or {}).items():
        lines.append(f"wrk.headers[{lua_quote(name)}] = {lua_quote(value)}")
    if bodies:
        lines.append("local bodies = {" + ", ".join(lua_quote(b) for b in bodies) + "}")
        lines.append("local next_body = 0")
        lines.append("request = function()")
        lines.append("  next_body = next_body % #bodies + 1")
        lines.append("  return wrk.format(nil, nil, nil, bodies[next_body])")
        lines.append("end")
    return "\n".join(lines) + "\n" + DONE_LUA


@dataclass
class WrkResult:
    requests: int
    duration_s: float
    rps: float
    p50_us: int
    p90_us: int
    p99_us: int
    mean_us: float
    max_us: int
    status_errors: int
    socket_errors: int
    timeouts: int

    @property
    def errors(self) -> int:
        return self.status_errors + self.socket_errors + self.timeouts

    def to_dict(self) -> dict:
        return {**asdict(self), "errors": self.errors}


def parse_output(stdout: str) -> WrkResult:
    """The summary line printed by DONE_LUA. wrk counts responses with status > 399 as
    `status` errors; connect/read/write errors are socket errors."""
    for line in stdout.splitlines():
        if line.startswith(MARKER):
            d = json.loads(line[len(MARKER) :])
            duration = d["duration_us"] / 1e6
            return WrkResult(
                requests=d["requests"],
                duration_s=duration,
                rps=d["requests"] / duration if duration > 0 else 0.0,
                p50_us=d["p50_us"],
                p90_us=d["p90_us"],
                p99_us=d["p99_us"],
                mean_us=d["mean_us"],
                max_us=d["max_us"],
                status_errors=d["status"],
                socket_errors=d["connect"] + d["read"] + d["write"],
                timeouts=d["timeout"],
            )
    raise BenchError(f"wrk printed no summary line:\n{stdout[-2000:]}")


@dataclass
class Target:
    """One thing wrk hammers: a URL plus the request it sends."""

    name: str
    url: str
    method: str = "GET"
    body: str | None = None
    headers: dict[str, str] | None = None
    bodies: list[str] | None = None

    def script(self, work: Path) -> Path:
        path = work / f"wrk-{self.name}.lua"
        path.write_text(lua_script(self.method, self.body, self.headers, self.bodies))
        return path


def wrk_argv(target: Target, script: Path, conns: int, duration: float, threads: int) -> list[str]:
    threads = max(1, min(threads, conns))
    return [
        "wrk",
        f"-t{threads}",
        f"-c{conns}",
        f"-d{max(1, round(duration))}s",
        "--timeout",
        "5s",
        "--latency",
        "-s",
        str(script),
        target.url,
    ]


class WrkRun:
    """A wrk process running in the background (for floods and reload-under-load)."""

    def __init__(self, target: Target, work: Path, conns: int, duration: float, threads: int):
        self.argv = wrk_argv(target, target.script(work), conns, duration, threads)
        self.proc = subprocess.Popen(
            self.argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True
        )

    def interrupt(self) -> None:
        """wrk stops early on SIGINT and still prints its summary."""
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGINT)

    def result(self, timeout: float = 120) -> WrkResult:
        stdout, _ = self.proc.communicate(timeout=timeout)
        return parse_output(stdout)


def measure(
    target: Target, work: Path, conns: int, duration: float, threads: int, cpu_pids: dict[str, list[int]]
) -> tuple[WrkResult, dict[str, float]]:
    """Runs wrk to completion; returns its result and the CPU seconds each named process group
    spent meanwhile (utime+stime deltas)."""
    before = {name: cpu_seconds(pids) for name, pids in cpu_pids.items()}
    run = WrkRun(target, work, conns, duration, threads)
    result = run.result(timeout=duration + 60)
    after = {name: cpu_seconds(pids) for name, pids in cpu_pids.items()}
    return result, {name: after[name] - before[name] for name in cpu_pids}
