-- `autolua sim`: the fake Dexi and DX APIs the tests run against, as an offline simulator for
-- a user's own scripts. They are Python (standard library only), installed under
-- share/autolua/fake_api beside the binary, or found in the source tree when run from the
-- build tree. The process becomes the simulator (exec), so Ctrl-C and SIGTERM reach it
-- directly and it removes what it made.
local sys = require "autolua.sys"

local M = {}

local USAGE = [[
usage: autolua sim [--port N] [--state FILE]

Starts the fake Dexi and DX APIs on 127.0.0.1, prints the shell export lines that point
autolua's clients at them (with the simulator's credentials) on standard output, and runs
until Ctrl-C or SIGTERM. Its ids are listed in the README ("Trying it offline").

  --port N      fixed ports: N misc, N+1 Dexi, N+2 DX files, N+3 DX (default: free ports)
  --state FILE  also write the base URLs as JSON to FILE (removed when the simulator stops)
  -h, --help    this text

Example:
  autolua sim >sim.env &  sleep 1;  . ./sim.env
  autolua recipe dexi-download --run 20000000-0000-4000-8000-000000000003 --out files/
]]

local function usage_error(fmt, ...)
  io.stderr:write("autolua sim: ", fmt:format(...), "\nTry 'autolua sim --help'.\n")
  os.exit(2)
end

-- server.py: installed beside the binary first, then the source tree it was built from.
function M.server_path()
  local places = {}
  local exe = sys.exe_dir()
  if exe then places[#places + 1] = exe .. "/../share/autolua/fake_api/server.py" end
  places[#places + 1] = sys.source_dir() .. "/tests/fake_api/server.py"
  for _, p in ipairs(places) do
    local st = sys.stat(p)
    if st and st.type == "file" then return p end
  end
  return nil, places
end

local function parse(args)
  local opts, i = {}, 1
  while i <= #args do
    local a = args[i]
    local key, value = a:match("^%-%-([%w-]+)=(.*)$")
    key = key or a:match("^%-%-([%w-]+)$")
    if a == "-h" or a == "--help" then
      io.stdout:write(USAGE)
      os.exit(0)
    elseif key == "port" or key == "state" then
      if value == nil then
        i = i + 1
        value = args[i]
        if value == nil then usage_error("--%s needs a value", key) end
      end
      opts[key] = value
    elseif a:sub(1, 1) == "-" then
      usage_error("unknown option '%s'", a)
    else
      usage_error("unexpected argument '%s'", a)
    end
    i = i + 1
  end
  if opts.port then
    local n = math.tointeger(tonumber(opts.port))
    if not n or n < 1 or n > 65531 then usage_error("--port expects a port number from 1 to 65531, got '%s'", opts.port) end
    opts.port = n
  end
  if opts.state == "" then usage_error("--state needs a file name") end
  return opts
end

function M.main(...)
  local opts = parse({ ... })
  local server, tried = M.server_path()
  if not server then
    io.stderr:write("autolua sim: the simulator's files are not installed (looked for ",
      table.concat(tried, " and "), ")\n")
    os.exit(1)
  end
  local argv = { "python3", "-B", server, "--no-tls", "--exports" }
  if opts.port then argv[#argv + 1] = "--port"; argv[#argv + 1] = tostring(opts.port) end
  if opts.state then argv[#argv + 1] = "--state"; argv[#argv + 1] = opts.state end
  io.stderr:write(("autolua sim: the fake Dexi and DX APIs (%s) on 127.0.0.1; Ctrl-C stops them\n")
    :format(server:match("^(.*)/server%.py$")))
  local _, why = sys.exec(argv)
  io.stderr:write("autolua sim: cannot start python3 (", tostring(why), "); the simulator needs it\n")
  os.exit(1)
end

return M
