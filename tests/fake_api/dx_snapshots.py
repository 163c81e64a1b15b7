"""Fake DX snapshots.* (dx.md 3.3): snapshot listing and team scores, driver
and CSAT comments, DXI and driver scores with their breakdowns, and the xlsx
export (inline or as a 303 to the files host)."""

try:
    from common import Response
    import dx_data as D
    from dx_rpc import ApiError, bad_arg, missing, not_found
except ImportError:  # imported as part of a package
    from .common import Response
    from . import dx_data as D
    from .dx_rpc import ApiError, bad_arg, missing, not_found

DIMENSIONS = "enum(snapshotTeam|group|branch|attribute)"
FILTERS = "team_ids:list snapshot_team_ids:list group_ids:list branch_ids:list attribute_ids:list"

METHODS = {
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
}


class SnapshotsMixin:
    """DxService handlers; state: self.snapshots (plus self.teams, self.groups)."""

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
                "ancestors": [D.ROOT_TEAM_ID] + [D.snapshot_team_id(sid, self.teams[x]["num"])
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
