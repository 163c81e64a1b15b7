-- DX arguments checked against each method's declaration before anything is sent (unknown
-- names, required ones, the unchecked escape), dot and colon mistakes, what a method shows
-- when printed or passed to help(), and the Data Cloud API on its own host.
local dx = require "dx"
local json = require "autolua.json"
local S = require "support"

local D = require "dx_support"
local client, recorded, fails = D.client, D.recorded, S.fails

before_each(function()
  S.reset("dx")
  S.reset("dx_datacloud")
end)

describe("dx argument names", function()
  it("an unknown argument is kind = argument naming the closest declared one, and nothing is sent", function()
    local c = client()
    local e = fails(function() return c.catalog.entities.list { tpye = "library" } end)
    assert.equal("argument", e.kind)
    assert.equal("catalog.entities.list", e.method)
    assert.equal("tpye", e.argument)
    assert.matches("unknown argument 'tpye' (did you mean 'type'?)", e.message, 1, true)
    e = fails(function() return c.workflowRuns.trigger { workflow_identifer = "rotate-secrets" } end)
    assert.matches("did you mean 'workflow_identifier'", e.message, 1, true)
    e = fails(c.call, c, "teams.list", { zzz = 1 })
    assert.matches("unknown argument 'zzz' (it takes none)", e.message, 1, true)
    e = fails(c.call, c, "users.list", { qqqq_qqqq = 1 })
    assert.matches("(it takes: page, page_size)", e.message, 1, true)
    assert.same({}, recorded())
  end)

  it("a missing required argument, or none of a required pair, is refused before sending", function()
    local c = client()
    local e = fails(function() return c.workflowRuns.trigger {} end)
    assert.equal("argument", e.kind)
    assert.matches("one of 'workflow_identifier', 'workflow_run_identifier'", e.message, 1, true)
    e = fails(function() return c.events.track { name = "x", timestamp = "1680723287" } end)
    assert.matches("one of 'email', 'github_username', 'gitlab_username'", e.message, 1, true)
    e = fails(function() return c.workflowRuns.postMessage { workflow_run_id = "abc" } end)
    assert.equal("message", e.argument)
    assert.same({}, recorded())
    -- the documented alternative spelling is still accepted
    assert.is_string(c.workflowRuns.trigger { workflow_run_identifier = "rotate-secrets" }.workflow_run.id)
  end)

  it("template variables of queries.datafeed (var-NAME) are declared as a family", function()
    local c = client()
    local r = c.queries.datafeed { feed_token = "feed-deploys-7d", ["var-repo_name"] = "payments-api" }
    assert.is_true(r.ok)
    assert.equal("argument", fails(c.call, c, "queries.datafeed", { feed_token = "x", ["var-"] = "y" }).kind)
  end)

  it("{unchecked = true} sends names the declarations do not know, still checking the declared types", function()
    local c = client()
    local r = c:call("catalog.entities.list", { limit = 2, brand_new_filter = "x" }, { unchecked = true })
    assert.is_true(r.ok)
    local sent = recorded("catalog.entities.list")[1]
    assert.same({ "x" }, sent.query.brand_new_filter)
    -- a required argument left out reaches the server, which answers for itself
    local e = fails(c.call, c, "workflowRuns.trigger", {}, { unchecked = true })
    assert.equal("invalid_arguments", e.code)
    assert.equal(2, #recorded())
    -- types are still checked, and the option table itself is checked by name
    assert.equal("argument", fails(c.call, c, "catalog.entities.list", { limit = "ten" }, { unchecked = true }).kind)
    e = fails(c.call, c, "teams.list", {}, { uncheked = true })
    assert.matches("did you mean 'unchecked'", e.message, 1, true)
    assert.equal(2, #recorded())
  end)

  it("the options of c:query and c:wait_workflow_run are checked by name too", function()
    local c = client()
    local e = fails(c.query, c, "select 1", { timout = 5 })
    assert.matches("did you mean 'timeout'", e.message, 1, true)
    e = fails(c.wait_workflow_run, c, "abc", { on_stauts = print })
    assert.matches("did you mean 'on_status'", e.message, 1, true)
    assert.same({}, recorded())
  end)
end)

describe("dx c:preview", function()
  it("shows the request c:call would send, checked, with the token masked, and sends nothing", function()
    local c = client()
    local r = c:preview("catalog.entities.list", { limit = 2, type = "service" })
    assert.equal("GET", r.method)
    assert.equal(S.fake.dx .. "/catalog.entities.list?limit=2&type=service", r.url)
    assert.equal("Bearer ***", r.headers.Authorization)
    assert.is_nil(r.body)
    r = c:preview("workflowRuns.trigger", { workflow_identifier = "w", data = { v = "1" } })
    assert.same({ workflow_identifier = "w", data = { v = "1" } }, json.decode(r.body))
    assert.equal("argument", fails(c.preview, c, "workflowRuns.trigger", { workflow_identifer = "w" }).kind)
    assert.same({}, recorded())
  end)
end)

describe("dx dot and colon", function()
  it("c.teams:list{} is named as a colon call, with the right form, and nothing is sent", function()
    local c = client()
    local e = fails(function() return c.teams:list {} end)
    assert.equal("argument", e.kind)
    assert.matches("called with a colon", e.message, 1, true)
    assert.matches("c.teams.list{...}", e.message, 1, true)
    e = fails(function() return c.catalog.entities:list { type = "library" } end)
    assert.matches("c.catalog.entities.list{...}", e.message, 1, true)
    e = fails(function() return c.teams.list(c, {}) end)
    assert.matches("c.teams.list{...}", e.message, 1, true)
    e = fails(function() return c.teams.info({}, {}) end)
    assert.matches("takes one table of arguments", e.message, 1, true)
    assert.same({}, recorded())
  end)

  it("c.call(...) and friends with a dot name the colon form", function()
    local c = client()
    for _, f in ipairs { "call", "pages", "each", "query", "download", "wait_workflow_run", "preview" } do
      local e = fails(c[f], "teams.list", {})
      assert.equal("argument", e.kind, f)
      assert.matches("write c:" .. f .. "(...)", e.message, 1, true)
    end
    assert.same({}, recorded())
  end)
end)

describe("dx fields, printing and help", function()
  it("unknown fields that are not method families are nil", function()
    local c = client()
    assert.is_nil(c.token)
    assert.is_nil(c.secret)
    assert.is_nil(rawget(c, "token"))
    assert.is_not_nil(c.teams)
    assert.is_not_nil(c.studio.queryRuns)
    assert.is_function(c.call)
  end)

  it("printing a method shows its verb, scope, arguments, types and which are required", function()
    local c = client()
    local s = tostring(c.workflowRuns.trigger)
    assert.matches("dx method workflowRuns.trigger: POST", s, 1, true)
    assert.matches("scope: workflowRuns:trigger", s, 1, true)
    assert.matches("workflow_identifier%s+string%s+required: one of workflow_identifier, workflow_run_identifier", s)
    assert.matches("data%s+table", s)
    assert.matches("notify_approvers%s+boolean", s)
    s = tostring(c.workflowRuns.changeStatus)
    assert.matches("status%s+SUCCEEDED|FAILED%s+required", s)
    assert.matches("scope: workflowRuns:writeEvents", s, 1, true)
    s = tostring(c.snapshots.getFile)
    assert.matches("scope: snapshots:admin and snapshots:read", s, 1, true)
    assert.matches("scope: workflowRuns:read or workflowRuns:trigger or workflowRuns:writeEvents", tostring(c.workflowRuns.info), 1, true)
    assert.matches("dx method family studio: queryRuns", tostring(c.studio), 1, true)
    assert.matches("no method catalog.entitys.list (closest: catalog.entities.list", tostring(c.catalog.entitys.list), 1, true)
  end)

  it("help(method) prints the same, and help works from -e", function()
    local r = S.run({ "-e", [[help(require("dx").client{token = "t"}.workflowRuns.trigger)]] })
    assert.equal(0, r.code, r.err)
    assert.matches("dx method workflowRuns.trigger: POST", r.out, 1, true)
    assert.matches("notify_approvers", r.out, 1, true)
    r = S.run({ "-e", [[help(require("dexi").client{account = "a", api_key = "k"}.runs.list)]] })
    assert.equal(0, r.code, r.err)
    assert.matches("dexi client.runs.list(opts): GET runs", r.out, 1, true)
    assert.matches("GET runs", r.out, 1, true)
    assert.matches("robot_id", r.out, 1, true)
  end)
end)

describe("dx Data Cloud API", function()
  local function dc_client(o)
    o = o or {}
    o.datacloud_url = o.datacloud_url or S.fake.dx_datacloud
    return client(o)
  end

  it("deployments and incidents go to the instance host under /api/, with the same token", function()
    local c = dc_client()
    local d = c.deployments.create { reference_id = "ci-42", service = "payments-api", deployed_at = 1700000000,
                                     repository = "acme/payments-api", commit_sha = "abc1234" }.deployment
    assert.equal("payments-api", d.service.identifier)
    assert.is_false(c.deployments.update { reference_id = "ci-42", success = false }.deployment.success)
    assert.equal("staging", c.deployments.upsert { reference_id = "ci-42", environment = "staging" }.deployment.environment)
    assert.equal("p1", c.incidents.upsert { reference_id = "i-1", started_at = "2025-01-01T00:00:00Z",
                                            priority = "p1" }.incident.priority)
    local rs = recorded(nil, "dx_datacloud")
    assert.equal(4, #rs)
    assert.equal("/api/deployments.create", rs[1].path)
    assert.equal("Bearer " .. D.TOKEN, rs[1].headers.authorization)
    assert.same({}, recorded())                                  -- nothing went to the Web API host
    local e = fails(c.call, c, "deployments.update", { reference_id = "nope" })
    assert.equal("deployment_not_found", e.code)
  end)

  it("takes DX_DATACLOUD_URL, with or without /api", function()
    local code = [[
      local c = require("dx").client { token = "dx-test-token" }
      return c.deployments.upsert { reference_id = "env-1", service = "s", deployed_at = "2025-01-01T00:00:00Z",
                                     merge_commit_shas = { "abc1234" } }.deployment.reference_id]]
    for _, url in ipairs { S.fake.dx_datacloud, S.fake.dx_datacloud .. "/api/" } do
      local r = S.run({ "-e", code }, { env = "DX_DATACLOUD_URL=" .. S.quote(url) })
      assert.equal(0, r.code, r.err)
      assert.matches("env%-1", r.out)
    end
  end)

  it("without a Data Cloud URL, says how to set one, and sends nothing", function()
    local c = client()
    local e = fails(function() return c.deployments.create { reference_id = "x", service = "s", deployed_at = 1 } end)
    assert.equal("argument", e.kind)
    assert.matches("DX_DATACLOUD_URL", e.message, 1, true)
    assert.matches("datacloud_url", e.message, 1, true)
    e = fails(function() return dc_client().deployments.create { reference_id = "x" } end)
    assert.equal("service", e.argument)
    assert.same({}, recorded(nil, "dx_datacloud"))
    assert.equal("argument", fails(dx.client, { token = "t", datacloud_url = "acme.getdx.net" }).kind)
  end)
end)

