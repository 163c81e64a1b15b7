"""Self-test of the fake DX Web API (dx.py): python3 tests/fake_api/dx_selftest.py

Starts DxFilesService, DxService and DxDataCloudService in-process and talks to
them over real HTTP (http.client, no redirect following), resetting both
between tests.  Covers auth (missing, revoked, expired, missing scope), every
method family, argument errors, cursor and page walks, the repeated-cursor
switch, the Data Studio flow (202 -> 409 -> results, CSV via 303, 410, 422,
failed), the workflow run flow, the snapshot 303 (files host never sees
Authorization), the rate limit, the fault switches, the body shapes of dx.md
section 0 (comment items, workflow parameter definitions, snapshot team
ancestors, run event users), and that the client's declarations
(lua/dx/methods.lua) say what the fake's tables say.
"""

import http.client
import json
import os
import re
import socket
import sys
import time
import unittest
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from common import serve  # noqa: E402
import dx  # noqa: E402

TOKEN = "dx-test-token"


class Http:
    """Tiny client: one connection per request, redirects never followed."""

    def __init__(self, url):
        u = urllib.parse.urlsplit(url)
        self.host, self.port = u.hostname, u.port

    def raw(self, verb, target, body=None, headers=None):
        conn = http.client.HTTPConnection(self.host, self.port, timeout=10)
        try:
            conn.request(verb, target, body=body, headers=headers or {})
            r = conn.getresponse()
            data = r.read()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, data
        finally:
            conn.close()

    def control(self, verb, path, obj=None):
        st, _, data = self.raw(verb, path, json.dumps(obj).encode() if obj is not None else None,
                               {"Content-Type": "application/json"})
        assert st == 200, (path, st, data)
        return json.loads(data)


class Api(Http):
    def __init__(self, url, prefix="/", methods=dx.METHODS):
        super().__init__(url)
        self.prefix, self.methods = prefix, methods

    def call(self, method, args=None, token=TOKEN, verb=None, form=False, query=None, headers=None):
        """(status, decoded body or None, headers) for one DX method call."""
        verb = verb or self.methods[method][0]
        target = self.prefix + method
        h = dict(headers or {})
        if token is not None:
            h["Authorization"] = "Bearer " + token
        body = None
        if verb == "GET" and args:
            target += "?" + urllib.parse.urlencode(args, doseq=True)
        elif args is not None:
            if form:
                body = urllib.parse.urlencode(args, doseq=True).encode()
                h["Content-Type"] = "application/x-www-form-urlencoded"
            else:
                body = json.dumps(args).encode()
                h["Content-Type"] = "application/json"
        if query:
            target += "?" + urllib.parse.urlencode(query)
        st, hd, data = self.raw(verb, target, body, h)
        try:
            obj = json.loads(data) if data else None
        except ValueError:
            obj = None
        return st, obj, hd

    def ok(self, method, args=None, **kw):
        st, body, hd = self.call(method, args, **kw)
        assert st in (200, 202) and body["ok"] is True, (method, st, body)
        return body


class DxTestCase(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.files_srv = serve(dx.DxFilesService())
        cls.srv = serve(dx.DxService(cls.files_srv.url))
        cls.dc_srv = serve(dx.DxDataCloudService())
        cls.api = Api(cls.srv.url)
        cls.files = Http(cls.files_srv.url)
        cls.dc = Api(cls.dc_srv.url, "/api/", dx.DxDataCloudService.METHODS)

    @classmethod
    def tearDownClass(cls):
        for s in (cls.srv, cls.files_srv, cls.dc_srv):
            s.stop()

    def setUp(self):
        for c in (self.api, self.files, self.dc):
            c.control("POST", "/_reset")

    def config(self, **kw):
        return self.api.control("POST", "/_config", kw)

    def assertError(self, result, status, code, argument=None):
        st, body, _ = result
        self.assertEqual(st, status, body)
        self.assertIs(body["ok"], False)
        self.assertEqual(body["error"], code)
        self.assertTrue(body["error_details"]["message"])
        if argument:
            self.assertEqual(body["error_details"]["argument"], argument)
        return body


class AuthTest(DxTestCase):
    def test_missing_token(self):
        self.assertError(self.api.call("teams.list", token=None), 401, "not_authed")
        self.assertError(self.api.call("teams.list", headers={"Authorization": "Bearer "}, token=None),
                         401, "not_authed")

    def test_bad_tokens(self):
        for tok in ("dx-revoked-token", "nope", "dx-expired-token"):
            self.assertError(self.api.call("teams.list", token=tok), 401, "invalid_auth")
        self.assertError(self.api.call("teams.list", token=None, headers={"Authorization": "Basic eDp5"}),
                         401, "invalid_auth")
        # a PlatformX project token only works for events.track
        self.assertError(self.api.call("teams.list", token="dx-platformx-token"), 401, "invalid_auth")

    def test_missing_scope(self):
        body = self.assertError(self.api.call("workflowRuns.trigger", {"workflow_identifier": "scripted-job"},
                                              token="dx-noscope-token"), 403, "missing_scope")
        self.assertEqual(body["needed"], "workflowRuns:trigger")
        self.assertError(self.api.call("studio.queryRuns.execute", {"sql": "SELECT 1"},
                                       token="dx-noscope-token"), 403, "missing_scope")
        self.assertError(self.api.call("snapshots.getFile", {"snapshot_id": "snap2024q3a1"},
                                       token="dx-noscope-token"), 403, "missing_scope")
        # reads still work with it
        self.api.ok("teams.list", token="dx-noscope-token")
        self.api.ok("workflows.list", token="dx-noscope-token")

    def test_tokens_via_config(self):
        self.config(tokens={"ci-token": ["snapshots:read"]})
        self.api.ok("teams.list", token="ci-token")
        self.assertError(self.api.call("users.list", token="ci-token"), 403, "missing_scope")
        self.config(tokens={TOKEN: None})   # revoke the main token
        self.assertError(self.api.call("teams.list"), 401, "invalid_auth")

    def test_auth_info(self):
        body = self.api.ok("auth.info")
        self.assertEqual(body["auth"]["token_type"], "account_web_api_token")
        self.assertNotIn("expires_at", body["auth"])
        self.assertIn("workflowRuns:trigger", body["auth"]["scopes"])
        self.assertEqual(body["account"]["name"], "Acme Corp")
        body = self.api.ok("auth.info", token="dx-personal-token")
        self.assertEqual(body["auth"]["token_type"], "personal_access_token")
        self.assertEqual(body["auth"]["expires_at"], "2099-01-01T00:00:00Z")


class ProtocolTest(DxTestCase):
    def test_unknown_method_and_wrong_verb(self):
        self.assertError(self.api.call("teams.nope", verb="GET"), 404, "unknown_method")
        st, body, hd = self.api.call("teams.list", verb="POST", args={})
        self.assertEqual((st, body["error"], hd["allow"]), (405, "method_not_allowed", "GET"))

    def test_required_and_typed_arguments(self):
        self.assertError(self.api.call("workflowRuns.info"), 400, "invalid_arguments", "id")
        self.assertError(self.api.call("studio.queryRuns.execute", {}), 400, "invalid_arguments", "sql")
        self.assertError(self.api.call("catalog.entities.list", {"limit": "ten"}), 400, "invalid_arguments", "limit")
        self.assertError(self.api.call("workflowRuns.trigger", {"workflow_identifier": "scripted-job",
                                                                "data": "not-an-object"}),
                         400, "invalid_arguments", "data")
        self.assertError(self.api.call("scorecards.list", {"include_unpublished": "maybe"}),
                         400, "invalid_arguments", "include_unpublished")
        self.assertError(self.api.call("studio.queryRuns.execute", {"sql": 42}), 422, "invalid_sql")
        self.assertError(self.api.call("teams.info"), 400, "invalid_arguments", "team_id")

    def test_invalid_json_body(self):
        st, _, data = self.api.raw("POST", "/users.update", b"{nope",
                                   {"Authorization": "Bearer " + TOKEN, "Content-Type": "application/json"})
        self.assertEqual((st, json.loads(data)["error"]), (400, "invalid_json"))

    def test_form_and_query_string_posts(self):
        body = self.api.ok("userGroups.create", {"name": "Form group", "team_id": "MTAz"}, form=True)
        gid = body["group"]["id"]
        self.assertEqual(len(body["group"]["members"]), 3)
        # the docs' curl shape: -d 'id=...'
        self.api.ok("userGroups.delete", {"id": gid}, form=True)
        self.assertError(self.api.call("userGroups.get", {"id": gid}), 404, "not_found")
        # the CLI's shape: POST with the argument in the query string, no body
        self.api.ok("scorecards.delete", query={"id": "scdraft00001"})
        self.assertError(self.api.call("scorecards.info", {"id": "scdraft00001"}), 404, "not_found")


class PaginationTest(DxTestCase):
    def walk(self, method, field, args=None, limit=2):
        items, cursors, pages = [], [], 0
        cursor = None
        while True:
            a = dict(args or {}, limit=limit)
            if cursor:
                a["cursor"] = cursor
            body = self.api.ok(method, a)
            pages += 1
            items += body[field]
            cursor = body["response_metadata"]["next_cursor"]
            if not cursor:
                return items, pages
            self.assertNotIn(cursor, cursors)
            cursors.append(cursor)

    def test_cursor_walks(self):
        items, pages = self.walk("catalog.entities.list", "entities")
        self.assertEqual((len(items), pages), (8, 4))
        self.assertEqual(len({e["identifier"] for e in items}), 8)
        self.assertEqual(len(self.walk("catalog.entityTypes.list", "entity_types")[0]), 3)
        self.assertEqual(len(self.walk("initiatives.list", "initiatives")[0]), 5)
        self.assertEqual(len(self.walk("scorecards.list", "scorecards")[0]), 2)
        self.assertEqual(len(self.walk("scorecards.list", "scorecards", {"include_unpublished": "true"})[0]), 3)
        self.assertEqual(len(self.walk("teams.auditTrail", "events", limit=3)[0]), 7)
        self.assertEqual(len(self.walk("snapshots.driverComments.list", "driver_comments",
                                       {"id": "snap2024q3a1"}, limit=3)[0]), 7)
        self.assertEqual(len(self.walk("catalog.entities.list", "entities", {"type": "service"}, limit=50)[0]), 5)

    def test_limit_cap_and_bad_cursors(self):
        self.config(extra_entities=150)
        body = self.api.ok("catalog.entities.list", {"limit": 500})
        self.assertEqual(len(body["entities"]), 100)   # clamped to the max
        self.assertError(self.api.call("catalog.entities.list", {"cursor": "garbage"}), 400, "invalid_cursor")
        other = self.api.ok("initiatives.list", {"limit": 1})["response_metadata"]["next_cursor"]
        self.assertError(self.api.call("catalog.entities.list", {"cursor": other}), 400, "invalid_cursor")
        self.assertError(self.api.call("catalog.entities.list", {"limit": 0}), 400, "invalid_arguments", "limit")

    def test_repeated_cursor_switch(self):
        self.config(repeat_cursor="catalog.entities.list")
        first = self.api.ok("catalog.entities.list", {"limit": 2})["response_metadata"]["next_cursor"]
        self.assertTrue(first)
        again = self.api.ok("catalog.entities.list", {"limit": 2, "cursor": first})
        self.assertEqual(again["response_metadata"]["next_cursor"], first)
        # other listings are unaffected
        self.assertEqual(len(self.walk("initiatives.list", "initiatives")[0]), 5)

    def test_users_page_walk(self):
        seen, page = [], 1
        while page:
            body = self.api.ok("users.list", {"page": page, "page_size": 4})
            self.assertEqual((body["total"], body["total_pages"]), (11, 3))
            seen += body["users"]
            page = body["next_page"]
        self.assertEqual(len(seen), 11)
        self.assertNotIn("mallory@example.com", [u["email"] for u in seen])
        self.config(extra_users=250)
        body = self.api.ok("users.list", {"page_size": 500})
        self.assertEqual((len(body["users"]), body["total_pages"], body["next_page"]), (100, 3, 2))


class QueryTest(DxTestCase):
    def execute(self, sql, variables=None):
        args = {"sql": sql}
        if variables is not None:
            args["variables"] = variables
        st, body, hd = self.api.call("studio.queryRuns.execute", args)
        self.assertEqual(st, 202, body)
        qr = body["query_run"]
        self.assertEqual((qr["status"], qr["finished_at"]), ("queued", None))
        self.assertEqual(hd["location"], "/studio.queryRuns.info?id=" + qr["id"])
        self.assertEqual(hd["retry-after"], "1")
        self.assertEqual(qr["results_url"], "/studio.queryRuns.results?id=" + qr["id"])
        return qr["id"]

    def info(self, qid):
        st, body, hd = self.api.call("studio.queryRuns.info", {"id": qid})
        self.assertEqual(st, 200, body)
        return body["query_run"], hd

    def test_execute_poll_results(self):
        qid = self.execute("SELECT 1 AS n, 'x' AS s, $v AS v", {"v": 7})
        run, hd = self.info(qid)
        self.assertEqual((run["status"], hd.get("retry-after")), ("queued", "1"))
        result = self.api.call("studio.queryRuns.results", {"id": qid})   # polls count here too
        self.assertError(result, 409, "execution_not_complete")
        self.assertEqual(result[2]["retry-after"], "1")
        run, hd = self.info(qid)
        self.assertEqual(run["status"], "succeeded")
        self.assertNotIn("retry-after", hd)
        self.assertTrue(run["finished_at"] and run["expires_at"] > run["finished_at"])
        res = self.api.ok("studio.queryRuns.results", {"id": qid})["results"]
        self.assertEqual(res, {"columns": ["n", "s", "v"], "rows": [[1, "x", 7]]})

    def test_polls_configurable_and_row_cap(self):
        self.config(query_polls=0, query_retry_after=0)
        st, _, hd = self.api.call("studio.queryRuns.execute", {"sql": "SELECT * FROM deploys LIMIT 1500"})
        self.assertEqual(hd["retry-after"], "0")
        qid = json.loads(self.api.raw("GET", hd["location"], headers={"Authorization": "Bearer " + TOKEN})[2])
        self.assertEqual(qid["query_run"]["status"], "succeeded")
        res = self.api.ok("studio.queryRuns.results", {"id": qid["query_run"]["id"]})["results"]
        self.assertEqual((res["columns"], len(res["rows"])), (["id", "name", "value"], 1000))

    def test_csv_via_303_without_authorization(self):
        self.config(query_polls=0)
        qid = self.execute("SELECT * FROM deploys LIMIT 2")
        st, body, hd = self.api.call("studio.queryRuns.results", {"id": qid, "format": "csv"})
        self.assertEqual(st, 303, body)
        loc = urllib.parse.urlsplit(hd["location"])
        self.assertEqual(loc.port, self.files_srv.server_port)
        target = loc.path + "?" + loc.query
        st, fh, data = self.files.raw("GET", target, headers={"Accept": "*/*", "User-Agent": "t"})
        self.assertEqual((st, fh["content-type"]), (200, "text/csv"))
        self.assertEqual(data, b"id,name,value\r\n1,row 1,10\r\n2,row 2,20\r\n")
        recs = self.files.control("GET", "/_requests")
        self.assertEqual(len(recs), 1)
        self.assertNotIn("authorization", recs[0]["headers"])
        # sending the bearer token to the file host is refused, S3-style
        st, _, data = self.files.raw("GET", target, headers={"Authorization": "Bearer " + TOKEN})
        self.assertEqual(st, 400)
        self.assertIn(b"InvalidArgument", data)

    def test_expired_results(self):
        self.config(query_polls=0)
        qid = self.execute("SELECT 1 AS expire_me")
        self.assertEqual(self.info(qid)[0]["status"], "succeeded")
        self.assertError(self.api.call("studio.queryRuns.results", {"id": qid}), 410, "expired")
        self.assertEqual(self.info(qid)[0]["status"], "expired")
        # by the switch, and by moving the clock past the 30-day retention
        qid = self.execute("SELECT 2")
        self.info(qid)
        self.config(clock_offset=31 * 86400)
        self.assertError(self.api.call("studio.queryRuns.results", {"id": qid}), 410, "expired")
        self.config(clock_offset=0, expire_runs=True)
        qid = self.execute("SELECT 3")
        self.assertEqual(self.info(qid)[0]["status"], "succeeded")
        self.assertEqual(self.info(qid)[0]["status"], "expired")

    def test_refused_sql(self):
        for sql, code in [("DELETE FROM users", "invalid_sql"), ("SELECT 1; SELECT 2", "invalid_sql"),
                          ("SELECT syntax error", "invalid_sql"), ("SELECT * FROM unknown_table", "invalid_sql"),
                          ("SELECT $missing", "invalid_variables")]:
            self.assertError(self.api.call("studio.queryRuns.execute", {"sql": sql}), 422, code)

    def test_failed_run(self):
        self.config(query_polls=1)
        qid = self.execute("SELECT fail()")
        self.assertEqual(self.info(qid)[0]["status"], "queued")
        run = self.info(qid)[0]
        self.assertEqual(run["status"], "failed")
        self.assertEqual(run["error"]["code"], "sql_error")
        self.assertError(self.api.call("studio.queryRuns.results", {"id": qid}), 422, "sql_error")

    def test_running_status_and_per_run_poll_limit(self):
        self.config(query_polls=20)
        qid = self.execute("SELECT 1")
        statuses = [self.info(qid)[0]["status"] for _ in range(10)]
        self.assertEqual(statuses[:2], ["queued", "running"])
        st, body, hd = self.api.call("studio.queryRuns.info", {"id": qid})
        self.assertEqual((st, body["error"]), (429, "rate_limited"))
        self.assertTrue(int(hd["retry-after"]) >= 1)
        self.assertError(self.api.call("studio.queryRuns.info", {"id": "nosuchrun001"}), 404, "not_found")

    def test_time_based_completion(self):
        self.config(query_seconds=0.3)
        qid = self.execute("SELECT 1")
        self.assertEqual(self.info(qid)[0]["status"], "queued")
        time.sleep(0.35)
        self.assertEqual(self.info(qid)[0]["status"], "succeeded")


class WorkflowTest(DxTestCase):
    def trigger(self, args, token=TOKEN):
        return self.api.ok("workflowRuns.trigger", args, token=token)["workflow_run"]["id"]

    def poll(self, rid, n=10):
        statuses = []
        for _ in range(n):
            run = self.api.ok("workflowRuns.info", {"id": rid})["workflow_run"]
            statuses.append(run["status"])
            if run["status"] in dx.TERMINAL:
                break
        return run, statuses

    def test_simple_run_succeeds(self):
        rid = self.trigger({"workflow_identifier": "deploy-service", "entity_identifier": "payments-api",
                            "data": {"version": "1.2.3"}})
        self.assertEqual(len(rid), 12)
        run, statuses = self.poll(rid)
        self.assertEqual(statuses, ["PENDING_RUN", "IN_PROGRESS", "SUCCEEDED"])
        self.assertEqual(run["data"], {"version": "1.2.3", "environment": "staging", "dry_run": False})
        self.assertEqual(run["entity"], {"identifier": "payments-api", "name": "Payments API"})
        self.assertEqual(run["workflow"]["scope"], "ENTITY")
        self.assertTrue(run["completed_at"])
        types = [e["type"] for e in run["events"]]
        self.assertEqual(types, ["WORKFLOW_TRIGGERED", "HTTP_REQUEST_COMPLETED", "WORKFLOW_SUCCEEDED"])
        http_ev = run["events"][1]["data"]
        self.assertEqual((http_ev["request"]["method"], http_ev["response"]["status"]), ("POST", 200))
        # events keep their ids across polls (clients de-duplicate on them)
        again = self.api.ok("workflowRuns.info", {"id": rid})["workflow_run"]
        self.assertEqual([e["id"] for e in again["events"]], [e["id"] for e in run["events"]])

    def test_alternate_argument_spellings(self):
        rid = self.trigger({"workflow_run_identifier": "deploy-service", "entity-identifier": "search-api",
                            "data": {"version": "2"}})
        self.assertEqual(self.poll(rid)[0]["entity"]["identifier"], "search-api")

    def test_scripted_outcomes(self):
        for outcome, last in [("FAILED", "WORKFLOW_FAILED"), ("TIMEOUT", "WORKFLOW_TIMEOUT"),
                              ("CANCELLED", "WORKFLOW_CANCELLED"), ("REJECTED", "REJECTION_PERFORMED")]:
            rid = self.trigger({"workflow_identifier": "scripted-job", "data": {"outcome": outcome}})
            run, _ = self.poll(rid)
            self.assertEqual((run["status"], run["events"][-1]["type"]), (outcome, last))
        self.config(workflow_outcome="FAILED", workflow_polls=0)
        run, statuses = self.poll(self.trigger({"workflow_identifier": "rotate-secrets"}))
        self.assertEqual(statuses, ["FAILED"])

    def test_approval_flow(self):
        self.config(workflow_polls=3)
        rid = self.trigger({"workflow_identifier": "provision-db", "data": {"team": 103}})
        run, statuses = self.poll(rid)
        self.assertEqual(statuses, ["PENDING_RUN", "WAITING_FOR_APPROVAL", "IN_PROGRESS", "SUCCEEDED"])
        self.assertEqual([e["type"] for e in run["events"]][:4],
                         ["WORKFLOW_TRIGGERED", "WORKFLOW_RUN_REQUESTED", "APPROVERS_NOTIFIED", "APPROVAL_PERFORMED"])

    def test_event_driven_run_with_messages_links_and_status(self):
        rid = self.trigger({"workflow_identifier": "manual-migration", "data": {"ticket": "OPS-1"}},
                           token="dx-personal-token")
        run, statuses = self.poll(rid, n=4)
        self.assertEqual(statuses[-1], "WAITING_FOR_EVENTS")
        self.assertEqual(run["events"][0]["user"], {"name": "Alice Anders", "email": "alice@example.com"})
        ev = self.api.ok("workflowRuns.postMessage", {"workflow_run_id": rid, "message": "step 1 done"})["event"]
        self.assertEqual((ev["type"], ev["message"], ev["data"], ev["workflow_run_id"]),
                         ("POST_MESSAGE", "step 1 done", {}, rid))
        ev = self.api.ok("workflowRuns.addLink", {"workflow_run_id": rid,
                                                  "link": {"url": "https://ci.example.com/1", "label": "CI"}})["event"]
        self.assertEqual(ev["data"]["link"], {"url": "https://ci.example.com/1", "label": "CI"})
        run = self.api.ok("workflowRuns.info", {"id": rid})["workflow_run"]
        self.assertEqual((run["status"], run["completed_at"]), ("WAITING_FOR_EVENTS", None))
        self.assertEqual(run["links"][0]["url"], "https://ci.example.com/1")
        ev = self.api.ok("workflowRuns.changeStatus", {"workflow_run_id": rid, "status": "SUCCEEDED"})["event"]
        self.assertEqual((ev["type"], ev["message"], ev["data"]), ("CHANGE_STATUS", None, {"status": "SUCCEEDED"}))
        run = self.api.ok("workflowRuns.info", {"id": rid})["workflow_run"]
        self.assertEqual(run["status"], "SUCCEEDED")
        self.assertTrue(run["completed_at"])
        self.assertIn("POST_MESSAGE", [e["type"] for e in run["events"]])
        # already finished: refused
        self.assertError(self.api.call("workflowRuns.changeStatus", {"workflow_run_id": rid, "status": "FAILED"}),
                         409, "conflict")

    def test_negative_cases(self):
        self.assertError(self.api.call("workflowRuns.info", {"id": "nosuchrun001"}), 404, "not_found")
        self.assertError(self.api.call("workflowRuns.trigger", {"workflow_identifier": "nope"}), 404, "not_found")
        self.assertError(self.api.call("workflowRuns.trigger", {}), 400, "invalid_arguments", "workflow_identifier")
        self.assertError(self.api.call("workflowRuns.trigger", {"workflow_identifier": "deploy-service",
                                                                "data": {"version": "1"}}),
                         400, "invalid_arguments", "entity_identifier")
        self.assertError(self.api.call("workflowRuns.trigger", {"workflow_identifier": "deploy-service",
                                                                "entity_identifier": "http-client",
                                                                "data": {"version": "1"}}), 422, "invalid_payload")
        self.assertError(self.api.call("workflowRuns.trigger", {"workflow_identifier": "deploy-service",
                                                                "entity_identifier": "payments-api"}),
                         422, "invalid_payload")
        # TEAM parameters take the numeric id, not the API's "MTAz"
        self.assertError(self.api.call("workflowRuns.trigger", {"workflow_identifier": "provision-db",
                                                                "data": {"team": "MTAz"}}), 422, "invalid_payload")
        rid = self.trigger({"workflow_identifier": "manual-migration", "data": {"ticket": "x"}})
        self.assertError(self.api.call("workflowRuns.changeStatus", {"workflow_run_id": rid, "status": "DONE"}),
                         400, "invalid_arguments", "status")
        self.assertError(self.api.call("workflowRuns.changeStatus", {"workflow_run_id": rid, "status": "FAILED"},
                                       token="dx-noscope-token"), 403, "missing_scope")
        self.assertError(self.api.call("workflowRuns.addLink", {"workflow_run_id": rid, "link": {"label": "x"}}),
                         400, "invalid_arguments", "link")

    def test_workflow_definitions(self):
        wfs = self.api.ok("workflows.list")["workflows"]
        self.assertEqual(len(wfs), 5)
        self.assertEqual({w["identifier"] for w in self.api.ok("workflows.list", {"entity_identifier": "payments-api"})
                          ["workflows"]}, {"deploy-service"})
        self.assertEqual(len(self.api.ok("workflows.list", {"scope": "GLOBAL"})["workflows"]), 4)
        p = wfs[0]["parameters"][0]
        self.assertEqual(set(p), {"identifier", "name", "description", "default_value", "is_required", "type",
                                  "definition"})
        args = {"identifier": "new-wf", "name": "New", "scope": "GLOBAL", "execution_type": "SIMPLE",
                "entity_filter_type": "ENTITY_TYPES", "http_request": {"method": "POST", "url": "https://h.example/x"},
                "parameters": [{"identifier": "n", "type": "INTEGER", "is_required": True}]}
        self.assertEqual(self.api.ok("workflows.create", args)["workflow"]["identifier"], "new-wf")
        self.assertError(self.api.call("workflows.create", args), 409, "conflict")
        self.assertError(self.api.call("workflowRuns.trigger", {"workflow_identifier": "new-wf"}),
                         422, "invalid_payload")
        self.trigger({"workflow_identifier": "new-wf", "data": {"n": 3}})

    def test_calls_out_with_the_rendered_template(self):
        import http.server
        import threading
        got = []

        class Endpoint(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                got.append((self.path, dict(self.headers), json.loads(self.rfile.read(n))))
                self.send_response(500 if "fail" in self.path else 202)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *a):
                pass

        srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Endpoint)
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        self.addCleanup(srv.server_close)
        self.addCleanup(srv.shutdown)
        base = "http://127.0.0.1:%d" % srv.server_address[1]
        body = {"run": "{{run.id}}", "wf": "{{workflow.identifier}}", "entity": "{{entity.identifier}}",
                "n": "{{data.n}}", "text": "n={{data.n}} on {{workflow.identifier}}", "list": ["{{data.missing}}"]}
        for ident, path in (("calls-out", "/ok"), ("calls-out-fail", "/fail")):
            args = {"identifier": ident, "name": "Out", "scope": "GLOBAL", "execution_type": "EVENT_DRIVEN",
                    "entity_filter_type": "ENTITY_TYPES",
                    "http_request": {"method": "POST", "url": base + path, "body": body,
                                     "headers": {"X-Run": "{{run.id}}"}},
                    "parameters": [{"identifier": "n", "type": "INTEGER"}]}
            self.api.ok("workflows.create", args)
        bad = dict(args, identifier="bad-template",
                   http_request={"url": base, "body": {"x": "{{run.nope}}"}})
        self.assertError(self.api.call("workflows.create", bad), 400, "invalid_arguments", "http_request")

        def settle(rid):
            for _ in range(100):
                run = self.api.ok("workflowRuns.info", {"id": rid})["workflow_run"]
                if run["status"] != "IN_PROGRESS":
                    return run
                time.sleep(0.05)
            self.fail("the run never left IN_PROGRESS")

        rid = self.trigger({"workflow_identifier": "calls-out", "data": {"n": 7}})
        run = settle(rid)
        self.assertEqual(run["status"], "WAITING_FOR_EVENTS")
        path, headers, sent = got[0]
        self.assertEqual(path, "/ok")
        self.assertEqual(headers["X-Run"], rid)
        self.assertEqual(headers["Content-Type"], "application/json")
        self.assertEqual(sent, {"run": rid, "wf": "calls-out", "entity": None, "n": 7,
                                "text": "n=7 on calls-out", "list": [None]})
        ev = [e for e in run["events"] if e["type"] == "HTTP_REQUEST_COMPLETED"][0]
        self.assertEqual(ev["data"], {"request": {"method": "POST", "url": base + "/ok"}, "response": {"status": 202}})
        self.api.ok("workflowRuns.changeStatus", {"workflow_run_id": rid, "status": "SUCCEEDED"})
        self.assertEqual(self.api.ok("workflowRuns.info", {"id": rid})["workflow_run"]["status"], "SUCCEEDED")
        run = settle(self.trigger({"workflow_identifier": "calls-out-fail", "data": {"n": 1}}))
        self.assertEqual(run["status"], "FAILED")
        ev = [e for e in run["events"] if e["type"] == "HTTP_REQUEST_COMPLETED"][0]
        self.assertEqual(ev["data"]["response"], {"status": 500})
        # nobody listening: the request fails without a status, and so does the run
        closed = socket.socket()
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
        closed.close()
        self.api.ok("workflows.create", dict(args, identifier="calls-nobody",
                                             http_request={"url": "http://127.0.0.1:%d/x" % port, "body": {}}))
        run = settle(self.trigger({"workflow_identifier": "calls-nobody"}))
        self.assertEqual(run["status"], "FAILED")
        ev = [e for e in run["events"] if e["type"] == "HTTP_REQUEST_COMPLETED"][0]
        self.assertEqual(ev["data"]["response"], {"status": None})


class SnapshotTest(DxTestCase):
    def test_list_info_scores(self):
        snaps = self.api.ok("snapshots.list", {"ordering": "-completed_at"})["snapshots"]
        self.assertEqual([s["id"] for s in snaps], ["snap2024q4b2", "snap2024q3a1", "snap2025q1c3"])
        self.assertEqual(set(snaps[0]), {"id", "account_id", "last_result_change_at", "scheduled_for",
                                         "completed_at", "completed_count", "deleted_at", "total_count"})
        scores = self.api.ok("snapshots.info", {"snapshot_id": "snap2024q4b2"})["snapshot"]["team_scores"]
        names = {s["snapshot_team"]["name"] for s in scores}
        self.assertEqual(names, {"Engineering", "Platform", "Payments", "Data"})   # Infrastructure < 3 people
        self.assertIsNotNone(scores[0]["vs_prev"])
        self.assertError(self.api.call("snapshots.info", {"snapshot_id": "nope"}), 404, "not_found")
        self.assertEqual(len(self.api.ok("snapshots.csatComments.list", {"id": "snap2024q3a1"})["csat_comments"]), 4)
        dxi = self.api.ok("snapshots.dxiScores", {"snapshot_id": "snap2024q3a1", "team_ids": "MTAy,MTAz"})
        self.assertEqual(len(dxi["dxi_score"]["drivers"]), 4)
        self.assertError(self.api.call("snapshots.dxiScores", {"snapshot_id": "snap2024q3a1",
                                                               "branch_ids": "brmobile0001"}),
                         400, "invalid_arguments", "branch_ids")
        rows = self.api.ok("snapshots.dxiScores.breakdown", {"snapshot_id": "snap2024q3a1",
                                                             "dimension_type": "snapshotTeam"})["breakdown"]
        self.assertEqual(len(rows), 5)
        parent = rows[0]["id"]
        rows = self.api.ok("snapshots.dxiScores.breakdown", {"snapshot_id": "snap2024q3a1",
                                                             "dimension_type": "snapshotTeam",
                                                             "parent_snapshot_team_id": parent})["breakdown"]
        self.assertEqual(len(rows), 3)
        self.assertError(self.api.call("snapshots.dxiScores.breakdown", {"snapshot_id": "snap2024q3a1",
                                                                         "dimension_type": "attribute"}),
                         400, "invalid_arguments", "attribute_group_id")
        rows = self.api.ok("snapshots.driverScores.breakdown", {"snapshot_id": "snap2024q3a1",
                                                                "driver_id": "drvdeepwork1",
                                                                "dimension_type": "attribute",
                                                                "attribute_group_id": "agloc0000001"})["breakdown"]
        self.assertEqual([r["name"] for r in rows], ["Berlin", "New York"])
        self.assertEqual(len(self.api.ok("snapshots.driverScores", {"snapshot_id": "snap2024q3a1"})
                             ["driver_scores"]), 4)
        self.assertError(self.api.call("snapshots.dxiScores", {"snapshot_id": "snap2025q1c3"}),
                         400, "snapshot_not_completed")

    def test_get_file_303(self):
        st, body, hd = self.api.call("snapshots.getFile", {"snapshot_id": "snap2024q3a1"})
        self.assertEqual(st, 303, body)
        loc = urllib.parse.urlsplit(hd["location"])
        self.assertEqual(loc.port, self.files_srv.server_port)
        target = loc.path + "?" + loc.query
        st, fh, data = self.files.raw("GET", target, headers={"Accept": "*/*"})
        self.assertEqual((st, fh["content-type"]), (200, dx.D.XLSX_TYPE))
        self.assertTrue(data.startswith(b"PK\x03\x04"))
        self.assertIn("attachment", fh["content-disposition"])
        self.assertFalse(any("authorization" in r["headers"] for r in self.files.control("GET", "/_requests")))
        # the presigned URL: signature, token and expiry are checked
        st, _, data = self.files.raw("GET", loc.path)
        self.assertEqual(st, 403)
        self.assertEqual(self.files.raw("GET", "/files/made.up?X-Amz-Signature=x")[0], 404)
        self.files.control("POST", "/_config", {"clock_offset": 3600})
        st, _, data = self.files.raw("GET", target)
        self.assertEqual(st, 403)
        self.assertIn(b"Request has expired", data)
        # an open snapshot cannot be exported
        self.assertError(self.api.call("snapshots.getFile", {"snapshot_id": "snap2025q1c3"}),
                         400, "snapshot_not_completed")
        self.config(snapshot_file_inline=True)
        st, _, hd = self.api.call("snapshots.getFile", {"snapshot_id": "snap2024q3a1"})
        self.assertEqual((st, hd["content-type"]), (200, dx.D.XLSX_TYPE))


class DirectoryTest(DxTestCase):
    def test_teams(self):
        teams = self.api.ok("teams.list")["teams"]
        infra = [t for t in teams if t["name"] == "Infrastructure"][0]
        self.assertEqual(infra["ancestors"], ["LTE", "MTAx", "MTAy", "MTA1"])
        self.assertEqual(infra["contributors"], 1)
        team = self.api.ok("teams.info", {"reference_id": "ENG-PAY"})["team"]
        self.assertEqual((team["id"], len(team["contributors"]), team["lead"]["email"]),
                         ("MTAz", 3, "frank@example.com"))
        self.assertError(self.api.call("teams.info", {"team_id": "nope"}), 404, "not_found")
        found = self.api.ok("teams.findByMembers", {"team_emails": "erin@example.com,grace@example.com"})["team"]
        self.assertEqual(found["name"], "Payments")
        self.assertError(self.api.call("teams.findByMembers", {"team_emails": "x@nowhere.test"}),
                         400, "no_users_found")

    def test_users(self):
        self.assertEqual(self.api.ok("users.findByGithubUsername", {"github_username": "BOBB"})["user"]["email"],
                         "bob@example.com")
        self.assertEqual(self.api.ok("users.findByGitlabUsername", {"gitlab_username": "dave-gl"})["user"]["name"],
                         "Dave Diaz")
        self.assertError(self.api.call("users.findByGitlabUsername", {"gitlab_username": "zz"}), 404, "not_found")
        body = self.api.ok("users.update", {"email": "carol@example.com", "start_date": "2024-01-02",
                                            "github_username": "carol-new"})
        self.assertEqual(body["user"], {"email": "carol@example.com", "start_date": "2024-01-02",
                                        "github_username": "carol-new", "gitlab_username": "carol"})
        self.assertError(self.api.call("users.update", {"email": "carol@example.com", "start_date": "2/1/24"}),
                         400, "invalid_arguments", "start_date")
        self.config(string_ok_quirk=True)
        self.assertEqual(self.api.call("users.update", {"email": "bob@example.com"})[1]["ok"], "true")

    def test_user_groups(self):
        g = self.api.ok("userGroups.create", {"name": "Reviewers", "owner_email": "alice@example.com",
                                              "members": ["alice@example.com", "bob@example.com"]})["group"]
        self.assertEqual((g["owner_email"], len(g["members"])), ("alice@example.com", 2))
        self.assertError(self.api.call("userGroups.create", {"name": "x"}), 400, "invalid_arguments")
        self.assertError(self.api.call("userGroups.create", {"name": "x", "owner_email": "a@b.c",
                                                             "members": ["a@b.c"]}), 422, "not_found")
        g = self.api.ok("userGroups.update", {"id": g["id"], "members": ["carol@example.com"]})["group"]
        self.assertEqual([m["email"] for m in g["members"]], ["carol@example.com"])
        self.assertEqual(len(self.api.ok("userGroups.list")["groups"]), 2)
        self.api.ok("userGroups.delete", {"id": g["id"]})
        self.assertError(self.api.call("userGroups.delete", {"id": g["id"]}), 404, "not_found")

    def test_initiatives(self):
        body = self.api.ok("initiatives.list", {"published": "true", "tags": "security"})
        self.assertEqual([i["id"] for i in body["initiatives"]], ["initsecrets1", "initdeps0001"])
        i = self.api.ok("initiatives.info", {"id": "initrunbooks"})["initiative"]
        self.assertEqual((i["scorecard_name"], i["priority"], i["owner"]["email"]),
                         ("Production readiness", 0, "alice@example.com"))
        self.assertEqual(i["total_checks"], 15)
        self.assertError(self.api.call("initiatives.list", {"priority": 9}), 400, "invalid_arguments", "priority")

    def test_org_files(self):
        teams = [{"reference_id": "ENG", "name": "Engineering", "team_lead_email": "alice@example.com",
                  "contributors": ["alice@example.com"]},
                 {"reference_id": "ENG-NEW", "name": "New team", "parent_team_reference_id": "ENG",
                  "parent_team_name": "Engineering", "contributors": ["bob@example.com", "ghost@example.com"]}]
        self.assertIn("https://", self.api.ok("orgfiles.teamHierarchy.preview", {"teams": teams})["preview_url"])
        imp = self.api.ok("orgfiles.teamHierarchy.process", {"teams": teams})["import"]
        self.assertEqual(imp["summary"], {"created": 1, "updated": 1, "archived": 4, "ignored_contributors": 1})
        self.assertEqual(self.api.ok("orgfiles.teamHierarchy.get", {"id": imp["id"]})["import"]["status"],
                         "completed")
        names = [t["name"] for t in self.api.ok("teams.list")["teams"]]
        self.assertEqual(names, ["Engineering", "New team"])
        self.api.ok("orgfiles.teamHierarchy.update", {"teams": [{"reference_id": "ENG-X", "name": "X",
                                                                 "parent_team_reference_id": "ENG-NEW",
                                                                 "parent_team_name": "New team"}]})
        self.assertEqual(len(self.api.ok("teams.list")["teams"]), 3)
        self.assertError(self.api.call("orgfiles.teamHierarchy.update",
                                       {"teams": [{"reference_id": "A", "name": "A",
                                                   "parent_team_reference_id": "B"}]}), 422, "invalid_payload")
        self.config(snapshot_live=True)
        self.assertError(self.api.call("orgfiles.teamHierarchy.process", {"teams": teams}),
                         409, "snapshot_in_progress")
        self.api.ok("orgfiles.teamHierarchy.update", {"teams": teams, "force": True})


class CatalogTest(DxTestCase):
    def test_entities(self):
        body = self.api.ok("catalog.entities.list", {"search_term": "payments"})
        self.assertEqual({e["identifier"] for e in body["entities"]},
                         {"checkout-web", "ledger-worker", "payments-api", "money-lib"})   # team "Payments"
        e = self.api.ok("catalog.entities.info", {"identifier": "payments-api"})["entity"]
        self.assertEqual(e["owner_teams"], [{"id": "MTAz", "name": "Payments"}])
        self.assertError(self.api.call("catalog.entities.info", {"identifier": "nope"}), 404, "not_found")
        args = {"identifier": "billing-api", "type": "service", "name": "Billing",
                "properties": {"tier": "tier-2"}, "owner_team_ids": ["MTAz"]}
        self.assertEqual(self.api.ok("catalog.entities.upsert", args)["result"], "created_new_entity")
        self.assertEqual(self.api.ok("catalog.entities.upsert", args)["result"], "updated_existing_entity")
        self.assertError(self.api.call("catalog.entities.create", args), 409, "conflict")
        self.assertError(self.api.call("catalog.entities.create", {"identifier": "x1", "type": "robot"}),
                         422, "not_found")
        self.assertError(self.api.call("catalog.entities.update", {"identifier": "billing-api",
                                                                   "properties": {"tier": "gold"}}),
                         422, "invalid_payload")
        e = self.api.ok("catalog.entities.update", {"identifier": "billing-api", "description": "d",
                                                    "relations": {"service-uses-library": ["money-lib"]}})["entity"]
        self.assertEqual(e["description"], "d")
        # the CLI deletes with the identifier in the query string
        self.api.ok("catalog.entities.delete", query={"identifier": "billing-api"})
        self.assertError(self.api.call("catalog.entities.info", {"identifier": "billing-api"}), 404, "not_found")

    def test_scorecards_and_tasks_of_entity(self):
        reps = self.api.ok("catalog.entities.scorecards", {"identifier": "payments-api"})["scorecards"]
        self.assertEqual({r["id"] for r in reps}, {"scprodready1", "scsecurity01"})
        self.assertIn(reps[0]["checks"][0]["status"], ("PASS", "FAIL"))
        tasks = self.api.ok("catalog.entities.tasks", {"identifier": "payments-api"})
        self.assertIn("response_metadata", tasks)
        for t in tasks["tasks"]:
            self.assertEqual(set(t), {"check", "entity_check_issue", "initiative", "owner"})

    def test_entity_types(self):
        et = self.api.ok("catalog.entityTypes.create", {"identifier": "queue", "name": "Queue", "properties": [
            {"identifier": "broker", "name": "Broker", "type": "select",
             "definition": {"options": [{"value": "kafka"}]}}]})["entity_type"]
        self.assertEqual(et["properties"][0]["visibility"], "visible")
        self.assertError(self.api.call("catalog.entityTypes.create", {"identifier": "queue", "name": "Q"}),
                         409, "conflict")
        self.assertEqual(self.api.ok("catalog.entityTypes.update", {"identifier": "queue", "name": "Queues"})
                         ["entity_type"]["name"], "Queues")
        self.assertEqual(self.api.ok("catalog.entityTypes.info", {"identifier": "queue"})["entity_type"]["name"],
                         "Queues")
        self.assertError(self.api.call("catalog.entityTypes.delete", {"identifier": "service"}), 409, "conflict")
        self.api.ok("catalog.entityTypes.delete", query={"identifier": "queue"})

    def test_relations_and_edges(self):
        rel = {"identifier": "svc-consumes-svc", "source_entity_type_identifier": "service",
               "target_entity_type_identifier": "service", "type": "consumes", "cardinality": "many_to_one"}
        self.assertEqual(self.api.ok("catalog.relations.create", rel)["relation"]["type"], "consumes")
        self.assertError(self.api.call("catalog.relations.create", rel), 409, "conflict")
        self.assertEqual(self.api.ok("catalog.relations.create", dict(rel, identifier="r2", type="depends_on"))
                         ["relation"]["type"], "depends on")
        self.assertError(self.api.call("catalog.relations.create", dict(rel, identifier="r3", type="likes")),
                         400, "invalid_arguments", "type")
        edge = {"relation_identifier": "svc-consumes-svc", "source_entity_identifier": "checkout-web",
                "target_entity_identifier": "payments-api"}
        self.api.ok("catalog.relationEdges.add", edge)
        self.assertError(self.api.call("catalog.relationEdges.add", dict(edge, target_entity_identifier="search-api")),
                         422, "invalid_cardinality")
        self.assertError(self.api.call("catalog.relationEdges.add", dict(edge, source_entity_identifier="money-lib")),
                         422, "invalid_entity_type")
        self.api.ok("catalog.relationEdges.remove", edge)
        self.assertError(self.api.call("catalog.relationEdges.remove", edge), 404, "edge_not_found")
        many = {"relation_identifier": "service-uses-library",
                "edges": {"payments-api": ["lib-%d" % i for i in range(101)]}}
        self.assertError(self.api.call("catalog.relationEdges.bulkUpsert", many), 422, "too_many_edges")
        self.api.ok("catalog.relationEdges.bulkUpsert", {"relation_identifier": "service-uses-library",
                                                         "edges": {"search-api": ["http-client", "money-lib"]}})
        self.assertEqual(len(self.api.ok("catalog.relations.list")["relations"]), 4)
        self.assertEqual(self.api.ok("catalog.relations.info", {"identifier": "r2"})["relation"]["cardinality"],
                         "many_to_one")


class ScorecardTest(DxTestCase):
    def test_crud(self):
        base = {"name": "Docs", "type": "LEVEL", "entity_filter_type": "entity_types",
                "entity_filter_type_identifiers": ["service"], "empty_level_label": "None",
                "empty_level_color": "#cccccc", "levels": [{"key": "l1", "name": "Basic", "color": "#00ff00",
                                                            "rank": 1}],
                "checks": [{"name": "Has README", "sql": "SELECT 'PASS' AS status", "scorecard_level_key": "l1"}]}
        sc = self.api.ok("scorecards.create", base)["scorecard"]
        self.assertEqual(len(sc["id"]), 12)
        self.assertEqual(sc["checks"][0]["level"]["name"], "Basic")
        self.assertError(self.api.call("scorecards.create", dict(base, levels=[])), 400, "invalid_arguments", "levels")
        self.assertError(self.api.call("scorecards.create", dict(base, type="POINTS")), 400, "invalid_arguments",
                         "check_groups")
        self.assertError(self.api.call("scorecards.create", dict(base, entity_filter_type="sql")),
                         400, "invalid_arguments", "entity_filter_sql")
        self.assertEqual(self.api.ok("scorecards.update", {"id": sc["id"], "published": True})["scorecard"]
                         ["published"], True)
        self.assertEqual(self.api.ok("scorecards.info", {"id": sc["id"]})["scorecard"]["name"], "Docs")
        self.api.ok("scorecards.delete", {"id": sc["id"]})
        self.assertError(self.api.call("scorecards.delete", {"id": sc["id"]}), 404, "not_found")


class FeedsAndEventsTest(DxTestCase):
    def test_datafeed(self):
        data = self.api.ok("queries.datafeed", {"feed_token": "feed-deploys-7d", "var-repo_name": "acme/search-api",
                                                "columns": "repo_name,success"})["data"]
        self.assertEqual(data["columns"], ["repo_name", "success"])
        self.assertEqual(data["rows"], [["acme/search-api", "true"], ["acme/search-api", "true"]])
        self.assertEqual(len(self.api.ok("queries.datafeed", {"feed_token": "feed-big-1500"})["data"]["rows"]), 1000)
        self.assertError(self.api.call("queries.datafeed", {"feed_token": "nope"}), 404, "not_found")

    def test_events_track(self):
        ev = {"name": "action-executed", "timestamp": "1680723287", "email": "alice@example.com",
              "metadata": {"k": "v"}}
        self.api.ok("events.track", ev, token="dx-platformx-token")
        self.api.ok("events.track", dict(ev, timestamp=1680723288))
        self.assertError(self.api.call("events.track", {"name": "x", "timestamp": "1680723287"}),
                         400, "invalid_arguments", "email")
        self.assertError(self.api.call("events.track", dict(ev, metadata={"k": "v" * 2000})),
                         400, "invalid_arguments", "metadata")
        self.config(strict_project_token=True)
        self.assertError(self.api.call("events.track", ev), 401, "invalid_auth")
        state = json.loads(self.api.raw("GET", "/_state")[2])
        self.assertEqual(len(state["tracked_events"]), 2)


class RateLimitAndFaultTest(DxTestCase):
    def test_rate_limit(self):
        self.config(limit=5, window=1)
        for _ in range(5):
            self.api.ok("teams.list")
        st, body, hd = self.api.call("teams.list")
        self.assertEqual((st, body["error"]), (429, "rate_limited"))
        self.assertEqual(hd["retry-after"], "1")
        # per token: another token still has its own budget; 429s are not counted
        self.api.ok("teams.list", token="dx-personal-token")
        time.sleep(1.05)
        self.api.ok("teams.list")
        self.config(rate_limit_key="account")
        self.api.ok("teams.list", token="dx-personal-token")

    def test_rate_limit_default_and_reset(self):
        self.assertEqual(self.api.control("GET", "/_config")["limit"], 1000)
        self.config(limit=1, window=60)
        self.api.ok("teams.list")
        st, _, hd = self.api.call("teams.list")
        self.assertEqual(st, 429)
        self.assertTrue(55 <= int(hd["retry-after"]) <= 60)
        self.api.control("POST", "/_reset")
        self.api.ok("teams.list")

    def test_fail_html_badjson(self):
        self.config(fail_next=2, fault_methods=["teams.list"])
        self.api.ok("users.list")
        self.assertEqual(self.api.call("teams.list")[0], 500)
        self.assertEqual(self.api.call("teams.list")[0], 500)
        self.api.ok("teams.list")
        self.config(html_502_next=1, fault_methods=None, fail_next=1, fail_status=503)
        st, body, hd = self.api.call("teams.list")
        self.assertEqual((st, body["error"]), (503, "internal_error"))
        st, body, hd = self.api.call("teams.list")
        self.assertEqual((st, hd["content-type"], body), (502, "text/html", None))
        self.config(bad_json_next=1)
        st, body, hd = self.api.call("teams.list")
        self.assertEqual((st, hd["content-type"], body), (200, "application/json", None))
        self.api.ok("teams.list")

    def test_reset_truncate_slow_redirect(self):
        self.config(reset_next=1)
        with self.assertRaises((ConnectionError, http.client.RemoteDisconnected)):
            self.api.call("teams.list")
        self.config(truncate_next=1)
        with self.assertRaises(http.client.IncompleteRead):
            self.api.call("teams.list")
        self.config(slow_next=1, slow_seconds=0.3)
        t0 = time.monotonic()
        self.api.ok("teams.list")
        self.assertGreaterEqual(time.monotonic() - t0, 0.3)
        self.config(redirect_loop="teams.list")
        st, _, hd = self.api.call("teams.list", {"x": "1"})
        self.assertEqual(st, 302)
        self.assertTrue(hd["location"].endswith("/teams.list?x=1"))
        self.api.ok("users.list")

    def test_files_host_faults(self):
        self.files.control("POST", "/_config", {"fail_next": 1})
        self.assertEqual(self.files.raw("GET", "/files/x")[0], 500)


class DataCloudTest(DxTestCase):
    def test_deployments_and_incidents(self):
        dep = {"reference_id": "d-1", "service": "payments-api", "deployed_at": 1700000000,
               "repository": "acme/payments-api", "commit_sha": "abc1234"}
        d = self.dc.ok("deployments.upsert", dep)["deployment"]
        self.assertEqual((d["deployed_at"], d["service"]["identifier"], d["environment"]),
                         ("2023-11-14T22:13:20Z", "payments-api", "production"))
        d = self.dc.ok("deployments.update", {"reference_id": "d-1", "success": False})["deployment"]
        self.assertIs(d["success"], False)
        self.assertError(self.dc.call("deployments.update", {"reference_id": "d-2"}),
                         404, "deployment_not_found")
        self.assertError(self.dc.call("deployments.upsert", {"reference_id": "d-3", "service": "x"}),
                         400, "invalid_arguments", "deployed_at")
        self.assertError(self.dc.call("deployments.create", dep), 409, "conflict")
        inc = self.dc.ok("incidents.upsert", {"reference_id": "i-1", "started_at": "2025-01-01T00:00:00Z",
                                              "priority": "p1"})["incident"]
        self.assertEqual(inc["priority"], "p1")
        self.assertError(self.dc.call("deployments.upsert", dep, token=None), 401, "not_authed")


class ShapesTest(DxTestCase):
    """The bodies that the official CLI reads, in the shapes dx.md section 0 gives them."""

    COMMENT_KEYS = {"email", "text", "timestamp", "item_id", "item_name", "snapshot_id", "team_id", "team_name"}

    def test_comment_items(self):
        for method, field in (("snapshots.driverComments.list", "driver_comments"),
                              ("snapshots.csatComments.list", "csat_comments")):
            items = self.api.ok(method, {"id": "snap2024q3a1"})[field]
            self.assertTrue(items, method)
            teams = {t["id"]: t["name"] for t in self.api.ok("teams.list")["teams"]}
            for c in items:
                self.assertEqual(set(c), self.COMMENT_KEYS, method)
                self.assertRegex(c["timestamp"], r"^\d{10}\.\d{6}$")
                self.assertEqual(c["snapshot_id"], "snap2024q3a1")
                self.assertEqual(teams[c["team_id"]], c["team_name"])
                self.assertTrue(c["email"].endswith("@example.com") and c["text"] and c["item_name"])
        drivers = {d["id"]: d["name"] for d in dx.D.DRIVERS}
        c = self.api.ok("snapshots.driverComments.list", {"id": "snap2024q3a1"})["driver_comments"][0]
        self.assertEqual(drivers[c["item_id"]], c["item_name"])

    def test_workflow_parameter_definitions(self):
        seen = set()
        for wf in self.api.ok("workflows.list")["workflows"]:
            for p in wf["parameters"]:
                seen.add(p["type"])
                if p["type"] == "SELECT":
                    opts = p["definition"]["options"]
                    self.assertTrue(opts and all(isinstance(o, str) for o in opts), p)
                else:
                    self.assertIsNone(p["definition"], p)
        self.assertTrue({"SELECT", "STRING", "TEAM"} <= seen)
        deploy = [w for w in self.api.ok("workflows.list")["workflows"] if w["identifier"] == "deploy-service"][0]
        env = [p for p in deploy["parameters"] if p["identifier"] == "environment"][0]
        self.assertEqual(env["definition"], {"options": ["staging", "production"]})
        # a SELECT given in create comes back the same way, and its options are enforced
        args = {"identifier": "pick", "name": "Pick", "scope": "GLOBAL", "execution_type": "SIMPLE",
                "entity_filter_type": "ENTITY_TYPES", "http_request": {"url": "https://h.example/x"},
                "parameters": [{"identifier": "c", "type": "SELECT", "definition": {"options": ["a", "b"]}},
                               {"identifier": "n", "type": "STRING"}]}
        params = self.api.ok("workflows.create", args)["workflow"]["parameters"]
        self.assertEqual([p["definition"] for p in params], [{"options": ["a", "b"]}, None])
        self.assertError(self.api.call("workflowRuns.trigger", {"workflow_identifier": "pick", "data": {"c": "z"}}),
                         422, "invalid_payload")

    def test_snapshot_team_ancestors_start_at_the_root(self):
        scores = self.api.ok("snapshots.info", {"snapshot_id": "snap2024q4b2"})["snapshot"]["team_scores"]
        by_name = {s["snapshot_team"]["name"]: s["snapshot_team"] for s in scores}
        self.assertEqual(by_name["Engineering"]["ancestors"], ["LTE", by_name["Engineering"]["id"]])
        plat = by_name["Platform"]
        self.assertEqual(plat["ancestors"], ["LTE", by_name["Engineering"]["id"], plat["id"]])
        self.assertEqual(set(plat), {"id", "name", "team_id", "parent", "parent_id", "ancestors"})

    def test_run_events_name_the_user_when_one_is_known(self):
        alice = {"name": "Alice Anders", "email": "alice@example.com"}
        self.config(workflow_polls=3)
        rid = self.api.ok("workflowRuns.trigger", {"workflow_identifier": "provision-db", "data": {"team": 103}},
                          token="dx-personal-token")["workflow_run"]["id"]
        for _ in range(5):
            run = self.api.ok("workflowRuns.info", {"id": rid})["workflow_run"]
        users = {e["type"]: e.get("user") for e in run["events"]}
        self.assertEqual(users["WORKFLOW_TRIGGERED"], alice)
        self.assertEqual(users["WORKFLOW_RUN_REQUESTED"], alice)
        self.assertEqual(users["APPROVAL_PERFORMED"], alice)
        self.assertIsNone(users["HTTP_REQUEST_COMPLETED"])      # the system, not a person
        rid = self.api.ok("workflowRuns.trigger", {"workflow_identifier": "manual-migration",
                                                   "data": {"ticket": "T-1"}})["workflow_run"]["id"]
        self.api.ok("workflowRuns.changeStatus", {"workflow_run_id": rid, "status": "FAILED"},
                    token="dx-personal-token")
        run = self.api.ok("workflowRuns.info", {"id": rid})["workflow_run"]
        users = {e["type"]: e.get("user") for e in run["events"]}
        self.assertIsNone(users["WORKFLOW_TRIGGERED"])          # an account token: nobody known
        self.assertEqual((users["CHANGE_STATUS"], users["WORKFLOW_FAILED"]), (alice, alice))


class DeclarationsTest(unittest.TestCase):
    """The client's declarations (lua/dx/methods.lua) and the fake's tables say the same."""

    LINE = re.compile(r'^  \["([^"]+)"\] = \{ "(\w+)", "([^"]*)", "([^"]*)"(?:,$|(?:, host = "(\w+)")? \},$)')

    @staticmethod
    def scopes(s):
        if s is None:
            return ""
        return " ".join("|".join(x) if isinstance(x, tuple) else x for x in ([s] if isinstance(s, (str, tuple)) else s))

    def test_client_and_fake_agree(self):
        path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "lua", "dx", "methods.lua")
        with open(path) as f:
            text = f.read()
        client = {}
        for line in text.splitlines():
            if line.startswith('  ["'):
                m = self.LINE.match(line)
                self.assertIsNotNone(m, "methods.lua: a line in an unexpected shape: " + line)
                client[m.group(1)] = (m.group(2), m.group(3), m.group(4), m.group(5) or "web")
        fake = {n: (v, a, self.scopes(s), "web") for n, (v, s, a, _) in dx.METHODS.items()}
        fake.update({n: (v, a, self.scopes(s), "datacloud") for n, (v, s, a, _) in dx.DxDataCloudService.METHODS.items()})
        self.assertEqual(sorted(client), sorted(fake))
        for name in sorted(fake):
            self.assertEqual(client[name], fake[name], name)


if __name__ == "__main__":
    unittest.main(verbosity=1)
