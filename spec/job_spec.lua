-- autolua.job: task.map / task.each with job = NAME, with real processes killed with kill -9, two
-- processes splitting one job, the fakes' request logs, and stores that fail; over SQLite and a
-- real redis-server. Also `autolua job list / show / forget`.
local S = require "support"
local task = require "autolua.task"
local store_support = require "store_support"

-- A job over items "k01".."kNN": each item sends one request naming it to the misc fake, then
-- writes its file (atomically) into DIR. Prints "unknown=k1,k2" for an unknown_outcome.
local JOB = [[
local task = require "autolua.task"
local http = require "autolua.http"
local url, name, once, dir, base, n, lease, who = ...
local items = {}
for i = 1, tonumber(n) do items[i] = ("k%02d"):format(i) end
local ok, err = pcall(task.each, items, function(k)
  http.request { method = once == "once" and "POST" or "GET", url = base:gsub("/$", "") .. "/echo?item=" .. k }
  task.sleep(0.02 + math.random() * 0.05)
  local f = assert(io.open(dir .. "/" .. k .. ".part", "w"))
  f:write(("%s\n"):format(k):rep(1000))
  f:close()
  assert(os.rename(dir .. "/" .. k .. ".part", dir .. "/" .. k))
  local log = assert(io.open(dir .. "/ran.log", "a"))
  log:write(k, " ", who or "p", "\n")
  log:close()
end, { job = name, once = once == "once", lease = tonumber(lease), store = url, concurrency = 3 })
if ok then print("finished") os.exit(0) end
if type(err) == "table" and err.code == "unknown_outcome" then
  print("unknown=" .. table.concat(err.keys, ","))
  os.exit(3)
end
io.stderr:write(tostring(err), "\n")
os.exit(1)
]]

local function job_file()
  local dir = S.tmpdir()
  S.spit(dir .. "/job.lua", JOB)
  return dir
end

-- Runs the job in the background, kills it with SIGKILL after 'after' seconds (nil: never).
local function run_job(jobdir, args, after)
  local q = {}
  for i, a in ipairs(args) do q[i] = S.quote(a) end
  local cmd = ("%s %s/job.lua %s >%s/out 2>%s/err"):format(S.quote(S.bin), jobdir, table.concat(q, " "), jobdir, jobdir)
  if after then
    os.execute(("%s & pid=$!; sleep %.2f; kill -9 $pid 2>/dev/null; wait $pid 2>/dev/null"):format(cmd, after))
  else
    os.execute(cmd)
  end
  return S.slurp(jobdir .. "/out"), S.slurp(jobdir .. "/err")
end

local function item_requests(method)
  local counts = {}
  for _, r in ipairs(S.requests("misc")) do
    local k = r.path:match("^/echo") and r.method == method and (r.query and r.query.item)
    if type(k) == "table" then k = k[1] end
    if k then counts[k] = (counts[k] or 0) + 1 end
  end
  return counts
end

local function check_files(dir, n)
  for i = 1, n do
    local k = ("k%02d"):format(i)
    local f = io.open(dir .. "/" .. k)
    assert.is_truthy(f, "lost " .. k)
    local body = f:read("a")
    f:close()
    assert.equal(("%s\n"):format(k):rep(1000), body, "corrupt " .. k)
  end
end

for _, backend in ipairs { "sqlite", "redis" } do
  describe("jobs over " .. backend, function()
    local url, redis
    setup(function() url, redis = store_support.backend(backend) end)
    teardown(function() store_support.backend_stop(redis) end)
    before_each(function() S.reset("misc") end)

    it("records done items with their results and skips them on a re-run", function()
      local calls = 0
      local opts = { job = "rerun-" .. backend, store = url }
      local r = task.map({ "a", "b", "c" }, function(x) calls = calls + 1; return { x = x } end, opts)
      assert.same({ { x = "a" }, { x = "b" }, { x = "c" } }, r)
      r = task.map({ "a", "b", "c", "d" }, function(x) calls = calls + 1; return { x = x .. "!" } end, opts)
      assert.same({ { x = "a" }, { x = "b" }, { x = "c" }, { x = "d!" } }, r)   -- the recorded results
      assert.equal(4, calls)
    end)

    it("records an item's error, cancels the rest, and retries failed items later", function()
      local opts = { job = "fail-" .. backend, store = url, concurrency = 1 }
      local e = S.fails(task.each, { "a", "b", "c" }, function(x)
        if x == "b" then error({ kind = "api", code = "boom", message = "no" }, 0) end
      end, opts)
      assert.equal("boom", e.code)
      local ran = {}
      task.each({ "a", "b", "c" }, function(x) ran[#ran + 1] = x end, opts)
      assert.same({ "b", "c" }, ran)
    end)

    it("needs a key for items that are not strings or numbers", function()
      local e = S.fails(task.each, { {} }, function() end, { job = "nokey", store = url })
      assert.equal("argument", e.kind)
      assert.matches("key", e.message)
    end)

    it("killed with kill -9 at random points: every item done, none lost or corrupt", function()
      local jobdir, name = job_file(), "kill-" .. backend
      local out
      for _ = 1, 4 do
        out = run_job(jobdir, { url, name, "many", jobdir, S.fake.misc, 24, 0.5 }, 0.3 + math.random() * 0.6)
      end
      out = run_job(jobdir, { url, name, "many", jobdir, S.fake.misc, 24, 0.5 })
      assert.matches("finished", out, 1, true)
      check_files(jobdir, 24)
      local counts = item_requests("GET")
      for i = 1, 24 do assert.is_true((counts[("k%02d"):format(i)] or 0) >= 1) end   -- at least once
      os.execute("rm -rf " .. S.quote(jobdir))
    end)

    it("a once item in flight when killed is reported unknown_outcome and never sent twice", function()
      local jobdir, name = job_file(), nil
      local out
      for attempt = 1, 5 do   -- kill it while items are in flight (a new job if it finished first)
        name = ("once-%s-%d"):format(backend, attempt)
        S.reset("misc")
        out = run_job(jobdir, { url, name, "once", jobdir, S.fake.misc, 20, 0.5 }, 0.15 + math.random() * 0.2)
        if not out:find("finished", 1, true) then break end
      end
      os.execute("sleep 0.6")   -- the dead process's leases run out
      out = run_job(jobdir, { url, name, "once", jobdir, S.fake.misc, 20, 0.5 })
      local unknown = out:match("unknown=(%S+)")
      assert.is_truthy(unknown, out)
      local counts = item_requests("POST")
      for k, c in pairs(counts) do assert.equal(1, c, k .. " was sent twice") end
      local again = run_job(jobdir, { url, name, "once", jobdir, S.fake.misc, 20, 0.5 })
      assert.equal("unknown=" .. unknown, again:match("unknown=%S+"))          -- still not run again
      for k, c in pairs(item_requests("POST")) do assert.equal(1, c, k .. " was sent twice") end
      -- every item that is not unknown is done, exactly once
      local unk = {}
      for k in unknown:gmatch("[^,]+") do unk[k] = true end
      for i = 1, 20 do
        local k = ("k%02d"):format(i)
        if not unk[k] then assert.equal(1, counts[k], k) end
      end
      -- the user checked them: forgetting the keys lets them run
      for k in pairs(unk) do
        local r = S.run({ "job", "forget", name, "--key", k, "--store", url })
        assert.equal(0, r.code, r.err)
      end
      out = run_job(jobdir, { url, name, "once", jobdir, S.fake.misc, 20, 0.5 })
      assert.matches("finished", out, 1, true)
      os.execute("rm -rf " .. S.quote(jobdir))
    end)

    it("two processes running one job split its items, each run once", function()
      local jobdir, name = job_file(), "split-" .. backend
      local a = S.tmpdir()
      os.execute(("cp %s/job.lua %s/"):format(jobdir, a))
      local args = table.concat({ S.quote(url), name, "many", jobdir, S.quote(S.fake.misc), 30, 5 }, " ")
      os.execute(("%s %s/job.lua %s A >%s/out 2>&1 & %s %s/job.lua %s B >%s/out 2>&1; wait"):format(
        S.quote(S.bin), jobdir, args, jobdir, S.quote(S.bin), a, args, a))
      assert.matches("finished", S.slurp(jobdir .. "/out"))
      assert.matches("finished", S.slurp(a .. "/out"))
      local seen, pids = {}, {}
      for line in io.lines(jobdir .. "/ran.log") do
        local k, pid = line:match("^(%S+) (%S+)")
        seen[k] = (seen[k] or 0) + 1
        pids[pid] = true
      end
      for i = 1, 30 do assert.equal(1, seen[("k%02d"):format(i)]) end
      local n = 0
      for _ in pairs(pids) do n = n + 1 end
      assert.equal(2, n, "one process did all the work")
      os.execute("rm -rf " .. S.quote(jobdir) .. " " .. S.quote(a))
    end)

    it("kill -9 one of two workers mid-job: the other takes its items after the lease, none lost", function()
      local jobdir, name = job_file(), "takeover-" .. backend
      local a = S.tmpdir()
      os.execute(("cp %s/job.lua %s/"):format(jobdir, a))
      -- both write into jobdir; A (concurrency 3) is killed 0.35 s in, B goes on alone
      local args = table.concat({ S.quote(url), name, "many", jobdir, S.quote(S.fake.misc), 90, 1 }, " ")
      local t0 = task.now()
      os.execute(("%s %s/job.lua %s A >%s/out 2>&1 & pa=$!; %s %s/job.lua %s B >%s/out 2>&1 & pb=$!; "
                  .. "sleep 0.35; kill -9 $pa; wait $pa $pb 2>/dev/null"):format(
        S.quote(S.bin), a, args, a, S.quote(S.bin), jobdir, args, jobdir))
      local took = task.now() - t0
      assert.is_nil(S.slurp(a .. "/out"):find("finished", 1, true), "A finished before it was killed")
      assert.matches("finished", S.slurp(jobdir .. "/out"))
      check_files(jobdir, 90)
      local ran, by = {}, { A = {}, B = {} }
      for line in io.lines(jobdir .. "/ran.log") do
        local k, who = line:match("^(%S+) (%S+)")
        ran[k] = (ran[k] or 0) + 1
        by[who][k] = true
      end
      -- at least once; twice only for what A had claimed when it died (its concurrency: 3)
      local twice, sent_twice = 0, 0
      local gets = item_requests("GET")
      for i = 1, 90 do
        local k = ("k%02d"):format(i)
        assert.is_true(ran[k] >= 1 and ran[k] <= 2, k)
        assert.is_true(gets[k] >= 1 and gets[k] <= 2, k)
        if ran[k] == 2 then twice = twice + 1 end
        if gets[k] == 2 then sent_twice = sent_twice + 1 end
      end
      assert.is_true(twice <= 3 and sent_twice <= 3, ("%d run twice, %d sent twice"):format(twice, sent_twice))
      assert.is_truthy(next(by.A), "A ran nothing before it was killed")
      -- B took over what A held only once A's lease (1 s) ran out
      assert.is_true(took >= 1.2, ("B finished %.2f s after the start"):format(took))
      os.execute("rm -rf " .. S.quote(jobdir) .. " " .. S.quote(a))
    end)

    it("autolua job list / show / forget, with --json", function()
      local name = "cli-" .. backend
      task.each({ "x", "y" }, function() end, { job = name, store = url })
      local r = S.run({ "job", "show", name, "--json", "--store", url })
      assert.equal(0, r.code, r.err)
      assert.matches('"done":2', r.out, 1, true)
      r = S.run({ "job", "list", "--store", url })
      assert.matches(name, r.out, 1, true)
      r = S.run({ "job", "forget", name, "--json", "--store", url })
      assert.matches('"forgotten":2', r.out, 1, true)
      r = S.run({ "job", "show", name, "--json", "--store", url })
      assert.matches('"done":0', r.out, 1, true)
      r = S.run({ "job", "frobnicate" })
      assert.equal(2, r.code)
    end)
  end)
end

describe("jobs when the store fails", function()
  it("a store that cannot be opened: kind = store, nothing run", function()
    local ran = false
    local e = S.fails(task.each, { "a" }, function() ran = true end, { job = "x", store = "sqlite:/dev/null/state.db" })
    assert.equal("store", e.kind)
    assert.matches("/dev/null/state.db", e.message, 1, true)
    assert.is_false(ran)
  end)

  it("a corrupt file: kind = store, code = corrupt", function()
    local dir = S.tmpdir()
    S.spit(dir .. "/state.db", ("garbage\n"):rep(500))
    local e = S.fails(task.each, { "a" }, function() end, { job = "x", store = "sqlite:" .. dir .. "/state.db" })
    os.execute("rm -rf " .. S.quote(dir))
    assert.same({ "store", "corrupt" }, { e.kind, e.code })
  end)

  it("a lock held by another process for 5 s: new claims wait for it with backoff, then the job goes on", function()
    local dir = S.tmpdir()
    local url = "sqlite:" .. dir .. "/state.db"
    task.each({ "warm" }, function() end, { job = "lock", store = url })
    local held = store_support.hold_sqlite_lock(dir .. "/state.db", 5)
    local t0 = task.now()
    local ran = {}
    task.each({ "a", "b" }, function(k) ran[#ran + 1] = k end, { job = "lock", store = url })
    local dt = task.now() - t0
    store_support.wait(held)
    table.sort(ran)
    assert.same({ "a", "b" }, ran)
    assert.is_true(dt < 12, "waited " .. dt)        -- the lock's 5 s, a call's deadline, a backoff step
    os.execute("rm -rf " .. S.quote(dir))
  end)

  it("a done record that cannot reach redis is kept, written when it returns, and never lost", function()
    local redis = store_support.redis_start()
    finally(function() store_support.redis_stop(redis) end)
    local dir = S.tmpdir()
    -- item "a" finishes while redis-server is down (stopped 0.6 s in, back, empty, 3 s in)
    S.spit(dir .. "/p.lua", [[
      local task = require "autolua.task"
      local url, dir = ...
      local r = task.map({ "a" }, function(k)
        local log = assert(io.open(dir .. "/ran.log", "a"))
        log:write(k, "\n")
        log:close()
        task.sleep(tonumber(os.getenv("ITEM_SECONDS") or "0"))
        return { item = k }
      end, { job = "kept", store = url, lease = 10 })
      print("finished " .. r[1].item)
    ]])
    local cmd = ("%s %s/p.lua %s %s >%s/out 2>%s/err"):format(S.quote(S.bin), dir, S.quote(redis.url), dir, dir, dir)
    os.execute("(ITEM_SECONDS=1.5 " .. cmd .. ") & sleep 0.6; " .. store_support.redis_stop_cmd(redis) .. "; sleep 2.4; "
               .. store_support.redis_start_cmd(redis) .. "; wait")
    local out, err = S.slurp(dir .. "/out"), S.slurp(dir .. "/err")
    assert.matches("finished a", out, 1, true)
    assert.matches("finished items are kept here and written when it answers", err, 1, true)
    -- the record is in the restarted (empty) server: a re-run skips the item and gives its result
    local r = S.run({ "job", "show", "kept", "--json", "--store", redis.url })
    assert.matches('"done":1', r.out, 1, true)
    os.execute(cmd)
    assert.matches("finished a", S.slurp(dir .. "/out"), 1, true)
    assert.equal("a\n", S.slurp(dir .. "/ran.log"))
    os.execute("rm -rf " .. S.quote(dir))
  end)

  it("a kept record is written as soon as redis answers, not only at the end: a later kill -9 loses nothing", function()
    local redis = store_support.redis_start()
    finally(function() store_support.redis_stop(redis) end)
    local dir = S.tmpdir()
    -- "a" finishes while redis-server is down; "b" is claimed once it is back, then its process
    -- dies with SIGKILL, before the end of the run
    S.spit(dir .. "/p.lua", [[
      local task = require "autolua.task"
      local url, dir, die = ...
      task.each({ "a", "b" }, function(k)
        local log = assert(io.open(dir .. "/ran.log", "a"))
        log:write(k, "\n")
        log:close()
        if k == "a" then task.sleep(tonumber(os.getenv("ITEM_SECONDS") or "0")) end
        if k == "b" and die == "die" then
          local f = assert(io.open("/proc/self/stat"))
          local pid = f:read("a"):match("^(%d+)")
          f:close()
          os.execute("kill -9 " .. pid)
        end
      end, { job = "caught-up", store = url, lease = 2, concurrency = 1 })
      print("finished")
    ]])
    local cmd = ("%s %s/p.lua %s %s %%s >%s/out 2>%s/err"):format(S.quote(S.bin), dir, S.quote(redis.url), dir, dir, dir)
    os.execute("(ITEM_SECONDS=1.5 " .. cmd:format("die") .. ") & sleep 0.6; " .. store_support.redis_stop_cmd(redis)
               .. "; sleep 2.4; " .. store_support.redis_start_cmd(redis) .. "; wait")
    assert.is_nil(S.slurp(dir .. "/out"):find("finished", 1, true), "it was not killed")
    assert.equal("a\nb\n", S.slurp(dir .. "/ran.log"))
    os.execute(cmd:format("live"))
    assert.matches("finished", S.slurp(dir .. "/out"), 1, true)
    assert.equal("a\nb\nb\n", S.slurp(dir .. "/ran.log"))     -- "a" was recorded done: not run again
    os.execute("rm -rf " .. S.quote(dir))
  end)

  it("a failed record that cannot reach redis is kept too, and written when it returns", function()
    local redis = store_support.redis_start()
    finally(function() store_support.redis_stop(redis) end)
    local dir = S.tmpdir()
    S.spit(dir .. "/p.lua", [[
      local task = require "autolua.task"
      local ok, err = pcall(task.each, { "f" }, function()
        task.sleep(1.5)
        error({ kind = "api", code = "boom", message = "the API said no" }, 0)
      end, { job = "kept-failed", store = ..., lease = 10, once = true })
      print(ok and "finished" or ("failed " .. tostring(err.code)))
    ]])
    local cmd = ("%s %s/p.lua %s >%s/out 2>%s/err"):format(S.quote(S.bin), dir, S.quote(redis.url), dir, dir)
    os.execute("(" .. cmd .. ") & sleep 0.6; " .. store_support.redis_stop_cmd(redis) .. "; sleep 2.4; "
               .. store_support.redis_start_cmd(redis) .. "; wait")
    local out, err = S.slurp(dir .. "/out"), S.slurp(dir .. "/err")
    os.execute("rm -rf " .. S.quote(dir))
    assert.matches("failed boom", out, 1, true)          -- the item's own error, not the store's
    assert.matches("kept here", err, 1, true)
    -- recorded failed (a 'once' item a re-run retries), not lost and later taken for unknown
    local r = S.run({ "job", "show", "kept-failed", "--json", "--store", redis.url })
    assert.matches('"failed":1', r.out, 1, true)
  end)

  it("redis stopped for 5 s mid-job and restarted empty: one warning, the job waits and resumes", function()
    local redis = store_support.redis_start()
    finally(function() store_support.redis_stop(redis) end)   -- also when an assertion fails
    local jobdir = job_file()
    local cmd = ("%s %s/job.lua %s rj many %s %s 40 1 >%s/out 2>%s/err"):format(S.quote(S.bin), jobdir, S.quote(redis.url),
                                                                           jobdir, S.quote(S.fake.misc), jobdir, jobdir)
    os.execute("(" .. cmd .. ") & sleep 0.5; " .. store_support.redis_stop_cmd(redis) .. "; sleep 5; "
               .. store_support.redis_start_cmd(redis) .. "; wait")
    local out, err = S.slurp(jobdir .. "/out"), S.slurp(jobdir .. "/err")
    assert.matches("finished", out, 1, true)
    local _, warnings = err:gsub("new items wait for it", "")
    assert.equal(1, warnings, err)
    check_files(jobdir, 40)
    os.execute("rm -rf " .. S.quote(jobdir))
  end)

  -- what does not pass by itself: an error at once that names the cause, nothing run, no hang
  local function refused(redis_opts, url_of, code, pattern)
    local redis = store_support.redis_start(redis_opts)
    finally(function() store_support.redis_stop(redis) end)
    local ran = false
    local t0 = task.now()
    local e = S.fails(task.each, { "a", "b" }, function() ran = true end, { job = "refused", store = url_of(redis) })
    assert.same({ "store", code }, { e.kind, e.code })
    assert.matches(pattern, e.message)
    assert.is_false(ran)
    assert.is_true(task.now() - t0 < 3, "took " .. (task.now() - t0))
    return e
  end

  it("a wrong password: kind = store, code = auth at once, and the password is never printed", function()
    local e = refused({ password = "s3cret-pw" }, function(r) return ("redis://:wr0ng-pw@127.0.0.1:%d"):format(r.port) end,
                      "auth", "refused the credentials")
    assert.is_nil(e.message:find("wr0ng", 1, true))
    local r = S.run({ "job", "show", "refused", "--store", ("redis://:wr0ng-pw@127.0.0.1:%d"):format(1) })
    assert.is_nil((r.out .. r.err):find("wr0ng", 1, true))
  end)

  it("a redis that refuses EVAL and EVALSHA (rename-command): kind = store, code = script at once", function()
    refused({ conf = 'rename-command EVAL ""\nrename-command EVALSHA ""\n' }, function(r) return r.url end,
            "script", "EVALSHA")
  end)

  it("a slow redis (DEBUG SLEEP 3 from another client): the calls time out, the job waits and goes on", function()
    local redis = store_support.redis_start({ args = "--enable-debug-command yes" })
    finally(function() store_support.redis_stop(redis) end)
    local jobdir = job_file()
    local cmd = ("%s %s/job.lua %s slow many %s %s 40 1 >%s/out 2>%s/err"):format(S.quote(S.bin), jobdir, S.quote(redis.url),
                                                                             jobdir, S.quote(S.fake.misc), jobdir, jobdir)
    local t0 = task.now()
    os.execute("(" .. cmd .. ") & sleep 0.4; " .. store_support.redis_cli(redis) .. " debug sleep 3 >/dev/null; wait")
    local took = task.now() - t0
    local out, err = S.slurp(jobdir .. "/out"), S.slurp(jobdir .. "/err")
    assert.matches("finished", out, 1, true)
    assert.matches("timeout", err, 1, true)
    assert.is_true(took < 15, "took " .. took)
    check_files(jobdir, 40)
    os.execute("rm -rf " .. S.quote(jobdir))
  end)
end)
