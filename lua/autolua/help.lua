-- help(x) and `autolua help TOPIC`: a topic of the API reference, a DX method or family (its
-- declaration), a Dexi function (its declaration), or the list of topics.
local errors = require "autolua.error"
local doc = require "autolua.doc"

local M = {}

local function dexi_text(name)
  return require("dexi.endpoints").describe(name)
end

-- text(x) -> what help(x) shows, or nil, reason
function M.text(x)
  if x == nil then return require("autolua.apidoc").topic_list() end
  if type(x) == "string" then
    local t = require("autolua.apidoc").text(x)
    if t then return t end
    local dxd = require("dx.client").describe(x)
    if not dxd:match("^dx: no method") then return dxd .. "\n" end
    local d = dexi_text((x:gsub("^client%.", "")))
    if d then return d .. "\n" end
    return nil, ("no help on '%s': the topics are dexi, dx, task, http, limiter, errors and recipes; "
                 .. "a DX method (\"workflowRuns.trigger\") or a Dexi function (\"runs.list\") works too"):format(x)
  end
  local d = doc.doc(x)
  if d then return d .. "\n" end
  local mt = getmetatable(x)
  if type(mt) == "table" and rawget(mt, "__name") == "dx method" then return tostring(x) .. "\n" end
  return nil, ("no help on this %s: try help(), help(\"dx\") or help(c.family.method)"):format(type(x))
end

-- show(x): prints the help on x; an unknown topic raises kind = "argument".
function M.show(x)
  local text, why = M.text(x)
  if not text then errors.raise { kind = "argument", message = "help: " .. why } end
  io.stdout:write(text, text:sub(-1) == "\n" and "" or "\n")
end

-- `autolua help [TOPIC]`
function M.main(topic, extra)
  if extra ~= nil then
    io.stderr:write("autolua help: one topic at a time\n")
    os.exit(2)
  end
  if topic == nil or topic == "--help" or topic == "-h" then
    io.stdout:write(require("autolua.apidoc").topic_list())
    return
  end
  local text, why = M.text(topic)
  if not text then
    io.stderr:write("autolua help: ", why, "\n")
    os.exit(2)
  end
  io.stdout:write(text, text:sub(-1) == "\n" and "" or "\n")
end

return M
