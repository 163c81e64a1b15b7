-- The recipes runner: `autolua recipe list` and `autolua recipe NAME [options]`. Each recipe
-- is a module under lua/recipes/ declaring its options; help and parsing come from that.
local sys = require "autolua.sys"
local json = require "autolua.json"
local errors = require "autolua.error"
local decl = require "autolua.decl"

local M = {}

local USAGE = 2

local function usage_error(fmt, ...)
  io.stderr:write("autolua recipe: ", fmt:format(...), "\n")
  os.exit(USAGE)
end

-- Directories of a team's own recipes (NAME.lua files), from AUTOLUA_RECIPES_PATH (a
-- colon-separated list); they are listed beside the packaged ones and win on a name clash.
local function user_dirs()
  local dirs = {}
  for d in (os.getenv("AUTOLUA_RECIPES_PATH") or ""):gmatch("[^:]+") do dirs[#dirs + 1] = d end
  return dirs
end

local function user_file(name)
  for _, d in ipairs(user_dirs()) do
    local path = d .. "/" .. name .. ".lua"
    local st = sys.stat(path)
    if st and st.type == "file" then return path end
  end
end

-- Every recipe name: the packaged ones (embedded modules recipes.<name>) and the user's.
function M.names()
  local names, seen = {}, {}
  local function add(n) if not seen[n] then seen[n] = true; names[#names + 1] = n end end
  for _, mod in ipairs(sys.embedded()) do
    local name = mod:match("^recipes%.(.+)$")
    if name then add(name) end
  end
  for _, d in ipairs(user_dirs()) do
    for _, f in ipairs(sys.listdir(d) or {}) do
      local name = f:match("^([%w_.-]+)%.lua$")
      if name then add(name) end
    end
  end
  table.sort(names)
  return names
end

function M.load(name)
  local file = user_file(name)
  if file then
    local chunk, err = loadfile(file)
    if not chunk then error(err, 0) end
    local recipe = chunk()
    if type(recipe) ~= "table" or type(recipe.run) ~= "function" then
      errors.raise { kind = "argument", message = file .. " does not return a recipe (a table with a run function)" }
    end
    return recipe
  end
  local ok, recipe = pcall(require, "recipes." .. name)
  if not ok then
    if tostring(recipe):find("module 'recipes%." .. name:gsub("%p", "%%%0") .. "' not found") then return nil end
    error(recipe, 0)
  end
  return recipe
end

-- The names closest to a mistyped one (edit distance), for "did you mean".
function M.closest(word, candidates)
  return decl.closest(word, candidates, true)
end

-- {====================================================== help and parsing

local function option_list(recipe)
  local list = {}
  for _, o in ipairs(recipe.options or {}) do list[#list + 1] = o end
  list[#list + 1] = { name = "json", type = "boolean", help = "print the summary as JSON (on stdout, unless data goes there)" }
  list[#list + 1] = { name = "profile", type = "string", metavar = "NAME", help = "the config file's profile to use (as AUTOLUA_PROFILE)" }
  list[#list + 1] = { name = "help", type = "boolean", help = "show this help (also -h)" }
  return list
end

M.options = option_list     -- a recipe's options with the common ones (shell completion)

function M.help(name, recipe)
  local lines = { ("usage: autolua recipe %s [options]"):format(name), "", recipe.summary or "" }
  if recipe.description then lines[#lines + 1] = ""; lines[#lines + 1] = recipe.description end
  lines[#lines + 1] = ""
  lines[#lines + 1] = "options:"
  for _, o in ipairs(option_list(recipe)) do
    local flag = "--" .. o.name .. (o.type == "boolean" and "" or (" " .. (o.metavar or o.type:upper())))
    local notes = {}
    if o.required then notes[#notes + 1] = "required" end
    if o.default ~= nil then notes[#notes + 1] = "default " .. tostring(o.default) end
    if o.positive then notes[#notes + 1] = "more than 0"
    elseif o.min and o.type == "number" then notes[#notes + 1] = "at least " .. o.min end
    if o.choices then notes[#notes + 1] = "one of " .. table.concat(o.choices, ", ") end
    local note = #notes > 0 and (" (" .. table.concat(notes, "; ") .. ")") or ""
    lines[#lines + 1] = ("  %-26s %s%s"):format(flag, o.help or "", note)
  end
  if recipe.examples and #recipe.examples > 0 then
    lines[#lines + 1] = ""
    lines[#lines + 1] = "examples:"
    for _, e in ipairs(recipe.examples) do lines[#lines + 1] = "  " .. e end
  end
  return table.concat(lines, "\n") .. "\n"
end

local function convert(o, raw)
  if o.type == "integer" then
    local v = math.tointeger(tonumber(raw))
    if not v then usage_error("--%s expects a whole number, got '%s'", o.name, raw) end
    if o.min and v < o.min then usage_error("--%s must be at least %d", o.name, o.min) end
    return v
  elseif o.type == "number" then
    local v = tonumber(raw)
    if not v or v ~= v or v == math.huge or v == -math.huge then usage_error("--%s expects a number, got '%s'", o.name, raw) end
    if o.positive and v <= 0 then usage_error("--%s must be more than 0, got %s", o.name, raw) end
    if o.min and v < o.min then usage_error("--%s must be at least %g, got %s", o.name, o.min, raw) end
    return v
  elseif o.type == "json" then
    local v, why = json.decode(raw)
    if v == nil then usage_error("--%s expects JSON: %s", o.name, why or "empty") end
    return v
  end
  if o.choices then
    local ok = false
    for _, c in ipairs(o.choices) do if c == raw then ok = true end end
    if not ok then usage_error("--%s must be one of %s, got '%s'", o.name, table.concat(o.choices, ", "), raw) end
  end
  return raw
end

-- The format a file name's extension names ({ext = format}), or 'default'.
function M.format_of(path, by_ext, default)
  local ext = tostring(path or ""):match("%.(%w+)$")
  return ext and by_ext[ext:lower()] or default
end

-- Refuses (kind = "argument") an --out file whose directory is missing, before any request.
function M.check_out(path, option)
  local dir = tostring(path):match("^(.*)/[^/]*$")
  if dir == nil or dir == "" then return end
  local st = sys.stat(dir)
  if not st or st.type ~= "directory" then
    errors.raise { kind = "argument", message = ("%s %s: %s is not a directory"):format(option or "--out", path, dir) }
  end
end

-- Parses '--opt value', '--opt=value', '--flag' and '--' against the declared options.
function M.parse(name, recipe, args)
  local byname, known = {}, {}
  for _, o in ipairs(option_list(recipe)) do byname[o.name] = o; known[#known + 1] = o.name end
  local opts, rest, i = {}, {}, 1
  while i <= #args do
    local a = args[i]
    if a == "--" then
      for j = i + 1, #args do rest[#rest + 1] = args[j] end
      break
    end
    local key, value = a:match("^%-%-([%w_-]+)=(.*)$")
    key = key or a:match("^%-%-([%w_-]+)$")
    if a == "-h" then key = "help" end
    if not key then
      if a:sub(1, 1) == "-" and a ~= "-" then usage_error("%s: unknown option '%s'", name, a) end
      rest[#rest + 1] = a
    else
      local o = byname[key]
      if not o then
        local near = M.closest(key, known)
        usage_error("%s: unknown option '--%s'%s", name, key,
          #near > 0 and (" (did you mean --" .. table.concat(near, ", --") .. "?)") or "")
      end
      if o.type == "boolean" then
        if value ~= nil then usage_error("--%s takes no value", key) end
        opts[o.name] = true
      else
        if value == nil then
          i = i + 1
          value = args[i]
          if value == nil then usage_error("--%s needs a value", key) end
        end
        opts[o.name] = convert(o, value)
      end
    end
    i = i + 1
  end
  if opts.help then return opts, rest end
  -- no packaged recipe takes positional arguments: a stray word is a mistake, not ignored
  if #rest > 0 and not recipe.positional then
    usage_error("%s: unexpected argument '%s' (options are --name value)", name, rest[1])
  end
  for _, o in ipairs(option_list(recipe)) do
    if opts[o.name] == nil and o.default ~= nil then opts[o.name] = o.default end
    if o.required and opts[o.name] == nil then usage_error("%s: missing required option --%s", name, o.name) end
  end
  if recipe.check then
    local why = recipe.check(opts)
    if why then usage_error("%s: %s", name, why) end
  end
  return opts, rest
end

-- }======================================================

-- `recipe list [--json]`: a line per recipe, or a JSON list of {name, summary}.
local function list(...)
  local as_json = false
  for _, a in ipairs { ... } do
    if a == "--json" then as_json = true
    else usage_error("recipe list: unknown option '%s' (it takes --json only)", a) end
  end
  local names = M.names()
  local width = 0
  for _, n in ipairs(names) do width = math.max(width, #n) end
  local all = json.array()
  for _, n in ipairs(names) do
    local r = M.load(n)
    if as_json then all[#all + 1] = { name = n, summary = r and r.summary or "" }
    else io.stdout:write(("%-" .. width .. "s  %s\n"):format(n, r and r.summary or "")) end
  end
  if as_json then io.stdout:write(json.encode(all), "\n") end
end

-- The summary: one line for people on stderr, or JSON with --json on stdout. Data a recipe
-- wrote to stdout (summary.stdout_data) keeps stdout to itself: the JSON goes to stderr then.
-- A job that failed says so on stderr even with --json.
local function report(opts, summary, code)
  if type(summary) ~= "table" then return end
  local data = summary.stdout_data
  if opts.json then
    local copy = {}
    for k, v in pairs(summary) do if k ~= "line" and k ~= "stdout_data" then copy[k] = v end end
    local out = data and io.stderr or io.stdout
    out:write(json.encode(copy), "\n")
    if summary.line and code and code ~= 0 then io.stderr:write(summary.line, "\n") end
  elseif summary.line then
    io.stderr:write(summary.line, "\n")
  end
end

-- An error object is an expected failure (the API refused, a run failed, a file is missing):
-- one line with its hint, no traceback unless AUTOLUA_LOG=debug. Anything else is a bug and
-- keeps its traceback.
local function explain(name, err, trace)
  local progress = require "autolua.progress"
  local bar = progress.active()
  if bar then bar:finish() end
  if errors.is(err, "cancelled") then
    local done = bar and bar:describe()
    io.stderr:write(("autolua recipe %s: cancelled%s\n"):format(name, done and (" while " .. done) or ""))
    return
  end
  local log = require "autolua.log"
  if errors.is(err) then
    local hint = type(err.hint) == "string" and (" (hint: " .. err.hint .. ")") or ""
    io.stderr:write(("autolua recipe %s: %s%s\n"):format(name, tostring(err), hint))
    if log.enabled("debug") then io.stderr:write(trace, "\n") end
  else
    io.stderr:write(("autolua recipe %s: %s\n%s\n"):format(name, tostring(err), trace))
  end
end

-- Runs recipe.prepare (clients, credentials, inputs: nothing is sent yet), then recipe.run.
-- An argument error while preparing is a usage error (exit 2).
local function execute(name, recipe, opts, rest)
  local ctx
  if recipe.prepare then
    local ok, err = pcall(recipe.prepare, opts)
    if not ok then
      if errors.is(err, "argument") then usage_error("%s: %s", name, err.message) end
      error(err, 0)
    end
    ctx = err
  end
  local trace
  local ok, summary, code = xpcall(recipe.run, function(e)
    trace = debug.traceback(nil, 2)
    return e
  end, opts, rest, ctx)
  if not ok then
    explain(name, summary, trace)
    if errors.is(summary, "cancelled") then error(summary, 0) end
    io.stdout:flush()
    os.exit(1)
  end
  return summary, code
end

function M.main(name, ...)
  if name == nil or name == "--help" or name == "-h" then
    io.stdout:write("usage: autolua recipe list [--json]\n       autolua recipe NAME [--option value | --option=value | --flag]...\n")
    if name == nil then os.exit(USAGE) end
    return
  end
  if name == "list" then return list(...) end
  local recipe = M.load(name)
  if not recipe then
    local near = M.closest(name, M.names())
    usage_error("unknown recipe '%s'%s; 'autolua recipe list' shows them all", name,
      #near > 0 and (" (did you mean " .. table.concat(near, ", ") .. "?)") or "")
  end
  local opts, rest = M.parse(name, recipe, { ... })
  if opts.help then io.stdout:write(M.help(name, recipe)); return end
  if opts.profile then require("autolua.profile").selected = opts.profile end
  local summary, code = execute(name, recipe, opts, rest)
  report(opts, summary, code)
  io.stdout:flush()
  if code and code ~= 0 then os.exit(code) end
end

M.errors = errors
return M
