"""Fake DX software catalog: catalog.entities / entityTypes / relations /
relationEdges (dx.md 3.9) and scorecards.* (3.10), with the per-entity
scorecard reports that entities.scorecards and entities.tasks show."""

import copy
import time

try:
    import dx_data as D
    from dx_rpc import IDENT_RE, ApiError, bad_arg, invalid_payload, iso, missing, not_found, ref_not_found
except ImportError:  # imported as part of a package
    from . import dx_data as D
    from .dx_rpc import IDENT_RE, ApiError, bad_arg, invalid_payload, iso, missing, not_found, ref_not_found

ENTITY_TYPE_WRITE = ("catalog:write:entity_types", "catalog:write:entities")
PROPERTY_TYPES = ("text", "number", "boolean", "select", "multi_select", "computed", "date", "json", "url",
                  "user", "file_matching_rule", "list", "openapi", "slack_channel", "msteams_channel", "email")

METHODS = {
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
}


class CatalogMixin:
    """DxService handlers; state: self.entities, self.entity_types, self.relations, self.edges."""

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


class ScorecardsMixin:
    """DxService handlers; state: self.scorecards."""

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

    # ---- per-entity reports (catalog.entities.scorecards / .tasks) ----

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
