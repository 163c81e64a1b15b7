-- autolua.serve: http.serve{}. The C server (autolua.serve.core) turns each request into a task
-- running 'dispatch' below; here are the policy parts: routes, the built-in /healthz and
-- /metrics, the answer's shape, errors and metrics. `autolua serve` is autolua/serve_cli.lua.
local core = require "autolua.serve.core"
local task = require "autolua.task"
local json = require "autolua.json"
local errors = require "autolua.error"
local log = require "autolua.log"
local metrics = require "autolua.metrics"

local M = {}

M.DEFAULT_LISTEN = "127.0.0.1:8080"
M.DEFAULT_GRACE = 10

-- {==== the request ====}

local Request = {}
Request.__index = Request

-- req:json() -> the decoded body; raises kind = "decode" when it is not JSON.
function Request:json()
  local value, why = json.decode(self.body)
  if value == nil and why then
    errors.raise { kind = "decode", message = ("request body is not valid JSON (%s)"):format(why) }
  end
  return value
end

-- {==== metrics ====}

local BUCKETS = { 0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60 }

local function new_stats()
  return { requests = {}, times = {} }
end

local function observe(st, route, status, seconds)
  local k = route .. "\0" .. status
  st.requests[k] = (st.requests[k] or 0) + 1
  local h = st.times[route]
  if not h then
    h = { counts = {}, sum = 0, count = 0 }
    for i = 1, #BUCKETS do h.counts[i] = 0 end
    st.times[route] = h
  end
  for i, le in ipairs(BUCKETS) do
    if seconds <= le then h.counts[i] = h.counts[i] + 1 end
  end
  h.sum, h.count = h.sum + seconds, h.count + 1
end

local function sorted_keys(t)
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = k end
  table.sort(keys)
  return keys
end

-- The whole /metrics page: this server's requests and handler times, the answers the server
-- made itself (before or instead of a handler), and every keyed limiter of the process.
function M.metrics_text(srv)
  local out, st = {}, srv.counts
  local reqs = {}
  for _, k in ipairs(sorted_keys(st.requests)) do
    local route, status = k:match("^(.-)%z(.*)$")
    reqs[#reqs + 1] = { labels = { { "route", route }, { "status", status } }, value = st.requests[k] }
  end
  metrics.family(out, "autolua_serve_requests_total", "counter",
                 "Requests answered by a handler or a built-in route, by route and status.", reqs)
  local hist = {}
  for _, route in ipairs(sorted_keys(st.times)) do
    local h = st.times[route]
    for i, le in ipairs(BUCKETS) do
      hist[#hist + 1] = { suffix = "_bucket", labels = { { "route", route }, { "le", metrics.num(le + 0.0) } }, value = h.counts[i] }
    end
    hist[#hist + 1] = { suffix = "_bucket", labels = { { "route", route }, { "le", "+Inf" } }, value = h.count }
    hist[#hist + 1] = { suffix = "_sum", labels = { { "route", route } }, value = h.sum }
    hist[#hist + 1] = { suffix = "_count", labels = { { "route", route } }, value = h.count }
  end
  metrics.family(out, "autolua_serve_handler_seconds", "histogram", "Time from a handler's start to its answer.", hist)
  local cs = srv.core:stats()
  local rejected = {}
  for _, status in ipairs(sorted_keys(cs.rejected)) do
    rejected[#rejected + 1] = { labels = { { "status", status } }, value = cs.rejected[status] }
  end
  metrics.family(out, "autolua_serve_rejected_total", "counter",
                 "Answers the server made itself (401, 413, 431, 503, 504 ...), by status.", rejected)
  metrics.family(out, "autolua_serve_read_timeouts_total", "counter",
                 "Connections cut because a request arrived too slowly.", { { value = cs.read_timeouts } })
  metrics.family(out, "autolua_serve_connections", "gauge", "Open connections.", { { value = cs.connections } })
  metrics.family(out, "autolua_serve_handlers_running", "gauge", "Handlers running now.", { { value = cs.running } })
  metrics.family(out, "autolua_serve_handlers_queued", "gauge", "Requests waiting for a handler slot.", { { value = cs.queued } })
  metrics.limiter_families(out)
  return table.concat(out, "\n") .. "\n"
end

-- {==== routes and answers ====}

local BUILTIN = {
  ["GET /healthz"] = function() return { status = 200, json = { ok = true } } end,
  ["GET /metrics"] = function(_, srv)
    return { status = 200, headers = { ["content-type"] = "text/plain; version=0.0.4; charset=utf-8" },
             body = M.metrics_text(srv) }
  end,
}

-- A routes table: {["METHOD /path"] = fn} (or {["/path"] = fn} for any method).
local function check_routes(routes, fname)
  for k, fn in pairs(routes) do
    if type(k) ~= "string" or not (k:match("^%u+ /") or k:match("^/")) then
      errors.raise { kind = "argument", message = ("%s: route %q must look like \"METHOD /path\" or \"/path\""):format(fname, tostring(k)) }
    end
    if type(fn) ~= "function" then
      errors.raise { kind = "argument", message = ("%s: route %q needs a function, got %s"):format(fname, k, type(fn)) }
    end
  end
end

-- -> fn, route label, or nil and the statuses' answer (404 or 405 with Allow).
local function find_route(srv, req)
  local key = req.method .. " " .. req.path
  local routes = srv.routes
  if routes then
    local fn = routes[key] or routes[req.path]
    if fn then return fn, routes[key] and key or req.path end
    -- HEAD is GET without the body (the server leaves the body out)
    local get = req.method == "HEAD" and "GET " .. req.path
    if get and routes[get] then return routes[get], get end
  end
  if BUILTIN[key] then return BUILTIN[key], key end
  if srv.handler then return srv.handler, "handler" end
  local allow = {}
  for k in pairs(routes) do
    local m, p = k:match("^(%u+) (.*)$")
    if p == req.path then allow[#allow + 1] = m end
  end
  if #allow > 0 then
    table.sort(allow)
    return nil, { status = 405, headers = { allow = table.concat(allow, ", ") },
                  json = { ok = false, error = "method_not_allowed", message = req.method .. " is not allowed on " .. req.path } }
  end
  return nil, { status = 404, json = { ok = false, error = "not_found", message = "no route for " .. key } }
end

-- A handler's return value -> status, headers, body.
local function render(res)
  if res == nil then return 204, {}, "" end
  if type(res) ~= "table" then
    error(("the handler returned a %s; it must return a table {status =, headers =, body = | json =} or nothing"):format(type(res)), 0)
  end
  local status = res.status or 200
  if math.type(status) ~= "integer" or status < 200 or status > 599 then
    error(("the handler returned status %s; it must be an integer from 200 to 599"):format(tostring(status)), 0)
  end
  local headers = {}
  for k, v in pairs(res.headers or {}) do headers[tostring(k):lower()] = tostring(v) end
  local body = res.body
  if res.json ~= nil then
    body = json.encode(res.json)
    headers["content-type"] = headers["content-type"] or "application/json"
  elseif body ~= nil and type(body) ~= "string" then
    error(("the handler's body is a %s; use a string, or json = a table"):format(type(body)), 0)
  end
  if body and body ~= "" then headers["content-type"] = headers["content-type"] or "text/plain; charset=utf-8" end
  return status, headers, body or ""
end

local function error_answer()
  return 500, { ["content-type"] = "application/json" },
         json.encode { ok = false, error = "internal_error", message = "the handler failed; the server's log says why" }
end

-- The task of one request: route, run, answer, count. Never raises except a cancellation,
-- which the server has answered already (a timeout, or the end of a drain).
local function dispatch(srv, h, req)
  setmetatable(req, Request)
  local t0 = task.now()
  local fn, route = find_route(srv, req)
  local ok, status, headers, body
  if not fn then
    status, headers, body = render(route)
    route = "unmatched"
  else
    local ok_run, res = pcall(fn, req, srv)
    local err
    if not ok_run then err = res == nil and "error (nil)" or res end
    if ok_run then
      ok, status, headers, body = pcall(render, res)
      if not ok then err = status end
    end
    if err ~= nil then
      if errors.is(err, "cancelled") then
        if srv.closed then srv.cancelled = srv.cancelled + 1 end
        h:respond(503, { ["content-type"] = "application/json" },
                  json.encode { ok = false, error = "unavailable", message = "the handler was cancelled" })
        error(err, 0)
      end
      log.error("handler failed", { route = route, method = req.method, path = req.path,
                                    error = tostring(err) })
      status, headers, body = error_answer()
    end
  end
  local ok_sent, sent = pcall(h.respond, h, status, headers, body)
  if not ok_sent then   -- an answer the server cannot send (too many headers, say)
    log.error("handler's answer refused", { route = route, method = req.method, path = req.path,
                                            error = tostring(sent) })
    status = 500
    sent = h:respond(error_answer())
  end
  if sent then
    observe(srv.counts, route, status, task.now() - t0)
    log.debug("served", { route = route, method = req.method, path = req.path, status = status,
                          ms = math.floor((task.now() - t0) * 1000 + 0.5) })
  end
end

-- {==== the server object ====}

local Server = {}
Server.__index = Server

-- srv:close([grace]): stops accepting, lets running handlers finish for 'grace' seconds
-- (default 10), then answers the rest 503 and cancels them. Returns when the server is closed.
function Server:close(grace)
  if not self.closed then
    self.closed = true
    self.core:drain(grace or M.DEFAULT_GRACE)
  end
  self.task:wait()
end

function Server:stats()
  local cs = self.core:stats()
  cs.cancelled = self.cancelled
  return cs
end

-- "HOST:PORT", "[V6]:PORT", ":PORT" or "PORT" -> host, port
function M.parse_listen(s)
  if type(s) ~= "string" then return nil end
  local host, port = s:match("^%[([%x:.]+)%]:(%d+)$")
  if not host then host, port = s:match("^([^:]*):(%d+)$") end
  if not host then port = s:match("^(%d+)$"); host = "" end
  port = tonumber(port)
  if not port or port > 65535 then return nil end
  return host ~= "" and host or "127.0.0.1", port
end

local LIMITS = { "max_body", "max_header", "read_timeout", "handler_timeout", "max_handlers",
                 "max_queue", "queue_timeout", "max_connections" }

-- http.serve{listen = "HOST:PORT", handler = fn | routes table, token =, limits...} -> server
function M.serve(opts)
  if type(opts) ~= "table" then
    errors.raise { kind = "argument", message = "http.serve: expects a table {listen =, handler =}" }
  end
  local handler, routes = opts.handler, nil
  if type(handler) == "table" then
    routes, handler = handler, nil
    check_routes(routes, "http.serve")
  elseif type(handler) ~= "function" then
    errors.raise { kind = "argument", message = "http.serve: 'handler' must be a function or a table of routes, got " .. type(handler) }
  end
  local host, port = M.parse_listen(opts.listen or M.DEFAULT_LISTEN)
  if not host then
    errors.raise { kind = "argument", message = ("http.serve: listen %q is not HOST:PORT"):format(tostring(opts.listen)) }
  end
  local copts = { host = host, port = port, token = opts.token }
  for _, k in ipairs(LIMITS) do copts[k] = opts[k] end
  local srv = setmetatable({ handler = handler, routes = routes, counts = new_stats(), cancelled = 0 }, Server)
  srv.core = core.listen(copts, function(h, req) return dispatch(srv, h, req) end)
  srv.port = srv.core:port()
  srv.url = ("http://%s:%d"):format(host:find(":", 1, true) and "[" .. host .. "]" or host, srv.port)
  -- the server's own task: it keeps the process alive while the server listens, and a
  -- cancellation (^C in a script) stops the server with it
  srv.task = task.spawn(function() srv.core:wait() end)
  return srv
end

return M
