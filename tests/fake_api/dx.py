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
             Calling out: a workflow made by workflows.create whose http_request.url is on
             loopback is REALLY requested when a run is triggered (method, headers, a JSON
             body template with {{run.id}}, {{workflow.identifier}}, {{entity.identifier}},
             {{data.NAME}}: the template syntax is this fake's convention, not documented
             DX syntax); HTTP_REQUEST_COMPLETED records the answer's status, then an
             EVENT_DRIVEN run waits in WAITING_FOR_EVENTS (details: dx_workflows.py)
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

Layout (this file composes DxService and runs the three services standalone)
  dx_rpc.py        errors, argument specs, body parsing, faults, RpcService (dispatch,
                   auth and scopes, rate limit, pagination)
  dx_files.py      DxFilesService and the 303 links to it
  dx_workflows.py  workflowRuns.* and workflows.*
  dx_studio.py     studio.queryRuns.* and queries.datafeed
  dx_snapshots.py  snapshots.*
  dx_org.py        teams, users, userGroups, initiatives, orgfiles, auth.info, events.track
  dx_catalog.py    catalog.* and scorecards.*
  dx_datacloud.py  DxDataCloudService
  dx_data.py       seed data and pure helpers
"""

import time

try:
    from common import serve
    import dx_data as D
    from dx_catalog import METHODS as CATALOG_METHODS, CatalogMixin, ScorecardsMixin
    from dx_datacloud import DxDataCloudService
    from dx_files import DxFilesService, FileLinksMixin
    from dx_org import METHODS as ORG_METHODS, OrgMixin
    from dx_rpc import FAULT_CONFIG, ApiError, RpcService, merge_methods
    from dx_snapshots import METHODS as SNAPSHOT_METHODS, SnapshotsMixin
    from dx_studio import METHODS as STUDIO_METHODS, StudioMixin
    from dx_workflows import METHODS as WORKFLOW_METHODS, TERMINAL, WorkflowsMixin
except ImportError:  # imported as part of a package
    from .common import serve
    from . import dx_data as D
    from .dx_catalog import METHODS as CATALOG_METHODS, CatalogMixin, ScorecardsMixin
    from .dx_datacloud import DxDataCloudService
    from .dx_files import DxFilesService, FileLinksMixin
    from .dx_org import METHODS as ORG_METHODS, OrgMixin
    from .dx_rpc import FAULT_CONFIG, ApiError, RpcService, merge_methods
    from .dx_snapshots import METHODS as SNAPSHOT_METHODS, SnapshotsMixin
    from .dx_studio import METHODS as STUDIO_METHODS, StudioMixin
    from .dx_workflows import METHODS as WORKFLOW_METHODS, TERMINAL, WorkflowsMixin

__all__ = ["DxService", "DxFilesService", "DxDataCloudService", "METHODS", "DEFAULT_CONFIG", "TERMINAL", "D"]

# name: (verb, scope requirement(s), "args (! = required)", handler method name)
METHODS = merge_methods(WORKFLOW_METHODS, STUDIO_METHODS, SNAPSHOT_METHODS, ORG_METHODS, CATALOG_METHODS)

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


class DxService(WorkflowsMixin, StudioMixin, SnapshotsMixin, OrgMixin, CatalogMixin, ScorecardsMixin,
                FileLinksMixin, RpcService):
    """The Web API: the handler families come from the mixins, the state is set up here."""

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
