"""HTTP front end: routing of Kubernetes API paths, JSON bodies, chunked watch streams, ``Table``
and ``PartialObjectMetadata`` answers, and the audit log of every request."""

from __future__ import annotations

import json
import logging
import select
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from . import discovery, protobuf, tables
from .api import Api, Ctx
from .errors import ApiError, method_not_allowed

log = logging.getLogger("emulator.server")


class Route:
    """A parsed resource path: ``/apis/<group>/<version>/[namespaces/<ns>/]<plural>[/<name>[/<sub>]]``."""

    def __init__(self, group, version, plural, ns=None, name=None, sub=None, watch=False):
        self.group, self.version, self.plural = group, version, plural
        self.ns, self.name, self.sub, self.watch = ns, name, sub, watch


def parse_resource_path(parts: list[str]) -> Route | None:
    if parts[:1] == ["api"] and len(parts) >= 3:
        group, version, rest = "", parts[1], parts[2:]
    elif parts[:1] == ["apis"] and len(parts) >= 4:
        group, version, rest = parts[1], parts[2], parts[3:]
    else:
        return None
    watch = False
    if rest[:1] == ["watch"]:
        watch, rest = True, rest[1:]
    ns = None
    if (
        len(rest) >= 3
        and rest[0] == "namespaces"
        and not (group == "" and len(rest) == 3 and rest[2] in ("status", "finalize"))
    ):
        ns, rest = rest[1], rest[2:]
    if not rest or len(rest) > 3:
        return None
    return Route(
        group, version, rest[0], ns, rest[1] if len(rest) > 1 else None, rest[2] if len(rest) > 2 else None, watch
    )


class Audit:
    def __init__(self, path: str | None):
        self._lock = threading.Lock()
        self._file = open(path, "a", encoding="utf-8", buffering=1) if path else None

    def record(self, entry: dict) -> None:
        if self._file is None:
            return
        line = json.dumps(entry, sort_keys=True)
        with self._lock:
            self._file.write(line + "\n")


def rbac_verb(method: str, route: Route | None, params: dict) -> str:
    if route is None:
        return method.lower()
    if method == "GET":
        if route.watch or params.get("watch") in ("true", "1"):
            return "watch"
        return "get" if route.name else "list"
    if method == "DELETE" and not route.name:
        return "deletecollection"
    return {"POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}.get(method, method.lower())


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes: without TCP_NODELAY a kept-alive client waits
    # for the delayed ACK (~40 ms) on every request.
    disable_nagle_algorithm = True
    server_version = "tollgate-kube-emulator/0.1"
    api: Api
    audit: Audit

    def log_message(self, fmt, *args):  # noqa: D401 - quiet default logging
        log.debug("%s %s", self.address_string(), fmt % args)

    # ------------------------------------------------------------ plumbing
    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().strip().split(b";")[0] or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _audit(self, code: int) -> None:
        """Record the request once, before its answer goes out (a client that saw the answer
        finds the line in the log)."""
        entry, self._audit_entry = self._audit_entry, None
        if entry is not None:
            entry["code"] = code
            self.audit.record(entry)

    def _send(self, code: int, body: dict, warnings: list[str] | None = None) -> None:
        self._audit(code)
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        if self.close_connection:
            self.send_header("Connection", "close")
        for w in warnings or []:
            self.send_header("Warning", '299 - "' + w.replace('"', '\\"') + '"')
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def do_GET(self):
        self._dispatch()

    def do_POST(self):
        self._dispatch()

    def do_PUT(self):
        self._dispatch()

    def do_PATCH(self):
        self._dispatch()

    def do_DELETE(self):
        self._dispatch()

    def do_HEAD(self):
        self._dispatch()

    # ------------------------------------------------------------ dispatch
    def _dispatch(self) -> None:
        url = urlsplit(self.path)
        params = {k: v[0] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
        parts = [p for p in url.path.split("/") if p]
        body = self._body() if self.command in ("POST", "PUT", "PATCH", "DELETE") else b""
        route = parse_resource_path(parts)
        auth = self.headers.get("Authorization", "")
        entry = {
            "ts": time.time(),
            "method": self.command,
            "path": url.path,
            "query": url.query,
            "user": auth[7:].strip() if auth.lower().startswith("bearer ") else "system:anonymous",
            "userAgent": self.headers.get("User-Agent", ""),
            "verb": rbac_verb(self.command, route, params),
        }
        if route is not None:
            entry.update(
                apiGroup=route.group,
                apiVersion=route.version,
                resource=route.plural,
                subresource=route.sub or "",
                namespace=route.ns or "",
                name=route.name or "",
            )
        else:
            entry["nonResourceURL"] = url.path
        self._audit_entry = entry
        code = 500
        try:
            if self.api.store.stopped:
                self.close_connection = True
                raise ApiError(503, "ServiceUnavailable", "the emulator is shutting down")
            if route is not None:
                code = self._resource(route, params, body)
            else:
                code = self._non_resource(parts, params)
        except ApiError as err:
            code = err.code
            self._send(err.code, err.status())
        except (BrokenPipeError, ConnectionResetError):
            code = 499
        except Exception as exc:  # noqa: BLE001 - answer 500 like the API server, keep serving
            log.exception("internal error on %s %s", self.command, self.path)
            code = 500
            self._send(500, ApiError(500, "InternalError", f"Internal error occurred: {exc}").status())
        self._audit(code)

    def _non_resource(self, parts: list[str], params: dict) -> int:
        registry = self.api.registry
        path = "/".join(parts)
        doc = None
        if path == "version":
            doc = discovery.VERSION
        elif path in ("healthz", "livez", "readyz"):
            data = b"ok"
            self._audit(200)
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return 200
        elif path == "api":
            doc = discovery.api_versions(f"{self.server.server_address[0]}:{self.server.server_address[1]}")
        elif path == "apis":
            doc = discovery.api_group_list(registry)
        elif parts[:1] == ["api"] and len(parts) == 2:
            doc = discovery.resource_list(registry, "", parts[1])
        elif parts[:1] == ["apis"] and len(parts) == 2:
            doc = discovery.api_group(registry, parts[1])
        elif parts[:1] == ["apis"] and len(parts) == 3:
            doc = discovery.resource_list(registry, parts[1], parts[2])
        elif path == "openapi/v3":
            doc = discovery.openapi_root(registry)
        elif parts[:2] == ["openapi", "v3"] and len(parts) in (4, 5):
            if parts[2] == "api":
                doc = discovery.openapi_gv_doc(registry, "", parts[3])
            elif len(parts) == 5:
                doc = discovery.openapi_gv_doc(registry, parts[3], parts[4])
        if doc is None:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        self._send(200, doc)
        return 200

    def _resource(self, route: Route, params: dict, body: bytes) -> int:
        api = self.api
        rt = api.registry.lookup(route.group, route.version, route.plural)
        if rt is None:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        if route.sub not in (None, "status"):
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        if route.sub == "status" and not rt.status_subresource:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        if not rt.namespaced:
            route.ns = None
        accept = self.headers.get("Accept", "")
        ctx = Ctx(params, self.headers.get("User-Agent", ""), partial="as=PartialObjectMetadata" in accept)
        want_table = "as=Table" in accept
        method = self.command
        if method in ("GET", "HEAD"):
            if route.watch or params.get("watch") in ("true", "1"):
                return self._watch(rt, route, ctx, want_table)
            if route.name:
                obj = api.get(rt, route.ns, route.name, ctx)
                self._send(
                    200, tables.table(rt, [obj], obj["metadata"].get("resourceVersion", "")) if want_table else obj
                )
            else:
                listed = api.list(rt, route.ns, ctx)
                self._send(
                    200,
                    tables.table(
                        rt,
                        listed["items"],
                        listed["metadata"].get("resourceVersion", ""),
                        listed["metadata"].get("continue"),
                    )
                    if want_table
                    else listed,
                )
            return 200
        doc = None
        ctype = self.headers.get("Content-Type", "")
        if body and "protobuf" in ctype and method in ("POST", "PUT"):
            doc = protobuf.decode(body)
        elif method in ("POST", "PUT") or (method == "DELETE" and body):
            try:
                doc = json.loads(body.decode("utf-8")) if body else None
            except ValueError as exc:
                raise ApiError(400, "BadRequest", f"the body of the request could not be decoded: {exc}") from exc
        if method == "POST" and not route.name:
            obj = api.create(rt, route.ns, doc, ctx)
            code = 200 if ctx.dry_run else 201
            self._send(code, obj, ctx.warnings)
            return code
        if method == "PUT" and route.name:
            self._send(200, api.update(rt, route.ns, route.name, doc, route.sub, ctx), ctx.warnings)
            return 200
        if method == "PATCH" and route.name:
            ptype = self.headers.get("Content-Type", "").split(";")[0].strip()
            code, obj = api.patch(rt, route.ns, route.name, ptype, body, route.sub, ctx)
            self._send(code, obj, ctx.warnings)
            return code
        if method == "DELETE" and route.name and not route.sub:
            self._send(200, api.delete(rt, route.ns, route.name, doc, ctx))
            return 200
        if method == "DELETE" and not route.name:
            self._send(200, api.delete_collection(rt, route.ns, ctx))
            return 200
        raise method_not_allowed()

    def _watch(self, rt, route: Route, ctx: Ctx, want_table: bool) -> int:
        if route.name:
            fs = ctx.params.get("fieldSelector")
            ctx.params["fieldSelector"] = f"metadata.name={route.name}" + (f",{fs}" if fs else "")
        events = self.api.watch(rt, route.ns, ctx)  # raises ApiError (400) before any header is sent
        self._audit(200)  # a watch is recorded when it starts, as the API server's audit does
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self.wfile.flush()
        try:
            for event in events:
                if event is None:
                    if self._client_gone():
                        break
                    continue
                self._chunk(event, rt, want_table)
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
            if self.api.store.stopped:
                self.close_connection = True
        except (BrokenPipeError, ConnectionResetError, OSError):
            self.close_connection = True
        finally:
            events.close()
        return 200

    def _client_gone(self) -> bool:
        """True once the client closed its end (a readable socket with nothing to read)."""
        try:
            readable, _, _ = select.select([self.connection], [], [], 0)
            return bool(readable) and self.connection.recv(1, socket.MSG_PEEK) == b""
        except OSError:
            return True

    def _chunk(self, event: dict, rt, want_table: bool) -> None:
        if want_table and event["type"] in ("ADDED", "MODIFIED", "DELETED"):
            obj = event["object"]
            event = {
                "type": event["type"],
                "object": tables.table(rt, [obj], obj["metadata"].get("resourceVersion", ""), include_columns=False),
            }
        data = json.dumps(event).encode() + b"\n"
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128


def make_server(api: Api, host: str, port: int, audit: Audit) -> Server:
    handler = type("BoundHandler", (Handler,), {"api": api, "audit": audit})
    return Server((host, port), handler)
