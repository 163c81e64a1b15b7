-- Files written whole or not at all: written to a temporary name beside the target and
-- renamed into place only when complete; on failure the temporary file is removed.
local errors = require "autolua.error"

local M = {}

-- atomic.write(path, function(f) ... end): 'f' is an open file; any error leaves nothing.
function M.write(path, fill)
  local tmp = ("%s.part-%d%04d"):format(path, os.time(), math.random(0, 9999))
  local f, why = io.open(tmp, "wb")
  if not f then
    errors.raise { kind = "argument", message = ("cannot write %s: %s"):format(path, why) }
  end
  local ok, err = pcall(fill, f)
  local closed, cerr = f:close()
  if ok and not closed then ok, err = false, cerr end
  if ok then
    local renamed, rerr = os.rename(tmp, path)
    if renamed then return true end
    err = rerr
  end
  os.remove(tmp)
  error(err, 0)
end

return M
