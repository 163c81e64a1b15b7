-- Work over whole executions that several recipes share: finding every file a result points
-- to, and downloading them all.
local task = require "autolua.task"
local sys = require "autolua.sys"
local errors = require "autolua.error"
local progress = require "autolua.progress"
local dexi = require "dexi"
local json = require "autolua.json"
local manifest = require "dexi.manifest"
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

--[[ Downloads every file of 'execution' into 'dir'. Each id gets a name of its own
(dexi/manifest.lua): a file already there that did not come from that id is never overwritten,
and a file this directory's record says came from that id, whole, is skipped. One failure does
not stop the others. Returns {files =, downloaded =, skipped =, failed =, bytes =, errors = {...}}. ]]
function M.download_all(client, execution, dir, concurrency)
  local ok, why = sys.mkdir(dir)
  if not ok then errors.raise { kind = "argument", message = "cannot create " .. dir .. ": " .. why } end
  local files = M.pointers(client, execution)
  local record = manifest.open(dir)
  local total = 0
  for _, fp in ipairs(files) do
    total = total + fp.size
    fp.name = record:claim(fp.id, file_name(fp.id, fp.mime))   -- in result order: stable
  end
  local bar = progress.new { label = "downloading", total = total, unit = "bytes", extra_unit = "files" }
  local s = { files = #files, downloaded = 0, skipped = 0, failed = 0, bytes = 0, errors = json.array() }
  record:begin()
  local done, err = pcall(task.each, files, function(fp)
    if record:has(fp.id, fp.size) then
      s.skipped = s.skipped + 1
    else
      -- into the directory: the download takes the name claimed above and records it
      local got, res = pcall(client.download, client, fp.value, record.dir, { execution = execution })
      if got then
        s.downloaded, s.bytes = s.downloaded + 1, s.bytes + res.bytes
      elseif errors.is(res, "cancelled") then
        error(res, 0)          -- the job was interrupted: not one failure per queued file
      else
        s.failed = s.failed + 1
        s.errors[#s.errors + 1] = { id = fp.id, error = tostring(res) }
        io.stderr:write("autolua: ", fp.id, ": ", tostring(res), "\n")
      end
    end
    bar:add(fp.size, 1)
  end, { concurrency = concurrency or 8 })
  record:finish()        -- also when cancelled: what landed stays known to the next run
  if not done then error(err, 0) end
  bar:finish()
  return s
end

return M
