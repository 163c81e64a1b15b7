-- The Debian package: cpack -G DEB from build/ makes autolua_<version>_<arch>.deb; its files
-- work together (the packaged binary runs a recipe against the packaged simulator), and
-- scripts/check-deb proves its Depends line names every library the binary links, opens with
-- dlopen or requires. (`scripts/package --fresh-root` also installs it into a fresh Debian
-- root with apt; too slow for the suite.)
local S = require "support"
local task = require "autolua.task"

local function sh(cmd)
  local p = io.popen(cmd .. " 2>&1")
  local out = p:read("a")
  local ok, _, code = p:close()
  return out, ok and 0 or code
end

local build = S.source .. "/build"
local dir, deb

-- A copy of the package with its control file or its files changed by 'edit' (a shell command
-- run in the unpacked tree); returns its path.
local function tampered(name, edit)
  local work = dir .. "/" .. name
  local out, code = sh(("mkdir -p %s && dpkg-deb -R %s %s && cd %s && %s && cd .. && dpkg-deb -b %s %s/autolua_0.1.0_amd64.deb >/dev/null")
    :format(S.quote(work), S.quote(deb), S.quote(work .. "/x"), S.quote(work .. "/x"), edit, S.quote(work .. "/x"), S.quote(work)))
  assert.equal(0, code, out)
  return work .. "/autolua_0.1.0_amd64.deb"
end

describe("the Debian package", function()
  setup(function()
    dir = S.tmpdir()
    local out, code = sh(("cd %s && cpack -G DEB -B %s"):format(S.quote(build), S.quote(dir)))
    assert.equal(0, code, out)
    deb = out:match("package: (%S+%.deb) generated")
    assert.truthy(deb, out)
  end)
  teardown(function() os.execute("rm -rf " .. S.quote(dir)) end)

  it("is named autolua_<version>_<arch>.deb and its Depends names every runtime library", function()
    local arch = sh("dpkg --print-architecture"):match("%S+")
    assert.equal(("%s/autolua_0.1.0_%s.deb"):format(dir, arch), deb)
    local out, code = sh(S.quote(S.source .. "/scripts/check-deb") .. " " .. S.quote(deb))
    assert.equal(0, code, out)
    for _, pkg in ipairs { "libc6", "liblua5.4-0", "libev4", "libreadline8", "libcurl4", "libssl3", "lua-cjson", "python3" } do
      assert.matches("ok " .. pkg:gsub("%p", "%%%0") .. " ", out)
    end
    assert.matches("libcurl.so.4, opened with dlopen", out, 1, true)
  end)

  it("fails the check when Depends lacks a library or the package lacks a file", function()
    local out, code = sh(S.quote(S.source .. "/scripts/check-deb") .. " " .. S.quote(tampered("nodeps",
      [[sed -i -E 's/^Depends: .*/Depends: libc6, liblua5.4-0, libreadline8, libssl3, lua-cjson/' DEBIAN/control]])))
    assert.equal(1, code, out)
    assert.matches("Depends lacks libev4, needed for libev.so.4, linked", out, 1, true)
    assert.matches("Depends lacks libcurl4, needed for libcurl.so.4, opened with dlopen", out, 1, true)
    assert.matches("Depends lacks python3, needed for autolua sim", out, 1, true)
    out, code = sh(S.quote(S.source .. "/scripts/check-deb") .. " " .. S.quote(tampered("nofile",
      "rm usr/share/zsh/vendor-completions/_autolua")))
    assert.equal(1, code, out)
    assert.matches("the package has no /usr/share/zsh/vendor-completions/_autolua", out, 1, true)
  end)

  it("holds the binary, man page, completion and simulator, which run together unpacked", function()
    local root = dir .. "/root"
    local out, code = sh(("dpkg-deb -x %s %s"):format(S.quote(deb), S.quote(root)))
    assert.equal(0, code, out)
    local bin = root .. "/usr/bin/autolua"
    out, code = sh(S.quote(bin) .. " --version")
    assert.equal(0, code, out)
    assert.matches("^autolua 0%.1%.0\nLua 5%.4.-\nlibcurl %d", out)
    assert.truthy(io.open(root .. "/usr/share/man/man1/autolua.1"))
    os.execute(("cd %s && %s sim >sim.env 2>sim.err </dev/null & echo $! >%s/sim.pid"):format(S.quote(dir), S.quote(bin), S.quote(dir)))
    local env = ""
    for _ = 1, 100 do
      local f = io.open(dir .. "/sim.env")
      env = f and f:read("a") or ""
      if f then f:close() end
      if env:match("DX_BASE_URL=%S+\n") then break end
      task.sleep(0.1)
    end
    local pid = S.slurp(dir .. "/sim.pid"):match("%d+")
    assert.matches("/usr/bin/../share/autolua/fake_api) on", S.slurp(dir .. "/sim.err"), 1, true)
    out, code = sh((". %s/sim.env && cd %s && %s recipe dexi-download --run 20000000-0000-4000-8000-000000000003 --out files")
      :format(S.quote(dir), S.quote(dir), S.quote(bin)))
    os.execute("kill " .. pid)
    assert.equal(0, code, out)
    assert.is_true(#S.ls(dir .. "/files") > 0)
  end)
end)
