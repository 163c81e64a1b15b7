-- Installing, progress on a terminal, and the request log.
local S = require "support"
local json = require "autolua.json"

local ENV = ("DEXI_ACCOUNT=acc-test DEXI_API_KEY=key-test DEXI_BASE_URL=%s"):format(S.fake.dexi)
local EXEC_FILES = "ae101b8f-1326-451c-ada7-3eab3c0f8a91"

describe("installing", function()
  it("puts one working binary and the man page under a prefix", function()
    local build = S.bin:match("^(.*)/[^/]+$")
    local prefix = S.tmpdir()
    local ok = os.execute(("cmake --install %s --prefix %s >/dev/null"):format(S.quote(build), S.quote(prefix)))
    assert.is_true(ok)
    assert.same({ "autolua" }, S.ls(prefix .. "/bin"))
    assert.is_true(#S.slurp(prefix .. "/share/man/man1/autolua.1") > 0)
    -- the installed binary carries its Lua modules: no source tree needed
    local p = io.popen(("cd / && %s/bin/autolua -e 'return require(\"dx\").methods()[1]' 2>&1"):format(S.quote(prefix)))
    local out = p:read("a")
    p:close()
    assert.equal('auth.info\n', out)
    os.execute("rm -rf " .. S.quote(prefix))
  end)

  it("--help covers every command", function()
    local r = S.run { "--help" }
    for _, cmd in ipairs { "run FILE", "eval CODE", "repl", "recipe list", "recipe NAME", "--version" } do
      assert.is_truthy(r.out:find(cmd, 1, true), cmd)
    end
  end)
end)

describe("progress", function()
  before_each(function() S.reset("dexi") end)

  it("is drawn on a terminal", function()
    local dir = S.tmpdir()
    S.spit(dir .. "/steps.json", json.encode { { expect = "downloaded" } })
    local cmd = ("cd %s && env %s python3 %s/spec/pty_drive.py steps.json -- %s recipe dexi-download --execution %s --out files")
      :format(S.quote(dir), ENV, S.quote(S.source), S.quote(S.bin), EXEC_FILES)
    local p = io.popen(cmd)
    local report = json.decode(p:read("a"))
    p:close()
    os.execute("rm -rf " .. S.quote(dir))
    assert.is_true(report.ok, report.transcript)
    assert.matches("downloading %[#+%] [%d.]+ KiB/[%d.]+ KiB", report.transcript)
  end)

  it("is silent when stderr is not a terminal", function()
    local dir = S.tmpdir()
    local r = S.run({ "recipe", "dexi-download", "--execution", EXEC_FILES, "--out", dir }, { env = ENV })
    assert.equal(0, r.code)
    assert.matches("^execution [^\n\r]+\n$", r.err)      -- the summary line alone, no bar
    os.execute("rm -rf " .. S.quote(dir))
  end)
end)

describe("the request log", function()
  before_each(function() S.reset("dexi") end)

  it("AUTOLUA_LOG=debug logs each request, without secrets", function()
    local r = S.run({ "-e", "require('dexi').client().runs.list{limit = 2}" }, { env = ENV .. " AUTOLUA_LOG=debug" })
    assert.equal(0, r.code)
    assert.matches("autolua debug: request .*method=GET .*status=200 .*url=\"?http://127%.0%.0%.1:%d+/runs%?limit=2", r.err)
    assert.matches("wait_ms=%d+", r.err)
    assert.not_matches("key%-test", r.err)
    assert.not_matches(require("autolua.digest").md5("acc-testkey-test"), r.err)
  end)

  it("logs retries at info and shows nothing at the default level", function()
    S.config("dexi", { fault = { kind = "500", count = 1 } })
    local r = S.run({ "-e", "require('dexi').client{backoff = {base = 0.01}}.runs.list{}" }, { env = ENV .. " AUTOLUA_LOG=info" })
    assert.equal(0, r.code)
    assert.matches("autolua info: retrying .*why=\"HTTP 500\"", r.err)
    S.config("dexi", { fault = { kind = "500", count = 1 } })
    r = S.run({ "-e", "require('dexi').client{backoff = {base = 0.01}}.runs.list{}" }, { env = ENV })
    assert.equal("", r.err)
  end)

  it("AUTOLUA_LOG_FORMAT=json writes one JSON object per line", function()
    local r = S.run({ "-e", "local c = require('dexi').client(); c.runs.list{}; c.runs.list{}" },
                    { env = ENV .. " AUTOLUA_LOG=debug AUTOLUA_LOG_FORMAT=json" })
    local lines = 0
    for line in r.err:gmatch("[^\n]+") do
      local obj = json.decode(line)
      assert.equal("debug", obj.level)
      assert.equal("request", obj.msg)
      assert.equal(200, obj.status)
      lines = lines + 1
    end
    assert.equal(2, lines)
  end)
end)
