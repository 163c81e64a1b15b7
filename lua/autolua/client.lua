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

local MONTHS = { Jan = 1, Feb = 2, Mar = 3, Apr = 4, May = 5, Jun = 6, Jul = 7, Aug = 8,
                 Sep = 9, Oct = 10, Nov = 11, Dec = 12 }

-- Seconds to wait from a Retry-After header (delta-seconds or an HTTP date), or nil when it
-- is absent or unusable (a malformed value, a date os.time cannot represent): a server's odd
-- header is no reason to fail a call, it is as if it had said nothing.
function M.retry_after(value)
  if type(value) ~= "string" then return nil end
  local secs = tonumber(value:match("^%s*(%-?%d+%.?%d*)%s*$"))
  if not secs then
    local d, mon, y, h, mi, s = value:match("^%s*%a+, (%d%d?) (%a+) (%d%d%d%d) (%d%d):(%d%d):(%d%d) GMT%s*$")
    if not (d and MONTHS[mon]) then return nil end
    local ok, t = pcall(os.time, { year = tonumber(y), month = MONTHS[mon], day = tonumber(d), hour = tonumber(h),
                                   min = tonumber(mi), sec = tonumber(s), isdst = false })
    if not ok or not t then return nil end
    local utc_offset = os.time(os.date("!*t", 0)) - os.time(os.date("*t", 0))
    secs = t - utc_offset - os.time()
  end
  if secs ~= secs or secs == math.huge then return nil end
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

-- Waits before attempt 'attempt' + 1, or returns false, why not and a code: a Retry-After
-- over the cap, or a wait that would end past the call's deadline.
local function wait_before_retry(p, attempt, res, why, timeout)
  local delay = res and M.retry_after(res.headers["retry-after"])
  if delay and delay > RETRY_AFTER_CAP then
    return false, ("the server asked to wait %d s before a retry (Retry-After), more than the %d s autolua waits")
      :format(delay, RETRY_AFTER_CAP), "retry_after"
  end
  local wait = delay or M.backoff(attempt, p.backoff)
  -- the timeout bounds each wait as it bounds each attempt: a backoff is cut to it, and a
  -- server asking for longer is answered now rather than minutes later
  if timeout and wait > timeout then
    if delay then
      return false, ("the server asked to wait %d s before a retry (Retry-After), longer than the call's timeout of %g s")
        :format(delay, timeout), "retry_after"
    end
    wait = timeout
  end
  -- a caller with a deadline would rather hear now than wait past it
  if p.deadline and task.now() + wait > p.deadline then
    return false, ("a retry %s would start past the call's deadline%s"):format(
      delay and ("after the %d s the server asked for (Retry-After)"):format(delay) or "after a backoff wait",
      p.within and (" of %g s"):format(p.within) or ""), "deadline"
  end
  if delay and p.limiter then
    -- the whole account waits, so queued requests do not collect more 429s
    p.limiter:pause_until(task.now() + delay)
  else
    task.sleep(wait)
  end
  log.info("retrying", { call = p.name, why = why, attempt = attempt + 1, after = delay })
  return true
end

local function retryable_failure(err)
  return type(err) == "table" and (err.kind == "network" or err.kind == "timeout") and err.retryable
end

-- The error for a 429 that is not retried: 'why_not' says why when a retry was possible.
local function rate_limited(p, req, attempt, why_not, code)
  local message = why_not or (attempt > 1 and "the server kept answering 429 Too Many Requests"
    or "the server answered 429 Too Many Requests and the call allows no retry")
  errors.raise { kind = "rate_limited", status = 429, method = p.name, url = http.redact(req.url),
                 attempts = attempt, retryable = true,
                 code = code,
                 message = why_not and ("429 Too Many Requests: " .. why_not) or message }
end

-- The time left before the deadline for the next attempt's transfer (and its limiter wait), or
-- the timeout error when none is.
local function time_left(p, req, attempt, last)
  if not p.deadline then return end
  local left = p.deadline - task.now()
  if left <= 0.001 then
    if last then error(last, 0) end
    errors.raise { kind = "timeout", code = "deadline", method = p.name, url = http.redact(req.url),
                   attempts = attempt, retryable = true,
                   message = ("no answer within the call's deadline%s"):format(p.within and (" of %g s"):format(p.within) or "") }
  end
  return left
end

--[[ send(req, p) -> res, attempts
req: the http.request options (method, url, query, headers, json|body, timeout, sink, ...).
req.timeout bounds each attempt and each wait between attempts (a longer Retry-After is not
waited for, a backoff is cut to it), so a whole call takes at most (2 * retries + 1) * timeout.
p.within (seconds) bounds the whole call, counted from the first attempt's send: the wait for
the limiter before it is bounded by max_wait instead (a batch queued behind its own account
limit is not a slow server).
p: { name = call name for errors and logs, limiter =, max_wait =, retries = 5, within =,
     safe = retry 5xx answers and network failures too, backoff = {base =, cap =},
     accept = {[status] = true, ...}: non-2xx statuses returned to the caller, not raised,
     deadline = task.now() value past which no retry waits (the earlier of it and within's),
     fail = function(res, attempts) -> error object for a non-2xx answer }
]]
function M.send(req, p)
  local retries = p.retries or 5
  local attempt = 0
  local timeout, deadline, max_wait = req.timeout, p.deadline, p.max_wait
  if p.within then p = setmetatable({ deadline = deadline }, { __index = p }) end   -- p.deadline changes
  -- a shared limiter (autolua.shared_limiter) is acquired here, in Lua; the C one by the request
  local shared = type(p.limiter) == "table" and p.limiter or nil
  req.limiter, req.max_wait = not shared and p.limiter or nil, max_wait
  -- a call that is not safe to repeat takes a fresh connection, where libcurl never resends
  if not p.safe then req.reuse = false end
  local last
  while true do
    attempt = attempt + 1
    local t0 = task.now()
    if attempt > 1 then
      local left = time_left(p, req, attempt - 1, last)
      if left then
        req.timeout = timeout and math.min(timeout, left) or left
        req.max_wait = max_wait and math.min(max_wait, left) or left
      end
    end
    local ok, res = true, nil
    if shared then ok, res = pcall(shared.acquire, shared, 1, req.max_wait and { max_wait = req.max_wait } or nil) end
    if ok then ok, res = pcall(http.request, req) end
    if attempt == 1 and p.within then
      -- the clock starts when the first attempt left: its wire time counts, not its limiter
      -- wait (a failed attempt's wire time is its timeout, or next to nothing)
      local wire = ok and (res.elapsed or 0) or (type(res) == "table" and res.kind == "timeout" and timeout or 0)
      local sent = task.now() - wire
      local own = sent + p.within
      p.deadline = deadline and math.min(deadline, own) or own
    end
    if not ok then
      local err = res
      last = err
      log_request(p, req, nil, err, attempt, t0)
      if type(err) == "table" then
        err.attempts = attempt
        if err.kind ~= "argument" and err.kind ~= "cancelled" then err.method = p.name or err.method end
      end
      if not (p.safe and retryable_failure(err) and attempt <= retries
              and wait_before_retry(p, attempt, nil, err.code or err.kind, timeout)) then
        error(err, 0)
      end
    else
      log_request(p, req, res, nil, attempt, t0)
      local status = res.status
      if status == 429 then metrics.count_429(p.limiter) end
      if (status >= 200 and status < 300) or (p.accept and p.accept[status]) then return res, attempt end
      local again = attempt <= retries and (status == 429 or (p.safe and status >= 500 and status <= 599))
      local waited, why_not, code = false, nil, nil
      if again then waited, why_not, code = wait_before_retry(p, attempt, res, "HTTP " .. status, timeout) end
      if not waited then
        if status == 429 then rate_limited(p, req, attempt, why_not, code) end
        error(p.fail(res, attempt), 0)
      end
      last = nil
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
