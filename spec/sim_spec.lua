-- `autolua sim`: the fake APIs as an offline simulator, from the build tree and installed.
local S = require "support"
local json = require "autolua.json"
local task = require "autolua.task"

-- Starts `BIN sim ARGS...` in the background in a fresh directory; returns {dir, pid}.
local function start(bin, args)
  local dir = S.tmpdir()
  local parts = {}
  for i, a in ipairs(args or {}) do parts[i] = S.quote(a) end
  os.execute(("cd %s && %s sim %s >out 2>err </dev/null & echo $! >%s/pid"):format(
    S.quote(dir), S.quote(bin), table.concat(parts, " "), S.quote(dir)))
  local sim = { dir = dir, pid = S.slurp(dir .. "/pid"):match("%d+") }
  for _ = 1, 100 do
    local f = io.open(dir .. "/out")          -- the background shell may not have made it yet
    local out = f and f:read("a") or ""
    if f then f:close() end
    if out:match("DX_BASE_URL=%S+\n") then return sim end
    if not os.execute("kill -0 " .. sim.pid .. " 2>/dev/null") then break end   -- it gave up
    task.sleep(0.1)
  end
  local err = S.slurp(dir .. "/err")
  os.execute("kill " .. sim.pid .. " 2>/dev/null; rm -rf " .. S.quote(dir))
  error("the simulator did not print its exports: " .. err)
end

-- Stops it with SIGTERM; returns its exit status once it has gone.
local function stop(sim)
  os.execute("kill " .. sim.pid)
  for _ = 1, 100 do
    if not os.execute("kill -0 " .. sim.pid .. " 2>/dev/null") then return true end
    task.sleep(0.1)
  end
  os.execute("kill -9 " .. sim.pid)
  return false
end

-- Runs a shell command line with the simulator's exports in its environment.
local function with_exports(sim, cmd)
  local _, _, code = os.execute((". %s/out && cd %s && %s >%s/cmd.out 2>&1"):format(
    S.quote(sim.dir), S.quote(sim.dir), cmd, S.quote(sim.dir)))
  return code, S.slurp(sim.dir .. "/cmd.out")
end

-- A base port N with N..N+3 free now, outside the ephemeral range that outgoing connections
-- take their ports from (the machine is shared: another process may still take one first).
local function free_ports()
  local p = io.popen([[python3 -c '
import random, socket
for _ in range(200):
    n = random.randrange(20000, 30000)
    try:
        for i in range(4):
            s = socket.socket(); s.bind(("127.0.0.1", n + i)); s.close()
        print(n); break
    except OSError:
        pass']])
  local port = tonumber(p:read("l"))
  p:close()
  return port
end

describe("autolua sim", function()
  it("starts the fakes from the source tree, prints the exports, and a script and a recipe run against them", function()
    local sim = start(S.bin, { "--state", "sim.json" })
    local out = S.slurp(sim.dir .. "/out")
    assert.matches("export DEXI_ACCOUNT=acc%-test DEXI_API_KEY=key%-test DEXI_BASE_URL=http://127%.0%.0%.1:%d+/\n", out)
    assert.matches("export DX_TOKEN=dx%-test%-token DX_BASE_URL=http://127%.0%.0%.1:%d+\n", out)
    assert.matches("tests/fake_api%) on 127%.0%.0%.1; Ctrl%-C stops them", S.slurp(sim.dir .. "/err"))
    local state = json.decode(S.slurp(sim.dir .. "/sim.json"))
    assert.matches(state.dx, out, 1, true)
    local code, text = with_exports(sim, S.quote(S.bin) ..
      [[ -e 'return require("dx").client().teams.list{}.teams[1].name, require("dexi").client().runs.get("20000000-0000-4000-8000-000000000003").name']])
    assert.equal(0, code, text)
    assert.matches("screenshot run", text)
    code, text = with_exports(sim, S.quote(S.bin) .. " recipe dexi-download --run 20000000-0000-4000-8000-000000000003 --out files")
    assert.equal(0, code, text)
    assert.is_true(#S.ls(sim.dir .. "/files") > 0)
    assert.is_true(stop(sim))
    assert.is_nil(io.open(sim.dir .. "/sim.json"), "the state file outlived the simulator")
    os.execute("rm -rf " .. S.quote(sim.dir))
  end)

  it("puts the services on fixed ports with --port", function()
    local port, sim
    for _ = 1, 5 do             -- a port taken between the check and the start: another one
      port = free_ports()
      local ok, started = pcall(start, S.bin, { "--port", tostring(port) })
      if ok then sim = started; break end
      assert.matches("in use", tostring(started))
    end
    assert.truthy(sim, "no free ports")
    local out = S.slurp(sim.dir .. "/out")
    assert.matches(("DEXI_BASE_URL=http://127.0.0.1:%d/\n"):format(port + 1), out, 1, true)
    assert.matches(("DX_BASE_URL=http://127.0.0.1:%d\n"):format(port + 3), out, 1, true)
    local r = S.run({ "sim", "--port", tostring(port) })      -- taken now: one clear line
    assert.equal(1, r.code)
    assert.matches("cannot start: .*in use", r.err)
    assert.not_matches("Traceback", r.err)
    assert.is_true(stop(sim))
    os.execute("rm -rf " .. S.quote(sim.dir))
  end)

  it("refuses bad options with a usage error, and --help tells the truth", function()
    for _, args in ipairs { { "sim", "--port", "x" }, { "sim", "--port", "70000" }, { "sim", "--bogus" },
                            { "sim", "stray" }, { "sim", "--state" } } do
      local r = S.run(args)
      assert.equal(2, r.code, table.concat(args, " "))
      assert.matches("^autolua sim: ", r.err)
    end
    local r = S.run { "sim", "--help" }
    assert.equal(0, r.code)
    assert.matches("usage: autolua sim %[%-%-port N%] %[%-%-state FILE%]", r.out)
    assert.matches("autolua sim", S.run({ "--help" }).out)
  end)

  it("runs installed: cmake --install puts the fakes under share/autolua, where the binary finds them", function()
    local build = S.bin:match("^(.*)/[^/]+$") or "."
    local prefix = S.tmpdir()
    local _, _, code = os.execute(("cmake --install %s --prefix %s >/dev/null"):format(S.quote(build), S.quote(prefix)))
    assert.equal(0, code)
    local sim = start(prefix .. "/bin/autolua")
    assert.matches(prefix .. "/bin/../share/autolua/fake_api) on", S.slurp(sim.dir .. "/err"), 1, true)
    local status, text = with_exports(sim, S.quote(prefix .. "/bin/autolua") ..
      [[ -e 'return require("dexi").client().runs.get("27c719bb-f28f-49f5-aedf-dba2f8e60ba3").name']])
    assert.equal(0, status, text)
    assert.matches("stags run", text)
    assert.is_true(stop(sim))
    assert.is_nil(io.open(prefix .. "/share/autolua/fake_api/__pycache__"), "python wrote into the installed tree")
    os.execute("rm -rf " .. S.quote(prefix) .. " " .. S.quote(sim.dir))
  end)
end)
