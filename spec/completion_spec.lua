-- Shell completion: `autolua completion bash|zsh`, generated from the commands and the recipes'
-- declarations, built into build/completion/ and installed by cmake --install.
local S = require "support"

local function sh(cmd)
  local p = io.popen(cmd .. " 2>&1")
  local out = p:read("a")
  local ok, _, code = p:close()
  return out, ok and 0 or code
end

-- What bash offers for the words typed so far (the last one is being completed), run in 'dir'.
local function bash(script, dir, ...)
  local words = { "autolua", ... }
  local quoted = {}
  for i, w in ipairs(words) do quoted[i] = S.quote(w) end
  local out = sh(("cd %s && bash -c %s"):format(S.quote(dir), S.quote(
    ("source %s; COMP_WORDS=(%s); COMP_CWORD=%d; _autolua; printf '%%s\\n' \"${COMPREPLY[@]}\""):format(
      S.quote(script), table.concat(quoted, " "), #words - 1))))
  local list = {}
  for l in out:gmatch("[^\n]+") do list[#list + 1] = l end
  table.sort(list)
  return list
end

-- What the zsh function asks the completion system for, with its helpers stubbed to print
-- their arguments: the dispatch on the words typed, not zsh's own completion engine.
local function zsh(script, ...)
  local words = { "autolua", ... }
  local quoted = {}
  for i, w in ipairs(words) do quoted[i] = S.quote(w) end
  local out, code = sh(("zsh -f -c %s"):format(S.quote(
    ("_arguments() { print -r -- _arguments \"$@\" }; _describe() { print -r -- _describe \"${(@P)4}\" }; " ..
     "compadd() { print -r -- compadd \"$@\" }; _files() { print -r -- _files \"$@\" }; " ..
     "source %s; words=(%s); CURRENT=%d; _autolua"):format(S.quote(script), table.concat(quoted, " "), #words))))
  assert.equal(0, code, out)
  return out
end

local function has(list, x)
  for _, v in ipairs(list) do if v == x then return true end end
  return false
end

describe("shell completion", function()
  local build = S.bin:match("^(.*)/[^/]+$") or "."

  it("is printed by autolua completion bash|zsh, and the build writes both", function()
    local r = S.run { "completion", "bash" }
    assert.equal(0, r.code, r.err)
    assert.equal(r.out, S.slurp(build .. "/completion/autolua.bash"))
    r = S.run { "completion", "zsh" }
    assert.equal(0, r.code, r.err)
    assert.matches("^#compdef autolua\n", r.out)
    assert.equal(r.out, S.slurp(build .. "/completion/_autolua"))
    assert.equal(2, S.run({ "completion", "fish" }).code)
    assert.equal(2, S.run({ "completion" }).code)
    local _, code = sh("bash -n " .. S.quote(build .. "/completion/autolua.bash"))
    assert.equal(0, code)
    _, code = sh("zsh -n " .. S.quote(build .. "/completion/_autolua"))
    assert.equal(0, code)
  end)

  it("bash completes every command of autolua --help, the recipes, their options and values", function()
    local script = build .. "/completion/autolua.bash"
    local dir = S.tmpdir()
    os.execute(("mkdir -p %s/outdir && touch %s/job.lua %s/notes.txt"):format(S.quote(dir), S.quote(dir), S.quote(dir)))
    local first = bash(script, dir, "")
    for cmd in S.run({ "--help" }).out:gmatch("autolua (%-?%-?[%a][%w-]*)") do
      assert.is_true(has(first, cmd), "autolua --help lists '" .. cmd .. "' but completion does not offer it")
    end
    assert.is_true(has(first, "job.lua"))
    assert.is_false(has(first, "notes.txt"))
    assert.same({ "recipe", "repl" }, bash(script, dir, "re"))
    local recipes = bash(script, dir, "recipe", "")
    for _, name in ipairs { "list", "dexi-download", "dexi-export", "dexi-run", "dx-query", "dx-trigger" } do
      assert.is_true(has(recipes, name), name)
    end
    assert.same({ "--concurrency" }, bash(script, dir, "recipe", "dexi-download", "--conc"))
    assert.is_true(has(bash(script, dir, "recipe", "dexi-run", "--"), "--wait"))
    assert.is_true(has(bash(script, dir, "recipe", "dx-trigger", "--"), "--profile"))
    assert.same({ "csv", "jsonl" }, bash(script, dir, "recipe", "dexi-export", "--format", ""))
    assert.same({ "outdir" }, bash(script, dir, "recipe", "dexi-download", "--out", ""))
    assert.same({}, bash(script, dir, "recipe", "dexi-download", "--run", ""))
    assert.same({ "--help", "--port", "--state" }, bash(script, dir, "sim", "--"))
    assert.same({ "recipe", "repl" }, bash(script, dir, "--profile", "work", "re"))
    assert.same({ "bash", "zsh" }, bash(script, dir, "completion", ""))
    os.execute("rm -rf " .. S.quote(dir))
  end)

  it("zsh dispatches on the same commands, recipes and options", function()
    local script = build .. "/completion/_autolua"
    assert.matches("_describe run:run a script eval:.- recipe:.- sim:.- completion:", zsh(script, ""))
    local out = zsh(script, "recipe", "")
    assert.matches("dexi%-download:", out)
    out = zsh(script, "recipe", "dexi-export", "--f")
    assert.matches("_arguments .*%-%-format=%[output format[^%]]*%]:format:%(jsonl csv%)", out)
    assert.matches("%-%-out=%[the file to write%]:file:_files", out)
    assert.matches("%-%-json%[", out)
    out = zsh(script, "recipe", "dexi-download", "--o")
    assert.matches("%-%-out=%[.-%]:dir:_files %-/", out)
    assert.matches("_arguments .*%-%-port=", zsh(script, "sim", "--"))
    assert.matches("compadd bash zsh", zsh(script, "completion", ""))
    assert.matches("_describe run:", zsh(script, "--profile", "work", ""))
  end)

  it("cmake --install puts the scripts where bash-completion and zsh look", function()
    local prefix = S.tmpdir()
    local _, code = sh(("cmake --install %s --prefix %s"):format(S.quote(build), S.quote(prefix)))
    assert.equal(0, code)
    assert.equal(S.slurp(build .. "/completion/autolua.bash"), S.slurp(prefix .. "/share/bash-completion/completions/autolua"))
    assert.equal(S.slurp(build .. "/completion/_autolua"), S.slurp(prefix .. "/share/zsh/vendor-completions/_autolua"))
    os.execute("rm -rf " .. S.quote(prefix))
  end)
end)
