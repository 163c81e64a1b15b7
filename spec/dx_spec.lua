-- The dx client against the fake DX Web API: construction and auth, every method family by
-- c:call and by the c.family.method{} sugar (checked against what the fake recorded), method
-- names, the envelope and status mapping, and bad input. Paging, queries, workflow runs,
-- downloads, limits and retries are in dx_flows_spec.lua.
local dx = require "dx"
local json = require "autolua.json"
local pretty = require "autolua.pretty"
local S = require "support"

local D = require "dx_support"
local TOKEN, client, recorded, fails = D.TOKEN, D.client, D.recorded, S.fails

-- The single recorded request to a method, checked for its verb.
local function one(method, verb)
  local rs = recorded(method)
  assert.equal(1, #rs, method .. " was sent " .. #rs .. " times")
  assert.equal(verb, rs[1].method)
  return rs[1]
end

-- The JSON body a recorded POST carried.
local function body_of(r)
  assert.matches("^application/json", r.headers["content-type"] or "")
  return json.decode(r.body)
end

local function q1(r, name) return r.query[name] and r.query[name][1] end

local function ids(list, field)
  local out = {}
  for i, x in ipairs(list) do out[i] = x[field or "id"] end
  table.sort(out)
  return out
end

before_each(function()
  S.reset("dx")
  S.reset("dx_files")
end)

describe("dx client and auth", function()
  it("sends Authorization: Bearer and Accept: application/json on every request", function()
    local c = client()
    c.teams.list()
    c:call("users.list", { page_size = 3 })
    c.workflowRuns.trigger { workflow_identifier = "rotate-secrets" }
    c.catalog.entities.list { limit = 2 }
    c:call("auth.info")
    local rs = recorded()
    assert.equal(5, #rs)
    for _, r in ipairs(rs) do
      assert.equal("Bearer " .. TOKEN, r.headers.authorization, r.path)
      assert.equal("application/json", r.headers.accept, r.path)
    end
  end)

  it("puts GET arguments in the query string and POST arguments in a JSON body", function()
    local c = client()
    c.catalog.entities.list { limit = 2, type = "service", search_term = "pay" }
    c.workflowRuns.trigger { workflow_identifier = "scripted-job", data = { outcome = "FAILED", n = 3 },
                             notify_approvers = false }
    c.auth.info {}
    local get = one("catalog.entities.list", "GET")
    assert.same({ limit = { "2" }, type = { "service" }, search_term = { "pay" } }, get.query)
    assert.equal("", get.body)
    local post = one("workflowRuns.trigger", "POST")
    assert.same({}, post.query)
    assert.same({ workflow_identifier = "scripted-job", data = { outcome = "FAILED", n = 3 }, notify_approvers = false },
                body_of(post))
    -- a POST with no arguments still sends a JSON object, never an empty form
    S.reset("dx")
    fails(c.call, c, "workflowRuns.trigger", {}, { unchecked = true })  -- the API wants workflow_identifier
    assert.equal("{}", recorded("workflowRuns.trigger")[1].body)
  end)

  it("sends an empty list argument as a JSON array", function()
    local c = client()
    -- (the fake reads [] as "not given" and keeps the members; before, {} was refused as an object)
    assert.is_true(c.userGroups.update { id = "grponcall001", members = {} }.ok)
    assert.matches('"members":%[%]', one("userGroups.update", "POST").body)
  end)

  it("reads DX_TOKEN, DX_API_TOKEN and DX_BASE_URL from the environment", function()
    local script = [[
      local dx = require "dx"
      local a = dx.client():call("auth.info").auth
      print(a.token_type, a.token_name)
    ]]
    local base = "DX_BASE_URL=" .. S.quote(S.fake.dx)
    local r = S.run_script(script, nil, { env = "env -u DX_API_TOKEN DX_TOKEN=dx-test-token " .. base })
    assert.equal(0, r.code, r.err)
    assert.matches("^account_web_api_token", r.out)
    -- DX_API_TOKEN, the name the official DX CLI reads
    r = S.run_script(script, nil, { env = "env -u DX_TOKEN DX_API_TOKEN=dx-personal-token " .. base })
    assert.equal(0, r.code, r.err)
    assert.matches("^personal_access_token", r.out)
    -- DX_TOKEN wins when both are set
    r = S.run_script(script, nil, { env = "env DX_TOKEN=dx-test-token DX_API_TOKEN=dx-personal-token " .. base })
    assert.matches("^account_web_api_token", r.out)
    local hits = recorded("auth.info")
    assert.equal(3, #hits)
    assert.equal("Bearer dx-personal-token", hits[2].headers.authorization)
    -- the default base URL is the public API
    r = S.run_script([[print(tostring(require("dx").client()))]], nil,
                     { env = "env -u DX_BASE_URL DX_TOKEN=x" })
    assert.matches("https://api.getdx.com", r.out, 1, true)
  end)

  it("arguments win over the environment", function()
    local r = S.run_script([[
      local c = require("dx").client { token = "dx-personal-token", base_url = arg[1] }
      print(c.auth.info().auth.token_type)
    ]], { S.fake.dx }, { env = "env DX_TOKEN=dx-revoked-token DX_BASE_URL=http://127.0.0.1:9" })
    assert.equal(0, r.code, r.err)
    assert.equal("personal_access_token\n", r.out)
  end)

  it("never shows the token in tostring, pretty output, errors or logs", function()
    local secret = "dxs-7f3a9c-unshowable"
    S.config("dx", { tokens = { [secret] = { "snapshots:read" } } })
    local c = client { token = secret }
    assert.equal(5, #c.teams.list().teams)
    for _, shown in ipairs { tostring(c), pretty.format(c), pretty.format({ c = c }, { secrets = false }),
                             tostring(c.teams), tostring(c.catalog.entities.list) } do
      assert.is_nil(shown:find(secret, 1, true), shown)
    end
    local e = fails(c.call, c, "users.list")                      -- lacks users:read
    assert.equal("missing_scope", e.code)
    for k, v in pairs(e) do assert.is_nil(tostring(v):find(secret, 1, true), k) end
    assert.is_nil(tostring(e):find(secret, 1, true))
    assert.is_nil(pretty.format(e):find(secret, 1, true))

    -- a whole script at debug level, text and JSON logs, with retries and an uncaught error
    local script = [[
      local dx = require "dx"
      local c = dx.client { backoff = { base = 0.01, cap = 0.02 } }
      print(tostring(c), require("autolua.pretty").format(c))
      print(#c.teams.list().teams)
      local ok, e = pcall(c.call, c, "workflowRuns.trigger", { workflow_identifier = "rotate-secrets" })
      print(tostring(e))
      c.teams.info { team_id = "nope" }
    ]]
    local env = ("env AUTOLUA_LOG=debug DX_TOKEN=%s DX_BASE_URL=%s"):format(secret, S.quote(S.fake.dx))
    for _, fmt in ipairs { "text", "json" } do
      S.config("dx", { fail_next = 1 })
      local r = S.run_script(script, nil, { env = env .. " AUTOLUA_LOG_FORMAT=" .. fmt })
      assert.equal(1, r.code, r.err)
      assert.matches("retrying", r.err)                            -- the 500 was retried, and logged
      assert.matches("missing_scope", r.out)
      assert.matches("not_found", r.err)
      assert.is_nil(r.out:find(secret, 1, true), r.out)
      assert.is_nil(r.err:find(secret, 1, true), r.err)
    end
    -- the fake did see it, so it was sent
    assert.equal("Bearer " .. secret, recorded("teams.list")[1].headers.authorization)
  end)

  it("refuses bad options before sending anything", function()
    assert.equal("argument", fails(dx.client, { token = TOKEN, base_url = "api.getdx.com" }).kind)
    assert.equal("argument", fails(dx.client, { token = TOKEN, limit = 2.5 }).kind)
    assert.equal("argument", fails(dx.client, { token = TOKEN, window = 0 }).kind)
    assert.equal("argument", fails(dx.client, "dx-test-token").kind)
    assert.same({}, recorded())
  end)
end)

describe("dx method families", function()
  local c
  before_each(function() c = client() end)

  it("declares every method as the fake does: verb, arguments and their types, scopes, host", function()
    local cmd = ("cd %s/tests/fake_api && python3 -c %s"):format(S.quote(S.source), S.quote([[
import json, dx
def scopes(s):
    if s is None: return ""
    return " ".join("|".join(x) if isinstance(x, tuple) else x for x in ([s] if isinstance(s, (str, tuple)) else s))
out = {k: [v[0], v[2], scopes(v[1]), "web"] for k, v in dx.METHODS.items()}
out.update({k: [v[0], v[2], scopes(v[1]), "datacloud"] for k, v in dx.DxDataCloudService.METHODS.items()})
print(json.dumps(out))]]))
    local p = io.popen(cmd)
    local fake = json.decode(p:read("a"))
    p:close()
    assert.is_table(fake, "could not read the fake's method table")
    local mine = {}
    for _, name in ipairs(dx.methods()) do
      local spec = require("dx.methods")[name]
      mine[name] = { spec[1], spec[2], spec[3], spec.host or "web" }
    end
    assert.same(fake, mine)
  end)

  it("workflowRuns: trigger, info, postMessage, addLink, changeStatus", function()
    local id = c:call("workflowRuns.trigger", { workflow_identifier = "rotate-secrets" }).workflow_run.id
    assert.is_string(id)
    assert.same({ workflow_identifier = "rotate-secrets" }, body_of(one("workflowRuns.trigger", "POST")))
    local run = c.workflowRuns.info { id = id }.workflow_run
    assert.equal(id, run.id)
    assert.equal("rotate-secrets", run.workflow.identifier)
    assert.equal(id, q1(one("workflowRuns.info", "GET"), "id"))
    assert.equal("POST_MESSAGE", c.workflowRuns.postMessage { workflow_run_id = id, message = "half way" }.event.type)
    assert.equal("ADD_LINK", c:call("workflowRuns.addLink", { workflow_run_id = id,
      link = { url = "https://ci.example/42", label = "CI" } }).event.type)
    assert.same({ workflow_run_id = id, link = { url = "https://ci.example/42", label = "CI" } },
                body_of(one("workflowRuns.addLink", "POST")))
    local ev = c.workflowRuns.changeStatus { workflow_run_id = id, status = "FAILED" }.event
    assert.equal("CHANGE_STATUS", ev.type)
    assert.equal("FAILED", ev.data.status)
    assert.equal("FAILED", c:call("workflowRuns.info", { id = id }).workflow_run.status)
  end)

  it("workflows: list and create", function()
    assert.equal(4, #c:call("workflows.list", { scope = "GLOBAL" }).workflows)
    assert.equal("GLOBAL", q1(one("workflows.list", "GET"), "scope"))
    local wf = c.workflows.create {
      identifier = "nightly-report", name = "Nightly report", scope = "GLOBAL", execution_type = "SIMPLE",
      entity_filter_type = "ENTITY_TYPES", http_request = { method = "POST", url = "https://hooks.example/run" },
      parameters = { { identifier = "day", type = "STRING", is_required = true } },
    }.workflow
    assert.equal("nightly-report", wf.identifier)
    assert.equal("day", wf.parameters[1].identifier)
    local sent = body_of(one("workflows.create", "POST"))
    assert.same({ method = "POST", url = "https://hooks.example/run" }, sent.http_request)
    assert.equal(6, #c.workflows.list().workflows)
  end)

  it("studio: queryRuns.execute, .info and .results (nested sugar)", function()
    S.config("dx", { query_polls = 0 })
    local body = c.studio.queryRuns.execute { sql = "select 42 as answer, 'x' as tag" }
    assert.is_true(body.ok)
    local id = body.query_run.id
    assert.equal("queued", body.query_run.status)
    local rec = one("studio.queryRuns.execute", "POST")
    assert.equal(202, rec.status)
    assert.same({ sql = "select 42 as answer, 'x' as tag" }, body_of(rec))
    assert.equal("succeeded", c:call("studio.queryRuns.info", { id = id }).query_run.status)
    local res = c.studio.queryRuns.results { id = id }.results
    assert.same({ "answer", "tag" }, res.columns)
    assert.same({ { 42, "x" } }, res.rows)
  end)

  it("snapshots: list, info, comments, DXI and driver scores", function()
    local snaps = c:call("snapshots.list", { ordering = "completed_at" }).snapshots
    assert.equal(3, #snaps)
    assert.equal("snap2024q3a1", snaps[1].id)
    assert.is_true(#c.snapshots.info { snapshot_id = "snap2024q3a1" }.snapshot.team_scores > 0)
    local page = c.snapshots.driverComments.list { id = "snap2024q3a1", limit = 2 }
    assert.equal(2, #page.driver_comments)
    assert.is_string(page.response_metadata.next_cursor)
    assert.is_table(c:call("snapshots.csatComments.list", { id = "snap2024q3a1" }).csat_comments)
    local dxi = c.snapshots.dxiScores { snapshot_id = "snap2024q4b2", team_ids = { "MTAx", "MTAy" } }.dxi_score
    assert.equal("snap2024q4b2", dxi.snapshot_id)
    assert.equal("MTAx,MTAy", q1(one("snapshots.dxiScores", "GET"), "team_ids"))
    local rows = c.snapshots.dxiScores.breakdown { snapshot_id = "snap2024q4b2", dimension_type = "branch" }.breakdown
    assert.is_true(#rows > 0)
    assert.equal(1, #c.snapshots.driverScores { snapshot_id = "snap2024q4b2", driver_id = "drvdeepwork1" }.driver_scores)
    assert.is_true(#c:call("snapshots.driverScores.breakdown", { snapshot_id = "snap2024q4b2",
      driver_id = "drvdeepwork1", dimension_type = "snapshotTeam" }).breakdown > 0)
  end)

  it("teams: list, info, findByMembers, auditTrail", function()
    local teams = c:call("teams.list").teams
    assert.equal(5, #teams)
    assert.equal("LTE", teams[1].ancestors[1])
    assert.equal("Payments", c.teams.info { reference_id = "ENG-PAY" }.team.name)
    assert.equal("ENG-PAY", q1(one("teams.info", "GET"), "reference_id"))
    local t = c.teams.findByMembers { team_emails = { "alice@example.com" } }.team
    assert.is_string(t.id)
    assert.equal("alice@example.com", q1(one("teams.findByMembers", "GET"), "team_emails"))
    assert.equal(2, #c.teams.auditTrail { limit = 2 }.events)
  end)

  it("users: list (page numbers), findByGithubUsername, findByGitlabUsername, update", function()
    local page = c:call("users.list", { page_size = 5 })
    assert.equal(5, #page.users)
    assert.equal(2, page.next_page)
    assert.equal(11, page.total)
    assert.equal("alice@example.com", c.users.findByGithubUsername { github_username = "alice-gh" }.user.email)
    assert.is_string(c.users.findByGitlabUsername { gitlab_username = "alice-gl" }.user.id)
    local u = c.users.update { email = "bob@example.com", start_date = "2024-01-02" }.user
    assert.equal("2024-01-02", u.start_date)
    assert.same({ email = "bob@example.com", start_date = "2024-01-02" }, body_of(one("users.update", "POST")))
  end)

  it("userGroups: list, get, create, update, delete", function()
    assert.equal(1, #c:call("userGroups.list").groups)
    assert.equal("On-call", c.userGroups.get { id = "grponcall001" }.group.name)
    local g = c.userGroups.create { name = "Reviewers", owner_email = "alice@example.com",
                                    members = { "alice@example.com", "bob@example.com" } }.group
    assert.same({ "alice@example.com", "bob@example.com" }, ids(g.members, "email"))
    assert.same({ "alice@example.com", "bob@example.com" }, body_of(one("userGroups.create", "POST")).members)
    g = c:call("userGroups.update", { id = g.id, name = "Reviewers 2", members = { "carol@example.com" } }).group
    assert.equal("Reviewers 2", g.name)
    assert.is_true(c.userGroups.delete { id = g.id }.ok)
    assert.equal("not_found", fails(c.userGroups.get, { id = g.id }).code)
  end)

  it("initiatives: list and info", function()
    local list = c:call("initiatives.list", { published = true, tags = { "security" } }).initiatives
    assert.same({ "initdeps0001", "initsecrets1" }, ids(list))
    local r = one("initiatives.list", "GET")
    assert.equal("true", q1(r, "published"))
    assert.equal("security", q1(r, "tags"))
    local i = c.initiatives.info { id = "initrunbooks" }.initiative
    assert.equal(0, i.priority)
    assert.equal("alice@example.com", i.owner.email)
  end)

  it("orgfiles: teamHierarchy.preview, .process, .update, .get", function()
    local teams = {
      { reference_id = "ENG", name = "Engineering", team_lead_email = "alice@example.com",
        contributors = { "alice@example.com" } },
      { reference_id = "ENG-NEW", name = "New team", parent_team_reference_id = "ENG",
        parent_team_name = "Engineering", contributors = { "bob@example.com" } },
    }
    assert.matches("^https://", c.orgfiles.teamHierarchy.preview { teams = teams }.preview_url)
    assert.same(teams, body_of(one("orgfiles.teamHierarchy.preview", "POST")).teams)
    local imp = c:call("orgfiles.teamHierarchy.update", { teams = { teams[2] }, force = true }).import
    assert.equal("completed", c.orgfiles.teamHierarchy.get { id = imp.id }.import.status)
    imp = c.orgfiles.teamHierarchy.process { teams = teams }.import
    assert.same({ created = 0, updated = 2, archived = 4, ignored_contributors = 0 }, imp.summary)
    assert.equal(2, #c.teams.list().teams)
  end)

  it("catalog.entities: list, info, create, update, upsert, delete, scorecards, tasks", function()
    local libs = c.catalog.entities.list { type = "library" }.entities
    assert.same({ "http-client", "money-lib" }, ids(libs, "identifier"))
    assert.equal("Payments", c:call("catalog.entities.info", { identifier = "payments-api" }).entity.owner_teams[1].name)
    local e = c.catalog.entities.create { identifier = "billing-api", type = "service", name = "Billing",
                                          owner_team_ids = { "MTAz" } }.entity
    assert.equal("Billing", e.name)
    assert.equal("d", c.catalog.entities.update { identifier = "billing-api", description = "d" }.entity.description)
    assert.equal("updated_existing_entity",
                 c.catalog.entities.upsert { identifier = "billing-api", type = "service", name = "B" }.result)
    assert.equal("created_new_entity",
                 c:call("catalog.entities.upsert", { identifier = "fx-lib", type = "library" }).result)
    assert.equal("billing-api", c.catalog.entities.delete { identifier = "billing-api" }.entity.identifier)
    assert.same({ identifier = "billing-api" }, body_of(one("catalog.entities.delete", "POST")))
    local reps = c.catalog.entities.scorecards { identifier = "payments-api" }.scorecards
    assert.same({ "scprodready1", "scsecurity01" }, ids(reps))
    assert.is_table(c.catalog.entities.tasks { identifier = "payments-api", limit = 5 }.tasks)
  end)

  it("catalog.entityTypes: list, info, create, update, delete", function()
    local types = c.catalog.entityTypes.list {}.entity_types
    assert.same({ "domain", "library", "service" }, ids(types, "identifier"))
    assert.equal("service", c:call("catalog.entityTypes.info", { identifier = "service" }).entity_type.identifier)
    local et = c.catalog.entityTypes.create { identifier = "queue", name = "Queue", properties = {
      { identifier = "broker", name = "Broker", type = "select", definition = { options = { { value = "kafka" } } } } } }
    assert.equal("broker", et.entity_type.properties[1].identifier)
    assert.equal("Queues", c.catalog.entityTypes.update { identifier = "queue", name = "Queues" }.entity_type.name)
    assert.equal("queue", c.catalog.entityTypes.delete { identifier = "queue" }.entity_type.identifier)
  end)

  it("catalog.relations and catalog.relationEdges", function()
    assert.same({ "domain-owns-service", "service-uses-library" }, ids(c.catalog.relations.list {}.relations, "identifier"))
    assert.equal("many_to_many",
                 c:call("catalog.relations.info", { identifier = "service-uses-library" }).relation.cardinality)
    local rel = c.catalog.relations.create { identifier = "svc-consumes-svc", source_entity_type_identifier = "service",
      target_entity_type_identifier = "service", type = "consumes", cardinality = "many_to_one" }.relation
    assert.equal("consumes", rel.type)
    local edge = { relation_identifier = "svc-consumes-svc", source_entity_identifier = "checkout-web",
                   target_entity_identifier = "payments-api" }
    assert.is_true(c.catalog.relationEdges.add(edge).ok)
    assert.same(edge, body_of(one("catalog.relationEdges.add", "POST")))
    assert.is_true(c:call("catalog.relationEdges.remove", edge).ok)
    assert.is_true(c.catalog.relationEdges.bulkUpsert { relation_identifier = "service-uses-library",
                                                         edges = { ["search-api"] = { "http-client", "money-lib" } } }.ok)
    assert.same({ ["search-api"] = { "http-client", "money-lib" } },
                body_of(one("catalog.relationEdges.bulkUpsert", "POST")).edges)
    assert.equal("svc-consumes-svc", c.catalog.relations.delete { identifier = "svc-consumes-svc" }.relation.identifier)
  end)

  it("scorecards: list, info, create, update, delete", function()
    assert.equal(3, #c:call("scorecards.list", { include_unpublished = true }).scorecards)
    assert.equal("true", q1(one("scorecards.list", "GET"), "include_unpublished"))
    assert.equal("LEVEL", c.scorecards.info { id = "scprodready1" }.scorecard.type)
    local sc = c.scorecards.create {
      name = "Docs", type = "LEVEL", entity_filter_type = "entity_types", entity_filter_type_identifiers = { "service" },
      empty_level_label = "None", empty_level_color = "#cccccc",
      levels = { { key = "l1", name = "Basic", color = "#00ff00", rank = 1 } },
      checks = { { name = "Has README", sql = "SELECT 'PASS' AS status", scorecard_level_key = "l1" } },
    }.scorecard
    assert.equal("Basic", sc.checks[1].level.name)
    assert.is_true(c.scorecards.update { id = sc.id, published = true }.scorecard.published)
    assert.is_true(c:call("scorecards.delete", { id = sc.id }).ok)
  end)

  it("auth.info", function()
    local a = c:call("auth.info")
    assert.equal("account_web_api_token", a.auth.token_type)
    assert.is_nil(a.auth.expires_at)
    local p = client { token = "dx-personal-token" }.auth.info {}
    assert.equal("personal_access_token", p.auth.token_type)
    assert.equal("2099-01-01T00:00:00Z", p.auth.expires_at)
  end)

  it("queries.datafeed, with template variables and columns", function()
    local d = c.queries.datafeed { feed_token = "feed-deploys-7d", ["var-repo_name"] = "acme/search-api",
                                   columns = { "repo_name", "success" } }.data
    assert.same({ "repo_name", "success" }, d.columns)
    assert.same({ { "acme/search-api", "true" }, { "acme/search-api", "true" } }, d.rows)
    local r = one("queries.datafeed", "GET")
    assert.equal("repo_name,success", q1(r, "columns"))
    assert.equal("acme/search-api", q1(r, "var-repo_name"))
    assert.equal(1000, #c:call("queries.datafeed", { feed_token = "feed-big-1500" }).data.rows)
  end)

  it("events.track, with an org token and a PlatformX project token", function()
    local ev = { name = "action-executed", timestamp = "1680723287", email = "alice@example.com", metadata = { k = "v" } }
    assert.is_true(c.events.track(ev).ok)
    assert.same(ev, body_of(one("events.track", "POST")))
    assert.is_true(client { token = "dx-platformx-token" }:call("events.track",
      { name = "x", timestamp = 1680723288, github_username = "alice-gh" }).ok)
  end)
end)

describe("dx method names", function()
  it("an unknown name raises kind = argument naming the closest methods, and sends nothing", function()
    local c = client()
    local e = fails(c.call, c, "teams.lst", {})
    assert.equal("argument", e.kind)
    assert.equal("teams.lst", e.method)
    assert.matches("closest: teams.list", e.message, 1, true)
    e = fails(function() return c.catalog.entitys.list {} end)
    assert.equal("argument", e.kind)
    assert.matches("catalog.entities.list", e.message, 1, true)
    e = fails(c.call, c, "workflowRun.trigger", { workflow_identifier = "x" })
    assert.matches("closest: workflowRuns.trigger", e.message, 1, true)
    e = fails(function() return c.studio.queryRuns.exec { sql = "select 1" } end)
    assert.matches("studio.queryRuns.execute", e.message, 1, true)
    assert.equal("argument", fails(c.call, c, 42).kind)
    assert.equal("argument", fails(c.pages, c, "users.lst").kind)
    assert.equal("argument", fails(c.download, c, "snapshots.get_file", { snapshot_id = "x" }, S.tmpdir() .. "/f").kind)
    assert.same({}, recorded())
  end)

  it("the sugar and c:call are the same call", function()
    local c = client()
    local a = c.catalog.entities.list { limit = 2 }
    local b = c:call("catalog.entities.list", { limit = 2 })
    assert.same(a, b)
    local rs = recorded("catalog.entities.list")
    assert.equal(2, #rs)
    assert.same(rs[1].query, rs[2].query)
    assert.matches("^dx method catalog.entities.list: GET", tostring(c.catalog.entities.list))
  end)
end)

describe("dx envelope and statuses", function()
  local c
  before_each(function() c = client() end)

  it("ok == false on a 2xx raises kind = api with the API's code", function()
    S.config("dx", { fail_next = 1, fail_status = 200 })
    local e = fails(c.call, c, "teams.list")
    assert.equal("api", e.kind)
    assert.equal("internal_error", e.code)
    assert.equal(200, e.status)
    assert.equal("teams.list", e.method)
  end)

  it("accepts the documented \"ok\": \"true\" string quirk", function()
    S.config("dx", { string_ok_quirk = true })
    assert.equal("true", c.users.update { email = "bob@example.com" }.ok)
  end)

  it("not_authed: no token in the header", function()
    local e = fails(function() return client { token = " " }.teams.list() end)
    assert.equal("api", e.kind)
    assert.equal("not_authed", e.code)
    assert.equal(401, e.status)
    assert.matches("DX_TOKEN", e.message)
    assert.is_false(e.retryable)
    assert.equal(1, #recorded())
  end)

  it("invalid_auth: a revoked or expired token, or a PlatformX token outside events.track", function()
    for _, tok in ipairs { "dx-revoked-token", "dx-expired-token", "dx-platformx-token", "no-such-token" } do
      local e = fails(function() return client { token = tok }.teams.list() end)
      assert.equal("api", e.kind, tok)
      assert.equal("invalid_auth", e.code, tok)
      assert.equal(401, e.status, tok)
      assert.matches("DX_TOKEN", e.message)
    end
    assert.equal(4, #recorded())   -- not retried
  end)

  it("missing_scope: dx-noscope-token on workflowRuns.trigger", function()
    local nc = client { token = "dx-noscope-token" }
    local e = fails(nc.call, nc, "workflowRuns.trigger", { workflow_identifier = "rotate-secrets" })
    assert.equal("api", e.kind)
    assert.equal("missing_scope", e.code)
    assert.equal(403, e.status)
    assert.equal("workflowRuns.trigger", e.method)
    assert.matches("workflowRuns:trigger", e.message, 1, true)
    assert.equal(1, #recorded("workflowRuns.trigger"))
    assert.equal(5, #nc.teams.list().teams)            -- it keeps its read scopes
  end)

  it("invalid_arguments from the API names the argument", function()
    local e = fails(c.call, c, "workflowRuns.trigger", {}, { unchecked = true })
    assert.equal("invalid_arguments", e.code)
    assert.equal(400, e.status)
    assert.matches("workflow_identifier", e.message)
    e = fails(c.call, c, "workflowRuns.trigger", { workflow_identifier = "deploy-service", data = { version = "1" } })
    assert.equal("invalid_arguments", e.code)
    assert.matches("entity_identifier", e.message)
    e = fails(c.call, c, "teams.info", {})
    assert.matches("team_id", e.message)
    assert.equal(400, e.status)
  end)

  it("maps 404, 409, 422 and 400 answers to kind = api with the API's code", function()
    local cases = {
      { "workflowRuns.info", { id = "nope" }, 404, "not_found" },
      { "catalog.entities.create", { identifier = "payments-api", type = "service" }, 409, "conflict" },
      { "workflowRuns.trigger", { workflow_identifier = "deploy-service", entity_identifier = "payments-api" },
        422, "invalid_payload" },
      { "catalog.relationEdges.add", { relation_identifier = "domain-owns-service", source_entity_identifier = "commerce",
        target_entity_identifier = "http-client" }, 422, "invalid_entity_type" },
      { "catalog.relationEdges.bulkUpsert", { relation_identifier = "service-uses-library",
        edges = { ["payments-api"] = { "a", "b" } } }, 404, "not_found" },
      { "teams.findByMembers", { team_emails = { "ghost@example.com" } }, 400, "no_users_found" },
      { "snapshots.dxiScores", { snapshot_id = "snap2025q1c3" }, 400, "snapshot_not_completed" },
    }
    for _, k in ipairs(cases) do
      local e = fails(c.call, c, k[1], k[2])
      assert.equal("api", e.kind, k[1])
      assert.equal(k[3], e.status, k[1])
      assert.equal(k[4], e.code, k[1])
      assert.equal(k[1], e.method)
      assert.is_false(e.retryable)
      assert.equal(1, e.attempts)
      assert.matches("^api: " .. k[1]:gsub("%.", "%%.") .. " http://.*HTTP " .. k[3] .. ": " .. k[4], tostring(e))
      assert.is_nil(tostring(e):find("\n"))
    end
    assert.equal(#cases, #recorded())
  end)
end)

describe("dx bad input", function()
  local c
  before_each(function() c = client() end)

  it("a missing token names DX_TOKEN", function()
    local r = S.run_script([[require("dx").client():call("teams.list")]], nil,
                           { env = "env -u DX_TOKEN -u DX_API_TOKEN DX_BASE_URL=" .. S.quote(S.fake.dx) })
    assert.equal(1, r.code)
    assert.matches("argument: dx.client: missing token: set DX_TOKEN", r.err, 1, true)
    assert.same({}, recorded())
    local e = fails(dx.client, { token = "" })
    assert.equal("argument", e.kind)
    assert.matches("DX_TOKEN", e.message)
  end)

  it("a revoked token", function()
    local e = fails(function() return client { token = "dx-revoked-token" }.workflowRuns.trigger {
      workflow_identifier = "rotate-secrets" } end)
    assert.equal("invalid_auth", e.code)
    assert.equal(401, e.status)
    assert.matches("revoked", e.message)
    assert.matches("DX_TOKEN", e.message)
  end)

  it("a missing required argument is named, and nothing is sent", function()
    local e = fails(function() return c.workflowRuns.info {} end)
    assert.equal("argument", e.kind)
    assert.equal("workflowRuns.info", e.method)
    assert.matches("missing required argument 'id'", e.message, 1, true)
    e = fails(c.call, c, "catalog.relationEdges.add", { relation_identifier = "r", source_entity_identifier = "s" })
    assert.matches("'target_entity_identifier'", e.message, 1, true)
    e = fails(function() return c.studio.queryRuns.results() end)
    assert.matches("'id'", e.message, 1, true)
    assert.same({}, recorded())
  end)

  it("a wrong-type argument is named, and nothing is sent", function()
    local e = fails(function() return c.catalog.entities.list { limit = "ten" } end)
    assert.equal("argument", e.kind)
    assert.matches("argument 'limit' must be an integer, got string", e.message, 1, true)
    e = fails(function() return c.workflowRuns.changeStatus { workflow_run_id = "x", status = "DONE" } end)
    assert.matches("'status' must be one of SUCCEEDED, FAILED", e.message, 1, true)
    e = fails(function() return c.workflowRuns.trigger { workflow_identifier = "x", data = { 1, 2 } } end)
    assert.matches("'data' must be a table of named fields", e.message, 1, true)
    e = fails(function() return c.scorecards.list { include_unpublished = "yes" } end)
    assert.matches("'include_unpublished' must be a boolean", e.message, 1, true)
    e = fails(function() return c.workflowRuns.trigger { workflow_identifier = "x", data = { f = print } } end)
    assert.equal("argument", e.kind)
    assert.matches("cannot be encoded", e.message, 1, true)
    e = fails(c.call, c, "teams.list", "all")
    assert.matches("arguments must be a table", e.message, 1, true)
    assert.same({}, recorded())
  end)

  it("an HTML 502 page from a proxy", function()
    S.config("dx", { html_502_next = 5 })
    local e = fails(function() return client { retries = 1 }.teams.list() end)
    assert.equal("http", e.kind)
    assert.equal(502, e.status)
    assert.equal(2, e.attempts)                          -- a GET: retried once, as allowed
    assert.matches("an HTML page (text/html): 502 Bad Gateway", e.message, 1, true)
    assert.is_nil(tostring(e):find("<html>", 1, true))
    -- a POST is not retried on a 5xx
    S.reset("dx")
    S.config("dx", { html_502_next = 1 })
    e = fails(function() return c.workflowRuns.trigger { workflow_identifier = "rotate-secrets" } end)
    assert.equal(502, e.status)
    assert.equal(1, #recorded("workflowRuns.trigger"))
  end)

  it("a 2xx answer that is not valid JSON", function()
    S.config("dx", { bad_json_next = 1 })
    local e = fails(function() return c.teams.list() end)
    assert.equal("decode", e.kind)
    assert.equal(200, e.status)
    assert.equal("teams.list", e.method)
    assert.matches("not a JSON object", e.message, 1, true)
  end)

  it("a redirect loop", function()
    S.config("dx", { redirect_loop = "teams.list" })
    local e = fails(function() return c.teams.list() end)
    assert.equal("http", e.kind)
    assert.equal(302, e.status)
    assert.matches("redirected to http://.*/teams%.list", e.message)
    assert.matches("DX_BASE_URL", e.message)
    assert.equal(1, #recorded("teams.list"))             -- not followed, so not sent again
  end)
end)
