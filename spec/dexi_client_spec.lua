-- dexi.client, in the shape both API clients share: c:send(method, path, opts) -> res,
-- attempts; decode(res, method) and failure(res, method, attempts [, body]), which a client
-- object keeps to itself.
local Client = require "dexi.client"
local dexi = require "dexi"
local http = require "autolua.http"
local errors = require "autolua.error"
local S = require "support"

local RUN_STAGS = "27c719bb-f28f-49f5-aedf-dba2f8e60ba3"

local function client()
  return dexi.client { account = "acc-test", api_key = "key-test", base_url = S.fake.dexi,
                       backoff = { base = 0.01, cap = 0.05 } }
end

describe("dexi.client", function()
  before_each(function() S.reset("dexi") end)

  it("send returns the raw answer and the attempts it took, with the account's headers", function()
    local c = client()
    local res, attempts = c:send("GET", "runs/" .. RUN_STAGS)
    assert.same({ 200, 1, 1 }, { res.status, attempts, res.attempts })
    local r = S.requests("dexi")[1]
    assert.equal("acc-test", r.headers["x-dexiio-account"])
    assert.equal("/runs/" .. RUN_STAGS, r.path)
  end)

  it("decode: JSON decoded, an empty body true, anything else kind = decode naming the call", function()
    local c = client()
    assert.is_true(Client.decode(c, { status = 204, body = "" }, "DELETE"))
    assert.same({ a = 1 }, Client.decode(c, { status = 200, body = '{"a":1}' }, "GET"))
    local e = S.fails(Client.decode, c, { status = 200, body = "<html>", url = "http://h/x", attempts = 2,
                                          headers = { ["content-type"] = "text/html" } }, "GET")
    assert.same({ "decode", "GET", 2 }, { e.kind, e.method, e.attempts })
  end)

  it("failure: an API error for the answer, its URL without the query", function()
    local c = client()
    local res = http.request { url = S.fake.dexi .. "runs/no-such-run?robotId=x", headers = c:headers() }
    local e = Client.failure(c, res, "GET", 3)
    assert.is_true(errors.is(e, "api"))
    assert.same({ 404, "not_found", "GET", 3 }, { e.status, e.code, e.method, e.attempts })
    assert.equal(S.fake.dexi .. "runs/no-such-run", e.url)
    assert.is_false(e.retryable)
  end)

  it("a final non-2xx from send raises that failure", function()
    local c = client()
    local e = S.fails(c.send, c, "GET", "runs/no-such-run", { query = { robotId = "x" } })
    assert.same({ "api", 404, "not_found", 1 }, { e.kind, e.status, e.code, e.attempts })
    assert.is_falsy(e.url:find("?", 1, true))
  end)

  it("a client object shows its methods, not decode or failure", function()
    local c = client()
    assert.is_nil(c.decode)
    assert.is_nil(c.failure)
    assert.equal(Client.send, c.send)
    assert.matches("^dexi%.client %(account acc%-test, ", tostring(c))
  end)
end)
