-- autolua.metrics: counters other modules keep for /metrics (autolua serve), and the
-- Prometheus text exposition format (version 0.0.4) they are written in.
local limiter = require "autolua.limiter"
local shared_limiter = require "autolua.shared_limiter"

local M = {}

-- 429 answers seen per limiter (the client pipeline counts them), weak so limiters can go.
local seen_429 = setmetatable({}, { __mode = "k" })

function M.count_429(lim)
  if lim then seen_429[lim] = (seen_429[lim] or 0) + 1 end
end

function M.seen_429(lim) return seen_429[lim] or 0 end

-- A label value: backslash, double quote and newline escaped.
function M.label(v)
  return (tostring(v):gsub("[\\\"\n]", { ["\\"] = "\\\\", ['"'] = '\\"', ["\n"] = "\\n" }))
end

local function num(v)
  if v ~= v then return "NaN" end   -- as the text format spells them, not as %g does
  if v == math.huge then return "+Inf" end
  if v == -math.huge then return "-Inf" end
  if math.type(v) == "integer" then return tostring(v) end
  local s = ("%.15g"):format(v)   -- the shortest form that reads back the same
  if tonumber(s) ~= v then s = ("%.17g"):format(v) end
  return s
end
M.num = num

-- One family into 'out': "# HELP", "# TYPE" and each sample "name{labels} value".
function M.family(out, name, kind, help, samples)
  out[#out + 1] = ("# HELP %s %s"):format(name, help)
  out[#out + 1] = ("# TYPE %s %s"):format(name, kind)
  for _, s in ipairs(samples) do
    local labels = {}
    for _, kv in ipairs(s.labels or {}) do
      labels[#labels + 1] = ('%s="%s"'):format(kv[1], M.label(kv[2]))
    end
    local l = #labels > 0 and ("{" .. table.concat(labels, ",") .. "}") or ""
    out[#out + 1] = ("%s%s%s %s"):format(name, s.suffix or "", l, num(s.value))
  end
end

-- Every keyed limiter (the dexi and dx clients' account limiters among them), sorted by key.
function M.limiters()
  local list = {}
  local all = limiter.registered()
  for key, lim in pairs(shared_limiter.registered()) do all[key] = lim end
  for key, lim in pairs(all) do
    local st = lim:stats()
    list[#list + 1] = { key = key, acquired = st.acquired, waited = st.waited_seconds,
                        queued = st.queued, seen_429 = M.seen_429(lim) }
  end
  table.sort(list, function(a, b) return a.key < b.key end)
  return list
end

function M.limiter_families(out)
  local lims = M.limiters()
  local function samples(field)
    local s = {}
    for _, l in ipairs(lims) do s[#s + 1] = { labels = { { "limiter", l.key } }, value = l[field] } end
    return s
  end
  M.family(out, "autolua_limiter_acquired_total", "counter", "Units acquired from the limiter.", samples("acquired"))
  M.family(out, "autolua_limiter_wait_seconds_total", "counter", "Seconds tasks waited in the limiter's queue.", samples("waited"))
  M.family(out, "autolua_limiter_queue_length", "gauge", "Tasks waiting in the limiter's queue now.", samples("queued"))
  M.family(out, "autolua_limiter_429_total", "counter", "429 Too Many Requests answers seen through the limiter.", samples("seen_429"))
end

return M
