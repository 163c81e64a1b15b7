"""Fake DX Web API (https://api.getdx.com), written from /work/shared/api/dx.md.

Three services (standard library only, on common.py's transport):
  DxService(files_base_url)  name "dx":          every method of dx.md 3.1-3.14,
                                                  at  <METHOD> /<family>.<method>
  DxFilesService()           name "dx_files":    the "presigned URL" host that the
                                                  303s point at: GET /files/<token>?X-Amz-...
  DxDataCloudService()       name "dx_datacloud": the Data Cloud API of 3.15,
                                                  at  POST /api/<method>

Seed tokens (Authorization: Bearer <token>)
  dx-test-token       account token, every scope (ALL_SCOPES in dx_data.py)
  dx-noscope-token    account token WITHOUT workflowRuns:trigger, workflowRuns:writeEvents,
                      workflows:write, datacloud:query, snapshots:admin, users:write,
                      catalog:write:entities, catalog:write:entity_types, scorecards:write,
                      user_groups:write  (it keeps every read scope)
  dx-revoked-token    revoked -> 401 invalid_auth
  dx-personal-token   personal access token of alice@example.com, every scope
                      (auth.info shows expires_at; events it posts carry user{name,email})
  dx-expired-token    personal token whose expires_at is past -> 401 invalid_auth
  dx-platformx-token  PlatformX project token: only events.track (elsewhere 401 invalid_auth)
  More via POST /_config {"tokens": {"tok": ["scope", ...]}}; {"tokens": {"tok": null}} revokes.

Seed ids (all in dx_data.py; ids are opaque strings)
  teams      MTAx Engineering (ref ENG) > MTAy Platform (ENG-PLAT) > MTA1 Infrastructure
             (ENG-PLAT-INFRA); MTAz Payments (ENG-PAY), MTA0 Data (ENG-DATA) under
             Engineering.  Root of every `ancestors` list: "LTE".
  users      alice bob carol dave erin frank grace heidi(deleted) ivan judy niaj mallory
             @example.com, ids b64("2001").. ("MjAwMQ" = alice); mallory is not listed by
             users.list (no role/team); 11 listed users.  GitHub: alice-gh, bobb, carolc ...
  snapshots  snap2024q3a1, snap2024q4b2 (completed), snap2025q1c3 (not completed)
  drivers    drvdeepwork1 drvrelease01 drvreview001 drvbuilds001
  workflows  deploy-service (ENTITY, services only; params version!, environment, dry_run),
             rotate-secrets (GLOBAL), provision-db (APPROVAL; param team = numeric team id),
             manual-migration (EVENT_DRIVEN; param ticket!), scripted-job (GLOBAL; param
             `outcome` = SUCCEEDED|FAILED|TIMEOUT|CANCELLED|REJECTED picks the final status)
  catalog    entity types service, library, domain; entities auth-service checkout-web
             ledger-worker payments-api search-api (service), http-client money-lib
             (library), commerce (domain); relations service-uses-library (many_to_many),
             domain-owns-service (one_to_many)
  scorecards scprodready1 (LEVEL), scsecurity01 (POINTS), scdraft00001 (unpublished)
  initiatives initrunbooks initsecrets1 initdeps0001 (published), inittiers001 initcost0001
  user group grponcall001;  datafeeds feed-deploys-7d (var-repo_name), feed-big-1500

/_config switches (POST /_config merges; POST /_reset restores all of them)
  limit, window            per-token sliding window (default 1000 per 60 s) -> 429 + Retry-After;
                           limit null turns it off.  Only authenticated requests count.
  rate_limit_key           "token" (default) or "account" (dx.md says per account; all seed
                           tokens are one account)
  retry_after_on_429       false drops Retry-After from 429s (it is undocumented)
  query_polls              pending polls (info or results calls) before a query run finishes (2);
                           the first pending poll says "queued", later ones "running"
  query_seconds            if set, a run finishes that many seconds after submission instead
  query_retry_after        Retry-After on 202 / pending info / 409 (1; null omits it)
  query_info_limit/_window per-run info polling limit (10 per 5 s; 0 disables) -> 429
  query_rows               force N result rows for every run
  query_outcome            "failed" or "expired": force every run's outcome (otherwise SQL
                           containing "fail" fails with error.code sql_error, and SQL containing
                           "expire" succeeds once in .info, then its results are 410 expired)
  expire_runs              true: every finished run's results are gone (410, status expired)
  clock_offset             seconds added to the fake's clock (expire runs: 31*86400)
  file_ttl                 lifetime of the 303 file URLs (300 s)
  snapshot_file_inline     true: snapshots.getFile answers 200 + the xlsx instead of 303
  workflow_polls           pending workflowRuns.info polls before a run finishes (2)
  workflow_outcome         force the final status of newly triggered runs
  workflow_retry_after     Retry-After on pending workflowRuns.info answers (null = none)
  repeat_cursor            a method name (or list): that listing hands back the same cursor
                           for ever (the first page's, then whatever cursor it was given)
  limit_max                cap for `limit` on cursor lists (100; larger values are clamped)
  snapshot_live            true: hierarchy imports fail 409 snapshot_in_progress (update+force ok)
  strict_project_token     true: events.track refuses org/personal tokens (401 invalid_auth)
  string_ok_quirk          true: users.update answers "ok": "true" as the docs example shows
  extra_users, extra_entities   pad users.list / catalog.entities.list with N synthetic rows
  Faults (also on DxFilesService and DxDataCloudService; each counter counts down per request):
  fail_next + fail_status (500)   JSON {ok:false,error:"internal_error"} with that status
  html_502_next            a text/html 502 page (a proxy in front of the API)
  bad_json_next            200 application/json whose body does not parse
  reset_next               connection reset (RST), no answer
  truncate_next            the real answer, cut off halfway through its body
  slow_next + slow_seconds (2)    the real answer after a delay; latency: delay on every answer
  fault_methods            null (faults hit any method) or a list of method names
                           (the files host calls every request "files")
  redirect_loop            a method name, list, or "*": 302 to the same URL, for ever

GET /_state (not recorded) dumps runs, query runs, imports, tracked events, groups, edges.

Choices where dx.md leaves things open
  401 not_authed / invalid_auth; 403 missing_scope (+needed, provided); 400 invalid_arguments
  (error_details.argument names the argument); 400 invalid_cursor; 404 unknown_method;
  405 method_not_allowed on the wrong verb; 404 not_found for the object a call is about,
  422 not_found for an unknown object referenced inside a write payload; 409 conflict for
  duplicates and changeStatus on a finished run; 422 invalid_payload for workflow data and
  hierarchy/property validation; 422 invalid_sql / invalid_variables for refused SQL;
  429 rate_limited.  Every error body: {ok:false, error, error_details:{message, ...}}.
"""

import copy
import functools
import hashlib
import json
import math
import re
import time
import urllib.parse
from email.parser import BytesParser
from email.policy import HTTP as HTTP_POLICY

try:
    from common import Response, Service, SlidingWindow, json_response, serve
    import dx_data as D
except ImportError:  # imported as part of a package
    from .common import Response, Service, SlidingWindow, json_response, serve  # noqa: F401
    from . import dx_data as D

DAY = 86400
TERMINAL = ("SUCCEEDED", "FAILED", "REJECTED", "TIMEOUT", "CANCELLED")
IDENT_RE = re.compile(r"^[A-Za-z0-9_.-]+$")
DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


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


# --------------------------------------------------------------------------
# The files host
# --------------------------------------------------------------------------

def _s3_error(status, code, message):
    body = ('<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>%s</Code><Message>%s</Message>'
            '</Error>' % (code, message)).encode()
    return Response(status, body, {"Content-Type": "application/xml"})


class DxFilesService(FaultsMixin, Service):
    """Serves the files DxService's 303s point at, like an S3 presigned URL:
    GET /files/<token>?X-Amz-Algorithm=...&X-Amz-Expires=...&X-Amz-Signature=<sig>.
    Unknown or forged token -> 404 NoSuchKey; missing/wrong signature -> 403
    SignatureDoesNotMatch; past expiry -> 403 AccessDenied (Request has expired);
    any Authorization header -> 400 InvalidArgument (S3 allows one auth mechanism
    only), unless {"reject_authorization": false}."""

    name = "dx_files"
    default_config = dict(FAULT_CONFIG, reject_authorization=True, clock_offset=0)

    def __init__(self):
        super().__init__()
        self.reset_state()

    def handle(self, req):
        # Only the fault counters need the lock; files render outside it so that
        # parallel downloads (benchmarks) do not queue behind each other.
        with self.lock:
            resp = self._fault_before(req, "files")
        resp = resp or self._serve_file(req)
        with self.lock:
            return self._fault_after("files", resp)

    def _serve_file(self, req):
        if req.method not in ("GET", "HEAD"):
            return _s3_error(405, "MethodNotAllowed", "The specified method is not allowed")
        m = re.match(r"^/files/([^/]+)$", req.path)
        if not m:
            return _s3_error(404, "NoSuchKey", "The specified key does not exist.")
        if req.headers.get("authorization") and self.config.get("reject_authorization", True):
            return _s3_error(400, "InvalidArgument", "Only one auth mechanism allowed; only the "
                             "X-Amz-Algorithm query parameter, Signature query string parameter "
                             "or the Authorization header should be specified")
        token = urllib.parse.unquote(m.group(1))
        payload = D.read_file_token(token)
        if payload is None:
            return _s3_error(404, "NoSuchKey", "The specified key does not exist.")
        if req.arg("X-Amz-Signature") != token.rsplit(".", 1)[1]:
            return _s3_error(403, "SignatureDoesNotMatch", "The request signature we calculated "
                             "does not match the signature you provided.")
        if payload.get("exp", 0) < time.time() + float(self.config.get("clock_offset") or 0):
            return _s3_error(403, "AccessDenied", "Request has expired")
        body, ctype, filename, etag = _rendered(token)
        return Response(200, body, {"Content-Type": ctype, "ETag": etag,
                                    "Content-Disposition": 'attachment; filename="%s"' % filename})


@functools.lru_cache(maxsize=8)
def _rendered(token):
    """A file's bytes are a pure function of its token: render each one once."""
    body, ctype, filename = D.render_file(D.read_file_token(token))
    return body, ctype, filename, '"%s"' % hashlib.md5(body).hexdigest()


# --------------------------------------------------------------------------
# The Web API
# --------------------------------------------------------------------------

READ_RUNS = ("workflowRuns:read", "workflowRuns:trigger", "workflowRuns:writeEvents")
WRITE_EVENTS = ("workflowRuns:writeEvents", "workflows:write")
ENTITY_TYPE_WRITE = ("catalog:write:entity_types", "catalog:write:entities")
DIMENSIONS = "enum(snapshotTeam|group|branch|attribute)"
FILTERS = "team_ids:list snapshot_team_ids:list group_ids:list branch_ids:list attribute_ids:list"

METHODS = {
    # name: (verb, scope requirement(s), "args (! = required)", handler)
    # 3.1 workflowRuns
    "workflowRuns.trigger": ("POST", "workflowRuns:trigger", "workflow_identifier workflow_run_identifier "
                             "entity_identifier entity-identifier data:obj notify_approvers:bool", "wf_trigger"),
    "workflowRuns.info": ("GET", [READ_RUNS], "id!", "wf_info"),
    "workflowRuns.postMessage": ("POST", [WRITE_EVENTS], "workflow_run_id! message!", "wf_post_message"),
    "workflowRuns.addLink": ("POST", [WRITE_EVENTS], "workflow_run_id! link:obj!", "wf_add_link"),
    "workflowRuns.changeStatus": ("POST", "workflowRuns:writeEvents",
                                  "workflow_run_id! status:enum(SUCCEEDED|FAILED)!", "wf_change_status"),
    # 3.2 studio
    "studio.queryRuns.execute": ("POST", "datacloud:query", "sql! variables:obj", "q_execute"),
    "studio.queryRuns.info": ("GET", "datacloud:query", "id!", "q_info"),
    "studio.queryRuns.results": ("GET", "datacloud:query", "id! format:enum(json|csv)", "q_results"),
    # 3.3 snapshots
    "snapshots.list": ("GET", "snapshots:read", "ordering", "snap_list"),
    "snapshots.info": ("GET", "snapshots:read", "snapshot_id!", "snap_info"),
    "snapshots.driverComments.list": ("GET", "snapshots:read", "id! cursor limit:int", "snap_driver_comments"),
    "snapshots.csatComments.list": ("GET", "snapshots:read", "id! cursor limit:int", "snap_csat_comments"),
    "snapshots.dxiScores": ("GET", "snapshots:read", "snapshot_id! " + FILTERS, "snap_dxi"),
    "snapshots.dxiScores.breakdown": ("GET", "snapshots:read", "snapshot_id! dimension_type:%s! "
                                      "attribute_group_id parent_snapshot_team_id %s" % (DIMENSIONS, FILTERS),
                                      "snap_dxi_breakdown"),
    "snapshots.driverScores": ("GET", "snapshots:read", "snapshot_id! driver_id " + FILTERS, "snap_driver_scores"),
    "snapshots.driverScores.breakdown": ("GET", "snapshots:read", "snapshot_id! driver_id! dimension_type:%s! "
                                         "attribute_group_id parent_snapshot_team_id %s" % (DIMENSIONS, FILTERS),
                                         "snap_driver_breakdown"),
    "snapshots.getFile": ("GET", ["snapshots:admin", "snapshots:read"], "snapshot_id!", "snap_get_file"),
    # 3.4 teams
    "teams.list": ("GET", "snapshots:read", "", "teams_list"),
    "teams.info": ("GET", "snapshots:read", "team_id reference_id", "teams_info"),
    "teams.findByMembers": ("GET", "snapshots:read", "team_emails:list!", "teams_find_by_members"),
    "teams.auditTrail": ("GET", "snapshots:read", "cursor limit:int", "teams_audit"),
    # 3.5 users
    "users.list": ("GET", "users:read", "page:int page_size:int", "users_list"),
    "users.findByGithubUsername": ("GET", "snapshots:read", "github_username!", "users_by_github"),
    "users.findByGitlabUsername": ("GET", "users:read", "gitlab_username!", "users_by_gitlab"),
    "users.update": ("POST", "users:write", "email! start_date ai_light_adoption_date ai_moderate_adoption_date "
                     "ai_heavy_adoption_date github_username additional_github_username gitlab_username",
                     "users_update"),
    # 3.6 userGroups
    "userGroups.list": ("GET", "user_groups:read", "cursor limit:int", "groups_list"),
    "userGroups.get": ("GET", "user_groups:read", "id!", "groups_get"),
    "userGroups.create": ("POST", "user_groups:write", "name! team_id owner_email members:list", "groups_create"),
    "userGroups.update": ("POST", "user_groups:write", "id! name members:list", "groups_update"),
    "userGroups.delete": ("POST", "user_groups:write", "id!", "groups_delete"),
    # 3.7 initiatives
    "initiatives.list": ("GET", "scorecards:read", "published:bool priority:int tags:list cursor limit:int",
                         "init_list"),
    "initiatives.info": ("GET", "scorecards:read", "id!", "init_info"),
    # 3.8 orgfiles
    "orgfiles.teamHierarchy.preview": ("POST", "snapshots:admin", "teams:objlist!", "org_preview"),
    "orgfiles.teamHierarchy.process": ("POST", ["snapshots:admin", "snapshots:read"],
                                       "teams:objlist! email force:bool", "org_process"),
    "orgfiles.teamHierarchy.update": ("POST", ["snapshots:admin", "snapshots:read"],
                                      "teams:objlist! email force:bool", "org_update"),
    "orgfiles.teamHierarchy.get": ("GET", ["snapshots:admin", "snapshots:read"], "id!", "org_get"),
    # 3.9 catalog
    "catalog.entities.list": ("GET", "catalog:read", "cursor limit:int type search_term", "ent_list"),
    "catalog.entities.info": ("GET", "catalog:read", "identifier!", "ent_info"),
    "catalog.entities.create": ("POST", "catalog:write:entities", "identifier! type! " + "name description "
                                "owner_team_ids:list owner_user_ids:list properties:obj aliases:obj relations:obj",
                                "ent_create"),
    "catalog.entities.update": ("POST", "catalog:write:entities", "identifier! name description "
                                "owner_team_ids:list owner_user_ids:list properties:obj aliases:obj relations:obj",
                                "ent_update"),
    "catalog.entities.upsert": ("POST", "catalog:write:entities", "identifier! type! name description "
                                "owner_team_ids:list owner_user_ids:list properties:obj aliases:obj relations:obj",
                                "ent_upsert"),
    "catalog.entities.delete": ("POST", "catalog:write:entities", "identifier!", "ent_delete"),
    "catalog.entities.scorecards": ("GET", "catalog:read", "identifier! cursor limit:int", "ent_scorecards"),
    "catalog.entities.tasks": ("GET", "catalog:read", "identifier! cursor limit:int", "ent_tasks"),
    "catalog.entityTypes.list": ("GET", "catalog:read", "cursor limit:int", "et_list"),
    "catalog.entityTypes.info": ("GET", "catalog:read", "identifier!", "et_info"),
    "catalog.entityTypes.create": ("POST", [ENTITY_TYPE_WRITE], "identifier! name! description icon "
                                   "properties:objlist aliases:obj", "et_create"),
    "catalog.entityTypes.update": ("POST", [ENTITY_TYPE_WRITE], "identifier! name description icon "
                                   "properties:objlist aliases:obj", "et_update"),
    "catalog.entityTypes.delete": ("POST", [ENTITY_TYPE_WRITE], "identifier!", "et_delete"),
    "catalog.relations.create": ("POST", "catalog:write:entities", "identifier! source_entity_type_identifier! "
                                 "target_entity_type_identifier! type! cardinality:enum(one_to_one|one_to_many|"
                                 "many_to_one|many_to_many)! name description", "rel_create"),
    "catalog.relations.list": ("GET", "catalog:read", "cursor limit:int", "rel_list"),        # assumed
    "catalog.relations.info": ("GET", "catalog:read", "identifier!", "rel_info"),             # assumed
    "catalog.relations.delete": ("POST", "catalog:write:entities", "identifier!", "rel_delete"),  # assumed
    "catalog.relationEdges.add": ("POST", "catalog:write:entities", "relation_identifier! "
                                  "source_entity_identifier! target_entity_identifier!", "edge_add"),
    "catalog.relationEdges.remove": ("POST", "catalog:write:entities", "relation_identifier! "
                                     "source_entity_identifier! target_entity_identifier!", "edge_remove"),
    "catalog.relationEdges.bulkUpsert": ("POST", "catalog:write:entities", "relation_identifier! edges:obj!",
                                         "edge_bulk"),
    # 3.10 scorecards
    "scorecards.list": ("GET", "scorecards:read", "cursor limit:int include_unpublished:bool", "sc_list"),
    "scorecards.info": ("GET", "scorecards:read", "id!", "sc_info"),
    "scorecards.create": ("POST", "scorecards:write", "name! type:enum(LEVEL|POINTS)! "
                          "entity_filter_type:enum(entity_types|sql)! entity_filter_type_identifiers:list "
                          "entity_filter_sql empty_level_label empty_level_color levels:objlist "
                          "check_groups:objlist checks:objlist description published:bool editors:list tags:any",
                          "sc_create"),
    "scorecards.update": ("POST", "scorecards:write", "id! name type:enum(LEVEL|POINTS) "
                          "entity_filter_type:enum(entity_types|sql) entity_filter_type_identifiers:list "
                          "entity_filter_sql empty_level_label empty_level_color levels:objlist "
                          "check_groups:objlist checks:objlist description published:bool editors:list tags:any",
                          "sc_update"),
    "scorecards.delete": ("POST", "scorecards:write", "id!", "sc_delete"),
    # 3.11 workflows
    "workflows.list": ("GET", [("workflows:read", "workflowRuns:trigger", "workflows:create")],
                       "scope:enum(GLOBAL|ENTITY) entity_identifier", "wfdef_list"),
    "workflows.create": ("POST", "workflows:create", "identifier! name! scope:enum(GLOBAL|ENTITY)! "
                         "execution_type:enum(SIMPLE|EVENT_DRIVEN)! entity_filter_type:enum(ENTITY_TYPES|SQL)! "
                         "http_request:obj! description icon color trigger_type:enum(ANY|APPROVAL|RUNNERS|ENTITY) "
                         "parameters:objlist entity_filter_type_identifiers:list entity_filter_sql", "wfdef_create"),
    # 3.12 auth, 3.13 queries, 3.14 events
    "auth.info": ("GET", None, "", "auth_info"),
    "queries.datafeed": ("GET", None, "feed_token! columns:list", "datafeed"),
    "events.track": ("POST", None, "name! timestamp:strint! email github_username gitlab_username "
                     "metadata:obj test_data:bool", "events_track"),
}

PARAM_TYPES = ("STRING", "INTEGER", "FLOAT", "BOOLEAN", "SELECT", "USER", "TEAM", "EMAIL")
PROPERTY_TYPES = ("text", "number", "boolean", "select", "multi_select", "computed", "date", "json", "url",
                  "user", "file_matching_rule", "list", "openapi", "slack_channel", "msteams_channel", "email")

DEFAULT_CONFIG = dict(
    FAULT_CONFIG,
    tokens={}, limit=1000, window=60, rate_limit_key="token", retry_after_on_429=True,
    query_polls=2, query_seconds=None, query_retry_after=1, query_info_limit=10, query_info_window=5,
    query_rows=None, query_outcome=None, expire_runs=False, clock_offset=0, file_ttl=300,
    snapshot_file_inline=False,
    workflow_polls=2, workflow_outcome=None, workflow_retry_after=None,
    repeat_cursor=None, limit_max=100, snapshot_live=False, strict_project_token=False,
    string_ok_quirk=False, extra_users=0, extra_entities=0,
)


class DxService(RpcService):
    name = "dx"
    default_config = DEFAULT_CONFIG
    METHODS = METHODS

    def __init__(self, files_base_url="http://127.0.0.1:0"):
        self.files_base_url = files_base_url.rstrip("/")
        super().__init__()

    def reset_state(self):
        super().reset_state()
        self.users = D.seed_users()
        self.users_by_id = {u["id"]: u for u in self.users.values()}
        self.teams = D.seed_teams()
        self.archived_teams = {}
        self.team_audit = D.seed_team_audit(self.users)
        self.snapshots = D.seed_snapshots()
        self.entity_types = D.seed_entity_types()
        self.entities = D.seed_entities()
        self.extra_entities = 0
        self.relations = D.seed_relations()
        self.edges = set(D.SEED_EDGES)
        self.scorecards = D.seed_scorecards()
        self.initiatives = D.seed_initiatives()
        self.workflows = D.seed_workflows()
        self.datafeeds = D.seed_datafeeds()
        self.groups = {"grponcall001": {"id": "grponcall001", "name": "On-call", "owner": "bob@example.com",
                                        "team_id": None, "members": ["bob@example.com", "carol@example.com",
                                                                     "dave@example.com"],
                                        "created_at": "2024-02-01T09:00:00Z", "updated_at": "2024-02-01T09:00:00Z",
                                        "deleted": False}}
        self.runs, self.query_runs, self.imports = {}, {}, {}
        self.tracked_events = []
        self._poll_window = self._poll_params = None

    def debug_state(self):
        return {"runs": self.runs, "query_runs": self.query_runs, "imports": self.imports,
                "tracked_events": self.tracked_events, "groups": self.groups,
                "edges": sorted(self.edges)}

    def check_token_kind(self, rec, name):
        if name == "events.track":
            if rec["kind"] != "project" and self.config.get("strict_project_token"):
                raise ApiError(401, "invalid_auth", "events.track needs a PlatformX project token")
            return
        super().check_token_kind(rec, name)

    # ---- shared renderers ----

    def member(self, email):
        u = self.users.get(email)
        if u is None:
            return None
        return {"id": u["id"], "name": u["name"], "email": u["email"], "avatar": u["avatar"],
                "developer": u["developer"], "github_username": u["github_username"], "tz": u["tz"]}

    def event_user(self, ctx):
        if ctx.token.get("kind") == "personal":
            u = self.users.get(ctx.token.get("user"))
            if u:
                return {"name": u["name"], "email": u["email"]}
        return None

    def team_row(self, t):
        return {"id": t["id"], "name": t["name"], "parent_id": t["parent_id"],
                "manager_id": self.users[t["manager"]]["id"] if t["manager"] in self.users else None,
                "parent": any(x["parent_id"] == t["id"] for x in self.teams.values()),
                "ancestors": D.team_ancestors(self.teams, t["id"]), "last_changed_at": t["last_changed_at"],
                "contributors": len(t["members"]), "reference_id": t["reference_id"]}

    def find_team(self, team_id=None, reference_id=None):
        for t in self.teams.values():
            if (team_id and t["id"] == team_id) or (reference_id and t["reference_id"] == reference_id):
                return t
        return None

    # ==== 3.1 workflowRuns ====

    def wf_trigger(self, a, ctx):
        ident = a.get("workflow_identifier") or a.get("workflow_run_identifier")
        if not ident:
            raise missing("workflow_identifier")
        wf = self.workflows.get(ident)
        if wf is None:
            raise not_found("workflow", ident)
        entity = None
        ent_id = a.get("entity_identifier") or a.get("entity-identifier")
        if wf["scope"] == "ENTITY":
            if not ent_id:
                raise missing("entity_identifier", " (workflow %s has scope ENTITY)" % ident)
            entity = self.entities.get(ent_id)
            if entity is None:
                raise not_found("entity", ent_id)
            if wf["entity_filter_type_identifiers"] and entity["type"] not in wf["entity_filter_type_identifiers"]:
                raise invalid_payload("entity %s (type %s) cannot run workflow %s" % (ent_id, entity["type"], ident))
        data = self.check_workflow_data(wf, a.get("data") or {})
        # final status: the /_config override, else scripted-job's `outcome` parameter
        outcome = self.config.get("workflow_outcome") or \
            (data.get("outcome") if ident == "scripted-job" else None) or "SUCCEEDED"
        approval = wf["trigger_type"] == "APPROVAL" or outcome == "REJECTED"
        pending = ["PENDING_RUN"] + (["WAITING_FOR_APPROVAL"] if approval else []) + \
            ([] if outcome == "REJECTED" else ["IN_PROGRESS"])
        final = "WAITING_FOR_EVENTS" if wf["execution_type"] == "EVENT_DRIVEN" and outcome != "REJECTED" \
            else outcome
        rid = self.new_id("run")
        run = {"id": rid, "status": "PENDING_RUN", "started_at": iso(self.now()), "completed_at": None,
               "data": data, "links": [], "events": [], "workflow": wf, "entity": entity,
               "pending": pending, "final": final, "stage": 0, "polls": 0, "frozen": False,
               "approval": approval, "notify": a.get("notify_approvers", True), "outcome": outcome}
        self.runs[rid] = run
        self.add_event(run, "WORKFLOW_TRIGGERED", user=self.event_user(ctx))
        return {"workflow_run": {"id": rid}}

    def check_workflow_data(self, wf, data):
        """Fill defaults, check required parameters and their types (422 invalid_payload)."""
        out = dict(data)
        for p in wf["parameters"]:
            k, t = p["identifier"], p["type"]
            v = data.get(k)
            if v is None or v == "":
                if p["default_value"] is not None:
                    out[k] = p["default_value"]
                elif p["is_required"]:
                    raise invalid_payload("missing required parameter: %s" % k, parameter=k)
                continue
            ok = {"STRING": isinstance(v, str),
                  "INTEGER": (isinstance(v, int) and not isinstance(v, bool)) or
                             (isinstance(v, str) and v.lstrip("-").isdigit()),
                  "FLOAT": isinstance(v, (int, float)) and not isinstance(v, bool),
                  "BOOLEAN": isinstance(v, bool) or v in ("true", "false"),
                  "SELECT": v in [o["value"] for o in p["definition"].get("options", [])],
                  "USER": v in self.users_by_id or v in self.users,
                  "EMAIL": isinstance(v, str) and "@" in v,
                  # The API's oddity: TEAM takes the decoded numeric id, not "MTAx".
                  "TEAM": str(v).isdigit() and any(t_["num"] == int(v) for t_ in self.teams.values()),
                  }.get(t, True)
            if not ok:
                hint = " (TEAM parameters take the numeric team id, e.g. 101)" if t == "TEAM" else ""
                raise invalid_payload("parameter %s: %r is not a valid %s%s" % (k, v, t, hint), parameter=k)
        return out

    def add_event(self, run, etype, message=None, data=None, user=None):
        ev = {"id": D.b36id("event:%s:%d" % (run["id"], len(run["events"]))), "workflow_run_id": run["id"],
              "type": etype, "occurred_at": iso(self.now()), "message": message}
        if user:
            ev["user"] = user
        if data is not None:
            ev["data"] = data
        run["events"].append(ev)
        return ev

    def enter(self, run, status):
        """Move a run to `status`, appending the events that transition implies."""
        approver = {"name": "Alice Anders", "email": "alice@example.com"}
        if status == "WAITING_FOR_APPROVAL":
            self.add_event(run, "WORKFLOW_RUN_REQUESTED")
            if run["notify"] is not False:
                self.add_event(run, "APPROVERS_NOTIFIED")
        elif status == "IN_PROGRESS":
            if run["approval"]:
                self.add_event(run, "APPROVAL_PERFORMED", user=approver)
            req = run["workflow"]["http_request"]
            self.add_event(run, "HTTP_REQUEST_COMPLETED", data={
                "request": {"method": req["method"], "url": req["url"]},
                "response": {"status": 500 if run["outcome"] == "FAILED" else 200}})
        elif status == "REJECTED":
            self.add_event(run, "REJECTION_PERFORMED", user=approver)
        elif status in TERMINAL:
            self.add_event(run, "WORKFLOW_" + status)
        run["status"] = status
        if status in TERMINAL:
            run["completed_at"] = iso(self.now())

    def advance(self, run):
        """One info poll: pending stages spread over `workflow_polls` polls, then final."""
        if run["frozen"] or run["status"] in TERMINAL:
            return
        run["polls"] += 1
        n, pend = int(self.config.get("workflow_polls") or 0), run["pending"]
        target = len(pend) if run["polls"] > n else (run["polls"] - 1) * len(pend) // n
        seq = pend + [run["final"]]
        while run["stage"] < target:
            run["stage"] += 1
            self.enter(run, seq[run["stage"]])

    def get_run(self, rid):
        run = self.runs.get(rid)
        if run is None:
            raise not_found("workflow run", rid)
        return run

    def wf_info(self, a, ctx):
        run = self.get_run(a["id"])
        self.advance(run)
        wf, ent = run["workflow"], run["entity"]
        body = {"ok": True, "workflow_run": {
            "id": run["id"], "status": run["status"], "started_at": run["started_at"],
            "completed_at": run["completed_at"], "data": run["data"], "links": run["links"],
            "workflow": {k: wf[k] for k in ("identifier", "name", "description", "scope")},
            "entity": {"identifier": ent["identifier"], "name": ent["name"]} if ent else None,
            "events": run["events"]}}
        ra = self.config.get("workflow_retry_after")
        headers = {"Retry-After": str(ra)} if ra is not None and run["status"] not in TERMINAL else None
        return json_response(body, headers=headers)

    def wf_post_message(self, a, ctx):
        run = self.get_run(a["workflow_run_id"])
        return {"event": self.add_event(run, "POST_MESSAGE", message=a["message"], data={},
                                        user=self.event_user(ctx))}

    def wf_add_link(self, a, ctx):
        run = self.get_run(a["workflow_run_id"])
        link = a["link"]
        url = link.get("url")
        if not isinstance(url, str) or not re.match(r"^https?://", url):
            raise bad_arg("link", "argument 'link' needs a url (http or https)")
        if link.get("label") is not None and not isinstance(link.get("label"), str):
            raise bad_arg("link", "link.label must be a string")
        item = {"url": url, "label": link.get("label"), "icon": link.get("icon")}
        run["links"].append(item)
        return {"event": self.add_event(run, "ADD_LINK", data={"link": {"url": url, "label": item["label"]}},
                                        user=self.event_user(ctx))}

    def wf_change_status(self, a, ctx):
        run = self.get_run(a["workflow_run_id"])
        if run["status"] in TERMINAL:   # undocumented; we refuse to rewrite history
            raise ApiError(409, "conflict", "workflow run %s already finished with %s" % (run["id"], run["status"]))
        ev = self.add_event(run, "CHANGE_STATUS", data={"status": a["status"]}, user=self.event_user(ctx))
        self.add_event(run, "WORKFLOW_" + a["status"])
        run.update(status=a["status"], completed_at=iso(self.now()), frozen=True)
        return {"event": ev}

    # ==== 3.2 studio query runs ====

    def q_execute(self, a, ctx):
        sql, variables = a["sql"], a.get("variables") or {}
        for k, v in variables.items():
            vals = v if isinstance(v, list) else [v]
            if any(isinstance(x, (dict, list)) for x in vals):
                raise bad_arg("variables", "variable %s must be a scalar or an array of scalars" % k)
        text = sql.strip().rstrip(";").strip()
        low = text.lower()
        if not re.match(r"^(select|with)\b", low) or ";" in text:
            raise ApiError(422, "invalid_sql", "only a single read-only SELECT statement is allowed")
        if "syntax error" in low:
            raise ApiError(422, "invalid_sql", 'syntax error at or near "error"')
        if "unknown_table" in low:
            raise ApiError(422, "invalid_sql", 'relation "unknown_table" does not exist')
        unresolved = [v for v in re.findall(r"\$([A-Za-z_]\w*)", text) if v not in variables]
        if unresolved:
            raise ApiError(422, "invalid_variables", "unresolved variable: $" + unresolved[0])
        outcome = self.config.get("query_outcome") or \
            ("failed" if "fail" in low else "expired" if "expire" in low else "succeeded")
        qid = self.new_id("query")
        now = self.now()
        qr = {"id": qid, "sql": sql, "variables": variables, "status": "queued", "submitted": now,
              "finished": None, "polls": 0, "outcome": outcome, "error": None, "revealed": False,
              "rows": self.config.get("query_rows")}
        self.query_runs[qid] = qr
        headers = {"Location": "/studio.queryRuns.info?id=" + qid}
        headers.update(self.retry_after())
        return json_response({"ok": True, "query_run": self.q_render(qr)}, 202, headers)

    def retry_after(self):
        ra = self.config.get("query_retry_after")
        return {"Retry-After": str(ra)} if ra is not None else {}

    def q_render(self, qr):
        out = {"id": qr["id"], "status": qr["status"], "submitted_at": iso(qr["submitted"]),
               "finished_at": iso(qr["finished"]) if qr["finished"] else None,
               "expires_at": iso((qr["finished"] or qr["submitted"]) + 30 * DAY),
               "info_url": "/studio.queryRuns.info?id=" + qr["id"],
               "results_url": "/studio.queryRuns.results?id=" + qr["id"]}
        if qr["error"]:
            out["error"] = qr["error"]
        return out

    def q_refresh(self, qr):
        """Count one poll and work out the run's status now."""
        if qr["status"] in ("queued", "running"):
            qr["polls"] += 1
            secs = self.config.get("query_seconds")
            done = (self.now() - qr["submitted"] >= float(secs)) if secs is not None \
                else qr["polls"] > int(self.config.get("query_polls") or 0)
            if not done:
                qr["status"] = "queued" if qr["polls"] <= 1 else "running"
                return
            qr["finished"] = self.now()
            if qr["outcome"] == "failed":
                qr["status"] = "failed"
                qr["error"] = {"code": "sql_error", "message": "division by zero (the SQL asked to fail)"}
            else:
                qr["status"] = "succeeded"
        elif qr["status"] == "succeeded":
            # an 'expire' run shows succeeded once, then its results are gone
            if (qr["outcome"] == "expired" and qr["revealed"]) or self.config.get("expire_runs") \
                    or self.now() > qr["finished"] + 30 * DAY:
                qr["status"] = "expired"

    def get_query(self, qid):
        qr = self.query_runs.get(qid)
        if qr is None:
            raise not_found("query run", qid)
        return qr

    def q_info(self, a, ctx):
        qr = self.get_query(a["id"])
        limit = int(self.config.get("query_info_limit") or 0)
        if limit:
            params = (limit, float(self.config.get("query_info_window") or 5))
            if self._poll_window is None or self._poll_params != params:
                self._poll_window, self._poll_params = SlidingWindow(*params), params
            allowed, wait = self._poll_window.allow(qr["id"])
            if not allowed:
                raise ApiError(429, "rate_limited", "at most %d polls per %g s for one query run" % params,
                               headers={"Retry-After": str(max(1, math.ceil(wait)))})
        self.q_refresh(qr)
        if qr["status"] == "succeeded" and qr["outcome"] == "expired":
            qr["revealed"] = True
        headers = self.retry_after() if qr["status"] in ("queued", "running") else None
        return json_response({"ok": True, "query_run": self.q_render(qr)}, headers=headers)

    def q_results(self, a, ctx):
        qr = self.get_query(a["id"])
        self.q_refresh(qr)
        if qr["status"] == "succeeded" and qr["outcome"] == "expired":
            qr["status"] = "expired"
        if qr["status"] in ("queued", "running"):
            raise ApiError(409, "execution_not_complete", "query run %s is %s" % (qr["id"], qr["status"]),
                           headers=self.retry_after() or None)
        if qr["status"] == "expired":
            raise ApiError(410, "expired", "the results of query run %s have expired; run it again" % qr["id"])
        if qr["status"] == "failed":   # undocumented: answer with the run's own error
            raise ApiError(422, qr["error"]["code"], qr["error"]["message"])
        if a.get("format") == "csv":
            payload = {"kind": "query_csv", "id": qr["id"], "sql": qr["sql"], "variables": qr["variables"],
                       "rows": qr["rows"]}
            return self.redirect_to_file(payload)
        cols, rows = D.query_result(qr["sql"], qr["variables"], qr["rows"])
        return {"results": {"columns": cols, "rows": rows[:1000]}}

    def redirect_to_file(self, payload):
        payload["exp"] = int(self.now() + float(self.config.get("file_ttl") or 300))
        token = D.make_file_token(payload)
        query = urllib.parse.urlencode({"X-Amz-Algorithm": "AWS4-HMAC-SHA256",
                                        "X-Amz-Expires": int(self.config.get("file_ttl") or 300),
                                        "X-Amz-Signature": token.rsplit(".", 1)[1]})
        return Response(303, b"", {"Location": "%s/files/%s?%s" % (self.files_base_url, token, query)})

    # ==== 3.3 snapshots ====

    def get_snapshot(self, sid, completed=False):
        s = self.snapshots.get(sid)
        if s is None or s["deleted_at"]:
            raise not_found("snapshot", sid)
        if completed and not s["completed_at"]:
            raise ApiError(400, "snapshot_not_completed", "snapshot %s is not completed yet" % sid)
        return s

    def snap_list(self, a, ctx):
        items = [s for s in self.snapshots.values() if not s["deleted_at"]]
        order = a.get("ordering")
        if order:
            key = order.lstrip("-")
            if key not in ("completed_at", "scheduled_for", "last_result_change_at"):
                raise bad_arg("ordering", "cannot order by %s" % order)
            dated = sorted((s for s in items if s[key]), key=lambda s: s[key], reverse=order.startswith("-"))
            items = dated + [s for s in items if not s[key]]   # never-completed ones last either way
        return {"snapshots": items}

    def snapshot_team(self, sid, t):
        par = self.teams.get(t["parent_id"]) if t["parent_id"] else None
        return {"id": D.snapshot_team_id(sid, t["num"]), "name": t["name"], "team_id": t["id"],
                "parent": any(x["parent_id"] == t["id"] for x in self.teams.values()),
                "parent_id": D.snapshot_team_id(sid, par["num"]) if par else None,
                "ancestors": [D.snapshot_team_id(sid, self.teams[x]["num"])
                              for x in D.team_ancestors(self.teams, t["id"])[1:]]}

    def subtree_size(self, team_id):
        t = self.teams[team_id]
        return len(t["members"]) + sum(self.subtree_size(x["id"]) for x in self.teams.values()
                                       if x["parent_id"] == team_id)

    def snap_info(self, a, ctx):
        sid = a["snapshot_id"]
        snap = self.get_snapshot(sid)
        scores = []
        if snap["completed_at"]:
            prev = D.SNAPSHOT_IDS[D.SNAPSHOT_IDS.index(sid) - 1] if D.SNAPSHOT_IDS.index(sid) > 0 else None
            for t in sorted(self.teams.values(), key=lambda t: t["num"]):
                n = self.subtree_size(t["id"])
                if n < 3:   # teams under 3 contributors are left out
                    continue
                for d in D.DRIVERS:
                    s = round(D.score(sid, t["num"], d["id"]), 1)
                    scores.append({"snapshot_team": self.snapshot_team(sid, t), "item_id": d["id"],
                                   "item_type": "factor", "item_name": d["name"], "response_count": n,
                                   "score": s, "contributor_count": n,
                                   "vs_prev": round(s - D.score(prev, t["num"], d["id"]), 1) if prev else None,
                                   "vs_org": round(s - D.score(sid, 101, d["id"]), 1),
                                   "vs_50th": round(s - 60, 1), "vs_75th": round(s - 70, 1),
                                   "vs_90th": round(s - 80, 1)})
        return {"snapshot": {"id": sid, "team_scores": scores}}

    def snap_driver_comments(self, a, ctx):
        self.get_snapshot(a["id"])
        items, meta = self.page("snapshots.driverComments.list", D.seed_driver_comments(a["id"]), a)
        return {"driver_comments": items, "response_metadata": meta}

    def snap_csat_comments(self, a, ctx):
        self.get_snapshot(a["id"])
        items, meta = self.page("snapshots.csatComments.list", D.seed_csat_comments(a["id"]), a)
        return {"csat_comments": items, "response_metadata": meta}

    def check_filters(self, a):
        br = a.get("branch_ids")
        if br and D.BRANCHES[0]["id"] not in br:
            raise bad_arg("branch_ids", "branch_ids must include the main branch (%s)" % D.BRANCHES[0]["id"])
        return "|".join(",".join(a.get(k, [])) for k in FILTERS.replace(":list", "").split())

    def drivers(self, *key, only=None):
        return [{"id": d["id"], "name": d["name"], "score": round(D.score(d["id"], *key), 1),
                 "benchmarks": {"p50": 60.0, "p75": 70.0, "p90": 80.0}}
                for d in D.DRIVERS if only is None or d["id"] == only]

    def snap_dxi(self, a, ctx):
        sid = a["snapshot_id"]
        self.get_snapshot(sid, completed=True)
        f = self.check_filters(a)
        return {"dxi_score": {"snapshot_id": sid, "score": round(D.score("dxi", sid, f), 1),
                              "response_count": 9, "drivers": self.drivers(sid, f)}}

    def dimension_values(self, a):
        """(id, name) pairs for a breakdown's dimension."""
        dim, sid = a["dimension_type"], a["snapshot_id"]
        if a.get("parent_snapshot_team_id") and dim != "snapshotTeam":
            raise bad_arg("parent_snapshot_team_id", "parent_snapshot_team_id only goes with snapshotTeam")
        if dim == "snapshotTeam":
            parent = a.get("parent_snapshot_team_id")
            teams = sorted(self.teams.values(), key=lambda t: t["num"])
            rows = [(self.snapshot_team(sid, t), t) for t in teams]
            if parent:
                if parent not in [st["id"] for st, _ in rows]:
                    raise not_found("snapshot team", parent)
                rows = [r for r in rows if r[0]["parent_id"] == parent]
            return [(st["id"], st["name"]) for st, _ in rows]
        if dim == "group":
            return [(g["id"], g["name"]) for g in self.groups.values() if not g["deleted"]]
        if dim == "branch":
            return [(b["id"], b["name"]) for b in D.BRANCHES]
        gid = a.get("attribute_group_id")
        if not gid:
            raise missing("attribute_group_id", " (dimension_type attribute)")
        group = D.ATTRIBUTE_GROUPS.get(gid)
        if group is None:
            raise not_found("attribute group", gid)
        return [(v["id"], v["name"]) for v in group["values"]]

    def snap_dxi_breakdown(self, a, ctx):
        sid = a["snapshot_id"]
        self.get_snapshot(sid, completed=True)
        f = self.check_filters(a)
        return {"breakdown": [{"dimension_type": a["dimension_type"], "id": i, "name": n,
                               "score": round(D.score("dxi", sid, i, f), 1), "response_count": 3,
                               "drivers": self.drivers(sid, i, f)} for i, n in self.dimension_values(a)]}

    def get_driver(self, did):
        if did not in [d["id"] for d in D.DRIVERS]:
            raise not_found("driver", did)
        return did

    def snap_driver_scores(self, a, ctx):
        sid = a["snapshot_id"]
        self.get_snapshot(sid, completed=True)
        only = self.get_driver(a["driver_id"]) if a.get("driver_id") else None
        return {"driver_scores": self.drivers(sid, self.check_filters(a), only=only)}

    def snap_driver_breakdown(self, a, ctx):
        sid = a["snapshot_id"]
        self.get_snapshot(sid, completed=True)
        did = self.get_driver(a["driver_id"])
        f = self.check_filters(a)
        name = [d["name"] for d in D.DRIVERS if d["id"] == did][0]
        return {"breakdown": [{"dimension_type": a["dimension_type"], "id": i, "name": n, "driver_id": did,
                               "driver_name": name, "score": round(D.score(did, sid, i, f), 1),
                               "response_count": 3} for i, n in self.dimension_values(a)]}

    def snap_get_file(self, a, ctx):
        sid = a["snapshot_id"]
        self.get_snapshot(sid, completed=True)
        if self.config.get("snapshot_file_inline"):
            body = D.xlsx_bytes(D.snapshot_export_rows(sid))
            return Response(200, body, {"Content-Type": D.XLSX_TYPE,
                                        "Content-Disposition": 'attachment; filename="snapshot-%s.xlsx"' % sid})
        return self.redirect_to_file({"kind": "snapshot_xlsx", "snapshot_id": sid})

    # ==== 3.4 teams ====

    def teams_list(self, a, ctx):
        return {"teams": [self.team_row(t) for t in sorted(self.teams.values(), key=lambda t: t["num"])]}

    def teams_info(self, a, ctx):
        if not a.get("team_id") and not a.get("reference_id"):
            raise missing("team_id", " (or reference_id)")
        t = self.find_team(a.get("team_id"), a.get("reference_id"))
        if t is None:
            raise not_found("team", a.get("team_id") or a.get("reference_id"))
        row = self.team_row(t)
        row.update(contributors=[self.member(e) for e in t["members"] if e in self.users],
                   lead=self.member(t["lead"]), manager=self.member(t["manager"]))
        return {"team": row}

    def teams_find_by_members(self, a, ctx):
        known = [e for e in a["team_emails"] if e.lower() in self.users]
        if not known:
            raise ApiError(400, "no_users_found", "none of these emails belongs to a known user")
        fits = [t for t in self.teams.values() if all(e.lower() in t["members"] for e in known)]
        if not fits:
            raise not_found("team with all of these members", ",".join(known))
        t = min(fits, key=lambda t: (len(t["members"]), t["num"]))
        return {"team": {"id": t["id"], "name": t["name"], "members": [self.member(e) for e in t["members"]],
                         "manager": self.member(t["manager"])}}

    def teams_audit(self, a, ctx):
        items, meta = self.page("teams.auditTrail", self.team_audit, a)
        return {"events": items, "response_metadata": meta}

    # ==== 3.5 users ====

    def users_list(self, a, ctx):
        page, size = a.get("page", 1), min(a.get("page_size", 100), 100)
        if page < 1:
            raise bad_arg("page", "argument 'page' must be at least 1")
        if size < 1:
            raise bad_arg("page_size", "argument 'page_size' must be at least 1")
        keys = ("id", "name", "email", "github_username", "gitlab_username", "additional_github_username",
                "attributes", "deleted_at", "roles")
        rows = [{k: u[k] for k in keys} for u in sorted(self.users.values(), key=lambda u: D.b64id_decode(u["id"]))
                if u["listed"]]
        rows += [{"id": D.b64id(100000 + i), "name": "Bulk User %d" % i, "email": "bulk%d@example.com" % i,
                  "github_username": "bulk%d" % i, "gitlab_username": None, "additional_github_username": None,
                  "attributes": [], "deleted_at": None, "roles": ["viewer"]}
                 for i in range(int(self.config.get("extra_users") or 0))]
        pages = max(1, math.ceil(len(rows) / size))
        return {"users": rows[(page - 1) * size:page * size], "next_page": page + 1 if page < pages else None,
                "total": len(rows), "total_pages": pages}

    def find_user(self, field, value, alt=None):
        for u in self.users.values():
            if value.lower() in [(u[f] or "").lower() for f in (field, alt) if f]:
                return {k: u[k] for k in ("id", "name", "email", "tz", "slack_id")}
        raise not_found("user", value)

    def users_by_github(self, a, ctx):
        return {"user": self.find_user("github_username", a["github_username"], "additional_github_username")}

    def users_by_gitlab(self, a, ctx):
        return {"user": self.find_user("gitlab_username", a["gitlab_username"])}

    def users_update(self, a, ctx):
        u = self.users.get(a["email"].lower())
        if u is None:
            raise not_found("user", a["email"])
        for k, v in a.items():
            if k.endswith("_date") and not DATE_RE.match(v):
                raise bad_arg(k, "argument '%s' must be a date YYYY-MM-DD" % k)
        u.update({k: v for k, v in a.items() if k != "email"})
        user = {k: u[k] for k in ("email", "start_date", "github_username", "gitlab_username")}
        return {"ok": "true" if self.config.get("string_ok_quirk") else True, "user": user}

    # ==== 3.6 userGroups ====

    def group_view(self, g):
        owner = self.users.get(g["owner"])
        return {"id": g["id"], "name": g["name"], "owner_id": owner["id"] if owner else None,
                "owner_email": g["owner"], "team_id": g["team_id"],
                "members": [{"id": self.users[e]["id"], "email": e, "name": self.users[e]["name"]}
                            for e in g["members"] if e in self.users],
                "created_at": g["created_at"], "updated_at": g["updated_at"]}

    def get_group(self, gid):
        g = self.groups.get(gid)
        if g is None or g["deleted"]:
            raise not_found("group", gid)
        return g

    def known_emails(self, emails, what="user"):
        out = []
        for e in emails:
            if e.lower() not in self.users:
                raise ref_not_found(what, e)
            out.append(e.lower())
        return out

    def groups_list(self, a, ctx):
        live = [self.group_view(g) for g in self.groups.values() if not g["deleted"]]
        items, meta = self.page("userGroups.list", live, a)
        return {"groups": items, "response_metadata": meta}

    def groups_get(self, a, ctx):
        return {"group": self.group_view(self.get_group(a["id"]))}

    def groups_create(self, a, ctx):
        now = iso(self.now())
        if a.get("team_id"):
            t = self.find_team(team_id=a["team_id"])
            if t is None:
                raise ref_not_found("team", a["team_id"])
            members, owner = list(t["members"]), (t["members"] or [None])[0]
        elif a.get("owner_email") and a.get("members"):
            owner = self.known_emails([a["owner_email"]])[0]
            members = self.known_emails(a["members"])
        else:
            raise missing("team_id", " (or owner_email and members)")
        g = {"id": self.new_id("group"), "name": a["name"], "owner": owner, "team_id": a.get("team_id"),
             "members": members, "created_at": now, "updated_at": now, "deleted": False}
        self.groups[g["id"]] = g
        return {"group": self.group_view(g)}

    def groups_update(self, a, ctx):
        g = self.get_group(a["id"])
        if "members" in a:
            g["members"] = self.known_emails(a["members"])
        if "name" in a:
            g["name"] = a["name"]
        g["updated_at"] = iso(self.now())
        return {"group": self.group_view(g)}

    def groups_delete(self, a, ctx):
        g = self.get_group(a["id"])
        g.update(deleted=True, members=[])   # soft delete drops memberships
        return {}

    # ==== 3.7 initiatives ====

    def entity_reports(self, entity, published_only=True):
        """ScorecardReports for one entity (scorecards whose filter covers its type)."""
        out = []
        for sc in self.scorecards.values():
            if (published_only and not sc["published"]) or entity["type"] not in sc["entity_filter_type_identifiers"]:
                continue
            checks = []
            for c in sc["checks"]:
                passed = D.check_passes(entity["identifier"], c["id"])
                checks.append({"id": c["id"], "name": c["name"], "description": c["description"],
                               "ordering": c["ordering"], "passed": passed, "status": "PASS" if passed else "FAIL",
                               "published": c["published"], "level": c["level"], "check_group": c["check_group"],
                               "output": None, "message": None, "executed_at": "2025-01-02T03:00:00Z"})
            rep = {"id": sc["id"], "name": sc["name"], "type": sc["type"], "tags": sc["tags"], "checks": checks}
            if sc["type"] == "LEVEL":
                achieved = None
                for lv in sorted(sc["levels"], key=lambda x: x["rank"]):
                    if all(c["passed"] for c in checks if c["level"] and c["level"]["id"] == lv["id"]):
                        achieved = lv
                    else:
                        break
                rep.update(levels=sc["levels"], current_level=achieved,
                           empty_level={"label": sc["empty_level_label"], "color": sc["empty_level_color"]})
            else:
                rep.update(check_groups=sc["check_groups"], points_meta={
                    "points_total": sum(c["points"] or 0 for c in sc["checks"]),
                    "points_achieved": sum(c["points"] or 0 for c, r in zip(sc["checks"], checks) if r["passed"])})
            out.append(rep)
        return out

    def init_view(self, i):
        sc = self.scorecards.get(i["scorecard_id"])
        total = passed = days = 0
        for e in self.entities.values():
            if sc and e["type"] in sc["entity_filter_type_identifiers"]:
                for c in sc["checks"]:
                    total += 1
                    if D.check_passes(e["identifier"], c["id"]):
                        passed += 1
                    else:
                        days += c["estimated_dev_days"] or 0
        owner = self.users[i["owner"] + "@example.com"]
        return {"id": i["id"], "name": i["name"], "description": i["description"],
                "scorecard_id": i["scorecard_id"], "scorecard_name": sc["name"] if sc else None,
                "priority": i["priority"], "published": i["published"], "complete_by": i["complete_by"],
                "percentage_complete": round(100.0 * passed / total, 1) if total else 0.0,
                "passed_checks": passed, "total_checks": total, "remaining_dev_days": days,
                "owner": {"id": owner["id"], "name": owner["name"], "email": owner["email"]}, "tags": i["tags"]}

    def init_list(self, a, ctx):
        if "priority" in a and not 0 <= a["priority"] <= 4:
            raise bad_arg("priority", "argument 'priority' must be between 0 and 4")
        items = [i for i in self.initiatives.values()
                 if ("published" not in a or i["published"] == a["published"])
                 and ("priority" not in a or i["priority"] == a["priority"])
                 and (not a.get("tags") or set(a["tags"]) & {t["value"] for t in i["tags"]})]
        items, meta = self.page("initiatives.list", items, a)
        return {"initiatives": [self.init_view(i) for i in items], "response_metadata": meta}

    def init_info(self, a, ctx):
        i = self.initiatives.get(a["id"])
        if i is None:
            raise not_found("initiative", a["id"])
        return {"initiative": self.init_view(i)}

    # ==== 3.8 orgfiles ====

    def check_hierarchy(self, teams):
        refs = set()
        for n, ht in enumerate(teams):
            for k in ("reference_id", "name"):
                if not isinstance(ht.get(k), str) or not ht[k]:
                    raise invalid_payload("teams[%d]: %s is required" % (n, k), index=n)
            if ht["reference_id"] in refs:
                raise invalid_payload("teams[%d]: duplicate reference_id %s" % (n, ht["reference_id"]), index=n)
            refs.add(ht["reference_id"])
            lead = ht.get("team_lead_email")
            if lead and lead.lower() not in self.users:
                raise invalid_payload("teams[%d]: team lead %s is not a DX user" % (n, lead), index=n)
            if bool(ht.get("parent_team_reference_id")) != bool(ht.get("parent_team_name")):
                raise invalid_payload("teams[%d]: parent_team_reference_id and parent_team_name go together" % n,
                                      index=n)
            if not isinstance(ht.get("contributors", []), list):
                raise invalid_payload("teams[%d]: contributors must be an array of emails" % n, index=n)
        return refs

    def hierarchy_gate(self, force=False):
        if self.config.get("snapshot_live") and not force:
            raise ApiError(409, "snapshot_in_progress", "a snapshot is running or in its retroactive window; "
                                                        "imports are refused (update accepts force: true)")

    def org_preview(self, a, ctx):
        self.hierarchy_gate()
        self.check_hierarchy(a["teams"])
        pid = self.new_id("preview")
        return {"preview_url": "https://app.getdx.com/admin/org-hierarchy/previews/" + pid}

    def org_process(self, a, ctx):
        self.hierarchy_gate()
        return self.import_hierarchy("process", a["teams"])

    def org_update(self, a, ctx):
        self.hierarchy_gate(a.get("force", False))
        return self.import_hierarchy("update", a["teams"])

    def import_hierarchy(self, kind, teams):
        refs = self.check_hierarchy(teams)
        by_ref = {t["reference_id"]: t for t in self.teams.values() if t["reference_id"]}
        for n, ht in enumerate(teams):
            p = ht.get("parent_team_reference_id")
            if p and p not in refs and (kind == "process" or p not in by_ref):
                raise invalid_payload("teams[%d]: unknown parent team %s" % (n, p), index=n)
        summary = {"created": 0, "updated": 0, "archived": 0, "ignored_contributors": 0}
        now = iso(self.now())
        for ht in teams:
            t = by_ref.get(ht["reference_id"])
            if t is None:
                num = max(x["num"] for x in list(self.teams.values()) + list(self.archived_teams.values())) + 1
                t = {"id": D.b64id(num), "num": num, "reference_id": ht["reference_id"], "parent_id": None}
                self.teams[t["id"]] = by_ref[ht["reference_id"]] = t
                summary["created"] += 1
            else:
                summary["updated"] += 1
            emails = [e.lower() for e in ht.get("contributors", []) if isinstance(e, str)]
            summary["ignored_contributors"] += sum(1 for e in emails if e not in self.users)
            lead = (ht.get("team_lead_email") or "").lower() or None
            t.update(name=ht["name"], lead=lead, manager=lead, members=[e for e in emails if e in self.users],
                     last_changed_at=now, parent_ref=ht.get("parent_team_reference_id"))
        for ht in teams:
            t = by_ref[ht["reference_id"]]
            t["parent_id"] = by_ref[t["parent_ref"]]["id"] if t.get("parent_ref") else None
        if kind == "process":   # full replacement: teams left out are archived
            for tid in [tid for tid, t in self.teams.items() if t["reference_id"] not in refs]:
                self.archived_teams[tid] = self.teams.pop(tid)
                summary["archived"] += 1
        imp = {"id": self.new_id("import"), "type": kind, "status": "queued", "created_at": now,
               "completed_at": None, "summary": summary}
        self.imports[imp["id"]] = imp
        return {"import": imp}

    def org_get(self, a, ctx):
        imp = self.imports.get(a["id"])
        if imp is None:
            raise not_found("import", a["id"])
        if imp["status"] == "queued":   # a job: queued on creation, completed when first looked at
            imp.update(status="completed", completed_at=iso(self.now()))
        return {"import": imp}

    # ==== 3.9 catalog ====

    def sync_extra_entities(self):
        want = int(self.config.get("extra_entities") or 0)
        if want == self.extra_entities:
            return
        for i in range(self.extra_entities):
            self.entities.pop("bulk-entity-%06d" % i, None)
        for i in range(want):
            ident = "bulk-entity-%06d" % i
            self.entities[ident] = {"identifier": ident, "name": "Bulk entity %d" % i, "type": "service",
                                    "created_at": D.CATALOG_TS, "updated_at": D.CATALOG_TS, "description": "",
                                    "owner_team_ids": [], "owner_user_ids": [], "properties": {}, "aliases": {}}
        self.extra_entities = want

    def entity_view(self, e):
        return {"identifier": e["identifier"], "name": e["name"], "type": e["type"],
                "created_at": e["created_at"], "updated_at": e["updated_at"], "description": e["description"],
                "owner_teams": [{"id": t, "name": self.teams[t]["name"]} for t in e["owner_team_ids"]
                                if t in self.teams],
                "owner_users": [{"id": u, "email": self.users_by_id[u]["email"]} for u in e["owner_user_ids"]
                                if u in self.users_by_id],
                "properties": e["properties"], "aliases": e["aliases"]}

    def get_entity(self, ident):
        self.sync_extra_entities()
        e = self.entities.get(ident)
        if e is None:
            raise not_found("entity", ident)
        return e

    def ent_list(self, a, ctx):
        self.sync_extra_entities()
        items = sorted(self.entities.values(), key=lambda e: e["identifier"])
        if a.get("type"):
            items = [e for e in items if e["type"] == a["type"]]
        if a.get("search_term"):
            term = a["search_term"].lower()
            items = [e for e in items if term in " ".join(
                [e["identifier"], e["name"] or ""] +
                [self.teams[t]["name"] for t in e["owner_team_ids"] if t in self.teams] +
                [self.users_by_id[u]["name"] for u in e["owner_user_ids"] if u in self.users_by_id]).lower()]
        items, meta = self.page("catalog.entities.list", items, a)
        return {"entities": [self.entity_view(e) for e in items], "response_metadata": meta}

    def ent_info(self, a, ctx):
        return {"entity": self.entity_view(self.get_entity(a["identifier"]))}

    def apply_entity(self, e, a):
        """Validate then apply the writable fields of create/update/upsert."""
        etype = self.entity_types[e["type"]]
        for t in a.get("owner_team_ids", []):
            if t not in self.teams:
                raise ref_not_found("team", t)
        for u in a.get("owner_user_ids", []):
            if u not in self.users_by_id:
                raise ref_not_found("user", u)
        props = {p["identifier"]: p for p in etype["properties"]}
        for k, v in (a.get("properties") or {}).items():
            if k not in props:
                raise invalid_payload("unknown property %s for entity type %s" % (k, e["type"]), property=k)
            opts = [o["value"] for o in props[k]["definition"].get("options", [])]
            if props[k]["type"] == "select" and v is not None and v not in opts:
                raise invalid_payload("property %s must be one of %s" % (k, ", ".join(opts)), property=k)
        new_edges = set(self.edges)
        for rid, targets in (a.get("relations") or {}).items():
            rel = self.relations.get(rid)
            if rel is None:
                raise ref_not_found("relation", rid)
            if rel["source_entity_type_identifier"] != e["type"]:
                raise ApiError(422, "invalid_entity_type", "%s entities cannot be the source of %s" % (e["type"], rid))
            new_edges = {x for x in new_edges if not (x[0] == rid and x[1] == e["identifier"])}
            for tgt in targets or []:
                self.check_edge(rel, e, tgt, in_payload=True)
                new_edges.add((rid, e["identifier"], tgt))
            self.check_cardinality(rel, new_edges)
        for k in ("name", "description", "owner_team_ids", "owner_user_ids", "aliases"):
            if k in a:
                e[k] = a[k]
        if "properties" in a:
            e["properties"].update(a["properties"])
            e["properties"] = {k: v for k, v in e["properties"].items() if v is not None}
        e["updated_at"] = D.CATALOG_TS.replace("2025-01-02", time.strftime("%Y-%m-%d", time.gmtime(self.now())))
        self.edges = new_edges

    def new_entity(self, a):
        if not IDENT_RE.match(a["identifier"]):
            raise bad_arg("identifier", "identifier may contain letters, digits, _ . - only")
        if a["type"] not in self.entity_types:
            raise ref_not_found("entity type", a["type"])
        ts = D.CATALOG_TS
        return {"identifier": a["identifier"], "name": None, "type": a["type"], "created_at": ts,
                "updated_at": ts, "description": None, "owner_team_ids": [], "owner_user_ids": [],
                "properties": {}, "aliases": {}}

    def ent_create(self, a, ctx):
        self.sync_extra_entities()
        if a["identifier"] in self.entities:
            raise ApiError(409, "conflict", "entity %s already exists" % a["identifier"])
        e = self.new_entity(a)
        self.entities[e["identifier"]] = e
        try:
            self.apply_entity(e, a)
        except ApiError:
            del self.entities[e["identifier"]]
            raise
        return {"entity": self.entity_view(e)}

    def ent_update(self, a, ctx):
        e = self.get_entity(a["identifier"])
        self.apply_entity(e, a)
        return {"entity": self.entity_view(e)}

    def ent_upsert(self, a, ctx):
        self.sync_extra_entities()
        if a["identifier"] in self.entities:
            e = self.entities[a["identifier"]]
            if e["type"] != a["type"]:
                raise invalid_payload("entity %s has type %s, not %s" % (e["identifier"], e["type"], a["type"]))
            self.apply_entity(e, a)
            return {"result": "updated_existing_entity", "entity": self.entity_view(e)}
        out = self.ent_create(a, ctx)
        return {"result": "created_new_entity", "entity": out["entity"]}

    def ent_delete(self, a, ctx):
        e = self.get_entity(a["identifier"])
        del self.entities[e["identifier"]]
        self.edges = {x for x in self.edges if e["identifier"] not in x[1:]}
        return {"entity": self.entity_view(e)}

    def ent_scorecards(self, a, ctx):
        items, meta = self.page("catalog.entities.scorecards", self.entity_reports(self.get_entity(a["identifier"])), a)
        return {"scorecards": items, "response_metadata": meta}

    def ent_tasks(self, a, ctx):
        e = self.get_entity(a["identifier"])
        reports = {r["id"]: r for r in self.entity_reports(e)}
        owner = (self.users_by_id.get(e["owner_user_ids"][0]) if e["owner_user_ids"] else None) or \
            (self.users.get((self.teams.get(e["owner_team_ids"][0]) or {}).get("manager"))
             if e["owner_team_ids"] else None)
        tasks = []
        for i in self.initiatives.values():
            for c in reports.get(i["scorecard_id"], {}).get("checks", []):
                if c["passed"]:
                    continue
                tasks.append({"check": {"id": c["id"], "name": c["name"], "description": c["description"],
                                        "external_url": None},
                              "entity_check_issue": None,
                              "initiative": {k: i[k] for k in ("id", "name", "description", "complete_by",
                                                               "priority")},
                              "owner": {"id": owner["id"], "name": owner["name"], "email": owner["email"],
                                        "avatar": owner["avatar"], "slack_ext_id": owner["slack_id"]}
                              if owner else None})
        items, meta = self.page("catalog.entities.tasks", tasks, a)
        return {"tasks": items, "response_metadata": meta}

    # entity types

    def get_entity_type(self, ident):
        et = self.entity_types.get(ident)
        if et is None:
            raise not_found("entity type", ident)
        return et

    def et_list(self, a, ctx):
        items = sorted(self.entity_types.values(), key=lambda t: (t["ordering"], t["identifier"]))
        items, meta = self.page("catalog.entityTypes.list", items, a)
        return {"entity_types": items, "response_metadata": meta}

    def et_info(self, a, ctx):
        return {"entity_type": self.get_entity_type(a["identifier"])}

    def check_properties(self, props):
        out = []
        for n, p in enumerate(props):
            if not isinstance(p.get("identifier"), str) or not IDENT_RE.match(p["identifier"]) or not p.get("name"):
                raise invalid_payload("properties[%d]: identifier and name are required" % n, index=n)
            if p.get("type") not in PROPERTY_TYPES:
                raise invalid_payload("properties[%d]: type must be one of %s" % (n, ", ".join(PROPERTY_TYPES)),
                                      index=n)
            out.append(D._prop(p["identifier"], p["name"], p["type"], p.get("ordering", n),
                               p.get("definition"), bool(p.get("is_required"))))
            out[-1].update(description=p.get("description", ""), visibility=p.get("visibility", "visible"))
        return out

    def et_apply(self, et, a):
        if "properties" in a:
            et["properties"] = self.check_properties(a["properties"])
        for k in ("name", "description", "icon", "aliases"):
            if k in a:
                et[k] = a[k]

    def et_create(self, a, ctx):
        if not IDENT_RE.match(a["identifier"]):
            raise bad_arg("identifier", "identifier may contain letters, digits, _ . - only")
        if a["identifier"] in self.entity_types:
            raise ApiError(409, "conflict", "entity type %s already exists" % a["identifier"])
        et = {"identifier": a["identifier"], "name": None, "description": None, "icon": None,
              "ordering": len(self.entity_types), "created_at": D.CATALOG_TS, "updated_at": D.CATALOG_TS,
              "properties": [], "aliases": {}}
        self.et_apply(et, a)
        self.entity_types[et["identifier"]] = et
        return {"entity_type": et}

    def et_update(self, a, ctx):
        et = self.get_entity_type(a["identifier"])
        self.et_apply(et, a)
        return {"entity_type": et}

    def et_delete(self, a, ctx):
        et = self.get_entity_type(a["identifier"])
        if any(e["type"] == et["identifier"] for e in self.entities.values()):
            raise ApiError(409, "conflict", "entity type %s still has entities" % et["identifier"])
        del self.entity_types[et["identifier"]]
        return {"entity_type": et}

    # relations and edges

    def get_relation(self, rid):
        rel = self.relations.get(rid)
        if rel is None:
            raise not_found("relation", rid)
        return rel

    def rel_create(self, a, ctx):
        if not IDENT_RE.match(a["identifier"]):
            raise bad_arg("identifier", "identifier may contain letters, digits, _ . - only")
        rtype = a["type"].replace("_", " ")   # wire spelling unverified: accept both
        if rtype not in D.RELATION_TYPES:
            raise bad_arg("type", "argument 'type' must be one of " + ", ".join(D.RELATION_TYPES))
        for k in ("source_entity_type_identifier", "target_entity_type_identifier"):
            if a[k] not in self.entity_types:
                raise ref_not_found("entity type", a[k])
        if a["identifier"] in self.relations:
            raise ApiError(409, "conflict", "relation %s already exists" % a["identifier"])
        rel = {"identifier": a["identifier"], "name": a.get("name") or a["identifier"],
               "description": a.get("description"), "type": rtype, "cardinality": a["cardinality"],
               "source_entity_type_identifier": a["source_entity_type_identifier"],
               "target_entity_type_identifier": a["target_entity_type_identifier"],
               "created_at": D.CATALOG_TS, "updated_at": D.CATALOG_TS}
        self.relations[rel["identifier"]] = rel
        return {"relation": rel}

    def rel_list(self, a, ctx):
        items, meta = self.page("catalog.relations.list", sorted(self.relations.values(),
                                                                 key=lambda r: r["identifier"]), a)
        return {"relations": items, "response_metadata": meta}

    def rel_info(self, a, ctx):
        return {"relation": self.get_relation(a["identifier"])}

    def rel_delete(self, a, ctx):
        rel = self.relations.pop(self.get_relation(a["identifier"])["identifier"])
        self.edges = {x for x in self.edges if x[0] != rel["identifier"]}
        return {"relation": rel}

    def check_edge(self, rel, src, tgt_id, in_payload=False):
        """src is an entity; tgt_id must exist and both must fit the relation's types."""
        if src["type"] != rel["source_entity_type_identifier"]:
            raise ApiError(422, "invalid_entity_type", "%s is a %s; %s needs a %s source" % (
                src["identifier"], src["type"], rel["identifier"], rel["source_entity_type_identifier"]))
        tgt = self.entities.get(tgt_id)
        if tgt is None:
            raise (ref_not_found if in_payload else not_found)("entity", tgt_id)
        if tgt["type"] != rel["target_entity_type_identifier"]:
            raise ApiError(422, "invalid_entity_type", "%s is a %s; %s needs a %s target" % (
                tgt_id, tgt["type"], rel["identifier"], rel["target_entity_type_identifier"]))

    def check_cardinality(self, rel, edges):
        mine = [(s, t) for r, s, t in edges if r == rel["identifier"]]
        card = rel["cardinality"]
        per_src, per_tgt = {}, {}
        for s, t in mine:
            per_src[s] = per_src.get(s, 0) + 1
            per_tgt[t] = per_tgt.get(t, 0) + 1
        if card in ("one_to_one", "many_to_one") and any(n > 1 for n in per_src.values()):
            raise ApiError(422, "invalid_cardinality", "%s is %s: a source has at most one target" % (
                rel["identifier"], card))
        if card in ("one_to_one", "one_to_many") and any(n > 1 for n in per_tgt.values()):
            raise ApiError(422, "invalid_cardinality", "%s is %s: a target has at most one source" % (
                rel["identifier"], card))

    def edge_args(self, a):
        rel = self.get_relation(a["relation_identifier"])
        src = self.get_entity(a["source_entity_identifier"])
        self.check_edge(rel, src, a["target_entity_identifier"])
        return rel, (rel["identifier"], src["identifier"], a["target_entity_identifier"])

    def edge_add(self, a, ctx):
        rel, edge = self.edge_args(a)
        self.check_cardinality(rel, self.edges | {edge})
        self.edges.add(edge)
        return {}

    def edge_remove(self, a, ctx):
        rel, edge = self.edge_args(a)
        if edge not in self.edges:
            raise ApiError(404, "edge_not_found", "no %s edge from %s to %s" % edge)
        self.edges.discard(edge)
        return {}

    def edge_bulk(self, a, ctx):
        rel = self.get_relation(a["relation_identifier"])
        pairs = set()
        for s, targets in a["edges"].items():
            if not isinstance(targets, list):
                raise bad_arg("edges", "edges maps each source identifier to an array of target identifiers")
            pairs |= {(s, t) for t in targets}
        if len(pairs) > 100:
            raise ApiError(422, "too_many_edges", "at most 100 edges per request (got %d)" % len(pairs))
        for s, t in sorted(pairs):
            self.check_edge(rel, self.get_entity(s), t)
        new = self.edges | {(rel["identifier"], s, t) for s, t in pairs}   # add-only upsert
        self.check_cardinality(rel, new)
        self.edges = new
        return {}

    # ==== 3.10 scorecards ====

    def get_scorecard(self, sid):
        sc = self.scorecards.get(sid)
        if sc is None:
            raise not_found("scorecard", sid)
        return sc

    def sc_list(self, a, ctx):
        items = [s for s in self.scorecards.values() if s["published"] or a.get("include_unpublished")]
        items, meta = self.page("scorecards.list", items, a)
        return {"scorecards": items, "response_metadata": meta}

    def sc_info(self, a, ctx):
        return {"scorecard": self.get_scorecard(a["id"])}

    def sc_apply(self, sc, a):
        """Merge create/update fields into sc, then check the type's requirements."""
        for k in ("name", "description", "type", "entity_filter_type", "entity_filter_type_identifiers",
                  "entity_filter_sql", "empty_level_label", "empty_level_color", "published"):
            if k in a:
                sc[k] = a[k]
        if "editors" in a:
            sc["editors"] = [{"id": u} for u in a["editors"]]
        if "tags" in a:
            tags = a["tags"] if isinstance(a["tags"], list) else str(a["tags"]).split(",")
            sc["tags"] = [t if isinstance(t, dict) else {"value": t, "color": D.TAG_COLORS.get(t, "#999999")}
                          for t in tags]
        if "levels" in a:
            sc["levels"] = [{"id": D.b36id("level:%s:%s" % (sc["id"], lv.get("key", n))), "key": lv.get("key"),
                             "name": lv.get("name"), "color": lv.get("color"), "rank": lv.get("rank", n + 1)}
                            for n, lv in enumerate(a["levels"])]
        if "check_groups" in a:
            sc["check_groups"] = [{"id": D.b36id("cgroup:%s:%s" % (sc["id"], g.get("key", n))), "key": g.get("key"),
                                   "name": g.get("name"), "ordering": g.get("ordering", n)}
                                  for n, g in enumerate(a["check_groups"])]
        if "checks" in a:
            levels = {lv.get("key"): {"id": lv["id"], "name": lv["name"]} for lv in sc["levels"]}
            groups = {g.get("key"): {"id": g["id"], "name": g["name"]} for g in sc["check_groups"]}
            checks = []
            for n, c in enumerate(a["checks"]):
                chk = D._check(sc["id"], n, c.get("name") or "check %d" % n,
                               levels.get(c.get("scorecard_level_key")),
                               groups.get(c.get("scorecard_check_group_key")), c.get("points"))
                chk.update({k: v for k, v in c.items() if k in chk and k not in ("id", "level", "check_group")})
                checks.append(chk)
            sc["checks"] = checks
        if sc["type"] == "LEVEL":
            for k in ("empty_level_label", "empty_level_color"):
                if not sc.get(k):
                    raise missing(k, " (type LEVEL)")
            if not sc["levels"]:
                raise missing("levels", " (type LEVEL needs at least one level)")
        elif not sc["check_groups"]:
            raise missing("check_groups", " (type POINTS)")
        if sc["entity_filter_type"] == "entity_types" and not sc.get("entity_filter_type_identifiers"):
            raise missing("entity_filter_type_identifiers", " (entity_filter_type entity_types)")
        if sc["entity_filter_type"] == "sql" and not sc.get("entity_filter_sql"):
            raise missing("entity_filter_sql", " (entity_filter_type sql)")
        sc["updated_at"] = iso(self.now())

    def sc_create(self, a, ctx):
        sid = self.new_id("scorecard")
        now = iso(self.now())
        sc = {"id": sid, "name": None, "description": None, "type": None, "entity_filter_type": None,
              "entity_filter_type_identifiers": [], "entity_filter_sql": None, "published": False, "tags": [],
              "editors": [], "empty_level_label": None, "empty_level_color": None, "levels": [],
              "check_groups": [], "checks": [], "created_at": now, "updated_at": now}
        self.sc_apply(sc, a)
        self.scorecards[sid] = sc
        return {"scorecard": sc}

    def sc_update(self, a, ctx):
        sc = copy.deepcopy(self.get_scorecard(a["id"]))   # apply to a copy: a bad update changes nothing
        self.sc_apply(sc, a)
        self.scorecards[sc["id"]] = sc
        return {"scorecard": sc}

    def sc_delete(self, a, ctx):
        del self.scorecards[self.get_scorecard(a["id"])["id"]]
        return {}

    # ==== 3.11 workflows ====

    def wfdef_view(self, w):
        return {k: w[k] for k in ("identifier", "name", "description", "icon", "color", "scope",
                                  "entity_filter_type", "entity_filter_sql", "entity_filter_type_identifiers",
                                  "execution_type", "trigger_type", "parameters")}

    def wfdef_list(self, a, ctx):
        items = list(self.workflows.values())
        if a.get("scope"):
            items = [w for w in items if w["scope"] == a["scope"]]
        if a.get("entity_identifier"):
            e = self.entities.get(a["entity_identifier"])
            items = [w for w in items if e and w["scope"] == "ENTITY" and
                     (not w["entity_filter_type_identifiers"] or e["type"] in w["entity_filter_type_identifiers"])]
        return {"workflows": [self.wfdef_view(w) for w in items]}

    def wfdef_create(self, a, ctx):
        if not IDENT_RE.match(a["identifier"]):
            raise bad_arg("identifier", "identifier may contain letters, digits, _ . - only")
        if a["identifier"] in self.workflows:
            raise ApiError(409, "conflict", "workflow %s already exists" % a["identifier"])
        if a.get("color") and not re.match(r"^#[0-9A-Fa-f]{6}$", a["color"]):
            raise bad_arg("color", "argument 'color' must be a hex colour like #3366ff")
        hr = a["http_request"]
        if not isinstance(hr.get("url"), str) or not re.match(r"^https?://", hr["url"]):
            raise bad_arg("http_request", "http_request needs a url (http or https)")
        params = []
        for n, p in enumerate(a.get("parameters", [])):
            if not p.get("identifier") or p.get("type") not in PARAM_TYPES:
                raise invalid_payload("parameters[%d]: identifier and a type (%s) are required" % (
                    n, ", ".join(PARAM_TYPES)), index=n)
            params.append(D._param(p["identifier"], p["type"], bool(p.get("is_required")), p.get("default_value"),
                                   [o.get("value") if isinstance(o, dict) else o
                                    for o in (p.get("definition") or {}).get("options", [])] or None,
                                   p.get("description", "")))
        wf = D._workflow(a["identifier"], a["name"], a["scope"], a["execution_type"], a.get("trigger_type", "ANY"),
                         params, a.get("entity_filter_type_identifiers", []))
        wf.update(description=a.get("description"), icon=a.get("icon"), color=a.get("color"),
                  entity_filter_type=a["entity_filter_type"], entity_filter_sql=a.get("entity_filter_sql"),
                  http_request={"method": hr.get("method", "POST"), "url": hr["url"]})
        self.workflows[wf["identifier"]] = wf
        return {"workflow": self.wfdef_view(wf)}

    # ==== 3.12 auth, 3.13 queries, 3.14 events ====

    def auth_info(self, a, ctx):
        t = ctx.token
        auth = {"token_type": "personal_access_token" if t["kind"] == "personal" else "account_web_api_token",
                "token_name": t.get("name"), "scopes": t["scopes"], "created_at": D.TOKEN_CREATED_AT}
        if t["kind"] == "personal":
            auth["expires_at"] = t.get("expires_at")
        return {"auth": auth, "account": {"name": D.ACCOUNT["name"]}}

    def datafeed(self, a, ctx):
        feed = self.datafeeds.get(a["feed_token"])
        if feed is None:
            raise not_found("datafeed", a["feed_token"])
        cols, rows = feed["columns"], feed["rows"]
        var = feed["filter_var"]
        value = ctx.raw.get("var-" + var) if var else None
        if value not in (None, ""):
            rows = [r for r in rows if r[cols.index(var)] == value]
        if a.get("columns"):
            for c in a["columns"]:
                if c not in cols:
                    raise bad_arg("columns", "unknown column: " + c)
            idx = [cols.index(c) for c in a["columns"]]
            cols, rows = a["columns"], [[r[i] for i in idx] for r in rows]
        return {"data": {"columns": cols, "rows": rows[:1000]}}

    def events_track(self, a, ctx):
        if not re.fullmatch(r"\d{9,13}", a["timestamp"]):
            raise bad_arg("timestamp", "argument 'timestamp' must be Unix seconds, e.g. \"1680723287\"")
        if not any(a.get(k) for k in ("email", "github_username", "gitlab_username")):
            raise missing("email", " (or github_username or gitlab_username)")
        if "metadata" in a and len(json.dumps(a["metadata"], separators=(",", ":"))) > 1024:
            raise bad_arg("metadata", "metadata must be at most 1 KB of JSON")
        self.tracked_events.append(dict(a, received_at=iso(self.now())))
        return {}


# --------------------------------------------------------------------------
# Data Cloud API (3.15): POST /api/<method> on the customer's instance host
# --------------------------------------------------------------------------

def _parse_time(name, v):
    """ISO-8601, Unix seconds or Unix milliseconds -> ISO-8601 UTC."""
    if isinstance(v, (int, float)) and not isinstance(v, bool) or (isinstance(v, str) and v.isdigit()):
        n = float(v)
        return iso(n / 1000 if n > 1e11 else n)
    if isinstance(v, str) and re.match(r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?(Z|[+-]\d{2}:?\d{2})?$", v):
        return v
    raise bad_arg(name, "argument '%s' must be ISO-8601, Unix seconds or Unix milliseconds" % name)


DEPLOY_ARGS = ("reference_id:strint! service:any deployed_at:any repository commit_sha merge_commit_shas:list "
               "environment source_url source_name metadata:obj success:bool integration_branch")


class DxDataCloudService(RpcService):
    name = "dx_datacloud"
    prefix = "/api/"
    default_config = dict(FAULT_CONFIG, tokens={}, limit=1000, window=60, rate_limit_key="token",
                          retry_after_on_429=True, clock_offset=0)
    METHODS = {
        "deployments.create": ("POST", None, DEPLOY_ARGS, "dep_create"),
        "deployments.upsert": ("POST", None, DEPLOY_ARGS, "dep_upsert"),
        "deployments.update": ("POST", None, DEPLOY_ARGS, "dep_update"),
        "incidents.upsert": ("POST", None, "reference_id! started_at:any! name priority source_url "
                                           "resolved_at:any services:objlist metadata:obj", "inc_upsert"),
    }

    def reset_state(self):
        super().reset_state()
        self.deployments, self.incidents = {}, {}

    def debug_state(self):
        return {"deployments": self.deployments, "incidents": self.incidents}

    def dep_apply(self, d, a, new):
        if new:
            for k in ("service", "deployed_at"):
                if k not in a:
                    raise missing(k, " (new reference_id)")
            if not a.get("repository") and not a.get("merge_commit_shas"):
                raise missing("repository", " (or merge_commit_shas, to attribute the deployment)")
        if "service" in a:
            s = a["service"]
            if isinstance(s, str):
                s = {"identifier": s, "name": s}
            if not isinstance(s, dict) or not s.get("identifier"):
                raise bad_arg("service", "service is a string or {identifier, name?}")
            d["service"] = {"identifier": s["identifier"], "name": s.get("name") or s["identifier"]}
        if "deployed_at" in a:
            d["deployed_at"] = _parse_time("deployed_at", a["deployed_at"])
        if "commit_sha" in a:
            if not re.fullmatch(r"[0-9a-fA-F]{7,40}", a["commit_sha"]):
                raise bad_arg("commit_sha", "commit_sha must be 7 to 40 hex characters")
            d.update(commit_sha=a["commit_sha"], merge_commit_shas=[])
        if a.get("merge_commit_shas"):
            d.update(merge_commit_shas=a["merge_commit_shas"], commit_sha=None)
        for k in ("repository", "environment", "source_url", "source_name", "metadata", "success",
                  "integration_branch"):
            if k in a:
                d[k] = a[k]
        return d

    def new_deployment(self, a):
        d = {"id": self.new_id("deployment"), "reference_id": a["reference_id"], "environment": "production",
             "success": True, "commit_sha": None, "merge_commit_shas": [], "repository": None,
             "source_url": None, "source_name": None, "metadata": None, "integration_branch": None}
        return self.dep_apply(d, a, True)

    def dep_create(self, a, ctx):
        if a["reference_id"] in self.deployments:
            raise ApiError(409, "conflict", "deployment %s already exists" % a["reference_id"])
        self.deployments[a["reference_id"]] = d = self.new_deployment(a)
        return {"deployment": d}

    def dep_upsert(self, a, ctx):
        d = self.deployments.get(a["reference_id"])
        if d is None:
            self.deployments[a["reference_id"]] = d = self.new_deployment(a)
        else:
            self.dep_apply(copy.deepcopy(d), a, False)   # validate first
            self.dep_apply(d, a, False)
        return {"deployment": d}

    def dep_update(self, a, ctx):
        d = self.deployments.get(a["reference_id"])
        if d is None:
            raise ApiError(404, "deployment_not_found", "no deployment with reference_id %s" % a["reference_id"])
        self.dep_apply(copy.deepcopy(d), a, False)
        return {"deployment": self.dep_apply(d, a, False)}

    def inc_upsert(self, a, ctx):
        inc = self.incidents.get(a["reference_id"]) or {"id": self.new_id("incident"),
                                                         "reference_id": a["reference_id"], "name": None,
                                                         "priority": None, "source_url": None,
                                                         "resolved_at": None, "services": [], "metadata": None}
        inc["started_at"] = _parse_time("started_at", a["started_at"])
        if "resolved_at" in a:
            inc["resolved_at"] = _parse_time("resolved_at", a["resolved_at"])
        for k in ("name", "priority", "source_url", "services", "metadata"):
            if k in a:
                inc[k] = a[k]
        self.incidents[a["reference_id"]] = inc
        return {"incident": inc}


def main():
    """Run the three services on fixed or free ports until interrupted."""
    import argparse
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--files-port", type=int, default=0)
    p.add_argument("--datacloud-port", type=int, default=0)
    opts = p.parse_args()
    files = serve(DxFilesService(), port=opts.files_port)
    dx = serve(DxService(files.url), port=opts.port)
    dc = serve(DxDataCloudService(), port=opts.datacloud_port)
    print("dx %s  dx_files %s  dx_datacloud %s" % (dx.url, files.url, dc.url), flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        for s in (dx, files, dc):
            s.stop()


if __name__ == "__main__":
    main()
