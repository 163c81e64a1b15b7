-- The dx-deploy recipe: reports a deployment to the Data Cloud API (deployments.upsert) with
-- options made from the method's declared arguments; --dry-run prints the request with the
-- token masked and sends nothing; missing configuration is a usage error before any request.
local json = require "autolua.json"
local S = require "support"

local TOKEN = "dx-test-token"

local function env(extra)
  return ("DX_TOKEN=%s DX_DATACLOUD_URL=%s %s"):format(TOKEN, S.quote(S.fake.dx_datacloud), extra or "")
end

local function deploy(args, e)
  local a = { "recipe", "dx-deploy" }
  for _, x in ipairs(args) do a[#a + 1] = x end
  return S.run(a, { env = e or env() })
end

local function recorded() return S.requests("dx_datacloud") end

before_each(function() S.reset("dx_datacloud") end)

describe("dx-deploy", function()
  it("reports a deployment with the options given, and a re-run updates the same one", function()
    local r = deploy { "--reference-id", "ci-77", "--service", "payments-api", "--repository", "acme/payments-api",
                       "--commit-sha", "abc1234", "--environment", "staging", "--metadata", '{"pipeline": 9}',
                       "--deployed-at", "2025-03-01T10:00:00Z", "--json" }
    assert.equal(0, r.code, r.err)
    local s = json.decode(r.out)
    assert.same({ "ci-77", "payments-api", "staging", true }, { s.reference_id, s.service, s.environment, s.success })
    local rs = recorded()
    assert.equal(1, #rs)
    assert.equal("/api/deployments.upsert", rs[1].path)
    assert.equal("Bearer " .. TOKEN, rs[1].headers.authorization)
    assert.same({ reference_id = "ci-77", service = "payments-api", repository = "acme/payments-api",
                  commit_sha = "abc1234", environment = "staging", metadata = { pipeline = 9 },
                  deployed_at = "2025-03-01T10:00:00Z" }, json.decode(rs[1].body))
    r = deploy { "--reference-id", "ci-77", "--success", "false", "--merge-commit-shas", "abc1234, def5678" }
    assert.equal(0, r.code, r.err)
    assert.matches("deployment ci-77 reported (payments-api, staging, failed)", r.err, 1, true)   -- the summary line goes to stderr
    assert.same({ "abc1234", "def5678" }, json.decode(recorded()[2].body).merge_commit_shas)
  end)

  it("takes its options from the method's declared arguments", function()
    local r = deploy { "--help" }
    assert.equal(0, r.code)
    local spec = require("dx.methods")["deployments.upsert"][2]
    for _, a in ipairs(require("autolua.decl").parse(spec)) do
      assert.matches("--" .. a.name:gsub("_", "-") .. " ", r.out, 1, true)
    end
    assert.matches("--dry-run", r.out, 1, true)
  end)

  it("--dry-run prints the request with the token masked, and sends nothing", function()
    local r = deploy { "--reference-id", "d-1", "--service", "s", "--repository", "acme/s", "--dry-run" }
    assert.equal(0, r.code, r.err)
    assert.matches("POST " .. S.fake.dx_datacloud .. "/api/deployments.upsert", r.out, 1, true)
    assert.matches("Authorization: Bearer ***", r.out, 1, true)
    assert.matches('"reference_id":"d-1"', r.out, 1, true)
    assert.is_nil(r.out:find(TOKEN, 1, true))
    assert.is_nil(r.err:find(TOKEN, 1, true))
    r = deploy { "--reference-id", "d-1", "--dry-run", "--json" }
    assert.equal(0, r.code, r.err)
    local s = json.decode(r.out)
    assert.is_true(s.dry_run)
    assert.equal("d-1", s.body.reference_id)
    assert.equal("Bearer ***", s.headers.Authorization)
    assert.same({}, recorded())
  end)

  it("missing configuration or a bad value is a usage error before any request", function()
    local r = deploy({ "--reference-id", "x" }, ("env -u DX_DATACLOUD_URL DX_TOKEN=%s"):format(TOKEN))
    assert.equal(2, r.code)
    assert.matches("DX_DATACLOUD_URL", r.err, 1, true)
    r = deploy({ "--reference-id", "x" }, ("env -u DX_TOKEN -u DX_API_TOKEN DX_DATACLOUD_URL=%s"):format(S.quote(S.fake.dx_datacloud)))
    assert.equal(2, r.code)
    assert.matches("DX_TOKEN", r.err, 1, true)
    r = deploy { "--service", "s" }
    assert.equal(2, r.code)
    assert.matches("--reference-id", r.err, 1, true)
    r = deploy { "--reference-id", "x", "--success", "maybe" }
    assert.equal(2, r.code)
    r = deploy { "--reference-id", "x", "--metadata", "[1, 2]" }
    assert.equal(2, r.code)
    assert.same({}, recorded())
  end)
end)
