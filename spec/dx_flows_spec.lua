-- The dx client's flows against the fake DX Web API: cursor and page-number paging, Data Studio
-- queries, workflow-run waits, 303 downloads, the per-token sliding window and the retry policy.
local dx = require "dx"
local json = require "autolua.json"
local log = require "autolua.log"
local task = require "autolua.task"
local S = require "support"
local store_support = require "store_support"

local D = require "dx_support"
local TOKEN, client, recorded, fails = D.TOKEN, D.client, D.recorded, S.fails

local function statuses(rs)
  local out = {}
  for i, r in ipairs(rs) do out[i] = r.status end
  return out
end

local function q1(r, name) return r.query[name] and r.query[name][1] end

-- Runs fn with warnings silenced (a spec that provokes one on purpose).
local function quietly(fn)
  local level
  for _, l in ipairs { "debug", "info", "warn", "error" } do
    if log.enabled(l) then level = l break end
  end
  log.set_level("error")
  local ok, err = pcall(fn)
  if level then log.set_level(level) end
  if not ok then error(err, 0) end
end

before_each(function()
  S.reset("dx")
  S.reset("dx_files")
end)

describe("dx paging", function()
  local c
  before_each(function() c = client() end)

  it("c:pages follows response_metadata.next_cursor to the end", function()
    local args = { limit = 3 }
    local sizes = {}
    for page in c:pages("catalog.entities.list", args) do sizes[#sizes + 1] = #page.entities end
    assert.same({ 3, 3, 2 }, sizes)
    assert.same({ limit = 3 }, args)                         -- the caller's table is left alone
    local rs = recorded("catalog.entities.list")
    assert.equal(3, #rs)
    assert.is_nil(q1(rs[1], "cursor"))
    assert.is_string(q1(rs[2], "cursor"))
    assert.not_equal(q1(rs[2], "cursor"), q1(rs[3], "cursor"))
    for _, r in ipairs(rs) do assert.equal("3", q1(r, "limit")) end
  end)

  it("c:each walks the items of every page, the field named or guessed", function()
    local names = {}
    for e in c:each("catalog.entities.list", { limit = 2 }, "entities") do names[#names + 1] = e.identifier end
    assert.equal(8, #names)
    assert.equal(4, #recorded("catalog.entities.list"))
    S.reset("dx")
    local n = 0
    for i in c:each("initiatives.list", { limit = 2 }) do n = n + 1; assert.is_string(i.id) end
    assert.equal(5, n)
    assert.equal(3, #recorded("initiatives.list"))
    -- nested families, and filters kept on every page
    local libs = {}
    for e in c:each("catalog.entities.list", { limit = 1, type = "library" }, "entities") do libs[#libs + 1] = e.identifier end
    assert.same({ "http-client", "money-lib" }, libs)
    local comments = 0
    for _ in c:each("snapshots.driverComments.list", { id = "snap2024q3a1", limit = 4 }, "driver_comments") do
      comments = comments + 1
    end
    assert.is_true(comments > 4)
  end)

  it("page-numbered users.list goes page by page until next_page is null", function()
    local emails = {}
    for u in c:each("users.list", { page_size = 4 }) do emails[#emails + 1] = u.email end
    assert.equal(11, #emails)
    assert.equal("alice@example.com", emails[1])
    local pages = {}
    for _, r in ipairs(recorded("users.list")) do pages[#pages + 1] = q1(r, "page") or "1" end
    assert.same({ "1", "2", "3" }, pages)
    S.reset("dx")
    S.config("dx", { extra_users = 189 })
    local n = 0
    for p in c:pages("users.list", { page_size = 100 }) do n = n + #p.users end
    assert.equal(200, n)
    assert.equal(2, #recorded("users.list"))
  end)

  it("an unpaginated list is one page", function()
    local n = 0
    for p in c:pages("teams.list") do n = n + 1; assert.equal(5, #p.teams) end
    assert.equal(1, n)
  end)

  it("stops on a repeated cursor instead of looping", function()
    S.config("dx", { repeat_cursor = "catalog.entities.list" })
    quietly(function()
      local n = 0
      for _ in c:pages("catalog.entities.list", { limit = 3 }) do
        n = n + 1
        assert.is_true(n < 10, "looping")
      end
      assert.equal(2, n)
      local items = 0
      for _ in c:each("catalog.entities.list", { limit = 3 }, "entities") do items = items + 1 end
      assert.equal(6, items)
    end)
    assert.equal(4, #recorded("catalog.entities.list"))
  end)

  it("an error on a later page is raised from the iterator", function()
    local it = c:pages("catalog.entities.list", { limit = 3 })
    assert.equal(3, #it().entities)
    S.config("dx", { fail_next = 1, fail_status = 403 })
    local e = fails(it)
    assert.equal("api", e.kind)
    assert.equal(403, e.status)
    local bad = c:pages("catalog.entities.list", { cursor = "garbage" })
    assert.equal("invalid_cursor", fails(bad).code)
  end)
end)

describe("dx Data Studio queries", function()
  local c
  before_each(function()
    c = client()
    S.config("dx", { query_retry_after = 0 })          -- the fake's Retry-After: 1 would make this slow
  end)

  it("execute (202) -> info until succeeded -> results rows", function()
    S.config("dx", { query_polls = 2 })
    local res = c:query("select 42 as answer, 'x' as tag", { interval = 0.01 })
    assert.same({ "answer", "tag" }, res.columns)
    assert.same({ { 42, "x" } }, res.rows)
    local rs = recorded()
    local paths, codes = {}, {}
    for i, r in ipairs(rs) do paths[i], codes[i] = r.path, r.status end
    assert.same({ "/studio.queryRuns.execute", "/studio.queryRuns.info", "/studio.queryRuns.info",
                  "/studio.queryRuns.info", "/studio.queryRuns.results" }, paths)
    assert.same({ 202, 200, 200, 200, 200 }, codes)
    assert.same({ sql = "select 42 as answer, 'x' as tag" }, json.decode(rs[1].body))
    for i = 2, 5 do assert.equal(res.id, q1(rs[i], "id")) end
    -- variables go along, and rows of a table
    S.reset("dx")
    S.config("dx", { query_retry_after = 0, query_polls = 0 })
    res = c:query("select id, name from services where tier = $tier limit 5",
                  { variables = { tier = "tier-1" }, interval = 0.01 })
    assert.same({ "id", "name", "value" }, res.columns)
    assert.equal(5, #res.rows)
    assert.same({ tier = "tier-1" }, json.decode(recorded("studio.queryRuns.execute")[1].body).variables)
  end)

  it("a 409 from results means not finished: it keeps polling", function()
    S.config("dx", { query_polls = 0, fail_next = 2, fail_status = 409, fault_methods = { "studio.queryRuns.results" } })
    local res = c:query("select 1 as one", { interval = 0.01 })
    assert.same({ { 1 } }, res.rows)
    assert.same({ 409, 409, 200 }, statuses(recorded("studio.queryRuns.results")))
    -- called directly, the 409 is the API's execution_not_complete
    S.reset("dx")
    S.config("dx", { query_polls = 5 })
    local id = c.studio.queryRuns.execute { sql = "select 1" }.query_run.id
    local e = fails(c.call, c, "studio.queryRuns.results", { id = id })
    assert.equal(409, e.status)
    assert.equal("execution_not_complete", e.code)
  end)

  it("honours Retry-After between polls", function()
    S.config("dx", { query_polls = 0, query_retry_after = 1 })
    local t0 = task.now()
    c:query("select 1 as one", { interval = 0.01 })
    assert.is_true(task.now() - t0 >= 0.95, "polled without waiting")   -- the 202 said Retry-After: 1
    local rs = recorded()
    assert.is_true(rs[2].t - rs[1].t >= 0.95)
  end)

  it("a 410 on results raises kind = api, code = expired", function()
    S.config("dx", { query_polls = 0 })
    local e = fails(c.query, c, "select 1 as expire_me", { interval = 0.01 })
    assert.equal("api", e.kind)
    assert.equal("expired", e.code)
    assert.equal(410, e.status)
    assert.equal("studio.queryRuns.results", e.method)
    assert.matches("run it again", e.message)
    assert.equal(1, #recorded("studio.queryRuns.results"))   -- 410 is final: not retried
    -- and when .info already says expired
    S.config("dx", { expire_runs = true })
    e = fails(c.query, c, "select 1", { interval = 0.01 })
    assert.equal("expired", e.code)
  end)

  it("SQL the API refuses (422) raises kind = api with its code", function()
    local e = fails(c.query, c, "delete from users")
    assert.equal("api", e.kind)
    assert.equal(422, e.status)
    assert.equal("invalid_sql", e.code)
    assert.equal("studio.queryRuns.execute", e.method)
    e = fails(c.query, c, "select * from t where x = $missing")
    assert.equal("invalid_variables", e.code)
    assert.equal(2, #recorded())
  end)

  it("a failed run raises kind = api with the run's error code", function()
    S.config("dx", { query_polls = 1 })
    local e = fails(c.query, c, "select 1/0 as fail", { interval = 0.01 })
    assert.equal("api", e.kind)
    assert.equal("sql_error", e.code)
    assert.matches("division by zero", e.message)
    assert.equal(0, #recorded("studio.queryRuns.results"))
  end)

  it("past its timeout raises kind = timeout", function()
    S.config("dx", { query_polls = 1000, query_info_limit = 0 })
    local t0 = task.now()
    local e = fails(c.query, c, "select 1", { timeout = 0.3, interval = 0.05 })
    assert.equal("timeout", e.kind)
    assert.matches("did not finish within 0.3 s", e.message)
    assert.is_true(task.now() - t0 < 2)
    assert.is_true(#recorded("studio.queryRuns.info") >= 2)
    assert.equal("argument", fails(c.query, c, "  ").kind)
  end)

  it("a 429 on info polling (10 polls per 5 s per run) is waited out", function()
    S.config("dx", { query_polls = 4, query_info_limit = 3, query_info_window = 1 })
    local res = c:query("select 1 as one", { interval = 0.01 })
    assert.same({ { 1 } }, res.rows)
    local codes = statuses(recorded("studio.queryRuns.info"))
    assert.same({ 200, 200, 200, 429, 200, 200 }, codes)
  end)
end)

describe("dx workflow runs", function()
  local c
  before_each(function() c = client() end)

  it("c:wait_workflow_run polls workflowRuns.info until SUCCEEDED", function()
    local id = c.workflowRuns.trigger { workflow_identifier = "rotate-secrets" }.workflow_run.id
    local run = c:wait_workflow_run(id, { interval = 0.01 })
    assert.equal("SUCCEEDED", run.status)
    assert.equal(id, run.id)
    assert.is_string(run.completed_at)
    local types = {}
    for _, ev in ipairs(run.events) do types[#types + 1] = ev.type end
    assert.same({ "WORKFLOW_TRIGGERED", "HTTP_REQUEST_COMPLETED", "WORKFLOW_SUCCEEDED" }, types)
    assert.equal(3, #recorded("workflowRuns.info"))     -- workflow_polls = 2 pending answers, then the final one
  end)

  it("returns a run that ended in a failure status instead of raising", function()
    local id = c.workflowRuns.trigger { workflow_identifier = "scripted-job", data = { outcome = "FAILED" } }.workflow_run.id
    assert.equal("FAILED", c:wait_workflow_run(id, { interval = 0.01 }).status)
    id = c.workflowRuns.trigger { workflow_identifier = "scripted-job", data = { outcome = "REJECTED" } }.workflow_run.id
    assert.equal("REJECTED", c:wait_workflow_run(id, { interval = 0.01 }).status)
    S.config("dx", { workflow_outcome = "TIMEOUT" })
    id = c.workflowRuns.trigger { workflow_identifier = "rotate-secrets" }.workflow_run.id
    assert.equal("TIMEOUT", c:wait_workflow_run(id, { interval = 0.01 }).status)
    S.config("dx", { workflow_outcome = "CANCELLED", workflow_polls = 6 })
    id = c.workflowRuns.trigger { workflow_identifier = "provision-db", data = { team = 101 } }.workflow_run.id
    local run = c:wait_workflow_run(id, { interval = 0.01 })
    assert.equal("CANCELLED", run.status)
    local polls = 0
    for _, r in ipairs(recorded("workflowRuns.info")) do if q1(r, "id") == id then polls = polls + 1 end end
    assert.equal(7, polls)                                  -- workflow_polls = 6 pending answers, then the final one
  end)

  it("an event-driven run waits for changeStatus; postMessage and addLink show in workflowRuns.info", function()
    local id = c.workflowRuns.trigger { workflow_identifier = "manual-migration", data = { ticket = "OPS-7" } }.workflow_run.id
    local e = fails(c.wait_workflow_run, c, id, { timeout = 0.2, interval = 0.02 })
    assert.equal("timeout", e.kind)
    assert.matches(id, e.message)
    assert.equal("WAITING_FOR_EVENTS", c.workflowRuns.info { id = id }.workflow_run.status)
    c.workflowRuns.postMessage { workflow_run_id = id, message = "migrating 3 tables" }
    c.workflowRuns.addLink { workflow_run_id = id, link = { url = "https://runbooks.example/ops-7", label = "Runbook" } }
    c.workflowRuns.changeStatus { workflow_run_id = id, status = "SUCCEEDED" }
    local run = c:wait_workflow_run(id, { interval = 5 })      -- already final: no sleeping
    assert.equal("SUCCEEDED", run.status)
    assert.same({ url = "https://runbooks.example/ops-7", label = "Runbook" },
                { url = run.links[1].url, label = run.links[1].label })
    local by_type = {}
    for _, ev in ipairs(run.events) do by_type[ev.type] = ev end
    assert.equal("migrating 3 tables", by_type.POST_MESSAGE.message)
    assert.equal("https://runbooks.example/ops-7", by_type.ADD_LINK.data.link.url)
    assert.equal("SUCCEEDED", by_type.CHANGE_STATUS.data.status)
    assert.is_table(by_type.WORKFLOW_SUCCEEDED)
    -- a finished run cannot change again: 409 conflict
    local err = fails(function() return c.workflowRuns.changeStatus { workflow_run_id = id, status = "FAILED" } end)
    assert.equal("api", err.kind)
    assert.equal(409, err.status)
    assert.equal("conflict", err.code)
  end)

  it("an entity workflow takes entity_identifier and checks its data", function()
    local id = c.workflowRuns.trigger { workflow_identifier = "deploy-service", entity_identifier = "payments-api",
                                        data = { version = "1.4.2", dry_run = true } }.workflow_run.id
    local run = c:wait_workflow_run(id, { interval = 0.01 })
    assert.equal("SUCCEEDED", run.status)
    assert.equal("payments-api", run.entity.identifier)
    assert.equal("1.4.2", run.data.version)
    local e = fails(c.wait_workflow_run, c, "nope", { interval = 0.01 })
    assert.equal("not_found", e.code)
    assert.equal("argument", fails(c.wait_workflow_run, c, nil).kind)
  end)
end)

describe("dx downloads", function()
  local c, dir
  before_each(function()
    c = client()
    dir = S.tmpdir()
  end)
  after_each(function() os.execute("rm -rf " .. S.quote(dir)) end)

  it("follows the 303 to the files host without the Authorization header", function()
    local dest = dir .. "/snap.xlsx"
    local r = c:download("snapshots.getFile", { snapshot_id = "snap2024q3a1" }, dest)
    assert.equal(dest, r.path)
    assert.equal("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", r.mime)
    local bytes = S.slurp(dest)
    assert.equal(#bytes, r.bytes)
    assert.equal("PK\3\4", bytes:sub(1, 4))                  -- a real xlsx (zip)
    assert.same({ "snap.xlsx" }, S.ls(dir))
    local api = recorded("snapshots.getFile")
    assert.equal(1, #api)
    assert.equal(303, api[1].status)
    assert.equal("Bearer " .. TOKEN, api[1].headers.authorization)
    local files = recorded(nil, "dx_files")
    assert.equal(1, #files)
    assert.equal(200, files[1].status)
    assert.matches("^/files/", files[1].path)
    assert.is_nil(files[1].headers.authorization)
    for k, v in pairs(files[1].headers) do assert.is_nil(tostring(v):find(TOKEN, 1, true), k) end
  end)

  it("takes the file inline when the API answers 200 instead of 303", function()
    local first = dir .. "/a.xlsx"
    c:download("snapshots.getFile", { snapshot_id = "snap2024q4b2" }, first)
    S.reset("dx_files")
    S.config("dx", { snapshot_file_inline = true })
    local dest = dir .. "/inline.xlsx"
    local r = c:download("snapshots.getFile", { snapshot_id = "snap2024q4b2" }, dest)
    assert.equal(200, recorded("snapshots.getFile")[2].status)
    assert.same({}, recorded(nil, "dx_files"))
    assert.equal(S.sha256(first), S.sha256(dest))
    assert.equal(#S.slurp(dest), r.bytes)
  end)

  it("is atomic: a truncated file leaves nothing at the path, a retried one is whole", function()
    local clean = dir .. "/clean.xlsx"
    c:download("snapshots.getFile", { snapshot_id = "snap2024q4b2" }, clean)
    S.reset("dx_files")
    S.config("dx_files", { truncate_next = 10 })
    local e = fails(c.download, client { retries = 2 }, "snapshots.getFile", { snapshot_id = "snap2024q4b2" }, dir .. "/cut.xlsx")
    assert.equal("network", e.kind)
    assert.equal(3, e.attempts)
    assert.equal(3, #recorded(nil, "dx_files"))
    assert.same({ "clean.xlsx" }, S.ls(dir))                 -- no partial file, no temporary left behind
    S.reset("dx_files")
    S.config("dx_files", { truncate_next = 1 })
    c:download("snapshots.getFile", { snapshot_id = "snap2024q4b2" }, dir .. "/again.xlsx")
    assert.equal(2, #recorded(nil, "dx_files"))
    assert.equal(S.sha256(clean), S.sha256(dir .. "/again.xlsx"))
    -- a truncated inline answer leaves nothing either
    S.config("dx", { snapshot_file_inline = true, truncate_next = 10, fault_methods = { "snapshots.getFile" } })
    fails(c.download, client { retries = 1 }, "snapshots.getFile", { snapshot_id = "snap2024q4b2" }, dir .. "/inl.xlsx")
    assert.same({ "again.xlsx", "clean.xlsx" }, S.ls(dir))
  end)

  it("an API error leaves no file", function()
    local e = fails(c.download, c, "snapshots.getFile", { snapshot_id = "snap2025q1c3" }, dir .. "/open.xlsx")
    assert.equal("api", e.kind)
    assert.equal("snapshot_not_completed", e.code)
    local nc = client { token = "dx-noscope-token" }
    e = fails(nc.download, nc, "snapshots.getFile", { snapshot_id = "snap2024q3a1" }, dir .. "/x.xlsx")
    assert.equal("missing_scope", e.code)
    assert.same({}, S.ls(dir))
    assert.same({}, recorded(nil, "dx_files"))
    assert.equal("argument", fails(c.download, c, "snapshots.getFile", {}, dir .. "/y.xlsx").kind)
    assert.equal("argument", fails(c.download, c, "snapshots.getFile", { snapshot_id = "snap2024q3a1" }).kind)
  end)

  it("a redirect loop on the files host raises a clear error and leaves no file", function()
    S.config("dx_files", { redirect_loop = "*" })
    local e = fails(c.download, c, "snapshots.getFile", { snapshot_id = "snap2024q3a1" }, dir .. "/loop.xlsx")
    assert.equal("http", e.kind)
    assert.matches("redirects", e.message)
    assert.is_nil(tostring(e):find("X-Amz-Signature=%x"))   -- the presigned signature is redacted
    assert.same({}, S.ls(dir))
  end)

  it("downloads a query's CSV through the 303 of studio.queryRuns.results", function()
    S.config("dx", { query_polls = 0, query_retry_after = 0 })
    local res = c:query("select id, name from services limit 4", { interval = 0.01 })
    local dest = dir .. "/q.csv"
    local r = c:download("studio.queryRuns.results", { id = res.id, format = "csv" }, dest)
    assert.equal("text/csv", r.mime)
    assert.equal("id,name,value\r\n1,row 1,10\r\n2,row 2,20\r\n3,row 3,30\r\n4,row 4,40\r\n", S.slurp(dest))
    assert.is_nil(recorded(nil, "dx_files")[1].headers.authorization)
  end)
end)

-- The times the fake logged requests 'rs' at, earliest first.
local function sorted_times(rs)
  local times = {}
  for i, r in ipairs(rs) do times[i] = r.t end
  table.sort(times)
  return times
end

-- No n + 1 of 'times' (sorted) fall within less than 'span' seconds.
local function at_most(times, n, span, msg)
  for i = n + 1, #times do assert.is_true(times[i] - times[i - n] >= span, msg) end
end

describe("dx limits and retries", function()
  it("keeps under a lowered sliding window, shared by two clients of one token", function()
    S.config("dx", { limit = 5, window = 1 })
    local a = client { limit = 5, window = 1 }
    local b = client { limit = 5, window = 1 }
    assert.equal(a.limiter, b.limiter)
    assert.not_equal(a.limiter, client { limit = 5, window = 1, token = "dx-personal-token" }.limiter)
    local items = {}
    for i = 1, 10 do items[i] = i end
    local t0 = task.now()
    task.map(items, function(i)
      return (i % 2 == 0 and a or b).teams.list().teams
    end, { concurrency = 10 })
    local dt = task.now() - t0
    local rs = recorded("teams.list")
    assert.equal(10, #rs)
    for _, r in ipairs(rs) do assert.equal(200, r.status) end   -- no 429: the fake's own window agrees
    at_most(sorted_times(rs), 5, 0.95, "6 requests within one window")
    assert.is_true(dt >= 1 and dt < 5, "took " .. dt)
  end)

  it("lets a burst below the limit go at once, without spacing it", function()
    -- 50 triggers and their polls come to about 200 calls; a limit this job never reaches must
    -- not slow it (a limit of its own, so no other spec has spent this limiter)
    local c = client { limit = 900, window = 60 }
    local items = {}
    for i = 1, 200 do items[i] = i end
    local t0 = task.now()
    task.map(items, function() return c.teams.list().teams end, { concurrency = 50 })
    local dt = task.now() - t0
    assert.equal(200, #recorded("teams.list"))
    assert.is_true(dt < 4, ("200 calls below a limit of 900 per 60 s took %.1f s"):format(dt))
  end)

  -- The same pacing whether the window lives in the process, in SQLite or in Redis.
  for _, backend in ipairs { "memory", "sqlite", "redis" } do
    it("spreads a flood past the limit evenly after its first burst, with no 429 (" .. backend .. " store)", function()
      local store = backend
      if backend == "sqlite" then
        local dir = S.tmpdir()
        finally(function() os.execute("rm -rf " .. S.quote(dir)) end)
        store = "sqlite:" .. dir .. "/state.db"
      elseif backend == "redis" then
        local redis = store_support.redis_start()
        finally(function() store_support.redis_stop(redis) end)
        store = redis.url
      end
      S.config("dx", { limit = 20, window = 1 })
      local c = client { limit = 20, window = 1, store = store }
      assert.equal(backend ~= "memory", c.limiter:stats().shared == true)
      local items = {}
      for i = 1, 60 do items[i] = i end
      local t0 = task.now()
      task.map(items, function() return c.teams.list().teams end, { concurrency = 16 })
      local dt = task.now() - t0
      local rs = recorded("teams.list")
      assert.equal(60, #rs)
      for _, r in ipairs(rs) do assert.equal(200, r.status) end
      local times = sorted_times(rs)
      at_most(times, 20, 0.95, "21 requests within one window")
      -- past the first window's burst, no second burst: at most a few at once
      for i = 26, #times do
        assert.is_true(times[i] - times[i - 5] >= 0.15, "a burst of 6 after the first window")
      end
      assert.is_true(dt >= 2 and dt < 6, "took " .. dt)
    end)
  end

  it("retries a 429 after its Retry-After", function()
    S.config("dx", { limit = 2, window = 1 })
    local c = client()
    local t0 = task.now()
    for _ = 1, 3 do assert.equal(5, #c.teams.list().teams) end
    assert.same({ 200, 200, 429, 200 }, statuses(recorded()))
    assert.is_true(task.now() - t0 >= 0.9, "did not wait for Retry-After: 1")
  end)

  it("retries a 429 without Retry-After with backoff", function()
    S.config("dx", { fail_next = 3, fail_status = 429 })
    local c = client()
    assert.equal(5, #c.teams.list().teams)
    assert.same({ 429, 429, 429, 200 }, statuses(recorded()))
  end)

  it("a 429 storm beyond the retry budget raises kind = rate_limited with attempts = requests sent", function()
    S.config("dx", { limit = 0, retry_after_on_429 = false })
    local c = client { retries = 3 }
    local e = fails(function() return c.teams.list() end)
    assert.equal("rate_limited", e.kind)
    assert.equal(429, e.status)
    assert.equal("teams.list", e.method)
    assert.equal(4, e.attempts)
    assert.equal(4, #recorded())
    assert.matches("after 4 attempts", tostring(e))
    -- the same with Retry-After: 0 pauses
    S.reset("dx")
    S.config("dx", { fail_next = 10, fail_status = 429 })
    e = fails(function() return client { retries = 2 }.workflowRuns.trigger { workflow_identifier = "rotate-secrets" } end)
    assert.equal("rate_limited", e.kind)
    assert.equal(3, e.attempts)
    assert.equal(3, #recorded())
  end)

  it("retries a non-idempotent POST on 429, where the server did not act", function()
    S.config("dx", { fail_next = 1, fail_status = 429 })
    local c = client()
    assert.is_string(c.workflowRuns.trigger { workflow_identifier = "rotate-secrets" }.workflow_run.id)
    assert.same({ 429, 200 }, statuses(recorded("workflowRuns.trigger")))
  end)

  it("does not retry a non-idempotent POST after a 500; retries a GET", function()
    local c = client()
    for _, call in ipairs {
      function() return c.workflowRuns.trigger { workflow_identifier = "rotate-secrets" } end,
      function() return c.catalog.entities.create { identifier = "x-svc", type = "service" } end,
      function() return c:call("userGroups.create", { name = "G", team_id = "MTAz" }) end,
    } do
      S.reset("dx")
      S.config("dx", { fail_next = 1 })
      local e = fails(call)
      assert.equal("api", e.kind)
      assert.equal(500, e.status)
      assert.is_true(e.retryable)
      assert.equal(1, e.attempts)
      assert.equal(1, #recorded())
    end
    S.reset("dx")
    S.config("dx", { fail_next = 2, fail_status = 503 })
    assert.equal(5, #c.teams.list().teams)
    assert.same({ 503, 503, 200 }, statuses(recorded()))
  end)

  it("does not retry a non-idempotent POST after a connection reset; retries a GET", function()
    -- A host name no earlier request used: the POST surely goes out on a new connection, so
    -- this is the client's own retry policy at work (the next spec covers a reused one).
    local c = client { base_url = S.fake.dx:gsub("127%.0%.0%.1", "localhost") }
    S.config("dx", { reset_next = 1 })
    local e = fails(function() return c.workflowRuns.trigger { workflow_identifier = "rotate-secrets" } end)
    assert.equal("network", e.kind)
    assert.equal("workflowRuns.trigger", e.method)
    assert.equal(1, e.attempts)
    assert.equal(1, #recorded())
    S.reset("dx")
    S.config("dx", { reset_next = 2 })
    assert.equal(5, #client().teams.list().teams)
    assert.is_true(#recorded() >= 2)
  end)

  -- libcurl silently resends a request whose reused keep-alive connection died before any byte
  -- of the answer (POST included); calls that are not safe to repeat must take a fresh connection.
  it("does not resend a POST when a reused keep-alive connection is reset", function()
    local c = client()
    c.teams.list()                                           -- leaves a pooled connection
    S.config("dx", { reset_next = 1 })
    local e = fails(function() return c.workflowRuns.trigger { workflow_identifier = "rotate-secrets" } end)
    assert.equal("network", e.kind)
    assert.equal(1, #recorded("workflowRuns.trigger"))
  end)

  it("does not retry a non-idempotent POST after a timeout; retries a GET", function()
    S.config("dx", { slow_next = 1, slow_seconds = 1 })
    local c = client { timeout = 0.2 }
    local e = fails(function() return c.workflowRuns.trigger { workflow_identifier = "rotate-secrets" } end)
    assert.equal("timeout", e.kind)
    assert.equal(1, e.attempts)
    assert.equal(1, #recorded())
    S.reset("dx")
    S.config("dx", { slow_next = 1, slow_seconds = 1 })
    assert.equal(5, #c.teams.list().teams)
    assert.equal(2, #recorded())
  end)
end)
