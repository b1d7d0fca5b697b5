"""Fixtures: a real emulator process on a free loopback port, the real kubectl pointed at it, and
small HTTP helpers for what kubectl does not expose (raw PUTs, status writes, watch streams).

With TOLLGATE_EMULATOR_TESTS_BACKEND=real the same API tests run against the real kube-apiserver
(scripts/apiserver.sh, the `apiserver` tier) instead, to find where the emulator differs; the
tests of the emulator's own features (restart with state, audit log, unit tests) are skipped
then. Differences found are fixed in the emulator or listed in its README."""

from __future__ import annotations

import http.client
import itertools
import json
import os
import select
import shutil
import ssl
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

    def connection(self, timeout: float) -> http.client.HTTPConnection:
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)

    def request(self, method: str, path: str, body=None, content_type: str = "application/json", headers=None):
        conn = self.connection(10)
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
        conn = self.connection(timeout)
        conn.request("GET", path, headers={"User-Agent": "emulator-tests"})
        resp = conn.getresponse()
        assert resp.status == 200, resp.read()

        def next_event():
            line = resp.readline()
            return json.loads(line) if line.strip() else None

        next_event.close = conn.close
        return next_event


class RealServer(Emulator):
    """The real kube-apiserver with its etcd (scripts/apiserver.sh), behind the same helpers:
    HTTPS with the admin client certificate it generated."""

    def start(self) -> "RealServer":
        server = self.workdir / "server"
        out = subprocess.run(
            ["bash", str(REPO / "scripts" / "apiserver.sh"), "start", str(server)],
            capture_output=True, text=True, timeout=600, check=False,
        )
        ready = [line for line in out.stdout.splitlines() if line.startswith("READY ")]
        if out.returncode != 0 or not ready:
            raise RuntimeError(f"kube-apiserver did not start: {out.stderr[-2000:]}")
        fields = dict(part.split("=", 1) for part in ready[0].split()[1:])
        self.kubeconfig = Path(fields["kubeconfig"])
        self.port = int(fields["url"].rsplit(":", 1)[1])
        pki = server / "pki"
        self.tls = ssl.create_default_context(cafile=str(pki / "ca.crt"))
        self.tls.load_cert_chain(str(pki / "admin.crt"), str(pki / "admin.key"))
        return self

    def stop(self) -> None:
        subprocess.run(
            ["bash", str(REPO / "scripts" / "apiserver.sh"), "stop", str(self.workdir / "server")],
            capture_output=True, timeout=120, check=False,
        )

    def connection(self, timeout: float) -> http.client.HTTPConnection:
        return http.client.HTTPSConnection("127.0.0.1", self.port, timeout=timeout, context=self.tls)


REAL = os.environ.get("TOLLGATE_EMULATOR_TESTS_BACKEND") == "real"
# What only the emulator has: restarts with a state file, its audit log, its own units.
EMULATOR_ONLY = {"test_restart_and_audit.py", "test_units.py", "test_rbac.py"}


def pytest_collection_modifyitems(config, items):
    if not REAL:
        return
    skip = pytest.mark.skip(reason="a feature of the emulator itself, not of the Kubernetes API")
    for item in items:
        if item.fspath.basename in EMULATOR_ONLY:
            item.add_marker(skip)


def differs_on_real(reason: str, strict: bool = True):
    """Marks a test of behaviour where the emulator knowingly differs from kube-apiserver (each
    one listed in e2e/emulator/README.md): expected to fail against the real server."""
    return pytest.mark.xfail(REAL, reason=f"the emulator differs from kube-apiserver: {reason}", strict=strict)


_counter = itertools.count()


@pytest.fixture(scope="session")
def emulator(tmp_path_factory):
    emu = (RealServer if REAL else Emulator)(tmp_path_factory.mktemp("emulator")).start()
    emu.kubectl("apply", "-f", str(FIXTURES / "widget-crd.yaml"))
    if REAL:
        # The real server serves a new CRD only once it is Established (a listed difference).
        emu.kubectl("wait", "--for=condition=Established", "crd", "--all", "--timeout=60s")
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
