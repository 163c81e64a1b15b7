"""Fake DX workflows: workflowRuns.* (dx.md 3.1: trigger, the run state
machine advanced by info polls, messages, links, status changes) and
workflows.* (3.11: list and create definitions).

Calling out (dx.md 3.11 `http_request`, 4.1). A workflow whose `http_request.url` is
on loopback (127.0.0.1, localhost, [::1]) is really called when a run is triggered; any
other URL is only simulated (the fake never leaves the machine). The real call:
  - happens in a thread of its own, started by the trigger (which answers at once), with the
    definition's `method` (default POST), `headers` and JSON `body`;
  - the run is IN_PROGRESS meanwhile; then HTTP_REQUEST_COMPLETED is recorded with
    data.request{method,url} and data.response{status} (status null when the
    connection failed);
  - on a 2xx answer an EVENT_DRIVEN run goes to WAITING_FOR_EVENTS (until
    workflowRuns.changeStatus) and a SIMPLE run to SUCCEEDED; otherwise the run FAILED.
The body template is THE FAKE'S CONVENTION, not documented DX syntax (the public docs
do not show how a definition refers to the run): every JSON string in `body` and every
header value may contain {{run.id}}, {{workflow.identifier}}, {{entity.identifier}} and
{{data.NAME}} (a parameter of the run). A string that is exactly one placeholder takes
the value itself (a number stays a number; a missing value is null); elsewhere the
value is written into the string (a missing one as ""). Unknown names are errors of the
definition: workflows.create refuses them with 400 invalid_arguments.
"""

import json
import re
import threading
import urllib.error
import urllib.parse
import urllib.request

try:
    from common import json_response
    import dx_data as D
    from dx_rpc import IDENT_RE, ApiError, bad_arg, invalid_payload, iso, missing, not_found
except ImportError:  # imported as part of a package
    from .common import json_response
    from . import dx_data as D
    from .dx_rpc import IDENT_RE, ApiError, bad_arg, invalid_payload, iso, missing, not_found

TERMINAL = ("SUCCEEDED", "FAILED", "REJECTED", "TIMEOUT", "CANCELLED")
READ_RUNS = ("workflowRuns:read", "workflowRuns:trigger", "workflowRuns:writeEvents")
WRITE_EVENTS = ("workflowRuns:writeEvents", "workflows:write")
PARAM_TYPES = ("STRING", "INTEGER", "FLOAT", "BOOLEAN", "SELECT", "USER", "TEAM", "EMAIL")

METHODS = {
    # 3.1 workflowRuns
    "workflowRuns.trigger": ("POST", "workflowRuns:trigger", "workflow_identifier workflow_run_identifier "
                             "entity_identifier entity-identifier data:obj notify_approvers:bool", "wf_trigger"),
    "workflowRuns.info": ("GET", [READ_RUNS], "id!", "wf_info"),
    "workflowRuns.postMessage": ("POST", [WRITE_EVENTS], "workflow_run_id! message!", "wf_post_message"),
    "workflowRuns.addLink": ("POST", [WRITE_EVENTS], "workflow_run_id! link:obj!", "wf_add_link"),
    "workflowRuns.changeStatus": ("POST", "workflowRuns:writeEvents",
                                  "workflow_run_id! status:enum(SUCCEEDED|FAILED)!", "wf_change_status"),
    # 3.11 workflows
    "workflows.list": ("GET", [("workflows:read", "workflowRuns:trigger", "workflows:create")],
                       "scope:enum(GLOBAL|ENTITY) entity_identifier", "wfdef_list"),
    "workflows.create": ("POST", "workflows:create", "identifier! name! scope:enum(GLOBAL|ENTITY)! "
                         "execution_type:enum(SIMPLE|EVENT_DRIVEN)! entity_filter_type:enum(ENTITY_TYPES|SQL)! "
                         "http_request:obj! description icon color trigger_type:enum(ANY|APPROVAL|RUNNERS|ENTITY) "
                         "parameters:objlist entity_filter_type_identifiers:list entity_filter_sql", "wfdef_create"),
}


TEMPLATE_NAMES = {"run.id", "workflow.identifier", "entity.identifier"}
PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z0-9_.-]+)\s*\}\}")
LOOPBACK = ("127.0.0.1", "localhost", "::1")


def calls_out(wf):
    """True when the fake really makes the workflow's http_request (a loopback URL)."""
    host = urllib.parse.urlsplit(wf["http_request"]["url"]).hostname
    return host in LOOPBACK


def placeholders(value):
    """Every placeholder name in a JSON value."""
    if isinstance(value, str):
        return set(PLACEHOLDER.findall(value))
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, list):
        return set().union(*[placeholders(v) for v in value]) if value else set()
    return set()


def render_template(value, values):
    """The fake's template convention (module docstring) applied to a JSON value."""
    if isinstance(value, str):
        whole = PLACEHOLDER.fullmatch(value.strip())
        if whole:
            return values.get(whole.group(1))
        return PLACEHOLDER.sub(lambda m: "" if values.get(m.group(1)) is None else
                               (json.dumps(values[m.group(1)]) if not isinstance(values[m.group(1)], str)
                                else values[m.group(1)]), value)
    if isinstance(value, dict):
        return {k: render_template(v, values) for k, v in value.items()}
    if isinstance(value, list):
        return [render_template(v, values) for v in value]
    return value


class WorkflowsMixin:
    """DxService handlers; state: self.workflows, self.runs."""

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
               "approval": approval, "notify": a.get("notify_approvers", True), "outcome": outcome,
               "user": self.event_user(ctx)}
        self.runs[rid] = run
        self.add_event(run, "WORKFLOW_TRIGGERED", user=run["user"])
        if calls_out(wf) and outcome != "REJECTED" and not approval:
            run.update(status="IN_PROGRESS", frozen=True)
            threading.Thread(target=self.call_out, args=(run,), daemon=True).start()
        return {"workflow_run": {"id": rid}}

    def call_out(self, run):
        """The workflow's real http_request (see the module's docstring)."""
        hr, wf = run["workflow"]["http_request"], run["workflow"]
        values = {"run.id": run["id"], "workflow.identifier": wf["identifier"],
                  "entity.identifier": run["entity"]["identifier"] if run["entity"] else None}
        for k, v in run["data"].items():
            values["data." + k] = v
        headers = {k: render_template(v, values) for k, v in (hr.get("headers") or {}).items()}
        body = None
        if hr.get("body") is not None:
            body = json.dumps(render_template(hr["body"], values)).encode("utf-8")
            if not any(k.lower() == "content-type" for k in headers):
                headers["Content-Type"] = "application/json"
        req = urllib.request.Request(hr["url"], data=body, headers=headers, method=hr["method"])
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                status = resp.status
        except urllib.error.HTTPError as exc:
            status = exc.code
        except OSError:
            status = None
        with self.lock:
            self.add_event(run, "HTTP_REQUEST_COMPLETED", data={
                "request": {"method": hr["method"], "url": hr["url"]}, "response": {"status": status}})
            if run["status"] in TERMINAL:   # the endpoint finished the run already
                return
            if status is not None and 200 <= status < 300:
                final = "WAITING_FOR_EVENTS" if wf["execution_type"] == "EVENT_DRIVEN" else "SUCCEEDED"
            else:
                final = "FAILED"
            if final in TERMINAL:
                self.add_event(run, "WORKFLOW_" + final)
                run["completed_at"] = iso(self.now())
            run["status"] = final

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
                  "SELECT": v in (p["definition"] or {}).get("options", []),
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
            self.add_event(run, "WORKFLOW_RUN_REQUESTED", user=run["user"])   # the one who triggered it
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
        user = self.event_user(ctx)
        ev = self.add_event(run, "CHANGE_STATUS", data={"status": a["status"]}, user=user)
        self.add_event(run, "WORKFLOW_" + a["status"], user=user)
        run.update(status=a["status"], completed_at=iso(self.now()), frozen=True)
        return {"event": ev}

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
        headers = hr.get("headers") or {}
        if not isinstance(headers, dict) or not all(isinstance(v, str) for v in headers.values()):
            raise bad_arg("http_request", "http_request.headers must map names to strings")
        names = placeholders(hr.get("body")) | placeholders(list(headers.values()))
        unknown = sorted(n for n in names if n not in TEMPLATE_NAMES and not n.startswith("data."))
        if unknown:
            raise bad_arg("http_request", "unknown template name(s) in http_request: %s (the fake knows %s "
                          "and data.NAME)" % (", ".join(unknown), ", ".join(sorted(TEMPLATE_NAMES))))
        wf.update(description=a.get("description"), icon=a.get("icon"), color=a.get("color"),
                  entity_filter_type=a["entity_filter_type"], entity_filter_sql=a.get("entity_filter_sql"),
                  http_request={"method": (hr.get("method") or "POST").upper(), "url": hr["url"],
                                "headers": headers, "body": hr.get("body")})
        self.workflows[wf["identifier"]] = wf
        return {"workflow": self.wfdef_view(wf)}
