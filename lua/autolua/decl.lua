-- Declared arguments, shared by the DX methods (dx/methods.lua) and the Dexi functions
-- (dexi/declarations.lua): the declaration language, the check of argument names (unknown
-- names, missing required ones) before anything is sent, and the text that help() shows.
--   "id! limit:int format:enum(json|csv)": "name!" is required, ":type" defaults to str.
local errors = require "autolua.error"

local M = {}

local cache = {}

-- parse(spec) -> {{name =, type =, required =, choices =}, ...}, in declared order
function M.parse(spec)
  local parsed = cache[spec]
  if parsed then return parsed end
  parsed = {}
  for tok in spec:gmatch("%S+") do
    local required = tok:sub(-1) == "!"
    if required then tok = tok:sub(1, -2) end
    local name, typ = tok:match("^([^:]+):?(.*)$")
    local choices
    local list = typ:match("^enum%((.*)%)$")
    if list then
      typ, choices = "enum", {}
      for c in list:gmatch("[^|]+") do choices[#choices + 1] = c end
    end
    parsed[#parsed + 1] = { name = name, type = typ ~= "" and typ or "str", required = required, choices = choices }
  end
  cache[spec] = parsed
  return parsed
end

-- Edit distance, for "did you mean".
local function distance(a, b)
  local prev = {}
  for j = 0, #b do prev[j] = j end
  for i = 1, #a do
    local cur = { [0] = i }
    for j = 1, #b do
      cur[j] = math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a:sub(i, i) == b:sub(j, j) and 0 or 1))
    end
    prev = cur
  end
  return prev[#b]
end

-- closest(word, candidates [, exact]) -> up to 3 candidates near 'word' (nearest first).
-- Names are compared ignoring case, and a candidate inside the word counts as near; 'exact'
-- (recipe and DX method names) compares case and counts only the word inside a candidate.
function M.closest(word, candidates, exact)
  local scored = {}
  local lw = exact and word or word:lower()
  for _, c in ipairs(candidates) do
    local d = distance(lw, exact and c or c:lower())
    if d <= math.max(2, #word // 3) or c:find(word, 1, true) or (not exact and word:find(c, 1, true)) then
      scored[#scored + 1] = { c, d }
    end
  end
  table.sort(scored, function(x, y) return x[2] < y[2] or (x[2] == y[2] and x[1] < y[1]) end)
  local out = {}
  for i = 1, math.min(3, #scored) do out[i] = scored[i][1] end
  return out
end

-- A declared "var-*" stands for every name that starts with "var-".
local function prefixed(parsed, k)
  for _, a in ipairs(parsed) do
    local pre = a.name:match("^(.-)%*$")
    if pre and k:sub(1, #pre) == pre and #k > #pre then return true end
  end
  return false
end

local function names_of(parsed)
  local names = {}
  for i, a in ipairs(parsed) do names[i] = a.name end
  return names
end

-- check_names(fname, spec, args, what): every key of 'args' is declared (else kind =
-- "argument" naming the closest declared one), and every required one is there.
-- 'what' names the table in messages ("argument", "option").
function M.check_names(fname, spec, args, what, one_of)
  what = what or "argument"
  local parsed = M.parse(spec)
  local declared = {}
  for _, a in ipairs(parsed) do declared[a.name] = true end
  for k in pairs(args) do
    if type(k) ~= "string" then
      errors.raise { kind = "argument", method = fname, argument = tostring(k),
                     message = ("%s names must be strings, got %s %s"):format(what, type(k), tostring(k)) }
    end
    if not declared[k] and not prefixed(parsed, k) then
      local near, msg = M.closest(k, names_of(parsed)), nil
      if #near > 0 then
        msg = ("unknown %s '%s' (did you mean '%s'?)"):format(what, k, near[1])
      elseif #parsed > 0 then
        msg = ("unknown %s '%s' (it takes: %s)"):format(what, k, table.concat(names_of(parsed), ", "))
      else
        msg = ("unknown %s '%s' (it takes none)"):format(what, k)
      end
      errors.raise { kind = "argument", method = fname, argument = k,
                     closest = near[1], message = msg }
    end
  end
  for _, a in ipairs(parsed) do
    if a.required and args[a.name] == nil then
      errors.raise { kind = "argument", method = fname, argument = a.name,
                     message = ("missing required %s '%s'"):format(what, a.name) }
    end
  end
  if one_of then
    local any = false
    for n in one_of:gmatch("%S+") do if args[n] ~= nil then any = true end end
    if not any then
      local list = {}
      for n in one_of:gmatch("%S+") do list[#list + 1] = "'" .. n .. "'" end
      errors.raise { kind = "argument", method = fname, argument = one_of:match("%S+"),
                     message = ("missing required %s: one of %s"):format(what, table.concat(list, ", ")) }
    end
  end
end

local TYPE_TEXT = { str = "string", int = "integer", bool = "boolean", obj = "table", list = "list of strings",
                    objlist = "list of tables", any = "any", strint = "string or integer", num = "number",
                    ["function"] = "function" }

function M.type_text(a)
  if a.type == "enum" then return table.concat(a.choices, "|") end
  return TYPE_TEXT[a.type] or a.type
end

-- lines(spec, one_of) -> the arguments as aligned lines: name, type, "required"
function M.lines(spec, one_of)
  local parsed, out, width = M.parse(spec), {}, 0
  for _, a in ipairs(parsed) do width = math.max(width, #a.name) end
  local either = {}
  for n in (one_of or ""):gmatch("%S+") do either[n] = true end
  for _, a in ipairs(parsed) do
    local note = a.required and "  required" or either[a.name] and "  required: one of " .. one_of:gsub(" ", ", ") or ""
    out[#out + 1] = ("  %-" .. width .. "s  %s%s"):format(a.name, M.type_text(a), note)
  end
  return out
end

return M
