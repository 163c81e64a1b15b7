-- The Dexi client object: auth headers, the three per-account limiters, the request pipeline,
-- downloads and waiting. Endpoint groups and their paging live in dexi/endpoints.lua.
local task = require "autolua.task"
local limiter = require "autolua.limiter"
local errors = require "autolua.error"
local json = require "autolua.json"
local digest = require "autolua.digest"
local pipeline = require "autolua.client"
local http = require "autolua.http"
local sys = require "autolua.sys"
local decl = require "autolua.decl"
local secret = require "autolua.secret"
local doc = require "autolua.doc"
local file_ids = require "dexi.files"
local endpoints = require "dexi.endpoints"
local DECL = require "dexi.declarations"

local Client = {}

-- The module's helpers for endpoints.lua, which a client object does not show (c.decode and
-- c.failure are nil): what a client offers is its methods.
local HELPERS = { check_call = true, decode = true, failure = true }
Client.__index = function(_, k)
  if HELPERS[k] then return nil end
  return Client[k]
end

-- The methods, for the REPL's Tab (an __index function hides them from a table walk).
function Client.__complete()
  local names = {}
  for k, v in pairs(Client) do
    if type(v) == "function" and not HELPERS[k] and not k:find("^_") then names[#names + 1] = k end
  end
  table.sort(names)
  return names
end

local DEFAULT_BASE = "https://api.dexi.io/"
local DEFAULT_LIMITS = { get = 75, write = 15, file = 15 }
-- Each limiter runs 0.9 % under the published rate: requests leave evenly spaced, and this
-- slack absorbs the jitter they pick up on the way, so the server's window never overflows.
local MARGIN = 1.009
local FINAL = { OK = true, FAILED = true, STOPPED = true }

-- The secrets live outside the object, so printing or inspecting a client never shows them.
local secrets = setmetatable({}, { __mode = "k" })

local argerror = pipeline.argerror
local check_id = endpoints.check_id

-- A client method called with a dot (client.download(v, dest)) gets no client: name the
-- colon form. Then the option table's names, from dexi/declarations.lua.
function Client.check_call(self, fname, opts)
  if getmetatable(self) ~= Client then
    errors.raise { kind = "argument", method = fname,
                   message = ("%s was called with a dot; it is a method of the client: write %s(...)"):format(
                     fname:gsub(":", "."), fname) }
  end
  if type(opts) == "table" then
    local d = DECL[fname]
    decl.check_names(fname, d.options, opts, "option")
  end
end

-- A method called with a dot, or on something else than a client, names the colon call.
local function check_self(self, fname)
  if getmetatable(self) ~= Client then
    argerror(fname, "must be called on a client with a colon, as %s(...)", fname)
  end
end

local function check_limits(given)
  if given ~= nil and type(given) ~= "table" then
    argerror("dexi.client", "limits must be a table {get =, write =, file =}, got %s", type(given))
  end
  local limits = {}
  for class, default in pairs(DEFAULT_LIMITS) do
    local v = given and given[class]
    if v == nil then v = default end
    if v ~= false and (type(v) ~= "number" or v <= 0) then
      argerror("dexi.client", "limits.%s must be a positive number of requests per second (or false)", class)
    end
    limits[class] = v
  end
  return limits
end

function Client.new(opts)
  opts = opts or {}
  if type(opts) ~= "table" then argerror("dexi.client", "expects a table of options") end
  for _, field in ipairs { "account", "api_key" } do
    if opts[field] ~= nil and type(opts[field]) ~= "string" then
      argerror("dexi.client", "%s must be a string, got %s", field, type(opts[field]))
    end
  end
  local conf = require("autolua.profile").resolve("dexi", opts,
    { account = { "DEXI_ACCOUNT" }, api_key = { "DEXI_API_KEY" }, base_url = { "DEXI_BASE_URL" } })
  local account, key = conf.account, conf.api_key
  if type(account) ~= "string" or account == "" or type(key) ~= "string" or key == "" then
    argerror("dexi.client", "missing credentials: set DEXI_ACCOUNT and DEXI_API_KEY (or pass account = and api_key =, or choose a profile)")
  end
  local base = conf.base_url or DEFAULT_BASE
  if type(base) ~= "string" or not base:match("^https?://[^/]") then
    argerror("dexi.client", "base_url must be an http(s) URL, got %s", tostring(base))
  end
  if not base:find("/$") then base = base .. "/" end
  if opts.retries ~= nil and (math.type(opts.retries) ~= "integer" or opts.retries < 0) then
    argerror("dexi.client", "retries must be a whole number >= 0")
  end
  if opts.timeout ~= nil and (type(opts.timeout) ~= "number" or opts.timeout <= 0) then
    argerror("dexi.client", "timeout must be a positive number of seconds")
  end
  if opts.deadline ~= nil and (type(opts.deadline) ~= "number" or not (opts.deadline > 0)) then
    argerror("dexi.client", "deadline must be a positive number of seconds")
  end
  if opts.backoff ~= nil and type(opts.backoff) ~= "table" then
    argerror("dexi.client", "backoff must be a table {base =, cap =}")
  end
  local self = setmetatable({
    account = account, base_url = base, retries = opts.retries or 5, timeout = opts.timeout or 60,
    backoff = opts.backoff, limits = check_limits(opts.limits), limiters = {}, deadline = opts.deadline,
  }, Client)
  secrets[self] = { access = digest.md5(account .. key) }
  -- whatever the server echoes and whatever the REPL prints shows these as ***
  secret.add(key)
  secret.add(secrets[self].access)
  secret.add_url(base)
  for class, rate in pairs(self.limits) do
    if rate then
      self.limiters[class] = limiter.rate { rate = rate, per = MARGIN, key = ("dexi:%s:%s:%s"):format(account, class, rate),
                                             shared = true, store = opts.store }
    end
  end
  endpoints.attach(self, Client)
  return self
end

function Client:__tostring()
  return ("dexi.client (account %s, %s)"):format(self.account, http.redact(self.base_url))
end

-- {====================================================== requests

local REASONS = { [400] = "bad request", [404] = "not found", [405] = "method not allowed",
                  [409] = "conflict", [410] = "gone", [422] = "unprocessable", [500] = "server error",
                  [502] = "bad gateway", [503] = "service unavailable", [504] = "gateway timeout" }

-- failure(res, method, attempts [, body]) -> the error for a final non-2xx answer (the same
-- shape as the DX client's). Dexi's error body is {"error": true, "code": N}; the URL is named
-- without its query.
function Client:failure(res, method, attempts, body)
  local status = res.status
  local e = { kind = "api", status = status, method = method, url = http.redact((res.url:gsub("%?.*$", ""))),
              attempts = attempts, retryable = status >= 500 }
  if body == nil then body = json.decode(res.body or "") end
  if status == 401 or status == 403 then
    e.code = "unauthorized"
    e.message = ("the Dexi API refused the credentials of account %s: check DEXI_ACCOUNT and DEXI_API_KEY"):format(self.account)
  elseif type(body) == "table" then
    e.code = status == 404 and "not_found" or (REASONS[status] or "error"):gsub(" ", "_")
    e.message = body.message or body.msg or REASONS[status] or "request failed"
  else
    e.kind = "http"
    e.message = "unexpected answer: " .. pipeline.describe_body(res)
  end
  return errors.new(e)
end

function Client:headers()
  check_self(self, "client:headers")
  return {
    ["X-DexiIO-Account"] = self.account,
    ["X-DexiIO-Access"] = secrets[self].access,
    Accept = "application/json",
    ["Content-Type"] = "application/json",
  }
end

--[[ send(method, path, o) -> res, attempts
o: {query =, json =, class = "get"|"write"|"file", safe = retry 5xx/network (default: GET and
DELETE), timeout =, sink =, expect_bytes =, replace =, max_body =} ]]
function Client:send(method, path, o)
  check_self(self, "client:send")
  if type(method) ~= "string" then argerror("client:send", "method must be an HTTP verb, got %s", type(method)) end
  if type(path) ~= "string" then argerror("client:send", "path must be a string, got %s", type(path)) end
  if o ~= nil and type(o) ~= "table" then argerror("client:send", "options must be a table, got %s", type(o)) end
  o = o or {}
  local class = o.class or (method == "GET" and "get" or "write")
  local req = {
    method = method, url = self.base_url .. path, query = o.query, json = o.json,
    headers = self:headers(), timeout = o.timeout or self.timeout, sink = o.sink, expect_bytes = o.expect_bytes,
    replace = o.replace, max_body = o.max_body,
  }
  local safe = o.safe
  if safe == nil then safe = method == "GET" or method == "DELETE" end
  local res, attempts = pipeline.send(req, {
    name = method, limiter = self.limiters[class], retries = self.retries, safe = safe,
    backoff = self.backoff, max_wait = o.max_wait, within = self.deadline,
    fail = function(res, attempts) return Client.failure(self, res, method, attempts) end,
  })
  res.attempts = attempts      -- for the errors raised while decoding it
  return res, attempts
end

-- decode(res, method) -> the decoded JSON of a 2xx answer; an empty body (DELETE answers so)
-- is success: true.
function Client:decode(res, method)
  local body = res.body
  if body == nil or body == "" then return true end
  local value, why = json.decode(body)
  if value == nil and why then
    errors.raise { kind = "decode", status = res.status, method = method, url = http.redact(res.url), attempts = res.attempts,
                   message = ("the answer is not valid JSON (%s): %s"):format(why, pipeline.describe_body(res)) }
  end
  return value
end

-- client:request(method, path, {query =, json =}) -> decoded JSON
function Client:request(method, path, o)
  Client.check_call(self, "client:request", o)
  if type(method) ~= "string" or not method:match("^%a+$") then argerror("client:request", "method must be an HTTP verb") end
  if type(path) ~= "string" then argerror("client:request", "path must be a string") end
  if o ~= nil and type(o) ~= "table" then argerror("client:request", "options must be a table") end
  method = method:upper()
  local res = self:send(method, (path:gsub("^/", "")), o)
  return Client.decode(self, res, method)
end

-- }======================================================

-- {====================================================== downloads

-- A directory that is missing is created (with its parents), as the dexi-download recipe does.
local function make_dir(dir)
  if dir == "" then return end
  local ok, why = sys.mkdir(dir)
  if not ok then argerror("client:download", "cannot create directory %s: %s", dir, tostring(why)) end
end

-- The path for a download, and for a directory its record (dexi/manifest.lua) and the name
-- claimed there: never a file that came from another id or not from a download.
local function target(dest, id, mime)
  local st = sys.stat(dest)
  if (st and st.type == "directory") or dest:find("/$") then
    if not st then make_dir(dest) end
    local m = require("dexi.manifest").open(dest)
    local name = m:claim(id, file_ids.name(id, mime))
    return m:path(name), m, name
  end
  local parent = dest:match("^(.*)/[^/]*$")
  if parent and not sys.stat(parent) then make_dir(parent) end
  return dest
end

-- client:download(value, dest, {execution = id}) -> {path =, bytes =, mime =}
function Client:download(value, dest, opts)
  local fname = "client:download"
  Client.check_call(self, fname, opts)
  local id, size, mime = file_ids.ref(value, fname)
  if type(dest) ~= "string" or dest == "" then argerror(fname, "dest must be a file or directory path") end
  if opts ~= nil and type(opts) ~= "table" then argerror(fname, "options must be a table") end
  local execution = opts and opts.execution
  if execution ~= nil then check_id(fname, execution, "execution") end
  local path, record, name = target(dest, id, mime)
  local file_path = file_ids.path(id)
  local rel = execution and ("executions/%s/file/%s"):format(http.escape(execution), file_path)
              or ("files/%s"):format(file_path)
  -- a name newly claimed in a directory is taken only if still free when the file lands
  local replace = nil
  if record and not record:owns(id, name) then replace = false end
  local res = self:send("GET", rel, { class = "file", sink = path, expect_bytes = size, replace = replace,
                                      timeout = opts and opts.timeout or 600 })
  if record then record:record(id, name, res.bytes) end
  return { path = path, bytes = res.bytes, mime = res.headers["content-type"] or mime }
end

-- }======================================================

-- client:wait_execution(id, {timeout =, interval =}) -> execution (whatever its final state)
function Client:wait_execution(id, opts)
  local fname = "client:wait_execution"
  Client.check_call(self, fname, opts)
  check_id(fname, id, "execution id")
  if opts ~= nil and type(opts) ~= "table" then argerror(fname, "options must be a table") end
  opts = opts or {}
  local timeout, interval = opts.timeout or 3600, opts.interval or 2
  if type(timeout) ~= "number" or timeout <= 0 then argerror(fname, "timeout must be a positive number") end
  if type(interval) ~= "number" or interval < 0 then argerror(fname, "interval must be a number >= 0") end
  local deadline = task.now() + timeout
  while true do
    local e = self.executions.get(id)
    if type(e) == "table" and FINAL[e.state] then return e end
    if task.now() + interval > deadline then
      errors.raise { kind = "timeout", code = "timeout",
                     message = ("execution %s is still %s after %g s"):format(id, tostring(e and e.state), timeout) }
    end
    task.sleep(interval)
  end
end

--[[ client:latest_execution(run, {wait =, timeout =, interval =}) -> execution
The newest execution of 'run' that has finished (OK, FAILED or STOPPED): one still queued or
running is passed over, or, with wait = true, waited for. Raises kind = "api", code =
"not_found" when the run has none. Whether it ended OK is the caller's to check. ]]
function Client:latest_execution(run, opts)
  local fname = "client:latest_execution"
  check_id(fname, run, "run id")
  if opts ~= nil and type(opts) ~= "table" then argerror(fname, "options must be a table") end
  opts = opts or {}
  local unfinished
  for e in self.runs.each_execution(run) do
    if type(e) == "table" and FINAL[e.state] then return e end
    if type(e) == "table" and type(e._id) == "string" then
      if opts.wait then return self:wait_execution(e._id, { timeout = opts.timeout, interval = opts.interval }) end
      unfinished = unfinished or e
    end
  end
  errors.raise { kind = "api", code = "not_found", run = run,
                 message = ("run %s has no finished execution%s"):format(run,
                   unfinished and (" (the newest, %s, is %s)"):format(unfinished._id, tostring(unfinished.state)) or ""),
                 hint = unfinished and "wait for it (--wait in the recipes, wait = true here)" or nil }
end

-- help(client.download) and the others show their declarations.
for _, n in ipairs { "download", "wait_execution", "latest_execution", "request" } do
  doc.register(Client[n], function() return endpoints.describe("client:" .. n) end)
end

return Client
