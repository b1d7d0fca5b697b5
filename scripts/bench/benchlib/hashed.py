"""The `hashed` phase: `tollgate-controller` with N credentials whose client secrets are hashed with
argon2id (`hashSecret: true`, the OAuth2Credential default), each with its own Consumer and its own
labelled Secret. For every N it starts the controller twice on the same state:

- cold: nothing kept, every secret is hashed before the first configuration;
- warm: a restart that finds the sealed verifiers of the cold run (standalone mode: the state
  directory; operator: the `tollgate-verifier-cache-*` Secrets).

and reads, from the controller's JSON log (timestamps) and /proc/<pid>/status, the time from process
start to the first configuration (standalone: "configuration applied"; operator: "first snapshot
published"), the peak RSS until then (VmHWM) and the RSS right after it (VmRSS).

Standalone mode runs on a manifest directory. The operator (`tollgate-controller run`) runs against
the project's Kubernetes API emulator (`python -m emulator`, as the cluster-less e2e suite does),
with the objects created by the real kubectl from the same manifests, and no proxy replica behind the
config Service (the figures are the controller's own).
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from . import tollgate as tg
from .procs import BenchError, Child, Supervisor, cpu_seconds, http_status, rss_mib, wait_until

STANDALONE = "standalone"
OPERATOR = "operator"
MODES = (STANDALONE, OPERATOR)
# The performance targets for this phase (docs/performance.md).
RSS_TARGET_MIB = 200.0
WARM_TARGET_S = 10.0
TARGET_CREDENTIALS = 10_000

SYSTEM_NS = "tollgate-system"
PROXY_SERVICE = "tollgate-proxy-config"
CONFIG_TOKEN_SECRET = "tollgate-config-token"
SIGNING_KEYS_SECRET = "tollgate-signing-keys"
VERIFIER_CACHE_LABEL = "tollgate.dev/secret=verifier-cache"
LEASE_NAME = "tollgate-controller"
# kubectl processes creating the objects at once.
LOADERS = 16
# Kubernetes' default terminationGracePeriodSeconds: SIGKILL after this.
STOP_GRACE_S = 30

# Messages the controller logs (crates/controller/src/standalone/mod.rs, operator/{mod,reconcile}.rs).
MSG_APPLIED = "configuration applied"
MSG_SERVING = "standalone mode serving"
MSG_HASHING = "hashing client secrets before serving"
MSG_HASHED = "client secrets hashed"
MSG_KEPT_READ = "read the kept verifiers"
MSG_SYNCED = "caches synced"
MSG_PUBLISHED = "first snapshot published"
MSG_KEPT_WRITTEN = "kept the verifiers"
MSG_NEW_SNAPSHOT = "new snapshot"


# ---------------------------------------------------------------- log reading (pure helpers)


def parse_timestamp(text: str) -> float:
    """Seconds since the epoch of an RFC 3339 timestamp as tracing writes it
    (`2026-12-04T21:57:27.123456789Z`): any number of fraction digits, `Z` or an offset."""
    text = text.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    head, sep, rest = text.partition(".")
    if sep:
        digits = len(rest) - len(rest.lstrip("0123456789"))
        fraction, zone = rest[:digits], rest[digits:]
        text = f"{head}.{(fraction + '000000')[:6]}{zone}"
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise ValueError(f"timestamp without a time zone: {text!r}")
    return moment.timestamp()


def parse_log_line(line: str) -> dict | None:
    """One line of `--log-format json` (flattened events): the event with `t` (epoch seconds)
    added, or None for anything else (a partial line, text output)."""
    line = line.strip()
    if not line.startswith("{"):
        return None
    try:
        event = json.loads(line)
    except ValueError:
        return None
    if not isinstance(event, dict) or "message" not in event or "timestamp" not in event:
        return None
    try:
        event["t"] = parse_timestamp(str(event["timestamp"]))
    except ValueError:
        return None
    return event


@dataclass
class LogWatch:
    """Reads a child's JSON log as it grows."""

    path: Path
    offset: int = 0
    events: list[dict] = field(default_factory=list)
    _partial: str = ""

    def poll(self) -> None:
        try:
            with open(self.path, "rb") as f:
                f.seek(self.offset)
                data = f.read()
        except OSError:
            return
        self.offset += len(data)
        lines = (self._partial + data.decode("utf-8", "replace")).split("\n")
        self._partial = lines.pop()
        for line in lines:
            event = parse_log_line(line)
            if event is not None:
                self.events.append(event)

    def find(self, message: str) -> dict | None:
        return next((e for e in self.events if e.get("message") == message), None)

    def wait_for(self, message: str, timeout: float, child: Child) -> dict:
        def seen() -> bool:
            self.poll()
            return self.find(message) is not None

        wait_until(f"{child.name} to log {message!r}", seen, timeout, child)
        event = self.find(message)
        assert event is not None
        return event


def run_figures(started: float, first: dict, kept_read: dict | None, hashing: dict | None, hashed: dict | None) -> dict:
    """Times (seconds after `started`, the epoch time just before the process was spawned) and
    counts from the controller's log events."""
    out: dict = {"first_config_s": round(first["t"] - started, 3)}
    if kept_read is not None:
        out["kept_read_s"] = round(kept_read["t"] - started, 3)
        out["kept_read"] = kept_read.get("verifiers")
    out["secrets_hashed"] = int(hashing.get("secrets", 0)) if hashing else 0
    if hashing and hashing.get("threads") is not None:
        out["hash_threads"] = hashing["threads"]
    if hashed is not None and hashed.get("elapsed_ms") is not None:
        out["hashing_s"] = round(int(hashed["elapsed_ms"]) / 1000, 3)
    return out


# ---------------------------------------------------------------- the phase


@dataclass
class HashedCtx:
    work: Path
    sup: Supervisor
    bin_dir: Path
    repo: Path
    ports: dict[str, int]
    hash_threads: int | None = None


def _timeout(n: int) -> float:
    """Bound of one start: cold runs hash n secrets at ~20 ms each on one thread, plus slack."""
    return 120 + n * 0.1


def write_manifests(dir_: Path, n: int, secret: str) -> int:
    """The token endpoint (`/auth`, oauth2 client credentials) and n hashed credentials, each with
    its own Consumer and labelled Secret; returns the bytes written."""
    dir_.mkdir(parents=True, exist_ok=True)
    base = tg.docs(tg.token_plugin_doc(), tg.route_doc("auth", "/auth", "token", None))
    scale = tg.scale_manifests(n, 0, 0, secret, hash_secret=True, own_secrets=True)
    tg.write_atomic(dir_ / "base.yaml", base)
    tg.write_atomic(dir_ / "scale.yaml", scale)
    return len(base) + len(scale)


def _measure_first(child: Child, log: LogWatch, first: str, timeout: float) -> tuple[dict, dict]:
    event = log.wait_for(first, timeout, child)
    figures = {
        "peak_rss_mib": rss_mib(child.pid, "VmHWM"),
        "rss_after_mib": rss_mib(child.pid),
        "cpu_s": round(cpu_seconds([child.pid]), 2),
        # Other work on the machine stretches the cold runs: keep a trace of it.
        "loadavg_1m": round(os.getloadavg()[0], 2),
    }
    return event, figures


def _stop(sup: Supervisor, child: Child, grace: float) -> dict:
    out = {"peak_rss_run_mib": rss_mib(child.pid, "VmHWM"), "rss_end_mib": rss_mib(child.pid)}
    t0 = time.monotonic()
    sup.stop(child, grace)
    out["stop_s"] = round(time.monotonic() - t0, 2)
    out["exit_code"] = child.proc.returncode
    return out


def standalone_start(ctx: HashedCtx, n: int, start: str, manifests: Path, state: Path, secret: str) -> dict:
    p = ctx.ports
    argv = [
        str(ctx.bin_dir / "tollgate-controller"), "standalone",
        "--manifests", str(manifests),
        "--state-dir", str(state),
        "--http-addr", f"127.0.0.1:{p['hs_http']}",
        "--https-addr", f"127.0.0.1:{p['hs_https']}",
        "--admin-addr", f"127.0.0.1:{p['hs_admin']}",
        "--trusted-proxies", "127.0.0.1/32",
        "--log-format", "json",
    ]
    if ctx.hash_threads:
        argv += ["--hash-threads", str(ctx.hash_threads)]
    name = f"hashed-standalone-{n}-{start}"
    started = time.time()
    child = ctx.sup.start(name, argv, env={"RUST_LOG": "info,tollgate_controller::standalone=debug"})
    log = LogWatch(child.log)
    try:
        first, figures = _measure_first(child, log, MSG_APPLIED, _timeout(n))
        serving = log.wait_for(MSG_SERVING, 60, child)
        ready = f"http://127.0.0.1:{p['hs_admin']}/readyz"
        wait_until(f"{name} /readyz", lambda: http_status(ready) == 200, 30, child)
        out = {
            "n": n, "mode": STANDALONE, "start": start,
            **run_figures(started, first, log.find(MSG_KEPT_READ), log.find(MSG_HASHING), log.find(MSG_HASHED)),
            "serving_s": round(serving["t"] - started, 3),
            **figures,
            "credentials_served": first.get("credentials"),
        }
        # The last client gets a token with its secret: the verifier served (kept or new) is right.
        tg.fetch_token(p["hs_http"], p["hs_https"], tg.scale_client_id(n - 1), f"{secret}-{n - 1}")
        out["token_ok"] = True
        cache = state / "verifier-cache"
        out["kept_bytes"] = cache.stat().st_size if cache.exists() else None
    finally:
        stop = _stop(ctx.sup, child, STOP_GRACE_S)
    out.update(stop)
    return out


# ---------------------------------------------------------------- operator mode


def emulator_python(repo: Path) -> str:
    """TOLLGATE_PYTHON, else the project's .venv (scripts/venv.sh), else this interpreter."""
    env = os.environ.get("TOLLGATE_PYTHON")
    if env:
        return env
    venv = repo / ".venv" / "bin" / "python"
    return str(venv) if venv.exists() else sys.executable


def kubectl_binary(repo: Path) -> str | None:
    """KUBECTL, else .tools/bin/kubectl (scripts/tools.sh), else /usr/bin/kubectl, else PATH."""
    if os.environ.get("KUBECTL"):
        return os.environ["KUBECTL"]
    for path in (repo / ".tools" / "bin" / "kubectl", Path("/usr/bin/kubectl")):
        if path.is_file():
            return str(path)
    return shutil.which("kubectl")


def split_docs(text: str) -> list[str]:
    """The documents of a multi-document YAML text (as `tollgate.docs` joins them)."""
    return [d.strip("\n") for d in ("\n" + text).split("\n---\n") if d.strip()]


def system_manifests(config_token: str, signing_key: bytes) -> str:
    """What the Helm chart would create for the controller: the system namespace, the labelled
    config-token and signing-keys Secrets and the proxies' headless config Service (no replica)."""
    meta = f"  namespace: {SYSTEM_NS}\n"
    return tg.docs(
        f"apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {SYSTEM_NS}\n",
        f"apiVersion: v1\nkind: Secret\nmetadata:\n  name: {CONFIG_TOKEN_SECRET}\n{meta}"
        f"  labels:\n    tollgate.dev/secret: config-token\nstringData:\n  token: {json.dumps(config_token)}\n",
        f"apiVersion: v1\nkind: Secret\nmetadata:\n  name: {SIGNING_KEYS_SECRET}\n{meta}"
        f"  labels:\n    tollgate.dev/secret: signing-keys\ndata:\n  k2026-01-01: {base64.b64encode(signing_key).decode()}\n",
        f"apiVersion: v1\nkind: Service\nmetadata:\n  name: {PROXY_SERVICE}\n{meta}spec:\n  clusterIP: None\n"
        "  publishNotReadyAddresses: true\n  selector:\n    app.kubernetes.io/component: proxy\n"
        "  ports:\n    - name: admin\n      port: 8100\n",
    )


class Cluster:
    """The API emulator and kubectl, for one N (a fresh emulator: the cold run finds no cache)."""

    def __init__(self, ctx: HashedCtx, dir_: Path, n: int):
        self.ctx, self.dir, self.n = ctx, dir_, n
        dir_.mkdir(parents=True, exist_ok=True)
        self.kubeconfig = dir_ / "kubeconfig"
        self.kubectl = kubectl_binary(ctx.repo)
        if not self.kubectl:
            raise BenchError("kubectl not found (KUBECTL, .tools/bin/kubectl, /usr/bin/kubectl or PATH)")
        python = emulator_python(ctx.repo)
        check = subprocess.run([python, "-c", "import yaml"], capture_output=True, timeout=30)
        if check.returncode != 0:
            raise BenchError(f"{python} cannot import yaml (the emulator needs PyYAML: scripts/venv.sh)")
        port = ctx.ports["emulator"]
        self.emulator = ctx.sup.start(
            f"hashed-emulator-{n}",
            [python, "-m", "emulator", "--port", str(port), "--kubeconfig", str(self.kubeconfig)],
            env={"PYTHONPATH": str(ctx.repo / "e2e")},
        )
        version = f"http://127.0.0.1:{port}/version"
        wait_until(
            "the API emulator", lambda: self.kubeconfig.is_file() and http_status(version) == 200, 30, self.emulator
        )

    def run(self, args: list[str], stdin: str | None = None, timeout: float = 60) -> str:
        env = {**os.environ, "KUBECONFIG": str(self.kubeconfig), "KUBECACHEDIR": str(self.dir / "kubecache")}
        try:
            res = subprocess.run(
                [self.kubectl, *args], input=stdin, capture_output=True, text=True, env=env, timeout=timeout
            )
        except subprocess.TimeoutExpired as err:
            raise BenchError(f"kubectl {' '.join(args)}: no answer in {timeout:.0f}s") from err
        if res.returncode != 0:
            raise BenchError(f"kubectl {' '.join(args)} failed: {res.stderr.strip()[:800]}")
        return res.stdout

    def setup(self, manifests: Path) -> float:
        """CRDs, the system objects, the application namespace and the manifests; returns the
        seconds `kubectl create` took for the manifests."""
        self.run(["apply", "-f", str(self.ctx.repo / "crds")])
        self.run(["wait", "--for=condition=Established", "crd", "--all", "--timeout=30s"], timeout=40)
        self.run(["apply", "-f", "-"], system_manifests(base64.urlsafe_b64encode(os.urandom(24)).decode(), os.urandom(32)))
        self.run(["apply", "-f", "-"], f"apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {tg.NS}\n")
        t0 = time.monotonic()
        self.create_parallel(manifests, LOADERS, 600 + self.n * 0.1)
        return round(time.monotonic() - t0, 1)

    def create_parallel(self, manifests: Path, loaders: int, timeout: float) -> None:
        """`kubectl create` of every document of the directory, split over `loaders` kubectl
        processes: each request on a kept-alive connection to the emulator takes ~45 ms of waiting
        (not CPU), so one kubectl would need half an hour for 30,000 objects."""
        docs = [d for f in sorted(manifests.glob("*.yaml")) for d in split_docs(f.read_text())]
        chunks = [docs[i::loaders] for i in range(loaders)]
        env = {**os.environ, "KUBECONFIG": str(self.kubeconfig), "KUBECACHEDIR": str(self.dir / "kubecache")}
        procs = []
        for i, chunk in enumerate(c for c in chunks if c):
            path = self.dir / f"load-{i}.yaml"
            path.write_text("\n---\n".join(chunk) + "\n")
            procs.append(
                subprocess.Popen(
                    [self.kubectl, "create", "-f", str(path)],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.PIPE,
                    env=env,
                    text=True,
                )
            )
        deadline = time.monotonic() + timeout
        failures = []
        try:
            for proc in procs:
                _, err = proc.communicate(timeout=max(1.0, deadline - time.monotonic()))
                if proc.returncode != 0:
                    failures.append(err.strip()[:400])
        except subprocess.TimeoutExpired as err:
            raise BenchError(f"kubectl create: not done in {timeout:.0f}s") from err
        finally:
            for proc in procs:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
        if failures:
            raise BenchError(f"kubectl create failed: {failures[0]}")

    def kept_bytes(self) -> int | None:
        """Bytes of verifiers in the cache Secrets (decoded)."""
        out = json.loads(self.run(["get", "secrets", "-n", SYSTEM_NS, "-l", VERIFIER_CACHE_LABEL, "-o", "json"]))
        sizes = [len(base64.b64decode(v)) for item in out.get("items", []) for v in (item.get("data") or {}).values()]
        return sum(sizes) if sizes else None

    def stop(self) -> None:
        self.ctx.sup.stop(self.emulator, 30)


def operator_start(ctx: HashedCtx, cluster: Cluster, n: int, start: str) -> dict:
    argv = [
        str(ctx.bin_dir / "tollgate-controller"), "run",
        f"--proxy-service={SYSTEM_NS}/{PROXY_SERVICE}",
        f"--config-token-secret={SYSTEM_NS}/{CONFIG_TOKEN_SECRET}",
        f"--signing-key-secret={SYSTEM_NS}/{SIGNING_KEYS_SECRET}",
        f"--admin-addr=127.0.0.1:{ctx.ports['op_admin']}",
        f"--lease-namespace={SYSTEM_NS}",
        "--log-format", "json",
    ]
    if ctx.hash_threads:
        argv += ["--hash-threads", str(ctx.hash_threads)]
    name = f"hashed-operator-{n}-{start}"
    env = {
        "KUBECONFIG": str(cluster.kubeconfig),
        # A new pod name per start, as a restarted pod has; the old one released the Lease.
        "POD_NAME": name,
        "POD_NAMESPACE": SYSTEM_NS,
        "RUST_LOG": "info,tollgate_controller::operator::reconcile=debug",
    }
    started = time.time()
    child = ctx.sup.start(name, argv, env=env)
    log = LogWatch(child.log)
    try:
        first, figures = _measure_first(child, log, MSG_PUBLISHED, _timeout(n))
        synced = log.find(MSG_SYNCED)
        out = {
            "n": n, "mode": OPERATOR, "start": start,
            **run_figures(started, first, log.find(MSG_KEPT_READ), None, None),
            "caches_synced_s": round(synced["t"] - started, 3) if synced else None,
            # Translation passes that built a new snapshot while the secrets were being hashed.
            "snapshots_before_first": sum(1 for e in log.events if e.get("message") == MSG_NEW_SNAPSHOT and e["t"] <= first["t"]),
            "secrets_hashed": first.get("verifiers_hashed"),
            "verifiers_kept": first.get("verifiers_kept"),
            **figures,
        }
        if start == "cold":
            # The warm start needs the sealed verifiers: wait until the leader has written them.
            written = log.wait_for(MSG_KEPT_WRITTEN, 120, child)
            out["kept_written_s"] = round(written["t"] - started, 3)
            out["kept_bytes"] = cluster.kept_bytes()
    finally:
        stop = _stop(ctx.sup, child, STOP_GRACE_S)
    out.update(stop)
    log.poll()
    out["lease_released"] = log.find("released the leader Lease") is not None
    if not out["lease_released"]:
        # Killed before it could release the Lease (see stop_s): the next start would wait for it
        # to expire (--lease-duration-secs, 15 s). Delete it so the warm figure is the restart's own.
        cluster.run(["delete", "lease", LEASE_NAME, "-n", SYSTEM_NS, "--ignore-not-found"])
        out["lease_deleted"] = True
    return out


# ---------------------------------------------------------------- driver


def run(ctx: HashedCtx, counts: list[int], modes: list[str]) -> dict:
    """Cold and warm starts for every N and mode; a failed mode is noted and the others still run."""
    unknown = [m for m in modes if m not in MODES]
    if unknown:
        raise BenchError(f"unknown --hashed-modes: {', '.join(unknown)} (known: {', '.join(MODES)})")
    runs: list[dict] = []
    errors: list[str] = []
    loads: dict[str, float] = {}
    for n in counts:
        base = ctx.work / f"hashed-{n}"
        manifests = base / "manifests"
        secret = base64.urlsafe_b64encode(os.urandom(18)).decode()
        size = write_manifests(manifests, n, secret)
        print(f"   {n:,} hashed credentials ({size / 1e6:.1f} MB of manifests)", flush=True)
        if STANDALONE in modes:
            state = base / "state"
            try:
                for start in ("cold", "warm"):
                    runs.append(standalone_start(ctx, n, start, manifests, state, secret))
                    _progress(runs[-1])
            except (BenchError, OSError, AssertionError) as err:
                errors.append(f"standalone {n}: {err}")
                print(f"   standalone {n} failed: {err}", flush=True)
        if OPERATOR in modes:
            cluster = None
            try:
                cluster = Cluster(ctx, base / "operator", n)
                loads[str(n)] = cluster.setup(manifests)
                print(f"   operator: {3 * n:,} objects created with kubectl in {loads[str(n)]:.0f}s", flush=True)
                for start in ("cold", "warm"):
                    runs.append(operator_start(ctx, cluster, n, start))
                    _progress(runs[-1])
            except (BenchError, OSError, AssertionError, subprocess.SubprocessError) as err:
                errors.append(f"operator {n}: {err}")
                print(f"   operator {n} failed: {err}", flush=True)
            finally:
                if cluster is not None:
                    cluster.stop()
    return {
        "counts": counts,
        "modes": modes,
        "hash_threads": ctx.hash_threads or "default (cores - 1)",
        "kubectl_create_s": loads,
        "runs": runs,
        "errors": errors,
    }


def _progress(r: dict) -> None:
    print(
        f"   {r['mode']:10} {r['n']:>6,} {r['start']:4}  first config {r['first_config_s']:7.2f}s  "
        f"peak RSS {r['peak_rss_mib']:6.1f} MiB  RSS after {r['rss_after_mib']:6.1f} MiB  "
        f"hashed {r.get('secrets_hashed')}  cpu {r['cpu_s']:.1f}s",
        flush=True,
    )
