-- Every Dexi endpoint as a Lua function, grouped as in the API (robots, runs, executions,
-- datasets, files). Arguments are checked before anything is sent. The groups receive the
-- client they send with (attach); nothing here requires the client module.
local http = require "autolua.http"
local json = require "autolua.json"
local errors = require "autolua.error"
local argerror = require("autolua.client").argerror
local doc = require "autolua.doc"
local decl = require "autolua.decl"
local file_ids = require "dexi.files"
local DECL = require "dexi.declarations"

local M = {}

local esc = http.escape
local PAGE = 200                       -- the API's cap on rows per page
local SYNC_TIMEOUT = 3600              -- the /wait variants hold the request until the run ends

function M.check_id(fname, id, what)
  if type(id) ~= "string" or id == "" then
    argerror(fname, "%s must be a non-empty string, got %s", what or "the id", type(id) == "string" and "an empty string" or type(id))
  end
  return id
end
local check_id = M.check_id

local function opt_table(fname, t, what)
  if t ~= nil and type(t) ~= "table" then argerror(fname, "%s must be a table", what or "options") end
  return t or {}
end

local function check_table(fname, t, what)
  if type(t) ~= "table" then argerror(fname, "%s must be a table, got %s", what, type(t)) end
  return t
end

local function check_list(fname, t, what)
  check_table(fname, t, what)
  for k in pairs(t) do
    if math.type(k) ~= "integer" then argerror(fname, "%s must be a list of tables", what) end
  end
  return json.array(t)
end

local function opt_int(fname, v, what)
  if v ~= nil and (math.type(v) ~= "integer" or v < 0) then argerror(fname, "%s must be a whole number >= 0", what) end
  return v
end

local function opt_bool(fname, v, what)
  if v ~= nil and type(v) ~= "boolean" then argerror(fname, "%s must be a boolean", what) end
  return v
end

local FORMATS = { json = true, csv = true, xml = true, scsv = true }
local function opt_format(fname, v)
  if v ~= nil and not FORMATS[v] then argerror(fname, "format must be json, csv, xml or scsv") end
  return v
end

local function same_row(a, b)
  if a == nil or b == nil then return false end
  local ok1, ea = pcall(json.encode, a)
  local ok2, eb = pcall(json.encode, b)
  return ok1 and ok2 and ea == eb
end

--[[ Iterates the rows of every page: fetch(offset, limit) -> {offset =, totalRows =, rows =}.
Advances 'offset' by the rows received; stops at totalRows, at an empty page, or (without
totalRows) at a short page. A server that ignores 'offset' raises instead of looping. ]]
local function pages(fetch, limit, what)
  local offset, page, i, done = 0, nil, 0, false
  local first_of_last
  return function()
    while true do
      if page and i < #page.rows then
        i = i + 1
        return page.rows[i], page
      end
      if done then return nil end
      local p = fetch(offset, limit)
      if type(p) ~= "table" then p = {} end        -- an empty body: no rows
      local rows = p.rows or {}
      if type(rows) ~= "table" then rows = {} end
      if offset > 0 and ((math.type(p.offset) == "integer" and p.offset ~= offset) or same_row(rows[1], first_of_last)) then
        errors.raise { kind = "api", code = "paging",
                       message = ("%s: the server ignored offset=%d (it sent the first page again); stopping instead of looping"):format(what, offset) }
      end
      first_of_last = rows[1]
      offset = offset + #rows
      local total = math.tointeger(p.totalRows)
      if #rows == 0 or (total and offset >= total) or (not total and #rows < limit) or #rows > limit then
        done = true
      end
      page, i = { rows = rows, headers = p.headers, totalRows = total }, 0
      if #rows == 0 then return nil end
    end
  end
end

-- A result in JSON is decoded; other formats come back as text.
local function result_of(api, res, method, format)
  if format and format ~= "json" then return res.body end
  return api.decode(res, method)
end

local function robots(api)
  local g = {}
  function g.create(def)
    return api.call("POST", "robots", { json = check_table("robots.create", def, "the robot definition") })
  end
  function g.update(def)
    check_table("robots.update", def, "the robot definition")
    check_id("robots.update", def._id, "def._id")
    return api.call("PUT", "robots", { json = def })
  end
  function g.get(id)
    return api.call("GET", "robots/" .. esc(check_id("robots.get", id)))
  end
  function g.remove(id)
    return api.call("DELETE", "robots/" .. esc(check_id("robots.remove", id)))
  end
  return g
end

local function sync_query(fname, o)
  o = opt_table(fname, o)
  return { connect = opt_bool(fname, o.connect, "connect"), format = opt_format(fname, o.format),
           deleteAfter = opt_bool(fname, o.delete_after, "delete_after") }, o
end

local function run_path(fname, id, rest) return "runs/" .. esc(check_id(fname, id, "run id")) .. (rest or "") end

-- The runs themselves: list, save, get, remove, and every run page by page.
local function run_records(api, g)
  function g.list(o)
    local fname = "runs.list"
    o = opt_table(fname, o)
    if o.robot_id ~= nil then check_id(fname, o.robot_id, "robot_id") end
    return api.call("GET", "runs", { query = {
      robotId = o.robot_id, offset = opt_int(fname, o.offset, "offset"), limit = opt_int(fname, o.limit, "limit") } })
  end
  function g.save(def)
    check_table("runs.save", def, "the run definition")
    return api.call("POST", "runs", { json = def, query = { robotId = def.robotId } })
  end
  function g.get(id) return api.call("GET", run_path("runs.get", id)) end
  function g.remove(id) return api.call("DELETE", run_path("runs.remove", id)) end
  function g.each(o)
    o = opt_table("runs.each", o)
    if o.robot_id ~= nil then check_id("runs.each", o.robot_id, "robot_id") end
    return (pages(function(offset, limit)
      return g.list { robot_id = o.robot_id, offset = offset, limit = limit }
    end, PAGE, "runs.each"))
  end
end

-- Starting executions: with the stored inputs, one input or a list, answered at once.
local function run_starts(api, g)
  function g.execute(id, o)
    o = opt_table("runs.execute", o)
    return api.call("POST", run_path("runs.execute", id, "/execute"),
      { query = { connect = opt_bool("runs.execute", o.connect, "connect") } })
  end
  function g.execute_with_input(id, inputs, o)
    local fname = "runs.execute_with_input"
    o = opt_table(fname, o)
    return api.call("POST", run_path(fname, id, "/execute/inputs"),
      { json = check_table(fname, inputs, "inputs"), query = { connect = opt_bool(fname, o.connect, "connect") } })
  end
  function g.execute_bulk(id, list, o)
    local fname = "runs.execute_bulk"
    o = opt_table(fname, o)
    return api.call("POST", run_path(fname, id, "/execute/bulk"),
      { json = check_list(fname, list, "the list of inputs"), query = { connect = opt_bool(fname, o.connect, "connect") } })
  end
end

-- The blocking /wait variants, and the latest result: options, then the run id, then the body
-- (if any) are checked.
local function run_results(api, g)
  local function wait_variant(fname, id, suffix, o, body)
    local q, opts = sync_query(fname, o)
    local rel = run_path(fname, id, suffix)
    local res = api.send("POST", rel, { json = body and body(), query = q, timeout = opts.timeout or SYNC_TIMEOUT })
    return result_of(api, res, "POST", q.format)
  end
  function g.execute_sync(id, o)
    return wait_variant("runs.execute_sync", id, "/execute/wait", o)
  end
  function g.execute_with_input_sync(id, inputs, o)
    local fname = "runs.execute_with_input_sync"
    return wait_variant(fname, id, "/execute/inputs/wait", o, function() return check_table(fname, inputs, "inputs") end)
  end
  function g.execute_bulk_sync(id, list, o)
    local fname = "runs.execute_bulk_sync"
    return wait_variant(fname, id, "/execute/bulk/wait", o, function() return check_list(fname, list, "the list of inputs") end)
  end
  function g.latest_result(id, o)
    o = opt_table("runs.latest_result", o)
    local format = opt_format("runs.latest_result", o.format)
    return result_of(api, api.send("GET", run_path("runs.latest_result", id, "/latest/result"), { query = { format = format } }), "GET", format)
  end
end

-- A run's executions and its stored input rows.
local function run_executions_and_inputs(api, g)
  function g.executions(id, o)
    local fname = "runs.executions"
    o = opt_table(fname, o)
    return api.call("GET", run_path(fname, id, "/executions"), { query = {
      offset = opt_int(fname, o.offset, "offset"), limit = opt_int(fname, o.limit, "limit") } })
  end
  function g.each_execution(id)
    check_id("runs.each_execution", id, "run id")
    return (pages(function(offset, limit)
      return g.executions(id, { offset = offset, limit = limit })
    end, PAGE, "runs.each_execution"))
  end
  function g.set_inputs(id, rows, o)
    local fname = "runs.set_inputs"
    o = opt_table(fname, o)
    return api.call("PUT", run_path(fname, id, "/inputs"), { json = check_list(fname, rows, "rows"),
      query = { append = opt_bool(fname, o.append, "append") } })
  end
  function g.clear_inputs(id)
    return api.call("DELETE", run_path("runs.clear_inputs", id, "/inputs"))
  end
end

local function runs(api)
  local g = {}
  run_records(api, g)
  run_starts(api, g)
  run_results(api, g)
  run_executions_and_inputs(api, g)
  return g
end

local function executions(api)
  local g = {}
  local function path(fname, id, rest) return "executions/" .. esc(check_id(fname, id, "execution id")) .. (rest or "") end
  function g.get(id) return api.call("GET", path("executions.get", id)) end
  function g.remove(id) return api.call("DELETE", path("executions.remove", id)) end
  function g.result(id, o)
    local fname = "executions.result"
    o = opt_table(fname, o)
    local format = opt_format(fname, o.format)
    local res = api.send("GET", path(fname, id, "/result"), { query = {
      format = format, offset = opt_int(fname, o.offset, "offset"), limit = opt_int(fname, o.limit, "limit") } })
    return result_of(api, res, "GET", format)
  end
  -- Every row of a result, page by page where the server pages (it may send all at once).
  function g.each_row(id)
    check_id("executions.each_row", id, "execution id")
    return (pages(function(offset, limit)
      return g.result(id, { offset = offset, limit = limit })
    end, PAGE, "executions.each_row"))
  end
  function g.file(execution_id, file_id)
    local fname = "executions.file"
    local id, size = file_ids.ref(file_id, fname)
    local rel = path(fname, execution_id, "/file/") .. file_ids.path(id)
    -- a pointer's size caps the body (else http.request's default for memory)
    local res = api.send("GET", rel, { class = "file", max_body = size })
    return res.body, res.headers["content-type"]
  end
  function g.stop(id) return api.call("POST", path("executions.stop", id, "/stop")) end
  function g.continue(id) return api.call("POST", path("executions.continue", id, "/continue")) end
  function g.stats(id) return api.call("GET", path("executions.stats", id, "/stats")) end
  return g
end

local function datasets(api)
  local g = {}
  function g.rows(id, o)
    local fname = "datasets.rows"
    o = opt_table(fname, o)
    if o.query ~= nil and type(o.query) ~= "table" then argerror(fname, "query must be a table") end
    local body = { offset = opt_int(fname, o.offset, "offset"), limit = opt_int(fname, o.limit, "limit"), query = o.query }
    -- a POST that only reads: safe to repeat after a failure
    return api.call("POST", "datasets/" .. esc(check_id(fname, id, "dataset id")) .. "/rows",
      { json = body, safe = true })
  end
  function g.each_row(id, o)
    o = opt_table("datasets.each_row", o)
    check_id("datasets.each_row", id, "dataset id")
    return (pages(function(offset, limit)
      return g.rows(id, { offset = offset, limit = limit, query = o.query })
    end, PAGE, "datasets.each_row"))
  end
  return g
end

local function files(api)
  return {
    get = function(file_id)
      local id, size = file_ids.ref(file_id, "files.get")
      local rel = "files/" .. file_ids.path(id)
      local res = api.send("GET", rel, { class = "file", max_body = size })
      return res.body, res.headers["content-type"]
    end,
  }
end

-- Each function checked before it runs: called with a colon (d.runs:list{}, which hands the
-- group in as the first argument and shifts the real ones), and the names in its option
-- table, against dexi/declarations.lua. help() shows the declaration.
local function checked(g, gname, fname, f, c)
  local name = gname .. "." .. fname
  local d = DECL[name]
  local at
  local i = 0
  for p in d.args:gmatch("%S+") do
    i = i + 1
    if p == "opts" then at = i end
  end
  local wrapped = function(...)
    local first = ...
    if first == g or first == c then
      errors.raise { kind = "argument", method = name,
                     message = ("called with a colon (client.%s:%s(...)); Dexi functions are fields: write client.%s(...)")
                       :format(gname, fname, name) }
    end
    if at then
      local o = select(at, ...)
      if type(o) == "table" then decl.check_names(name, d.options, o, "option") end
    end
    return f(...)
  end
  doc.register(wrapped, function() return M.describe(name) end)
  return wrapped
end

-- The text help() shows for a Dexi function.
function M.describe(name)
  local d = DECL[name]
  if not d then return nil end
  local call = name:match("^client:") and name or "client." .. name
  local params = d.args:gsub(" ", ", ")
  local lines = { ("dexi %s(%s): %s %s"):format(call, params, d[1], d[2]), "  " .. d.doc }
  if d.options then
    lines[#lines + 1] = "  options (opts):"
    for _, l in ipairs(decl.lines(d.options)) do lines[#lines + 1] = "  " .. l end
  end
  return table.concat(lines, "\n")
end

-- What the groups send with: the client's send and its decode (a method a client object does
-- not show), bound to the client; call sends and decodes.
local function link(c, Client)
  local api = {}
  function api.send(method, path, o) return c:send(method, path, o) end
  function api.decode(res, method) return Client.decode(c, res, method) end
  function api.call(method, path, o) return api.decode(api.send(method, path, o), method) end
  return api
end

-- attach(c, Client): gives the client c (of the class Client) its endpoint groups.
function M.attach(c, Client)
  local api = link(c, Client)
  c.robots, c.runs, c.executions = robots(api), runs(api), executions(api)
  c.datasets, c.files = datasets(api), files(api)
  for _, gname in ipairs { "robots", "runs", "executions", "datasets", "files" } do
    local g = c[gname]
    for fname, f in pairs(g) do g[fname] = checked(g, gname, fname, f, c) end
  end
end

return M
