-- The body of scripts/gen-api-docs: renders the reference with autolua/apidoc.lua and writes
-- (or with --check, compares) docs/autolua-api.3 and README.md's generated blocks.
local apidoc = require "autolua.apidoc"
local atomic = require "autolua.atomic"

local check = arg[1] == "--check"
if arg[1] and not check then
  io.stderr:write("usage: scripts/gen-api-docs [--check]\n")
  os.exit(2)
end

local function slurp(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("a")
  f:close()
  return s
end

local version = slurp("CMakeLists.txt"):match("project%(autolua VERSION ([%d.]+)")
local wanted = {
  ["docs/autolua-api.3"] = apidoc.man(version),
  ["README.md"] = apidoc.readme(slurp("README.md")),
}

local stale = {}
for _, path in ipairs { "docs/autolua-api.3", "README.md" } do
  local f = io.open(path, "rb")
  local have = f and f:read("a")
  if f then f:close() end
  if have ~= wanted[path] then
    stale[#stale + 1] = path
    if not check then atomic.write(path, function(out) out:write(wanted[path]) end) end
  end
end
if check and #stale > 0 then
  io.stderr:write("out of date with the declarations: ", table.concat(stale, ", "),
                  " (run scripts/gen-api-docs)\n")
  os.exit(1)
end
if not check then
  io.stdout:write(#stale > 0 and ("updated " .. table.concat(stale, ", ") .. "\n") or "up to date\n")
end
