-- autolua.client, the request pipeline both API clients share: Retry-After and backoff, the
-- retry policy (429 always, 5xx only when safe), statuses handed back, and the failure hook.
local pipeline = require "autolua.client"
local errors = require "autolua.error"
local S = require "support"

local FAST = { base = 0.01, cap = 0.02 }

local function send(path, p)
  p.backoff = p.backoff or FAST
  p.fail = p.fail or function(res, attempts)
    return errors.new { kind = "api", status = res.status, attempts = attempts, message = "failed" }
  end
  return pipeline.send({ method = "GET", url = S.url("misc", path) }, p)
end

describe("autolua.client", function()
  before_each(function() S.reset("misc") end)

  it("reads Retry-After as seconds, rounded up, or as an HTTP date; anything else is nil", function()
    assert.equal(5, pipeline.retry_after("5"))
    assert.equal(1, pipeline.retry_after("0.2"))
    assert.equal(0, pipeline.retry_after("-3"))
    assert.equal(0, pipeline.retry_after("Wed, 21 Oct 2015 07:28:00 GMT"))     -- in the past
    local soon = pipeline.retry_after(os.date("!%a, %d %b %Y %H:%M:%S GMT", os.time() + 60))
    assert.is_true(soon >= 58 and soon <= 61, tostring(soon))
    assert.is_nil(pipeline.retry_after(nil))
    assert.is_nil(pipeline.retry_after("soon"))
  end)

  it("backs off with full jitter under a doubling cap", function()
    for attempt = 1, 6 do
      local d = pipeline.backoff(attempt, { base = 0.5, cap = 4 })
      assert.is_true(d >= 0 and d <= math.min(4, 0.5 * 2 ^ (attempt - 1)), tostring(d))
    end
  end)

  it("argerror raises kind = argument naming the call", function()
    local e = S.fails(pipeline.argerror, "thing.do", "x must be %s", "a string")
    assert.is_true(errors.is(e, "argument"))
    assert.equal("thing.do: x must be a string", e.message)
  end)

  it("describes an HTML page by its title and any other body by a snippet", function()
    assert.equal("an HTML page (text/html): Bad gateway",
                 pipeline.describe_body { headers = { ["content-type"] = "text/html" }, body = "<html><title> Bad gateway </title>" })
    assert.equal('application/json body "{\\"a\\": 1}"',
                 pipeline.describe_body { headers = { ["content-type"] = "application/json" }, body = '{"a":\n 1}' })
  end)

  it("retries 429s and returns the answer with the number of attempts", function()
    local res, attempts = send("/429?key=k1&times=2&retry_after=0", { name = "t", retries = 3 })
    assert.equal(200, res.status)
    assert.equal(3, attempts)
  end)

  it("429s beyond the retries are kind = rate_limited with the attempts sent", function()
    local e = S.fails(send, "/429", { name = "t", retries = 1 })
    assert.equal("rate_limited", e.kind)
    assert.equal(2, e.attempts)
    assert.equal("t", e.method)
  end)

  it("retries a 5xx only when the call is safe, then raises what fail makes of it", function()
    local e = S.fails(send, "/status/503", { name = "t", retries = 2, safe = true })
    assert.same({ "api", 503, 3 }, { e.kind, e.status, e.attempts })
    e = S.fails(send, "/status/503", { name = "t", retries = 2 })
    assert.same({ "api", 503, 1 }, { e.kind, e.status, e.attempts })
  end)

  it("hands back the statuses the caller accepts", function()
    local res, attempts = send("/status/404", { name = "t", accept = { [404] = true } })
    assert.same({ 404, 1 }, { res.status, attempts })
  end)
end)
