#!/usr/bin/env python3
"""Profiles Tollgate's hot path with valgrind/callgrind (perf has no hardware counters on these
VMs: `perf stat -e instructions true` reports <not supported>).

Starts the nginx upstream and `tollgate-controller standalone` under callgrind with collection
off, switches collection on only while wrk drives one scenario, dumps, and writes the top
functions (inclusive and exclusive) to scripts/bench/results/profile-<scenario>.txt.

    python3 scripts/bench/profile.py [--scenario auth|auth-limited|open|token-plain|auth-close|auth-tls|auth-tls-close|auth-h2]
                                     [--seconds 15] [--tollgate proxy] [--access-log off|on] [--keep] [--out FILE]

The `auth-*` scenarios are the traffic shapes of the benchmark's `shapes` phase on the
authenticated route: a new TCP connection per request (`close`), TLS keep-alive (`tls`), a new
TLS connection per request (`tls-close`) and HTTP/2 over TLS (`h2`, h2load); TLS uses the
benchmark's ECDSA P-256 certificate. `auth-limited` is the authenticated route with a rate limit
that is never reached (standalone mode). The gateway's access log is off, as in the benchmark's
matrix and shapes; `--access-log on` profiles its cost.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from benchlib import shapes
from benchlib import tollgate as tg
from benchlib.peers import nginx_upstream_conf, start_nginx
from benchlib.procs import BenchError, Supervisor, http_status, wait_until
from benchlib.wrk import Target, measure

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent.parent


def annotate(out_file: Path, inclusive: bool) -> str:
    argv = ["callgrind_annotate", f"--inclusive={'yes' if inclusive else 'no'}", "--threshold=99", str(out_file)]
    res = subprocess.run(argv, capture_output=True, text=True, check=False)
    return "\n".join(res.stdout.splitlines()[:90]) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "--scenario",
        choices=["auth", "auth-limited", "open", "token-plain", "auth-close", "auth-tls", "auth-tls-close", "auth-h2"],
        default="auth",
    )
    ap.add_argument("--seconds", type=float, default=15)
    ap.add_argument("--conns", type=int, default=8)
    ap.add_argument("--tollgate", choices=["standalone", "proxy"], default="standalone")
    ap.add_argument("--routes", type=int, default=10, help="extra routes in the pushed snapshot (proxy mode)")
    ap.add_argument("--bin-dir", type=Path, default=REPO / "target" / "release")
    ap.add_argument("--port-base", type=int, default=24200)
    ap.add_argument(
        "--access-log", choices=["on", "off"], default="off",
        help="the gateway's access log: off (the default) as in the benchmark's matrix and shapes, or on (to a file)",
    )
    ap.add_argument("--keep", action="store_true", help="also keep the raw callgrind file beside the report (.callgrind)")
    ap.add_argument("--out", type=Path, help="report file (default results/profile-<mode>-<scenario>.txt)")
    args = ap.parse_args()
    if not shutil.which("valgrind"):
        raise BenchError("valgrind is not installed (apt-get install -y --no-install-recommends valgrind)")
    work = BENCH / ".work-profile"
    shutil.rmtree(work, ignore_errors=True)
    (work / "logs").mkdir(parents=True)
    up, http, https, admin = (args.port_base + i for i in range(4))
    sup = Supervisor(work / "logs")
    try:
        start_nginx(sup, work, "upstream", nginx_upstream_conf(work, up, os.cpu_count() or 2), up)
        secrets = {"hashed": "profile-hashed-secret", "plain": "profile-plain-secret"}
        cg_out = work / "callgrind.out"
        valgrind = ["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={cg_out}"]
        cert, key, _ = shapes.certificate(work / "tls")
        listen = [
            "--http-addr", f"127.0.0.1:{http}", "--https-addr", f"127.0.0.1:{https}",
            "--admin-addr", f"127.0.0.1:{admin}", "--trusted-proxies", "127.0.0.1/32",
            "--tls-cert", str(cert), "--tls-key", str(key), "--access-log", args.access_log,
        ]
        ready = f"http://127.0.0.1:{admin}/readyz"
        if args.tollgate == "standalone":
            tg.write_base_manifests(work / "manifests", up, secrets)
            argv = [str(args.bin_dir / "tollgate-controller"), "standalone", "--manifests", str(work / "manifests"),
                    "--state-dir", str(work / "state"), *listen]
            child = sup.start("tollgate-callgrind", [*valgrind, *argv], env={"RUST_LOG": "warn"})
            wait_until("standalone under valgrind", lambda: http_status(ready) == 200, 300, child)
            client, secret, protected = "bench-plain", secrets["plain"], "/protected"
        else:
            token_file = work / "config-token"
            token_file.write_text("profile-config-token")
            # The benchmark's upstream is on loopback, which tollgate-proxy refuses by default.
            argv = [str(args.bin_dir / "tollgate-proxy"), *listen, "--config-token-file", str(token_file), "--config-channel-plaintext",
                    "--metrics-addr", f"127.0.0.1:{args.port_base + 4}",
                    "--backend-allow-cidr", "127.0.0.0/8"]
            child = sup.start("tollgate-callgrind", [*valgrind, *argv], env={"RUST_LOG": "warn"})
            ready = f"http://127.0.0.1:{args.port_base + 4}/readyz"
            wait_until("tollgate-proxy under valgrind", lambda: http_status(ready) is not None, 300, child)
            key = base64.b64encode(b"profile-signing-key-0123456789abcdef").decode()
            snap = json.dumps(tg.snapshot(10, args.routes, up, secrets["plain"], key)).encode()
            status, body, _ = tg.post_config(admin, "profile-config-token", snap)
            if status != 200:
                raise BenchError(f"POST /config refused: {status} {body[:300]!r}")
            client, secret, protected = "bench-client", secrets["plain"], "/bench"
        bearer, _ = tg.fetch_token(http, https, client, secret)
        auth = {"Authorization": f"Bearer {bearer}"}
        close = {**auth, "Connection": "close"}
        target = {
            "auth": Target("auth", f"http://127.0.0.1:{http}{protected}", headers=auth),
            "auth-limited": Target("auth-limited", f"http://127.0.0.1:{http}/limited", headers=auth),
            "auth-close": Target("auth-close", f"http://127.0.0.1:{http}{protected}", headers=close),
            "auth-tls": Target("auth-tls", f"https://127.0.0.1:{https}{protected}", headers=auth),
            "auth-tls-close": Target("auth-tls-close", f"https://127.0.0.1:{https}{protected}", headers=close),
            "auth-h2": Target("auth-h2", f"https://127.0.0.1:{https}{protected}", headers=auth),
            "open": Target("open", f"http://127.0.0.1:{http}/open"),
            "token-plain": Target(
                "token-plain", f"http://127.0.0.1:{http}{tg.TOKEN_PATH}", "POST",
                tg.token_form(client, secret),
                {"Content-Type": "application/x-www-form-urlencoded", "X-Forwarded-Proto": "https"},
            ),
        }[args.scenario]
        def drive(seconds: float) -> tuple[int, int]:
            if args.scenario == "auth-h2":
                res, _ = shapes.measure_h2(target.url, target.headers or {}, work, args.conns, seconds, 1, {})
                return res["requests"], res["errors"]
            res, _ = measure(target, work, args.conns, seconds, 1, {})
            return res.requests, res.errors

        drive(2)  # warm-up, not collected
        subprocess.run(["callgrind_control", "-i", "on", str(child.pid)], check=True, capture_output=True)
        requests, errors = drive(args.seconds)
        subprocess.run(["callgrind_control", "-d", str(child.pid)], check=True, capture_output=True)
        dumps = sorted(work.glob("callgrind.out*"), key=lambda p: p.stat().st_size)
        if not dumps:
            raise BenchError("callgrind wrote no profile")
        biggest = dumps[-1]
        report = (
            f"scenario {args.scenario}: {requests} requests under callgrind "
            f"({errors} errors), profile {biggest.name}\n\n== inclusive\n"
            + annotate(biggest, True)
            + "\n== exclusive (self)\n"
            + annotate(biggest, False)
        )
        suffix = f"-{args.routes}routes" if args.tollgate == "proxy" and args.routes != 10 else ""
        out = args.out or BENCH / "results" / f"profile-{args.tollgate}-{args.scenario}{suffix}.txt"
        out.write_text(report)
        if args.keep:
            shutil.copy2(biggest, out.with_suffix(".callgrind"))
        print(f"wrote {out} ({requests} requests profiled)")
    finally:
        sup.stop_all()
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchError as err:
        print(f"profile: {err}", file=sys.stderr)
        sys.exit(1)
