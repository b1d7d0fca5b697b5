"""Child processes, readiness waits, and per-process CPU/RSS readings from /proc."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

CLK_TCK = os.sysconf("SC_CLK_TCK")


class BenchError(RuntimeError):
    """A precondition of the benchmark failed (a peer did not start, a request was refused)."""


@dataclass
class Child:
    """A process started by the benchmark; its output goes to a log file."""

    name: str
    proc: subprocess.Popen
    log: Path
    extra_pids: Callable[[], list[int]] = field(default=lambda: [])

    @property
    def pid(self) -> int:
        return self.proc.pid

    def pids(self) -> list[int]:
        """The process and its children (nginx workers), for CPU accounting."""
        return [self.pid, *children_of(self.pid)]

    def alive(self) -> bool:
        return self.proc.poll() is None

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


class Supervisor:
    """Starts children in their own process group and stops every one of them at the end."""

    def __init__(self, log_dir: Path):
        self.log_dir = log_dir
        self.children: list[Child] = []

    def start(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> Child:
        log = self.log_dir / f"{name}.log"
        handle = open(log, "ab")
        proc = subprocess.Popen(
            argv,
            stdout=handle,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, **(env or {})},
            start_new_session=True,
        )
        handle.close()
        child = Child(name, proc, log)
        self.children.append(child)
        return child

    def stop(self, child: Child, grace: float = 5.0) -> None:
        if child.alive():
            try:
                os.killpg(child.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                child.proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(child.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                child.proc.wait(timeout=grace)
        if child in self.children:
            self.children.remove(child)

    def stop_all(self) -> None:
        for child in reversed(list(self.children)):
            self.stop(child)


def children_of(pid: int) -> list[int]:
    """Direct children of `pid` (nginx workers of a master), read from /proc/<pid>/task/*/children."""
    out: list[int] = []
    task_dir = Path(f"/proc/{pid}/task")
    try:
        tasks = list(task_dir.iterdir())
    except OSError:
        return out
    for task in tasks:
        try:
            out.extend(int(p) for p in (task / "children").read_text().split())
        except OSError:
            continue
    return out


def parse_stat_cpu_ticks(stat: str) -> int:
    """utime + stime (clock ticks) from the text of /proc/<pid>/stat; the comm field may hold spaces."""
    rest = stat[stat.rindex(")") + 2 :].split()
    # rest[0] is field 3 (state); utime and stime are fields 14 and 15.
    return int(rest[11]) + int(rest[12])


def cpu_seconds(pids: list[int]) -> float:
    """Total user+system CPU seconds of the given processes (all their threads)."""
    ticks = 0
    for pid in pids:
        try:
            ticks += parse_stat_cpu_ticks(Path(f"/proc/{pid}/stat").read_text())
        except (OSError, ValueError, IndexError):
            continue
    return ticks / CLK_TCK


def parse_status_kib(status: str, key: str) -> int | None:
    for line in status.splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return None


def rss_mib(pid: int, key: str = "VmRSS") -> float | None:
    """VmRSS (or VmHWM) of a process in MiB."""
    try:
        kib = parse_status_kib(Path(f"/proc/{pid}/status").read_text(), key)
    except OSError:
        return None
    return None if kib is None else kib / 1024


def wait_until(what: str, condition: Callable[[], bool], timeout: float, child: Child | None = None) -> float:
    """Polls `condition` until it holds; returns the seconds waited. Raises BenchError on timeout
    or when `child` exits first."""
    start = time.monotonic()
    deadline = start + timeout
    delay = 0.005
    while True:
        if condition():
            return time.monotonic() - start
        if child is not None and not child.alive():
            raise BenchError(f"{child.name} exited while waiting for {what}:\n{child.log_tail()}")
        if time.monotonic() > deadline:
            tail = f":\n{child.log_tail()}" if child else ""
            raise BenchError(f"timed out after {timeout:.0f}s waiting for {what}{tail}")
        time.sleep(delay)
        delay = min(delay * 2, 0.1)


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def port_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
            return True
        except OSError:
            return False


def http_status(url: str, timeout: float = 2.0) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.status
    except urllib.error.HTTPError as err:
        return err.code
    except (OSError, ValueError):
        return None
