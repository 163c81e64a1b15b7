-- autolua.metrics: the 429 counters the client pipeline keeps per limiter, the keyed limiters'
-- families, and the Prometheus text format (0.0.4) they are written in.
local S = require "support"
local metrics = require "autolua.metrics"
local limiter = require "autolua.limiter"
local client = require "autolua.client"

local function lines_of(fill)
  local out = {}
  fill(out)
  return out
end

describe("autolua.metrics", function()
  it("escapes backslash, double quote and newline in label values, and nothing else", function()
    assert.equal([[a\\b\"c\nd]], metrics.label('a\\b"c\nd'))
    assert.equal("plain {x=1} é", metrics.label("plain {x=1} é"))
    assert.equal("42", metrics.label(42))
  end)

  it("writes numbers in the shortest form that reads back the same, +Inf, -Inf and NaN as the format spells them", function()
    assert.equal("3", metrics.num(3))
    assert.equal("0", metrics.num(0))
    assert.equal("0.1", metrics.num(0.1))
    assert.equal("2.5", metrics.num(2.5))
    assert.equal("1", metrics.num(1.0))
    assert.equal("+Inf", metrics.num(math.huge))
    assert.equal("-Inf", metrics.num(-math.huge))
    assert.equal("NaN", metrics.num(0 / 0))
    local third = 1 / 3
    assert.equal(third, tonumber(metrics.num(third)))
    local odd = 0.1 + 0.2   -- needs 17 digits to read back the same
    assert.equal(odd, tonumber(metrics.num(odd)))
    assert.equal("0.30000000000000004", metrics.num(odd))
  end)

  it("writes a family: HELP, TYPE, then each sample with its suffix and escaped labels", function()
    local out = lines_of(function(o)
      metrics.family(o, "x_seconds", "histogram", "Time taken.", {
        { suffix = "_bucket", labels = { { "route", 'GET /a"b' }, { "le", "+Inf" } }, value = 2 },
        { suffix = "_sum", labels = { { "route", "GET /a" } }, value = 0.25 },
        { value = 7 },
      })
    end)
    assert.same({
      "# HELP x_seconds Time taken.",
      "# TYPE x_seconds histogram",
      'x_seconds_bucket{route="GET /a\\"b",le="+Inf"} 2',
      'x_seconds_sum{route="GET /a"} 0.25',
      "x_seconds 7",
    }, out)
  end)

  it("appends to what 'out' holds already, and writes a family with no samples as its two comments", function()
    local out = { "first" }
    metrics.family(out, "empty_total", "counter", "Nothing yet.", {})
    assert.same({ "first", "# HELP empty_total Nothing yet.", "# TYPE empty_total counter" }, out)
  end)

  it("counts the 429s per limiter, and ignores a call with no limiter", function()
    local a, b = limiter.rate { rate = 1000 }, limiter.rate { rate = 1000 }
    assert.equal(0, metrics.seen_429(a))
    metrics.count_429(a)
    metrics.count_429(a)
    metrics.count_429(b)
    metrics.count_429(nil)
    assert.equal(2, metrics.seen_429(a))
    assert.equal(1, metrics.seen_429(b))
    assert.equal(0, metrics.seen_429(nil))
  end)

  it("is told of each 429 the client pipeline sees through a limiter, retries included", function()
    local lim = limiter.rate { rate = 1000, key = "spec-metrics-pipeline" }
    local before = metrics.seen_429(lim)
    local ok = pcall(client.send, { url = S.url("misc", "/status/429"), timeout = 5 },
                     { name = "probe", limiter = lim, retries = 1, backoff = { base = 0.01, cap = 0.02 },
                       fail = function() return { kind = "api", message = "failed" } end })
    assert.is_false(ok)
    assert.equal(before + 2, metrics.seen_429(lim))
  end)

  it("lists every keyed limiter sorted by key, with its own counts, and leaves out unkeyed ones", function()
    local z = limiter.rate { rate = 1000, key = "spec-metrics-z" }
    local y = limiter.rate { rate = 1000, key = "spec-metrics-y" }
    limiter.rate { rate = 1000 }
    z:acquire(); z:acquire(); z:acquire()
    y:acquire()
    metrics.count_429(y)
    local list, keys, by = metrics.limiters(), {}, {}
    for i, l in ipairs(list) do
      keys[i] = l.key
      by[l.key] = l
      if i > 1 then assert.is_true(list[i - 1].key < l.key, "sorted by key") end
    end
    assert.equal(3, by["spec-metrics-z"].acquired)
    assert.equal(0, by["spec-metrics-z"].seen_429)
    assert.equal(0, by["spec-metrics-z"].queued)
    assert.equal(1, by["spec-metrics-y"].acquired)
    assert.equal(1, by["spec-metrics-y"].seen_429)
    assert.equal("number", type(by["spec-metrics-y"].waited))
    local n = 0
    for _ in pairs(limiter.registered()) do n = n + 1 end
    assert.equal(n, #list)
  end)

  it("writes the four limiter families with one sample per keyed limiter", function()
    local lim = limiter.rate { rate = 1000, key = 'spec-metrics "q"' }
    lim:acquire()
    metrics.count_429(lim)
    local text = table.concat(lines_of(metrics.limiter_families), "\n") .. "\n"
    for _, fam in ipairs { { "autolua_limiter_acquired_total", "counter" }, { "autolua_limiter_wait_seconds_total", "counter" },
                           { "autolua_limiter_queue_length", "gauge" }, { "autolua_limiter_429_total", "counter" } } do
      assert.truthy(text:find("# TYPE " .. fam[1] .. " " .. fam[2] .. "\n", 1, true), fam[1])
    end
    assert.truthy(text:find('autolua_limiter_acquired_total{limiter="spec-metrics \\"q\\""} 1\n', 1, true), text)
    assert.truthy(text:find('autolua_limiter_429_total{limiter="spec-metrics \\"q\\""} 1\n', 1, true), text)
    assert.truthy(text:find('autolua_limiter_queue_length{limiter="spec-metrics \\"q\\""} 0\n', 1, true), text)
    local samples = 0
    for _ in text:gmatch("\nautolua_limiter_acquired_total{") do samples = samples + 1 end
    assert.equal(#metrics.limiters(), samples)
  end)
end)
