"""Fake DX Data Cloud API (dx.md 3.15): DxDataCloudService, POST /api/<method>
on the customer's instance host -- deployments.create/upsert/update and
incidents.upsert."""

import copy
import re

try:
    from dx_rpc import FAULT_CONFIG, ApiError, RpcService, bad_arg, iso, missing
except ImportError:  # imported as part of a package
    from .dx_rpc import FAULT_CONFIG, ApiError, RpcService, bad_arg, iso, missing


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
        # dx.md: a new deployment needs service and deployed_at, so create always does
        "deployments.create": ("POST", None, DEPLOY_ARGS.replace("service:any", "service:any!")
                               .replace("deployed_at:any", "deployed_at:any!"), "dep_create"),
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
