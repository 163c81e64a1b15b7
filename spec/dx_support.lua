-- What the dx specs share: a fast client of the fake and the requests it recorded.
local dx = require "dx"
local S = require "support"

local M = { TOKEN = "dx-test-token" }

-- A fast client of the fake: tiny backoff, token and base URL from the arguments.
function M.client(o)
  o = o or {}
  o.token = o.token or M.TOKEN
  o.base_url = o.base_url or S.fake.dx
  o.backoff = o.backoff or { base = 0.01, cap = 0.05 }
  return dx.client(o)
end

-- The recorded requests to one DX method (path "/family.method"), or all of them.
function M.recorded(method, service)
  local out = {}
  for _, r in ipairs(S.requests(service or "dx")) do
    if method == nil or r.path == "/" .. method then out[#out + 1] = r end
  end
  return out
end

return M
