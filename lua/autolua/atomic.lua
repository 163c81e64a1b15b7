-- Files written whole or not at all: written to a temporary file beside the target (made by
-- the same C helper as the download sink: mkstemp, so no name can be guessed or planted) and
-- renamed into place, with the user's umask, only when complete. On failure, cancellation or
-- os.exit the temporary file is removed.
local errors = require "autolua.error"
local sys = require "autolua.sys"

local M = {}

-- atomic.write(path, function(f) ... end): 'f' is an open file; any error leaves nothing.
function M.write(path, fill)
  local f, why = sys.tmpfile(path)
  if not f then
    errors.raise { kind = "argument", message = ("cannot write %s: %s"):format(path, why) }
  end
  local ok, err = pcall(fill, f)
  if not ok then
    f:close()                  -- removes the temporary file
    error(err, 0)
  end
  local done, cerr = sys.commit(f, path)
  if not done then errors.raise { kind = "http", code = "io", message = ("cannot write %s: %s"):format(path, cerr) } end
  return true
end

return M
