-- --dry-run for recipes and scripts: the requests a job would send, caught before they leave
-- (at the request pipeline both API clients share), described with their secrets masked.
local json = require "autolua.json"
local http = require "autolua.http"
local pipeline = require "autolua.client"

local M = {}

local SECRET_HEADER = { authorization = true, ["proxy-authorization"] = true, cookie = true,
                        ["x-dexiio-access"] = true, ["x-api-key"] = true }

local function masked(name, value)
  if not SECRET_HEADER[name:lower()] then return tostring(value) end
  local scheme = tostring(value):match("^(%a+) ")
  return scheme and (scheme .. " ***") or "***"
end

-- One request as the client would send it: {method, url, headers, body}, secrets masked.
local function described(req)
  local url = req.url
  local keys = {}
  for k, v in pairs(req.query or {}) do if v ~= nil then keys[#keys + 1] = k end end
  table.sort(keys)
  for i, k in ipairs(keys) do
    url = url .. (i == 1 and (url:find("?", 1, true) and "&" or "?") or "&")
      .. http.escape(k) .. "=" .. http.escape(tostring(req.query[k]))
  end
  local headers, names = {}, {}
  for k in pairs(req.headers or {}) do names[#names + 1] = k end
  table.sort(names)
  for _, k in ipairs(names) do headers[#headers + 1] = k .. ": " .. masked(k, req.headers[k]) end
  if req.json ~= nil then headers[#headers + 1] = "Content-Type: application/json" end
  local body = req.json ~= nil and json.encode(req.json) or req.body
  return { method = req.method or "GET", url = http.redact(url), headers = json.array(headers), body = body }
end

local STOP = setmetatable({}, { __tostring = function() return "dry run: stopped before the first request" end })

--[[ dryrun.run(fn, ...) -> requests
Runs fn(...) with every request caught before it leaves: the first one is described (secrets
masked) and fn is stopped there, since what follows would depend on its answer. Nothing is
sent. Returns the list of descriptions ({method, url, headers, body}). ]]
function M.run(fn, ...)
  local send = pipeline.send
  local shown = json.array()
  pipeline.send = function(req)
    shown[#shown + 1] = described(req)
    error(STOP, 0)
  end
  local ok, err = pcall(fn, ...)
  pipeline.send = send
  if not ok and err ~= STOP then error(err, 0) end
  return shown
end

-- The summary of a dry run; the requests go to stdout as text, or in the --json summary.
function M.summary(opts, requests, after)
  if not opts.json then
    for _, r in ipairs(requests) do
      io.stdout:write(r.method, " ", r.url, "\n")
      for _, h in ipairs(r.headers) do io.stdout:write("  ", h, "\n") end
      if r.body then io.stdout:write("  ", r.body, "\n") end
    end
    if after then io.stdout:write("then: ", after, "\n") end
  end
  return { dry_run = true, requests = requests, after = after,
           line = ("dry run: %d request%s shown, none sent"):format(#requests, #requests == 1 and "" or "s") }
end

return M
