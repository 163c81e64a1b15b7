"""Fake DX Data Studio: studio.queryRuns.* (dx.md 3.2: asynchronous SQL runs,
polled to completion, results as JSON or a 303 to a CSV) and queries.datafeed
(3.13: the saved-query feeds)."""

import math
import re

try:
    from common import SlidingWindow, json_response
    import dx_data as D
    from dx_rpc import ApiError, bad_arg, iso, not_found
except ImportError:  # imported as part of a package
    from .common import SlidingWindow, json_response
    from . import dx_data as D
    from .dx_rpc import ApiError, bad_arg, iso, not_found

DAY = 86400

METHODS = {
    # 3.2 studio
    "studio.queryRuns.execute": ("POST", "datacloud:query", "sql! variables:obj", "q_execute"),
    "studio.queryRuns.info": ("GET", "datacloud:query", "id!", "q_info"),
    "studio.queryRuns.results": ("GET", "datacloud:query", "id! format:enum(json|csv)", "q_results"),
    # 3.13 queries
    # var-* stands for the template variables (var-<name>), read from the raw query
    "queries.datafeed": ("GET", None, "feed_token! columns:list var-*", "datafeed"),
}


class StudioMixin:
    """DxService handlers; state: self.query_runs, self.datafeeds, self._poll_window."""

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

    # ==== 3.13 queries ====

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
