local task = require "autolua.task"
local errors = require "autolua.error"
local S = require "support"

describe("autolua.task", function()
  it("passes hundreds of arguments to a task, and a script hundreds of command-line arguments", function()
    -- the new coroutine has room for 20 values: more were moved onto it past its stack's end
    local many = {}
    for i = 1, 500 do many[i] = i end
    assert.equal(500, task.spawn(function(...) return select("#", ...) end, table.unpack(many)):wait())
    local args = {}
    for i = 1, 300 do args[i] = tostring(i) end
    local r = S.run_script('print(#arg, select("#", ...))', args)
    assert.equal(0, r.code, r.err)
    assert.equal("300\t300\n", r.out)
  end)

  it("spawns tasks whose results wait() returns", function()
    local t = task.spawn(function(a, b) task.sleep(0.01); return a + b, "two" end, 1, 2)
    local x, y = t:wait()
    assert.equal(3, x)
    assert.equal("two", y)
    assert.equal("done", t:status())
    assert.same({ 3, "two" }, { t:wait() })   -- waiting again gives the same results
  end)

  it("re-raises a task's error in wait()", function()
    local t = task.spawn(function() error({ code = 7 }) end)
    local ok, err = pcall(t.wait, t)
    assert.is_false(ok)
    assert.equal(7, err.code)
    assert.equal("failed", t:status())
  end)

  it("runs tasks concurrently", function()
    local t0 = task.now()
    local ts = {}
    for i = 1, 20 do ts[i] = task.spawn(task.sleep, 0.2) end
    for _, t in ipairs(ts) do t:wait() end
    assert.is_true(task.now() - t0 < 1.0)
  end)

  it("sleeps about as long as asked and keeps a monotonic clock", function()
    local t0 = task.now()
    task.sleep(0.15)
    local dt = task.now() - t0
    assert.is_true(dt >= 0.15 and dt < 0.5, "slept " .. dt)
  end)

  it("cancels a waiting task with a cancelled error", function()
    local reached = false
    local t = task.spawn(function() task.sleep(10); reached = true end)
    task.sleep(0.01)
    t:cancel()
    local ok, err = pcall(t.wait, t)
    assert.is_false(ok)
    assert.equal("cancelled", err.kind)
    assert.equal("cancelled", t:status())
    assert.is_false(reached)
  end)

  it("cancels a task that has not started yet", function()
    local ran = false
    local t = task.spawn(function() ran = true end)
    t:cancel()
    assert.has_error(function() t:wait() end)
    assert.is_false(ran)
  end)

  it("runs cleanup in a cancelled task", function()
    local cleaned = false
    local t = task.spawn(function()
      local ok, err = pcall(task.sleep, 10)
      cleaned = not ok and err.kind == "cancelled"
    end)
    task.sleep(0.01)
    t:cancel()
    t:wait()
    assert.is_true(cleaned)
  end)

  it("refuses to wait for itself and argument mistakes", function()
    local self_t
    self_t = task.spawn(function() task.yield(); return pcall(self_t.wait, self_t) end)
    local ok, err = self_t:wait()
    assert.is_false(ok)
    assert.equal("argument", err.kind)
    local ok2, e2 = pcall(task.sleep, "soon")
    assert.is_false(ok2)
    assert.equal("argument", e2.kind)
    assert.matches("task.sleep", tostring(e2))
    local ok3, e3 = pcall(task.spawn, 42)
    assert.is_false(ok3)
    assert.equal("argument", e3.kind)
  end)

  describe("all", function()
    it("returns the first result of each function, in order", function()
      local r = task.all {
        function() task.sleep(0.05); return "a" end,
        function() return "b" end,
        function() task.sleep(0.01); return "c" end,
      }
      assert.same({ "a", "b", "c" }, r)
    end)

    it("raises the first failure and cancels the others at once", function()
      local finished = false
      local t0 = task.now()
      local ok, err = pcall(task.all, {
        function() task.sleep(5); finished = true end,
        function() task.sleep(0.02); error("second failed", 0) end,
      })
      assert.is_false(ok)
      assert.equal("second failed", err)
      assert.is_true(task.now() - t0 < 1)
      task.sleep(0.05)
      assert.is_false(finished)
    end)
  end)

  describe("map", function()
    it("keeps input order and the concurrency bound", function()
      local running, peak = 0, 0
      local items = {}
      for i = 1, 40 do items[i] = i end
      local r = task.map(items, function(x, i)
        assert.equal(x, i)
        running = running + 1
        peak = math.max(peak, running)
        task.sleep(0.005 * (x % 3))
        running = running - 1
        return x * x
      end, { concurrency = 5 })
      assert.equal(40, #r)
      for i = 1, 40 do assert.equal(i * i, r[i]) end
      assert.equal(5, peak)
    end)

    it("pulls from an iterator lazily", function()
      local pulled, done = 0, 0
      local function iter()
        pulled = pulled + 1
        if pulled > 1000 then return nil end
        assert.is_true(pulled - done <= 4 + 1, "pulled far ahead of the work")
        return pulled
      end
      task.each(iter, function() task.yield(); done = done + 1 end, { concurrency = 4 })
      assert.equal(1000, done)
    end)

    it("lets an iterator itself wait, one puller at a time", function()
      local iter = coroutine.wrap(function()
        for i = 1, 20 do task.sleep(0.001); coroutine.yield(i) end
      end)
      local r = task.map(iter, function(x) return x end, { concurrency = 8 })
      table.sort(r)
      assert.equal(20, #r)
      assert.equal(20, r[20])
    end)

    it("raises the first error and stops the rest", function()
      local calls = 0
      local ok, err = pcall(task.map, { 1, 2, 3, 4, 5, 6, 7, 8 }, function(x)
        calls = calls + 1
        if x == 2 then error(errors.new { kind = "api", message = "bad item" }) end
        task.sleep(0.05)
      end, { concurrency = 2 })
      assert.is_false(ok)
      assert.equal("bad item", err.message)
      assert.is_true(calls < 8)
    end)

    it("checks its arguments", function()
      assert.equal("argument", select(2, pcall(task.map, 5, print)).kind)
      assert.equal("argument", select(2, pcall(task.map, {}, print, { concurrency = 0 })).kind)
      assert.equal("argument", select(2, pcall(task.map, {}, nil)).kind)
    end)
  end)

  it("lets a coroutine inside a task wait on the core", function()
    local gen = coroutine.wrap(function()
      for i = 1, 3 do task.sleep(0.01); coroutine.yield(i) end
    end)
    assert.equal(1, gen())
    assert.equal(2, gen())
    local co = coroutine.create(function(a) task.sleep(0.01); local b = coroutine.yield(a + 1); return b * 2 end)
    assert.same({ true, 11 }, { coroutine.resume(co, 10) })
    assert.same({ true, 14 }, { coroutine.resume(co, 7) })
    assert.same({ false, "cannot resume dead coroutine" }, { coroutine.resume(co) })
  end)

  it("refuses a hook that is not a function with kind = argument", function()
    local core = require "autolua.task.core"
    assert.equal("argument", S.fails(core.on_failure, 42).kind)
  end)

  it("gives park and wake to Lua code", function()
    local core = require "autolua.task.core"
    local waiter = task.spawn(function() return core.park() end)
    task.yield()
    assert.is_true(core.wake(waiter, "hello", 2))
    assert.same({ "hello", 2 }, { waiter:wait() })
    local sleeper = task.spawn(task.sleep, 0.05)
    task.yield()
    assert.is_false(core.wake(sleeper))   -- a sleep is not a park Lua may end
    sleeper:wait()
  end)
end)
