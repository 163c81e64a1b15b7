local errors = require "autolua.error"

describe("autolua.error", function()
  it("builds error objects that print as one line", function()
    local e = errors.new { kind = "api", status = 404, code = "not_found", message = "no such run",
                           method = "GET", url = "https://api.dexi.io/runs/x", attempts = 1 }
    assert.is_true(errors.is(e))
    assert.is_true(errors.is(e, "api"))
    assert.is_false(errors.is(e, "network"))
    assert.equal("api: GET https://api.dexi.io/runs/x: HTTP 404: not_found: no such run", tostring(e))
    assert.is_false(e.retryable)
  end)

  it("counts attempts and leaves out what is absent", function()
    local e = errors.new { kind = "rate_limited", message = "too many requests", attempts = 6, method = "teams.list" }
    assert.equal("rate_limited: teams.list: too many requests (after 6 attempts)", tostring(e))
    assert.equal("api: (no message)", tostring(errors.new {}))
  end)

  it("does not repeat a code equal to the message", function()
    assert.equal("api: invalid_auth", tostring(errors.new { code = "invalid_auth", message = "invalid_auth" }))
  end)

  it("raises without position information", function()
    local ok, e = pcall(errors.raise, { kind = "argument", message = "bad" })
    assert.is_false(ok)
    assert.equal("argument: bad", tostring(e))
  end)
end)
