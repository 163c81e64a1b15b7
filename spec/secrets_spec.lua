-- Secrets a client knows (key, access hash, token, a password in its base URL) never show:
-- not in what the REPL or eval prints, not in an error that echoes them, not in
-- tostring(client); and the REPL history, which may hold them, is the user's alone.
local S = require "support"
local json = require "autolua.json"
local digest = require "autolua.digest"
local dexi = require "dexi"
local dx = require "dx"

local CTRL_D = "\4"

-- The values are typed in two pieces ('key-in' .. '-code...'), so the terminal's echo of what
-- was typed never holds them whole: any whole copy on the screen was printed by autolua.
local KEY, TOKEN, PASSWORD = "key-in-code-7741", "tok-in-code-5529", "pw-in-url-3318"
local ACCOUNT = "acc-in-code"
local ACCESS = digest.md5(ACCOUNT .. KEY)
local function split(s) return ("%q .. %q"):format(s:sub(1, 6), s:sub(7)) end

local function session(steps)
  local dir = S.tmpdir()
  S.spit(dir .. "/steps.json", json.encode(steps))
  local cmd = ("cd %s && umask 022 && env -u DEXI_API_KEY -u DX_TOKEN -u DX_API_TOKEN -u XDG_STATE_HOME HOME=%s python3 %s/spec/pty_drive.py steps.json -- %s repl"):format(
    S.quote(dir), S.quote(dir), S.quote(S.source), S.quote(S.bin))
  local p = io.popen(cmd)
  local report = json.decode(p:read("a"))
  p:close()
  report.dir = dir
  return report
end

local function ok(report)
  local f = type(report.failed) == "table" and report.failed or {}
  assert(report.ok, ("step %s did not show %s; the screen:\n%s"):format(f.step, f.expect, report.transcript))
end

local function assert_hidden(text)
  for _, s in ipairs { KEY, ACCESS, TOKEN, PASSWORD } do
    assert.is_nil(text:find(s, 1, true), ("%s shows in:\n%s"):format(s, text))
  end
end

local function mode_of(path)
  local p = io.popen("stat -c %a " .. S.quote(path))
  local m = p:read("l")
  p:close()
  return m
end

-- Code that makes one client of each kind from secrets given in code, not the environment.
local SETUP = ("d = require('dexi').client { account = %q, api_key = %s, base_url = 'http://u:' .. %s .. '@127.0.0.1:1/' }; "
  .. "x = require('dx').client { token = %s, base_url = 'http://127.0.0.1:1' }"):format(ACCOUNT, split(KEY), split(PASSWORD), split(TOKEN))

describe("secrets given in code", function()
  it("are masked in what the REPL prints: headers, tables, strings, URLs", function()
    local r = session {
      { expect = "> $" }, { send = SETUP .. "\r" }, { expect = "> $" },
      { send = "d:headers()\r" }, { expect = '\\["X-DexiIO-Access"\\] = \\*\\*\\*' },
      { send = "{ Authorization = 'Bearer ' .. " .. split(TOKEN) .. " }\r" }, { expect = "Authorization = \\*\\*\\*" },
      { send = "{ note = 'key ' .. " .. split(KEY) .. " }\r" }, { expect = 'note = "key \\*\\*\\*"' },
      { send = "d.base_url\r" }, { expect = '"http://u:\\*\\*\\*@127\\.0\\.0\\.1:1/"' },
      { send = "d\r" }, { expect = "dexi\\.client \\(account acc-in-code, http://\\*\\*\\*@127\\.0\\.0\\.1:1/\\)" },
      { send = "error('the key was ' .. " .. split(KEY) .. ")\r" }, { expect = "the key was \\*\\*\\*" },
      { send = CTRL_D },
    }
    ok(r)
    assert_hidden(r.transcript)
    os.execute("rm -rf " .. S.quote(r.dir))
  end)

  it("are masked in what eval prints, raw, pretty, as JSON, and in its error report", function()
    local code = "json_list = require('autolua.json').array(); " .. SETUP .. "; return d:headers()['X-DexiIO-Access'], 'Bearer ' .. " .. split(TOKEN) .. ", d:headers(), d.base_url"
    local r = S.run({ "-e", code }, { env = "env -u DEXI_API_KEY -u DX_TOKEN -u DX_API_TOKEN" })
    assert.equal(0, r.code, r.err)
    assert.matches("^%*%*%*\nBearer %*%*%*\n", r.out)
    assert_hidden(r.out)
    r = S.run({ "-e", "--json", code .. ", { Authorization = 'Bearer not-registered', list = json_list }" },
              { env = "env -u DEXI_API_KEY -u DX_TOKEN -u DX_API_TOKEN" })
    assert.equal(0, r.code, r.err)
    assert.matches('"X%-DexiIO%-Access":"%*%*%*"', r.out)
    assert.matches('{"Authorization":"%*%*%*","list":%[%]}', r.out)
    assert_hidden(r.out)
    r = S.run({ "-e", SETUP .. "; error('the token was ' .. " .. split(TOKEN) .. ")" })
    assert.equal(1, r.code)
    assert.matches("the token was %*%*%*", r.err)
    assert_hidden(r.err)
  end)

  it("from the environment are masked in a failure report even without a client", function()
    local r = S.run({ "-e", "error('the token is ' .. os.getenv('DX_TOKEN'))" }, { env = "env DX_TOKEN=" .. TOKEN })
    assert.equal(1, r.code)
    assert.matches("the token is %*%*%*", r.err)
    assert_hidden(r.err)
  end)

  it("are masked when a server echoes them in an error", function()
    local base = S.url("misc", "/echo_error")
    local d = dexi.client { account = ACCOUNT, api_key = KEY, base_url = base .. "/", retries = 0 }
    local err = S.fails(d.request, d, "GET", "executions/e1")
    assert.equal("api", err.kind)
    assert.equal(400, err.status)
    assert.matches("x%-dexiio%-access: %*%*%*", err.message)
    assert.matches("%*%*%*", tostring(err))
    assert_hidden(err.message)
    assert_hidden(tostring(err))
    local c = dx.client { token = TOKEN, base_url = base, retries = 0 }
    err = S.fails(c.call, c, "teams.list", {})
    assert.equal("api", err.kind)
    assert.matches("Bearer %*%*%*", err.message)
    assert.matches("Bearer %*%*%*", err.code)
    assert_hidden(err.message)
    assert_hidden(err.code)
    assert_hidden(tostring(err))
  end)

  it("hide a base URL's password in tostring(client)", function()
    local url = "http://user:" .. PASSWORD .. "@127.0.0.1:1/"
    local d = dexi.client { account = ACCOUNT, api_key = KEY, base_url = url }
    local c = dx.client { token = TOKEN, base_url = url }
    assert.equal("dexi.client (account acc-in-code, http://***@127.0.0.1:1/)", tostring(d))
    assert.equal("dx.client (http://***@127.0.0.1:1, 1000 requests per 60 s)", tostring(c))
  end)
end)

describe("the REPL history", function()
  it("is a file of mode 0600 in a directory of mode 0700, whatever the umask", function()
    local r = session { { expect = "> $" }, { send = "40 + 2\r" }, { expect = "42" }, { send = CTRL_D } }
    ok(r)
    local dir = r.dir .. "/.local/state/autolua"
    assert.matches("40 %+ 2", S.slurp(dir .. "/history"))
    assert.equal("600", mode_of(dir .. "/history"))
    assert.equal("700", mode_of(dir))
    os.execute("rm -rf " .. S.quote(r.dir))
  end)

  it("made readable by others before is made the user's alone", function()
    local dir = S.tmpdir()
    os.execute(("mkdir -p %s/.local/state/autolua && touch %s/.local/state/autolua/history && chmod 644 %s/.local/state/autolua/history"):format(dir, dir, dir))
    local steps = S.tmpdir()
    S.spit(steps .. "/steps.json", json.encode { { expect = "> $" }, { send = "1\r" }, { expect = "\n1\n> $" }, { send = CTRL_D } })
    local p = io.popen(("cd %s && env -u XDG_STATE_HOME HOME=%s python3 %s/spec/pty_drive.py %s/steps.json -- %s repl"):format(
      S.quote(dir), S.quote(dir), S.quote(S.source), S.quote(steps), S.quote(S.bin)))
    local report = json.decode(p:read("a"))
    p:close()
    ok(report)
    assert.equal("600", mode_of(dir .. "/.local/state/autolua/history"))
    os.execute("rm -rf " .. S.quote(dir) .. " " .. S.quote(steps))
  end)
end)
