-- autolua.help, what help(x) shows: a topic of the reference, a DX method or family, a Dexi
-- function by name or by value, or the list of topics; anything else is named as unknown.
local help = require "autolua.help"
local apidoc = require "autolua.apidoc"
local errors = require "autolua.error"
local S = require "support"

describe("autolua.help", function()
  it("help() is the list of topics, help(topic) the topic's text", function()
    assert.equal(apidoc.topic_list(), help.text(nil))
    assert.equal(apidoc.text("task"), help.text("task"))
  end)

  it("a DX method or family by name shows its declaration", function()
    assert.matches("^dx method workflowRuns%.trigger: POST", help.text("workflowRuns.trigger"))
    assert.matches("^dx method family workflowRuns: ", help.text("workflowRuns"))
    local c = require("dx").client { token = "t", base_url = "http://127.0.0.1:1" }
    assert.equal(help.text("workflowRuns.trigger"), help.text(c.workflowRuns.trigger))
  end)

  it("a Dexi function by name, with or without client., or by value shows its declaration", function()
    local text = help.text("runs.list")
    assert.matches("^dexi client%.runs%.list%(opts%)", text)
    assert.equal(text, help.text("client.runs.list"))
    local c = require("dexi").client { account = "a", api_key = "k", base_url = S.fake.dexi }
    assert.equal(text, help.text(c.runs.list))
    assert.matches("^dexi client:download%(", help.text(c.download))
  end)

  it("anything else is nil and a reason, and show raises it as kind = argument", function()
    local t, why = help.text("no.such.thing")
    assert.is_nil(t)
    assert.matches("no help on 'no.such.thing': the topics are", why, 1, true)
    t, why = help.text(function() end)
    assert.is_nil(t)
    assert.matches("no help on this function", why, 1, true)
    local e = S.fails(help.show, "no.such.thing")
    assert.is_true(errors.is(e, "argument"))
    assert.matches("^help: no help on", e.message)
  end)
end)
