-- Offline documentation: autolua-api(3) and the README's API tables are generated from the
-- declarations (scripts/gen-api-docs) and fail this spec when they drift; `autolua help TOPIC`
-- shows the same reference; `cmake --install` installs the page.
local S = require "support"

local function sh(cmd)
  local p = io.popen(cmd .. " 2>&1")
  local out = p:read("a")
  local ok, _, code = p:close()
  return ok and 0 or code, out
end

local function copy_tree()
  local dir = S.tmpdir()
  assert(os.execute(("cd %s && cp -r scripts lua docs README.md CMakeLists.txt %s/"):format(S.quote(S.source), S.quote(dir))))
  return dir
end

local function gen(dir, check)
  return sh(("AUTOLUA_BIN=%s %s/scripts/gen-api-docs%s"):format(S.quote(S.bin), S.quote(dir), check and " --check" or ""))
end

describe("the generated API reference", function()
  it("README.md and docs/autolua-api.3 are up to date with the declarations", function()
    local code, out = gen(S.source, true)
    assert.equal(0, code, out)
  end)

  it("--check fails naming each stale file, and regenerating brings them back", function()
    local dir = copy_tree()
    local readme = S.slurp(dir .. "/README.md")
    S.spit(dir .. "/README.md", (readme:gsub("| `client.runs.list%(opts%)` [^\n]*\n", "", 1)))
    local code, out = gen(dir, true)
    assert.equal(1, code, out)
    assert.matches("out of date with the declarations: README.md", out, 1, true)
    -- a changed declaration makes both stale
    local m = S.slurp(dir .. "/lua/dx/methods.lua")
    S.spit(dir .. "/lua/dx/methods.lua", (m:gsub('"id! format:enum%(json|csv%)"', '"id! format:enum(json|csv|xlsx)"')))
    code, out = gen(dir, true)
    assert.equal(1, code, out)
    assert.matches("docs/autolua-api.3, README.md", out, 1, true)
    code, out = gen(dir, false)
    assert.equal(0, code, out)
    assert.equal(0, (gen(dir, true)))
    assert.matches("json|csv|xlsx", S.slurp(dir .. "/docs/autolua-api.3"), 1, true)
    assert.matches("client.runs.list(opts)", S.slurp(dir .. "/README.md"), 1, true)
    os.execute("rm -rf " .. S.quote(dir))
  end)

  it("the man page names every DX method and every Dexi function", function()
    local page = S.slurp(S.source .. "/docs/autolua-api.3")
    for _, name in ipairs(require("dx").methods()) do
      assert.truthy(page:find(name:gsub("%-", "\\-"), 1, true), name)
    end
    for name in pairs(require "dexi.declarations") do
      assert.truthy(page:find(name, 1, true), name)
    end
  end)

  it("cmake --install puts autolua-api(3) beside autolua(1)", function()
    local build = S.bin:match("^(.*)/[^/]+$") or "."
    local cache = io.open(build .. "/CMakeCache.txt")
    if not cache then return pending("no build tree beside " .. S.bin) end
    cache:close()
    local dest = S.tmpdir()
    local code, out = sh(("cmake --install %s --prefix %s"):format(S.quote(build), S.quote(dest)))
    assert.equal(0, code, out)
    assert.equal(S.slurp(S.source .. "/docs/autolua-api.3"), S.slurp(dest .. "/share/man/man3/autolua-api.3"))
    assert.truthy(io.open(dest .. "/share/man/man1/autolua.1"))
    os.execute("rm -rf " .. S.quote(dest))
  end)
end)

describe("autolua help", function()
  it("shows each topic", function()
    local want = {
      dexi = "client.runs.execute_with_input(id, inputs, opts)", dx = "workflowRuns.trigger",
      task = "task.map(items, fn, {concurrency = 16})", http = "expect_bytes",
      limiter = "limiter.window{limit, window, key}", errors = "rate_limited", recipes = "dx-query",
    }
    for topic, text in pairs(want) do
      local r = S.run { "help", topic }
      assert.equal(0, r.code, topic .. ": " .. r.err)
      assert.matches(text, r.out, 1, true)
    end
  end)

  it("lists the topics, and names them when one is unknown", function()
    local r = S.run { "help" }
    assert.equal(0, r.code)
    for _, t in ipairs { "dexi", "dx", "task", "http", "limiter", "errors", "recipes" } do
      assert.matches("\n  " .. t .. " ", r.out, 1, true)
    end
    r = S.run { "help", "nope" }
    assert.equal(2, r.code)
    assert.matches("the topics are dexi, dx, task, http, limiter, errors and recipes", r.err, 1, true)
    r = S.run { "help", "workflowRuns.changeStatus" }
    assert.equal(0, r.code)
    assert.matches("SUCCEEDED|FAILED", r.out, 1, true)
    r = S.run { "--help" }
    assert.matches("autolua help [TOPIC]", r.out, 1, true)
  end)
end)
