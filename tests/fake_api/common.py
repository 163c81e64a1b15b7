"""Shared machinery for the fake API servers (Python 3 standard library only).

A fake service is a `Service` subclass whose `handle(req)` turns a `Request` into a
`Response`; `serve(service)` runs it on a loopback port in background threads.
The transport is written by hand on top of `http.server` because the tests need
answers a normal framework refuses to give: chunked bodies, bodies cut short,
connections reset with RST, streamed bodies of hundreds of MiB, delayed status
lines.

Every service also answers three control endpoints (never recorded, never
authenticated):
  GET  /_requests[?since=N]  the recorded requests (from index N on, counted since the last reset)
  POST /_reset               forget records, restore `default_config`, call `reset_state()`
  GET  /_config              the current switches
  POST /_config {...}        merge a JSON object into the switches (nested objects merge
                             key by key), answer the result

Set FAKE_API_VERBOSE=1 to see one log line per request and transport errors on stderr.
"""

import copy
import http.server
import json
import os
import socket
import ssl
import struct
import sys
import threading
import time
import traceback
import urllib.parse
from collections import deque

VERBOSE = os.environ.get("FAKE_API_VERBOSE") == "1"

# Errors that only mean "the client went away"; never worth a traceback.
CLIENT_GONE = (BrokenPipeError, ConnectionResetError, ConnectionAbortedError,
               TimeoutError, ssl.SSLError)

WRITE_CHUNK = 64 * 1024      # body pieces are written (and chunk-framed) at most this big
MAX_RECORDS = 100_000        # keep the request log bounded during long benchmarks
MAX_RECORDED_BODY = 64 * 1024


def encode_json(obj):
    """Compact UTF-8 JSON, like Express's `res.json`."""
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def merge_config(target, update):
    """Merge dict `update` into dict `target`: nested dicts merge key by key,
    anything else (including null) replaces the old value."""
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            merge_config(target[key], value)
        else:
            target[key] = copy.deepcopy(value)
    return target


# {==== Request and Response ====}

class Request:
    """One parsed HTTP request. `path` is the raw path (still percent-encoded,
    no query); `query` maps names to lists of values; header names are lower case."""

    def __init__(self, method, path, query, headers, body, port, raw_query=""):
        self.method = method
        self.path = path
        self.raw_query = raw_query
        self.query = query
        self.headers = headers
        self.body = body
        self.port = port
        self.t = time.monotonic()

    def json(self):
        """The decoded JSON body; ValueError when empty or invalid."""
        if not self.body:
            raise ValueError("empty body")
        return json.loads(self.body.decode("utf-8"))

    def arg(self, name, default=None):
        """First value of query parameter `name`, or `default`."""
        values = self.query.get(name)
        return values[0] if values else default


class Response:
    """What a service answers.

    body       bytes or str (sent UTF-8 encoded)
    headers    dict; a value of None leaves that header out, even Date and Server
    chunked    Transfer-Encoding: chunked instead of Content-Length
    delay      seconds slept before the status line is sent
    truncate_at  announce the full length, send this many body bytes, close
    reset      close with an RST, sending nothing
    stream     iterable of bytes pieces, written as they come (give a Content-Length
               header, or chunked=True, else the body ends with the connection)
    reason     the reason phrase (Dexi once answered `200 ` with an empty one)
    raw        bytes sent as the whole answer, as they are, then the connection is closed
               (a malformed answer: HTTP/0.9, a broken status line, a giant header)"""

    def __init__(self, status=200, body=b"", headers=None, *, chunked=False, delay=0.0,
                 truncate_at=None, reset=False, stream=None, reason=None, raw=None):
        self.status = int(status)
        self.body = body.encode("utf-8") if isinstance(body, str) else bytes(body or b"")
        self.headers = dict(headers or {})
        self.chunked = chunked
        self.delay = float(delay or 0.0)
        self.truncate_at = truncate_at
        self.reset = reset
        self.stream = stream
        self.reason = reason
        self.raw = raw


def json_response(obj, status=200, headers=None, chunked=False):
    """A JSON answer; `headers` are added to (and may override) the Content-Type."""
    all_headers = {"Content-Type": "application/json"}
    all_headers.update(headers or {})
    return Response(status, encode_json(obj), all_headers, chunked=chunked)


# {==== Rate limiting ====}

class SlidingWindow:
    """At most `limit` admissions per key in any `window_seconds` span.

    Rejections are not counted, so a client that keeps knocking is not locked out
    for longer than the window. `limit` and `window` may be changed at any time;
    a `limit` of None admits everything."""

    def __init__(self, limit, window_seconds):
        self.limit = limit
        self.window = float(window_seconds)
        self._hits = {}
        self._lock = threading.Lock()

    def allow(self, key, now=None):
        """(True, 0.0) and count the hit, or (False, seconds until a slot frees)."""
        now = time.monotonic() if now is None else now
        with self._lock:
            hits = self._hits.setdefault(key, deque())
            while hits and hits[0] <= now - self.window:
                hits.popleft()
            if self.limit is None or len(hits) < self.limit:
                hits.append(now)
                return True, 0.0
            if self.limit <= 0:
                return False, self.window
            # The slot frees when the hit that keeps us at the limit ages out.
            oldest_blocking = hits[len(hits) - self.limit]
            return False, max(0.0, oldest_blocking + self.window - now)

    def reset(self):
        with self._lock:
            self._hits.clear()


# {==== Service base ====}

class Service:
    """Base of every fake. Subclasses set `name`, `default_config`, implement
    `handle(req) -> Response` and, if they keep state, `reset_state()` (which they
    should also call from their own `__init__`). `self.lock` guards their state."""

    name = "service"
    default_config = {}

    def __init__(self):
        self.lock = threading.RLock()
        self.config = copy.deepcopy(self.default_config)
        self.requests = []
        self._records_dropped = 0
        self._records_lock = threading.Lock()
        self._stopping = threading.Event()

    def handle(self, req):
        return json_response({"error": "not found", "path": req.path}, 404)

    def reset_state(self):
        """Restore seed data; called by POST /_reset."""

    def sleep(self, seconds):
        """Sleep in a handler thread; returns False early when the server stops,
        so no handler keeps a thread (and its socket) alive past shutdown."""
        if seconds <= 0:
            return not self._stopping.is_set()
        return not self._stopping.wait(seconds)

    def dispatch(self, req):
        """Answer control endpoints, else `handle`; record the exchange."""
        control = self._control(req)
        if control is not None:
            return control
        try:
            resp = self.handle(req)
        except Exception as exc:  # a bug in the fake: say so loudly, answer 500
            traceback.print_exc(file=sys.stderr)
            resp = json_response({"error": "fake server bug", "detail": repr(exc)}, 500)
        self._record(req, resp.status)
        return resp

    # -- request log --

    def _record(self, req, status):
        entry = {
            "t": req.t,
            "method": req.method,
            "path": req.path,
            "query": req.query,
            "headers": req.headers,
            "body": req.body[:MAX_RECORDED_BODY].decode("utf-8", errors="replace"),
            "status": status,
            "peer": getattr(req, "peer", None),
        }
        with self._records_lock:
            self.requests.append(entry)
            if len(self.requests) > MAX_RECORDS:
                drop = len(self.requests) // 2
                del self.requests[:drop]
                self._records_dropped += drop

    def recorded(self, since=0):
        """Copy of the records from index `since` on. Indexes count from the last
        reset and stay valid when old records are dropped to bound memory."""
        with self._records_lock:
            start = max(0, since - self._records_dropped)
            return list(self.requests[start:])

    def clear_records(self):
        with self._records_lock:
            self._records_dropped = 0
            self.requests.clear()

    # -- control endpoints --

    def _control(self, req):
        path = req.path.rstrip("/")
        if path == "/_requests" and req.method in ("GET", "HEAD"):
            try:
                since = int(req.arg("since", "0"))
            except ValueError:
                return json_response({"error": "since must be an integer"}, 400)
            return json_response(self.recorded(since))
        if path == "/_reset" and req.method == "POST":
            self.clear_records()
            with self.lock:
                self.config = copy.deepcopy(self.default_config)
                self.reset_state()
            return json_response({"ok": True})
        if path == "/_config":
            return self._control_config(req)
        return None

    def _control_config(self, req):
        if req.method in ("GET", "HEAD"):
            with self.lock:
                return json_response(self.config)
        if req.method != "POST":
            return json_response({"error": "use GET or POST"}, 405)
        try:
            update = req.json()
        except ValueError:
            update = None
        if not isinstance(update, dict):
            return json_response({"error": "body must be a JSON object"}, 400)
        with self.lock:
            merge_config(self.config, update)
            return json_response(self.config)


# {==== HTTP transport ====}

class _BadRequest(Exception):
    pass


class _Handler(http.server.BaseHTTPRequestHandler):
    """Parses requests into `Request`s and writes `Response`s byte by byte."""

    protocol_version = "HTTP/1.1"
    server_version = "fake-api/1.0"
    disable_nagle_algorithm = True   # headers and body go out as separate writes

    def setup(self):
        super().setup()
        if isinstance(self.connection, ssl.SSLSocket):
            # The handshake runs here, in the connection's thread, so a slow or
            # failing TLS client never blocks the accept loop.
            self.connection.settimeout(10)
            self.connection.do_handshake()
            self.connection.settimeout(None)

    def log_message(self, format, *args):
        if VERBOSE:
            super().log_message(format, *args)

    def _serve(self):
        try:
            try:
                req = self._read_request()
            except _BadRequest as exc:
                self.close_connection = True
                self._send(None, json_response({"error": "bad request", "detail": str(exc)}, 400))
                return
            resp = self.server.service.dispatch(req)
            self.log_request(resp.status)
            self._send(req, resp)
        except CLIENT_GONE:
            self.close_connection = True

    do_GET = do_HEAD = do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _serve

    # -- reading --

    def _read_request(self):
        target = self.path
        if "://" in target.split("?", 1)[0]:          # absolute-form request target
            split = urllib.parse.urlsplit(target)
            path, raw_query = split.path or "/", split.query
        else:
            path, _, raw_query = target.partition("?")
            raw_query = raw_query.partition("#")[0]
        query = urllib.parse.parse_qs(raw_query, keep_blank_values=True)
        headers = {}
        for name, value in self.headers.items():
            name = name.lower()
            headers[name] = headers[name] + ", " + value if name in headers else value
        body = self._read_body(headers)
        req = Request(self.command, path, query, headers, body,
                      self.server.server_port, raw_query)
        req.peer = self.client_address[1]     # the client's port: one per TCP connection
        return req

    def _read_body(self, headers):
        # Expect: 100-continue was already answered by parse_request().
        if "chunked" in headers.get("transfer-encoding", "").lower():
            return self._read_chunked()
        length = headers.get("content-length")
        if length is None:
            return b""
        try:
            length = int(length)
        except ValueError:
            raise _BadRequest("bad Content-Length")
        if length < 0:
            raise _BadRequest("bad Content-Length")
        body = self.rfile.read(length)
        if len(body) < length:
            raise ConnectionAbortedError("request body cut short")
        return body

    def _read_chunked(self):
        parts = []
        while True:
            line = self.rfile.readline(1024)
            if not line:
                raise ConnectionAbortedError("request body cut short")
            try:
                size = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                raise _BadRequest("bad chunk size line")
            if size == 0:
                break
            data = self.rfile.read(size)
            if len(data) < size:
                raise ConnectionAbortedError("request body cut short")
            parts.append(data)
            self.rfile.readline(1024)                 # CRLF after the chunk
        while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
            pass                                       # trailers
        return b"".join(parts)

    # -- writing --

    def _send(self, req, resp):
        """Write `resp`: after `delay`; as an RST if `reset`; chunked or with a
        Content-Length; cut after `truncate_at` body bytes then closed."""
        if resp.delay > 0 and not self.server.service.sleep(resp.delay):
            self.close_connection = True               # server is stopping
            return
        if resp.reset:
            self._reset_connection()
            return
        if resp.raw is not None:
            self.close_connection = True
            self.wfile.write(resp.raw)
            return
        head_only = req is not None and req.method == "HEAD"
        status = resp.status
        # A header given as None is left out (and so is our default for it).
        headers = [(k, str(v)) for k, v in resp.headers.items()
                   if v is not None and k.lower() not in ("content-length", "transfer-encoding")]
        given_length = _header(resp.headers, "content-length")
        has_body = status >= 200 and status not in (204, 304)
        chunked = resp.chunked and has_body and self.request_version == "HTTP/1.1"
        if not has_body:
            pass
        elif chunked:
            headers.append(("Transfer-Encoding", "chunked"))
        elif resp.stream is None:
            headers.append(("Content-Length", str(len(resp.body))))
        elif given_length is not None:
            headers.append(("Content-Length", str(given_length)))
        else:
            self.close_connection = True               # body delimited by the close
        if resp.truncate_at is not None:
            self.close_connection = True
        if (_header(resp.headers, "connection") or "").lower() == "close":
            self.close_connection = True
        head = self._head_bytes(status, resp.reason, headers, resp.headers)
        if head_only or not has_body:
            self.wfile.write(head)
            return
        self._write_body(head, resp, chunked)

    def _head_bytes(self, status, reason, headers, given):
        if reason is None:
            reason = self.responses.get(status, ("Unknown",))[0]
        lines = ["%s %d %s" % (self.protocol_version, status, reason)]
        given_names = {name.lower() for name in given}
        if "date" not in given_names:
            lines.append("Date: " + self.date_time_string())
        if "server" not in given_names:
            lines.append("Server: " + self.version_string())
        lines.extend("%s: %s" % kv for kv in headers)
        if self.close_connection and "connection" not in given_names:
            lines.append("Connection: close")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

    def _write_body(self, head, resp, chunked):
        limit = resp.truncate_at
        sent = 0
        if resp.stream is None:
            pieces = (resp.body[i:i + WRITE_CHUNK]
                      for i in range(0, len(resp.body), WRITE_CHUNK))
            pending = bytearray(head)                  # small answers: one write
        else:
            pieces = iter(resp.stream)
            self.wfile.write(head)                     # streams: headers now
            pending = bytearray()
        try:
            for piece in pieces:
                if limit is not None:
                    piece = piece[:max(0, limit - sent)]
                if not piece:
                    if limit is not None and sent >= limit:
                        break
                    continue
                sent += len(piece)
                pending += b"%x\r\n%s\r\n" % (len(piece), piece) if chunked else piece
                if resp.stream is not None or len(pending) >= WRITE_CHUNK:
                    self.wfile.write(pending)
                    pending.clear()
            if chunked and limit is None:
                pending += b"0\r\n\r\n"
            if pending:
                self.wfile.write(pending)
        finally:
            if hasattr(pieces, "close"):
                pieces.close()

    def _reset_connection(self):
        """Close with SO_LINGER 0, so the peer gets an RST instead of a FIN."""
        self.close_connection = True
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                       struct.pack("ii", 1, 0))
        except OSError:
            pass
        # rfile holds a reference to the socket; the real close (and the RST)
        # happens once both are closed.
        self.rfile.close()
        self.connection.close()


def _header(headers, name):
    """Case-insensitive lookup in a plain dict of headers."""
    for key, value in headers.items():
        if key.lower() == name:
            return value
    return None


class FakeServer(http.server.ThreadingHTTPServer):
    """A threaded HTTP/1.1 server for one Service, with a `stop()` that really stops:
    it ends the accept loop, closes the port, shuts every open connection (idle
    keep-alive ones included), wakes sleeping handlers and joins their threads."""

    daemon_threads = True
    block_on_close = False        # we track and join connection threads ourselves
    request_queue_size = 1024     # benchmarks open many connections at once
    allow_reuse_address = True

    def __init__(self, service, host="127.0.0.1", port=0, ssl_context=None):
        self.service = service
        self.ssl_context = ssl_context
        self._active = {}
        self._active_lock = threading.Lock()
        self._closing = False
        self._thread = None
        super().__init__((host, port), _Handler)

    @property
    def url(self):
        scheme = "https" if self.ssl_context else "http"
        return "%s://%s:%d" % (scheme, self.server_address[0], self.server_port)

    def get_request(self):
        sock, addr = super().get_request()
        if self.ssl_context is not None:
            sock = self.ssl_context.wrap_socket(sock, server_side=True,
                                                do_handshake_on_connect=False)
        return sock, addr

    def process_request(self, request, client_address):
        thread = threading.Thread(target=self.process_request_thread,
                                  args=(request, client_address), daemon=True,
                                  name="%s-%d-conn" % (self.service.name, self.server_port))
        with self._active_lock:
            if self._closing:
                self.close_request(request)
                return
            self._active[request] = thread
        thread.start()

    def shutdown_request(self, request):
        with self._active_lock:
            self._active.pop(request, None)
        super().shutdown_request(request)

    def handle_error(self, request, client_address):
        if VERBOSE:
            super().handle_error(request, client_address)

    def start(self):
        self.service._stopping.clear()
        self._thread = threading.Thread(target=self.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True,
                                        name="%s-%d-accept" % (self.service.name,
                                                               self.server_port))
        self._thread.start()
        return self

    def stop(self, timeout=5.0):
        """Stop serving and release the port and every connection thread."""
        deadline = time.monotonic() + timeout
        self.service._stopping.set()
        if self._thread is not None:
            self.shutdown()
            self._thread.join(max(0.0, deadline - time.monotonic()))
        self.server_close()
        with self._active_lock:
            self._closing = True
            active = list(self._active.items())
        for sock, _ in active:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        for _, thread in active:
            thread.join(max(0.0, deadline - time.monotonic()))


def serve(service, host="127.0.0.1", port=0, ssl_context=None):
    """Start `service` on host:port (0 = a free port) in background threads and
    return the running FakeServer (`server.server_port`, `server.url`, `server.stop()`)."""
    return FakeServer(service, host, port, ssl_context).start()
