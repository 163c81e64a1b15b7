-- Which file in a download directory came from which Dexi file id. Distinct ids can make the
-- same name (a path-style id and a bare id, "L 1" and "L_1", an odd MIME type that adds no
-- extension), so names are claimed here: a name taken by another id of this job, by another
-- id in the record, or by a file that the record does not give to this id, is never used;
-- the id gets NAME~2.EXT (then ~3...) instead, and '~' never appears in a name made from an
-- id, so these cannot meet a plain name. The record, DIR/.autolua-downloads.json, lets a
-- re-run skip what it downloaded before; it is rewritten whole (atomic.write) as files land.
local json = require "autolua.json"
local sys = require "autolua.sys"
local task = require "autolua.task"
local errors = require "autolua.error"
local atomic = require "autolua.atomic"

local M = {}
M.FILE = ".autolua-downloads.json"
local SAVE_EVERY = 1          -- seconds between rewrites of the record while files land

local Manifest = {}
Manifest.__index = Manifest

-- Every download into one directory in this process shares one record: concurrent downloads
-- then never claim the same name, and never write the record over each other.
local open = {}

local function load(dir)
  local path = (dir == "/" and "" or dir) .. "/" .. M.FILE
  local f = io.open(path, "rb")
  if not f then return {} end
  local text = f:read("a")
  f:close()
  local doc, why = json.decode(text)
  if type(doc) ~= "table" or type(doc.files) ~= "table" then
    errors.raise { kind = "decode", code = "manifest",
                   message = ("%s is not a download record autolua can read (%s); move it away to start afresh")
                     :format(path, why or "no 'files' table") }
  end
  return doc.files
end

-- manifest.open(dir) -> the record of 'dir' (a directory that exists).
function M.open(dir)
  dir = dir:gsub("/+$", "")
  if dir == "" then dir = "/" end
  local m = open[dir]
  if m then return m end
  m = setmetatable({ dir = dir, names = {}, ids = {}, claimed = {}, dirty = false, saved_at = -math.huge, jobs = 0 },
                     Manifest)
  for name, rec in pairs(load(dir)) do
    if type(name) == "string" and type(rec) == "table" and type(rec.id) == "string" then
      m.names[name] = { id = rec.id, size = math.tointeger(rec.size) }
      m.ids[rec.id] = name
      m.claimed[name:lower()] = rec.id
    end
  end
  open[dir] = m
  return m
end

-- m:path(name) -> the file's path in the directory.
function Manifest:path(name)
  return (self.dir == "/" and "" or self.dir) .. "/" .. name
end

local function split(name)
  local stem, ext = name:match("^(.+)(%.[^.]+)$")
  if stem then return stem, ext end
  return name, ""
end

-- Whether 'name' may hold id's file: not claimed by another id (case folded, for file systems
-- that fold case), and not a file on disk unless the record says it is this id's.
function Manifest:free(name, id)
  local owner = self.claimed[name:lower()]
  if owner ~= nil then return owner == id end
  return sys.stat(self:path(name)) == nil
end

-- m:claim(id, base) -> the name id's file has in this directory: the one recorded for it, or
-- 'base' (dexi.files.name), or base with ~2, ~3... before its extension.
function Manifest:claim(id, base)
  local name = self.ids[id]
  if name then return name end
  local stem, ext = split(base)
  name = base
  local n = 1
  while not self:free(name, id) do
    n = n + 1
    name = ("%s~%d%s"):format(stem, n, ext)
  end
  self.ids[id] = name
  self.claimed[name:lower()] = id
  return name
end

-- m:has(id, size) -> name when id's file was downloaded before and is there whole.
function Manifest:has(id, size)
  local name = self.ids[id]
  local rec = name and self.names[name]
  if not rec or rec.id ~= id then return nil end
  local st = sys.stat(self:path(name))
  if st and st.type == "file" and (size == nil or st.size == size) and (rec.size == nil or st.size == rec.size) then
    return name
  end
  return nil
end

-- m:owns(id, name) -> whether the record gives the file 'name' to id (it may be replaced).
function Manifest:owns(id, name)
  local rec = self.names[name]
  return rec ~= nil and rec.id == id
end

-- m:record(id, name, size): id's file is now in place under 'name'. The record is rewritten at
-- most every SAVE_EVERY seconds (each rewrite costs the whole record): during a job
-- (m:begin() ... m:finish()) the job's end writes the rest; for single downloads a task writes
-- it SAVE_EVERY after the last rewrite, or at once when it is cancelled (^C, SIGTERM).
function Manifest:record(id, name, size)
  self.names[name] = { id = id, size = size }
  self.dirty = true
  local wait = self.saved_at + SAVE_EVERY - task.now()
  if wait <= 0 then return self:save() end
  if self.jobs == 0 and not self.pending then
    self.pending = task.spawn(function()
      pcall(task.sleep, wait)
      self.pending = nil
      self:save()
    end)
  end
end

function Manifest:begin() self.jobs = self.jobs + 1 end

-- Ends a job: what it recorded is written (also when it failed or was cancelled).
function Manifest:finish()
  self.jobs = self.jobs - 1
  self:save()
end

function Manifest:save()
  if not self.dirty then return end
  if not sys.stat(self.dir) then self.dirty = false; return end   -- gone, with its files
  local files = {}
  for name, rec in pairs(self.names) do files[name] = { id = rec.id, size = rec.size } end
  local text = json.encode { version = 1, files = files }
  atomic.write(self:path(M.FILE), function(f) f:write(text, "\n") end)
  self.dirty = false
  self.saved_at = task.now()
end

return M
