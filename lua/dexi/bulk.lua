-- Work over whole executions that several recipes share: finding every file a result points
-- to, and downloading them all.
local task = require "autolua.task"
local sys = require "autolua.sys"
local errors = require "autolua.error"
local progress = require "autolua.progress"
local dexi = require "dexi"
local json = require "autolua.json"
local store = require "autolua.store"
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
not stop the others. With 'job' (a name) the work is a durable job in the store: a file done
in an earlier run, into this directory or another, is skipped while it is still there with its
size; one that went missing is fetched again. Returns {files =, downloaded =, skipped =,
failed =, bytes =, errors = {...}}. ]]
local function absolute(path)
  if path:sub(1, 1) == "/" then return path end
  return (os.getenv("PWD") or ".") .. "/" .. path
end

function M.download_all(client, execution, dir, concurrency, job)
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
  local ran = {}
  local function one(fp)
    ran[fp.id] = true
    local r
    if record:has(fp.id, fp.size) then
      s.skipped = s.skipped + 1
      r = { path = absolute(record.dir .. "/" .. fp.name), size = fp.size }
    else
      -- into the directory: the download takes the name claimed above and records it
      local got, res = pcall(client.download, client, fp.value, record.dir, { execution = execution })
      if got then
        s.downloaded, s.bytes = s.downloaded + 1, s.bytes + res.bytes
        r = { path = absolute(res.path), size = fp.size }
      elseif errors.is(res, "cancelled") then
        error(res, 0)          -- the job was interrupted: not one failure per queued file
      else
        s.failed = s.failed + 1
        s.errors[#s.errors + 1] = { id = fp.id, error = tostring(res) }
        io.stderr:write("autolua: ", fp.id, ": ", tostring(res), "\n")
        r = { failed = true }
      end
    end
    bar:add(fp.size, 1)
    return r
  end
  local opts = { concurrency = concurrency or 8 }
  if job then opts.job, opts.key = job, function(fp) return fp.id end end
  record:begin()
  local done, results = pcall(job and task.map or task.each, files, one, opts)
  if done and job then
    -- what earlier runs did: still there, whole, or forgotten and fetched again
    local st, again = store.must(nil, "dexi-download"), {}
    for i, fp in ipairs(files) do
      local r = results[i]
      if not ran[fp.id] then
        local f = type(r) == "table" and r.path and sys.stat(r.path)
        if f and f.size == fp.size then
          s.skipped = s.skipped + 1
          bar:add(fp.size, 1)
        else
          again[#again + 1] = fp
        end
      end
      if again[#again] == fp or (type(r) == "table" and r.failed) then st:forget(job, fp.id) end
    end
    if #again > 0 then done, results = pcall(task.map, again, one, opts) end
    -- a failed file is not done: the next run tries it again
    for _, e in ipairs(s.errors) do st:forget(job, e.id) end
  end
  record:finish()        -- also when cancelled: what landed stays known to the next run
  if not done then error(results, 0) end
  bar:finish()
  return s
end

return M
