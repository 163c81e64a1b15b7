-- dx.client, in the shape both API clients share: c:send(method, args, opts) -> res,
-- attempts; c:decode(res, method); failure(res, method, attempts [, body]), which a client
-- object keeps to itself. Method names, describe() and the closest name to a mistyped one.
local Client = require "dx.client"
local http = require "autolua.http"
local errors = require "autolua.error"
local S = require "support"
local D = require "dx_support"

describe("dx.client", function()
  before_each(function() S.reset("dx") end)

  it("send returns the raw answer and the attempts it took; decode gives the envelope", function()
    local c = D.client()
    local res, attempts = c:send("auth.info", {})
    assert.same({ 200, 1 }, { res.status, attempts })
    local body = c:decode(res, "auth.info")
    assert.is_true(body.ok)
    assert.equal("Bearer " .. D.TOKEN, D.recorded("auth.info")[1].headers.authorization)
  end)

  it("decode raises ok == false as the API's error, and a body that is not JSON as kind = decode", function()
    local c = D.client()
    local res = http.request { url = S.url("misc", "/echo_error?status=400") }
    local e = S.fails(c.decode, c, { status = 200, url = res.url, headers = res.headers, body = res.body }, "teams.list")
    assert.same({ "api", "teams.list" }, { e.kind, e.method })
    assert.matches("^cannot accept GET /echo_error", e.message)
    e = S.fails(c.decode, c, { status = 200, url = "http://h/x", headers = {}, body = "not json" }, "teams.list")
    assert.equal("decode", e.kind)
    assert.is_true(errors.is(S.fails(c.decode, c, "not a response", "x"), "argument"))
  end)

  it("failure names the code, a hint for a refused token, and the URL", function()
    local c = D.client()
    local res = { status = 401, url = "http://h/auth.info", headers = {}, body = '{"ok":false,"error":"invalid_auth"}' }
    local e = Client.failure(c, res, "auth.info", 2)
    assert.same({ "api", 401, "invalid_auth", "auth.info", 2 }, { e.kind, e.status, e.code, e.method, e.attempts })
    assert.matches("check DX_TOKEN", e.message, 1, true)
    e = Client.failure(c, { status = 302, url = "http://h/x", headers = { location = "http://elsewhere/" }, body = "" }, "x", 1)
    assert.equal("http", e.kind)
    assert.matches("redirected to http://elsewhere/", e.message, 1, true)
  end)

  it("an unknown method names the closest ones, and nothing is sent", function()
    local c = D.client()
    local e = S.fails(c.call, c, "teams.lst")
    assert.same({ "argument", "teams.lst" }, { e.kind, e.method })
    assert.matches("unknown DX method 'teams.lst' (closest: teams.list", e.message, 1, true)
    assert.same({}, D.recorded())
    assert.matches("^dx: no method teams%.lst %(closest: teams%.list", Client.describe("teams.lst"))
    assert.matches("^dx method teams%.list: GET <DX_BASE_URL>/teams%.list\n  scope: ", Client.describe("teams.list"))
  end)

  it("a client object shows its methods and families, not failure", function()
    local c = D.client()
    assert.is_nil(c.failure)
    assert.equal(Client.decode, c.decode)
    assert.equal("dx method", getmetatable(c.teams).__name)
  end)
end)
