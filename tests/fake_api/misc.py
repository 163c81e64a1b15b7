"""MiscService: plain HTTP endpoints for the runtime's own HTTP tests and benchmarks.

  ANY  /echo                          the request back as JSON
  GET  /json?size=N                   a ~N-byte JSON object (default 300)
  GET  /delay?s=1.0                   answers {"delayed": s} after s seconds
  GET  /bytes?n=N&seed=S[&chunked=1]  N deterministic bytes, streamed in 64 KiB pieces
  GET  /bytes_sha256?n=N&seed=S       {"sha256": hex} of the same N bytes
  GET  /truncated?n=N&at=M            announces Content-Length N, sends M bytes, closes
  GET  /reset                         connection reset (RST), no answer
  GET  /status/<code>[?html=1]        that status, JSON {"status": code} (or an HTML page)
  GET  /html502                       502 with a text/html page (a proxy's error page)
  GET  /invalid_json                  200 application/json that does not parse
  GET  /empty                         200 application/json with an empty body
  GET  /429?retry_after=S&times=K&key=X
                                      429 (Retry-After: S if given); see `_too_many`
  GET  /redirect?to=URL&status=302&delay=S  a redirect (default to /echo), after S seconds
  GET  /redirect_loop                 redirects to itself for ever
  GET  /gzip                          gzip-encoded JSON when Accept-Encoding allows it
  GET  /headers                       the request headers as JSON
  GET  /slow_body?chunks=N&interval=S N small chunks, S seconds apart (chunked)
  ANY  /echo_error/...[?status=400]   that status with an error body that repeats every request
                                      header (credentials too), in both APIs' error shapes:
                                      a careless server echoing a secret
  GET  /gzip_bomb?mib=N               ~1 KiB of gzip per MiB of zeros it decodes to (default
                                      2048: a 2 MiB body that is 2 GiB decoded), whatever the
                                      request's Accept-Encoding, as a hostile server sends it
  GET  /malformed?kind=K              a broken answer, then the connection closes: K = http09
                                      (a body without status line), negative_status
                                      ("HTTP/1.1 -200"), huge_header (a 100 KiB header line),
                                      bad_location (a redirect to "ftp://...")
  anything else                       404 JSON
"""

import functools
import gzip
import hashlib
import struct
import zlib

from common import Response, Service, encode_json, json_response

# /bytes content is an endless repetition of a 65,537-byte pattern (a sha256 stream
# of the seed). The period is a prime just above the 64 KiB piece size, so every
# piece starts at a different offset: swapped, repeated or dropped pieces change
# the digest, yet producing a piece is a single slice.
PATTERN_LEN = 65537
PIECE = 64 * 1024


@functools.lru_cache(maxsize=32)
def _pattern(seed):
    out = bytearray()
    counter = 0
    while len(out) < PATTERN_LEN:
        out += hashlib.sha256(("%s:%d" % (seed, counter)).encode()).digest()
        counter += 1
    one = bytes(out[:PATTERN_LEN])
    return one + one          # doubled, so any piece is one contiguous slice


def byte_stream(n, seed, piece=PIECE):
    """Yield the `n` bytes of /bytes?seed=`seed` in pieces of at most `piece` bytes."""
    pattern = _pattern(str(seed))
    sent = 0
    while sent < n:
        take = min(piece, n - sent, PATTERN_LEN)
        pos = sent % PATTERN_LEN
        yield pattern[pos:pos + take]
        sent += take


@functools.lru_cache(maxsize=64)
def bytes_sha256(n, seed):
    digest = hashlib.sha256()
    for piece in byte_stream(n, seed):
        digest.update(piece)
    return digest.hexdigest()


@functools.lru_cache(maxsize=64)
def _json_body(size):
    """A realistic small object padded to about `size` bytes."""
    base = {"id": 1, "name": "benchmark item", "ok": True, "price": 12.5,
            "tags": ["a", "b", "c"], "pad": ""}
    room = size - len(encode_json(base))
    base["pad"] = "x" * max(0, room)
    return encode_json(base)


MIB = 1024 * 1024


@functools.lru_cache(maxsize=1)
def _zero_mib_deflate():
    """One MiB of zeros as raw deflate ending on a full flush: it starts from an empty
    history, so the same bytes may follow each other any number of times."""
    comp = zlib.compressobj(9, zlib.DEFLATED, -15)
    return comp.compress(bytes(MIB)) + comp.flush(zlib.Z_FULL_FLUSH)


def gzip_bomb(mib):
    """(length, pieces) of a gzip member that decodes to `mib` MiB of zeros; the CRC is
    worked out only by a reader that takes the whole body."""
    block = _zero_mib_deflate()
    header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"
    length = len(header) + mib * len(block) + 2 + 8

    def pieces():
        yield header
        crc, zeros = 0, bytes(MIB)
        for _ in range(mib):
            crc = zlib.crc32(zeros, crc)
            yield block
        yield b"\x03\x00" + struct.pack("<II", crc, (mib * MIB) & 0xFFFFFFFF)
    return length, pieces()


HTML_502 = (b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
            b"<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n"
            b"</body>\r\n</html>\r\n")


class BadParam(ValueError):
    pass


def _int(req, name, default, low=0, high=None):
    raw = req.arg(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadParam("%s must be an integer" % name)
    if value < low or (high is not None and value > high):
        raise BadParam("%s out of range" % name)
    return value


def _float(req, name, default, low=0.0, high=3600.0):
    raw = req.arg(name)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise BadParam("%s must be a number" % name)
    if not low <= value <= high:
        raise BadParam("%s out of range" % name)
    return value


def accepts_gzip(accept_encoding):
    """True when an Accept-Encoding value allows gzip (by name or `*`, q > 0)."""
    for item in accept_encoding.split(","):
        token, _, params = item.strip().partition(";")
        token = token.strip().lower()
        if token not in ("gzip", "x-gzip", "*"):
            continue
        q = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if q > 0:
            return True
    return False


class MiscService(Service):
    name = "misc"
    default_config = {}

    def __init__(self):
        super().__init__()
        self.reset_state()

    def reset_state(self):
        with self.lock:
            self._calls_429 = {}

    def handle(self, req):
        path = req.path.rstrip("/") or "/"
        try:
            if path.startswith("/status/"):
                return self._status(req, path[len("/status/"):])
            if path.startswith("/echo_error"):
                return self._echo_error(req)
            handler = self.ROUTES.get(path)
            if handler is None:
                return json_response({"error": "not found", "path": req.path}, 404)
            return handler(self, req)
        except BadParam as exc:
            return json_response({"error": str(exc)}, 400)

    # {==== endpoints ====}

    def _echo(self, req):
        try:
            decoded = req.json()
        except ValueError:
            decoded = None
        return json_response({
            "method": req.method, "path": req.path, "query": req.query,
            "headers": req.headers,
            "body": req.body.decode("utf-8", errors="replace"),
            "json": decoded,
        })

    def _echo_error(self, req):
        status = _int(req, "status", 400, low=400, high=599)
        said = "; ".join("%s: %s" % (k, v) for k, v in sorted(req.headers.items()))
        text = "cannot accept %s %s with %s" % (req.method, req.path, said)
        return json_response({"ok": False, "error": text, "error_details": {"message": text},
                              "message": text}, status)

    def _json(self, req):
        size = _int(req, "size", 300, high=64 * 1024 * 1024)
        return Response(200, _json_body(size), {"Content-Type": "application/json"})

    def _delay(self, req):
        seconds = _float(req, "s", 1.0)
        resp = json_response({"delayed": seconds})
        resp.delay = seconds          # slept in this connection's own thread
        return resp

    def _bytes(self, req):
        n = _int(req, "n", 1024)
        seed = req.arg("seed", "0")
        headers = {"Content-Type": "application/octet-stream", "Content-Length": str(n)}
        return Response(200, headers=headers, stream=byte_stream(n, seed),
                        chunked=req.arg("chunked") == "1")

    def _bytes_sha256(self, req):
        n = _int(req, "n", 1024)
        return json_response({"sha256": bytes_sha256(n, req.arg("seed", "0")), "n": n})

    def _truncated(self, req):
        n = _int(req, "n", 1000)
        at = _int(req, "at", n // 2, high=n)
        headers = {"Content-Type": "application/octet-stream", "Content-Length": str(n)}
        return Response(200, headers=headers, stream=byte_stream(n, "truncated"),
                        truncate_at=at)

    def _reset(self, req):
        return Response(reset=True)

    def _status(self, req, code_text):
        try:
            code = int(code_text)
        except ValueError:
            raise BadParam("status code must be an integer")
        if not 200 <= code <= 599:
            raise BadParam("status code out of range")
        if req.arg("html") == "1":
            return Response(code, HTML_502 if code == 502 else
                            b"<html><body><h1>%d</h1></body></html>" % code,
                            {"Content-Type": "text/html"})
        return json_response({"status": code}, code)

    def _html502(self, req):
        return Response(502, HTML_502, {"Content-Type": "text/html"})

    def _invalid_json(self, req):
        return Response(200, b'{"ok": true, "items": [1, 2,', {"Content-Type": "application/json"})

    def _empty(self, req):
        return Response(200, b"", {"Content-Type": "application/json"})

    def _too_many(self, req):
        """429 for the first `times` calls per `key`, then 200 {"ok", "attempt"}.
        No `times` and no `key`: 429 for ever. `key` alone: times=1."""
        key = req.arg("key")
        if req.arg("times") is None and key is None:
            times = None
        else:
            times = _int(req, "times", 1)
        key = key or "default"
        with self.lock:
            attempt = self._calls_429.get(key, 0) + 1
            self._calls_429[key] = attempt
        if times is not None and attempt > times:
            return json_response({"ok": True, "attempt": attempt})
        headers = {}
        if req.arg("retry_after") is not None:
            headers["Retry-After"] = req.arg("retry_after")
        return json_response({"error": "too many requests", "attempt": attempt}, 429, headers)

    def _redirect(self, req):
        status = _int(req, "status", 302)
        if status not in (301, 302, 303, 307, 308):
            raise BadParam("status must be a redirect code")
        target = req.arg("to", "/echo")
        resp = json_response({"redirect": target}, status, {"Location": target})
        resp.delay = _float(req, "delay", 0.0)
        return resp

    def _redirect_loop(self, req):
        return json_response({"redirect": "/redirect_loop"}, 302, {"Location": "/redirect_loop"})

    def _gzip(self, req):
        compress = accepts_gzip(req.headers.get("accept-encoding", ""))
        payload = {"compressed": compress,
                   "items": [{"index": i, "text": "compressible text %d" % i} for i in range(100)]}
        body = encode_json(payload)
        headers = {"Content-Type": "application/json", "Vary": "Accept-Encoding"}
        if compress:
            body = gzip.compress(body, mtime=0)
            headers["Content-Encoding"] = "gzip"
        return Response(200, body, headers)

    def _headers(self, req):
        return json_response(req.headers)

    def _gzip_bomb(self, req):
        length, pieces = gzip_bomb(_int(req, "mib", 2048, high=16384))
        headers = {"Content-Type": "application/octet-stream", "Content-Encoding": "gzip",
                   "Content-Length": str(length)}
        return Response(200, headers=headers, stream=pieces)

    def _slow_body(self, req):
        chunks = _int(req, "chunks", 5, high=10000)
        interval = _float(req, "interval", 0.1, high=60.0)

        def pieces():
            for i in range(chunks):
                if i and not self.sleep(interval):
                    return
                yield b"chunk %d\n" % i
        return Response(200, headers={"Content-Type": "text/plain"}, stream=pieces(),
                        chunked=True)

    MALFORMED = {
        "http09": b"hello, this is not HTTP\n",
        "negative_status": b"HTTP/1.1 -200 OK\r\nContent-Length: 2\r\n\r\nok",
        "huge_header": b"HTTP/1.1 200 OK\r\nX-Huge: " + b"x" * (100 * 1024) +
                       b"\r\nContent-Length: 2\r\n\r\nok",
        "bad_location": b"HTTP/1.1 302 Found\r\nLocation: ftp://127.0.0.1/file\r\n"
                        b"Content-Length: 0\r\n\r\n",
    }

    def _malformed(self, req):
        raw = self.MALFORMED.get(req.arg("kind", ""))
        if raw is None:
            raise BadParam("kind must be one of " + ", ".join(sorted(self.MALFORMED)))
        return Response(raw=raw)

    ROUTES = {
        "/echo": _echo,
        "/json": _json,
        "/delay": _delay,
        "/bytes": _bytes,
        "/bytes_sha256": _bytes_sha256,
        "/truncated": _truncated,
        "/reset": _reset,
        "/html502": _html502,
        "/invalid_json": _invalid_json,
        "/empty": _empty,
        "/429": _too_many,
        "/redirect": _redirect,
        "/redirect_loop": _redirect_loop,
        "/gzip": _gzip,
        "/headers": _headers,
        "/slow_body": _slow_body,
        "/gzip_bomb": _gzip_bomb,
        "/malformed": _malformed,
    }
