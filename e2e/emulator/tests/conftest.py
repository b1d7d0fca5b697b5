"""Fixtures: a real emulator process on a free loopback port, the real kubectl pointed at it, and
small HTTP helpers for what kubectl does not expose (raw PUTs, status writes, watch streams)."""

from __future__ import annotations

import http.client
import itertools
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[3]
# `python -m emulator` runs from the directory that holds the package (e2e/)
PACKAGE_PARENT = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).resolve().parent / "fixtures"
KUBECTL = shutil.which("kubectl") or "/usr/bin/kubectl"
WIDGETS = "/apis/test.tollgate.dev/v1alpha1"


class Emulator:
    def __init__(self, workdir: Path, *extra: str, port: int = 0):
        self.workdir = workdir
        self.kubeconfig = workdir / "kubeconfig"
        self.audit = workdir / "audit.jsonl"
        self.state = workdir / "state.json"
        self.extra = extra
        self.port = port
        self.proc: subprocess.Popen | None = None

    def start(self) -> "Emulator":
        port_file = self.workdir / "port"
        port_file.unlink(missing_ok=True)
        cmd = [
            sys.executable,
            "-m",
            "emulator",
            "--port",
            str(self.port),
            "--kubeconfig",
            str(self.kubeconfig),
            "--audit-log",
            str(self.audit),
            "--state",
            str(self.state),
            "--port-file",
            str(port_file),
            *self.extra,
        ]
        self.proc = subprocess.Popen(
            cmd, cwd=PACKAGE_PARENT, stdout=subprocess.PIPE, stderr=open(self.workdir / "stderr", "ab"), text=True
        )
        # The emulator prints its address once it listens: wait for that line, not for a clock.
        ready, _, _ = select.select([self.proc.stdout], [], [], 15)
        line = self.proc.stdout.readline() if ready else ""
        if not line.startswith("emulator listening on http://127.0.0.1:"):
            self.stop()
            raise RuntimeError(f"emulator did not start: {line!r} {(self.workdir / 'stderr').read_text()}")
        self.port = int(line.rsplit(":", 1)[1])
        assert int(port_file.read_text()) == self.port
        assert self.request("GET", "/version")[0] == 200
        return self

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=10)
        if self.proc and self.proc.stdout:
            self.proc.stdout.close()

    # ------------------------------------------------------------ clients
    def kubectl(
        self, *args: str, stdin: str | None = None, check: bool = True, env: dict | None = None
    ) -> subprocess.CompletedProcess:
        env = {
            **os.environ,
            "KUBECONFIG": str(self.kubeconfig),
            "KUBECACHEDIR": str(self.workdir / "kcache"),
            **(env or {}),
        }
        res = subprocess.run([KUBECTL, *args], input=stdin, capture_output=True, text=True, env=env, timeout=60)
        if check and res.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed: {res.stderr}")
        return res

    def kubectl_json(self, *args: str) -> dict:
        return json.loads(self.kubectl(*args, "-o", "json").stdout)

    def request(self, method: str, path: str, body=None, content_type: str = "application/json", headers=None):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        data = body if isinstance(body, (bytes, str)) or body is None else json.dumps(body)
        hdrs = {"Content-Type": content_type, "User-Agent": "emulator-tests", **(headers or {})}
        conn.request(method, path, body=data, headers=hdrs)
        resp = conn.getresponse()
        raw = resp.read()
        conn.close()
        try:
            return resp.status, json.loads(raw) if raw else None
        except ValueError:
            return resp.status, raw.decode()

    def watch(self, path: str, timeout: float = 10):
        """Opens a watch; returns a function giving the next event (or None at end of stream)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        conn.request("GET", path, headers={"User-Agent": "emulator-tests"})
        resp = conn.getresponse()
        assert resp.status == 200, resp.read()

        def next_event():
            line = resp.readline()
            return json.loads(line) if line.strip() else None

        next_event.close = conn.close
        return next_event


_counter = itertools.count()


@pytest.fixture(scope="session")
def emulator(tmp_path_factory):
    emu = Emulator(tmp_path_factory.mktemp("emulator")).start()
    emu.kubectl("apply", "-f", str(FIXTURES / "widget-crd.yaml"))
    yield emu
    emu.stop()


@pytest.fixture
def ns(emulator) -> str:
    """A fresh namespace per test, so tests sharing one emulator never see each other's objects."""
    name = f"t{next(_counter)}-{uuid.uuid4().hex[:6]}"
    emulator.kubectl("create", "namespace", name)
    return name


def widget(name: str, ns: str, **spec) -> str:
    doc = {
        "apiVersion": "test.tollgate.dev/v1alpha1",
        "kind": "Widget",
        "metadata": {"name": name, "namespace": ns},
        "spec": {"color": "blue", **spec},
    }
    return yaml.safe_dump(doc)
