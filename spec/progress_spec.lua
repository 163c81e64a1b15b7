-- autolua.progress: one line redrawn on stderr, with a bar when the total is known; nothing
-- at all when disabled.
local S = require "support"

local function run(enabled)
  return S.run_script(([[
local progress = require "autolua.progress"
local p = progress.new { label = "downloading", total = 4096, unit = "bytes", enabled = %s }
local q = progress.new { label = "rows", enabled = %s }
require("autolua.task").sleep(0.03)       -- so that the rates are not whole numbers
p:add(2048)
p:add(2048)
p:finish()
q:add(7)
q:finish()
]]):format(enabled, enabled))
end

describe("autolua.progress", function()
  it("draws a bar, the amounts and a rate (not a whole number: a recipe's rows), and ends the line", function()
    local r = run("true")
    assert.equal(0, r.code)
    assert.matches("downloading %[####################%] 4%.0 KiB/4%.0 KiB [%d.]+ %a*B/s\n", r.err)
    assert.matches("\r\27%[Krows 7 %d+/s\n$", r.err)
  end)

  it("is silent when disabled", function()
    local r = run("false")
    assert.equal(0, r.code)
    assert.equal("", r.err)
  end)
end)
