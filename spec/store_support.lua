-- Real stores for the specs: a redis-server on a free loopback port (no persistence), and a
-- process that holds a SQLite file's write lock for a while.
local S = require "support"

local M = {}

local function free_port()
  local p = io.popen([[python3 -c "import socket; s = socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])"]])
  local port = p:read("l")
  p:close()
  return assert(tonumber(port), "no free port")
end

local function wait_for(cond, secs)
  local t0 = os.time()
  while not cond() do
    if os.time() - t0 > secs then return false end
    os.execute("sleep 0.05")
  end
  return true
end

local function answers(r)
  local p = io.popen(M.redis_cli(r) .. " ping 2>/dev/null")
  local line = p:read("l")
  p:close()
  return line == "PONG"
end

function M.redis_start_cmd(r)
  return ("redis-server %s--port %d --bind 127.0.0.1 --save '' --appendonly no --daemonize yes --pidfile %s/redis.pid --logfile %s/redis.log --dir %s %s"):format(
    r.conf and S.quote(r.conf) .. " " or "", r.port, r.dir, r.dir, r.dir, r.args or "")
end

-- 'password': the server's requirepass (redis-cli then passes it too).
function M.redis_cli(r)
  return ("redis-cli -p %d%s"):format(r.port, r.password and " --no-auth-warning -a " .. S.quote(r.password) or "")
end

function M.redis_stop_cmd(r)
  return M.redis_cli(r) .. " shutdown nosave >/dev/null 2>&1"
end

-- Starts a redis-server; returns {port =, url =, dir =}. opts: args = more command-line
-- options, conf = lines of a config file (what only a file can say: rename-command),
-- password = a requirepass.
function M.redis_start(opts)
  opts = opts or {}
  local r = { port = free_port(), dir = S.tmpdir(), args = opts.args, password = opts.password }
  if opts.conf then
    r.conf = r.dir .. "/redis.conf"
    S.spit(r.conf, opts.conf)
  end
  if r.password then r.args = (r.args or "") .. " --requirepass " .. S.quote(r.password) end
  r.url = ("redis://127.0.0.1:%d"):format(r.port)
  os.execute(M.redis_start_cmd(r))
  assert(wait_for(function() return answers(r) end, 10), "redis-server did not start")
  return r
end

function M.redis_stop(r)
  os.execute(M.redis_stop_cmd(r))
  wait_for(function() return not answers(r) end, 10)
  os.execute("rm -rf " .. S.quote(r.dir))
end

-- The store a spec runs against, by backend name: "sqlite" (a new file) or "redis" (a new
-- redis-server). Returns its URL and the server to hand to backend_stop (nil for SQLite).
function M.backend(name)
  if name == "redis" then
    local r = M.redis_start()
    return r.url, r
  end
  return "sqlite:" .. S.tmpdir() .. "/state.db", nil
end

function M.backend_stop(server)
  if server then M.redis_stop(server) end
end

-- A python3 process holds the write lock of the SQLite file 'path' for 'secs' seconds; returns
-- once it holds it.
function M.hold_sqlite_lock(path, secs)
  local ready = path .. ".held"
  local done = path .. ".released"
  local code = ("import sqlite3, time, sys\n"
    .. "c = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
    .. "c.execute('PRAGMA journal_mode=WAL')\n"
    .. "c.execute('BEGIN EXCLUSIVE')\n"
    .. "open(sys.argv[2], 'w').close()\n"
    .. "time.sleep(float(sys.argv[3]))\n"
    .. "c.execute('COMMIT')\n"
    .. "open(sys.argv[4], 'w').close()\n")
  S.spit(path .. ".py", code)
  os.execute(("python3 %s %s %s %s %s >/dev/null 2>&1 &"):format(S.quote(path .. ".py"), S.quote(path), S.quote(ready),
                                                                  secs, S.quote(done)))
  assert(wait_for(function() local f = io.open(ready) if f then f:close() return true end end, 10), "no lock")
  return { done = done, secs = secs }
end

function M.wait(held)
  wait_for(function() local f = io.open(held.done) if f then f:close() return true end end, held.secs + 10)
end

return M
