"""Configuration of the peers: the nginx upstream, nginx as a keep-alive proxy, and HAProxy."""

from __future__ import annotations

from pathlib import Path

from .procs import Child, Supervisor, port_open, wait_until

UPSTREAM_BODY = "ok\n"


def _nginx_common(work: Path, name: str, workers: int) -> str:
    tmp = work / f"{name}-tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    return f"""
daemon off;
master_process on;
worker_processes {workers};
worker_rlimit_nofile 16384;
pid {work}/{name}.pid;
error_log {work}/{name}-error.log warn;
events {{ worker_connections 8192; }}
http {{
  access_log off;
  client_body_temp_path {tmp}/body;
  proxy_temp_path {tmp}/proxy;
  fastcgi_temp_path {tmp}/fastcgi;
  uwsgi_temp_path {tmp}/uwsgi;
  scgi_temp_path {tmp}/scgi;
  keepalive_requests 10000000;
  keepalive_timeout 300s;
"""


def nginx_upstream_conf(work: Path, port: int, workers: int) -> str:
    """The fast upstream: a small 200 for every path and method."""
    return (
        _nginx_common(work, "upstream", workers)
        + f"""
  server {{
    listen 127.0.0.1:{port} backlog=4096;
    location / {{
      default_type text/plain;
      return 200 "{UPSTREAM_BODY.strip()}\\n";
    }}
  }}
}}
"""
    )


def nginx_proxy_conf(work: Path, port: int, upstream_port: int, workers: int, tls: tuple[int, Path, Path] | None = None) -> str:
    """nginx as a plain reverse proxy with keep-alive upstream connections; with `tls`
    (port, certificate, key) also on an HTTPS listener that offers HTTP/2 (ALPN) and TLS 1.3:
    nginx 1.22 offers at most TLS 1.2 unless told (1.23.4 added TLS 1.3 to the default), while
    HAProxy and Tollgate negotiate TLS 1.3, so all three speak the same protocol to the clients
    (a resumed TLS 1.2 session skips the key exchange that a resumed TLS 1.3 one makes)."""
    tls_server = ""
    if tls:
        tls_port, cert, key = tls
        tls_server = f"""
  server {{
    listen 127.0.0.1:{tls_port} ssl http2 backlog=4096;
    ssl_certificate {cert};
    ssl_certificate_key {key};
    ssl_protocols TLSv1.2 TLSv1.3;
    location / {{
      proxy_pass http://bench_upstream;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }}
  }}"""
    return (
        _nginx_common(work, "nginx-proxy", workers)
        + f"""
  upstream bench_upstream {{
    server 127.0.0.1:{upstream_port};
    keepalive 256;
    keepalive_requests 10000000;
    keepalive_timeout 300s;
  }}
  server {{
    listen 127.0.0.1:{port} backlog=4096;
    location / {{
      proxy_pass http://bench_upstream;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }}
  }}{tls_server}
}}
"""
    )


def haproxy_conf(port: int, upstream_port: int, threads: int, tls: tuple[int, Path] | None = None) -> str:
    """HAProxy in HTTP mode; with `tls` (port, certificate+key PEM) also on an HTTPS listener
    that offers HTTP/2 (ALPN)."""
    tls_bind = f"  bind 127.0.0.1:{tls[0]} ssl crt {tls[1]} alpn h2,http/1.1\n" if tls else ""
    return f"""
global
  nbthread {threads}
  maxconn 8000
  tune.bufsize 16384

defaults
  mode http
  option http-keep-alive
  http-reuse always
  timeout connect 5s
  timeout client 60s
  timeout server 60s
  timeout http-keep-alive 300s

frontend bench
  bind 127.0.0.1:{port}
{tls_bind}  default_backend upstream

backend upstream
  server up1 127.0.0.1:{upstream_port}
"""


def start_nginx(sup: Supervisor, work: Path, name: str, conf: str, port: int) -> Child:
    path = work / f"{name}.conf"
    path.write_text(conf)
    child = sup.start(name, ["nginx", "-p", str(work), "-e", str(work / f"{name}-error.log"), "-c", str(path)])
    wait_until(f"{name} on port {port}", lambda: port_open(port), 15, child)
    return child


def start_haproxy(
    sup: Supervisor, work: Path, port: int, upstream_port: int, threads: int, tls: tuple[int, Path] | None = None
) -> Child:
    path = work / "haproxy.cfg"
    path.write_text(haproxy_conf(port, upstream_port, threads, tls))
    child = sup.start("haproxy", ["haproxy", "-db", "-f", str(path)])
    wait_until(f"haproxy on port {port}", lambda: port_open(port), 15, child)
    return child
