local limiter = require "autolua.limiter"
local task = require "autolua.task"
local http = require "autolua.http"
local S = require "support"

describe("autolua.limiter", function()
  it("spaces acquisitions evenly at the rate", function()
    local lim = limiter.rate { rate = 20, per = 1 }
    local times = {}
    for i = 1, 11 do lim:acquire(); times[i] = task.now() end
    local span = times[11] - times[1]
    assert.is_true(span >= 0.49 and span < 0.8, "10 gaps took " .. span)
    -- never ahead of the schedule; a late wake-up is not carried into the next ones (no drift)
    for i = 2, 11 do
      assert.is_true(times[i] - times[1] >= (i - 1) * 0.05 - 1e-3, "acquisition " .. i .. " came early")
    end
  end)

  it("admits a burst at once", function()
    local lim = limiter.rate { rate = 10, per = 1, burst = 5 }
    local t0 = task.now()
    for _ = 1, 5 do lim:acquire() end
    assert.is_true(task.now() - t0 < 0.05)
    lim:acquire()
    assert.is_true(task.now() - t0 >= 0.09)
  end)

  it("never admits more than the limit in any sliding window", function()
    local lim = limiter.window { limit = 5, window = 0.3 }
    local times = {}
    task.each({ 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12 }, function()
      lim:acquire()
      times[#times + 1] = task.now()
    end, { concurrency = 12 })
    table.sort(times)
    for i = 6, #times do
      assert.is_true(times[i] - times[i - 5] >= 0.3 - 1e-6, "6 admissions within one window")
    end
    assert.is_true(times[12] - times[1] < 0.9)
  end)

  it("paces a window only while tasks wait for it", function()
    local lim = limiter.window { limit = 10, window = 0.5, pace = true }
    local times = {}
    local t0 = task.now()
    task.each({ 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20 }, function()
      lim:acquire()
      times[#times + 1] = task.now() - t0
    end, { concurrency = 20 })
    assert.is_true(times[10] < 0.05, "the first 10 waited")        -- below the limit: at once
    for i = 12, 20 do                                               -- then 0.05 s apart
      assert.is_true(times[i] - times[i - 1] >= 0.045, ("%d came %.3f s after %d"):format(i, times[i] - times[i - 1], i - 1))
    end
    assert.matches("paced", tostring(lim))
    -- the backlog gone and the window moved on, a burst goes at once again
    task.sleep(0.6)
    local t1 = task.now()
    for _ = 1, 10 do lim:acquire() end
    assert.is_true(task.now() - t1 < 0.03, ("a burst after the backlog took %.3f s"):format(task.now() - t1))
  end)

  it("wakes waiting tasks in FIFO order", function()
    local lim = limiter.rate { rate = 50 }
    lim:acquire()
    local order = {}
    local ts = {}
    for i = 1, 8 do
      ts[i] = task.spawn(function() lim:acquire(); order[#order + 1] = i end)
    end
    for _, t in ipairs(ts) do t:wait() end
    assert.same({ 1, 2, 3, 4, 5, 6, 7, 8 }, order)
  end)

  it("tries without waiting", function()
    local lim = limiter.window { limit = 2, window = 10 }
    assert.is_true(lim:try())
    assert.is_true(lim:try())
    assert.is_false(lim:try())
    assert.same({ acquired = 2, waited_seconds = 0, queued = 0 }, lim:stats())
  end)

  it("pauses until a time", function()
    local lim = limiter.rate { rate = 1000 }
    local t0 = task.now()
    lim:pause_until(t0 + 0.2)
    lim:acquire()
    assert.is_true(task.now() - t0 >= 0.19)
    local st = lim:stats()
    assert.is_true(st.waited_seconds >= 0.19)
  end)

  it("raises rate_limited past max_wait", function()
    local lim = limiter.rate { rate = 1, per = 10 }
    lim:acquire()
    local t0 = task.now()
    local ok, err = pcall(lim.acquire, lim, 1, { max_wait = 0.1 })
    assert.is_false(ok)
    assert.equal("rate_limited", err.kind)
    assert.is_true(task.now() - t0 < 0.5)
    assert.equal(0, lim:stats().queued)
    local ok0, err0 = pcall(lim.acquire, lim, { max_wait = 0 })
    assert.is_false(ok0)
    assert.equal("rate_limited", err0.kind)
  end)

  it("gives the same limiter for the same key", function()
    local a = limiter.rate { rate = 5, key = "spec-account" }
    local b = limiter.rate { rate = 99, key = "spec-account" }
    assert.equal(a, b)
    assert.not_equal(a, limiter.rate { rate = 5 })
  end)

  it("keeps a cancelled waiter from blocking the queue", function()
    local lim = limiter.rate { rate = 10 }
    lim:acquire()
    local a = task.spawn(function() lim:acquire() end)
    local b = task.spawn(function() lim:acquire(); return "b" end)
    task.yield()
    a:cancel()
    assert.equal("b", b:wait())
  end)

  it("draws http requests from a limiter", function()
    local lim = limiter.rate { rate = 20 }
    local t0 = task.now()
    task.map({ 1, 2, 3, 4, 5, 6 }, function()
      return http.request { url = S.url("misc", "/echo"), limiter = lim }.status
    end, { concurrency = 6 })
    assert.is_true(task.now() - t0 >= 0.24)
    assert.equal(6, lim:stats().acquired)
    -- a request refused for its arguments takes nothing from the limiter
    for _, opts in ipairs {
      { headers = { ["X-A"] = "a\nb" } }, { expect_bytes = 3 }, { follow = "yes" }, { ca_file = 1 },
    } do
      opts.url, opts.limiter = S.url("misc", "/echo"), lim
      local ok, err = pcall(http.request, opts)
      assert.is_false(ok)
      assert.equal("argument", err.kind)
    end
    assert.equal(6, lim:stats().acquired)
  end)

  it("checks its arguments", function()
    assert.equal("argument", select(2, pcall(limiter.rate, { rate = 0 })).kind)
    assert.equal("argument", select(2, pcall(limiter.rate, { rate = "x" })).kind)
    assert.equal("argument", select(2, pcall(limiter.window, { limit = 2.5, window = 1 })).kind)
    assert.equal("argument", select(2, pcall(limiter.window, { limit = 2, window = 1, pace = "yes" })).kind)
    local lim = limiter.window { limit = 2, window = 1 }
    assert.equal("argument", select(2, pcall(lim.acquire, lim, 3)).kind)
  end)
end)

-- scripts/test runs this file twice: with the SQLite default and with AUTOLUA_STORE=memory.
describe("the store the clients' account limiters use in this run", function()
  it("is the in-process limiter under AUTOLUA_STORE=memory and the SQLite default otherwise", function()
    local dexi = require "dexi"
    local c = dexi.client { account = "acc-store-check", api_key = "k", base_url = S.fake.dexi }
    local st = c.limiters.get:stats()
    if os.getenv("AUTOLUA_STORE") == "memory" then
      assert.equal("userdata", type(c.limiters.get))
      assert.is_nil(st.shared)
    else
      assert.equal("table", type(c.limiters.get))
      assert.is_true(st.shared)
      assert.matches("shared in sqlite:", tostring(c.limiters.get), 1, true)
    end
  end)
end)
