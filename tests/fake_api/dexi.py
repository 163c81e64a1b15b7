"""DexiService: a fake of the Dexi.io API, faithful to shared/api/dexi.md and the
recorded real answers in shared/api/recordings/dexi/.

Default account: id `acc-test`, API key `key-test`; send
  X-DexiIO-Account: acc-test
  X-DexiIO-Access:  md5("acc-test" + "key-test") in lowercase hex
(the legacy X-CloudScrape-* names work too). Seed ids: see dexi_data.py.

What every answer looks like (as recorded): chunked (no Content-Length; only
`files/{id}` sends one), `X-Powered-By: Express`, a `cssesid` cookie, `application/json`;
errors are `{"error":true,"code":N}` with status N (401 for missing or wrong auth,
404 for unknown ids or paths, 400 for bad input or stopping a finished execution,
429 over a rate limit); DELETEs answer 200 with an empty body; `continue` answers
`{}` with an empty reason phrase.

Switches (POST /_config, merged; POST /_reset restores these defaults):
  accounts          {"id": "api key"}   accounts accepted (acc-test/key-test kept)
  limits            {"get": 75, "write": 15, "file": 15}  per account per window;
                    null = unlimited. get = GET/HEAD, write = POST/PUT/DELETE,
                    file = result-file and files downloads (only their own window)
  rate_window       1.0      window length in seconds
  retry_after       false    add `Retry-After: <ceil seconds>` to 429s
  polls_per_state   2        GETs of an execution showing each of QUEUED|PENDING and
                             RUNNING before the final state (0: final at first GET)
  final_state       null     force every execution to end OK, FAILED or STOPPED
                             (otherwise: FAILED when the run's name contains "fail",
                             STOPPED when it contains "stop", else OK)
  wait_seconds      0.2      how long the */wait variants block before answering
  result_rows       null     rows in results of executions created from now on
  file_size         null     byte size of every file of executions created from now on
                             (null: one per input, 3 without inputs)
  result_paging     true     honour offset/limit on executions/{id}/result when given
                             (limit capped); false: always the whole result
  result_total_rows false    add totalRows to results (the recorded answer has none)
  page_default      30       default `limit` of GET runs and runs/{id}/executions
  page_cap          200      hard cap of every `limit`
  ignore_offset     false    paged answers start at row 0 whatever offset says, and
                             echo offset 0 (a client must not loop for ever)
  total_rows_extra  0        added to totalRows (pages run out before totalRows)
  file_short_by     0        serve file bodies this many bytes shorter than their pointer
  file_long_by      0        serve file bodies this many bytes longer than their pointer
  fault             null     {"kind": K, "count": 1, "path": substring, "method": M,
                             "seconds": 2}: the next `count` matching requests (-1: all)
                             answer K = an HTTP status ("500", "503"...), "reset",
                             "html502" (a proxy's HTML page), "invalid_json", or are
                             handled normally then "truncate"d (body cut in half) or
                             "delay"ed by `seconds`. Faults come before auth and limits.
"""

import math
import re
import urllib.parse

from common import Response, Service, SlidingWindow, encode_json
from dexi_data import (ACCOUNT, API_KEY, FINAL_STATES, Store, access_hash, file_stream,
                       format_result, normalise_file_id, now_ms, visible_result)

BASE_HEADERS = {"X-Powered-By": "Express", "Vary": "Accept-Encoding",
                "Set-Cookie": "cssesid=s%3Afake.fake; Path=/", "Server": None}
JETTY = "Jetty(9.2.2.v20140723)"     # answers that went through the Java back end
FORMATS = ("json", "csv", "xml", "scsv")
DEFAULT_ROWS = 3
HTML_502 = (b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
            b"<center><h1>502 Bad Gateway</h1></center>\r\n</body>\r\n</html>\r\n")


class ApiError(Exception):
    def __init__(self, status):
        super().__init__(status)
        self.status = status


def _int_param(value, low):
    """An integer >= low from a query string or a JSON number, else ApiError(400)."""
    if isinstance(value, bool):
        raise ApiError(400)
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ApiError(400)
    if number < low or (isinstance(value, float) and value != number):
        raise ApiError(400)
    return number


def _flag(value, default):
    if value is None or value == "":
        return default
    return value.lower() not in ("false", "0", "no")


class DexiService(Service):
    name = "dexi"
    default_config = {
        "accounts": {ACCOUNT: API_KEY},
        "limits": {"get": 75, "write": 15, "file": 15},
        "rate_window": 1.0,
        "retry_after": False,
        "polls_per_state": 2,
        "final_state": None,
        "wait_seconds": 0.2,
        "result_rows": None,
        "file_size": None,
        "result_paging": True,
        "result_total_rows": False,
        "page_default": 30,
        "page_cap": 200,
        "ignore_offset": False,
        "total_rows_extra": 0,
        "file_short_by": 0,
        "file_long_by": 0,
        "fault": None,
    }

    def __init__(self):
        super().__init__()
        self.windows = {cls: SlidingWindow(None, 1.0) for cls in ("get", "write", "file")}
        self.reset_state()

    def reset_state(self):
        with self.lock:
            self.store = Store()
            for window in self.windows.values():
                window.reset()

    # {==== request pipeline: fault, auth, route, rate limit, operation ====}

    def handle(self, req):
        resp = self._pipeline(req)
        for name, value in BASE_HEADERS.items():
            resp.headers.setdefault(name, value)
        return resp

    def _pipeline(self, req):
        fault = self._take_fault(req)
        if fault is not None and fault["kind"] not in ("truncate", "delay"):
            return self._fault_response(fault)
        account = self._authenticate(req)
        if account is None:
            return self._error(401)
        method = "GET" if req.method == "HEAD" else req.method
        op, params = self._route(method, req.path.strip("/"))
        limited = self._rate_limit(account, self._rate_class(method, op))
        if limited is not None:
            return limited
        if op is None:
            return self._error(404)
        try:
            if op in UNLOCKED_OPS:
                resp = getattr(self, op)(req, account, **params)
            else:
                with self.lock:
                    resp = getattr(self, op)(req, account, **params)
        except ApiError as exc:
            resp = self._error(exc.status)
        if fault is not None:
            self._apply_late_fault(fault, resp)
        return resp

    def _authenticate(self, req):
        account = req.headers.get("x-dexiio-account") or req.headers.get("x-cloudscrape-account")
        access = req.headers.get("x-dexiio-access") or req.headers.get("x-cloudscrape-access")
        if not account or not access:
            return None
        with self.lock:
            key = self.config["accounts"].get(account)
        if key is None or access != access_hash(account, key):
            return None
        return account

    def _route(self, method, path):
        for verb, pattern, op in COMPILED_ROUTES:
            match = pattern.fullmatch(path)
            if match and verb == method:
                params = {k: urllib.parse.unquote(v) for k, v in match.groupdict().items()}
                return op, params
        return None, {}

    @staticmethod
    def _rate_class(method, op):
        if op in FILE_OPS:
            return "file"
        return "get" if method == "GET" else "write"

    def _rate_limit(self, account, cls):
        with self.lock:
            limit = self.config["limits"].get(cls)
            window = self.windows[cls]
            window.limit = None if limit is None else int(limit)
            window.window = float(self.config["rate_window"])
            send_retry_after = self.config["retry_after"]
        allowed, wait = window.allow(account)
        if allowed:
            return None
        headers = {"Retry-After": str(max(1, math.ceil(wait)))} if send_retry_after else {}
        return self._error(429, headers)

    # {==== faults ====}

    def _take_fault(self, req):
        """Consume one use of the configured fault if it applies to `req`."""
        with self.lock:
            fault = self.config.get("fault")
            if not isinstance(fault, dict) or not fault.get("kind"):
                return None
            if fault.get("path") and fault["path"] not in req.path:
                return None
            if fault.get("method") and fault["method"].upper() != req.method:
                return None
            try:
                count = int(fault.get("count", 1))
            except (TypeError, ValueError):
                count = 1
            if count == 0:
                return None
            taken = dict(fault, kind=str(fault["kind"]))
            if count > 0:
                fault["count"] = count - 1
                if count == 1:
                    self.config["fault"] = None
            return taken

    def _fault_response(self, fault):
        kind = fault["kind"]
        if kind.isdigit():
            return self._error(int(kind))
        if kind == "reset":
            return Response(reset=True)
        if kind == "html502":
            return Response(502, HTML_502, {"Content-Type": "text/html", "Server": "nginx",
                                            "X-Powered-By": None, "Set-Cookie": None,
                                            "Vary": None})
        if kind == "invalid_json":
            return Response(200, b'{"_id":"', {"Content-Type": "application/json"},
                            chunked=True)
        return self._error(500)

    @staticmethod
    def _apply_late_fault(fault, resp):
        if fault["kind"] == "delay":
            resp.delay += float(fault.get("seconds", 2))
        elif fault["kind"] == "truncate":
            if resp.stream is not None:        # a streamed file: cut its whole body
                resp.body, resp.stream = b"".join(resp.stream), None
                resp.headers.pop("Content-Length", None)
            resp.truncate_at = len(resp.body) // 2

    # {==== answers ====}

    @staticmethod
    def _json(obj, status=200, reason=None):
        return Response(status, encode_json(obj), {"Content-Type": "application/json"},
                        chunked=True, reason=reason)

    @staticmethod
    def _error(status, headers=None):
        all_headers = {"Content-Type": "application/json"}
        all_headers.update(headers or {})
        return Response(status, encode_json({"error": True, "code": status}), all_headers,
                        chunked=True)

    @staticmethod
    def _empty():
        """200 with no body, typed JSON all the same (the recorded DELETE)."""
        return Response(200, b"", {"Content-Type": "application/json"}, chunked=True)

    # {==== input helpers ====}

    @staticmethod
    def _body(req, default=None):
        if not req.body.strip():
            if default is not None:
                return default
            raise ApiError(400)
        try:
            return req.json()
        except ValueError:
            raise ApiError(400)

    def _body_object(self, req):
        body = self._body(req)
        if not isinstance(body, dict):
            raise ApiError(400)
        return body

    def _page_params(self, offset, limit, default_limit):
        offset = 0 if offset in (None, "") else _int_param(offset, 0)
        limit = default_limit if limit in (None, "") else _int_param(limit, 1)
        return offset, min(limit, int(self.config["page_cap"]))

    def _page(self, items, offset, limit):
        """The list envelope {offset, totalRows, rows}."""
        if self.config["ignore_offset"]:
            offset = 0
        total = len(items) + int(self.config["total_rows_extra"])
        return {"offset": offset, "totalRows": total, "rows": items[offset:offset + limit]}

    def _format(self, req):
        fmt = req.arg("format") or "json"
        if fmt not in FORMATS:
            raise ApiError(400)
        return fmt

    # {==== lookups ====}

    def _robot(self, robot_id):
        robot = self.store.robots.get(robot_id)
        if robot is None:
            raise ApiError(404)
        return robot

    def _run(self, run_id):
        run = self.store.runs.get(run_id)
        if run is None:
            raise ApiError(404)
        return run

    def _execution(self, ex_id):
        ex = self.store.executions.get(ex_id)
        if ex is None:
            raise ApiError(404)
        return ex

    @staticmethod
    def _run_public(run):
        return {k: v for k, v in run.items() if k != "_seq"}

    def _run_executions(self, run_id):
        """Executions of a run, newest first."""
        found = [ex for ex in self.store.executions.values() if ex.run_id == run_id]
        return sorted(found, key=lambda ex: (ex.starts, ex.seq), reverse=True)

    def _remove_executions(self, predicate):
        for ex_id in [i for i, ex in self.store.executions.items() if predicate(ex)]:
            del self.store.executions[ex_id]

    # {==== robots ====}

    def op_save_robot(self, req, account):
        """POST robots and PUT robots: create, or update the robot named by `_id`."""
        body = self._body_object(req)
        robot_id = body.get("_id") or self.store.new_id("robot")
        robot = self.store.robots.get(robot_id)
        if robot is None:
            robot = self.store.add_robot(robot_id, body.get("name") or "robot", account)
        robot.update(body)
        robot["_id"] = robot_id
        return self._json(robot)

    def op_get_robot(self, req, account, robot_id):
        return self._json(self._robot(robot_id))

    def op_remove_robot(self, req, account, robot_id):
        self._robot(robot_id)
        del self.store.robots[robot_id]
        runs = [r for r, run in self.store.runs.items() if run["robotId"] == robot_id]
        for run_id in runs:
            del self.store.runs[run_id]
            self.store.run_inputs.pop(run_id, None)
        self._remove_executions(lambda ex: ex.robot_id == robot_id)
        return self._empty()

    # {==== runs ====}

    def op_list_runs(self, req, account):
        offset, limit = self._page_params(req.arg("offset"), req.arg("limit"),
                                          int(self.config["page_default"]))
        robot_id = req.arg("robotId")
        runs = [r for r in self.store.runs.values() if not robot_id or r["robotId"] == robot_id]
        runs.sort(key=lambda r: r["_seq"], reverse=True)
        return self._json(self._page([self._run_public(r) for r in runs], offset, limit))

    def op_save_run(self, req, account):
        """POST runs: create a run, or update the one named by the body's `_id`."""
        body = self._body_object(req)
        robot_id = req.arg("robotId") or body.get("robotId")
        if not robot_id:
            raise ApiError(400)
        self._robot(robot_id)
        run = self.store.runs.get(body.get("_id") or "")
        if run is None:
            run_id = body.get("_id") or self.store.new_id("run")
            run = self.store.add_run(run_id, body.get("name") or "run", robot_id, account)
        else:
            run["version"] += 1
        run.update({k: v for k, v in body.items() if k not in ("_id", "_seq", "version")})
        run["robotId"] = robot_id
        return self._json(self._run_public(run))

    def op_get_run(self, req, account, run_id):
        return self._json(self._run_public(self._run(run_id)))

    def op_remove_run(self, req, account, run_id):
        self._run(run_id)
        del self.store.runs[run_id]
        self.store.run_inputs.pop(run_id, None)
        self._remove_executions(lambda ex: ex.run_id == run_id)
        return self._empty()

    def op_set_inputs(self, req, account, run_id):
        run = self._run(run_id)
        if (req.arg("format") or "json") != "json":
            raise ApiError(400)
        rows = self._body(req)
        rows = [rows] if isinstance(rows, dict) else rows
        if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
            raise ApiError(400)
        stored = self.store.run_inputs[run_id] if _flag(req.arg("append"), True) else []
        self.store.run_inputs[run_id] = stored + rows
        return self._json(self._run_public(run))

    def op_clear_inputs(self, req, account, run_id):
        self._run(run_id)
        self.store.run_inputs[run_id] = []
        return self._empty()

    def op_executions(self, req, account, run_id):
        self._run(run_id)
        offset, limit = self._page_params(req.arg("offset"), req.arg("limit"),
                                          int(self.config["page_default"]))
        rows = [ex.listing() for ex in self._run_executions(run_id)]
        return self._json(self._page(rows, offset, limit))

    def op_latest_result(self, req, account, run_id):
        self._run(run_id)
        fmt = self._format(req)
        state = req.arg("state") or "OK"
        for ex in self._run_executions(run_id):
            if ex.state == state:
                self.store.ensure_result(ex)
                return self._result_response(req, ex, *visible_result(ex), fmt)
        raise ApiError(404)

    # {==== execute ====}

    def _start(self, req, account, run_id, mode):
        """Create an execution: stored inputs (QUEUED), one input object or a list
        of them from the body (PENDING)."""
        run = self._run(run_id)
        if mode == "plain":
            inputs, initial = [dict(i) for i in self.store.run_inputs[run_id]], "QUEUED"
        elif mode == "inputs":
            inputs, initial = [self._body_object(req)], "PENDING"
        else:
            inputs, initial = self._body(req), "PENDING"
            if not isinstance(inputs, list) or not all(isinstance(i, dict) for i in inputs):
                raise ApiError(400)
        name = str(run.get("name", "")).lower()
        final = "FAILED" if "fail" in name else "STOPPED" if "stop" in name else "OK"
        rows = self.config["result_rows"]
        rows = int(rows) if rows is not None else (len(inputs) or DEFAULT_ROWS)
        ex = self.store.add_execution(self.store.new_id("execution"), run_id, initial, final,
                                      inputs, rows, now_ms(), account)
        ex.file_size = self.config["file_size"]
        return ex

    def op_execute(self, req, account, run_id):
        return self._json(self._start(req, account, run_id, "plain").public())

    def op_execute_inputs(self, req, account, run_id):
        return self._json(self._start(req, account, run_id, "inputs").public())

    def op_execute_bulk(self, req, account, run_id):
        return self._json(self._start(req, account, run_id, "bulk").public())

    def _execute_sync(self, req, account, run_id, mode):
        """The */wait variants: block until the execution is done, answer its result,
        delete the execution unless deleteAfter=false."""
        with self.lock:
            fmt = self._format(req)
            ex = self._start(req, account, run_id, mode)
            wait = float(self.config["wait_seconds"])
        if not self.sleep(wait):
            return self._error(503)                  # the server is shutting down
        with self.lock:
            if ex.state not in FINAL_STATES:
                ex.finish(self.config["final_state"])
            self.store.ensure_result(ex)
            headers, rows = visible_result(ex)
            if _flag(req.arg("deleteAfter"), True):
                self.store.executions.pop(ex.id, None)
            return self._result_response(req, ex, headers, rows, fmt)

    def op_execute_sync(self, req, account, run_id):
        return self._execute_sync(req, account, run_id, "plain")

    def op_execute_inputs_sync(self, req, account, run_id):
        return self._execute_sync(req, account, run_id, "inputs")

    def op_execute_bulk_sync(self, req, account, run_id):
        return self._execute_sync(req, account, run_id, "bulk")

    # {==== executions ====}

    def _advance(self, ex):
        """One poll: after `polls_per_state` polls in QUEUED/PENDING it is RUNNING,
        after as many more it reaches its final state."""
        if ex.state in FINAL_STATES:
            return
        per_state = max(0, int(self.config["polls_per_state"]))
        ex.polls += 1
        while ex.state not in FINAL_STATES and ex.polls > per_state:
            if ex.state == "RUNNING":
                ex.finish(self.config["final_state"])
            else:
                ex.state = "RUNNING"
            ex.polls = 1

    def op_get_execution(self, req, account, ex_id):
        ex = self._execution(ex_id)
        self._advance(ex)
        return self._json(ex.public())

    def op_remove_execution(self, req, account, ex_id):
        self._execution(ex_id)
        del self.store.executions[ex_id]
        return self._empty()

    def op_stop(self, req, account, ex_id):
        ex = self._execution(ex_id)
        if ex.state in FINAL_STATES:
            raise ApiError(400)                      # as recorded for a finished one
        ex.finish("STOPPED")
        return self._json({})

    def op_continue(self, req, account, ex_id):
        """Resume a STOPPED execution; anything else is left alone (recorded: `{}`)."""
        ex = self._execution(ex_id)
        if ex.state == "STOPPED":
            ex.state, ex.finished, ex.polls = "RUNNING", None, 0
            if ex.final == "STOPPED":
                ex.final = "OK"
        return self._json({}, reason="")

    def op_result(self, req, account, ex_id):
        ex = self._execution(ex_id)
        fmt = self._format(req)
        self.store.ensure_result(ex)
        return self._result_response(req, ex, *visible_result(ex), fmt)

    def _result_response(self, req, ex, headers, rows, fmt):
        total = len(rows)
        if self.config["result_paging"] and (req.arg("offset") or req.arg("limit")):
            offset, limit = self._page_params(req.arg("offset"), req.arg("limit"),
                                              int(self.config["page_default"]))
            if self.config["ignore_offset"]:
                offset = 0
            rows = rows[offset:offset + limit]
        if fmt == "json":
            result = {"headers": headers, "rows": rows}
            if self.config["result_total_rows"]:
                result["totalRows"] = total + int(self.config["total_rows_extra"])
            body, ctype, ext = encode_json(result), "application/json", "json"
        else:
            body, ctype, ext = format_result(headers, rows, fmt)
        robot = self.store.robots.get(ex.robot_id, {"name": "robot"})
        disposition = 'attachment; filename="%s_v1.%s"' % (robot["name"], ext)
        return Response(200, body, {"Content-Type": ctype, "Content-Disposition": disposition,
                                    "Server": JETTY}, chunked=True)

    def op_stats(self, req, account, ex_id):
        ex = self._execution(ex_id)
        self.store.ensure_result(ex)
        headers, rows = visible_result(ex)
        run = self.store.runs.get(ex.run_id, {"name": None})
        robot = self.store.robots.get(ex.robot_id, {"name": None})
        ended = ex.finished or now_ms()
        failed = sum(1 for row in rows if row and row[-1] is not None)
        return self._json({
            "concurrency": 1, "created": ex.starts, "createdBy": ex.account,
            "createdByName": "Fake User", "eta": 0 if ex.finished else ended + 60000,
            "finished": ex.finished, "lastModified": ended, "modifiedBy": ex.account,
            "modifiedByName": "Fake User", "pageVisits": 2 * len(rows),
            "requests": 3 * len(rows), "resultsCurrent": len(rows),
            "resultsFailed": failed, "resultsTotal": len(rows), "robotId": ex.robot_id,
            "robotName": robot["name"], "runId": ex.run_id, "runName": run["name"],
            "starts": ex.starts, "state": ex.state, "timeTaken": ended - ex.starts,
            "timeUsed": ended - ex.starts, "trafficUsed": 1024 * len(rows),
            "archived": False})

    # {==== files ====}

    def _file_info(self, file_id):
        info = self.store.files.get(normalise_file_id(file_id))
        if info is None:
            raise ApiError(404)
        return info

    def _file_body(self, info):
        """The file's bytes, streamed: files may be hundreds of MiB (benchmarks)."""
        return file_stream(info, self._served_size(info))

    def _served_size(self, info):
        short_by = max(0, int(self.config["file_short_by"]))
        long_by = max(0, int(self.config["file_long_by"]))
        return max(0, info.size - short_by) + long_by

    def op_result_file(self, req, account, ex_id, file_id):
        """executions/{id}/file/{fileId}: the id may come with `/` raw or as %2F."""
        ex = self._execution(ex_id)
        self.store.ensure_result(ex)
        info = self._file_info(file_id)
        if info.execution != ex_id:
            raise ApiError(404)
        return Response(200, headers={"Content-Type": info.mime, "Cache-Control": "private",
                                      "Server": JETTY}, chunked=True, stream=self._file_body(info))

    def op_get_file(self, req, account, file_id):
        """files/{fileId}: with a Content-Length, as the Java app SDK reads it."""
        info = self._file_info(file_id)
        length = self._served_size(info)
        return Response(200, headers={"Content-Type": info.mime, "Cache-Control": "private",
                                      "Content-Length": str(length)}, stream=self._file_body(info))

    # {==== datasets ====}

    def op_dataset_rows(self, req, account, dataset_id):
        """POST datasets/{id}/rows {offset, limit, query}: an empty body means every
        row up to the page cap; a `query` object filters by equality, anything else
        in `query` is ignored."""
        rows = self.store.datasets.get(dataset_id)
        if rows is None:
            raise ApiError(404)
        body = self._body(req, default={})
        if not isinstance(body, dict):
            raise ApiError(400)
        cap = int(self.config["page_cap"])
        offset, limit = self._page_params(body.get("offset"), body.get("limit"), cap)
        query = body.get("query")
        if isinstance(query, dict) and query:
            rows = [r for r in rows if all(r.get(k) == v for k, v in query.items())]
        return self._json(self._page(rows, offset, limit))


ID = r"(?P<%s>[^/]+)"
ROUTES = [
    ("POST", "robots", "op_save_robot"),
    ("PUT", "robots", "op_save_robot"),
    ("GET", "robots/" + ID % "robot_id", "op_get_robot"),
    ("DELETE", "robots/" + ID % "robot_id", "op_remove_robot"),
    ("GET", "runs", "op_list_runs"),
    ("POST", "runs", "op_save_run"),
    ("GET", "runs/" + ID % "run_id", "op_get_run"),
    ("DELETE", "runs/" + ID % "run_id", "op_remove_run"),
    ("POST", "runs/" + ID % "run_id" + "/execute", "op_execute"),
    ("POST", "runs/" + ID % "run_id" + "/execute/wait", "op_execute_sync"),
    ("POST", "runs/" + ID % "run_id" + "/execute/inputs", "op_execute_inputs"),
    ("POST", "runs/" + ID % "run_id" + "/execute/inputs/wait", "op_execute_inputs_sync"),
    ("POST", "runs/" + ID % "run_id" + "/execute/bulk", "op_execute_bulk"),
    ("POST", "runs/" + ID % "run_id" + "/execute/bulk/wait", "op_execute_bulk_sync"),
    ("GET", "runs/" + ID % "run_id" + "/latest/result", "op_latest_result"),
    ("GET", "runs/" + ID % "run_id" + "/executions", "op_executions"),
    ("PUT", "runs/" + ID % "run_id" + "/inputs", "op_set_inputs"),
    ("DELETE", "runs/" + ID % "run_id" + "/inputs", "op_clear_inputs"),
    ("GET", "executions/" + ID % "ex_id", "op_get_execution"),
    ("DELETE", "executions/" + ID % "ex_id", "op_remove_execution"),
    ("GET", "executions/" + ID % "ex_id" + "/result", "op_result"),
    ("GET", "executions/" + ID % "ex_id" + "/file/(?P<file_id>.+)", "op_result_file"),
    ("POST", "executions/" + ID % "ex_id" + "/stop", "op_stop"),
    ("POST", "executions/" + ID % "ex_id" + "/continue", "op_continue"),
    ("GET", "executions/" + ID % "ex_id" + "/stats", "op_stats"),
    ("POST", "datasets/" + ID % "dataset_id" + "/rows", "op_dataset_rows"),
    ("GET", "files/(?P<file_id>.+)", "op_get_file"),
]
COMPILED_ROUTES = [(verb, re.compile(pattern), op) for verb, pattern, op in ROUTES]
FILE_OPS = ("op_result_file", "op_get_file")
# These block for `wait_seconds` and take the lock themselves around the short parts.
UNLOCKED_OPS = ("op_execute_sync", "op_execute_inputs_sync", "op_execute_bulk_sync")
