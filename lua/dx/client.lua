-- The DX client object: bearer auth, the per-token sliding window, calls by dotted method name
-- (and the c.family.method{...} sugar), cursor paging, Data Studio queries, workflow-run
-- waits and 303 downloads.
local task = require "autolua.task"
local limiter = require "autolua.limiter"
local errors = require "autolua.error"
local json = require "autolua.json"
local digest = require "autolua.digest"
local pipeline = require "autolua.client"
local http = require "autolua.http"
local log = require "autolua.log"
local METHODS = require "dx.methods"
local args = require "dx.args"
local decl = require "autolua.decl"
local secret = require "autolua.secret"

local Client = {}

local DEFAULT_BASE = "https://api.getdx.com"
-- The window runs a little longer than the published one: admissions are counted when requests
-- leave, the server counts them when they arrive (a first request also waits for its
-- connection), and the slack covers the difference: 0.5 %, and at least 50 ms.
local function slack(window) return math.max(window * 0.005, 0.05) end
local FINAL_RUN = { SUCCEEDED = true, FAILED = true, REJECTED = true, TIMEOUT = true, CANCELLED = true }
local secrets = setmetatable({}, { __mode = "k" })

local argerror = pipeline.argerror

-- {====================================================== construction

local Family = {}

-- A proxy holds its client at [1] and its dotted path at [2]: no string keys, so every name
-- reads as a method segment.
local function proxy(c, path)
  return setmetatable({ c, path }, Family)
end

Family.__index = function(f, k)
  if type(k) ~= "string" then return nil end
  return proxy(rawget(f, 1), rawget(f, 2) .. "." .. k)
end

local function is_proxy(v) return type(v) == "table" and getmetatable(v) == Family end

-- c.teams:list{} (a colon) hands the family in as the arguments, and c.teams.list(c, {...})
-- the client: both put the real arguments second, where they would be lost.
Family.__call = function(f, a, ...)
  local path = rawget(f, 2)
  if is_proxy(a) or getmetatable(a) == Client then
    local fam, name = path:match("^(.*)%.([^.]+)$")
    errors.raise { kind = "argument", method = path,
                   message = ("called with a colon (c.%s:%s{...}); DX methods are fields: write c.%s{...}, "
                              .. "with dots only, or c:call(\"%s\", {...})"):format(fam or path, name or "", path, path) }
  end
  if select("#", ...) > 0 then
    errors.raise { kind = "argument", method = path,
                   message = ("takes one table of arguments, got %d values (write c.%s{name = value, ...})"):format(
                     1 + select("#", ...), path) }
  end
  return rawget(f, 1):call(path, a)
end

-- The next name segments under 'prefix' among the known methods (for REPL completion).
local function children(prefix)
  local names, seen = {}, {}
  for m in pairs(METHODS) do
    if m:sub(1, #prefix) == prefix then
      local seg = m:sub(#prefix + 1):match("^[^.]+")
      if seg and not seen[seg] then seen[seg] = true; names[#names + 1] = seg end
    end
  end
  table.sort(names)
  return names
end

-- What printing a method (or help() on it) shows: its verb, scope, host and arguments, from
-- its declaration; for a family, the methods under it.
function Client.describe(path)
  local spec = METHODS[path]
  if spec then
    local lines = { ("dx method %s: %s %s%s"):format(path, spec[1], spec.host == "datacloud"
                      and "<DX_DATACLOUD_URL>/api/" or "<DX_BASE_URL>/", path, "") }
    lines[#lines + 1] = "  scope: " .. args.scope_text(spec[3])
    local argl = decl.lines(spec[2], spec.one_of)
    lines[#lines + 1] = #argl > 0 and "  arguments:" or "  arguments: none"
    for _, l in ipairs(argl) do lines[#lines + 1] = "  " .. l end
    lines[#lines + 1] = ("  call: c.%s{...} or c:call(\"%s\", {...})"):format(path, path)
    return table.concat(lines, "\n")
  end
  local kids = children(path .. ".")
  if #kids > 0 then
    return ("dx method family %s: %s"):format(path, table.concat(kids, ", "))
  end
  local near = decl.closest(path, (function()
    local all = {}
    for m in pairs(METHODS) do all[#all + 1] = m end
    return all
  end)())
  return ("dx: no method %s%s"):format(path, #near > 0 and (" (closest: " .. table.concat(near, ", ") .. ")") or "")
end

Family.__tostring = function(f)
  return Client.describe(rawget(f, 2))
end

Family.__name = "dx method"

Family.__complete = function(f) return children(rawget(f, 2) .. ".") end

Client.__complete = function()
  local names = children("")
  for _, m in ipairs { "call", "pages", "each", "query", "download", "wait_workflow_run", "preview" } do names[#names + 1] = m end
  return names
end

-- c.family: a proxy for a method family; any other unknown field is nil (c.token is not a
-- method, and neither is the token).
local FAMILIES = {}
for m in pairs(METHODS) do FAMILIES[m:match("^[^.]+")] = true end


-- Client functions called with a dot (c.call("x")) get no client: name the colon form.
local function self_check(self, fname)
  if getmetatable(self) ~= Client then
    errors.raise { kind = "argument", method = "c:" .. fname,
                   message = ("c.%s(...) was called with a dot; it is a method of the client: write c:%s(...)"):format(fname, fname) }
  end
end

-- The module's own helpers, which a client object does not show: c.failure is a method family.
local HELPERS = { new = true, failure = true, METHODS = true, describe = true }

Client.__index = function(c, k)
  local m = not HELPERS[k] and Client[k] or nil
  if m ~= nil or not FAMILIES[k] then return m end
  return proxy(c, k)
end

-- A method called with a dot, or on something else than a client, names the colon call.
local function check_self(c, fname)
  if getmetatable(c) ~= Client then
    argerror(fname, "must be called on a client with a colon, as %s(...)", fname)
  end
end

local function opt_table(fname, o, what)
  if o ~= nil and type(o) ~= "table" then argerror(fname, "%s must be a table, got %s", what or "options", type(o)) end
  return o or {}
end

-- The polling options of query and wait_workflow_run: timeout > 0, interval >= 0 (seconds).
local function poll_options(fname, o, timeout, interval)
  o = opt_table(fname, o)
  timeout, interval = o.timeout or timeout, o.interval or interval
  if type(timeout) ~= "number" or timeout <= 0 then argerror(fname, "timeout must be a positive number of seconds") end
  if type(interval) ~= "number" or interval < 0 then argerror(fname, "interval must be a number of seconds >= 0") end
  return o, timeout, interval
end

function Client.new(opts)
  opts = opts or {}
  if type(opts) ~= "table" then argerror("dx.client", "expects a table of options") end
  if opts.token ~= nil and type(opts.token) ~= "string" then
    argerror("dx.client", "token must be a string, got %s", type(opts.token))
  end
  local conf = require("autolua.profile").resolve("dx", opts,
    { token = { "DX_TOKEN", "DX_API_TOKEN" }, base_url = { "DX_BASE_URL" } })
  local token = conf.token
  if type(token) ~= "string" or token == "" then
    argerror("dx.client", "missing token: set DX_TOKEN (or DX_API_TOKEN, as the DX CLI reads) or pass token =, or choose a profile")
  end
  local base = conf.base_url or DEFAULT_BASE
  if type(base) ~= "string" or not base:match("^https?://[^/]") then
    argerror("dx.client", "base_url must be an http(s) URL, got %s", tostring(base))
  end
  local datacloud = opts.datacloud_url or os.getenv("DX_DATACLOUD_URL")
  if datacloud == "" then datacloud = nil end
  if datacloud ~= nil and (type(datacloud) ~= "string" or not datacloud:match("^https?://[^/]")) then
    argerror("dx.client", "datacloud_url must be an http(s) URL (https://<instance>.getdx.net), got %s", tostring(datacloud))
  end
  local limit, window = opts.limit or 1000, opts.window or 60
  if math.type(limit) ~= "integer" or limit < 1 then argerror("dx.client", "limit must be a positive integer") end
  if type(window) ~= "number" or window <= 0 then argerror("dx.client", "window must be a positive number of seconds") end
  if opts.retries ~= nil and (math.type(opts.retries) ~= "integer" or opts.retries < 0) then
    argerror("dx.client", "retries must be a whole number >= 0")
  end
  if opts.timeout ~= nil and (type(opts.timeout) ~= "number" or opts.timeout <= 0) then
    argerror("dx.client", "timeout must be a positive number of seconds")
  end
  if opts.backoff ~= nil and type(opts.backoff) ~= "table" then
    argerror("dx.client", "backoff must be a table {base =, cap =}")
  end
  local c = setmetatable({}, Client)
  rawset(c, "base_url", (base:gsub("/+$", "")))
  -- the instance host; its methods live under /api/ (given or not)
  rawset(c, "datacloud_url", datacloud and (datacloud:gsub("/+$", ""):gsub("/api$", "")))
  rawset(c, "limit", limit)
  rawset(c, "window", window)
  rawset(c, "retries", opts.retries or 5)
  rawset(c, "timeout", opts.timeout or 60)
  if opts.deadline ~= nil and (type(opts.deadline) ~= "number" or not (opts.deadline > 0)) then
    argerror("dx.client", "deadline must be a positive number of seconds")
  end
  rawset(c, "deadline", opts.deadline)
  rawset(c, "backoff", opts.backoff)
  secrets[c] = token
  -- whatever the server echoes and whatever the REPL prints shows these as ***
  secret.add(token)
  secret.add_url(base)
  -- Shared by every client of this token; the key names the token by a digest, never itself.
  -- The window runs a little longer than the server's and keeps the count exact; a job below
  -- the limit goes at once. Once tasks wait for room it paces them evenly, so a flood's next
  -- window does not begin with its first window's burst again: a server busy with such a burst
  -- stamps some of it late enough to count it in two windows.
  local key = ("dx:%s:%d:%g"):format(digest.sha256(token):sub(1, 12), limit, window)
  rawset(c, "limiter", limiter.window { limit = limit, window = window + slack(window), pace = true, key = key,
                                         shared = true, store = opts.store })
  return c
end

function Client.__tostring(c)
  return ("dx.client (%s, %d requests per %g s)"):format(http.redact(rawget(c, "base_url")), rawget(c, "limit"), rawget(c, "window"))
end

-- }======================================================

-- {====================================================== calls

local function closest(name)
  local names = {}
  for m in pairs(METHODS) do names[#names + 1] = m end
  local near = decl.closest(name, names, true)
  if #near == 0 then
    local fam = name:match("^[^.]+")
    for _, m in ipairs(names) do if m:match("^[^.]+") == fam then near[#near + 1] = m end end
    table.sort(near)
    while #near > 5 do table.remove(near) end
  end
  return near
end

local function spec_of(method)
  if type(method) ~= "string" then argerror("dx", "the method name must be a string, got %s", type(method)) end
  local spec = METHODS[method]
  if not spec then
    local near = closest(method)
    errors.raise { kind = "argument", method = method,
                   message = ("unknown DX method '%s'%s"):format(method,
                     #near > 0 and (" (closest: " .. table.concat(near, ", ") .. ")") or "") }
  end
  return spec
end

local AUTH_HINTS = {
  not_authed = "no token was sent: set DX_TOKEN",
  invalid_auth = "the DX API refused the token (revoked, expired or mistyped): check DX_TOKEN",
}

-- failure(res, method, attempts [, body]) -> the error for an answer that failed: a non-2xx
-- status, or ok == false on a 2xx (the same shape as the Dexi client's).
function Client:failure(res, method, attempts, body)
  if body == nil then body = json.decode(res.body or "") end
  local e = { kind = "api", status = res.status, method = method, attempts = attempts,
              url = http.redact(res.url or rawget(self, "base_url")), retryable = res.status >= 500 }
  if type(body) == "table" and (body.error ~= nil or body.ok == false) then
    local code = type(body.error) == "string" and body.error or nil
    local details = type(body.error_details) == "table" and body.error_details.message or nil
    e.code = res.status == 410 and "expired" or code
    e.message = AUTH_HINTS[code] or details or (type(body.message) == "string" and body.message) or code or "request failed"
    if code == "missing_scope" and body.needed and not e.message:find(tostring(body.needed), 1, true) then
      e.message = ("%s (the token needs %s)"):format(e.message, tostring(type(body.needed) == "table" and table.concat(body.needed, ", ") or body.needed))
    end
  elseif res.status >= 300 and res.status < 400 then
    -- API calls are never redirected; following one would also carry the token elsewhere
    e.kind = "http"
    e.message = ("redirected to %s, which DX API calls do not follow (check DX_BASE_URL)"):format(
      res.headers.location and http.redact(res.headers.location) or "nowhere (no Location)")
  else
    e.kind = "http"
    e.message = "unexpected answer: " .. pipeline.describe_body(res)
  end
  return errors.new(e)
end

-- The request a call makes, checked (o.unchecked: unknown argument names pass), not sent.
local function build(self, method, a, o)
  local spec = spec_of(method)
  if o.unchecked then
    if a ~= nil and type(a) ~= "table" then argerror(method, "arguments must be a table, got %s", type(a)) end
    a = a or {}
    args.check_types(method, spec[2], a)
  else
    a = args.check(method, spec[2], a, spec.one_of)
  end
  local verb = spec[1]
  local url = rawget(self, "base_url") .. "/" .. method
  if spec.host == "datacloud" then
    local dc = rawget(self, "datacloud_url")
    if not dc then
      errors.raise { kind = "argument", method = method,
                     message = ("%s is a Data Cloud API method, served by your instance host: set DX_DATACLOUD_URL "
                                .. "(https://<instance>.getdx.net) or pass dx.client{datacloud_url = ...}"):format(method) }
    end
    url = dc .. "/api/" .. method
  end
  local req = {
    method = verb, url = url,
    headers = { Authorization = "Bearer " .. secrets[self], Accept = "application/json" },
    timeout = o.timeout or rawget(self, "timeout"), sink = o.sink,
  }
  if verb == "GET" then req.query = args.query(a) else req.json = args.body(spec[2], a) end
  return req, verb
end

-- send(method, a, o) -> res, attempts: the raw answer of one call (o.accept: statuses handed
-- back).
function Client:send(method, a, o)
  check_self(self, "c:send")
  o = opt_table("c:send", o)
  local req, verb = build(self, method, a, o)
  return pipeline.send(req, {
    name = method, limiter = rawget(self, "limiter"), retries = rawget(self, "retries"),
    safe = verb == "GET", backoff = rawget(self, "backoff"), accept = o.accept, deadline = o.deadline,
    within = rawget(self, "deadline"),
    fail = function(res, attempts) return Client.failure(self, res, method, attempts) end,
  })
end

-- c:preview(method, args [, {unchecked = true}]) -> {method =, url =, headers =, body =}: the
-- request c:call would send, checked the same way, with the token masked; nothing is sent
-- (for --dry-run).
function Client:preview(method, a, o)
  self_check(self, "preview")
  if o ~= nil and type(o) ~= "table" then argerror("c:preview", "options must be a table {unchecked = true}, got %s", type(o)) end
  if o ~= nil then decl.check_names("c:preview", "unchecked:bool", o, "option") end
  local req = build(self, method, a, { unchecked = o and o.unchecked })
  local url = req.url
  if req.query and next(req.query) then
    local keys, parts = {}, {}
    for k in pairs(req.query) do keys[#keys + 1] = k end
    table.sort(keys)
    for _, k in ipairs(keys) do parts[#parts + 1] = http.escape(k) .. "=" .. http.escape(tostring(req.query[k])) end
    url = url .. "?" .. table.concat(parts, "&")
  end
  return { method = req.method, url = http.redact(url), body = req.json and json.encode(req.json) or nil,
           headers = { Authorization = "Bearer ***", Accept = "application/json",
                       ["Content-Type"] = req.json and "application/json" or nil } }
end

-- decode(res, method) -> the decoded envelope of a 2xx answer; ok == false raises kind = "api".
function Client:decode(res, method)
  check_self(self, "c:decode")
  if type(res) ~= "table" then argerror("c:decode", "expects a response, got %s", type(res)) end
  local body, why = json.decode(res.body or "")
  if type(body) ~= "table" then
    errors.raise { kind = "decode", status = res.status, method = method, url = http.redact(res.url),
                   message = ("the answer is not a JSON object (%s): %s"):format(why or type(body), pipeline.describe_body(res)) }
  end
  if body.ok == false or body.ok == "false" then error(Client.failure(self, res, method, 1, body), 0) end
  return body
end

-- c:call(method, args [, {unchecked = true}]) -> the decoded response (ok == true).
-- unchecked: arguments the declaration does not know are sent as given (the declared ones
-- are still type-checked), for API additions the client does not know yet.
function Client:call(method, a, o)
  self_check(self, "call")
  if o ~= nil and type(o) ~= "table" then argerror("c:call", "options must be a table {unchecked = true}, got %s", type(o)) end
  if o ~= nil then decl.check_names("c:call", "unchecked:bool", o, "option") end
  return self:decode(self:send(method, a, { unchecked = o and o.unchecked }), method)
end

-- }======================================================

-- {====================================================== paging

-- c:pages(method, args): each response in turn, following response_metadata.next_cursor (or
-- next_page for page-numbered lists); a cursor seen before ends the walk instead of looping.
function Client:pages(method, a)
  self_check(self, "pages")
  spec_of(method)
  local q = {}
  for k, v in pairs(opt_table("c:pages", a, "args")) do q[k] = v end
  local seen, done = {}, false
  return function()
    if done then return nil end
    local page = self:call(method, q)
    local meta = type(page.response_metadata) == "table" and page.response_metadata or {}
    local cursor = meta.next_cursor
    if type(cursor) == "string" and cursor ~= "" then
      if seen[cursor] then
        log.warn("the server repeated a cursor; stopping", { call = method })
        done = true
      end
      seen[cursor], q.cursor = true, cursor
    elseif math.type(page.next_page) == "integer" and page.next_page > (q.page or 1) then
      q.page = page.next_page
    else
      done = true
    end
    return page
  end
end

local function list_field(page)
  local keys = {}
  for k, v in pairs(page) do
    if type(v) == "table" and k ~= "response_metadata" and (#v > 0 or getmetatable(v) == json.array_mt) then keys[#keys + 1] = k end
  end
  table.sort(keys)
  return keys[1]
end

-- c:each(method, args, field): the items of 'field' (guessed when nil) across every page.
function Client:each(method, a, field)
  self_check(self, "each")
  if field ~= nil and type(field) ~= "string" then argerror("c:each", "field must be a string, got %s", type(field)) end
  local pages = self:pages(method, a)
  local items, i = nil, 0
  return function()
    while true do
      if items and i < #items then
        i = i + 1
        return items[i]
      end
      local page = pages()
      if not page then return nil end
      local f = field or list_field(page)
      items, i = f and page[f] or {}, 0
      if type(items) ~= "table" then
        errors.raise { kind = "argument", method = method, message = ("the response has no list '%s'"):format(tostring(f)) }
      end
    end
  end
end

-- }======================================================

-- {====================================================== queries, runs, downloads

-- The wait before the next poll: the caller's interval, or longer when Retry-After asks for it
-- (a "Retry-After: 0" on every pending answer must not turn polling into a busy loop).
local function seconds(res, interval)
  return math.max(pipeline.retry_after(res.headers["retry-after"]) or 0, interval)
end

local function timeout_error(what, id, limit)
  errors.raise { kind = "timeout", code = "timeout", message = ("%s %s did not finish within %g s"):format(what, id, limit) }
end

-- c:query(sql, {timeout =, interval =, variables =}) -> {columns =, rows =}
function Client:query(sql, o)
  self_check(self, "query")
  if type(sql) ~= "string" or sql:match("^%s*$") then argerror("c:query", "sql must be a non-empty string") end
  if o ~= nil and type(o) ~= "table" then argerror("c:query", "options must be a table, got %s", type(o)) end
  o = o or {}
  decl.check_names("c:query", "timeout:num interval:num variables:obj", o, "option")
  local timeout, interval
  o, timeout, interval = poll_options("c:query", o, 600, 1)
  local deadline = task.now() + timeout
  local res = self:send("studio.queryRuns.execute", { sql = sql, variables = o.variables }, { deadline = deadline })
  local run = self:decode(res, "studio.queryRuns.execute").query_run
  local id = run and run.id
  if type(id) ~= "string" then errors.raise { kind = "decode", message = "studio.queryRuns.execute answered without a run id" } end
  local wait = seconds(res, interval)
  local status = run.status
  while status ~= "succeeded" do
    if status == "failed" then
      local err = type(run.error) == "table" and run.error or {}
      errors.raise { kind = "api", method = "studio.queryRuns.info", code = err.code or "query_failed",
                     message = ("query run %s failed: %s"):format(id, err.message or "no reason given") }
    elseif status == "expired" then
      errors.raise { kind = "api", code = "expired", method = "studio.queryRuns.info",
                     message = ("query run %s has expired: run the query again"):format(id) }
    end
    if task.now() + wait > deadline then timeout_error("query run", id, timeout) end
    task.sleep(wait)
    res = self:send("studio.queryRuns.info", { id = id }, { deadline = deadline })
    run = self:decode(res, "studio.queryRuns.info").query_run or {}
    status, wait = run.status, seconds(res, interval)
  end
  while true do
    res = self:send("studio.queryRuns.results", { id = id }, { accept = { [409] = true }, deadline = deadline })
    if res.status ~= 409 then
      local results = self:decode(res, "studio.queryRuns.results").results or {}
      return { columns = results.columns or {}, rows = results.rows or {}, id = id }
    end
    wait = seconds(res, interval)     -- 409: not finished after all; keep polling
    if task.now() + wait > deadline then timeout_error("query run", id, timeout) end
    task.sleep(wait)
  end
end

-- c:wait_workflow_run(id, {timeout =, interval =, on_status = fn(run)}) -> the run, whatever
-- its final status; on_status sees each new status as it appears.
function Client:wait_workflow_run(id, o)
  self_check(self, "wait_workflow_run")
  if type(id) ~= "string" or id == "" then argerror("c:wait_workflow_run", "id must be a non-empty string") end
  if o ~= nil and type(o) ~= "table" then argerror("c:wait_workflow_run", "options must be a table, got %s", type(o)) end
  o = o or {}
  decl.check_names("c:wait_workflow_run", "timeout:num interval:num on_status:function", o, "option")
  local timeout, interval
  o, timeout, interval = poll_options("c:wait_workflow_run", o, 3600, 2)
  if o.on_status ~= nil and type(o.on_status) ~= "function" then argerror("c:wait_workflow_run", "on_status must be a function") end
  local deadline = task.now() + timeout
  local last
  while true do
    local res = self:send("workflowRuns.info", { id = id }, { deadline = deadline })
    local run = self:decode(res, "workflowRuns.info").workflow_run or {}
    if o.on_status and run.status ~= last then o.on_status(run) end
    last = run.status
    if FINAL_RUN[run.status] then return run end
    local wait = math.max(interval, seconds(res, 0))     -- the server may ask for longer
    if task.now() + wait > deadline then timeout_error("workflow run", id, timeout) end
    task.sleep(wait)
  end
end

local function resolve(base, loc)
  if loc:match("^https?://") then return loc end
  if loc:sub(1, 1) == "/" then return base:match("^(https?://[^/]+)") .. loc end
  return base .. "/" .. loc
end

-- c:download(method, args, dest) -> {path =, bytes =, mime =}: a method that answers with a
-- file (303 to a presigned URL, or the file itself). The file host never sees the token.
function Client:download(method, a, dest)
  self_check(self, "download")
  if type(dest) ~= "string" or dest == "" then argerror("c:download", "dest must be a file path") end
  local res = self:send(method, a, { accept = { [303] = true }, sink = dest, timeout = 600 })
  if res.status ~= 303 then
    return { path = dest, bytes = res.bytes, mime = res.headers["content-type"] }
  end
  local loc = res.headers.location
  if not loc then errors.raise { kind = "http", status = 303, method = method, message = "a 303 answer without a Location" } end
  local url = resolve(rawget(self, "base_url"), loc)
  local file = pipeline.send({ method = "GET", url = url, follow = true, sink = dest, timeout = 600,
                               headers = { Accept = "*/*" } }, {
    name = method, retries = rawget(self, "retries"), safe = true, backoff = rawget(self, "backoff"),
    fail = function(r, attempts)
      return errors.new { kind = "http", status = r.status, method = "GET", url = http.redact(url), attempts = attempts,
                          message = "the file host answered " .. pipeline.describe_body(r) }
    end,
  })
  return { path = dest, bytes = file.bytes, mime = file.headers["content-type"] }
end

-- }======================================================

Client.METHODS = METHODS
return Client
