-- autolua.dryrun: the first request a job would send, caught at the request pipeline both API
-- clients share, described with its secrets masked; nothing sent, the job stopped there.
local S = require "support"
local json = require "autolua.json"
local dryrun = require "autolua.dryrun"
local pipeline = require "autolua.client"
local dexi = require "dexi"

-- The job: one call through the pipeline, looked up when it runs (as the clients do).
local function job(req, p) return pipeline.send(req, p) end

local P = { name = "probe", retries = 0, fail = function() return { kind = "api", message = "failed" } end }

describe("autolua.dryrun", function()
  before_each(function()
    S.reset("misc")
    S.reset("dexi")
  end)

  it("catches a client's first request, masks its key, stops the job there and sends nothing", function()
    local c = dexi.client { account = "acc-test", api_key = "key-test", base_url = S.fake.dexi }
    local after = false
    local shown = dryrun.run(function()
      c.executions.get("exec-1")
      after = true
    end)
    assert.is_false(after)
    assert.equal(1, #shown)
    assert.equal("GET", shown[1].method)
    assert.matches("/executions/exec%-1$", shown[1].url)
    local headers = table.concat(shown[1].headers, "\n")
    assert.matches("X%-DexiIO%-Access: %*%*%*", headers)
    assert.matches("X%-DexiIO%-Account: acc%-test", headers)
    assert.not_matches(require("autolua.digest").md5("acc-testkey-test"), json.encode(shown))
    assert.equal(0, #S.requests("dexi"))
  end)

  it("describes method, sorted escaped query, headers by name with secrets masked, and the JSON body", function()
    local shown = dryrun.run(job, {
      method = "POST", url = S.url("misc", "/echo?fixed=1"),
      query = { zeta = "a b", alpha = "&", api_key = "s3cret" },
      headers = { Authorization = "Bearer tok-123", Cookie = "sid=tok-456", ["X-Api-Key"] = "tok-789",
                  ["Proxy-Authorization"] = "Basic tok-000", Accept = "application/json" },
      json = { n = 1 },
    }, P)
    assert.equal(1, #shown)
    local r = shown[1]
    assert.equal("POST", r.method)
    assert.matches("/echo%?fixed=1&alpha=%%26&api_key=[^&]*&zeta=a%%20b$", r.url)
    assert.same({ "Accept: application/json", "Authorization: Bearer ***", "Cookie: ***",
                  "Proxy-Authorization: Basic ***", "X-Api-Key: ***", "Content-Type: application/json" }, r.headers)
    assert.equal('{"n":1}', r.body)
    assert.not_matches("tok%-", json.encode(shown))
    assert.not_matches("s3cret", json.encode(shown))
    assert.equal(0, #S.requests("misc"))
  end)

  it("starts the query with '?' on a URL without one, and keeps a raw body as it is", function()
    local r = dryrun.run(job, { method = "PUT", url = S.url("misc", "/echo"), query = { b = 2, a = 1 },
                                          body = "raw text" }, P)[1]
    assert.matches("/echo%?a=1&b=2$", r.url)
    assert.equal("raw text", r.body)
    assert.same({}, r.headers)
    assert.equal("[]", json.encode(r.headers))   -- a JSON array even when empty
    r = dryrun.run(job, { url = S.url("misc", "/echo") }, P)[1]
    assert.equal("GET", r.method)
    assert.is_nil(r.body)
  end)

  it("puts the pipeline back after a run, whether the job was stopped, ended, or failed", function()
    local send = pipeline.send
    dryrun.run(job, { url = S.url("misc", "/echo") }, P)
    assert.equal(send, pipeline.send)
    assert.same({}, dryrun.run(function() return 1 end))
    assert.equal(send, pipeline.send)
    local boom = { kind = "argument", message = "bad input" }
    local ok, err = pcall(dryrun.run, function() error(boom, 0) end)
    assert.is_false(ok)
    assert.equal(boom, err)                -- the job's own error, unchanged
    assert.equal(send, pipeline.send)
    local res = pipeline.send({ url = S.url("misc", "/echo") }, P)
    assert.equal(200, res.status)          -- and it sends again
    assert.equal(1, #S.requests("misc"))
  end)

  it("summarises: the requests and what follows as text, or only in the --json summary", function()
    local r = S.run_script([[
      local dryrun = require "autolua.dryrun"
      local reqs = { { method = "POST", url = "http://h/x", headers = { "A: 1", "B: ***" }, body = "{}" },
                     { method = "GET", url = "http://h/y", headers = {} } }
      local s = dryrun.summary({}, reqs, "poll it")
      io.stderr:write(s.line, "|", tostring(s.dry_run), "|", s.after, "|", #s.requests, "\n")
      s = dryrun.summary({ json = true }, { reqs[1] })
      io.stderr:write(s.line, "|", tostring(s.after), "\n")
    ]])
    assert.equal(0, r.code, r.err)
    assert.equal("POST http://h/x\n  A: 1\n  B: ***\n  {}\nGET http://h/y\nthen: poll it\n", r.out)
    assert.equal("dry run: 2 requests shown, none sent|true|poll it|2\ndry run: 1 request shown, none sent|nil\n", r.err)
  end)
end)
