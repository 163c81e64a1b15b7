-- Helpers for the serve specs: a child `autolua serve`, and shell commands (curl, python3) run
-- in the background so the loop, and the in-process servers on it, keep running meanwhile.
local task = require "autolua.task"
local S = require "support"

local q = S.quote
local M = {}

local Child = {}
Child.__index = Child

-- Starts `autolua serve FILE` with the script 'code' (or {file = PATH}) and 'args' (a list),
-- 'env' ("K=V ..."); waits for "listening on". With {script = true} as 'code', it runs
-- `autolua FILE` instead, a script that prints that line itself.
function M.serve_child(code, args, env)
  local dir = S.tmpdir()
  local file = type(code) == "table" and code.file or dir .. "/app.lua"
  if type(code) == "string" then S.spit(file, code) end
  local parts = {}
  for i, a in ipairs(args or {}) do parts[i] = q(a) end
  if type(code) == "table" and code.script then S.spit(file, code.script) end
  local how = type(code) == "table" and code.script and "%s %s %s %s" or "%s %s serve %s --listen 127.0.0.1:0 %s"
  local cmd = ("( " .. how .. " >%s/out 2>%s/err </dev/null & echo $! >%s/pid; wait $!; echo $? >%s/rc ) >/dev/null 2>&1 &")
    :format(env or "", q(S.bin), q(file), table.concat(parts, " "), dir, dir, dir, dir)
  os.execute(cmd)
  local c = setmetatable({ dir = dir }, Child)
  for _ = 1, 200 do
    local f = io.open(dir .. "/err")
    local err = f and f:read("a") or ""
    if f then f:close() end
    local port = err:match("listening on http://127%.0%.0%.1:(%d+)")
    if port then
      c.port = tonumber(port)
      c.url = "http://127.0.0.1:" .. port
      c.pid = S.slurp(dir .. "/pid"):match("%d+")
      return c
    end
    task.sleep(0.05)
  end
  error("autolua serve did not start: " .. S.slurp(dir .. "/err"))
end

function Child:signal(sig) os.execute(("kill -%s %s"):format(sig, self.pid)) end

-- Waits for the child to exit; returns its exit status.
function Child:exit_code(timeout)
  local deadline = task.now() + (timeout or 10)
  while task.now() < deadline do
    local f = io.open(self.dir .. "/rc")
    local rc = f and f:read("n")
    if f then f:close() end
    if rc then self.exited = true; return rc end
    task.sleep(0.05)
  end
  self:signal("KILL")
  error("autolua serve did not exit; stderr: " .. S.slurp(self.dir .. "/err"))
end

function Child:stop()
  if not self.exited then
    local f = io.open(self.dir .. "/rc")
    if f then
      f:close()
      self.exited = true
    else
      self:signal("TERM")
      self:exit_code()
    end
  end
  self.err = self.err or S.slurp(self.dir .. "/err")
  os.execute("rm -rf " .. q(self.dir))
end

-- Kills the child if it still runs (never signalling a pid that may be another process's by
-- now), and removes its directory.
function Child:cleanup()
  if not self.exited then
    local f = io.open(self.dir .. "/rc")
    if f then f:close() elseif self.pid then self:signal("KILL") end
    self.exited = true
  end
  os.execute("rm -rf " .. q(self.dir))
end

function Child:stderr() return self.err or S.slurp(self.dir .. "/err") end

-- Runs a shell command (curl, python3) in the background so the loop keeps running; returns
-- a task whose result is the command's stdout.
function M.shell(cmd)
  return task.spawn(function()
    local dir = S.tmpdir()
    os.execute(("( %s >%s/out 2>&1; echo $? >%s/rc ) &"):format(cmd, dir, dir))
    local deadline = task.now() + 30
    while not io.open(dir .. "/rc") do
      assert(task.now() < deadline, "command did not finish: " .. cmd:sub(1, 200))
      task.sleep(0.02)
    end
    local out = S.slurp(dir .. "/out")
    os.execute("rm -rf " .. q(dir))
    return out
  end)
end

function M.curl(args) return M.shell("curl -s -S " .. args):wait() end


return M
