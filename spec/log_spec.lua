-- autolua.log: leveled lines on stderr, as text or JSON, fields sorted, secrets masked.
local log = require "autolua.log"
local json = require "autolua.json"
local errors = require "autolua.error"
local S = require "support"

local SCRIPT = [[
local log = require "autolua.log"
require("autolua.secret").add("s3cr3t-value")
log.debug("not shown at info")
log.info("hello", { b = 2, a = "x y" })
log.warn("the token is s3cr3t-value")
]]

describe("autolua.log", function()
  it("writes the levels at or above AUTOLUA_LOG, fields sorted and quoted, secrets as ***", function()
    local r = S.run_script(SCRIPT, nil, { env = "AUTOLUA_LOG=info" })
    assert.equal(0, r.code)
    assert.equal('autolua info: hello a="x y" b=2\nautolua warn: the token is ***\n', r.err)
    r = S.run_script(SCRIPT, nil, { env = "AUTOLUA_LOG=warn" })
    assert.equal("autolua warn: the token is ***\n", r.err)
  end)

  it("AUTOLUA_LOG_FORMAT=json writes one object per line", function()
    local r = S.run_script(SCRIPT, nil, { env = "AUTOLUA_LOG=info AUTOLUA_LOG_FORMAT=json" })
    local lines = {}
    for l in r.err:gmatch("[^\n]+") do lines[#lines + 1] = json.decode(l) end
    assert.equal(2, #lines)
    assert.same({ "info", "hello", "x y", 2 }, { lines[1].level, lines[1].msg, lines[1].a, lines[1].b })
    assert.equal("the token is ***", lines[2].msg)
  end)

  it("refuses an unknown level and a message that is not text with kind = argument", function()
    assert.is_true(errors.is(S.fails(log.enabled, "loud"), "argument"))
    assert.is_true(errors.is(S.fails(log.set_level, 3), "argument"))
    assert.is_true(errors.is(S.fails(log.write, "info", {}), "argument"))
    assert.is_true(errors.is(S.fails(log.write, "info", "m", "not a table"), "argument"))
    assert.is_true(log.enabled("error"))
  end)
end)
