"""Unit tests of the benchmark harness (no timing is asserted).

Run: python3 -m unittest discover scripts/bench/tests"""

from __future__ import annotations

import base64
import hashlib
import http.server
import shutil
import sys
import tempfile
import threading
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchlib import hashed, operations, peers, report, shapes, wrk  # noqa: E402
from benchlib import tollgate as tg  # noqa: E402
from benchlib.procs import parse_stat_cpu_ticks, parse_status_kib  # noqa: E402

SUMMARY = (
    'Running 1s test\nWRKJSON {"requests":1000,"duration_us":2000000,"bytes":5,"connect":1,"read":2,'
    '"write":3,"status":4,"timeout":5,"p50_us":100,"p90_us":200,"p99_us":300,"mean_us":120.5,"max_us":900}\n'
)


class ProcParsing(unittest.TestCase):
    def test_cpu_ticks_are_utime_plus_stime_even_when_the_command_has_spaces(self):
        stat = "42 (nginx: worker (x)) S 1 42 42 0 -1 4194560 100 0 0 0 7 5 0 0 20 0 1 0 100 0 0"
        self.assertEqual(parse_stat_cpu_ticks(stat), 12)

    def test_status_values_are_read_in_kib(self):
        status = "Name:\tx\nVmHWM:\t  2048 kB\nVmRSS:\t  1024 kB\n"
        self.assertEqual(parse_status_kib(status, "VmRSS"), 1024)
        self.assertEqual(parse_status_kib(status, "VmHWM"), 2048)
        self.assertIsNone(parse_status_kib(status, "VmSwap"))


class WrkParsing(unittest.TestCase):
    def test_summary_line_gives_rate_latencies_and_error_classes(self):
        r = wrk.parse_output(SUMMARY)
        self.assertEqual(r.requests, 1000)
        self.assertAlmostEqual(r.rps, 500.0)
        self.assertEqual((r.p50_us, r.p99_us), (100, 300))
        self.assertEqual((r.status_errors, r.socket_errors, r.timeouts), (4, 6, 5))
        self.assertEqual(r.errors, 15)

    def test_output_without_summary_is_an_error(self):
        with self.assertRaises(RuntimeError):
            wrk.parse_output("unable to connect to 127.0.0.1:1 Connection refused\n")

    def test_lua_script_quotes_the_body_and_headers(self):
        script = wrk.lua_script("POST", 'a="b"\\c', {"Authorization": "Bearer x"})
        self.assertIn('wrk.method = "POST"', script)
        self.assertIn('wrk.body = "a=\\"b\\"\\\\c"', script)
        self.assertIn('wrk.headers["Authorization"] = "Bearer x"', script)
        self.assertIn("done = function", script)


class Generators(unittest.TestCase):
    def test_sha256_verifier_is_salted_sha256_in_phc_base64(self):
        v = tg.sha256_verifier("id-1", "s3cret")
        empty, alg, salt_b64, hash_b64 = v.split("$")
        self.assertEqual((empty, alg), ("", "sha256"))
        salt = base64.b64decode(salt_b64 + "=" * (-len(salt_b64) % 4))
        digest = base64.b64decode(hash_b64 + "=" * (-len(hash_b64) % 4))
        self.assertEqual(digest, hashlib.sha256(salt + b"s3cret").digest())
        self.assertNotIn("s3cret", v)

    def test_snapshot_lists_are_sorted_by_id_and_client_ids_are_unique(self):
        snap = tg.snapshot(25, 12, 9999, "secret", base64.b64encode(b"k" * 32).decode())
        for key in ("consumers", "credentials", "plugins", "routes"):
            ids = [item["id"] for item in snap[key]]
            self.assertEqual(ids, sorted(ids), key)
            self.assertEqual(len(ids), len(set(ids)), key)
        self.assertEqual(len(snap["credentials"]), 26)
        self.assertEqual(len(snap["routes"]), 15)
        client_ids = [c["clientId"] for c in snap["credentials"]]
        self.assertEqual(len(client_ids), len(set(client_ids)))
        self.assertNotIn("secret-3", str(snap))

    def test_scale_manifests_hold_one_secret_and_a_document_per_object(self):
        text = tg.scale_manifests(7, 3, 9999, "pw")
        self.assertEqual(text.count("kind: Secret"), 1)
        self.assertEqual(text.count("kind: Consumer"), 7)
        self.assertEqual(text.count("kind: OAuth2Credential"), 7)
        self.assertEqual(text.count("kind: GatewayRoute"), 3)
        self.assertEqual(text.count("\n---\n") + 1, 1 + 7 + 7 + 3)

    def test_hashed_scale_manifests_give_each_credential_its_consumer_and_labelled_secret(self):
        text = tg.scale_manifests(5, 0, 9999, "pw", hash_secret=True, own_secrets=True)
        self.assertEqual(text.count("kind: Secret"), 5)
        self.assertEqual(text.count("tollgate.dev/secret: credential"), 5)
        self.assertEqual(text.count("kind: Consumer"), 5)
        self.assertEqual(text.count("hashSecret: true"), 5)
        self.assertNotIn("hashSecret: false", text)
        self.assertIn("clientSecretRef: {name: ss4, key: client_secret}", text)
        self.assertIn('client_secret: "pw-4"', text)
        self.assertIn(f"clientId: {tg.scale_client_id(4)}", text)
        self.assertEqual(text.count("\n---\n") + 1, 3 * 5)

    def test_operator_system_manifests_carry_the_labels_the_controller_watches(self):
        text = hashed.system_manifests("tok", b"k" * 32)
        self.assertEqual(text.count("\n---\n") + 1, 4)
        self.assertIn("tollgate.dev/secret: config-token", text)
        self.assertIn("tollgate.dev/secret: signing-keys", text)
        self.assertIn(f"name: {hashed.PROXY_SERVICE}", text)
        self.assertIn(base64.b64encode(b"k" * 32).decode(), text)

    def test_manifest_writes_are_atomic_renames(self):
        with tempfile.TemporaryDirectory() as d:
            path = Path(d) / "a.yaml"
            tg.write_atomic(path, "x: 1\n")
            tg.write_atomic(path, "x: 2\n")
            self.assertEqual(path.read_text(), "x: 2\n")
            self.assertEqual(sorted(p.name for p in Path(d).iterdir()), ["a.yaml"])


class ControllerLogs(unittest.TestCase):
    def test_timestamps_with_nanoseconds_or_an_offset_are_read_to_the_microsecond(self):
        self.assertAlmostEqual(hashed.parse_timestamp("1970-01-01T00:00:01.123456789Z"), 1.123456, places=6)
        self.assertAlmostEqual(hashed.parse_timestamp("1970-01-01T01:00:02+01:00"), 2.0)
        self.assertAlmostEqual(hashed.parse_timestamp("1970-01-01T00:00:00.5Z"), 0.5)
        with self.assertRaises(ValueError):
            hashed.parse_timestamp("1970-01-01T00:00:00")

    def test_json_lines_become_events_and_anything_else_is_skipped(self):
        line = '{"timestamp":"1970-01-01T00:00:03.25Z","level":"INFO","message":"client secrets hashed","elapsed_ms":1500}'
        event = hashed.parse_log_line(line)
        self.assertEqual((event["message"], event["elapsed_ms"], event["t"]), ("client secrets hashed", 1500, 3.25))
        self.assertIsNone(hashed.parse_log_line("2026-01-01T00:00:00Z  INFO configuration applied"))
        self.assertIsNone(hashed.parse_log_line('{"timestamp":"1970-01-01T00:00:03Z","level":"INFO"'))

    def test_a_log_watch_reads_lines_as_they_are_completed(self):
        with tempfile.TemporaryDirectory() as d:
            path = Path(d) / "c.log"
            path.write_text('{"timestamp":"1970-01-01T00:00:01Z","message":"caches synced"}\n{"timestamp":"1970-')
            watch = hashed.LogWatch(path)
            watch.poll()
            self.assertIsNotNone(watch.find("caches synced"))
            self.assertIsNone(watch.find("first snapshot published"))
            with open(path, "a") as f:
                f.write('01-01T00:00:02Z","message":"first snapshot published","verifiers_kept":7}\n')
            watch.poll()
            self.assertEqual(watch.find("first snapshot published")["verifiers_kept"], 7)
            self.assertEqual(len(watch.events), 2)

    def test_run_figures_are_seconds_after_the_spawn(self):
        ev = lambda t, **f: {"t": t, **f}  # noqa: E731
        got = hashed.run_figures(
            100.0, ev(104.5), ev(100.25, verifiers=10), ev(100.5, secrets=10, threads=1), ev(104.4, elapsed_ms=3900)
        )
        self.assertEqual(got["first_config_s"], 4.5)
        self.assertEqual((got["kept_read_s"], got["kept_read"]), (0.25, 10))
        self.assertEqual((got["secrets_hashed"], got["hash_threads"], got["hashing_s"]), (10, 1, 3.9))
        warm = hashed.run_figures(100.0, ev(100.75), None, None, None)
        self.assertEqual((warm["first_config_s"], warm["secrets_hashed"]), (0.75, 0))


class HashedReport(unittest.TestCase):
    def runs(self):
        def run(n, mode, start, first, peak, after, peak_run=None):
            return {"n": n, "mode": mode, "start": start, "first_config_s": first, "peak_rss_mib": peak,
                    "rss_after_mib": after, "peak_rss_run_mib": peak_run, "secrets_hashed": n if start == "cold" else 0,
                    "cpu_s": 1.0}
        return {
            "counts": [1000, 10000],
            "modes": ["standalone", "operator"],
            "runs": [
                run(1000, "standalone", "cold", 20.0, 60, 40),
                run(10000, "standalone", "cold", 200.0, 150, 90, peak_run=210),
                run(10000, "standalone", "warm", 1.5, 80, 70),
            ],
        }

    def test_targets_take_the_highest_peak_and_the_warm_start_at_ten_thousand(self):
        got = {t["target"]: t for t in report.hashed_targets(self.runs())}
        rss = got["hashed standalone: peak RSS, 10,000 argon2id credentials"]
        warm = got["hashed standalone: warm restart to first configuration, 10,000 credentials"]
        self.assertEqual((rss["value"], rss["met"]), (210, False))
        self.assertEqual((warm["value"], warm["met"]), (1.5, True))
        self.assertAlmostEqual(report.target_ratio(warm), 0.15)
        self.assertIsNone(got["hashed operator: peak RSS, 10,000 argon2id credentials"]["met"])
        self.assertEqual(report.hashed_targets(None), [])
        self.assertEqual(report.hashed_targets({**self.runs(), "counts": [1000]}), [])

    def test_rows_show_every_start(self):
        rows = report.hashed_rows(self.runs())
        self.assertEqual(rows[1][:8], ("10,000", "standalone", "cold", "200.00 s", "-", "150 MiB", "90 MiB", "210 MiB"))
        self.assertIn("| 10,000 | standalone | warm | 1.50 s | - |", report.hashed_markdown(self.runs()))
        self.assertEqual(len(report.hashed_table(self.runs()).splitlines()), 2 + 3)


class Aggregation(unittest.TestCase):
    def rounds(self, rps_values, cpu):
        return [
            {"rps": v, "requests": 1000, "p50_us": 10, "p99_us": 20, "errors": 0, "status_errors": 0,
             "socket_errors": 0, "timeouts": 0, "cpu_s": {"proxy": cpu, "upstream": 0.01}}
            for v in rps_values
        ]

    def test_rows_take_the_median_and_cpu_per_request_over_all_rounds(self):
        row = report.aggregate(self.rounds([100, 300, 200], 0.02))
        self.assertEqual(row["rps"], 200)
        self.assertEqual((row["rps_min"], row["rps_max"]), (100, 300))
        self.assertAlmostEqual(row["proxy_cpu_us_per_req"], 20.0)

    def test_ratios_compare_to_nginx_and_direct_at_the_same_connection_count(self):
        rows = {}
        for name, rps in (("direct", [400]), ("nginx", [200]), ("tollgate-auth", [300])):
            rows[f"{name}@64"] = {"target": name, "conns": 64, **report.aggregate(self.rounds(rps, 0.01))}
        rows["nginx@1"] = {"target": "nginx", "conns": 1, **report.aggregate(self.rounds([50], 0.01))}
        report.add_ratios(rows, [64, 1])
        self.assertAlmostEqual(rows["tollgate-auth@64"]["x_nginx"], 1.5)
        self.assertAlmostEqual(rows["tollgate-auth@64"]["x_direct"], 0.75)
        self.assertAlmostEqual(rows["nginx@1"]["x_nginx"], 1.0)
        self.assertIsNone(rows["nginx@1"]["x_direct"])
        self.assertIn("x nginx", report.table(rows, {}))


class Targets(unittest.TestCase):
    def test_targets_compare_in_the_right_direction_and_report_missing_figures(self):
        out = {
            "rows": {
                "tollgate-auth@64": {"x_nginx": 1.2, "p99_us": 900, "cpu_x_nginx": 1.3, "rps": 12},
                "tollgate-limited@64": {"rps": 11.6},
                "nginx@64": {"p99_us": 1000, "rps": 10},
                "token-hashed@64": {"rps": 70},
                "token-plain@64": {"rps": 100},
            },
            "scenarios": {
                "reload": {"mode": "edits", "failed_requests": 0, "push": {"mode": "push", "failed_requests": 2}},
                "scale-standalone": {"apply_s": 1.8, "rss_peak_mib": 320},
            },
        }
        got = {t["target"]: t["met"] for t in report.targets(out)}
        self.assertTrue(got["scale (standalone manifests): applied in"])
        self.assertFalse(got["scale (standalone manifests): peak RSS"])
        self.assertTrue(got["authenticated req/s vs nginx (64 conns)"])
        self.assertTrue(got["authenticated p99 vs nginx p99 (64 conns)"])
        self.assertFalse(got["authenticated proxy CPU/req vs nginx"])
        self.assertFalse(got["token endpoint argon2id vs plain req/s"])
        self.assertTrue(got["rate limit configured, not reached vs none (authenticated, 64 conns)"])
        self.assertFalse(got["reload: failed requests"])
        self.assertIsNone(got["isolation: flooded vs unloaded req/s"])
        self.assertIn("MISSED", report.targets_text(report.targets(out)))

H2LOAD_OUT = """finished in 2.00s, 500.00 req/s, 10KB/s
requests: 1000 total, 1010 started, 1000 done, 990 succeeded, 10 failed, 3 errored, 2 timeout
status codes: 985 2xx, 0 3xx, 4 4xx, 1 5xx
"""


class H2loadParsing(unittest.TestCase):
    def test_requests_statuses_and_percentiles_from_the_summary_and_the_log(self):
        log = "".join(f"1700000000{i:06d}\t200\t{i + 1}\n" for i in range(100))
        r = shapes.parse_h2load(H2LOAD_OUT, log, 2)
        self.assertEqual(r["requests"], 1000)
        self.assertEqual(r["rps"], 500)
        self.assertEqual((r["status_errors"], r["socket_errors"], r["timeouts"]), (5, 3, 2))
        self.assertEqual(r["errors"], 10)
        self.assertEqual((r["p50_us"], r["p99_us"], r["max_us"]), (51, 100, 100))

    def test_no_summary_is_an_error(self):
        with self.assertRaises(Exception):
            shapes.parse_h2load("connect failed\n", "", 2)

    def test_argv_passes_headers_streams_and_the_log(self):
        argv = shapes.h2load_argv("https://127.0.0.1:1/p", {"Authorization": "Bearer t"}, 64, 5, 2, Path("/tmp/l"))
        self.assertEqual(argv[:5], ["h2load", "-t2", "-c64", f"-m{shapes.H2_STREAMS}", "-D5"])
        self.assertIn("authorization: Bearer t", argv)
        self.assertEqual(argv[-1], "https://127.0.0.1:1/p")


class PeerConfigs(unittest.TestCase):
    def test_nginx_and_haproxy_offer_http2_on_the_shared_certificate(self):
        with tempfile.TemporaryDirectory() as d:
            conf = peers.nginx_proxy_conf(Path(d), 1, 2, 2, (3, Path("/c.crt"), Path("/c.key")))
        self.assertIn("listen 127.0.0.1:3 ssl http2", conf)
        self.assertIn("ssl_certificate /c.crt;", conf)
        # The same TLS version as HAProxy and Tollgate (nginx 1.22 stops at TLS 1.2 by default).
        self.assertIn("ssl_protocols TLSv1.2 TLSv1.3;", conf)
        self.assertEqual(conf.count("proxy_pass http://bench_upstream;"), 2)
        ha = peers.haproxy_conf(1, 2, 2, (3, Path("/c.pem")))
        self.assertIn("bind 127.0.0.1:3 ssl crt /c.pem alpn h2,http/1.1", ha)
        self.assertNotIn("ssl", peers.haproxy_conf(1, 2, 2))


class Jwt(unittest.TestCase):
    def test_der_signatures_become_fixed_width_r_and_s(self):
        r, s = b"\x00\x80" + b"\x01" * 31, b"\x05" * 20  # r with its sign byte, a short s
        der = b"\x30" + bytes([4 + len(r) + len(s)]) + b"\x02" + bytes([len(r)]) + r + b"\x02" + bytes([len(s)]) + s
        raw = operations.der_ecdsa_to_raw(der)
        self.assertEqual(len(raw), 64)
        self.assertEqual(raw[:32], b"\x80" + b"\x01" * 31)
        self.assertEqual(raw[32:], b"\0" * 12 + b"\x05" * 20)

    @unittest.skipUnless(shutil.which("openssl"), "needs openssl")
    def test_a_signed_token_verifies_with_the_published_key(self):
        with tempfile.TemporaryDirectory() as d:
            jwks, sign = operations.es256_issuer(Path(d), "http://127.0.0.1:1")
            token = sign({"iss": "http://127.0.0.1:1", "exp": 1})
            head, body, sig = token.split(".")
            key = jwks["keys"][0]
            self.assertEqual((key["kty"], key["crv"], key["alg"]), ("EC", "P-256", "ES256"))
            # Back to DER and checked by openssl against the public key.
            raw = base64.urlsafe_b64decode(sig + "==")

            def integer(b: bytes) -> bytes:
                b = b.lstrip(b"\0")
                b = b"\0" + b if b[0] & 0x80 else b
                return b"\x02" + bytes([len(b)]) + b

            seq = integer(raw[:32]) + integer(raw[32:])
            (Path(d) / "sig").write_bytes(b"\x30" + bytes([len(seq)]) + seq)
            (Path(d) / "msg").write_bytes(f"{head}.{body}".encode())
            import subprocess

            pub = subprocess.run(["openssl", "ec", "-in", str(Path(d) / "jwt-es256.key"), "-pubout"], capture_output=True, check=True).stdout
            (Path(d) / "pub").write_bytes(pub)
            ok = subprocess.run(["openssl", "dgst", "-sha256", "-verify", str(Path(d) / "pub"), "-signature", str(Path(d) / "sig"),
                                 str(Path(d) / "msg")], capture_output=True)
            self.assertEqual(ok.returncode, 0, ok.stdout + ok.stderr)


class Budgets(unittest.TestCase):
    def test_each_feature_is_a_ratio_to_its_absence_against_its_floor(self):
        out = {
            "rows": {"tollgate-limited@64": {"rps": 96}, "tollgate-auth@64": {"rps": 100}},
            "scenarios": {
                "access-log": {"on_rps": 90, "off_rps": 100},
                "jwt": {"jwt_rps": 91, "own_rps": 100},
                "routes": {"routes": 5000, "paths": 20000, "many_rps": 99, "base_rps": 100},
            },
        }
        by_name = {b["budget_row"]: b for b in report.budgets(out)}
        self.assertEqual(by_name["access log on"]["met"], False)
        self.assertEqual(by_name["rate limit configured, not reached"]["met"], True)
        self.assertEqual(by_name["JWT ES256 (cached)"]["met"], True)
        self.assertIsNone(by_name["several SNI certificates"]["met"], "not measured: neither met nor missed")
        self.assertEqual(by_name["5,000 HTTPRoutes"]["met"], True)
        text = report.budgets_text(report.budgets(out))
        self.assertIn("MISSED", text)
        self.assertIn("0.900", text)


class ShapeRatios(unittest.TestCase):
    def test_every_server_is_compared_to_nginx_and_haproxy_of_the_same_shape(self):
        def row(server, rps, p99, cpu):
            return {"shape": "s", "server": server, "rps": rps, "p99_us": p99, "proxy_cpu_us_per_req": cpu}

        rows = {"s/nginx": row("nginx", 100, 1000, 20.0), "s/haproxy": row("haproxy", 80, 500, 10.0),
                "s/tollgate": row("tollgate", 120, 2000, 30.0)}
        shapes.add_ratios(rows, "s")
        t = rows["s/tollgate"]
        self.assertAlmostEqual(t["x_nginx"], 1.2)
        self.assertAlmostEqual(t["x_haproxy"], 1.5)
        self.assertAlmostEqual(t["p99_x_nginx"], 2.0)
        self.assertAlmostEqual(t["cpu_x_nginx"], 1.5)
        met = {x["target"]: x["met"] for x in shapes.targets({"shapes": {"s": "S"}, "rows": rows})}
        self.assertEqual(met["s: authenticated req/s vs nginx"], True)
        self.assertEqual(met["s: authenticated p99 vs nginx p99"], False)


class _Ok(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    bodies: set = set()

    def do_POST(self):  # noqa: N802 (http.server naming)
        _Ok.bodies.add(self.rfile.read(int(self.headers["Content-Length"])))
        self.do_GET()

    def do_GET(self):  # noqa: N802 (http.server naming)
        self.send_response(200 if self.path == "/" else 404)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args):
        pass


@unittest.skipUnless(shutil.which("wrk"), "wrk is not installed")
class RealWrk(unittest.TestCase):
    def serve(self):
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Ok)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        self.addCleanup(server.server_close)
        self.addCleanup(server.shutdown)
        return server.server_address[1]

    def test_wrk_reports_requests_and_counts_404s_as_status_errors(self):
        port = self.serve()
        with tempfile.TemporaryDirectory() as d:
            ok, _ = wrk.measure(wrk.Target("ok", f"http://127.0.0.1:{port}/"), Path(d), 2, 1, 1, {})
            missing, _ = wrk.measure(wrk.Target("missing", f"http://127.0.0.1:{port}/nope"), Path(d), 2, 1, 1, {})
        self.assertGreater(ok.requests, 0)
        self.assertEqual(ok.errors, 0)
        self.assertEqual(missing.status_errors, missing.requests)

    def test_a_flood_script_cycles_through_its_bodies(self):
        port = self.serve()
        _Ok.bodies.clear()
        target = wrk.Target("rotate", f"http://127.0.0.1:{port}/", "POST", bodies=["a=1", "a=2", "a=3"])
        with tempfile.TemporaryDirectory() as d:
            result, _ = wrk.measure(target, Path(d), 1, 1, 1, {})
        self.assertGreaterEqual(result.requests, 3)
        self.assertEqual(_Ok.bodies, {b"a=1", b"a=2", b"a=3"})


if __name__ == "__main__":
    unittest.main()
