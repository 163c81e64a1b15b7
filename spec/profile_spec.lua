-- Profiles in $XDG_CONFIG_HOME/autolua/config.lua: chosen with --profile, AUTOLUA_PROFILE,
-- a client's profile = or the file's default; arguments beat the environment, which beats the
-- profile; secrets come from the environment or a private file.
local S = require "support"

local CLEAN = "env -u DEXI_ACCOUNT -u DEXI_API_KEY -u DEXI_BASE_URL -u DX_TOKEN -u DX_API_TOKEN -u DX_BASE_URL -u AUTOLUA_PROFILE"

-- A config directory with 'config' as config.lua and a DX token file of mode 'mode'.
local function setup(config, mode)
  local dir = S.tmpdir()
  os.execute(("mkdir -p %s/autolua"):format(S.quote(dir)))
  S.spit(dir .. "/dx.token", "dx-test-token\n")
  os.execute(("chmod %s %s/dx.token"):format(mode or "600", S.quote(dir)))
  S.spit(dir .. "/autolua/config.lua", (config:gsub("DIR", dir)))
  return dir
end

local SIM = ([[
profiles = {
  sim = {
    dexi = { account = "acc-test", api_key = { env = "SIM_DEXI_KEY" }, base_url = %q },
    dx = { token = { file = "DIR/dx.token" }, base_url = %q },
  },
  other = { dexi = { account = "someone", api_key = { env = "NOT_SET_ANYWHERE" } } },
}
]]):format(S.fake.dexi, S.fake.dx)

local BOTH = [[return require("dexi").client().runs.get("27c719bb-f28f-49f5-aedf-dba2f8e60ba3").name .. " / " .. require("dx").client().teams.list{}.teams[1].name]]

local function run(dir, args, env)
  return S.run(args, { env = ("%s XDG_CONFIG_HOME=%s SIM_DEXI_KEY=key-test %s"):format(CLEAN, S.quote(dir), env or "") })
end

describe("profiles", function()
  it("supply both clients' URLs, account and secrets, chosen by --profile, AUTOLUA_PROFILE, profile = or default", function()
    local dir = setup(SIM)
    for _, case in ipairs {
      { args = { "--profile", "sim", "-e", BOTH } },
      { args = { "--profile=sim", "-e", BOTH } },
      { args = { "-e", BOTH }, env = "AUTOLUA_PROFILE=sim" },
      { args = { "-e", (BOTH:gsub("client%(%)", "client{ profile = 'sim' }")) } },
    } do
      local r = run(dir, case.args, case.env)
      assert.equal(0, r.code, r.err)
      assert.matches("stags run / ", r.out)
    end
    S.spit(dir .. "/autolua/config.lua", (SIM:gsub("DIR", dir)) .. 'default = "sim"\n')
    local r = run(dir, { "-e", BOTH })
    assert.equal(0, r.code, r.err)
    os.execute("rm -rf " .. S.quote(dir))
  end)

  it("is chosen by a recipe's --profile", function()
    local dir = setup(SIM)
    local r = run(dir, { "recipe", "dexi-download", "--profile", "sim", "--execution", "3a8ea1f2-6781-4371-841f-66f6210a27b9",
                         "--out", dir .. "/files" })
    assert.equal(0, r.code, r.err)
    assert.matches("%-%-profile NAME", run(dir, { "recipe", "dexi-download", "--help" }).out)
    os.execute("rm -rf " .. S.quote(dir))
  end)

  it("ranks arguments over the environment over the profile", function()
    local dir = setup(SIM)
    local code = [[return require("dexi").client(...).base_url, require("dx").client(...).base_url]]
    local r = run(dir, { "--profile", "sim", "-e", code })
    assert.equal(0, r.code, r.err)
    assert.matches(S.fake.dexi, r.out, 1, true)
    r = run(dir, { "--profile", "sim", "-e", code }, "DEXI_BASE_URL=http://env.example/ DX_BASE_URL=http://env.example")
    assert.equal(0, r.code, r.err)
    assert.matches('http://env.example/\nhttp://env.example', r.out, 1, true)
    r = run(dir, { "--profile", "sim", "-e", (code:gsub("%(%.%.%.%)", "{ base_url = 'http://arg.example' }")) },
      "DEXI_BASE_URL=http://env.example/ DX_BASE_URL=http://env.example")
    assert.equal(0, r.code, r.err)
    assert.matches('http://arg.example/\nhttp://arg.example', r.out, 1, true)
    -- a secret from the environment beats the profile's too: a wrong one is refused by the API
    r = run(dir, { "--profile", "sim", "-e", BOTH }, "DX_TOKEN=dx-revoked-token")
    assert.equal(1, r.code)
    assert.matches("api:", r.err)
    os.execute("rm -rf " .. S.quote(dir))
  end)

  it("refuses a secret file others can read, a missing profile, and a secret written in the file", function()
    local dir = setup(SIM, "640")
    local r = run(dir, { "--profile", "sim", "-e", [[return require("dx").client().base_url]] })
    assert.equal(1, r.code)
    assert.matches("argument: profile: profile 'sim': dx%.token: .-dx%.token is readable by others %(mode 640%); make it private: chmod 600", r.err)
    r = run(dir, { "--profile", "nope", "-e", [[return require("dexi").client().base_url]] })
    assert.equal(1, r.code)
    assert.matches("no profile 'nope' in .-config%.lua %(profiles: other, sim%)", r.err)
    r = run(dir, { "--profile", "other", "-e", [[return require("dexi").client().base_url]] })
    assert.equal(1, r.code)
    assert.matches("comes from %$NOT_SET_ANYWHERE, which is not set", r.err)
    r = run(dir, { "--profile", "", "-e", "return 1" })
    assert.equal(2, r.code)
    assert.matches("%-%-profile needs a profile name", r.err)
    S.spit(dir .. "/autolua/config.lua", [[profiles = { bad = { dx = { token = "dx-test-token" } } }]])
    r = run(dir, { "--profile", "bad", "-e", [[return require("dx").client().base_url]] })
    assert.equal(1, r.code)
    assert.matches("must say where the secret comes from", r.err)
    assert.not_matches("dx%-test%-token", r.err)
    os.remove(dir .. "/autolua/config.lua")
    r = run(dir, { "--profile", "sim", "-e", [[return require("dx").client().base_url]] })
    assert.equal(1, r.code)
    assert.matches("profile 'sim' is selected but there is no config file .-autolua/config%.lua", r.err)
    -- no profile chosen and no file: the environment alone, as before
    r = run(dir, { "-e", [[return require("dx").client().base_url]] }, "DX_TOKEN=t DX_BASE_URL=http://env.example")
    assert.equal(0, r.code, r.err)
    os.execute("rm -rf " .. S.quote(dir))
  end)
end)
