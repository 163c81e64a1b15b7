-- The API reference, topic by topic, as blocks that autolua/apidoc.lua renders as text
-- (`autolua help TOPIC`, help()), as roff (the autolua-api(3) man page) and as the README's
-- API tables. The dexi and dx tables are built from their declarations (dexi/declarations.lua,
-- dx/methods.lua), so none of the three can drift from the code.
--   {"p", text}   a paragraph      {"t", {head...}, {{cell...}, ...}}   a table
--   {"h", text}   a sub-heading    {"pre", text}                          code
local M = {}

local function sorted_keys(t, filter)
  local keys = {}
  for k, v in pairs(t) do if not filter or filter(k, v) then keys[#keys + 1] = k end end
  table.sort(keys)
  return keys
end

local function options_text(spec)
  if not spec then return "" end
  local out = {}
  for _, a in ipairs(require("autolua.decl").parse(spec)) do out[#out + 1] = a.name end
  return table.concat(out, ", ")
end

-- The Dexi functions, one row each, from their declarations.
function M.dexi_table()
  local D = require "dexi.declarations"
  local GROUP = { robots = 1, runs = 2, executions = 3, datasets = 4, files = 5, client = 6 }
  local names = sorted_keys(D)
  table.sort(names, function(a, b)
    local ga, gb = GROUP[a:match("^%a+")], GROUP[b:match("^%a+")]
    if ga ~= gb then return ga < gb end
    return a < b
  end)
  local rows = {}
  for _, name in ipairs(names) do
    local d = D[name]
    local call = (name:match("^client:") and name or "client." .. name) .. "(" .. d.args:gsub(" ", ", ") .. ")"
    rows[#rows + 1] = { call, d[1] .. " " .. d[2], options_text(d.options), d.doc }
  end
  return { "t", { "function", "request", "options (opts)", "does" }, rows }
end

local function args_text(spec, required, one_of)
  local out = {}
  local either = {}
  for n in (one_of or ""):gmatch("%S+") do either[n] = true end
  local decl = require "autolua.decl"
  for _, a in ipairs(decl.parse(spec)) do
    if a.required == required and not either[a.name] then
      out[#out + 1] = a.name .. (a.type ~= "str" and " (" .. decl.type_text(a) .. ")" or "")
    end
  end
  if required and one_of then out[#out + 1] = "one of " .. one_of:gsub(" ", " or ") end
  return table.concat(out, ", ")
end

-- The DX methods, one row each, from dx/methods.lua.
function M.dx_methods_table()
  local METHODS = require "dx.methods"
  local rows = {}
  for _, name in ipairs(sorted_keys(METHODS)) do
    local m = METHODS[name]
    rows[#rows + 1] = { name .. (m.host == "datacloud" and " (Data Cloud)" or ""), m[1],
                        args_text(m[2], true, m.one_of), args_text(m[2], false, m.one_of),
                        require("dx.args").scope_text(m[3]) }
  end
  return { "t", { "method", "verb", "required", "optional", "scope" }, rows }
end

-- The DX method families and their methods, for the README.
function M.dx_families_table()
  local METHODS = require "dx.methods"
  local fams, order = {}, {}
  for _, name in ipairs(sorted_keys(METHODS)) do
    local fam, method = name:match("^(.*)%.([^.]+)$")
    if not fams[fam] then fams[fam] = {}; order[#order + 1] = fam end
    table.insert(fams[fam], method .. " (" .. METHODS[name][1] .. ")")
  end
  local rows = {}
  for _, fam in ipairs(order) do
    local dc = METHODS[fam .. "." .. fams[fam][1]:match("^%S+")].host == "datacloud"
    rows[#rows + 1] = { fam, table.concat(fams[fam], ", ") .. (dc and " (Data Cloud API: DX_DATACLOUD_URL)" or "") }
  end
  return { "t", { "family", "methods" }, rows }
end

M.dx_functions = { "t", { "function", "does" }, {
  { 'c:call("family.method", args [, {unchecked = true}]) -> response', "any declared method (ok == true checked); unchecked sends argument names the declarations do not know" },
  { "c.family.method{...}", "the same by field path: c.teams.list{}, c.studio.queryRuns.execute{}" },
  { "c:pages(method, args), c:each(method, args, field)", "every response / every item of field, following response_metadata.next_cursor (or next_page)" },
  { "c:query(sql, {timeout, interval, variables}) -> {columns, rows}", "a Data Studio run: execute, poll, results" },
  { "c:wait_workflow_run(id, {timeout, interval, on_status}) -> run", "polls workflowRuns.info until a final status" },
  { "c:download(method, args, dest) -> {path, bytes, mime}", "a method that answers with a file (303 to a presigned URL, fetched without the token)" },
  { "c:preview(method, args [, {unchecked = true}]) -> {method, url, headers, body}", "the request c:call would send, checked, with the token masked; nothing is sent" },
  { "dx.methods()", "every method name, sorted" },
} }

M.topics = {}

M.topics.dexi = { summary = "the Dexi.io client: robots, runs, executions, datasets, files", blocks = function()
  return {
    { "p", 'local client = require("dexi").client() reads DEXI_ACCOUNT, DEXI_API_KEY and DEXI_BASE_URL '
           .. "(or dexi.client{account =, api_key =, base_url =, limits =, retries =, timeout =, backoff =}). "
           .. "Functions are fields of the client's groups: client.runs.list{...}, with a dot; client:download, "
           .. "client:wait_execution and client:request are methods, with a colon. Option tables are checked by "
           .. "name before anything is sent: an unknown name is kind = \"argument\" naming the closest one." },
    M.dexi_table(),
    { "p", "dexi.file_pointer(v) -> {mime, size, id, extra} or nil, reason; dexi.is_file_pointer(v); "
           .. "dexi.file_path(id); dexi.rows_as_records(result)." },
  }
end }

M.topics.dx = { summary = "the DX Web API client and the Data Cloud API", blocks = function()
  return {
    { "p", 'local c = require("dx").client() reads DX_TOKEN (or DX_API_TOKEN), DX_BASE_URL and, for the Data Cloud '
           .. "methods (deployments.*, incidents.*), DX_DATACLOUD_URL, the instance host https://<instance>.getdx.net "
           .. "(or dx.client{token =, base_url =, datacloud_url =, limit =, window =, retries =, timeout =, backoff =}). "
           .. "Arguments are checked against each method's declaration before anything is sent: an unknown name "
           .. "names the closest declared one, a missing required one is refused. GET methods send their arguments "
           .. "in the query string, POST methods as a JSON body. print(c.workflowRuns.trigger) or "
           .. "help(c.workflowRuns.trigger) shows a method's declaration." },
    M.dx_functions,
    { "h", "Methods" },
    M.dx_methods_table(),
  }
end }

M.topics.task = { summary = "tasks: spawn, wait, sleep, map", blocks = function()
  return {
    { "p", 'local task = require "autolua.task". Every script runs as a task on one event loop; HTTP requests '
           .. "and limiter waits suspend only the task that makes them. The process waits for every task; an "
           .. "error in a task nobody waits for is reported and makes the exit status 1." },
    { "t", { "function", "does" }, {
      { "task.spawn(fn, ...) -> t", "runs fn in a new task" },
      { "t:wait()", "its results, or raises its error" },
      { "t:cancel(), t:status()", "cancels it (kind = \"cancelled\" inside); its state" },
      { "task.sleep(s), task.now(), task.yield()", "waits s seconds; the loop's clock; lets others run" },
      { "task.all(fns)", "runs every function, returns their results in order" },
      { "task.map(items, fn, {concurrency = 16})", "fn(item, i) over items (a list or an iterator, pulled lazily); the first error cancels the rest" },
      { "task.each(items, fn, opts)", "like map, without collecting results" },
    } },
    { "p", "To keep going after an error, catch it inside fn: task.map(items, function(x) local ok, r = pcall(work, x) return ok and r or nil end)." },
  }
end }

M.topics.http = { summary = "http.request: one HTTP request, streamed or in memory", blocks = function()
  return {
    { "p", 'local http = require "autolua.http". Non-2xx statuses are returned, not raised; network failures '
           .. "raise kind = \"network\" or \"timeout\". TLS is always verified." },
    { "t", { "field", "meaning" }, {
      { "method, url, query", "the verb (GET), the URL, a table of query arguments" },
      { "headers", "a table of request headers" },
      { "body | json", "a string body, or a value sent as JSON" },
      { "timeout", "seconds for the whole request" },
      { "stall", "seconds without a byte before it fails (60 when there is no timeout)" },
      { "follow", "follow redirects (credentials never go to another origin)" },
      { "sink", "a path (written to a temporary name, renamed when complete) or function(chunk)" },
      { "expect_bytes", "with a file sink, the size the body must have" },
      { "max_body", "the most body bytes taken (64 MiB in memory unless given; false: no cap)" },
      { "replace", "false: fail rather than replace a file that appeared at the sink's path" },
      { "limiter, max_wait", "a limiter to acquire first, and how long to wait for it" },
      { "ca_file", "an extra trusted certificate" },
      { "reuse", "false: a connection of its own, closed after (a call not to be sent twice)" },
    } },
    { "p", "The answer res has status, headers (lower-case names), body, url, bytes, version, reused, elapsed, and res:json()." },
  }
end }

M.topics.limiter = { summary = "rate limiters: evenly spaced (GCRA) and sliding window", blocks = function()
  return {
    { "p", 'local limiter = require "autolua.limiter". The same key gives the same limiter in the whole process.' },
    { "t", { "function", "does" }, {
      { "limiter.rate{rate, per, burst, key}", "rate requests per 'per' seconds, evenly spaced (GCRA), bursts up to 'burst'" },
      { "limiter.window{limit, window, key}", "at most 'limit' in any 'window' seconds (sliding window)" },
      { "lim:acquire([n], {max_wait})", "waits its turn in FIFO order; past max_wait raises kind = \"rate_limited\"" },
      { "lim:try([n])", "takes n at once if it can (true), else false" },
      { "lim:pause_until(t)", "no admission before task.now() reaches t (a Retry-After)" },
      { "lim:stats()", "{acquired, waited_seconds, queued, paused_until}" },
    } },
  }
end }

M.topics.errors = { summary = "error objects: kind, code, message, status, retryable", blocks = function()
  return {
    { "p", "Every failure of http, dexi and dx raises an error object, never a bare string. tostring(err) is one "
           .. "line; secrets never appear in it. Catch it with pcall and look at err.kind." },
    { "t", { "field", "meaning" }, {
      { "kind", "http, api, network, timeout, rate_limited, decode, argument (a mistake in the call, raised before anything is sent), cancelled" },
      { "status, code", "the HTTP status; the API's error string or the network cause" },
      { "message, method, url", "what went wrong, the HTTP verb or DX method, the URL with secrets redacted" },
      { "argument, closest", "for kind = \"argument\": the argument at fault and the nearest declared name" },
      { "retryable, attempts", "whether trying again could help; how many requests were sent" },
    } },
  }
end }

M.topics.recipes = { summary = "packaged jobs run from the command line", blocks = function()
  local recipe = require "autolua.recipe"
  local rows = {}
  for _, n in ipairs(recipe.names()) do
    local ok, r = pcall(recipe.load, n)
    rows[#rows + 1] = { n, ok and r and r.summary or "" }
  end
  return {
    { "p", "autolua recipe NAME [--option value]... runs a recipe; autolua recipe NAME --help shows its options. "
           .. "Your own recipes (Lua files returning a declaration) go in a directory named in AUTOLUA_RECIPES_PATH." },
    { "t", { "recipe", "does" }, rows },
  }
end }

M.order = { "dexi", "dx", "task", "http", "limiter", "errors", "recipes" }

return M
