-- The request pipeline both API clients share: one call = limiter acquisition, the request,
-- and the retry policy (429 after Retry-After or with backoff and full jitter; 5xx and network
-- failures only where the call is safe to repeat), with structured errors and debug logs.
local http = require "autolua.http"
local task = require "autolua.task"
local errors = require "autolua.error"
local log = require "autolua.log"
local metrics = require "autolua.metrics"

local M = {}

-- Raises kind = "argument" for a mistake in a call, "fname: message".
function M.argerror(fname, fmt, ...)
  errors.raise { kind = "argument", message = fname .. ": " .. fmt:format(...) }
end

local RETRY_AFTER_CAP = 300   -- seconds; a server asking for longer is answered with an error

-- Seconds to wait from a Retry-After header (delta-seconds or an HTTP date), or nil.
function M.retry_after(value)
  if not value then return nil end
  local secs = tonumber(value)
  if not secs then
    local d, mon, y, h, mi, s = value:match("%a+, (%d+) (%a+) (%d+) (%d+):(%d+):(%d+) GMT")
    local months = { Jan = 1, Feb = 2, Mar = 3, Apr = 4, May = 5, Jun = 6, Jul = 7, Aug = 8,
                     Sep = 9, Oct = 10, Nov = 11, Dec = 12 }
    if not (d and months[mon]) then return nil end
    local t = os.time { year = y, month = months[mon], day = d, hour = h, min = mi, sec = s, isdst = false }
    local utc_offset = os.time(os.date("!*t", 0)) - os.time(os.date("*t", 0))
    secs = t - utc_offset - os.time()
  end
  secs = math.ceil(secs)
  if secs < 0 then secs = 0 end
  return secs
end

-- Full jitter: a random wait between 0 and min(cap, base * 2^(attempt - 1)).
function M.backoff(attempt, opts)
  local base, cap = opts and opts.base or 0.5, opts and opts.cap or 30
  return math.random() * math.min(cap, base * 2 ^ (attempt - 1))
end

-- One debug line per request: the call, method, URL (secrets redacted), status or error,
-- attempt, the time on the wire and the time spent waiting for the limiter before it.
local function log_request(p, req, res, err, attempt, t0)
  if not log.enabled("debug") then return end
  local total = task.now() - t0
  local wire = res and res.elapsed or total
  log.debug("request", {
    call = p.name, method = req.method, url = err and err.url or http.redact(res and res.url or req.url), attempt = attempt,
    status = res and res.status, error = err and (err.code or err.kind),
    ms = math.floor(wire * 1000 + 0.5), wait_ms = math.floor(math.max(0, total - wire) * 1000 + 0.5),
  })
end

local function wait_before_retry(p, attempt, res, why)
  local delay = res and M.retry_after(res.headers["retry-after"])
  if delay and delay > RETRY_AFTER_CAP then return false end
  -- a caller with a deadline (a query's timeout) would rather hear now than wait past it
  if p.deadline and task.now() + (delay or 0) > p.deadline then return false end
  if delay and p.limiter then
    -- the whole account waits, so queued requests do not collect more 429s
    p.limiter:pause_until(task.now() + delay)
  else
    task.sleep(delay or M.backoff(attempt, p.backoff))
  end
  log.info("retrying", { call = p.name, why = why, attempt = attempt + 1, after = delay })
  return true
end

local function retryable_failure(err)
  return type(err) == "table" and (err.kind == "network" or err.kind == "timeout") and err.retryable
end

--[[ send(req, p) -> res, attempts
req: the http.request options (method, url, query, headers, json|body, timeout, sink, ...).
p: { name = call name for errors and logs, limiter =, max_wait =, retries = 5,
     pacer = a second limiter taken first (it spreads a window's requests out),
     safe = retry 5xx answers and network failures too, backoff = {base =, cap =},
     accept = {[status] = true, ...}: non-2xx statuses returned to the caller, not raised,
     deadline = task.now() value past which no retry waits,
     fail = function(res, attempts) -> error object for a non-2xx answer }
]]
function M.send(req, p)
  local retries = p.retries or 5
  local attempt = 0
  req.limiter, req.max_wait = p.limiter, p.max_wait
  -- a call that is not safe to repeat takes a fresh connection, where libcurl never resends
  if not p.safe then req.reuse = false end
  while true do
    attempt = attempt + 1
    local t0 = task.now()
    if p.pacer then p.pacer:acquire(1, p.max_wait and { max_wait = p.max_wait } or nil) end
    local ok, res = pcall(http.request, req)
    if not ok then
      local err = res
      log_request(p, req, nil, err, attempt, t0)
      if type(err) == "table" then
        err.attempts = attempt
        if err.kind ~= "argument" and err.kind ~= "cancelled" then err.method = p.name or err.method end
      end
      if not (p.safe and retryable_failure(err) and attempt <= retries
              and wait_before_retry(p, attempt, nil, err.code or err.kind)) then
        error(err, 0)
      end
    else
      log_request(p, req, res, nil, attempt, t0)
      local status = res.status
      if status == 429 then metrics.count_429(p.limiter) end
      if (status >= 200 and status < 300) or (p.accept and p.accept[status]) then return res, attempt end
      local again = attempt <= retries and (status == 429 or (p.safe and status >= 500 and status <= 599))
      if not (again and wait_before_retry(p, attempt, res, "HTTP " .. status)) then
        if status == 429 then
          errors.raise { kind = "rate_limited", status = 429, method = p.name, url = http.redact(req.url),
                         attempts = attempt, retryable = true,
                         message = ("the server kept answering 429 Too Many Requests") }
        end
        error(p.fail(res, attempt), 0)
      end
    end
  end
end

-- A short description of a body that is not what was expected (an HTML error page, say).
function M.describe_body(res)
  local ctype = res.headers["content-type"] or "no content type"
  local body = res.body or ""
  if ctype:find("html", 1, true) then
    local title = body:match("<[Tt][Ii][Tt][Ll][Ee]>%s*(.-)%s*</")
    return ("an HTML page (%s)%s"):format(ctype, title and (": " .. title) or "")
  end
  local snippet = body:sub(1, 80):gsub("%s+", " ")
  return ("%s body %q"):format(ctype, snippet)
end

return M
