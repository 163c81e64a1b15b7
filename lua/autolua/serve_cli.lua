-- `autolua serve FILE.lua [options]`: the command line around http.serve (autolua/serve.lua):
-- options, the script's handler, and the drain on SIGTERM or SIGINT.
local core = require "autolua.serve.core"
local serve = require "autolua.serve"
local task = require "autolua.task"

local M = {}

local HELP = [[
usage: autolua serve FILE.lua [options]

FILE.lua returns a handler function(req) -> res, or a table of routes
{["POST /path"] = fn, ["GET /other"] = fn}. Each request runs its handler as a task.

  --listen HOST:PORT     where to listen (default 127.0.0.1:8080; port 0 picks a free one)
  --token T              require "Authorization: Bearer T" on every route (401 otherwise);
                         also from AUTOLUA_SERVE_TOKEN
  --grace S              on SIGTERM or SIGINT, seconds running handlers may take to finish
                         before they are cancelled (default 10); a second signal ends at once
  --max-body BYTES       request body limit (default 1048576; 413 beyond)
  --max-header BYTES     request line and headers limit (default 16384; 431 beyond)
  --read-timeout S       time for a whole request to arrive (default 30; the connection is cut)
  --handler-timeout S    time a handler may take to answer (default 60; 504 beyond)
  --max-handlers N       handlers running at once (default 64)
  --max-queue N          requests waiting for a handler (default 256; 503 beyond)
  --queue-timeout S      time a request may wait for a handler (default 10; then 503)

Built in, unless FILE.lua defines them: GET /healthz and GET /metrics (Prometheus text).
Exit status: 0 after a clean drain, 1 when handlers or tasks had to be cancelled or the
script failed, 2 for a usage error.
]]

local FLAGS = {
  ["--listen"] = "listen", ["--token"] = "token", ["--grace"] = "grace",
  ["--max-body"] = "max_body", ["--max-header"] = "max_header", ["--read-timeout"] = "read_timeout",
  ["--handler-timeout"] = "handler_timeout", ["--max-handlers"] = "max_handlers",
  ["--max-queue"] = "max_queue", ["--queue-timeout"] = "queue_timeout",
}

local function usage_error(fmt, ...)
  io.stderr:write("autolua serve: ", fmt:format(...), "\nTry 'autolua serve --help'.\n")
  os.exit(2)
end

local function parse_args(argv)
  local o = {}
  local i = 1
  while i <= #argv do
    local a = argv[i]
    local name, value = a:match("^(%-%-[%w-]+)=(.*)$")
    name = name or a
    if a == "--help" or a == "-h" then
      io.stdout:write(HELP)
      os.exit(0)
    elseif FLAGS[name] then
      if not value then
        i = i + 1
        value = argv[i]
        if value == nil then usage_error("%s needs a value", name) end
      end
      local key = FLAGS[name]
      if key ~= "listen" and key ~= "token" then
        value = tonumber(value) or usage_error("%s needs a number, got %q", name, value)
      end
      o[key] = value
    elseif a:sub(1, 1) == "-" then
      usage_error("unknown option '%s'", a)
    elseif o.file then
      usage_error("one script only (got '%s' and '%s')", o.file, a)
    else
      o.file = a
    end
    i = i + 1
  end
  if not o.file then usage_error("needs a script file: autolua serve FILE.lua") end
  if o.listen and not serve.parse_listen(o.listen) then usage_error("--listen %q is not HOST:PORT", o.listen) end
  return o
end

-- Waits for the tasks that handlers spawned, until 'deadline'; then cancels what is left.
local function settle(deadline)
  while core.live() > 1 and task.now() < deadline do task.sleep(0.05) end
  local n = core.cancel_others()
  if n > 0 then task.sleep(0.1) end   -- let them unwind (partial files, transfers)
  return n
end

function M.main(...)
  local o = parse_args({ ... })
  local chunk, err = loadfile(o.file)
  if not chunk then
    io.stderr:write("autolua serve: ", err, "\n")
    os.exit(1)
  end
  local handler = chunk()
  o.token = o.token or os.getenv("AUTOLUA_SERVE_TOKEN")
  o.handler = handler
  if type(handler) ~= "function" and type(handler) ~= "table" then
    io.stderr:write(("autolua serve: %s must return a handler function or a table of routes (it returned %s)\n")
                    :format(o.file, type(handler)))
    os.exit(1)
  end
  local ok, srv = pcall(serve.serve, o)
  if not ok then   -- a busy port, a bad address: one line, no traceback
    io.stderr:write("autolua serve: ", tostring(srv), "\n")
    os.exit(1)
  end
  io.stderr:write(("autolua serve: listening on %s%s\n"):format(srv.url, o.token and " (token required)" or ""))
  io.stderr:flush()
  local sig = core.wait_signal()
  local grace = o.grace or serve.DEFAULT_GRACE
  io.stderr:write(("autolua serve: %s: draining (grace %g s)\n"):format(sig, grace))
  local deadline = task.now() + grace
  srv:close(grace)
  local others = settle(deadline)
  local cancelled = srv.cancelled + others
  core.release_signals()
  if cancelled > 0 then
    io.stderr:write(("autolua serve: cancelled %d handler(s) or task(s) still running after the grace period\n"):format(cancelled))
    os.exit(1)
  end
  io.stderr:write("autolua serve: stopped\n")
end

return M
