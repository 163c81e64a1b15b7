-- Work over whole executions that several recipes share: finding every file a result points
-- to, and downloading them all.
local task = require "autolua.task"
local sys = require "autolua.sys"
local errors = require "autolua.error"
local progress = require "autolua.progress"
local dexi = require "dexi"
local json = require "autolua.json"
local file_name = require("dexi.files").name

local M = {}

-- The distinct file pointers in every page of an execution's result.
function M.pointers(client, execution)
  local list, seen = {}, {}
  for row in client.executions.each_row(execution) do
    for _, cell in ipairs(row) do
      local fp = dexi.file_pointer(cell)
      if fp and not seen[fp.id] then
        seen[fp.id] = true
        fp.value = cell
        list[#list + 1] = fp
      end
    end
  end
  return list
end

--[[ Downloads every file of 'execution' into 'dir'; files already there with the right size are
skipped; one failure does not stop the others. Returns {files =, downloaded =, skipped =,
failed =, bytes =, errors = {...}}. ]]
function M.download_all(client, execution, dir, concurrency)
  local ok, why = sys.mkdir(dir)
  if not ok then errors.raise { kind = "argument", message = "cannot create " .. dir .. ": " .. why } end
  local files = M.pointers(client, execution)
  local total = 0
  for _, fp in ipairs(files) do total = total + fp.size end
  local bar = progress.new { label = "downloading", total = total, unit = "bytes" }
  local s = { files = #files, downloaded = 0, skipped = 0, failed = 0, bytes = 0, errors = json.array() }
  task.each(files, function(fp)
    local path = dir:gsub("/+$", "") .. "/" .. file_name(fp.id, fp.mime)
    local st = sys.stat(path)
    if st and st.type == "file" and st.size == fp.size then
      s.skipped = s.skipped + 1
    else
      local done, res = pcall(client.download, client, fp.value, path, { execution = execution })
      if done then
        s.downloaded, s.bytes = s.downloaded + 1, s.bytes + res.bytes
      else
        s.failed = s.failed + 1
        s.errors[#s.errors + 1] = { id = fp.id, error = tostring(res) }
        io.stderr:write("autolua: ", fp.id, ": ", tostring(res), "\n")
      end
    end
    bar:add(fp.size)
  end, { concurrency = concurrency or 8 })
  bar:finish()
  return s
end

-- The id of the newest execution of a run.
function M.latest_execution(client, run)
  local page = client.runs.executions(run, { offset = 0, limit = 1 })
  local e = page and page.rows and page.rows[1]
  if not e then errors.raise { kind = "api", code = "not_found", message = "run " .. run .. " has no executions" } end
  return e._id
end

return M
