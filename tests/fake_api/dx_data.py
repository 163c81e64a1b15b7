"""Seed data and pure helpers for the fake DX Web API (dx.py).

Everything here is deterministic: the same ids, names and numbers after every
POST /_reset, so specs may hard-code them.  Nothing here talks HTTP; dx.py owns
the services.  The shapes follow /work/shared/api/dx.md (section 0 first).

Ids
---
* Teams and users: base64 of a small integer without padding, like the real
  API ("NTA4Nzc" = b64("50877")).  The hierarchy root that starts every
  ``ancestors`` list is "LTE" (= b64("-1")).
* Everything else (runs, scorecards, initiatives, snapshots, cursors, ...):
  12-character lower-case base-36 strings, treated as opaque by clients.
"""

import base64
import csv
import hashlib
import hmac
import io
import json
import re
import zipfile
import zlib

# --------------------------------------------------------------------------
# Scopes and tokens
# --------------------------------------------------------------------------

# Scopes printed in dx.md, plus three the docs never show but a fake needs a
# name for (marked "invented"): workflowRuns:read, workflows:read,
# catalog:write:entity_types.
ALL_SCOPES = [
    "snapshots:read", "snapshots:admin",
    "users:read", "users:write",
    "user_groups:read", "user_groups:write",
    "scorecards:read", "scorecards:write",
    "catalog:read", "catalog:write:entities",
    "catalog:write:entity_types",          # invented
    "datacloud:query",
    "workflows:read",                      # invented
    "workflows:create", "workflows:write",
    "workflowRuns:read",                   # invented
    "workflowRuns:trigger", "workflowRuns:writeEvents",
]

# The no-scope token lacks the scope of the most-tested write paths.
NOSCOPE_MISSING = {
    "workflowRuns:trigger", "workflowRuns:writeEvents", "workflows:write",
    "datacloud:query", "snapshots:admin", "users:write", "catalog:write:entities",
    "catalog:write:entity_types", "scorecards:write", "user_groups:write",
}

ACCOUNT = {"id": "acct00000001", "name": "Acme Corp"}

# kind: "account" (org token, auth.info has no expires_at), "personal"
# (auth.info has expires_at), "project" (PlatformX project token: events.track).
SEED_TOKENS = {
    "dx-test-token": {"kind": "account", "name": "autolua tests", "scopes": list(ALL_SCOPES)},
    "dx-noscope-token": {"kind": "account", "name": "autolua limited",
                         "scopes": [s for s in ALL_SCOPES if s not in NOSCOPE_MISSING]},
    "dx-revoked-token": {"kind": "account", "name": "old CI token", "scopes": list(ALL_SCOPES),
                         "revoked": True},
    "dx-personal-token": {"kind": "personal", "name": "alice laptop", "scopes": list(ALL_SCOPES),
                          "user": "alice@example.com", "expires_at": "2099-01-01T00:00:00Z"},
    "dx-expired-token": {"kind": "personal", "name": "alice old laptop", "scopes": list(ALL_SCOPES),
                         "user": "alice@example.com", "expires_at": "2020-01-01T00:00:00Z"},
    "dx-platformx-token": {"kind": "project", "name": "PlatformX project", "scopes": []},
}
TOKEN_CREATED_AT = "2024-01-15T09:00:00Z"

# --------------------------------------------------------------------------
# Id helpers
# --------------------------------------------------------------------------

_B36 = "0123456789abcdefghijklmnopqrstuvwxyz"


def b36(n, width=12):
    s = ""
    while n:
        n, r = divmod(n, 36)
        s = _B36[r] + s
    return s.rjust(width, "0")[-width:]


def b36id(seed):
    """Deterministic 12-char base-36 id from any string."""
    return b36(int(hashlib.sha1(seed.encode()).hexdigest(), 16) % 36 ** 12)


def b64id(n):
    """Team/user style id: base64 of the decimal number, no padding."""
    return base64.b64encode(str(n).encode()).decode().rstrip("=")


def b64id_decode(s):
    try:
        return int(base64.b64decode(s + "=" * (-len(s) % 4)).decode())
    except Exception:
        return None


ROOT_TEAM_ID = b64id(-1)  # "LTE"

# Cursors: 12 base-36 chars that carry (offset, method tag).  A cursor from
# another method, or garbage, fails to decode -> invalid_cursor.
_CURSOR_MASK = 0x5A5A5A5A5A5A


def encode_cursor(method, offset):
    tag = zlib.crc32(method.encode()) % 46656
    return b36((offset * 46656 + tag) ^ _CURSOR_MASK)


def decode_cursor(method, cursor):
    if not isinstance(cursor, str) or not re.fullmatch(r"[0-9a-z]{12}", cursor):
        return None
    n = int(cursor, 36) ^ _CURSOR_MASK
    offset, tag = divmod(n, 46656)
    if tag != zlib.crc32(method.encode()) % 46656:
        return None
    return offset


# --------------------------------------------------------------------------
# Users and teams
# --------------------------------------------------------------------------

def _user(n, handle, name, gh=None, gl=None, roles=(), attrs=(), deleted_at=None, tz="UTC",
          listed=True):
    return {
        "id": b64id(n), "name": name, "email": handle + "@example.com",
        "github_username": gh, "gitlab_username": gl, "additional_github_username": None,
        "attributes": [{"name": k, "value": v} for k, v in attrs],
        "deleted_at": deleted_at, "roles": list(roles), "tz": tz,
        "slack_id": "U" + handle.upper()[:8], "avatar": "https://avatars.example.com/%s.png" % handle,
        "developer": True, "start_date": None, "ai_light_adoption_date": None,
        "ai_moderate_adoption_date": None, "ai_heavy_adoption_date": None,
        "listed": listed,
    }


def seed_users():
    """Users by email.  'listed' False = not returned by users.list (no role,
    team, group or ownership), as dx.md 3.5 says such users are skipped."""
    users = [
        _user(2001, "alice", "Alice Anders", "alice-gh", "alice-gl", ["admin"],
              [("Location", "Berlin")], tz="Europe/Berlin"),
        _user(2002, "bob", "Bob Brown", "bobb", None, ["editor"], [("Location", "New York")],
              tz="America/New_York"),
        _user(2003, "carol", "Carol Chen", "carolc", "carol", [], [("Location", "Berlin")]),
        _user(2004, "dave", "Dave Diaz", None, "dave-gl", [], [("Location", "New York")]),
        _user(2005, "erin", "Erin Ekstrom", "erin-e", None),
        _user(2006, "frank", "Frank Fischer", "ffischer", None),
        _user(2007, "grace", "Grace Gupta", "grace-g", "grace-g"),
        _user(2008, "heidi", "Heidi Hansen", "heidi-h", None, deleted_at="2024-06-30T12:00:00Z"),
        _user(2009, "ivan", "Ivan Ivanov", "ivanov", None),
        _user(2010, "judy", "Judy Jones", "jjones", None),
        _user(2011, "mallory", "Mallory Moss", "mallory-m", None, listed=False),
        _user(2012, "niaj", "Niaj Noor", "niajn", "niaj"),
    ]
    return {u["email"]: u for u in users}


# (number, name, parent number, manager handle, lead handle, reference_id, member handles)
_TEAMS = [
    (101, "Engineering", None, "alice", "alice", "ENG", ["alice"]),
    (102, "Platform", 101, "bob", "bob", "ENG-PLAT", ["bob", "carol"]),
    (103, "Payments", 101, "erin", "frank", "ENG-PAY", ["erin", "frank", "grace"]),
    (104, "Data", 101, "ivan", "ivan", "ENG-DATA", ["ivan", "judy", "niaj"]),
    (105, "Infrastructure", 102, "carol", "dave", "ENG-PLAT-INFRA", ["dave"]),
]


def seed_teams():
    """Teams by id; 'members' holds emails.  ancestors/parent are derived
    (dx.py recomputes them after hierarchy imports)."""
    teams = {}
    for num, name, parent, mgr, lead, ref, members in _TEAMS:
        teams[b64id(num)] = {
            "id": b64id(num), "num": num, "name": name,
            "parent_id": b64id(parent) if parent else None,
            "manager": mgr + "@example.com", "lead": lead + "@example.com",
            "reference_id": ref, "members": [m + "@example.com" for m in members],
            "last_changed_at": "2024-05-0%dT10:00:00Z" % (num - 100),
        }
    return teams


def team_ancestors(teams, team_id):
    chain = []
    t = teams.get(team_id)
    while t is not None:
        chain.append(t["id"])
        t = teams.get(t["parent_id"]) if t["parent_id"] else None
    return [ROOT_TEAM_ID] + list(reversed(chain))


TEAM_AUDIT = [
    {"event_type": "team_created", "team": 101, "actor": "alice", "details": {}},
    {"event_type": "team_created", "team": 102, "actor": "alice", "details": {}},
    {"event_type": "member_added", "team": 102, "actor": "alice", "details": {"email": "carol@example.com"}},
    {"event_type": "team_created", "team": 103, "actor": "alice", "details": {}},
    {"event_type": "manager_changed", "team": 103, "actor": "alice",
     "details": {"from": "alice@example.com", "to": "erin@example.com"}},
    {"event_type": "team_created", "team": 104, "actor": "bob", "details": {}},
    {"event_type": "team_renamed", "team": 105, "actor": "bob", "details": {"from": "Infra", "to": "Infrastructure"}},
]


def seed_team_audit(users):
    out = []
    for i, e in enumerate(TEAM_AUDIT):
        actor = users[e["actor"] + "@example.com"]
        out.append({
            "id": b36id("audit:%d" % i), "occurred_at": "2024-04-%02dT08:30:00Z" % (i + 1),
            "event_type": e["event_type"], "team_id": b64id(e["team"]),
            "team_name": dict((t[0], t[1]) for t in _TEAMS)[e["team"]],
            "actor": {"id": actor["id"], "name": actor["name"], "email": actor["email"]},
            "details": e["details"],
        })
    return out


# --------------------------------------------------------------------------
# Snapshots
# --------------------------------------------------------------------------

SNAPSHOT_IDS = ["snap2024q3a1", "snap2024q4b2", "snap2025q1c3"]  # last one still open


def seed_snapshots():
    return {
        "snap2024q3a1": {"id": "snap2024q3a1", "account_id": ACCOUNT["id"],
                         "last_result_change_at": "2024-08-20T10:00:00Z",
                         "scheduled_for": "2024-08-01", "completed_at": "2024-08-15T17:00:00Z",
                         "completed_count": 9, "deleted_at": None, "total_count": 11},
        "snap2024q4b2": {"id": "snap2024q4b2", "account_id": ACCOUNT["id"],
                         "last_result_change_at": "2024-11-22T10:00:00Z",
                         "scheduled_for": "2024-11-01", "completed_at": "2024-11-15T17:00:00Z",
                         "completed_count": 10, "deleted_at": None, "total_count": 11},
        "snap2025q1c3": {"id": "snap2025q1c3", "account_id": ACCOUNT["id"],
                         "last_result_change_at": None,
                         "scheduled_for": "2099-02-01", "completed_at": None,
                         "completed_count": 0, "deleted_at": None, "total_count": 11},
    }


DRIVERS = [
    {"id": "drvdeepwork1", "name": "Deep work"},
    {"id": "drvrelease01", "name": "Ease of release"},
    {"id": "drvreview001", "name": "Code review"},
    {"id": "drvbuilds001", "name": "Build processes"},
]

BRANCHES = [{"id": "brmain000001", "name": "Main", "is_main": True},
            {"id": "brmobile0001", "name": "Mobile survey", "is_main": False}]

ATTRIBUTE_GROUPS = {
    "agloc0000001": {"name": "Location", "values": [{"id": "avberlin0001", "name": "Berlin"},
                                                    {"id": "avnewyork001", "name": "New York"}]},
}


def score(*parts):
    """A stable pseudo score in [40, 90) from any key parts."""
    h = int(hashlib.md5(":".join(map(str, parts)).encode()).hexdigest(), 16)
    return 40 + (h % 5000) / 100.0


def snapshot_team_id(snapshot_id, team_num):
    return b64id(int("%d%d" % (SNAPSHOT_IDS.index(snapshot_id) + 1, team_num)))


# Comment items as the CLI's test data has them: who wrote it, the text, an epoch timestamp
# with a fraction (a string), the item (driver or tool) and the team, all by id and name.
_COMMENTERS = [("bob", 102), ("erin", 103), ("ivan", 104), ("dave", 105), ("carol", 102)]
CSAT_TOOLS = [{"id": "csatghaction", "name": "GitHub Actions"}, {"id": "csatjira0001", "name": "Jira"},
              {"id": "csatpagerdty", "name": "PagerDuty"}, {"id": "csatdatadog1", "name": "Datadog"}]
_TEAM_NAMES = {t[0]: t[1] for t in _TEAMS}


def _comment(snapshot_id, i, item, text):
    who, team = _COMMENTERS[i % len(_COMMENTERS)]
    base = 1723550400 if snapshot_id == "snap2024q3a1" else 1731672000
    return {"email": who + "@example.com", "text": text,
            "timestamp": "%d.%06d" % (base + 3600 * i, (402226 + 7919 * i) % 1000000),
            "item_id": item["id"], "item_name": item["name"], "snapshot_id": snapshot_id,
            "team_id": b64id(team), "team_name": _TEAM_NAMES[team]}


def seed_driver_comments(snapshot_id):
    if snapshot_id == "snap2025q1c3":
        return []
    count = 7 if snapshot_id == "snap2024q3a1" else 2
    return [_comment(snapshot_id, i, DRIVERS[i % 4],
                     "Driver comment %d on %s" % (i + 1, DRIVERS[i % 4]["name"].lower())) for i in range(count)]


def seed_csat_comments(snapshot_id):
    if snapshot_id == "snap2025q1c3":
        return []
    count = 4 if snapshot_id == "snap2024q3a1" else 1
    return [_comment(snapshot_id, i, CSAT_TOOLS[i % 4],
                     "CSAT comment %d about %s" % (i + 1, CSAT_TOOLS[i % 4]["name"])) for i in range(count)]


# --------------------------------------------------------------------------
# Catalog
# --------------------------------------------------------------------------

CATALOG_TS = "2025-01-02 20:48:45.77969"  # the docs' timestamp quirk: no 'T', no zone


def _prop(ident, name, ptype, ordering, definition=None, required=False):
    return {"identifier": ident, "name": name, "description": "", "type": ptype,
            "ordering": ordering, "created_at": CATALOG_TS, "updated_at": CATALOG_TS,
            "definition": definition or {}, "is_required": required, "visibility": "visible"}


def seed_entity_types():
    return {
        "service": {"identifier": "service", "name": "Service", "description": "A deployable service",
                    "icon": "server", "ordering": 0, "created_at": CATALOG_TS, "updated_at": CATALOG_TS,
                    "properties": [
                        _prop("tier", "Tier", "select", 0,
                              {"options": [{"value": "tier-1", "color": "#ff0000"},
                                           {"value": "tier-2", "color": "#ffaa00"},
                                           {"value": "tier-3", "color": "#00aa00"}]}),
                        _prop("language", "Language", "text", 1),
                        _prop("runbook", "Runbook", "url", 2),
                    ],
                    "aliases": {"github_repo": True, "pagerduty_service": True}},
        "library": {"identifier": "library", "name": "Library", "description": "A shared library",
                    "icon": "book", "ordering": 1, "created_at": CATALOG_TS, "updated_at": CATALOG_TS,
                    "properties": [_prop("language", "Language", "text", 0)],
                    "aliases": {"github_repo": True}},
        "domain": {"identifier": "domain", "name": "Domain", "description": "A business domain",
                   "icon": None, "ordering": 2, "created_at": CATALOG_TS, "updated_at": CATALOG_TS,
                   "properties": [], "aliases": {}},
    }


# (identifier, type, name, owner team nums, owner user handles, properties)
_ENTITIES = [
    ("auth-service", "service", "Auth Service", [102], ["bob"], {"tier": "tier-1", "language": "go"}),
    ("checkout-web", "service", "Checkout Web", [103], ["frank"], {"tier": "tier-1", "language": "typescript",
                                                                   "runbook": "https://wiki.example.com/checkout"}),
    ("ledger-worker", "service", "Ledger Worker", [103], [], {"tier": "tier-2", "language": "python"}),
    ("payments-api", "service", "Payments API", [103], ["erin"], {"tier": "tier-1", "language": "go",
                                                                  "runbook": "https://wiki.example.com/payments"}),
    ("search-api", "service", "Search API", [104], ["ivan"], {"tier": "tier-3", "language": "rust"}),
    ("http-client", "library", "HTTP client", [102], [], {"language": "go"}),
    ("money-lib", "library", "Money library", [103], [], {"language": "go"}),
    ("commerce", "domain", "Commerce", [101], ["alice"], {}),
]


def seed_entities():
    out = {}
    for ident, etype, name, teams, users, props in _ENTITIES:
        out[ident] = {"identifier": ident, "name": name, "type": etype,
                      "created_at": CATALOG_TS, "updated_at": CATALOG_TS,
                      "description": "%s (%s)" % (name, etype),
                      "owner_team_ids": [b64id(n) for n in teams],
                      "owner_user_ids": [b64id(2000 + ["alice", "bob", "carol", "dave", "erin", "frank",
                                                       "grace", "heidi", "ivan", "judy"].index(u) + 1)
                                         for u in users],
                      "properties": dict(props),
                      "aliases": {"github_repo": ["acme/" + ident]} if etype != "domain" else {}}
    return out


def seed_relations():
    return {
        "service-uses-library": {"identifier": "service-uses-library", "name": "Uses library",
                                 "description": "Libraries a service depends on",
                                 "source_entity_type_identifier": "service",
                                 "target_entity_type_identifier": "library",
                                 "type": "depends on", "cardinality": "many_to_many",
                                 "created_at": CATALOG_TS, "updated_at": CATALOG_TS},
        "domain-owns-service": {"identifier": "domain-owns-service", "name": "Owns service",
                                "description": "A domain's services (a service has one domain)",
                                "source_entity_type_identifier": "domain",
                                "target_entity_type_identifier": "service",
                                "type": "parent of", "cardinality": "one_to_many",
                                "created_at": CATALOG_TS, "updated_at": CATALOG_TS},
    }


SEED_EDGES = [
    ("service-uses-library", "payments-api", "http-client"),
    ("service-uses-library", "payments-api", "money-lib"),
    ("service-uses-library", "checkout-web", "http-client"),
    ("domain-owns-service", "commerce", "payments-api"),
    ("domain-owns-service", "commerce", "checkout-web"),
    ("domain-owns-service", "commerce", "ledger-worker"),
]

RELATION_TYPES = ["consumes", "depends on", "parent of", "part of", "provides", "manages"]

# --------------------------------------------------------------------------
# Scorecards and initiatives
# --------------------------------------------------------------------------


def _check(sc, i, name, level=None, group=None, points=None):
    return {"id": b36id("check:%s:%d" % (sc, i)), "name": name, "description": name + ".",
            "sql": "SELECT 'PASS' AS status", "ordering": i, "published": True,
            "estimated_dev_days": 1 + i, "external_url": None, "filter_sql": None,
            "filter_message": None, "output_enabled": False, "output_type": None,
            "output_custom_options": None, "output_aggregation": None,
            "level": level, "check_group": group, "points": points}


def seed_scorecards():
    lv = [{"id": b36id("level:%d" % i), "name": n, "color": c, "rank": i + 1}
          for i, (n, c) in enumerate([("Bronze", "#cd7f32"), ("Silver", "#c0c0c0"), ("Gold", "#ffd700")])]
    cg = [{"id": b36id("cgroup:%d" % i), "name": n, "ordering": i}
          for i, n in enumerate(["Secrets", "Dependencies"])]
    lvref = [{"id": x["id"], "name": x["name"]} for x in lv]
    cgref = [{"id": x["id"], "name": x["name"]} for x in cg]
    common = {"created_at": "2024-03-01T10:00:00Z", "updated_at": "2024-03-01T10:00:00Z",
              "editors": [], "entity_filter_type": "entity_types", "entity_filter_sql": None}
    return {
        "scprodready1": dict(common, id="scprodready1", name="Production readiness",
                             description="Is the service ready for production?", type="LEVEL",
                             entity_filter_type_identifiers=["service"], published=True,
                             tags=[{"value": "reliability", "color": "#3366ff"}],
                             empty_level_label="None", empty_level_color="#cccccc",
                             levels=lv, check_groups=[],
                             checks=[_check("scprodready1", 0, "Has an owner", lvref[0]),
                                     _check("scprodready1", 1, "Has a runbook", lvref[1]),
                                     _check("scprodready1", 2, "Tier is set", lvref[2])]),
        "scsecurity01": dict(common, id="scsecurity01", name="Security", description="Security basics",
                             type="POINTS", entity_filter_type_identifiers=["service", "library"],
                             published=True, tags=[{"value": "security", "color": "#ff3366"}],
                             empty_level_label=None, empty_level_color=None, levels=[], check_groups=cg,
                             checks=[_check("scsecurity01", 0, "No secrets in repo", None, cgref[0], 10),
                                     _check("scsecurity01", 1, "Dependencies up to date", None, cgref[1], 5)]),
        "scdraft00001": dict(common, id="scdraft00001", name="Cost hygiene", description="Draft",
                             type="LEVEL", entity_filter_type_identifiers=["service"], published=False,
                             tags=[], empty_level_label="None", empty_level_color="#cccccc",
                             levels=lv[:1], check_groups=[],
                             checks=[_check("scdraft00001", 0, "Has cost tags", lvref[0])]),
    }


def check_passes(entity_identifier, check_id):
    """Deterministic per-entity check outcome (roughly 2 in 3 pass)."""
    return int(hashlib.md5((entity_identifier + check_id).encode()).hexdigest(), 16) % 3 != 0


# (id, name, scorecard, priority, published, complete_by, tags, owner handle)
_INITIATIVES = [
    ("initrunbooks", "Runbooks everywhere", "scprodready1", 0, True, "2025-06-30T00:00:00Z",
     ["reliability"], "alice"),
    ("initsecrets1", "No secrets in repos", "scsecurity01", 1, True, "2025-03-31T00:00:00Z",
     ["security"], "bob"),
    ("initdeps0001", "Dependency freshness", "scsecurity01", 2, True, "2025-09-30T00:00:00Z",
     ["security", "maintenance"], "carol"),
    ("inittiers001", "Tier every service", "scprodready1", 3, False, "2025-12-31T00:00:00Z",
     ["reliability"], "erin"),
    ("initcost0001", "Cost tags", "scdraft00001", 4, False, None, [], "ivan"),
]
TAG_COLORS = {"reliability": "#3366ff", "security": "#ff3366", "maintenance": "#999999"}


def seed_initiatives():
    return {i[0]: {"id": i[0], "name": i[1], "description": i[1] + ".", "scorecard_id": i[2],
                   "priority": i[3], "published": i[4], "complete_by": i[5],
                   "tags": [{"value": t, "color": TAG_COLORS[t]} for t in i[6]], "owner": i[7]}
            for i in _INITIATIVES}


# --------------------------------------------------------------------------
# Workflows
# --------------------------------------------------------------------------

def _param(ident, ptype, required=False, default=None, options=None, description=""):
    return {"identifier": ident, "name": ident.replace("_", " ").capitalize(),
            "description": description, "default_value": default, "is_required": required,
            "type": ptype, "definition": {"options": list(options or [])} if ptype == "SELECT" else None}


def _workflow(ident, name, scope, execution_type, trigger_type, params, filter_types=()):
    return {"identifier": ident, "name": name, "description": name + ".", "icon": "rocket",
            "color": "#3366ff", "scope": scope,
            "entity_filter_type": "ENTITY_TYPES" if filter_types else None,
            "entity_filter_sql": None, "entity_filter_type_identifiers": list(filter_types),
            "execution_type": execution_type, "trigger_type": trigger_type, "parameters": params,
            "http_request": {"method": "POST", "url": "https://hooks.example.com/workflows/" + ident}}


OUTCOMES = ["SUCCEEDED", "FAILED", "TIMEOUT", "CANCELLED", "REJECTED"]


def seed_workflows():
    wfs = [
        _workflow("deploy-service", "Deploy service", "ENTITY", "SIMPLE", "ANY", [
            _param("version", "STRING", required=True),
            _param("environment", "SELECT", required=True, default="staging",
                   options=["staging", "production"]),
            _param("dry_run", "BOOLEAN", default=False),
        ], filter_types=["service"]),
        _workflow("rotate-secrets", "Rotate secrets", "GLOBAL", "SIMPLE", "ANY", [
            _param("reason", "STRING"),
        ]),
        _workflow("provision-db", "Provision a database", "GLOBAL", "SIMPLE", "APPROVAL", [
            _param("team", "TEAM", required=True, description="sent as the numeric team id"),
            _param("size", "SELECT", default="small", options=["small", "medium", "large"]),
            _param("notify", "EMAIL"),
        ]),
        _workflow("manual-migration", "Manual migration", "GLOBAL", "EVENT_DRIVEN", "ANY", [
            _param("ticket", "STRING", required=True),
        ]),
        # The test workflow: its 'outcome' parameter picks the final status.
        _workflow("scripted-job", "Scripted job", "GLOBAL", "SIMPLE", "ANY", [
            _param("outcome", "SELECT", default="SUCCEEDED", options=OUTCOMES),
            _param("count", "INTEGER", default=1),
            _param("ratio", "FLOAT"),
            _param("owner", "USER"),
        ]),
    ]
    return {w["identifier"]: w for w in wfs}


# --------------------------------------------------------------------------
# Saved-query datafeeds (queries.datafeed)
# --------------------------------------------------------------------------

def seed_datafeeds():
    repos = ["acme/payments-api", "acme/checkout-web", "acme/search-api"]
    deploys = [[repos[i % 3], "2025-01-%02dT10:00:00Z" % (i + 1), repos[i % 3].split("/")[1],
                "true" if i % 4 else "false"] for i in range(6)]
    big = [[str(i), "row %d" % i] for i in range(1, 1501)]
    return {
        "feed-deploys-7d": {"columns": ["repo_name", "deployed_at", "service", "success"],
                            "rows": deploys, "filter_var": "repo_name"},
        "feed-big-1500": {"columns": ["n", "label"], "rows": big, "filter_var": None},
    }


# --------------------------------------------------------------------------
# Data Studio query results (shared by the JSON results and the CSV file)
# --------------------------------------------------------------------------

def _split_select_list(text):
    items, buf, quote = [], "", False
    for ch in text:
        if ch == "'":
            quote = not quote
        if ch == "," and not quote:
            items.append(buf.strip())
            buf = ""
        else:
            buf += ch
    if buf.strip():
        items.append(buf.strip())
    return items


def _literal(expr, variables):
    e = expr.strip()
    if e.startswith("$"):
        return variables.get(e[1:])
    if re.fullmatch(r"-?\d+", e):
        return int(e)
    if re.fullmatch(r"-?\d+\.\d*", e):
        return float(e)
    if e.startswith("'") and e.endswith("'") and len(e) >= 2:
        return e[1:-1].replace("''", "'")
    if e.lower() in ("true", "false"):
        return e.lower() == "true"
    if e.lower() == "null":
        return None
    return e  # anything else: echo the expression text


def query_result(sql, variables=None, rows_override=None):
    """(columns, rows) for a Data Studio SQL text.

    * ``SELECT <literals> [AS alias], ...`` with no FROM: one row of those
      literals ($name takes the variable), columns named by alias (else "?column?").
    * anything else: a synthetic table id/name/value with N rows, N = the
      config override, else the SQL's ``LIMIT n``, else 3.
    """
    variables = variables or {}
    body = sql.strip().rstrip(";").strip()
    m = re.match(r"(?is)^select\s+(.*)$", body)
    if m and not re.search(r"(?i)\bfrom\b", body) and not rows_override:
        cols, row = [], []
        for item in _split_select_list(m.group(1)):
            am = re.match(r"(?is)^(.*?)\s+as\s+\"?([A-Za-z_][A-Za-z0-9_]*)\"?$", item)
            expr, alias = (am.group(1), am.group(2)) if am else (item, "?column?")
            cols.append(alias)
            row.append(_literal(expr, variables))
        return cols, [row]
    n = rows_override
    if n is None:
        lm = re.search(r"(?i)\blimit\s+(\d+)", body)
        n = int(lm.group(1)) if lm else 3
    return ["id", "name", "value"], [[i, "row %d" % i, i * 10] for i in range(1, n + 1)]


def csv_bytes(columns, rows):
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(columns)
    for r in rows:
        w.writerow(["" if v is None else ("true" if v is True else "false" if v is False else v)
                    for v in r])
    return buf.getvalue().encode("utf-8")


# --------------------------------------------------------------------------
# Snapshot export (.xlsx), built with zipfile so it is a real spreadsheet
# --------------------------------------------------------------------------

XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _xml_escape(s):
    return (str(s).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace('"', "&quot;"))


def xlsx_bytes(rows):
    """A minimal valid one-sheet workbook (inline strings, numbers as numbers)."""
    def cell(ref, v):
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            return '<c r="%s"><v>%s</v></c>' % (ref, v)
        return '<c r="%s" t="inlineStr"><is><t>%s</t></is></c>' % (ref, _xml_escape(v))

    def col(i):
        s = ""
        i += 1
        while i:
            i, r = divmod(i - 1, 26)
            s = chr(65 + r) + s
        return s

    sheet_rows = "".join('<row r="%d">%s</row>' % (ri + 1, "".join(cell("%s%d" % (col(ci), ri + 1), v)
                                                                    for ci, v in enumerate(r)))
                         for ri, r in enumerate(rows))
    files = {
        "[Content_Types].xml":
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
            '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
            '<Default Extension="xml" ContentType="application/xml"/>'
            '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
            '<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
            '</Types>',
        "_rels/.rels":
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
            '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/>'
            '</Relationships>',
        "xl/workbook.xml":
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
            '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
            'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
            '<sheets><sheet name="Results" sheetId="1" r:id="rId1"/></sheets></workbook>',
        "xl/_rels/workbook.xml.rels":
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
            '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/>'
            '</Relationships>',
        "xl/worksheets/sheet1.xml":
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
            '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
            '<sheetData>%s</sheetData></worksheet>' % sheet_rows,
    }
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, text in files.items():
            info = zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0))  # fixed: same bytes every time
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, text)
    return buf.getvalue()


def snapshot_export_rows(snapshot_id):
    rows = [["snapshot_id", "team", "driver", "score"]]
    for num, name, *_ in _TEAMS:
        for d in DRIVERS:
            rows.append([snapshot_id, name, d["name"], round(score(snapshot_id, num, d["id"]), 2)])
    return rows


# --------------------------------------------------------------------------
# File tokens: the "presigned URL" of the files host
# --------------------------------------------------------------------------
# The token carries everything the files host needs to rebuild the body (so
# the two services share no memory and may even run in different processes),
# signed so that an edited or made-up token is a 404.

_FILE_KEY = b"dx-fake-presign-key"


def make_file_token(payload):
    raw = base64.urlsafe_b64encode(json.dumps(payload, sort_keys=True, separators=(",", ":")).encode())
    raw = raw.decode().rstrip("=")
    sig = hmac.new(_FILE_KEY, raw.encode(), hashlib.sha256).hexdigest()[:20]
    return raw + "." + sig


def read_file_token(token):
    try:
        raw, sig = token.rsplit(".", 1)
        good = hmac.new(_FILE_KEY, raw.encode(), hashlib.sha256).hexdigest()[:20]
        if not hmac.compare_digest(sig, good):
            return None
        return json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
    except Exception:
        return None


def render_file(payload):
    """(body bytes, content type, file name) for a decoded token payload."""
    if payload.get("kind") == "query_csv":
        cols, rows = query_result(payload["sql"], payload.get("variables"), payload.get("rows"))
        return csv_bytes(cols, rows), "text/csv", "query-%s.csv" % payload["id"]
    if payload.get("kind") == "snapshot_xlsx":
        return (xlsx_bytes(snapshot_export_rows(payload["snapshot_id"])), XLSX_TYPE,
                "snapshot-%s.xlsx" % payload["snapshot_id"])
    return None

