"""Fake DX organisation methods: teams.* (dx.md 3.4), users.* (3.5),
userGroups.* (3.6), initiatives.* (3.7), orgfiles.teamHierarchy.* (3.8),
auth.info (3.12) and events.track (3.14), with the user/team renderers the
other families share."""

import json
import math
import re

try:
    import dx_data as D
    from dx_rpc import ApiError, bad_arg, invalid_payload, iso, missing, not_found, ref_not_found
except ImportError:  # imported as part of a package
    from . import dx_data as D
    from .dx_rpc import ApiError, bad_arg, invalid_payload, iso, missing, not_found, ref_not_found

DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")

METHODS = {
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
    # 3.12 auth, 3.14 events
    "auth.info": ("GET", None, "", "auth_info"),
    "events.track": ("POST", None, "name! timestamp:strint! email github_username gitlab_username "
                     "metadata:obj test_data:bool", "events_track"),
}


class OrgMixin:
    """DxService handlers; state: self.users, self.teams, self.groups, self.initiatives,
    self.imports, self.tracked_events."""

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

    # ==== 3.12 auth, 3.14 events ====

    def auth_info(self, a, ctx):
        t = ctx.token
        auth = {"token_type": "personal_access_token" if t["kind"] == "personal" else "account_web_api_token",
                "token_name": t.get("name"), "scopes": t["scopes"], "created_at": D.TOKEN_CREATED_AT}
        if t["kind"] == "personal":
            auth["expires_at"] = t.get("expires_at")
        return {"auth": auth, "account": {"name": D.ACCOUNT["name"]}}

    def events_track(self, a, ctx):
        if not re.fullmatch(r"\d{9,13}", a["timestamp"]):
            raise bad_arg("timestamp", "argument 'timestamp' must be Unix seconds, e.g. \"1680723287\"")
        if not any(a.get(k) for k in ("email", "github_username", "gitlab_username")):
            raise missing("email", " (or github_username or gitlab_username)")
        if "metadata" in a and len(json.dumps(a["metadata"], separators=(",", ":"))) > 1024:
            raise bad_arg("metadata", "metadata must be at most 1 KB of JSON")
        self.tracked_events.append(dict(a, received_at=iso(self.now())))
        return {}
