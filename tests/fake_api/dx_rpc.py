"""RPC machinery shared by the fake DX services (dx.py): errors and their
{ok:false} bodies, argument specs and coercion, request-body parsing, the
injected infrastructure faults, and RpcService -- method-table dispatch, token
auth and scopes, the per-token rate limit and cursor pagination."""

import copy
import functools
import json
import math
import re
import time
import urllib.parse
from email.parser import BytesParser
from email.policy import HTTP as HTTP_POLICY

try:
    from common import Response, Service, SlidingWindow, json_response
    import dx_data as D
except ImportError:  # imported as part of a package
    from .common import Response, Service, SlidingWindow, json_response
    from . import dx_data as D

IDENT_RE = re.compile(r"^[A-Za-z0-9_.-]+$")


def iso(t):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


# --------------------------------------------------------------------------
# Errors and arguments
# --------------------------------------------------------------------------

class ApiError(Exception):
    """An {ok:false} answer.  `details` go into error_details next to message."""

    def __init__(self, status, code, message=None, headers=None, details=None, **top):
        super().__init__(code)
        self.status, self.code, self.message = status, code, message
        self.headers, self.details, self.top = headers, details or {}, top

    def response(self):
        body = {"ok": False, "error": self.code}
        if self.message or self.details:
            body["error_details"] = dict({"message": self.message or self.code}, **self.details)
        body.update(self.top)
        return json_response(body, self.status, self.headers)


def bad_arg(argument, message):
    return ApiError(400, "invalid_arguments", message, details={"argument": argument})


def missing(argument, why=""):
    return bad_arg(argument, "missing required argument: %s%s" % (argument, why))


def not_found(what, ident):
    return ApiError(404, "not_found", "%s not found: %s" % (what, ident))


def ref_not_found(what, ident):
    """An unknown object named inside a write payload (the CLI's '422 not_found')."""
    return ApiError(422, "not_found", "%s not found: %s" % (what, ident))


def invalid_payload(message, **details):
    return ApiError(422, "invalid_payload", message, details=details)


@functools.lru_cache(maxsize=None)
def parse_spec(spec):
    """'id! limit:int format:enum(json|csv)' -> [(name, type, required)]."""
    out = []
    for tok in spec.split():
        req = tok.endswith("!")
        name, _, typ = tok.rstrip("!").partition(":")
        out.append((name, typ or "str", req))
    return out


def coerce(name, typ, v, textual):
    """Check/convert one argument.  `textual`: it came from a query string or a
    form body, so "5", "true", "a,b" and JSON text stand for typed values."""
    def fail(what):
        raise bad_arg(name, "argument '%s' must be %s" % (name, what))

    if typ in ("obj", "list", "objlist", "any") and isinstance(v, str) and textual:
        s = v.strip()
        if s[:1] in ("{", "["):
            try:
                v = json.loads(s)
            except ValueError:
                fail("valid JSON")
    if typ == "str":
        if isinstance(v, (bool, dict, list)) or v is None:
            fail("a string")
        return v if isinstance(v, str) else str(v)
    if typ == "strint":                       # Data Cloud reference_id: Text or Integer
        if isinstance(v, (bool, dict, list)):
            fail("a string or an integer")
        return str(v)
    if typ == "int":
        if isinstance(v, str) and re.fullmatch(r"\s*-?\d+\s*", v):
            return int(v)
        if isinstance(v, bool) or not isinstance(v, int):
            fail("an integer")
        return v
    if typ == "num":
        if isinstance(v, str):
            try:
                return float(v)
            except ValueError:
                fail("a number")
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            fail("a number")
        return v
    if typ == "bool":
        if isinstance(v, bool):
            return v
        if isinstance(v, str) and v.lower() in ("true", "false", "1", "0"):
            return v.lower() in ("true", "1")
        fail("a boolean")
    if typ == "obj":
        if not isinstance(v, dict):
            fail("an object")
        return v
    if typ == "list":                          # Array<Text>: JSON array or "a,b,c"
        items = v if isinstance(v, list) else [v]
        out = []
        for x in items:
            if isinstance(x, str):
                out.extend(p.strip() for p in x.split(",") if p.strip())
            elif isinstance(x, (int, float)) and not isinstance(x, bool):
                out.append(str(x))
            else:
                fail("an array of strings")
        return out
    if typ == "objlist":
        if not isinstance(v, list) or not all(isinstance(x, dict) for x in v):
            fail("an array of objects")
        return v
    if typ.startswith("enum("):
        options = typ[5:-1].split("|")
        if v not in options:
            fail("one of " + ", ".join(options))
        return v
    return v                                   # "any"


def parse_body(req):
    """POST arguments from a JSON, form or multipart body: (args, textual) where
    textual says the values are strings standing for typed values (form bodies)."""
    if not req.body:
        return {}, False
    ctype = req.headers.get("content-type", "").lower()
    if "multipart/form-data" in ctype:
        msg = BytesParser(policy=HTTP_POLICY).parsebytes(
            b"Content-Type: " + req.headers["content-type"].encode("latin-1") + b"\r\n\r\n" + req.body)
        out = {}
        for part in msg.iter_parts():
            name = part.get_param("name", header="content-disposition")
            data = part.get_payload(decode=True) or b""
            if part.get_filename():
                out[name] = {"filename": part.get_filename(), "content_type": part.get_content_type(),
                             "size": len(data)}
            else:
                out[name] = data.decode("utf-8", "replace")
        return out, True
    if "x-www-form-urlencoded" not in ctype:
        # JSON when declared, and also when undeclared but it parses (curl -d '{...}')
        try:
            body = json.loads(req.body.decode("utf-8"))
        except ValueError:
            if "json" in ctype:
                raise ApiError(400, "invalid_json", "the request body is not valid JSON")
        else:
            if not isinstance(body, dict):
                raise ApiError(400, "invalid_json", "the request body must be a JSON object")
            return body, False
    form = urllib.parse.parse_qs(req.body.decode("utf-8", "replace"), keep_blank_values=True)
    return {k: (vs[0] if len(vs) == 1 else vs) for k, vs in form.items()}, True


class Ctx:
    """What a handler gets besides its checked arguments."""

    def __init__(self, req, token, raw):
        self.req, self.token, self.raw = req, token, raw


# --------------------------------------------------------------------------
# Shared base: faults, auth, rate limit, argument checks, dispatch
# --------------------------------------------------------------------------

FAULT_CONFIG = {
    "fail_next": 0, "fail_status": 500, "html_502_next": 0, "bad_json_next": 0,
    "reset_next": 0, "truncate_next": 0, "slow_next": 0, "slow_seconds": 2.0, "latency": 0.0,
    "fault_methods": None, "redirect_loop": None,
}

HTML_502 = (b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
            b"<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n"
            b"</body>\r\n</html>\r\n")


class FaultsMixin:
    """Infrastructure faults, decided before anything else looks at a request."""

    def _self_url(self, req):
        host = req.headers.get("host") or "127.0.0.1:%d" % req.port
        return "http://%s%s%s" % (host, req.path, "?" + req.raw_query if req.raw_query else "")

    def _fault_before(self, req, name):
        c = self.config
        loop = c.get("redirect_loop")
        if loop and (loop == "*" or name == loop or (isinstance(loop, list) and name in loop)):
            return Response(302, b"", {"Location": self._self_url(req)})
        fm = c.get("fault_methods")
        if fm and name not in (fm if isinstance(fm, list) else [fm]):
            return None
        if self._take("reset_next"):
            return Response(reset=True)
        if self._take("fail_next"):
            return json_response({"ok": False, "error": "internal_error",
                                  "error_details": {"message": "injected fault"}},
                                 int(c.get("fail_status") or 500))
        if self._take("html_502_next"):
            return Response(502, HTML_502, {"Content-Type": "text/html"})
        if self._take("bad_json_next"):
            return Response(200, b'{"ok":true,"oops":', {"Content-Type": "application/json"})
        return None

    def _fault_after(self, name, resp):
        c = self.config
        resp.delay += float(c.get("latency") or 0)
        fm = c.get("fault_methods")
        if fm and name not in (fm if isinstance(fm, list) else [fm]):
            return resp
        if self._take("slow_next"):
            resp.delay += float(c.get("slow_seconds") or 0)
        if self._take("truncate_next") and resp.stream is None and len(resp.body) > 1:
            resp.truncate_at = len(resp.body) // 2
        return resp

    def _take(self, key):
        n = int(self.config.get(key) or 0)
        if n > 0:
            self.config[key] = n - 1
            return True
        return False


class RpcService(FaultsMixin, Service):
    """RPC dispatch shared by the Web API and the Data Cloud API.

    Subclasses set `prefix` and METHODS = {name: (verb, scopes, argspec, handler)};
    `scopes` is None (any valid token), a scope, or a list of requirements each of
    which is a scope or a tuple of alternatives."""

    prefix = "/"
    METHODS = {}

    def __init__(self):
        super().__init__()
        self._window = self._window_params = None
        self.reset_state()

    def reset_state(self):
        self._window = self._window_params = None
        self.counters = {}

    def now(self):
        return time.time() + float(self.config.get("clock_offset") or 0)

    def new_id(self, kind):
        self.counters[kind] = self.counters.get(kind, 0) + 1
        return D.b36id("%s:%d" % (kind, self.counters[kind]))

    def dispatch(self, req):
        if req.path == "/_state" and req.method == "GET":   # debugging aid, not recorded
            with self.lock:
                return json_response(self.debug_state())
        return super().dispatch(req)

    def debug_state(self):
        return {}

    def handle(self, req):
        name = req.path[len(self.prefix):] if req.path.startswith(self.prefix) else req.path
        with self.lock:
            try:
                resp = self._fault_before(req, name) or self._call(req, name)
            except ApiError as e:
                resp = e.response()
            return self._fault_after(name, resp)

    def _call(self, req, name):
        spec = self.METHODS.get(name)
        if spec is None:
            raise ApiError(404, "unknown_method", "unknown method: %s" % name)
        verb, scopes, argspec, handler = spec
        token = self.authenticate(req, name)
        self._rate_limit(token)
        if req.method != verb:
            raise ApiError(405, "method_not_allowed", "%s takes %s, not %s" % (name, verb, req.method),
                           headers={"Allow": verb})
        self._check_scopes(token, scopes)
        raw = {k: (vs[0] if len(vs) == 1 else vs) for k, vs in req.query.items()}
        textual = set(raw)
        if verb == "POST":   # POST merges query-string and body arguments (the CLI mixes them)
            body, body_textual = parse_body(req)
            textual = (textual | set(body)) if body_textual else (textual - set(body))
            raw.update(body)
        args = {}
        for arg, typ, required in parse_spec(argspec):
            v = raw.get(arg)
            if v is None or v == "" or v == []:
                if required:
                    raise missing(arg)
                continue
            args[arg] = coerce(arg, typ, v, arg in textual)
        result = getattr(self, handler)(args, Ctx(req, token, raw))
        if isinstance(result, Response):
            return result
        body = {"ok": True}
        body.update(result)
        return json_response(body)

    # -- auth --

    def token_record(self, tok):
        cfg = self.config.get("tokens") or {}
        if tok in cfg:
            v = cfg[tok]
            if v is None:
                return {"kind": "account", "name": tok, "scopes": [], "revoked": True}
            if isinstance(v, dict):
                return dict({"kind": "account", "name": tok, "scopes": []}, **v)
            return {"kind": "account", "name": tok, "scopes": list(v)}
        return copy.deepcopy(D.SEED_TOKENS.get(tok))

    def authenticate(self, req, name):
        header = req.headers.get("authorization", "").strip()
        m = re.match(r"(?i)^bearer(?:\s+(.*))?$", header)
        if not header or (m and not (m.group(1) or "").strip()):
            raise ApiError(401, "not_authed", "no token: send Authorization: Bearer <token>")
        if not m:
            raise ApiError(401, "invalid_auth", "the Authorization header must use the Bearer scheme")
        tok = m.group(1).strip()
        rec = self.token_record(tok)
        if rec is None or rec.get("revoked"):
            raise ApiError(401, "invalid_auth", "the token could not be validated")
        exp = rec.get("expires_at")
        if exp and exp < iso(self.now()):
            raise ApiError(401, "invalid_auth", "the token has expired")
        rec["token"] = tok
        self.check_token_kind(rec, name)
        return rec

    def check_token_kind(self, rec, name):
        if rec["kind"] == "project":
            raise ApiError(401, "invalid_auth", "a PlatformX project token only works for events.track")

    def _check_scopes(self, token, scopes):
        if scopes is None:
            return
        for need in ([scopes] if isinstance(scopes, (str, tuple)) else scopes):
            alts = need if isinstance(need, tuple) else (need,)
            if not any(s in token["scopes"] for s in alts):
                raise ApiError(403, "missing_scope",
                               "this token lacks the scope %s" % " or ".join(alts),
                               needed=",".join(alts), provided=",".join(token["scopes"]))

    # -- rate limit: one sliding window per token (or per account) --

    def _rate_limit(self, token):
        params = (self.config.get("limit"), self.config.get("window"))
        if params[0] is None:
            return
        if self._window is None or self._window_params != params:
            self._window, self._window_params = SlidingWindow(params[0], params[1]), params
        key = D.ACCOUNT["id"] if self.config.get("rate_limit_key") == "account" else token["token"]
        allowed, wait = self._window.allow(key)
        if not allowed:
            headers = {}
            if self.config.get("retry_after_on_429", True):
                headers["Retry-After"] = str(max(1, math.ceil(wait)))
            raise ApiError(429, "rate_limited", "rate limit of %s requests per %s s exceeded" % params,
                           headers=headers)

    # -- pagination --

    def page(self, method, items, a, default_limit=50):
        """Cursor pagination: (items of this page, response_metadata)."""
        limit = a.get("limit", default_limit)
        if limit < 1:
            raise bad_arg("limit", "argument 'limit' must be at least 1")
        limit = min(limit, int(self.config.get("limit_max") or 100))
        cursor = a.get("cursor")
        offset = 0
        if cursor:
            offset = D.decode_cursor(method, cursor)
            if offset is None:
                raise ApiError(400, "invalid_cursor", "the cursor is not valid for %s" % method)
        chunk = items[offset:offset + limit]
        nxt = D.encode_cursor(method, offset + limit) if offset + limit < len(items) else None
        rep = self.config.get("repeat_cursor")
        if rep and (rep == method or (isinstance(rep, list) and method in rep)):
            nxt = cursor or D.encode_cursor(method, limit)
        return chunk, {"next_cursor": nxt}


def merge_methods(*tables):
    """One method table from several; a name defined twice is a bug."""
    out = {}
    for table in tables:
        dup = set(out) & set(table)
        if dup:
            raise ValueError("method defined twice: " + ", ".join(sorted(dup)))
        out.update(table)
    return out
