-- What Dexi file ids and pointers mean: a pointer parsed, the path an id takes in a URL, the
-- name a file gets on disk, and the id a download value names.
local core = require "dexi.core"
local http = require "autolua.http"
local errors = require "autolua.error"
local argerror = require("autolua.client").argerror

local M = {}

-- pointer(value) -> {mime =, size =, id =, extra = {...}} or nil, reason
function M.pointer(value)
  return core.parse_pointer(value)
end

function M.is_pointer(value)
  return core.parse_pointer(value) ~= nil
end

-- path(file_id): the id as the result-file endpoint wants it: everything before "accounts/"
-- dropped, then every byte outside RFC 3986's unreserved set percent-encoded.
function M.path(file_id)
  if type(file_id) ~= "string" or file_id == "" then
    errors.raise { kind = "argument", message = "dexi.file_path: expects a file id string" }
  end
  local at = file_id:find("accounts/", 1, true)
  if at then file_id = file_id:sub(at) end
  return http.escape(file_id)
end

local EXTENSIONS = {
  ["image/jpeg"] = "jpg", ["image/png"] = "png", ["image/gif"] = "gif", ["image/webp"] = "webp",
  ["image/svg+xml"] = "svg", ["application/pdf"] = "pdf", ["text/csv"] = "csv", ["text/plain"] = "txt",
  ["text/html"] = "html", ["application/json"] = "json", ["application/zip"] = "zip",
  ["application/octet-stream"] = "bin",
}

local MAX_NAME = 200

-- A file name from a file id and its MIME type: a bare id keeps its name, a path-style id
-- (accounts/.../lines/<line>/<Field>) becomes <line>_<Field>, plus the type's extension.
function M.name(id, mime)
  local segs = {}
  for s in id:gmatch("[^/]+") do segs[#segs + 1] = s end
  local name = segs[#segs] or "file"
  if #segs >= 2 and id:find("accounts/", 1, true) then name = segs[#segs - 1] .. "_" .. name end
  name = name:gsub("[^%w%._-]", "_"):gsub("^%.+", "_")
  local ext = mime and (EXTENSIONS[mime:lower()] or mime:lower():match("^[%w.+-]+/([%w]+)$"))
  if ext and not name:lower():find("%." .. ext .. "$") then name = name .. "." .. ext end
  if #name > MAX_NAME then     -- room for ~N and the temporary file's affixes within 255 bytes
    local stem, dot = name:match("^(.-)(%.[%w]+)$")
    if not stem or #dot > 16 then stem, dot = name, "" end
    name = stem:sub(1, MAX_NAME - #dot) .. dot
  end
  return name
end

-- ref(value, fname) -> id, size, mime: what a download value names: a pointer gives id, size
-- and type; anything else is an id.
function M.ref(value, fname)
  if type(value) ~= "string" or value == "" then
    argerror(fname, "expects a file pointer or a file id, got %s", type(value) == "string" and "an empty string" or type(value))
  end
  if value:sub(1, 5) == "FILE:" then
    local fp, why = M.pointer(value)
    if not fp then argerror(fname, "malformed file pointer (%s): %s", why, value) end
    return fp.id, fp.size, fp.mime
  end
  return value
end

return M
