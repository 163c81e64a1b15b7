-- autolua.store: which store a client, limiter or job uses (its `store =` option, then
-- AUTOLUA_STORE, then the SQLite default) and opening it once per URL per process.
local core = require "autolua.store.core"
local errors = require "autolua.error"
local secret = require "autolua.secret"

local M = {}

-- The URL a `store =` option names: the option, AUTOLUA_STORE, or "" for the default.
function M.url(option, fname)
  if option ~= nil and type(option) ~= "string" then
    errors.raise { kind = "argument", message = ("%s: 'store' must be a string (memory, sqlite:PATH or redis://...), got %s"):format(
      fname or "store", type(option)) }
  end
  local url = option or os.getenv("AUTOLUA_STORE") or ""
  if url == "" then return core.default_url() or "" end
  -- a redis://:PASSWORD@... URL is shown in warnings and descriptions: its password never is
  secret.add_url(url)
  return url
end

function M.is_memory(url)
  return url == "memory"
end

-- store.open([url]) -> store | nil, err (kind = "store"): the one store of this process for it.
function M.open(url)
  return core.open(M.url(url, "store.open"))
end

-- store.must(url, fname) -> store, or raises its kind = "store" error (for jobs).
function M.must(url, fname)
  local s, err = core.open(M.url(url, fname))
  if not s then
    err.message = ("%s: cannot open the store: %s"):format(fname, err.message)
    error(err, 0)
  end
  return s
end

return M
