-- The dexi client against the fake Dexi API (tests/fake_api/dexi.py): every endpoint, auth,
-- paging, downloads, limits and retries, waiting, and every kind of bad input. Each spec checks
-- what the fake recorded (method, path, query, headers, body), not only what came back.
local dexi = require "dexi"
local task = require "autolua.task"
local json = require "autolua.json"
local digest = require "autolua.digest"
local pretty = require "autolua.pretty"
local pipeline = require "autolua.client"
local S = require "support"

-- The fake's seed (see tests/fake_api/dexi_data.py).
local ACCOUNT, KEY = "acc-test", "key-test"
local ACCESS = "a4163f4200fc538d36f979892ebea9d5"          -- md5("acc-testkey-test"), lowercase hex
local ROBOT_STAGS = "10000000-0000-4000-8000-000000000001"
local RUN_STAGS = "27c719bb-f28f-49f5-aedf-dba2f8e60ba3"      -- 2 stored inputs {url = ...}
local RUN_HISTORY = "20000000-0000-4000-8000-000000000002"    -- 250 executions
local RUN_FAIL = "20000000-0000-4000-8000-000000000004"
local EXEC_STAGS = "3a8ea1f2-6781-4371-841f-66f6210a27b9"      -- OK, 8 headers, 1 row
local EXEC_FILES = "ae101b8f-1326-451c-ada7-3eab3c0f8a91"      -- OK, the file-pointer cases
local EXEC_FAILED = "30000000-0000-4000-8000-000000000001"
local EXEC_STOPPED = "30000000-0000-4000-8000-000000000002"
local EXEC_RUNNING = "30000000-0000-4000-8000-000000000003"
local DATASET = "40000000-0000-4000-8000-000000000001"         -- 450 rows
local FILE_LOWER = "11fed7f0-a508-4dc8-956a-481535c6f88a"      -- image/png, 26071 bytes
local FILE_UPPER = "6F0C4A2E-3B5D-4C1E-9A7B-2D8E5F1A0C93"      -- image/png, 432123 bytes
local FILES_PATH = "accounts/acc-test/robots/10000000-0000-4000-8000-000000000002/runs/"
  .. "20000000-0000-4000-8000-000000000003/executions/" .. EXEC_FILES
  .. "/results/50000000-0000-4000-8000-0000000000aa/lines/"
local FILE_PATH = FILES_PATH .. "50000000-0000-4000-8000-0000000000b1/ImageFile"       -- jpeg, 2974
local FILE_ODD = "legacy-store/" .. FILES_PATH .. "50000000-0000-4000-8000-0000000000b2/Image File+1"
local PNG = "\x89PNG\r\n\x1a\n"
local UNKNOWN = "99999999-0000-4000-8000-000000000000"

local function client(o)
  local opts = { account = ACCOUNT, api_key = KEY, base_url = S.fake.dexi, backoff = { base = 0.01, cap = 0.05 } }
  for k, v in pairs(o or {}) do opts[k] = v end
  return dexi.client(opts)
end

-- A new account on the fake, so limiter state (shared per account in this process) starts clean.
local accounts = 0
local function fresh_account()
  accounts = accounts + 1
  local id, key = ("acc-spec-%d"):format(accounts), ("key-spec-%d"):format(accounts)
  S.config("dexi", { accounts = { [id] = key } })
  return id, key
end

-- The recorded requests, optionally only those with this method and exact path.
local function requests(method, path)
  local out = {}
  for _, r in ipairs(S.requests("dexi")) do
    if (not method or r.method == method) and (not path or r.path == path) then out[#out + 1] = r end
  end
  return out
end

local function only_request()
  local all = S.requests("dexi")
  assert.equal(1, #all, "expected exactly one request, got " .. #all)
  return all[1]
end

local function statuses(list)
  local out = {}
  for i, r in ipairs(list) do out[i] = r.status end
  return out
end

local function body_of(r) return json.decode(r.body) end

local fails = S.fails

local function file_size(path)
  local f = assert(io.open(path, "rb"))
  local n = f:seek("end")
  f:close()
  return n
end

local function rmdir(dir) os.execute("rm -rf " .. S.quote(dir)) end

-- The files in a download directory, without its record of what came from where.
local RECORD = ".autolua-downloads.json"
local function downloaded(dir)
  local names = {}
  for _, n in ipairs(S.ls(dir)) do if n ~= RECORD then names[#names + 1] = n end end
  table.sort(names)
  return names
end

local function no_secret(text, ...)
  for _, secret in ipairs { KEY, ACCESS, ... } do
    assert.is_nil(text:find(secret, 1, true), "a secret shows in: " .. text)
  end
end

describe("dexi", function()
  before_each(function() S.reset("dexi") end)

  describe("client and auth", function()
    it("sends the account, the lowercase md5 access hash, JSON headers and the User-Agent", function()
      local c = client()
      assert.equal("stags", c.robots.get(ROBOT_STAGS).name)
      local r = only_request()
      assert.equal("GET", r.method)
      assert.equal("/robots/" .. ROBOT_STAGS, r.path)
      assert.equal(ACCOUNT, r.headers["x-dexiio-account"])
      assert.equal(ACCESS, r.headers["x-dexiio-access"])
      assert.equal(digest.md5(ACCOUNT .. KEY), r.headers["x-dexiio-access"])
      assert.matches("^[0-9a-f]+$", r.headers["x-dexiio-access"])
      assert.equal(32, #r.headers["x-dexiio-access"])
      assert.equal("application/json", r.headers["accept"])
      assert.equal("application/json", r.headers["content-type"])
      assert.matches("^autolua/%d+%.%d+", r.headers["user-agent"])
    end)

    it("sends the auth headers with every kind of call", function()
      local c = client()
      c.runs.execute_with_input(RUN_STAGS, { url = "x" })
      c.robots.update { _id = ROBOT_STAGS, name = "stags" }
      c.executions.remove(EXEC_FAILED)
      c.datasets.rows(DATASET, { limit = 1 })
      c.files.get(FILE_LOWER)
      local dir = S.tmpdir()
      c:download(FILE_LOWER, dir, { execution = EXEC_FILES })
      rmdir(dir)
      local recs = S.requests("dexi")
      assert.equal(6, #recs)
      for _, r in ipairs(recs) do
        assert.equal(ACCOUNT, r.headers["x-dexiio-account"], r.path)
        assert.equal(ACCESS, r.headers["x-dexiio-access"], r.path)
        assert.equal(200, r.status, r.path)
      end
      assert.equal("application/json", recs[1].headers["content-type"])
      assert.equal("application/json", recs[2].headers["content-type"])
    end)

    it("has the documented defaults", function()
      local c = client()
      assert.same({ get = 75, write = 15, file = 15 }, c.limits)
      assert.equal(5, c.retries)
      assert.equal((S.fake.dexi:gsub("/*$", "/")), c.base_url)
      local bare = client { base_url = (S.fake.dexi:gsub("/+$", "")) }
      assert.equal(c.base_url, bare.base_url)
      bare.robots.get(ROBOT_STAGS)
      assert.equal("/robots/" .. ROBOT_STAGS, only_request().path)
    end)

    it("takes account, key and base URL from the environment", function()
      local r = S.run_script([[
        local c = require("dexi").client()
        print(c.robots.get("]] .. ROBOT_STAGS .. [[").name)
      ]], nil, { env = ("env DEXI_ACCOUNT=%s DEXI_API_KEY=%s DEXI_BASE_URL=%s"):format(
        ACCOUNT, KEY, S.quote((S.fake.dexi:gsub("/+$", "")))) })
      assert.equal(0, r.code, r.err)
      assert.equal("stags\n", r.out)
      local rec = only_request()
      assert.equal(ACCESS, rec.headers["x-dexiio-access"])
    end)

    it("missing credentials: a clear argument error naming both variables, nothing sent", function()
      local r = S.run_script([[
        local dexi = require "dexi"
        local ok, err = pcall(dexi.client)
        print(ok, err.kind)
        ok, err = pcall(dexi.client, { account = "acc-test" })
        print(ok, err.kind)
        ok, err = pcall(dexi.client, { api_key = "key-test" })
        print(ok, err.kind)
        dexi.client()
      ]], nil, { env = "env -u DEXI_ACCOUNT -u DEXI_API_KEY DEXI_BASE_URL=" .. S.quote(S.fake.dexi) })
      assert.equal(1, r.code)
      assert.equal("false\targument\nfalse\targument\nfalse\targument\n", r.out)
      assert.matches("DEXI_ACCOUNT", r.err)
      assert.matches("DEXI_API_KEY", r.err)
      assert.matches("credentials", r.err)
      assert.same({}, S.requests("dexi"))
    end)

    it("401: kind api at once, saying the credentials were refused, with no secret", function()
      local c = client { api_key = "wrong-key" }
      local err = fails(c.robots.get, ROBOT_STAGS)
      assert.equal("api", err.kind)
      assert.equal(401, err.status)
      assert.equal(1, err.attempts)
      assert.is_false(err.retryable)
      assert.matches("refused the credentials", err.message)
      assert.matches("DEXI_API_KEY", err.message)
      assert.equal(1, #S.requests("dexi"))
      local wrong = digest.md5(ACCOUNT .. "wrong-key")
      no_secret(tostring(err), "wrong-key", wrong)
      no_secret(pretty.format(err, { secrets = false }), "wrong-key", wrong)
      -- a POST is refused the same way
      err = fails(c.runs.execute, RUN_STAGS)
      assert.equal(401, err.status)
      assert.equal(1, err.attempts)
    end)

    it("403: the same as 401, never retried", function()
      S.config("dexi", { fault = { kind = "403", count = -1 } })
      local c = client()
      local err = fails(c.executions.get, EXEC_STAGS)
      assert.equal("api", err.kind)
      assert.equal(403, err.status)
      assert.equal(1, err.attempts)
      assert.matches("refused the credentials", err.message)
      assert.equal(1, #S.requests("dexi"))
      no_secret(tostring(err))
    end)

    it("never shows the key or the access hash in tostring, pretty-printing or errors", function()
      local c = client()
      assert.matches("acc%-test", tostring(c))
      no_secret(tostring(c))
      no_secret(pretty.format(c))
      no_secret(pretty.format(c, { secrets = false, depth = 20, width = 10000 }))
      local err = fails(c.executions.get, UNKNOWN)
      no_secret(tostring(err))
      no_secret(pretty.format(err, { secrets = false }))
    end)

    it("never logs the key or the access hash, even at debug level", function()
      local code = [[
        local dexi = require "dexi"
        local c = dexi.client { backoff = { base = 0.01, cap = 0.02 } }
        c.robots.get("]] .. ROBOT_STAGS .. [[")
        print(pcall(c.executions.get, "]] .. UNKNOWN .. [["))
        local bad = dexi.client { api_key = "wrong-key" }
        print(pcall(bad.robots.get, "]] .. ROBOT_STAGS .. [["))
        print(c, bad)
      ]]
      local env = ("env DEXI_ACCOUNT=%s DEXI_API_KEY=%s DEXI_BASE_URL=%s AUTOLUA_LOG=debug"):format(
        ACCOUNT, KEY, S.quote(S.fake.dexi))
      for _, format in ipairs { "text", "json" } do
        local r = S.run_script(code, nil, { env = env .. " AUTOLUA_LOG_FORMAT=" .. format })
        assert.equal(0, r.code, r.err)
        assert.matches("request", r.err)         -- debug lines were written
        local wrong = digest.md5(ACCOUNT .. "wrong-key")
        no_secret(r.err, "wrong-key", wrong)
        no_secret(r.out, "wrong-key", wrong)
      end
    end)
  end)

  describe("client:request", function()
    it("sends method, path, query and JSON body and decodes the answer", function()
      local c = client()
      assert.equal("stags", c:request("GET", "robots/" .. ROBOT_STAGS).name)
      assert.equal("stags", c:request("get", "/robots/" .. ROBOT_STAGS).name)
      local run = c:request("post", "runs", { query = { robotId = ROBOT_STAGS }, json = { name = "via request" } })
      assert.equal("via request", run.name)
      assert.equal(ROBOT_STAGS, run.robotId)
      local recs = S.requests("dexi")
      assert.equal(3, #recs)
      assert.equal("/robots/" .. ROBOT_STAGS, recs[2].path)
      assert.equal("POST", recs[3].method)
      assert.equal("/runs", recs[3].path)
      assert.same({ robotId = { ROBOT_STAGS } }, recs[3].query)
      assert.same({ name = "via request" }, body_of(recs[3]))
    end)

    it("treats an empty 2xx body as success", function()
      local c = client()
      assert.is_true(c:request("DELETE", "executions/" .. EXEC_FAILED))
      local r = only_request()
      assert.equal("DELETE", r.method)
      assert.equal("/executions/" .. EXEC_FAILED, r.path)
    end)

    it("applies the error handling of every call", function()
      local err = fails(client().request, client(), "GET", "no/such/path")
      assert.equal("api", err.kind)
      assert.equal(404, err.status)
    end)
  end)

  describe("robots", function()
    it("create, get, update, remove", function()
      local c = client()
      local def = { name = "spec robot", type = "SCRAPER", input = { url = "string" } }
      local robot = c.robots.create(def)
      assert.is_string(robot._id)
      assert.equal("spec robot", robot.name)
      local r = only_request()
      assert.equal("POST", r.method)
      assert.equal("/robots", r.path)
      assert.same(def, body_of(r))

      S.reset("dexi")
      robot = c.robots.create(def)
      assert.equal("spec robot", c.robots.get(robot._id).name)
      local updated = c.robots.update { _id = robot._id, name = "renamed" }
      assert.equal("renamed", updated.name)
      assert.equal("renamed", c.robots.get(robot._id).name)
      assert.is_true(c.robots.remove(robot._id))
      local err = fails(c.robots.get, robot._id)
      assert.equal(404, err.status)
      local recs = S.requests("dexi")
      assert.same({ "POST", "GET", "PUT", "GET", "DELETE", "GET" },
        { recs[1].method, recs[2].method, recs[3].method, recs[4].method, recs[5].method, recs[6].method })
      assert.equal("/robots/" .. robot._id, recs[2].path)
      assert.equal("/robots", recs[3].path)
      assert.same({ _id = robot._id, name = "renamed" }, body_of(recs[3]))
      assert.equal("/robots/" .. robot._id, recs[5].path)
    end)
  end)

  describe("runs", function()
    it("list, with robot_id, offset and limit", function()
      local c = client()
      local page = c.runs.list()
      assert.equal(234, page.totalRows)
      assert.equal(30, #page.rows)                      -- the server's default page
      assert.same({}, only_request().query)
      S.reset("dexi")
      page = c.runs.list { robot_id = ROBOT_STAGS, offset = 1, limit = 2 }
      assert.equal(3, page.totalRows)
      assert.equal(1, page.offset)
      assert.equal(2, #page.rows)
      local r = only_request()
      assert.equal("/runs", r.path)
      assert.same({ robotId = { ROBOT_STAGS }, offset = { "1" }, limit = { "2" } }, r.query)
    end)

    it("save (create and update), get, remove", function()
      local c = client()
      local run = c.runs.save { robotId = ROBOT_STAGS, name = "spec run" }
      assert.is_string(run._id)
      assert.equal(1, run.version)
      local r = only_request()
      assert.equal("POST", r.method)
      assert.equal("/runs", r.path)
      assert.same({ robotId = { ROBOT_STAGS } }, r.query)
      assert.same({ robotId = ROBOT_STAGS, name = "spec run" }, body_of(r))
      local again = c.runs.save { _id = run._id, robotId = ROBOT_STAGS, name = "renamed run" }
      assert.equal(run._id, again._id)
      assert.equal(2, again.version)
      assert.equal("renamed run", c.runs.get(run._id).name)
      assert.is_true(c.runs.remove(run._id))
      assert.equal(404, fails(c.runs.get, run._id).status)
      assert.equal(2, #requests("GET", "/runs/" .. run._id))
      assert.equal(1, #requests("DELETE", "/runs/" .. run._id))
    end)

    it("execute, with and without connect", function()
      local c = client()
      local e = c.runs.execute(RUN_STAGS, { connect = false })
      assert.equal("QUEUED", e.state)
      assert.is_string(e._id)
      local r = only_request()
      assert.equal("POST", r.method)
      assert.equal("/runs/" .. RUN_STAGS .. "/execute", r.path)
      assert.same({ connect = { "false" } }, r.query)
      S.reset("dexi")
      c.runs.execute(RUN_STAGS)
      assert.same({}, only_request().query)
    end)

    it("execute_with_input sends one input object", function()
      local c = client()
      local e = c.runs.execute_with_input(RUN_STAGS, { url = "https://example.com/x", n = 2 }, { connect = true })
      assert.equal("PENDING", e.state)
      local r = only_request()
      assert.equal("/runs/" .. RUN_STAGS .. "/execute/inputs", r.path)
      assert.same({ connect = { "true" } }, r.query)
      assert.same({ url = "https://example.com/x", n = 2 }, body_of(r))
    end)

    it("execute_bulk sends a JSON array, even an empty one", function()
      local c = client()
      local e = c.runs.execute_bulk(RUN_STAGS, { { url = "a" }, { url = "b" } })
      assert.equal("PENDING", e.state)
      local r = only_request()
      assert.equal("/runs/" .. RUN_STAGS .. "/execute/bulk", r.path)
      assert.same({ { url = "a" }, { url = "b" } }, body_of(r))
      S.reset("dexi")
      c.runs.execute_bulk(RUN_STAGS, {})
      assert.equal("[]", only_request().body)
    end)

    it("execute_sync returns the result, with format, delete_after and connect", function()
      local c = client()
      local result = c.runs.execute_sync(RUN_STAGS, { format = "json", delete_after = false, connect = false })
      assert.equal("url", result.headers[1])
      assert.equal(2, #result.rows)                     -- one row per stored input
      assert.equal("https://example.com/a", result.rows[1][1])
      local r = only_request()
      assert.equal("POST", r.method)
      assert.equal("/runs/" .. RUN_STAGS .. "/execute/wait", r.path)
      assert.same({ format = { "json" }, deleteAfter = { "false" }, connect = { "false" } }, r.query)
    end)

    it("execute_with_input_sync and execute_bulk_sync", function()
      local c = client()
      local result = c.runs.execute_with_input_sync(RUN_STAGS, { url = "https://example.com/one" })
      assert.equal(1, #result.rows)
      assert.equal("https://example.com/one", dexi.rows_as_records(result)[1].url)
      local csv = c.runs.execute_bulk_sync(RUN_STAGS, { { url = "a" }, { url = "b" }, { url = "c" } }, { format = "csv" })
      assert.is_string(csv)
      assert.matches('^"url","title"', csv)
      local lines = 0
      for _ in csv:gmatch("[^\n]+") do lines = lines + 1 end
      assert.equal(4, lines)
      local recs = S.requests("dexi")
      assert.equal("/runs/" .. RUN_STAGS .. "/execute/inputs/wait", recs[1].path)
      assert.same({ url = "https://example.com/one" }, body_of(recs[1]))
      assert.equal("/runs/" .. RUN_STAGS .. "/execute/bulk/wait", recs[2].path)
      assert.same({ format = { "csv" } }, recs[2].query)
      assert.same({ { url = "a" }, { url = "b" }, { url = "c" } }, body_of(recs[2]))
    end)

    it("the blocking variants get a long read timeout, unlike ordinary calls", function()
      S.config("dexi", { wait_seconds = 0.8 })
      local c = client { timeout = 0.3, retries = 0 }
      local result = c.runs.execute_sync(RUN_STAGS)
      assert.equal(2, #result.rows)
      local err = fails(c.runs.execute_sync, RUN_STAGS, { timeout = 0.3 })
      assert.equal("timeout", err.kind)
      S.config("dexi", { fault = { kind = "delay", seconds = 0.8, path = "/runs/" } })
      err = fails(c.runs.get, RUN_STAGS)
      assert.equal("timeout", err.kind)
    end)

    it("latest_result in JSON and in another format", function()
      local c = client()
      local result = c.runs.latest_result(RUN_STAGS)
      assert.equal(8, #result.headers)
      assert.equal("propertyData", result.headers[1])
      assert.equal(1, #result.rows)
      local r = only_request()
      assert.equal("GET", r.method)
      assert.equal("/runs/" .. RUN_STAGS .. "/latest/result", r.path)
      local csv = c.runs.latest_result(RUN_STAGS, { format = "csv" })
      assert.matches('^"propertyData","images"', csv)
      assert.same({ format = { "csv" } }, S.requests("dexi")[2].query)
    end)

    it("executions, with offset and limit", function()
      local c = client()
      local page = c.runs.executions(RUN_HISTORY, { offset = 10, limit = 5 })
      assert.equal(250, page.totalRows)
      assert.equal(5, #page.rows)
      assert.equal("31000000-0000-4000-8000-000000000240", page.rows[1]._id)   -- newest first
      local r = only_request()
      assert.equal("/runs/" .. RUN_HISTORY .. "/executions", r.path)
      assert.same({ offset = { "10" }, limit = { "5" } }, r.query)
    end)

    it("set_inputs (replace, append) and clear_inputs", function()
      local c = client()
      c.runs.set_inputs(RUN_STAGS, { { url = "x1" } }, { append = false })
      c.runs.set_inputs(RUN_STAGS, { { url = "x2" } }, { append = true })
      local recs = S.requests("dexi")
      assert.equal("PUT", recs[1].method)
      assert.equal("/runs/" .. RUN_STAGS .. "/inputs", recs[1].path)
      assert.same({ append = { "false" } }, recs[1].query)
      assert.same({ { url = "x1" } }, body_of(recs[1]))
      assert.same({ append = { "true" } }, recs[2].query)
      local records = dexi.rows_as_records(c.runs.execute_sync(RUN_STAGS))
      assert.equal(2, #records)
      assert.equal("x1", records[1].url)
      assert.equal("x2", records[2].url)

      assert.is_true(c.runs.clear_inputs(RUN_STAGS))
      assert.equal(1, #requests("DELETE", "/runs/" .. RUN_STAGS .. "/inputs"))
      local result = c.runs.execute_sync(RUN_STAGS)
      assert.equal("title", result.headers[1])          -- no input columns any more
    end)
  end)

  describe("executions", function()
    it("get", function()
      local e = client().executions.get(EXEC_STAGS)
      assert.equal(EXEC_STAGS, e._id)
      assert.equal("OK", e.state)
      assert.equal(1444436317128, e.finished)
      local r = only_request()
      assert.equal("GET", r.method)
      assert.equal("/executions/" .. EXEC_STAGS, r.path)
    end)

    it("remove", function()
      local c = client()
      assert.is_true(c.executions.remove(EXEC_FAILED))
      assert.equal(1, #requests("DELETE", "/executions/" .. EXEC_FAILED))
      assert.equal(404, fails(c.executions.get, EXEC_FAILED).status)
    end)

    it("result, in JSON, paged, and in other formats", function()
      local c = client()
      local result = c.executions.result(EXEC_FILES)
      assert.same({ "image", "label", "error" }, result.headers)
      assert.equal(6, #result.rows)
      assert.equal(json.null, result.rows[1][3])
      local page = c.executions.result(EXEC_FILES, { offset = 2, limit = 2 })
      assert.equal(2, #page.rows)
      assert.equal("path-style id", page.rows[1][2])
      local xml = c.executions.result(EXEC_STAGS, { format = "xml" })
      assert.matches("^<%?xml", xml)
      local recs = S.requests("dexi")
      assert.equal("/executions/" .. EXEC_FILES .. "/result", recs[1].path)
      assert.same({}, recs[1].query)
      assert.same({ offset = { "2" }, limit = { "2" } }, recs[2].query)
      assert.same({ format = { "xml" } }, recs[3].query)
    end)

    it("stop, then stopping again is a 400, not retried", function()
      local c = client()
      assert.same({}, c.executions.stop(EXEC_RUNNING))
      assert.equal("STOPPED", c.executions.get(EXEC_RUNNING).state)
      local err = fails(c.executions.stop, EXEC_RUNNING)
      assert.equal("api", err.kind)
      assert.equal(400, err.status)
      assert.equal(1, err.attempts)
      assert.equal(2, #requests("POST", "/executions/" .. EXEC_RUNNING .. "/stop"))
    end)

    it("continue resumes a stopped execution", function()
      local c = client()
      assert.same({}, c.executions.continue(EXEC_STOPPED))
      assert.equal(1, #requests("POST", "/executions/" .. EXEC_STOPPED .. "/continue"))
      local e = c:wait_execution(EXEC_STOPPED, { interval = 0 })
      assert.equal("OK", e.state)
    end)

    it("stats", function()
      local stats = client().executions.stats(EXEC_STAGS)
      assert.equal("OK", stats.state)
      assert.equal(RUN_STAGS, stats.runId)
      assert.equal(1, stats.resultsTotal)
      assert.equal("/executions/" .. EXEC_STAGS .. "/stats", only_request().path)
    end)

    it("file returns the raw bytes and the type, for a pointer or an id", function()
      local c = client()
      local bytes, mime = c.executions.file(EXEC_FILES, "FILE:image/png;26071;" .. FILE_LOWER)
      assert.equal("image/png", mime)
      assert.equal(26071, #bytes)
      assert.equal(PNG, bytes:sub(1, #PNG))
      local again = c.executions.file(EXEC_FILES, FILE_LOWER)
      assert.equal(bytes, again)
      bytes, mime = c.executions.file(EXEC_FILES, FILE_PATH)
      assert.equal("image/jpeg", mime)
      assert.equal(2974, #bytes)
      bytes = c.executions.file(EXEC_FILES, FILE_ODD)
      assert.equal(5120, #bytes)
      local recs = S.requests("dexi")
      assert.equal("/executions/" .. EXEC_FILES .. "/file/" .. FILE_LOWER, recs[1].path)
      assert.equal("/executions/" .. EXEC_FILES .. "/file/" .. FILE_PATH:gsub("/", "%%2F"), recs[3].path)
      local odd = recs[4].path:match("/file/(.*)$")
      assert.is_nil(odd:find("/", 1, true))
      assert.matches("^accounts%%2F", odd)            -- the legacy prefix is gone
      assert.matches("Image%%20File%%2B1$", odd)
      for _, r in ipairs(recs) do assert.equal(200, r.status) end
    end)

    it("each_row walks a result (one page here)", function()
      local rows = {}
      for row in client().executions.each_row(EXEC_FILES) do rows[#rows + 1] = row end
      assert.equal(6, #rows)
      assert.equal("no file", rows[6][2])
      local r = only_request()
      assert.same({ offset = { "0" }, limit = { "200" } }, r.query)
    end)
  end)

  describe("datasets", function()
    it("rows, with offset, limit and query, under the 200-row cap", function()
      local c = client()
      local page = c.datasets.rows(DATASET)
      assert.equal(450, page.totalRows)
      assert.equal(200, #page.rows)
      local r = only_request()
      assert.equal("POST", r.method)
      assert.equal("/datasets/" .. DATASET .. "/rows", r.path)
      assert.same({}, body_of(r))
      page = c.datasets.rows(DATASET, { offset = 440, limit = 500 })
      assert.equal(440, page.offset)
      assert.equal(10, #page.rows)
      assert.equal(441, page.rows[1].index)
      assert.equal(200, #c.datasets.rows(DATASET, { limit = 500 }).rows)
      page = c.datasets.rows(DATASET, { query = { category = "books" }, limit = 5 })
      assert.equal(150, page.totalRows)
      for _, row in ipairs(page.rows) do assert.equal("books", row.category) end
      local recs = S.requests("dexi")
      assert.same({ offset = 440, limit = 500 }, body_of(recs[2]))
      assert.same({ query = { category = "books" }, limit = 5 }, body_of(recs[4]))
    end)

    it("each_row walks every page", function()
      local c = client()
      local n = 0
      for row in c.datasets.each_row(DATASET) do
        n = n + 1
        assert.equal(n, row.index)
      end
      assert.equal(450, n)
      local recs = S.requests("dexi")
      assert.equal(3, #recs)
      for i, r in ipairs(recs) do assert.same({ offset = (i - 1) * 200, limit = 200 }, body_of(r)) end
    end)

    it("each_row passes the query on every page", function()
      S.config("dexi", { page_cap = 50 })
      local n = 0
      for row in client().datasets.each_row(DATASET, { query = { category = "games" } }) do
        n = n + 1
        assert.equal("games", row.category)
      end
      assert.equal(150, n)
      local recs = S.requests("dexi")
      assert.equal(3, #recs)
      for _, r in ipairs(recs) do assert.same({ category = "games" }, body_of(r).query) end
    end)
  end)

  describe("files", function()
    it("get returns the raw bytes and the type, for a bare id or a pointer", function()
      local c = client()
      local bytes, mime = c.files.get(FILE_UPPER)
      assert.equal("image/png", mime)
      assert.equal(432123, #bytes)
      assert.equal(PNG, bytes:sub(1, #PNG))
      bytes, mime = c.files.get("FILE:image/svg+xml;1234;50000000-0000-4000-8000-000000000005;x")
      assert.equal("image/svg+xml", mime)
      assert.equal(1234, #bytes)
      local recs = S.requests("dexi")
      assert.equal("GET", recs[1].method)
      assert.equal("/files/" .. FILE_UPPER, recs[1].path)
      assert.equal("/files/50000000-0000-4000-8000-000000000005", recs[2].path)
    end)

    it("never JSON-decodes a file body, even one typed application/json", function()
      S.config("dexi", { fault = { kind = "invalid_json", path = "/files/", count = 2 } })
      local c = client()
      local bytes, mime = c.files.get(FILE_LOWER)
      assert.equal('{"_id":"', bytes)
      assert.equal("application/json", mime)
      local dir = S.tmpdir()
      local got = c:download(FILE_LOWER, dir .. "/f.json")
      assert.equal(8, got.bytes)
      assert.equal('{"_id":"', S.slurp(dir .. "/f.json"))
      rmdir(dir)
    end)
  end)

  describe("paging", function()
    it("runs.each walks every run in pages of at most 200", function()
      local c = client()
      local seen, n = {}, 0
      for run in c.runs.each() do
        assert.is_nil(seen[run._id])
        seen[run._id] = true
        n = n + 1
      end
      assert.equal(234, n)
      local recs = S.requests("dexi")
      assert.equal(2, #recs)
      assert.same({ offset = { "0" }, limit = { "200" } }, recs[1].query)
      assert.same({ offset = { "200" }, limit = { "200" } }, recs[2].query)
    end)

    it("runs.each filters by robot", function()
      local n = 0
      for run in client().runs.each { robot_id = ROBOT_STAGS } do
        n = n + 1
        assert.equal(ROBOT_STAGS, run.robotId)
      end
      assert.equal(3, n)
      assert.same({ ROBOT_STAGS }, only_request().query.robotId)
    end)

    it("runs.each_execution walks every execution, newest first", function()
      local ids = {}
      for e in client().runs.each_execution(RUN_HISTORY) do ids[#ids + 1] = e._id end
      assert.equal(250, #ids)
      assert.equal("31000000-0000-4000-8000-000000000250", ids[1])
      assert.equal("31000000-0000-4000-8000-000000000001", ids[250])
      local recs = S.requests("dexi")
      assert.equal(2, #recs)
      assert.same({ "200" }, recs[2].query.offset)
    end)

    -- An OK execution whose result has 'rows' rows (created on the fake's current state).
    local function long_execution(c, rows)
      S.config("dexi", { result_rows = rows, polls_per_state = 0 })
      local e = c:wait_execution(c.runs.execute(RUN_STAGS)._id, { interval = 0 })
      assert.equal("OK", e.state)
      return e._id
    end

    it("executions.each_row walks a long result page by page", function()
      local c = client()
      local id = long_execution(c, 450)
      local n = 0
      for row in c.executions.each_row(id) do
        n = n + 1
        assert.equal("Item " .. n, row[2])
      end
      assert.equal(450, n)
      local pages = requests("GET", "/executions/" .. id .. "/result")
      assert.equal(3, #pages)
      for i, r in ipairs(pages) do
        assert.same({ offset = { tostring((i - 1) * 200) }, limit = { "200" } }, r.query)
      end
    end)

    it("executions.each_row stops at totalRows, and takes a whole result sent at once", function()
      local c = client()
      local id = long_execution(c, 400)
      S.config("dexi", { result_total_rows = true })
      local n = 0
      for _ in c.executions.each_row(id) do n = n + 1 end
      assert.equal(400, n)
      assert.equal(2, #requests("GET", "/executions/" .. id .. "/result"))
      S.config("dexi", { result_paging = false })
      n = 0
      for _ in c.executions.each_row(id) do n = n + 1 end
      assert.equal(400, n)
      assert.equal(3, #requests("GET", "/executions/" .. id .. "/result"))
    end)

    it("an empty answer ends the walk instead of failing on it", function()
      local c = client()
      c.runs.list = function() return true end          -- what an empty 2xx body decodes to
      local n = 0
      for _ in c.runs.each() do n = n + 1 end
      assert.equal(0, n)
    end)

    it("stops at an empty page when totalRows overstates the rows", function()
      S.config("dexi", { total_rows_extra = 10 })
      local n = 0
      for _ in client().runs.each() do n = n + 1 end
      assert.equal(234, n)
      assert.equal(3, #S.requests("dexi"))
    end)

    describe("a server that ignores offset raises instead of looping", function()
      local function walk(iter)
        local n = 0
        local ok, err = pcall(function() for _ in iter do n = n + 1 end end)
        assert.is_false(ok)
        assert.equal("api", err.kind)
        assert.equal("paging", err.code)
        assert.matches("ignored offset", err.message)
        return n
      end

      it("runs.each", function()
        S.config("dexi", { ignore_offset = true })
        assert.equal(200, walk(client().runs.each()))
        assert.equal(2, #S.requests("dexi"))
      end)

      it("runs.each_execution", function()
        S.config("dexi", { ignore_offset = true })
        assert.equal(200, walk(client().runs.each_execution(RUN_HISTORY)))
        assert.equal(2, #S.requests("dexi"))
      end)

      it("datasets.each_row", function()
        S.config("dexi", { ignore_offset = true })
        assert.equal(200, walk(client().datasets.each_row(DATASET)))
        assert.equal(2, #S.requests("dexi"))
      end)

      it("executions.each_row (results carry no offset: the repeated first row tells)", function()
        local c = client()
        local id = long_execution(c, 450)
        S.config("dexi", { ignore_offset = true })
        assert.equal(200, walk(c.executions.each_row(id)))
        assert.equal(2, #requests("GET", "/executions/" .. id .. "/result"))
      end)
    end)
  end)

  describe("downloads", function()
    local dir
    before_each(function() dir = S.tmpdir() end)
    after_each(function() rmdir(dir) end)

    it("stream every pointer form of a result into a directory, named from id and type", function()
      local c = client()
      local result = c.executions.result(EXEC_FILES)
      local want = {
        { FILE_LOWER .. ".png", 26071, "image/png" },
        { FILE_UPPER .. ".png", 432123, "image/png" },
        { "50000000-0000-4000-8000-0000000000b1_ImageFile.jpg", 2974, "image/jpeg" },
        { "50000000-0000-4000-8000-0000000000b2_Image_File_1.jpg", 5120, "image/jpeg" },
        { "50000000-0000-4000-8000-000000000005.svg", 1234, "image/svg+xml" },
      }
      S.reset("dexi")
      for i, w in ipairs(want) do
        local got = c:download(result.rows[i][1], dir, { execution = EXEC_FILES })
        assert.same({ path = dir .. "/" .. w[1], bytes = w[2], mime = w[3] }, got)
        assert.equal(w[2], file_size(got.path))
      end
      local names = downloaded(dir)
      local expected = {}
      for i, w in ipairs(want) do expected[i] = w[1] end
      table.sort(expected)
      assert.same(expected, names)
      local recs = S.requests("dexi")
      assert.equal(5, #recs)
      for _, r in ipairs(recs) do
        assert.equal("GET", r.method)
        assert.equal(200, r.status)
        local id = r.path:match("^/executions/" .. EXEC_FILES:gsub("%-", "%%-") .. "/file/(.+)$")
        assert.is_string(id, r.path)
        assert.is_nil(id:find("/", 1, true), "a raw slash in " .. r.path)
      end
      assert.equal("/executions/" .. EXEC_FILES .. "/file/" .. FILE_PATH:gsub("/", "%%2F"), recs[3].path)
    end)

    it("write the same bytes the server sent, nothing decoded", function()
      local c = client()
      local bytes = c.files.get(FILE_LOWER)
      local got = c:download("FILE:image/png;26071;" .. FILE_LOWER, dir, { execution = EXEC_FILES })
      assert.equal(digest.sha256(bytes), digest.sha256_file(got.path))
      assert.equal(PNG, S.slurp(got.path):sub(1, #PNG))
    end)

    it("go to a file path, through the files endpoint without an execution", function()
      local c = client()
      local got = c:download("FILE:image/jpeg;2974;" .. FILE_PATH, dir .. "/shot.jpg")
      assert.same({ path = dir .. "/shot.jpg", bytes = 2974, mime = "image/jpeg" }, got)
      assert.equal(2974, file_size(dir .. "/shot.jpg"))
      assert.same({ "shot.jpg" }, S.ls(dir))
      assert.equal("/files/" .. FILE_PATH:gsub("/", "%%2F"), only_request().path)
    end)

    it("create a missing directory, with its parents, as the recipe does", function()
      local c = client()
      local got = c:download("FILE:image/png;26071;" .. FILE_LOWER, dir .. "/a/b/", { execution = EXEC_FILES })
      assert.equal(dir .. "/a/b/" .. FILE_LOWER .. ".png", got.path)
      assert.equal(26071, file_size(got.path))
      got = c:download("FILE:image/jpeg;2974;" .. FILE_PATH, dir .. "/c/d/shot.jpg")
      assert.equal(2974, file_size(dir .. "/c/d/shot.jpg"))
    end)

    it("take a bare file id and a result file id, with and without an execution", function()
      local c = client()
      local got = c:download(FILE_LOWER, dir)
      assert.equal(dir .. "/" .. FILE_LOWER, got.path)       -- no pointer: no type to name it by
      assert.equal(26071, got.bytes)
      assert.equal("image/png", got.mime)
      got = c:download(FILE_ODD, dir, { execution = EXEC_FILES })
      assert.equal(dir .. "/50000000-0000-4000-8000-0000000000b2_Image_File_1", got.path)
      assert.equal(5120, file_size(got.path))
      got = c:download(FILE_ODD, dir .. "/odd.jpg")
      assert.equal(5120, got.bytes)
      local recs = S.requests("dexi")
      assert.equal("/files/" .. FILE_LOWER, recs[1].path)
      assert.matches("^/executions/" .. EXEC_FILES:gsub("%-", "%%-") .. "/file/accounts%%2F", recs[2].path)
      assert.matches("^/files/accounts%%2F.*Image%%20File%%2B1$", recs[3].path)
    end)

    it("fail the size check with kind http, leaving no file", function()
      S.config("dexi", { file_short_by = 10 })
      local c = client()
      local err = fails(c.download, c, "FILE:image/png;26071;" .. FILE_LOWER, dir, { execution = EXEC_FILES })
      assert.equal("http", err.kind)
      assert.equal("size", err.code)
      assert.matches("26061", err.message)
      assert.matches("26071", err.message)
      err = fails(c.download, c, "FILE:image/png;26071;" .. FILE_LOWER, dir .. "/named.png")
      assert.equal("http", err.kind)
      assert.same({}, S.ls(dir))
      assert.equal(2, #S.requests("dexi"))
    end)

    it("stop a body longer than its pointer says as soon as it passes the size, keeping nothing", function()
      S.config("dexi", { file_long_by = 200 * 1024 * 1024 })
      local c = client { retries = 2 }
      local t0 = task.now()
      local err = fails(c.download, c, "FILE:image/png;26071;" .. FILE_LOWER, dir, { execution = EXEC_FILES })
      assert.equal("http", err.kind)
      assert.equal("too_large", err.code)
      assert.matches("26071", err.message)
      assert.equal(1, #S.requests("dexi"))      -- not retried: the same body would come again
      assert.is_true(task.now() - t0 < 3, "read the whole 200 MiB")
      assert.same({}, S.ls(dir))
    end)

    it("stop a body kept in memory at its pointer's size too", function()
      S.config("dexi", { file_long_by = 200 * 1024 * 1024 })
      local c = client()
      local err = fails(c.executions.file, EXEC_FILES, "FILE:image/png;26071;" .. FILE_LOWER)
      assert.equal("too_large", err.code)
      assert.matches("26071", err.message)
      err = fails(c.files.get, "FILE:image/png;26071;" .. FILE_LOWER)
      assert.equal("too_large", err.code)
      S.config("dexi", { file_long_by = 0 })
      assert.equal(26071, #c.files.get("FILE:image/png;26071;" .. FILE_LOWER))
    end)

    it("retry a truncated body, and leave no file when it never arrives whole", function()
      local c = client { retries = 2 }
      S.config("dexi", { fault = { kind = "truncate", path = "/file/", count = 1 } })
      local got = c:download("FILE:image/png;26071;" .. FILE_LOWER, dir, { execution = EXEC_FILES })
      assert.equal(26071, file_size(got.path))
      assert.equal(2, #S.requests("dexi"))
      os.remove(got.path)
      S.reset("dexi")
      S.config("dexi", { fault = { kind = "truncate", path = "/file/", count = -1 } })
      local err = fails(c.download, c, "FILE:image/png;26071;" .. FILE_LOWER, dir, { execution = EXEC_FILES })
      assert.equal("network", err.kind)
      assert.equal("truncated", err.code)
      assert.equal(3, err.attempts)
      assert.equal(3, #S.requests("dexi"))
      assert.same({}, downloaded(dir))
    end)

    describe("whose ids make one name", function()
      local EXEC_COLLIDE = "30000000-0000-4000-8000-000000000004"
      local NAMES = {        -- in result order, and the size each file has
        { "L1_Image.png", 1000 }, { "L1_Image~2.png", 1001 }, { "L1_Image~3.png", 1002 },
        { "L_1_Image.png", 1003 }, { "L_1_Image~2.png", 1004 }, { "notes~2.txt", 64 },
      }
      local function record() return json.decode(S.slurp(dir .. "/" .. RECORD)).files end

      it("give every id a name of its own and never overwrite a file that came from elsewhere", function()
        S.spit(dir .. "/notes.txt", "the user's own notes")
        local bulk = require "dexi.bulk"
        local s = bulk.download_all(client(), EXEC_COLLIDE, dir, 3)
        assert.same({ 6, 6, 0, 0 }, { s.files, s.downloaded, s.skipped, s.failed })
        local want = { "notes.txt" }
        for i, n in ipairs(NAMES) do
          want[#want + 1] = n[1]
          assert.equal(n[2], file_size(dir .. "/" .. n[1]), n[1])
        end
        table.sort(want)
        assert.same(want, downloaded(dir))
        assert.equal("the user's own notes", S.slurp(dir .. "/notes.txt"))
        local rec, ids = record(), {}
        for _, n in ipairs(NAMES) do
          assert.equal(n[2], rec[n[1]].size)
          ids[rec[n[1]].id] = true
        end
        assert.equal("notes.txt", rec["notes~2.txt"].id)
        assert.is_true(ids["L1_Image.png"])
        assert.is_nil(rec["notes.txt"])
      end)

      it("skip on a re-run only what came from the same id, and fetch a file gone since into its own name", function()
        local bulk = require "dexi.bulk"
        bulk.download_all(client(), EXEC_COLLIDE, dir, 3)
        S.reset("dexi")
        local s = bulk.download_all(client(), EXEC_COLLIDE, dir, 3)
        assert.same({ 6, 0, 6, 0 }, { s.files, s.downloaded, s.skipped, s.failed })
        os.remove(dir .. "/L1_Image~2.png")
        s = bulk.download_all(client(), EXEC_COLLIDE, dir, 3)
        assert.same({ 6, 1, 5, 0 }, { s.files, s.downloaded, s.skipped, s.failed })
        assert.equal(1001, file_size(dir .. "/L1_Image~2.png"))
        assert.equal(6, #downloaded(dir))
      end)

      it("keep a bare id with an odd MIME type off the user's file of that name, one call at a time", function()
        S.spit(dir .. "/notes.txt", "mine")
        local c = client()
        local got = c:download("FILE:application/x-anything;64;notes.txt", dir, { execution = EXEC_COLLIDE })
        assert.equal(dir .. "/notes~2.txt", got.path)
        assert.equal("mine", S.slurp(dir .. "/notes.txt"))
        got = c:download("FILE:application/x-anything;64;notes.txt", dir .. "/", { execution = EXEC_COLLIDE })
        assert.equal(dir .. "/notes~2.txt", got.path)          -- its own file again, not a third
        local lines = ("accounts/%s/robots/10000000-0000-4000-8000-000000000002/runs/20000000-0000-4000-8000-000000000003/executions/%s/results/50000000-0000-4000-8000-0000000000cc/lines/")
          :format(ACCOUNT, EXEC_COLLIDE)
        local ids = { lines .. "L1/Image", lines .. "L1/Image.png", "L1_Image.png" }
        local paths = task.map({ 1, 2, 3 }, function(i)       -- concurrent calls claim names too
          return c:download(("FILE:image/png;%d;%s"):format(999 + i, ids[i]), dir, { execution = EXEC_COLLIDE }).path
        end)
        table.sort(paths)
        assert.same({ dir .. "/L1_Image.png", dir .. "/L1_Image~2.png", dir .. "/L1_Image~3.png" }, paths)
        assert.same({ "L1_Image.png", "L1_Image~2.png", "L1_Image~3.png", "notes.txt", "notes~2.txt" }, downloaded(dir))
      end)

      it("keep a file that appears under the claimed name while the download runs", function()
        S.config("dexi", { fault = { kind = "delay", seconds = 0.5, count = 1, path = "/file/" } })
        local c = client()
        local writer = task.spawn(function() task.sleep(0.2); S.spit(dir .. "/notes.txt", "made meanwhile") end)
        local err = fails(c.download, c, "FILE:application/x-anything;64;notes.txt", dir, { execution = EXEC_COLLIDE })
        writer:wait()
        assert.equal("io", err.code)
        assert.equal("made meanwhile", S.slurp(dir .. "/notes.txt"))
        assert.same({ "notes.txt" }, downloaded(dir))
      end)

      it("cut an over-long name to 200 bytes, keeping its type, and still one name per id", function()
        local file_name = require("dexi.files").name
        local long = ("x"):rep(300)
        local name = file_name("lines/" .. long .. "a", "image/png")
        assert.equal(("x"):rep(196) .. ".png", name)
        local record = require("dexi.manifest").open(dir)
        local a = record:claim("accounts/1/lines/" .. long .. "a/Image", file_name("accounts/1/lines/" .. long .. "a/Image", "image/png"))
        local b = record:claim("accounts/1/lines/" .. long .. "b/Image", file_name("accounts/1/lines/" .. long .. "b/Image", "image/png"))
        assert.equal(200, #a)
        assert.equal(a:sub(1, -5) .. "~2.png", b)
      end)

      it("record a burst of single downloads with few rewrites, and all of it before the process ends", function()
        local script = dir .. "/s.lua"
        S.spit(script, ([[
          local dexi, task = require "dexi", require "autolua.task"
          local c = dexi.client { account = "acc-test", api_key = "key-test", base_url = %q }
          local rows = c.executions.result(%q).rows
          task.map(rows, function(row) c:download(row[1], %q, { execution = %q }) end)
        ]]):format(S.fake.dexi, EXEC_COLLIDE, dir .. "/out", EXEC_COLLIDE))
        os.execute("mkdir " .. S.quote(dir .. "/out"))
        local r = S.run { script }
        assert.equal(0, r.code, r.err)
        local rec = json.decode(S.slurp(dir .. "/out/" .. RECORD)).files
        local n = 0
        for _ in pairs(rec) do n = n + 1 end
        assert.equal(6, n)
        assert.equal(7, #S.ls(dir .. "/out"))
      end)

      it("refuse a record it cannot read instead of guessing", function()
        S.spit(dir .. "/" .. RECORD, "{not json")
        local err = fails(client().download, client(), "FILE:application/x-anything;64;notes.txt", dir, { execution = EXEC_COLLIDE })
        assert.equal("decode", err.kind)
        assert.matches("move it away", err.message)
      end)
    end)

    it("draw from the file limiter, and only from it", function()
      local c = client()
      local function counts()
        return { get = c.limiters.get:stats().acquired, write = c.limiters.write:stats().acquired,
                 file = c.limiters.file:stats().acquired }
      end
      local before = counts()
      c:download(FILE_LOWER, dir)
      c:download(FILE_PATH, dir, { execution = EXEC_FILES })
      c.files.get(FILE_LOWER)
      c.executions.file(EXEC_FILES, FILE_LOWER)
      local after = counts()
      assert.same({ get = 0, write = 0, file = 4 },
        { get = after.get - before.get, write = after.write - before.write, file = after.file - before.file })
    end)
  end)

  describe("limits", function()
    it("GET draws from get, POST, PUT and DELETE from write", function()
      local c = client()
      local function counts() return { c.limiters.get:stats().acquired, c.limiters.write:stats().acquired } end
      local b = counts()
      c.robots.get(ROBOT_STAGS)
      c.runs.list()
      c.runs.execute(RUN_STAGS)
      c.robots.update { _id = ROBOT_STAGS, name = "stags" }
      c.executions.remove(EXEC_FAILED)
      local a = counts()
      assert.same({ 2, 3 }, { a[1] - b[1], a[2] - b[2] })
    end)

    it("are overridable, and checked", function()
      assert.same({ get = 10, write = 2, file = 15 }, client { limits = { get = 10, write = 2 } }.limits)
      assert.equal("argument", fails(client, { limits = { get = 0 } }).kind)
      assert.equal("argument", fails(client, { limits = { file = "fast" } }).kind)
    end)

    it("are shared by every client of one account, and only of that account", function()
      local acc, key = fresh_account()
      S.config("dexi", { limits = { get = 11 } })
      local c1 = client { account = acc, api_key = key, limits = { get = 10 } }
      local c2 = client { account = acc, api_key = key, limits = { get = 10 } }
      assert.equal(c1.limiters.get, c2.limiters.get)
      assert.equal(c1.limiters.file, c2.limiters.file)
      assert.not_equal(c1.limiters.get, client { limits = { get = 10 } }.limiters.get)
      local t0 = task.now()
      local items = {}
      for i = 1, 12 do items[i] = i end
      task.map(items, function(i)
        return (i % 2 == 0 and c1 or c2).robots.get(ROBOT_STAGS)
      end, { concurrency = 12 })
      local dt = task.now() - t0
      -- 12 requests at 10 per second between them: 11 gaps of 0.1 s; two budgets would take 0.5 s
      assert.is_true(dt >= 0.9, "12 requests took only " .. dt .. " s")
      local recs = S.requests("dexi")
      assert.equal(12, #recs)
      for _, r in ipairs(recs) do assert.equal(200, r.status) end
    end)

    it("a 429 with Retry-After pauses the limiter until then, and is retried", function()
      local acc, key = fresh_account()
      S.config("dexi", { limits = { get = 1 }, retry_after = true })
      local c = client { account = acc, api_key = key }
      local waited = c.limiters.get:stats().waited_seconds
      c.robots.get(ROBOT_STAGS)
      assert.equal("stags", c.robots.get(ROBOT_STAGS).name)
      local recs = S.requests("dexi")
      assert.same({ 200, 429, 200 }, statuses(recs))
      local gap = recs[3].t - recs[2].t
      assert.is_true(gap >= 0.9 and gap < 5, "retried after " .. gap .. " s")
      -- the wait happened in the limiter (the whole account paused), not in a private sleep
      assert.is_true(c.limiters.get:stats().waited_seconds - waited >= 0.8)
    end)

    it("a 429 without Retry-After is retried with backoff until it passes", function()
      local acc, key = fresh_account()
      S.config("dexi", { limits = { get = 1 }, rate_window = 0.3 })
      local c = client { account = acc, api_key = key, retries = 60 }
      c.robots.get(ROBOT_STAGS)
      assert.equal("stags", c.robots.get(ROBOT_STAGS).name)
      local recs = S.requests("dexi")
      local st = statuses(recs)
      assert.equal(200, st[1])
      assert.equal(200, st[#st])
      assert.is_true(#st >= 3 and #st <= 62, #st .. " requests")
      for i = 2, #st - 1 do assert.equal(429, st[i]) end
      assert.is_true(recs[#recs].t - recs[1].t >= 0.29)
    end)

    it("a 429 storm longer than the retry budget raises rate_limited with the attempts sent", function()
      local acc, key = fresh_account()
      S.config("dexi", { limits = { get = 0 } })
      local c = client { account = acc, api_key = key, retries = 3 }
      local before = c.limiters.get:stats().acquired
      local err = fails(c.robots.get, ROBOT_STAGS)
      assert.equal("rate_limited", err.kind)
      assert.equal(429, err.status)
      assert.equal(4, err.attempts)
      assert.is_true(err.retryable)
      assert.matches("after 4 attempts", tostring(err))
      local recs = S.requests("dexi")
      assert.equal(4, #recs)
      assert.same({ 429, 429, 429, 429 }, statuses(recs))
      -- every retry was a new acquisition from the same limiter
      assert.equal(4, c.limiters.get:stats().acquired - before)
    end)

    it("a 429 is retried for a POST too (the server did nothing)", function()
      local acc, key = fresh_account()
      S.config("dexi", { limits = { write = 0 } })
      local c = client { account = acc, api_key = key, retries = 2 }
      local err = fails(c.runs.execute, RUN_STAGS)
      assert.equal("rate_limited", err.kind)
      assert.equal(3, err.attempts)
      assert.equal(3, #requests("POST"))
    end)

    it("a Retry-After beyond reason raises at once", function()
      local acc, key = fresh_account()
      S.config("dexi", { limits = { get = 0 }, retry_after = true, rate_window = 1000 })
      local c = client { account = acc, api_key = key }
      local t0 = task.now()
      local err = fails(c.robots.get, ROBOT_STAGS)
      assert.equal("rate_limited", err.kind)
      assert.equal(1, err.attempts)
      assert.equal(1, #S.requests("dexi"))
      assert.is_true(task.now() - t0 < 5)
    end)
  end)

  describe("retries", function()
    it("5xx answers are retried for GET", function()
      S.config("dexi", { fault = { kind = "503", count = 2 } })
      assert.equal("OK", client().executions.get(EXEC_STAGS).state)
      assert.same({ 503, 503, 200 }, statuses(requests("GET", "/executions/" .. EXEC_STAGS)))
    end)

    it("5xx answers are retried for DELETE", function()
      S.config("dexi", { fault = { kind = "500", count = 2 } })
      assert.is_true(client().executions.remove(EXEC_FAILED))
      assert.same({ 500, 500, 200 }, statuses(requests("DELETE", "/executions/" .. EXEC_FAILED)))
    end)

    it("5xx answers are not retried for POST", function()
      S.config("dexi", { fault = { kind = "503", count = 1 } })
      local err = fails(client().runs.execute, RUN_STAGS)
      assert.equal("api", err.kind)
      assert.equal(503, err.status)
      assert.equal(1, err.attempts)
      assert.is_true(err.retryable)
      assert.equal("POST", err.method)
      assert.equal(1, #S.requests("dexi"))
    end)

    it("a read-only POST (data set rows) is retried", function()
      S.config("dexi", { fault = { kind = "502", count = 1 } })
      assert.equal(200, #client().datasets.rows(DATASET).rows)
      assert.same({ 502, 200 }, statuses(S.requests("dexi")))
    end)

    it("a 5xx storm ends with kind api after the retries", function()
      S.config("dexi", { fault = { kind = "500", count = -1 } })
      local err = fails(client { retries = 2 }.robots.get, ROBOT_STAGS)
      assert.equal("api", err.kind)
      assert.equal(500, err.status)
      assert.equal(3, err.attempts)
      assert.equal(3, #S.requests("dexi"))
    end)

    it("a reset connection is retried for GET and DELETE", function()
      S.config("dexi", { fault = { kind = "reset", count = 2 } })
      local c = client()
      assert.equal("stags", c.robots.get(ROBOT_STAGS).name)
      S.config("dexi", { fault = { kind = "reset", count = 2 } })
      assert.is_true(c.executions.remove(EXEC_FAILED))
      S.config("dexi", { fault = { kind = "reset", count = -1 } })
      local err = fails(client { retries = 2 }.robots.get, ROBOT_STAGS)
      assert.equal("network", err.kind)
      assert.equal("reset", err.code)
      assert.equal(3, err.attempts)
    end)

    it("a reset connection is not retried for POST", function()
      S.config("dexi", { fault = { kind = "reset", count = -1, method = "POST" } })
      local err = fails(client().runs.execute, RUN_STAGS)
      assert.equal("network", err.kind)
      assert.equal("reset", err.code)
      assert.equal(1, err.attempts)
      assert.equal("POST", err.method)
      -- One attempt, and one request on the wire: a POST takes a fresh connection, so libcurl
      -- never resends it by itself as it does on a reused keep-alive connection that died.
      assert.equal(1, #requests("POST"))
    end)

    it("a timed-out GET is retried, a timed-out POST is not", function()
      local c = client { timeout = 0.3 }
      S.config("dexi", { fault = { kind = "delay", seconds = 0.8, count = 1 } })
      assert.equal("OK", c.executions.get(EXEC_STAGS).state)
      assert.equal(2, #S.requests("dexi"))
      S.reset("dexi")
      S.config("dexi", { fault = { kind = "delay", seconds = 0.8, count = 1 } })
      local err = fails(c.runs.execute, RUN_STAGS)
      assert.equal("timeout", err.kind)
      assert.equal(1, err.attempts)
      assert.equal(1, #S.requests("dexi"))
    end)

    it("backoff: full jitter under an exponential cap", function()
      for attempt = 1, 12 do
        for _ = 1, 20 do
          local d = pipeline.backoff(attempt, { base = 0.5, cap = 30 })
          assert.is_true(d >= 0 and d <= math.min(30, 0.5 * 2 ^ (attempt - 1)))
        end
      end
    end)

    it("Retry-After: seconds or an HTTP date", function()
      assert.equal(3, pipeline.retry_after("3"))
      assert.equal(1, pipeline.retry_after("0.2"))
      assert.equal(0, pipeline.retry_after("-4"))
      assert.is_nil(pipeline.retry_after(nil))
      assert.is_nil(pipeline.retry_after("soon"))
      local d = pipeline.retry_after(os.date("!%a, %d %b %Y %H:%M:%S GMT", os.time() + 20))
      assert.is_true(d >= 18 and d <= 21, "got " .. tostring(d))
      assert.equal(0, pipeline.retry_after("Wed, 21 Oct 2015 07:28:00 GMT"))
    end)
  end)

  describe("wait_execution", function()
    it("polls until OK and returns the execution", function()
      local c = client()
      local started = c.runs.execute(RUN_STAGS)
      assert.equal("QUEUED", started.state)
      local e = c:wait_execution(started._id, { interval = 0.01, timeout = 10 })
      assert.equal("OK", e.state)
      assert.equal(started._id, e._id)
      assert.is_number(e.finished)
      -- QUEUED twice, RUNNING twice, then OK (the fake's polls_per_state = 2)
      assert.equal(5, #requests("GET", "/executions/" .. started._id))
    end)

    it("returns a FAILED execution rather than raising", function()
      local c = client()
      local e = c:wait_execution(c.runs.execute(RUN_FAIL)._id, { interval = 0 })
      assert.equal("FAILED", e.state)
    end)

    it("returns a STOPPED execution rather than raising", function()
      S.config("dexi", { final_state = "STOPPED" })
      local c = client()
      local e = c:wait_execution(c.runs.execute_with_input(RUN_STAGS, { url = "x" })._id, { interval = 0 })
      assert.equal("STOPPED", e.state)
    end)

    it("does not take unknown states for final", function()
      local c = client()
      local states, calls = { "QUEUED", "ARCHIVING", "Ok", "DONE", "FAILED" }, 0
      c.executions.get = function(id)
        calls = calls + 1
        return { _id = id, state = states[calls] }
      end
      assert.equal("FAILED", c:wait_execution("x", { interval = 0 }).state)
      assert.equal(5, calls)
    end)

    it("raises kind timeout past its timeout", function()
      S.config("dexi", { polls_per_state = 100000 })
      local c = client()
      local t0 = task.now()
      local err = fails(c.wait_execution, c, EXEC_RUNNING, { timeout = 0.3, interval = 0.05 })
      local dt = task.now() - t0
      assert.equal("timeout", err.kind)
      assert.matches(EXEC_RUNNING, err.message, 1, true)
      assert.matches("RUNNING", err.message)
      assert.is_true(dt < 3, "took " .. dt .. " s")
      assert.is_true(#requests("GET", "/executions/" .. EXEC_RUNNING) >= 2)
    end)

    it("raises the 404 of an unknown execution", function()
      local err = fails(client().wait_execution, client(), UNKNOWN, { interval = 0 })
      assert.equal("api", err.kind)
      assert.equal(404, err.status)
    end)
  end)

  describe("bad input gets a clear error", function()
    it("an unknown execution: kind api, status 404, not retried", function()
      local c = client()
      local err = fails(c.executions.get, UNKNOWN)
      assert.equal("api", err.kind)
      assert.equal(404, err.status)
      assert.equal("not_found", err.code)
      assert.equal(1, err.attempts)
      assert.is_false(err.retryable)
      assert.equal("GET", err.method)
      assert.matches("/executions/" .. UNKNOWN, err.url, 1, true)
      local line = tostring(err)
      assert.matches("GET", line)
      assert.matches("404", line)
      assert.matches(UNKNOWN, line, 1, true)
      assert.equal(1, #S.requests("dexi"))
      assert.equal(404, fails(c.executions.result, UNKNOWN).status)
    end)

    it("an invalid JSON body: kind decode, naming the call", function()
      S.config("dexi", { fault = { kind = "invalid_json", count = 2 } })
      local c = client()
      local err = fails(c.executions.get, EXEC_STAGS)
      assert.equal("decode", err.kind)
      assert.equal(200, err.status)
      assert.equal("GET", err.method)
      assert.equal(1, err.attempts)
      assert.matches("not valid JSON", err.message)
      assert.matches("/executions/" .. EXEC_STAGS, tostring(err), 1, true)
      err = fails(c.runs.execute, RUN_STAGS)
      assert.equal("decode", err.kind)
      assert.equal("POST", err.method)
      assert.equal(2, #S.requests("dexi"))
    end)

    it("an HTML error page: kind http, naming the page, retried only where safe", function()
      S.config("dexi", { fault = { kind = "html502", count = -1 } })
      local c = client { retries = 1 }
      local err = fails(c.executions.get, EXEC_STAGS)
      assert.equal("http", err.kind)
      assert.equal(502, err.status)
      assert.equal(2, err.attempts)
      assert.matches("HTML page", err.message)
      assert.matches("502 Bad Gateway", err.message)
      S.reset("dexi")
      S.config("dexi", { fault = { kind = "html502", count = -1 } })
      err = fails(c.runs.execute, RUN_STAGS)
      assert.equal("http", err.kind)
      assert.equal(1, err.attempts)
      assert.equal(1, #S.requests("dexi"))
    end)

    it("a truncated JSON body is retried for GET", function()
      S.config("dexi", { fault = { kind = "truncate", count = 1, path = "/executions/" } })
      assert.equal("OK", client().executions.get(EXEC_STAGS).state)
      assert.equal(2, #S.requests("dexi"))
    end)

    describe("a wrong-type argument: kind argument, nothing sent", function()
      local cases = {
        { "robots.get(nil)", function(c) c.robots.get(nil) end },
        { "robots.get(42)", function(c) c.robots.get(42) end },
        { "robots.get('')", function(c) c.robots.get("") end },
        { "robots.remove({})", function(c) c.robots.remove({}) end },
        { "robots.create('def')", function(c) c.robots.create("def") end },
        { "robots.update without _id", function(c) c.robots.update { name = "x" } end },
        { "runs.list('x')", function(c) c.runs.list("x") end },
        { "runs.list{offset = -1}", function(c) c.runs.list { offset = -1 } end },
        { "runs.list{limit = '5'}", function(c) c.runs.list { limit = "5" } end },
        { "runs.list{limit = 2.5}", function(c) c.runs.list { limit = 2.5 } end },
        { "runs.list{robot_id = 5}", function(c) c.runs.list { robot_id = 5 } end },
        { "runs.save(nil)", function(c) c.runs.save(nil) end },
        { "runs.get(nil)", function(c) c.runs.get(nil) end },
        { "runs.execute connect = 'no'", function(c) c.runs.execute(RUN_STAGS, { connect = "no" }) end },
        { "runs.execute_with_input('url=x')", function(c) c.runs.execute_with_input(RUN_STAGS, "url=x") end },
        { "runs.execute_bulk(map)", function(c) c.runs.execute_bulk(RUN_STAGS, { url = "x" }) end },
        { "runs.execute_sync format pdf", function(c) c.runs.execute_sync(RUN_STAGS, { format = "pdf" }) end },
        { "runs.execute_sync delete_after 1", function(c) c.runs.execute_sync(RUN_STAGS, { delete_after = 1 }) end },
        { "runs.execute_with_input_sync(nil)", function(c) c.runs.execute_with_input_sync(RUN_STAGS, nil) end },
        { "runs.execute_bulk_sync('x')", function(c) c.runs.execute_bulk_sync(RUN_STAGS, "x") end },
        { "runs.latest_result format 1", function(c) c.runs.latest_result(RUN_STAGS, { format = 1 }) end },
        { "runs.executions(nil)", function(c) c.runs.executions(nil) end },
        { "runs.set_inputs('x')", function(c) c.runs.set_inputs(RUN_STAGS, "x") end },
        { "runs.set_inputs append 'yes'", function(c) c.runs.set_inputs(RUN_STAGS, { { url = "a" } }, { append = "yes" }) end },
        { "runs.clear_inputs(42)", function(c) c.runs.clear_inputs(42) end },
        { "runs.each{robot_id = {}}", function(c) c.runs.each { robot_id = {} } end },
        { "runs.each_execution(nil)", function(c) c.runs.each_execution(nil) end },
        { "executions.get(nil)", function(c) c.executions.get(nil) end },
        { "executions.remove(1)", function(c) c.executions.remove(1) end },
        { "executions.result offset '0'", function(c) c.executions.result(EXEC_STAGS, { offset = "0" }) end },
        { "executions.result('x', 'json')", function(c) c.executions.result(EXEC_STAGS, "json") end },
        { "executions.each_row(nil)", function(c) c.executions.each_row(nil) end },
        { "executions.file(nil, id)", function(c) c.executions.file(nil, FILE_LOWER) end },
        { "executions.file(ex, 42)", function(c) c.executions.file(EXEC_FILES, 42) end },
        { "executions.file(ex, malformed)", function(c) c.executions.file(EXEC_FILES, "FILE:image/png;x;y") end },
        { "executions.stop(true)", function(c) c.executions.stop(true) end },
        { "executions.continue(nil)", function(c) c.executions.continue(nil) end },
        { "executions.stats(nil)", function(c) c.executions.stats(nil) end },
        { "datasets.rows(nil)", function(c) c.datasets.rows(nil) end },
        { "datasets.rows query 'books'", function(c) c.datasets.rows(DATASET, { query = "books" }) end },
        { "datasets.rows offset 1.5", function(c) c.datasets.rows(DATASET, { offset = 1.5 }) end },
        { "datasets.each_row(nil)", function(c) c.datasets.each_row(nil) end },
        { "datasets.each_row(id, 'x')", function(c) c.datasets.each_row(DATASET, "x") end },
        { "files.get(nil)", function(c) c.files.get(nil) end },
        { "files.get(malformed)", function(c) c.files.get("FILE:broken") end },
        { "request(42, path)", function(c) c:request(42, "robots") end },
        { "request('GET', nil)", function(c) c:request("GET", nil) end },
        { "request('GET', path, 'x')", function(c) c:request("GET", "robots", "x") end },
        { "download(nil, dir)", function(c) c:download(nil, "/tmp") end },
        { "download(42, dir)", function(c) c:download(42, "/tmp") end },
        { "download(malformed pointer)", function(c) c:download("FILE:image/png;1", "/tmp") end },
        { "download(id, nil)", function(c) c:download(FILE_LOWER, nil) end },
        { "download(id, dir, 'x')", function(c) c:download(FILE_LOWER, "/tmp", "x") end },
        { "download execution = 5", function(c) c:download(FILE_LOWER, "/tmp", { execution = 5 }) end },
        { "download into a directory that cannot be made", function(c) c:download(FILE_LOWER, "/dev/null/sub/") end },
        { "download to a path under a file", function(c) c:download(FILE_LOWER, "/dev/null/sub/x.png") end },
        { "wait_execution(nil)", function(c) c:wait_execution(nil) end },
        { "wait_execution timeout -1", function(c) c:wait_execution(EXEC_STAGS, { timeout = -1 }) end },
        { "wait_execution interval '1'", function(c) c:wait_execution(EXEC_STAGS, { interval = "1" }) end },
        { "wait_execution(id, 'fast')", function(c) c:wait_execution(EXEC_STAGS, "fast") end },
        { "dexi.client('x')", function() dexi.client("x") end },
        { "dexi.client base_url ftp", function() client { base_url = "ftp://example.com/" } end },
        { "dexi.client retries '3'", function() client { retries = "3" } end },
        { "dexi.client timeout 'x'", function() client { timeout = "x" } end },
      }
      for _, case in ipairs(cases) do
        it(case[1], function()
          local c = client()
          local err = fails(case[2], c)
          assert.equal("argument", err.kind, tostring(err))
          assert.is_string(err.message)
          assert.same({}, S.requests("dexi"))
        end)
      end
    end)
  end)
end)
