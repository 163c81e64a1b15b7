-- autolua.shellcomp: the bash and zsh completion scripts made from autolua's commands and the
-- recipes' declarations, a team's own recipes (AUTOLUA_RECIPES_PATH) included: what each kind
-- of option value completes to, and names or help texts a shell would misread kept out or
-- quoted. (spec/completion_spec.lua covers the scripts the build writes and installs.)
local S = require "support"
local shellcomp = require "autolua.shellcomp"

local function sh(cmd)
  local p = io.popen(cmd .. " 2>&1")
  local out = p:read("a")
  local ok, _, code = p:close()
  return out, ok and 0 or code
end

-- A recipe of our own, with an option of each kind and texts a shell would misread.
local RECIPE = [==[
return {
  summary = "the team's [own]: recipe's summary",
  options = {
    { name = "mode", type = "string", choices = { "fast", "slow" }, help = "how" },
    { name = "into", type = "string", metavar = "DIR", help = "a directory" },
    { name = "input", type = "string", metavar = "FILE", help = "it's a file [really]: yes" },
    { name = "cfg", type = "string", metavar = "CONFIG_PATH", help = "a path" },
    { name = "query", type = "string", metavar = "Q.sql", help = "a query file" },
    { name = "count", type = "integer", metavar = "N", help = "how many" },
    { name = "loud", type = "boolean", help = "say more" },
    { name = "bad;name", type = "string", help = "a name no shell pattern holds" },
  },
  run = function() return { line = "ran" }, 0 end,
}
]==]

local function with_recipes(fn)
  local dir = S.tmpdir()
  S.spit(dir .. "/team-job.lua", RECIPE)
  S.spit(dir .. "/broken.lua", "return {")                  -- cannot load: left out, no failure
  S.spit(dir .. "/not-a-recipe.lua", "return 42")
  local ok, err = pcall(fn, dir, "AUTOLUA_RECIPES_PATH=" .. S.quote(dir))
  os.execute("rm -rf " .. S.quote(dir))
  if not ok then error(err, 0) end
end

-- What bash offers after the words typed (the last is being completed), run in 'dir'.
local function bash(script, dir, ...)
  local words = { "autolua", ... }
  for i, w in ipairs(words) do words[i] = S.quote(w) end
  local out = sh(("cd %s && bash -c %s"):format(S.quote(dir), S.quote(
    ("source %s; COMP_WORDS=(%s); COMP_CWORD=%d; _autolua; printf '%%s\\n' \"${COMPREPLY[@]}\""):format(
      S.quote(script), table.concat(words, " "), #words - 1))))
  local list = {}
  for l in out:gmatch("[^\n]+") do list[#list + 1] = l end
  table.sort(list)
  return list
end

describe("autolua.shellcomp", function()
  it("makes scripts bash and zsh accept, from this process's recipes", function()
    local dir = S.tmpdir()
    S.spit(dir .. "/c.bash", shellcomp.bash())
    S.spit(dir .. "/c.zsh", shellcomp.zsh())
    assert.equal(0, select(2, sh("bash -n " .. S.quote(dir .. "/c.bash"))))
    assert.equal(0, select(2, sh("zsh -n " .. S.quote(dir .. "/c.zsh"))))
    assert.matches("\ncomplete %-o filenames %-F _autolua autolua\n$", shellcomp.bash())
    assert.matches("^#compdef autolua\n", shellcomp.zsh())
    for _, name in ipairs(require("autolua.recipe").names()) do
      assert.truthy(shellcomp.bash():find("\n        " .. name .. ")\n", 1, true), name)
      assert.truthy(shellcomp.zsh():find("\n      " .. name .. ")\n", 1, true), name)
    end
    os.execute("rm -rf " .. S.quote(dir))
  end)

  it("completes a team's recipe: choices, directories, files (FILE, *_PATH, F.sql), nothing for a value", function()
    with_recipes(function(dir, env)
      local r = S.run({ "completion", "bash" }, { env = env })
      assert.equal(0, r.code, r.err)
      local script = dir .. "/c.bash"
      S.spit(script, r.out)
      assert.equal(0, select(2, sh("bash -n " .. S.quote(script))))
      os.execute(("mkdir %s/sub && touch %s/x.sql"):format(S.quote(dir), S.quote(dir)))
      assert.is_true(#bash(script, dir, "recipe", "") > 5)
      assert.same({ "team-job" }, bash(script, dir, "recipe", "team"))
      assert.same({}, bash(script, dir, "recipe", "bro"))
      assert.same({}, bash(script, dir, "recipe", "not-a"))
      assert.same({ "fast", "slow" }, bash(script, dir, "recipe", "team-job", "--mode", ""))
      assert.same({ "sub" }, bash(script, dir, "recipe", "team-job", "--into", ""))
      assert.same({ "x.sql" }, bash(script, dir, "recipe", "team-job", "--input", "x"))
      assert.same({ "x.sql" }, bash(script, dir, "recipe", "team-job", "--cfg", "x"))
      assert.same({ "x.sql" }, bash(script, dir, "recipe", "team-job", "--query", "x"))
      assert.same({}, bash(script, dir, "recipe", "team-job", "--count", ""))
      local flags = bash(script, dir, "recipe", "team-job", "--")
      for _, f in ipairs { "--mode", "--into", "--input", "--cfg", "--query", "--count", "--loud", "--json", "--help" } do
        assert.truthy(flags[1] and table.concat(flags, " "):find(f, 1, true), f)
      end
      assert.not_matches("bad;name", r.out)
    end)
  end)

  it("quotes a team's texts for zsh: apostrophes, brackets and colons cannot break the script", function()
    with_recipes(function(dir, env)
      local r = S.run({ "completion", "zsh" }, { env = env })
      assert.equal(0, r.code, r.err)
      S.spit(dir .. "/_autolua", r.out)
      assert.equal(0, select(2, sh("zsh -n " .. S.quote(dir .. "/_autolua"))))
      local out = sh(("zsh -f -c %s"):format(S.quote(
        "_arguments() { print -rl -- \"$@\" }; source " .. S.quote(dir .. "/_autolua") ..
        "; words=(autolua recipe team-job --); CURRENT=4; _autolua")))
      local specs = {}
      for l in out:gmatch("[^\n]+") do specs[#specs + 1] = l end
      local function has(x) for _, s in ipairs(specs) do if s == x then return true end end return false end
      assert.is_true(has("--input=[it's a file  really   yes]:file:_files"), out)
      assert.is_true(has("--into=[a directory]:dir:_files -/"), out)
      assert.is_true(has("--mode=[how]:mode:(fast slow)"), out)
      assert.is_true(has("--query=[a query file]:q.sql:_files"), out)
      assert.is_true(has("--count=[how many]:n: "), out)
      assert.is_true(has("--loud[say more]"), out)
      assert.not_matches("bad;name", r.out)
      local recipes = sh(("zsh -f -c %s"):format(S.quote(
        "_describe() { print -rl -- \"${(@P)4}\" }; source " .. S.quote(dir .. "/_autolua") ..
        "; words=(autolua recipe ''); CURRENT=3; _autolua")))
      assert.truthy(recipes:find("team-job:the team's  own   recipe's summary\n", 1, true), recipes)
    end)
  end)

  it("takes bash or zsh and nothing else, with a usage line and exit 2", function()
    for _, args in ipairs { {}, { "fish" }, { "bash", "zsh" }, { "BASH" } } do
      local a = { "completion" }
      for _, x in ipairs(args) do a[#a + 1] = x end
      local r = S.run(a)
      assert.equal(2, r.code, table.concat(args, " "))
      assert.equal("usage: autolua completion bash|zsh\n", r.err)
      assert.equal("", r.out)
    end
  end)
end)
