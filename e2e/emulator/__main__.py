"""``python -m emulator --port 0 --kubeconfig OUT [--audit-log FILE] [--state FILE] [--port-file FILE]``"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading

from .api import Api
from .registry import Registry
from .server import Audit, make_server
from .store import Store

log = logging.getLogger("emulator")


def kubeconfig(server: str, user: str = "emulator") -> str:
    return f"""apiVersion: v1
kind: Config
clusters:
- name: emulator
  cluster:
    server: {server}
users:
- name: emulator
  user:
    token: {user}
contexts:
- name: emulator
  context:
    cluster: emulator
    user: emulator
    namespace: default
current-context: emulator
"""


def _write(path: str, text: str) -> None:
    tmp = f"{path}.tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m emulator", description="A Kubernetes API emulator on loopback.")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=0, help="port; 0 picks a free one (default 0)")
    p.add_argument("--kubeconfig", help="write a kubeconfig pointing at the emulator to this file")
    p.add_argument(
        "--kubeconfig-for",
        action="append",
        default=[],
        metavar="USER=FILE",
        help="also write a kubeconfig whose bearer token is USER (the audit log's user); repeatable",
    )
    p.add_argument("--port-file", help="write the port to this file once listening")
    p.add_argument("--audit-log", help="append one JSON line per request to this file")
    p.add_argument("--state", help="load objects from this file on start, save them to it while running and on exit")
    p.add_argument(
        "--watch-history", type=int, default=10000, help="watch events kept; older resourceVersions get 410 Gone"
    )
    p.add_argument("--log-level", default="WARNING")
    args = p.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s")

    store = Store(history_limit=max(2, args.watch_history))
    if args.state and store.load(args.state):
        log.warning("loaded state from %s at resourceVersion %d", args.state, store.rv)
    api = Api(Registry(), store)
    api.bootstrap()
    server = make_server(api, args.host, args.port, Audit(args.audit_log))
    host, port = server.server_address[:2]
    url = f"http://{host}:{port}"
    if args.kubeconfig:
        _write(args.kubeconfig, kubeconfig(url))
    for spec in args.kubeconfig_for:
        user, sep, path = spec.partition("=")
        if not sep or not user or not path:
            p.error(f"--kubeconfig-for wants USER=FILE, got {spec!r}")
        _write(path, kubeconfig(url, user))
    if args.port_file:
        _write(args.port_file, f"{port}\n")
    print(f"emulator listening on {url}", flush=True)

    stopping = threading.Event()

    def saver() -> None:
        while not stopping.wait(1.0):
            if args.state and store.dirty:
                store.save(args.state)

    def stop(signum, _frame) -> None:
        log.warning("signal %d: shutting down", signum)
        stopping.set()
        store.stop()
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    threading.Thread(target=saver, daemon=True).start()
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()
        if args.state:
            store.save(args.state)
    return 0


if __name__ == "__main__":
    sys.exit(main())
