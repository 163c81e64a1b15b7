#!/usr/bin/env python3
"""Self-test of the fake APIs (stdlib unittest): python3 tests/fake_api/selftest.py [-v]

Starts the services in-process on free ports. Nothing here depends on timing
except lower bounds ("took at least") and generous upper bounds ("parallel, not
serial"); rate-limit tests stretch the window so they cannot race the clock.
"""

import contextlib
import gzip
import hashlib
import http.client
import io
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.parse
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import dexi_data as seed                      # noqa: E402
from common import SlidingWindow, serve       # noqa: E402
from dexi import DexiService                  # noqa: E402
from misc import MiscService                  # noqa: E402
from server import make_tls_context           # noqa: E402

SERVERS = {}


def setUpModule():
    SERVERS["misc"] = serve(MiscService())
    SERVERS["dexi"] = serve(DexiService())


def tearDownModule():
    for server in SERVERS.values():
        server.stop()


# {==== HTTP helpers ====}

class Reply:
    def __init__(self, resp, body):
        self.status = resp.status
        self.reason = resp.reason
        self.headers = {k.lower(): v for k, v in resp.getheaders()}
        self.chunked = resp.chunked
        self.body = body

    def json(self):
        return json.loads(self.body)


def connect(base, timeout=10):
    url = urllib.parse.urlsplit(base)
    return http.client.HTTPConnection(url.hostname, url.port, timeout=timeout)


def call(base, method, path, body=None, headers=None, timeout=10, conn=None):
    headers = dict(headers or {})
    if isinstance(body, (dict, list)):
        body = json.dumps(body).encode()
        headers.setdefault("Content-Type", "application/json")
    own = conn is None
    conn = conn or connect(base, timeout)
    try:
        conn.request(method, path, body=body, headers=headers)
        resp = conn.getresponse()
        return Reply(resp, resp.read())
    finally:
        if own:
            conn.close()


def misc(method, path, **kw):
    return call(SERVERS["misc"].url, method, path, **kw)


def raw_exchange(port, data, expect_reset=False):
    """Send raw bytes, return everything read until EOF (or raise on RST)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(data)
        chunks = []
        while True:
            piece = sock.recv(65536)
            if not piece:
                return b"".join(chunks)
            chunks.append(piece)


AUTH = {"X-DexiIO-Account": seed.ACCOUNT, "X-DexiIO-Access": seed.ACCESS}


def dexi(method, path, body=None, headers=None, auth=AUTH, **kw):
    all_headers = dict(auth or {})
    all_headers.update(headers or {})
    return call(SERVERS["dexi"].url, method, path, body, all_headers, **kw)


def dexi_config(**switches):
    return dexi("POST", "/_config", switches, auth=None).json()


def parse_pointer(cell):
    mime, size, file_id, *extra = cell[len("FILE:"):].split(";")
    return mime, int(size), file_id, extra


def file_path(file_id, keep_slash=False):
    """The client's documented normalisation: drop what precedes accounts/, percent-encode."""
    at = file_id.find("accounts/")
    if at > 0:
        file_id = file_id[at:]
    return urllib.parse.quote(file_id, safe="/-._~" if keep_slash else "-._~")


# {==== common.py and misc.py ====}

class SlidingWindowTests(unittest.TestCase):
    def test_admits_limit_per_window_and_ignores_rejections(self):
        window = SlidingWindow(3, 1.0)
        self.assertEqual([window.allow("a", now=t)[0] for t in (0.0, 0.1, 0.2)], [True] * 3)
        allowed, wait = window.allow("a", now=0.5)
        self.assertFalse(allowed)
        self.assertAlmostEqual(wait, 0.5)
        self.assertTrue(window.allow("b", now=0.5)[0])          # keys are separate
        for t in (0.6, 0.7, 0.8):                                # rejections not counted
            self.assertFalse(window.allow("a", now=t)[0])
        self.assertTrue(window.allow("a", now=1.0)[0])          # the hit at 0.0 aged out
        self.assertFalse(window.allow("a", now=1.05)[0])
        self.assertTrue(window.allow("a", now=1.1)[0])

    def test_unlimited_and_lowered_limit(self):
        window = SlidingWindow(None, 1.0)
        self.assertTrue(all(window.allow("k", now=0.0)[0] for _ in range(1000)))
        window.limit = 2
        allowed, wait = window.allow("k", now=0.5)
        self.assertFalse(allowed)
        self.assertAlmostEqual(wait, 0.5)


class MiscTests(unittest.TestCase):
    def setUp(self):
        misc("POST", "/_reset")

    def test_echo(self):
        reply = misc("POST", "/echo?a=1&a=2&b=", body={"x": [1, "é"]}, headers={"X-Thing": "v"})
        echo = reply.json()
        self.assertEqual(echo["method"], "POST")
        self.assertEqual(echo["path"], "/echo")
        self.assertEqual(echo["query"], {"a": ["1", "2"], "b": [""]})
        self.assertEqual(echo["headers"]["x-thing"], "v")
        self.assertEqual(echo["json"], {"x": [1, "é"]})
        self.assertIsNone(misc("PUT", "/echo", body=b"not json").json()["json"])

    def test_chunked_request_body_and_expect_100(self):
        port = SERVERS["misc"].server_port
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
                         b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n")
            self.assertTrue(sock.recv(1024).startswith(b"HTTP/1.1 100 Continue\r\n"))
            sock.sendall(b"5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nTrailer: t\r\n\r\n")
            answer = b""
            while True:
                piece = sock.recv(65536)
                if not piece:
                    break
                answer += piece
        head, _, body = answer.partition(b"\r\n\r\n")
        self.assertIn(b"Connection: close", head)
        self.assertEqual(json.loads(body)["body"], "hello world")

    def test_keep_alive_and_connection_close(self):
        conn = connect(SERVERS["misc"].url)
        call(None, "GET", "/json", conn=conn)
        first = conn.sock
        call(None, "GET", "/json", conn=conn)
        self.assertIs(conn.sock, first)                         # same connection reused
        reply = call(None, "GET", "/json", headers={"Connection": "close"}, conn=conn)
        self.assertEqual(reply.headers.get("connection"), "close")
        conn.close()

    def test_head_and_json_size(self):
        reply = misc("GET", "/json?size=1000")
        self.assertLessEqual(abs(len(reply.body) - 1000), 2)
        json.loads(reply.body)
        head = misc("HEAD", "/json?size=1000")
        self.assertEqual(head.body, b"")
        self.assertEqual(head.headers["content-length"], str(len(reply.body)))

    def test_delays_run_in_parallel(self):
        results = []

        def one():
            results.append(misc("GET", "/delay?s=0.5").json())
        started = time.monotonic()
        threads = [threading.Thread(target=one) for _ in range(10)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.monotonic() - started
        self.assertEqual(results, [{"delayed": 0.5}] * 10)
        self.assertGreaterEqual(elapsed, 0.5)
        self.assertLess(elapsed, 3.0)                            # serial would take 5 s

    def test_bytes_stream_matches_digest(self):
        n = 3 * 1024 * 1024 + 123
        plain = misc("GET", "/bytes?n=%d&seed=abc" % n)
        self.assertEqual(plain.headers["content-length"], str(n))
        self.assertEqual(len(plain.body), n)
        self.assertEqual(len(set(plain.body)), 256)
        digest = misc("GET", "/bytes_sha256?n=%d&seed=abc" % n).json()["sha256"]
        self.assertEqual(hashlib.sha256(plain.body).hexdigest(), digest)
        chunked = misc("GET", "/bytes?n=%d&seed=abc&chunked=1" % n)
        self.assertTrue(chunked.chunked)
        self.assertNotIn("content-length", chunked.headers)
        self.assertEqual(chunked.body, plain.body)
        other = misc("GET", "/bytes_sha256?n=%d&seed=abd" % n).json()["sha256"]
        self.assertNotEqual(other, digest)
        # 64 KiB pieces never repeat: swapping two would change the digest.
        self.assertNotEqual(plain.body[:65536], plain.body[65536:131072])

    def test_truncated_body(self):
        conn = connect(SERVERS["misc"].url)
        conn.request("GET", "/truncated?n=1000&at=100")
        resp = conn.getresponse()
        self.assertEqual(resp.getheader("Content-Length"), "1000")
        with self.assertRaises(http.client.IncompleteRead) as caught:
            resp.read()
        self.assertEqual(len(caught.exception.partial), 100)
        conn.close()

    def test_reset_is_an_rst(self):
        with self.assertRaises(ConnectionResetError):
            raw_exchange(SERVERS["misc"].server_port, b"GET /reset HTTP/1.1\r\nHost: x\r\n\r\n")

    def test_statuses_and_broken_bodies(self):
        self.assertEqual(misc("GET", "/status/418").json(), {"status": 418})
        self.assertEqual(misc("GET", "/status/418").status, 418)
        page = misc("GET", "/status/502?html=1")
        self.assertEqual((page.status, page.headers["content-type"]), (502, "text/html"))
        page = misc("GET", "/html502")
        self.assertEqual((page.status, page.headers["content-type"]), (502, "text/html"))
        self.assertIn(b"<html>", page.body)
        no_content = misc("GET", "/status/204")
        self.assertEqual((no_content.status, no_content.body), (204, b""))
        broken = misc("GET", "/invalid_json")
        self.assertEqual(broken.headers["content-type"], "application/json")
        self.assertRaises(ValueError, json.loads, broken.body)
        empty = misc("GET", "/empty")
        self.assertEqual((empty.status, empty.body, empty.headers["content-length"]), (200, b"", "0"))
        self.assertEqual(misc("GET", "/nope").status, 404)
        self.assertEqual(misc("GET", "/status/abc").status, 400)

    def test_429_then_success(self):
        statuses = []
        for _ in range(3):
            reply = misc("GET", "/429?times=2&key=k1&retry_after=3")
            statuses.append((reply.status, reply.headers.get("retry-after")))
        self.assertEqual(statuses, [(429, "3"), (429, "3"), (200, None)])
        self.assertEqual(misc("GET", "/429?times=2&key=k1").json(), {"ok": True, "attempt": 4})
        reply = misc("GET", "/429?key=k2")                      # key alone: times=1
        self.assertEqual((reply.status, reply.headers.get("retry-after")), (429, None))
        self.assertEqual(misc("GET", "/429?key=k2").status, 200)
        self.assertEqual([misc("GET", "/429").status for _ in range(3)], [429] * 3)

    def test_redirects(self):
        reply = misc("GET", "/redirect?to=/json&status=307")
        self.assertEqual((reply.status, reply.headers["location"]), (307, "/json"))
        self.assertEqual(misc("GET", "/redirect").headers["location"], "/echo")
        loop = misc("GET", "/redirect_loop")
        self.assertEqual((loop.status, loop.headers["location"]), (302, "/redirect_loop"))

    def test_gzip(self):
        packed = misc("GET", "/gzip", headers={"Accept-Encoding": "deflate, gzip;q=0.5"})
        self.assertEqual(packed.headers["content-encoding"], "gzip")
        self.assertTrue(json.loads(gzip.decompress(packed.body))["compressed"])
        plain = misc("GET", "/gzip", headers={"Accept-Encoding": "gzip;q=0, identity"})
        self.assertNotIn("content-encoding", plain.headers)
        self.assertFalse(plain.json()["compressed"])

    def test_gzip_bomb(self):
        small = misc("GET", "/gzip_bomb?mib=3")
        self.assertEqual(small.headers["content-encoding"], "gzip")
        self.assertLess(len(small.body), 4 * 1024)
        self.assertEqual(gzip.decompress(small.body), bytes(3 * 1024 * 1024))
        self.assertLess(len(misc("GET", "/gzip_bomb").body), 2200 * 1024)   # 2 MiB on the wire
        mid = misc("GET", "/gzip_bomb?mib=200").body
        inflate = zlib.decompressobj(31)
        size = 0
        for at in range(0, len(mid), 16384):             # decoded a piece at a time
            size += len(inflate.decompress(mid[at:at + 16384]))
        self.assertEqual(size, 200 * 1024 * 1024)
        self.assertTrue(inflate.eof)

    def test_headers_and_slow_body(self):
        self.assertEqual(misc("GET", "/headers", headers={"X-A": "1"}).json()["x-a"], "1")
        started = time.monotonic()
        reply = misc("GET", "/slow_body?chunks=3&interval=0.15")
        self.assertGreaterEqual(time.monotonic() - started, 0.29)
        self.assertTrue(reply.chunked)
        self.assertEqual(reply.body, b"chunk 0\nchunk 1\nchunk 2\n")

    def test_control_endpoints(self):
        misc("GET", "/json?size=10")
        misc("POST", "/echo", body=b"\xff\xfeabc")
        records = misc("GET", "/_requests").json()
        self.assertEqual([(r["method"], r["path"], r["status"]) for r in records],
                         [("GET", "/json", 200), ("POST", "/echo", 200)])
        self.assertEqual(records[0]["query"], {"size": ["10"]})
        self.assertIn("abc", records[1]["body"])
        self.assertIsInstance(records[0]["t"], float)
        self.assertEqual(len(misc("GET", "/_requests?since=1").json()), 1)
        self.assertEqual(misc("POST", "/_config", body={"a": {"b": 1}}).json(), {"a": {"b": 1}})
        self.assertEqual(misc("POST", "/_config", body={"a": {"c": 2}}).json(),
                         {"a": {"b": 1, "c": 2}})
        self.assertEqual(misc("POST", "/_config", body=[1]).status, 400)
        misc("POST", "/_reset")
        self.assertEqual(misc("GET", "/_requests").json(), [])
        self.assertEqual(misc("GET", "/_config").json(), {})

    def test_client_leaving_mid_stream_is_quiet(self):
        captured = io.StringIO()
        with contextlib.redirect_stderr(captured):
            conn = connect(SERVERS["misc"].url)
            conn.request("GET", "/bytes?n=%d" % (200 * 1024 * 1024))
            resp = conn.getresponse()
            resp.read(100000)
            conn.sock.shutdown(socket.SHUT_RDWR)
            conn.close()
            self.assertEqual(misc("GET", "/json").status, 200)
            time.sleep(0.2)
        self.assertEqual(captured.getvalue(), "")


class LifecycleTests(unittest.TestCase):
    def test_stop_releases_port_connections_and_threads(self):
        server = serve(MiscService())
        port = server.server_port
        idle = connect(server.url)
        call(None, "GET", "/json", conn=idle)                   # an idle keep-alive connection
        errors = []

        def blocked(path):
            try:
                misc_reply = call(server.url, "GET", path, timeout=60)
                errors.append(misc_reply.status)
            except Exception as exc:                             # expected: cut off
                errors.append(type(exc).__name__)
        waiting = [threading.Thread(target=blocked, args=(p,), daemon=True)
                   for p in ("/delay?s=60", "/slow_body?chunks=1000&interval=0.5")]
        for t in waiting:
            t.start()
        time.sleep(0.3)
        started = time.monotonic()
        server.stop()
        self.assertLess(time.monotonic() - started, 3.0)
        for t in waiting:
            t.join(5)
            self.assertFalse(t.is_alive())
        prefix = "misc-%d-" % port
        self.assertEqual([t.name for t in threading.enumerate() if t.name.startswith(prefix)], [])
        with self.assertRaises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", port), timeout=2).close()
        idle.close()

    @unittest.skipUnless(__import__("shutil").which("openssl"), "no openssl command")
    def test_tls_needs_the_ca(self):
        with tempfile.TemporaryDirectory() as tmp:
            context, cert = make_tls_context(tmp)
            server = serve(MiscService(), ssl_context=context)
            try:
                url = urllib.parse.urlsplit(server.url)
                plain = http.client.HTTPSConnection(url.hostname, url.port, timeout=10)
                with self.assertRaises(ssl.SSLCertVerificationError):
                    plain.request("GET", "/json")
                plain.close()
                trusting = ssl.create_default_context(cafile=cert)
                conn = http.client.HTTPSConnection(url.hostname, url.port, timeout=10,
                                                   context=trusting)
                conn.request("GET", "/json?size=100")
                self.assertEqual(conn.getresponse().status, 200)
                conn.close()
            finally:
                server.stop()

    def test_server_script(self):
        with tempfile.TemporaryDirectory() as tmp:
            state_path = os.path.join(tmp, "state.json")
            proc = subprocess.Popen([sys.executable, os.path.join(HERE, "server.py"),
                                     "--state", state_path],
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            try:
                deadline = time.monotonic() + 15
                while not os.path.exists(state_path) and proc.poll() is None:
                    self.assertLess(time.monotonic(), deadline, "no state file")
                    time.sleep(0.05)
                if proc.poll() is not None:
                    err = proc.stderr.read().decode()
                    if "dx.py" in err:
                        self.skipTest("dx.py does not import yet: " + err.strip()[-300:])
                    self.fail("server.py exited: " + err)
                with open(state_path) as f:
                    state = json.load(f)
                self.assertEqual(state["pid"], proc.pid)
                self.assertTrue(state["dexi"].endswith("/"))
                self.assertEqual(call(state["misc"], "GET", "/json").status, 200)
                self.assertEqual(call(state["dexi"], "GET", "/runs").status, 401)
                if "dx_files" in state:
                    self.assertIn("dx", state)
                    # the Data Cloud instance host answers at /api/<method>
                    self.assertEqual(call(state["dx_datacloud"], "POST", "/api/deployments.upsert").status, 401)
                proc.send_signal(signal.SIGTERM)
                self.assertEqual(proc.wait(timeout=10), 0)
                self.assertFalse(os.path.exists(state_path))
                if "tls_ca" in state:
                    self.assertFalse(os.path.exists(state["tls_ca"]))
                self.assertEqual(proc.stderr.read(), b"")
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
                proc.stdout.close()
                proc.stderr.close()


# {==== dexi.py ====}

class DexiCase(unittest.TestCase):
    def setUp(self):
        dexi("POST", "/_reset", auth=None)

    def poll_states(self, ex_id, times):
        return [dexi("GET", "/executions/%s" % ex_id).json()["state"] for _ in range(times)]

    def run_to_end(self, ex_id):
        for _ in range(20):
            ex = dexi("GET", "/executions/%s" % ex_id).json()
            if ex["state"] in seed.FINAL_STATES:
                return ex
        self.fail("execution never finished")

    def download(self, ex_id, cell, keep_slash=False):
        mime, size, file_id, _ = parse_pointer(cell)
        return dexi("GET", "/executions/%s/file/%s" % (ex_id, file_path(file_id, keep_slash)))


class DexiAuthTests(DexiCase):
    def test_auth(self):
        path = "/runs/%s" % seed.RUN_STAGS
        self.assertEqual(dexi("GET", path).status, 200)
        for headers in ({}, {"X-DexiIO-Account": seed.ACCOUNT},
                        {"X-DexiIO-Access": seed.ACCESS},
                        {"X-DexiIO-Account": seed.ACCOUNT, "X-DexiIO-Access": "0" * 32},
                        {"X-DexiIO-Account": seed.ACCOUNT, "X-DexiIO-Access": seed.ACCESS.upper()},
                        {"X-DexiIO-Account": "nobody", "X-DexiIO-Access": seed.ACCESS}):
            reply = dexi("GET", path, auth=headers)
            self.assertEqual((reply.status, reply.json()), (401, {"error": True, "code": 401}),
                             headers)
        legacy = {"X-CloudScrape-Account": seed.ACCOUNT, "X-CloudScrape-Access": seed.ACCESS}
        self.assertEqual(dexi("GET", path, auth=legacy).status, 200)
        dexi_config(accounts={"acc-2": "key-2"})
        second = {"X-DexiIO-Account": "acc-2",
                  "X-DexiIO-Access": hashlib.md5(b"acc-2key-2").hexdigest()}
        self.assertEqual(dexi("GET", path, auth=second).status, 200)
        self.assertEqual(dexi("GET", path).status, 200)         # default account kept
        self.assertEqual(dexi("GET", "/no/such/path").status, 404)

    def test_rate_limits(self):
        dexi_config(limits={"get": 5, "write": 2, "file": 2}, rate_window=60)
        path = "/executions/%s" % seed.EXEC_STAGS
        self.assertEqual([dexi("GET", path).status for _ in range(6)], [200] * 5 + [429])
        limited = dexi("GET", path)
        self.assertEqual(limited.json(), {"error": True, "code": 429})
        self.assertNotIn("retry-after", limited.headers)
        self.assertTrue(limited.chunked)
        rows = "/datasets/%s/rows" % seed.DATASET                 # POST: own window
        self.assertEqual([dexi("POST", rows, {}).status for _ in range(3)], [200, 200, 429])
        file_url = "/files/%s" % seed.FILE_RECORDED              # downloads: own window
        self.assertEqual([dexi("GET", file_url).status for _ in range(3)], [200, 200, 429])
        dexi_config(accounts={"acc-2": "key-2"})                 # per account
        second = {"X-DexiIO-Account": "acc-2",
                  "X-DexiIO-Access": hashlib.md5(b"acc-2key-2").hexdigest()}
        self.assertEqual(dexi("GET", path, auth=second).status, 200)
        dexi_config(retry_after=True)
        retry = int(dexi("GET", path).headers["retry-after"])
        self.assertTrue(1 <= retry <= 60)
        dexi_config(limits={"get": None})
        self.assertEqual(dexi("GET", path).status, 200)

    def test_default_switches(self):
        config = dexi("GET", "/_config", auth=None).json()
        self.assertEqual(config["limits"], {"get": 75, "write": 15, "file": 15})
        self.assertEqual((config["rate_window"], config["retry_after"]), (1.0, False))
        self.assertEqual((config["page_default"], config["page_cap"]), (30, 200))

    def test_faults(self):
        path = "/runs/%s" % seed.RUN_STAGS
        dexi_config(fault={"kind": "500", "count": 2})
        self.assertEqual([dexi("GET", path).status for _ in range(3)], [500, 500, 200])
        dexi_config(fault={"kind": "reset"})
        with self.assertRaises(ConnectionResetError):
            dexi("GET", path)
        self.assertEqual(dexi("GET", path).status, 200)          # count defaults to 1
        dexi_config(fault={"kind": "html502"})
        page = dexi("GET", path)
        self.assertEqual((page.status, page.headers["content-type"]), (502, "text/html"))
        dexi_config(fault={"kind": "invalid_json"})
        self.assertRaises(ValueError, dexi("GET", path).json)
        dexi_config(fault={"kind": "truncate", "path": "/file/"})
        self.assertEqual(dexi("GET", path).status, 200)          # path filter
        with self.assertRaises(http.client.IncompleteRead):
            dexi("GET", "/executions/%s/file/%s" % (seed.EXEC_FILES, seed.FILE_RECORDED))
        dexi_config(fault={"kind": "delay", "seconds": 0.3})
        started = time.monotonic()
        self.assertEqual(dexi("GET", path).status, 200)
        self.assertGreaterEqual(time.monotonic() - started, 0.29)
        self.assertIsNone(dexi("GET", "/_config", auth=None).json()["fault"])


class DexiRecordedShapeTests(DexiCase):
    def test_execution_get_result_stop_continue_remove(self):
        reply = dexi("GET", "/executions/%s/" % seed.EXEC_STAGS)   # trailing slash as recorded
        self.assertEqual(reply.json(), {"_id": seed.EXEC_STAGS, "state": "OK",
                                        "starts": 1444436313493, "finished": 1444436317128})
        self.assertTrue(reply.chunked)
        self.assertNotIn("content-length", reply.headers)
        self.assertEqual(reply.headers["x-powered-by"], "Express")
        self.assertEqual(reply.headers["content-type"], "application/json")
        result = dexi("GET", "/executions/%s/result" % seed.EXEC_STAGS)
        self.assertEqual(result.headers["content-disposition"], 'attachment; filename="stags_v1.json"')
        body = result.json()
        self.assertEqual(sorted(body), ["headers", "rows"])      # no totalRows
        self.assertEqual(len(body["headers"]), 8)
        self.assertEqual(len(body["rows"]), 1)
        self.assertIsNone(body["rows"][0][-1])
        self.assertIn("\u2022", body["rows"][0][3])
        stop = dexi("POST", "/executions/%s/stop" % seed.EXEC_STAGS, b"api_key=x&format=json",
                    {"Content-Type": "application/json"})
        self.assertEqual((stop.status, stop.body), (400, b'{"error":true,"code":400}'))
        cont = dexi("POST", "/executions/%s/continue" % seed.EXEC_STAGS)
        self.assertEqual((cont.status, cont.reason, cont.body), (200, "", b"{}"))
        removed = dexi("DELETE", "/executions/%s/" % seed.EXEC_STAGS)
        self.assertEqual((removed.status, removed.body), (200, b""))
        self.assertEqual(removed.headers["content-type"], "application/json")
        self.assertEqual(dexi("GET", "/executions/%s" % seed.EXEC_STAGS).status, 404)

    def test_execute_answers(self):
        plain = dexi("POST", "/runs/%s/execute?connect=false" % seed.RUN_STAGS,
                     {"api_key": "x", "format": "json"}).json()
        self.assertEqual(sorted(plain), ["_id", "finished", "starts", "state"])
        self.assertEqual((plain["state"], plain["finished"]), ("QUEUED", None))
        with_input = dexi("POST", "/runs/%s/execute/inputs?connect=true" % seed.RUN_STAGS,
                          {"url": "http://www.google.com"}).json()
        self.assertEqual(with_input["state"], "PENDING")
        self.assertNotEqual(with_input["_id"], plain["_id"])


class DexiFlowTests(DexiCase):
    def test_flow_a_inputs_poll_result_files(self):
        ex = dexi("POST", "/runs/%s/execute/inputs?connect=false" % seed.RUN_STAGS,
                  {"url": "https://example.org/x", "depth": 2}).json()
        self.assertEqual(self.poll_states(ex["_id"], 4), ["PENDING", "PENDING", "RUNNING", "RUNNING"])
        done = dexi("GET", "/executions/%s" % ex["_id"]).json()
        self.assertEqual(done["state"], "OK")
        self.assertIsInstance(done["finished"], int)
        self.assertGreaterEqual(done["finished"], done["starts"])
        result = dexi("GET", "/executions/%s/result?format=json" % ex["_id"]).json()
        self.assertEqual(result["headers"][:2], ["depth", "url"])
        self.assertEqual(result["headers"][-1], "error")
        self.assertEqual(len(result["rows"]), 1)
        row = result["rows"][0]
        self.assertEqual(row[:2], [2, "https://example.org/x"])
        pointers = [c for c in row if isinstance(c, str) and c.startswith("FILE:")]
        self.assertEqual(len(pointers), 2)
        self.assertIn(None, row)
        self.assertFalse(parse_pointer(pointers[0])[2].startswith("accounts/"))   # bare UUID
        self.assertIn("/lines/", parse_pointer(pointers[1])[2])                    # path style
        for cell in pointers:
            mime, size, _, _ = parse_pointer(cell)
            for keep_slash in (False, True):
                got = self.download(ex["_id"], cell, keep_slash)
                self.assertEqual((got.status, len(got.body)), (200, size))
                self.assertEqual(got.headers["content-type"], mime)
                self.assertEqual(got.headers["cache-control"], "private")
                self.assertTrue(got.chunked)
        self.assertEqual(dexi("DELETE", "/executions/%s" % ex["_id"]).body, b"")

    def test_flow_a_failed_stopped_and_fast_polls(self):
        ex = dexi("POST", "/runs/%s/execute" % seed.RUN_FAIL).json()
        done = self.run_to_end(ex["_id"])
        self.assertEqual(done["state"], "FAILED")
        rows = dexi("GET", "/executions/%s/result" % ex["_id"]).json()["rows"]
        self.assertTrue(rows and all(r[-1] for r in rows))
        dexi_config(polls_per_state=0, final_state="STOPPED")
        ex = dexi("POST", "/runs/%s/execute" % seed.RUN_STAGS).json()
        self.assertEqual(self.poll_states(ex["_id"], 1), ["STOPPED"])
        dexi_config(polls_per_state=1, final_state=None)
        ex = dexi("POST", "/runs/%s/execute" % seed.RUN_STAGS).json()
        self.assertEqual(self.poll_states(ex["_id"], 3), ["QUEUED", "RUNNING", "OK"])
        run = dexi("POST", "/runs?robotId=%s" % seed.ROBOT_STAGS, {"name": "will stop"}).json()
        ex = dexi("POST", "/runs/%s/execute" % run["_id"]).json()
        self.assertEqual(self.poll_states(ex["_id"], 3), ["QUEUED", "RUNNING", "STOPPED"])

    def test_stop_and_continue(self):
        path = "/executions/%s" % seed.EXEC_RUNNING
        self.assertEqual(dexi("POST", path + "/stop").json(), {})
        stopped = dexi("GET", path).json()
        self.assertEqual(stopped["state"], "STOPPED")
        self.assertIsNotNone(stopped["finished"])
        self.assertEqual(dexi("POST", path + "/stop").status, 400)
        self.assertEqual(dexi("POST", path + "/continue").json(), {})
        self.assertEqual(self.run_to_end(seed.EXEC_RUNNING)["state"], "OK")
        self.assertEqual(dexi("POST", "/executions/%s/continue" % seed.EXEC_STOPPED).status, 200)
        self.assertEqual(self.poll_states(seed.EXEC_STOPPED, 1), ["RUNNING"])

    def test_flow_b_wait_variants(self):
        history = "/runs/%s/executions" % seed.RUN_STAGS
        before = dexi("GET", history).json()["totalRows"]
        started = time.monotonic()
        result = dexi("POST", "/runs/%s/execute/wait?format=json&connect=false" % seed.RUN_STAGS)
        self.assertGreaterEqual(time.monotonic() - started, 0.15)
        self.assertTrue(result.headers["content-disposition"].endswith('_v1.json"'))
        self.assertEqual(len(result.json()["rows"]), 2)          # the run's 2 stored inputs
        self.assertEqual(dexi("GET", history).json()["totalRows"], before)   # deleted after
        kept = dexi("POST", "/runs/%s/execute/inputs/wait?deleteAfter=false" % seed.RUN_STAGS,
                    {"url": "u1"}).json()
        self.assertEqual(kept["rows"][0][0], "u1")
        self.assertEqual(dexi("GET", history).json()["totalRows"], before + 1)
        newest = dexi("GET", history + "?limit=1").json()["rows"][0]
        self.assertEqual(newest["state"], "OK")
        got = self.download(newest["_id"], kept["rows"][0][3])
        self.assertEqual(got.status, 200)
        bulk = dexi("POST", "/runs/%s/execute/bulk/wait?format=csv" % seed.RUN_STAGS,
                    [{"url": "a"}, {"url": "b"}, {"url": "c"}])
        self.assertEqual(bulk.headers["content-type"], "text/csv")
        lines = bulk.body.decode().splitlines()
        self.assertEqual(lines[0].split(",")[:2], ['"url"', '"title"'])
        self.assertEqual(len(lines), 4)
        self.assertEqual(dexi("POST", "/runs/%s/execute/bulk/wait" % seed.RUN_STAGS,
                              {"url": "a"}).status, 400)

    def test_flow_c_bulk(self):
        inputs = [{"input_1": "a"}, {"input_1": "b"}]
        ex = dexi("POST", "/runs/%s/execute/bulk?connect=false" % seed.RUN_STAGS, inputs).json()
        self.assertEqual(ex["state"], "PENDING")
        self.assertEqual(self.run_to_end(ex["_id"])["state"], "OK")
        result = dexi("GET", "/executions/%s/result" % ex["_id"]).json()
        self.assertEqual(sorted(r[0] for r in result["rows"]), ["a", "b"])

    def test_flow_d_inputs(self):
        run = "/runs/%s" % seed.RUN_STAGS
        reply = dexi("PUT", run + "/inputs?append=false", [{"k": "a"}, {"k": "b"}])
        self.assertEqual(reply.json()["_id"], seed.RUN_STAGS)
        dexi("PUT", run + "/inputs?append=true", [{"k": "c"}])
        dexi_config(polls_per_state=0)
        ex = dexi("POST", run + "/execute").json()
        self.run_to_end(ex["_id"])
        result = dexi("GET", "/executions/%s/result" % ex["_id"]).json()
        self.assertEqual([r[0] for r in result["rows"]], ["a", "b", "c"])
        cleared = dexi("DELETE", run + "/inputs")
        self.assertEqual((cleared.status, cleared.body), (200, b""))
        ex = dexi("POST", run + "/execute").json()
        self.run_to_end(ex["_id"])
        result = dexi("GET", "/executions/%s/result" % ex["_id"]).json()
        self.assertEqual(result["headers"][0], "title")          # no input columns
        self.assertEqual(len(result["rows"]), 3)
        self.assertEqual(dexi("PUT", run + "/inputs", {"not": "a list"}).status, 200)
        self.assertEqual(dexi("PUT", run + "/inputs", [1, 2]).status, 400)

    def test_flow_e_dataset_paging(self):
        path = "/datasets/%s/rows" % seed.DATASET
        seen, offset = [], 0
        while True:
            page = dexi("POST", path, {"offset": offset, "limit": 200}).json()
            self.assertEqual((page["offset"], page["totalRows"]), (offset, 450))
            if not page["rows"]:
                break
            seen += page["rows"]
            offset += len(page["rows"])
            if offset >= page["totalRows"]:
                break
        self.assertEqual([r["index"] for r in seen], list(range(1, 451)))
        self.assertEqual(len(dexi("POST", path, {"limit": 500}).json()["rows"]), 200)
        self.assertEqual(len(dexi("POST", path).json()["rows"]), 200)
        books = dexi("POST", path, {"query": {"category": "books"}, "limit": 5}).json()
        self.assertEqual(books["totalRows"], 150)
        self.assertTrue(all(r["category"] == "books" for r in books["rows"]))
        self.assertEqual(dexi("POST", path, {"query": [{"odd": "shape"}]}).json()["totalRows"], 450)
        self.assertEqual(dexi("POST", path, {"limit": "x"}).status, 400)
        self.assertEqual(dexi("POST", path, b"{broken").status, 400)
        self.assertEqual(dexi("POST", "/datasets/nope/rows", {}).status, 404)

    def test_flow_f_listing(self):
        first = dexi("GET", "/runs").json()
        self.assertEqual((len(first["rows"]), first["offset"], first["totalRows"]), (30, 0, 234))
        self.assertEqual(first["rows"][0]["_id"], seed.RUN_STAGS)     # newest first
        ids, offset = [], 0
        while offset < first["totalRows"]:
            page = dexi("GET", "/runs?limit=200&offset=%d" % offset).json()
            ids += [r["_id"] for r in page["rows"]]
            offset += len(page["rows"])
        self.assertEqual(len(set(ids)), 234)
        mine = dexi("GET", "/runs?robotId=%s" % seed.ROBOT_STAGS).json()
        self.assertEqual(mine["totalRows"], 3)
        history = "/runs/%s/executions" % seed.RUN_HISTORY
        page = dexi("GET", history).json()
        self.assertEqual((len(page["rows"]), page["totalRows"]), (30, 250))
        self.assertEqual(page["rows"][0]["_id"], "31000000-0000-4000-8000-000000000250")
        self.assertEqual(page["rows"][0]["runId"], seed.RUN_HISTORY)
        self.assertEqual(len(dexi("GET", history + "?limit=500").json()["rows"]), 200)
        last = dexi("GET", history + "?offset=240&limit=30").json()["rows"]
        self.assertEqual(len(last), 10)
        self.assertEqual(last[-1]["_id"], "31000000-0000-4000-8000-000000000001")
        self.assertEqual(dexi("GET", history + "?limit=0").status, 400)

    def test_paging_switches(self):
        dexi_config(ignore_offset=True, total_rows_extra=5)
        page = dexi("GET", "/runs?offset=60&limit=10").json()
        self.assertEqual((page["offset"], page["totalRows"]), (0, 239))
        self.assertEqual(page["rows"][0]["_id"], seed.RUN_STAGS)
        dexi_config(ignore_offset=False, total_rows_extra=0, result_rows=450, polls_per_state=0)
        ex = dexi("POST", "/runs/%s/execute" % seed.RUN_STAGS).json()
        self.run_to_end(ex["_id"])
        result = "/executions/%s/result" % ex["_id"]
        whole = dexi("GET", result).json()
        self.assertEqual(len(whole["rows"]), 450)
        self.assertNotIn("totalRows", whole)
        self.assertEqual(len(dexi("GET", result + "?offset=400&limit=200").json()["rows"]), 50)
        self.assertEqual(len(dexi("GET", result + "?limit=500").json()["rows"]), 200)
        dexi_config(result_paging=False, result_total_rows=True)
        paged = dexi("GET", result + "?limit=10").json()
        self.assertEqual((len(paged["rows"]), paged["totalRows"]), (450, 450))

    def test_file_ids_and_short_files(self):
        result = dexi("GET", "/executions/%s/result" % seed.EXEC_FILES).json()
        cells = [r[0] for r in result["rows"] if r[0]]
        self.assertEqual(len(cells), 5)
        self.assertIsNone(result["rows"][-1][0])
        for cell in cells:
            mime, size, file_id, extra = parse_pointer(cell)
            for keep_slash in (False, True):
                got = self.download(seed.EXEC_FILES, cell, keep_slash)
                self.assertEqual((got.status, len(got.body), got.headers["content-type"]),
                                 (200, size, mime), cell)
        self.assertEqual(parse_pointer(cells[3])[3], ["x-extra", "42"])
        recorded = self.download(seed.EXEC_FILES, cells[0])
        self.assertEqual((len(recorded.body), recorded.body[:4]), (26071, b"\x89PNG"))
        bare = dexi("GET", "/files/%s" % seed.FILE_RECORDED)
        self.assertEqual(bare.headers["content-length"], "26071")
        self.assertEqual(bare.body, recorded.body)
        self.assertEqual(dexi("GET", "/files/%s" % seed.FILE_UPPER.lower()).status, 404)
        self.assertEqual(dexi("GET", "/executions/%s/file/%s"
                              % (seed.EXEC_STAGS, seed.FILE_RECORDED)).status, 404)
        dexi_config(file_short_by=100)
        short = self.download(seed.EXEC_FILES, cells[0])
        self.assertEqual((short.status, len(short.body)), (200, 26071 - 100))
        dexi_config(file_short_by=0, file_long_by=1000, limits={"file": None})
        long = self.download(seed.EXEC_FILES, cells[0])
        self.assertEqual((long.status, len(long.body)), (200, 26071 + 1000))

    def test_robots_runs_crud(self):
        robot = dexi("POST", "/robots", {"name": "new robot", "type": "AUTO"}).json()
        self.assertEqual((robot["name"], robot["type"]), ("new robot", "AUTO"))
        updated = dexi("PUT", "/robots", {"_id": robot["_id"], "name": "renamed"}).json()
        self.assertEqual(updated["name"], "renamed")
        self.assertEqual(dexi("GET", "/robots/%s" % robot["_id"]).json()["name"], "renamed")
        run = dexi("POST", "/runs?robotId=%s" % robot["_id"], {"name": "r1"}).json()
        self.assertEqual((run["robotId"], run["version"]), (robot["_id"], 1))
        again = dexi("POST", "/runs", {"_id": run["_id"], "name": "r2", "robotId": robot["_id"]}).json()
        self.assertEqual((again["_id"], again["name"], again["version"]), (run["_id"], "r2", 2))
        self.assertEqual(dexi("GET", "/runs/%s" % run["_id"]).json()["name"], "r2")
        self.assertEqual(dexi("POST", "/runs", {"name": "orphan"}).status, 400)
        self.assertEqual(dexi("POST", "/runs?robotId=nope", {"name": "x"}).status, 404)
        removed = dexi("DELETE", "/robots/%s" % robot["_id"])
        self.assertEqual((removed.status, removed.body), (200, b""))
        self.assertEqual(dexi("GET", "/runs/%s" % run["_id"]).status, 404)
        self.assertEqual(dexi("DELETE", "/runs/%s" % seed.RUN_HISTORY).status, 200)
        self.assertEqual(dexi("GET", "/executions/31000000-0000-4000-8000-000000000001").status, 404)

    def test_latest_result_stats_formats(self):
        latest = dexi("GET", "/runs/%s/latest/result" % seed.RUN_STAGS)
        self.assertEqual(latest.headers["content-disposition"], 'attachment; filename="stags_v1.json"')
        failed = dexi("GET", "/runs/%s/latest/result?state=FAILED" % seed.RUN_HISTORY).json()
        self.assertTrue(all(r[-1] for r in failed["rows"]))
        self.assertEqual(dexi("GET", "/runs/%s/latest/result" % seed.RUN_FAIL).status, 404)
        stats = dexi("GET", "/executions/%s/stats" % seed.EXEC_STAGS).json()
        self.assertEqual((stats["state"], stats["robotName"], stats["resultsTotal"]), ("OK", "stags", 1))
        self.assertIs(stats["archived"], False)
        base = "/executions/%s/result?format=" % seed.EXEC_FILES
        self.assertTrue(dexi("GET", base + "scsv").body.startswith(b'"image";"label";"error"\n'))
        xml = dexi("GET", base + "xml")
        self.assertEqual(xml.headers["content-type"], "application/xml")
        self.assertIn(b"<label>svg</label>", xml.body)
        self.assertEqual(dexi("GET", base + "pdf").status, 400)

    def test_recording_of_requests(self):
        dexi("GET", "/runs?limit=1")
        records = dexi("GET", "/_requests", auth=None).json()
        self.assertEqual([(r["method"], r["path"], r["status"]) for r in records],
                         [("GET", "/runs", 200)])
        self.assertEqual(records[0]["headers"]["x-dexiio-account"], seed.ACCOUNT)


if __name__ == "__main__":
    unittest.main()
