-- http.serve{} and `autolua serve`: driven in-process with http.request, and in a child
-- process with curl, raw sockets (spec/serve_client.py) and prometheus_client's parser.
local http = require "autolua.http"
local task = require "autolua.task"
local json = require "autolua.json"
local limiter = require "autolua.limiter"
local S = require "support"

local q = S.quote
local CLIENT = S.source .. "/spec/serve_client.py"

local function get(srv, path, opts)
  opts = opts or {}
  opts.url = srv.url .. path
  -- a connection of its own: libcurl would otherwise wait to learn whether the first one
  -- multiplexes, and the requests of a test about concurrency would go one after another
  if opts.reuse == nil then opts.reuse = false end
  return http.request(opts)
end

local child = require "serve_support"
local shell, curl = child.shell, child.curl

-- A child server that a failed assertion does not leave running ('finally' exists in it()s).
local function serve_child(...)
  local c = child.serve_child(...)
  finally(function() c:cleanup() end)
  return c
end

describe("http.serve in-process", function()
  local srv
  local done_in_background = {}

  setup(function()
    srv = http.serve {
      listen = "127.0.0.1:0",
      handler = {
        ["GET /hello"] = function(req)
          return { json = { name = req.query.name, tags = req.query.tag, accept = req.headers["x-multi"],
                            method = req.method, path = req.path, remote = req.remote } }
        end,
        ["POST /echo"] = function(req)
          return { status = 201, headers = { ["X-Len"] = #req.body }, json = { got = req:json() } }
        end,
        ["PUT /raw"] = function(req) return { body = req.body:upper() } end,
        ["/any"] = function(req) return { body = req.method } end,
        ["GET /nothing"] = function() end,
        ["GET /boom"] = function() error("the database password is hunter2") end,
        ["GET /bad-answer"] = function(req)
          local kind = req.query.kind
          if kind == "status" then return { status = 99 } end
          if kind == "header" then return { headers = { ["x-a"] = "one\r\nx-b: two" }, body = "x" } end
          if kind == "many" then
            local h = {}
            for i = 1, 65 do h["x-" .. i] = "v" end
            return { headers = h, body = "x" }
          end
          return "a string"
        end,
        ["POST /badjson"] = function(req) return { json = req:json() } end,
        ["GET /sleep"] = function(req)
          task.sleep(tonumber(req.query.s))
          return { json = { n = tonumber(req.query.n) } }
        end,
        ["POST /later"] = function(req)
          local id = req.query.id
          task.spawn(function() task.sleep(0.1); done_in_background[id] = true end)
          return { status = 202, json = { accepted = id } }
        end,
        ["GET /fetch"] = function()   -- a handler may call out while it runs
          local res = http.request { url = S.url("misc", "/status/200") }
          return { json = { upstream = res.status } }
        end,
      },
    }
  end)

  teardown(function() srv:close(1) end)

  it("routes by method and path, and parses the query and the headers", function()
    local res = get(srv, "/hello?name=J%C3%B6rg&tag=a&tag=b%20c", { headers = { ["X-Multi"] = "one" } })
    assert.equal(200, res.status)
    assert.equal("application/json", res.headers["content-type"])
    local body = res:json()
    assert.equal("Jörg", body.name)
    assert.same({ "a", "b c" }, body.tags)
    assert.equal("one", body.accept)
    assert.equal("GET", body.method)
    assert.equal("/hello", body.path)
    assert.truthy(body.remote:match("^127%.0%.0%.1:%d+$"))
  end)

  it("decodes JSON bodies and encodes JSON answers with the handler's status and headers", function()
    local res = get(srv, "/echo", { method = "POST", json = { a = { 1, 2 }, b = "x" } })
    assert.equal(201, res.status)
    assert.same({ got = { a = { 1, 2 }, b = "x" } }, res:json())
    assert.equal("19", res.headers["x-len"])
    res = get(srv, "/raw", { method = "PUT", body = "abc" })
    assert.equal("ABC", res.body)
    assert.equal("text/plain; charset=utf-8", res.headers["content-type"])
  end)

  it("answers 405 with Allow for a known path, 404 for an unknown one, 204 for no answer, HEAD as GET", function()
    local res = get(srv, "/echo")
    assert.equal(405, res.status)
    assert.equal("POST", res.headers["allow"])
    res = get(srv, "/nope")
    assert.equal(404, res.status)
    assert.equal("not_found", res:json().error)
    assert.equal(204, get(srv, "/nothing").status)
    assert.equal("DELETE", get(srv, "/any", { method = "DELETE" }).body)
    assert.equal("PATCH", get(srv, "/any", { method = "PATCH" }).body)
    res = get(srv, "/hello?name=x", { method = "HEAD" })
    assert.equal(200, res.status)
    assert.equal("", res.body or "")
  end)

  it("answers a handler's error with 500 and a JSON body that does not carry the error's text", function()
    local res = get(srv, "/boom")
    assert.equal(500, res.status)
    local body = res:json()
    assert.equal("internal_error", body.error)
    assert.is_nil(res.body:find("hunter2", 1, true))
    res = get(srv, "/badjson", { method = "POST", body = "{nope" })
    assert.equal(500, res.status)
  end)

  it("answers 500 when a handler's answer cannot be sent: a bad status, a header with CR LF, too many headers", function()
    for _, kind in ipairs { "status", "header", "many", "string" } do
      local res = get(srv, "/bad-answer?kind=" .. kind)
      assert.equal(500, res.status, kind)
      assert.is_nil(res.headers["x-b"])
    end
    assert.equal(200, get(srv, "/hello").status)
  end)

  it("takes a body up to 1 MiB and answers 413 beyond it", function()
    local mib = string.rep("x", 1024 * 1024)
    local res = get(srv, "/raw", { method = "PUT", body = mib })
    assert.equal(200, res.status)
    assert.equal(#mib, #res.body)
    res = get(srv, "/raw", { method = "PUT", body = mib .. "y" })
    assert.equal(413, res.status)
    assert.equal("payload_too_large", res:json().error)
  end)

  it("runs 200 requests in parallel, each handler as its own task", function()
    local t0 = task.now()
    local items = {}
    for i = 1, 200 do items[i] = i end
    local got = task.map(items, function(i)
      local res = get(srv, "/sleep?s=0.2&n=" .. i)
      return res.status == 200 and res:json().n
    end, { concurrency = 200 })
    assert.same(items, got)
    -- 64 handlers at once by default: four rounds of 0.2 s, not 200 of them
    assert.is_true(task.now() - t0 < 8, "took " .. (task.now() - t0))
  end)

  it("lets a handler answer at once and leave a task running", function()
    local res = get(srv, "/later?id=k1", { method = "POST" })
    assert.equal(202, res.status)
    assert.is_nil(done_in_background.k1)
    task.sleep(0.3)
    assert.is_true(done_in_background.k1)
  end)

  it("lets a handler call out with http.request while it runs", function()
    local res = get(srv, "/fetch")
    assert.equal(200, res.status)
    assert.equal(200, res:json().upstream)
  end)

  it("counts requests by route and status for /metrics", function()
    get(srv, "/healthz")
    local text = get(srv, "/metrics").body
    assert.truthy(text:find('autolua_serve_requests_total{route="GET /boom",status="500"} 1', 1, true))
    assert.truthy(text:find('autolua_serve_requests_total{route="GET /healthz",status="200"}', 1, true))
    assert.truthy(text:find('autolua_serve_handler_seconds_count{route="GET /hello"}', 1, true))
    assert.truthy(text:find('autolua_serve_rejected_total{status="413"} 1', 1, true))
  end)

  it("shows the 429s a client saw through a limiter in /metrics", function()
    local client = require "autolua.client"
    local lim = limiter.rate { rate = 100, key = "spec-serve-429" }
    local ok = pcall(client.send, { url = S.url("misc", "/status/429") },
                     { name = "probe", limiter = lim, retries = 0, fail = function() return "failed" end })
    assert.is_false(ok)
    local text = get(srv, "/metrics").body
    assert.truthy(text:find('autolua_limiter_429_total{limiter="spec-serve-429"} 1', 1, true), text)
    assert.truthy(text:find('autolua_limiter_acquired_total{limiter="spec-serve-429"} 1', 1, true), text)
  end)
end)

describe("http.serve limits and shutdown", function()
  it("queues handlers beyond max_handlers and answers 503 when the queue is full", function()
    local srv = http.serve { listen = "127.0.0.1:0", max_handlers = 1, max_queue = 1,
                             handler = function() task.sleep(0.4); return { body = "ok" } end }
    local statuses = task.map({ 1, 2, 3 }, function(i)
      task.sleep(i * 0.05)
      return get(srv, "/").status
    end, { concurrency = 3 })
    assert.same({ 200, 200, 503 }, statuses)
    srv:close(1)
  end)

  it("answers 503 to a request that waited longer than queue_timeout", function()
    local srv = http.serve { listen = "127.0.0.1:0", max_handlers = 1, queue_timeout = 0.2,
                             handler = function() task.sleep(0.6); return { body = "ok" } end }
    local statuses = task.map({ 1, 2 }, function(i)
      task.sleep(i * 0.05)
      return get(srv, "/").status
    end, { concurrency = 2 })
    assert.same({ 200, 503 }, statuses)
    srv:close(1)
  end)

  it("answers 504 past handler_timeout and cancels the handler", function()
    local finished = false
    local srv = http.serve { listen = "127.0.0.1:0", handler_timeout = 0.2,
                             handler = function() task.sleep(2); finished = true end }
    local t0 = task.now()
    local res = get(srv, "/")
    assert.equal(504, res.status)
    assert.is_true(task.now() - t0 < 1.5)
    task.sleep(0.1)
    assert.is_false(finished)
    srv:close(1)
  end)

  it("drains: a handler that ends within the grace is answered; one that does not gets 503 and is cancelled", function()
    local reached = {}
    local srv = http.serve { listen = "127.0.0.1:0", handler = function(req)
      task.sleep(tonumber(req.query.s))
      reached[req.query.s] = true
      return { body = "done " .. req.query.s }
    end }
    local quick = task.spawn(get, srv, "/?s=0.2")
    local slow = task.spawn(get, srv, "/?s=5")
    task.sleep(0.1)
    local t0 = task.now()
    srv:close(0.5)
    local q1, s1 = quick:wait(), slow:wait()
    assert.equal(200, q1.status)
    assert.equal("done 0.2", q1.body)
    assert.equal("close", (q1.headers["connection"] or ""):lower())
    assert.equal(503, s1.status)
    assert.is_nil(reached["5"])
    assert.is_true(task.now() - t0 < 3, "close took " .. (task.now() - t0))
    assert.equal(1, srv:stats().cancelled)
    -- the listening socket is closed
    local ok, err = pcall(get, srv, "/?s=0")
    assert.is_false(ok)
    assert.equal("network", err.kind)
  end)

  it("refuses bad arguments with kind = argument", function()
    local err = S.fails(http.serve, { handler = 42 })
    assert.equal("argument", err.kind)
    err = S.fails(http.serve, { listen = "nonsense", handler = function() end })
    assert.equal("argument", err.kind)
    err = S.fails(http.serve, { handler = { ["GETT"] = function() end } })
    assert.equal("argument", err.kind)
    err = S.fails(http.serve, { listen = "127.0.0.1:0", max_body = "big", handler = function() end })
    assert.equal("argument", err.kind)
  end)

  it("says which address it cannot listen on", function()
    local srv = http.serve { listen = "127.0.0.1:0", handler = function() end }
    local err = S.fails(http.serve, { listen = "127.0.0.1:" .. srv.port, handler = function() end })
    assert.equal("network", err.kind)
    assert.truthy(tostring(err):find("127.0.0.1:" .. srv.port, 1, true))
    srv:close(0)
  end)
end)

local APP = [[
local task = require "autolua.task"
local limiter = require "autolua.limiter"
local lim = limiter.rate { rate = 1000, key = "spec-serve" }
return {
  ["GET /hello"] = function(req) lim:acquire(); return { json = { hi = req.query.name } } end,
  ["POST /echo"] = function(req) return { json = req:json() } end,
  ["GET /sleep"] = function(req) task.sleep(tonumber(req.query.s)); return { body = "slept" } end,
  ["GET /boom"] = function() error("failed near the database") end,
}
]]

describe("autolua serve (a child process)", function()
  it("serves curl: routes, JSON bodies, query arguments and the built-in /healthz", function()
    local c = serve_child(APP)
    assert.equal('{"hi":"a b"}', curl(q(c.url .. "/hello?name=a+b")))
    assert.equal('{"x":[1,2]}', curl("-X POST -H 'Content-Type: application/json' -d '{\"x\":[1,2]}' " .. q(c.url .. "/echo")))
    assert.equal('{"ok":true}', curl(q(c.url .. "/healthz")))
    assert.equal("500", curl("-o /dev/null -w '%{http_code}' " .. q(c.url .. "/boom")))
    -- curl announces a big body with Expect: 100-continue; the answer comes before the body
    local big = c.dir .. "/big.json"
    S.spit(big, '"' .. string.rep("x", 1024 * 1024 + 10) .. '"')
    assert.equal("413", curl("-o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' --data-binary @"
                             .. q(big) .. " " .. q(c.url .. "/echo")))
    c:stop()
    assert.truthy(c:stderr():find("handler failed", 1, true))
    assert.truthy(c:stderr():find("failed near the database", 1, true))
  end)

  it("requires the token on every route when given one, compared whole", function()
    local c = serve_child(APP, { "--token", "s3cret-token" })
    local code = function(auth, path)
      return curl(("-o /dev/null -w '%%{http_code}' %s %s"):format(auth and ("-H " .. q("Authorization: " .. auth)) or "",
                                                                   q(c.url .. (path or "/hello"))))
    end
    assert.equal("401", code(nil))
    assert.equal("401", code(nil, "/healthz"))
    assert.equal("401", code(nil, "/metrics"))
    assert.equal("401", code("Bearer wrong"))
    assert.equal("401", code("Bearer s3cret-toke"))
    assert.equal("401", code("Bearer s3cret-tokenX"))
    assert.equal("401", code("Basic s3cret-token"))
    assert.equal("200", code("Bearer s3cret-token"))
    assert.equal("200", code("Bearer s3cret-token", "/healthz"))
    assert.truthy(curl("-i " .. q(c.url .. "/hello")):find("WWW%-Authenticate: Bearer"))
    c:stop()
    assert.is_nil(c:stderr():find("s3cret", 1, true))
    -- the same from the environment
    c = serve_child(APP, {}, "AUTOLUA_SERVE_TOKEN=env-token")
    assert.equal("401", code(nil))
    assert.equal("200", code("Bearer env-token"))
    c:stop()
  end)

  it("answers malformed requests with 4xx (or closes) and keeps serving", function()
    local c = serve_child(APP)
    local function raw(text)   -- through a file: a command line has a size limit
      local path = c.dir .. "/raw.txt"
      S.spit(path, text)
      return (shell(("python3 %s raw %d @%s"):format(q(CLIENT), c.port, q(path))):wait():gsub("%s+$", ""))
    end
    assert.truthy(raw("GET /hello HTTP/1.1\\r\\nHost: x\\r\\nNoColonHere\\r\\n\\r\\n"):match("^HTTP/1.1 400"))
    assert.truthy(raw("GET /hello HTTP/9.9\\r\\nHost: x\\r\\n\\r\\n"):match("^HTTP/1.1 50[05]") or
                  raw("GET /hello HTTP/9.9\\r\\nHost: x\\r\\n\\r\\n"):match("^HTTP/1.1 400"))
    assert.truthy(raw("POST /echo HTTP/1.1\\r\\nHost: x\\r\\nContent-Length: abc\\r\\n\\r\\n"):match("^HTTP/1.1 4%d%d"))
    assert.truthy(raw("POST /echo HTTP/1.1\\r\\nHost: x\\r\\nContent-Length: 5\\r\\nTransfer-Encoding: chunked\\r\\n\\r\\n0\\r\\n\\r\\n"):match("^HTTP/1.1 400"))
    assert.truthy(raw("POST /echo HTTP/1.1\\r\\nHost: x\\r\\nTransfer-Encoding: gzip\\r\\n\\r\\n"):match("^HTTP/1.1 400"))
    assert.truthy(raw("POST /echo HTTP/1.1\\r\\nHost: x\\r\\nTransfer-Encoding: chunked\\r\\n\\r\\nzz\\r\\n"):match("^HTTP/1.1 400"))
    assert.truthy(raw("GET /hello HTTP/1.1\\r\\nHost: x\\r\\nX-Big: " .. string.rep("a", 40000) .. "\\r\\n\\r\\n"):match("^HTTP/1.1 431"))
    -- within MHD's pool but over --max-header (16 KiB)
    assert.truthy(raw("GET /hello HTTP/1.1\\r\\nHost: x\\r\\nX-Big: " .. string.rep("a", 20000) .. "\\r\\n\\r\\n"):match("^HTTP/1.1 431"))
    assert.truthy(raw("POST /echo HTTP/1.1\\r\\nHost: x\\r\\nContent-Length: 99999999999\\r\\n\\r\\n"):match("^HTTP/1.1 413"))
    local r = raw("\\x00\\x01\\x02 garbage\\r\\n\\r\\n")
    assert.truthy(r == "CLOSED" or r:match("^HTTP/1.1 4%d%d"), r)
    -- a chunked body over the cap
    local chunk = ("%x"):format(600 * 1024)
    local body = chunk .. "\\r\\n" .. string.rep("a", 600 * 1024) .. "\\r\\n"
    r = raw("POST /echo HTTP/1.1\\r\\nHost: x\\r\\nTransfer-Encoding: chunked\\r\\n\\r\\n" .. body .. body .. "0\\r\\n\\r\\n")
    assert.truthy(r == "CLOSED" or r:match("^HTTP/1.1 413"), r)
    assert.equal('{"ok":true}', curl(q(c.url .. "/healthz")))
    c:signal("TERM")
    assert.equal(0, c:exit_code())
    c:stop()
  end)

  it("cuts a client that trickles its request past the read timeout, and keeps serving", function()
    local c = serve_child(APP, { "--read-timeout", "1" })
    local got = json.decode(shell(("python3 %s trickle %d 0.05 200"):format(q(CLIENT), c.port)):wait())
    assert.is_true(got.cut, "the trickling client was not cut")
    assert.is_true(got.after >= 0.9 and got.after < 3, "cut after " .. got.after)
    assert.equal('{"ok":true}', curl(q(c.url .. "/healthz")))
    local m = curl(q(c.url .. "/metrics"))
    assert.truthy(m:find("autolua_serve_read_timeouts_total 1", 1, true))
    c:stop()
  end)

  it("writes /metrics that prometheus_client parses, with requests, handler times and limiters", function()
    local py = io.open("/usr/bin/python3") and "/usr/bin/python3" or "python3"
    local c = serve_child(APP)
    for _ = 1, 3 do curl(q(c.url .. "/hello?name=x")) end
    curl(q(c.url .. "/nope"))
    local out = shell(("%s %s metrics %s"):format(py, q(CLIENT), q(c.url .. "/metrics"))):wait()
    local fams = assert(json.decode(out), out)
    local function sample(fam, name, labels)
      for _, s in ipairs(fams[fam].samples) do
        local match = s[1] == name
        for k, v in pairs(labels) do match = match and s[2][k] == v end
        if match then return s[3] end
      end
    end
    assert.equal("counter", fams["autolua_serve_requests"].type)
    assert.equal(3, sample("autolua_serve_requests", "autolua_serve_requests_total", { route = "GET /hello", status = "200" }))
    assert.equal(1, sample("autolua_serve_requests", "autolua_serve_requests_total", { route = "unmatched", status = "404" }))
    assert.equal("histogram", fams["autolua_serve_handler_seconds"].type)
    assert.equal(3, sample("autolua_serve_handler_seconds", "autolua_serve_handler_seconds_count", { route = "GET /hello" }))
    assert.equal(3, sample("autolua_serve_handler_seconds", "autolua_serve_handler_seconds_bucket", { route = "GET /hello", le = "+Inf" }))
    assert.equal(3, sample("autolua_limiter_acquired", "autolua_limiter_acquired_total", { limiter = "spec-serve" }))
    assert.equal(0, sample("autolua_limiter_429", "autolua_limiter_429_total", { limiter = "spec-serve" }))
    assert.equal("gauge", fams["autolua_limiter_queue_length"].type)
    assert.truthy(fams["autolua_limiter_wait_seconds"])
    c:stop()
  end)

  it("drains on SIGTERM: running handlers finish, new connections are refused, exit 0", function()
    local c = serve_child(APP, { "--grace", "5" })
    local slow = shell("curl -s -S -i " .. q(c.url .. "/sleep?s=0.5"))
    task.sleep(0.2)
    c:signal("TERM")
    task.sleep(0.1)
    local after = shell("curl -s -o /dev/null -w '%{http_code}' " .. q(c.url .. "/healthz")):wait()
    local out = slow:wait()
    assert.truthy(out:match("^HTTP/1.1 200"), out)
    assert.truthy(out:find("slept", 1, true))
    assert.equal("000", after)
    assert.equal(0, c:exit_code())
    c:stop()
    assert.truthy(c:stderr():find("SIGTERM: draining", 1, true))
  end)

  it("cancels handlers still running after --grace on SIGINT, answers 503 and exits 1", function()
    local c = serve_child(APP, { "--grace", "0.3" })
    local slow = shell("curl -s -S -o /dev/null -w '%{http_code}' " .. q(c.url .. "/sleep?s=10"))
    task.sleep(0.2)
    local t0 = task.now()
    c:signal("INT")
    assert.equal("503", slow:wait())
    assert.equal(1, c:exit_code())
    assert.is_true(task.now() - t0 < 4)
    c:stop()
    assert.truthy(c:stderr():find("cancelled 1 handler", 1, true))
  end)

  it("ends at once on a second signal during the drain", function()
    local c = serve_child(APP, { "--grace", "20" })
    local slow = shell("curl -s -o /dev/null -w '%{http_code}' " .. q(c.url .. "/sleep?s=20"))
    task.sleep(0.2)
    local t0 = task.now()
    c:signal("TERM")
    task.sleep(0.2)
    c:signal("INT")
    assert.equal(130, c:exit_code(5))         -- killed by SIGINT: 128 + 2
    assert.is_true(task.now() - t0 < 3)
    assert.equal("000", slow:wait())
    c:stop()
  end)

  it("stops a script's server when ^C cancels every task (130), answering 503", function()
    local c = serve_child({ script = [[
      local http = require "autolua.http"
      local task = require "autolua.task"
      local srv = http.serve { listen = "127.0.0.1:0", handler = function() task.sleep(30) end }
      io.stderr:write("listening on ", srv.url, "\n")
    ]] })
    local slow = shell("curl -s -S -o /dev/null -w '%{http_code}' " .. q(c.url .. "/"))
    task.sleep(0.3)
    c:signal("INT")
    assert.equal("503", slow:wait())
    assert.equal(130, c:exit_code())
    c:stop()
  end)

  it("explains its options with --help and refuses unknown ones", function()
    local r = S.run({ "serve", "--help" })
    assert.equal(0, r.code)
    assert.truthy(r.out:find("--max-body", 1, true))
    assert.truthy(r.out:find("--grace", 1, true))
    r = S.run({ "serve", "app.lua", "--bogus" })
    assert.equal(2, r.code)
    r = S.run({ "serve" })
    assert.equal(2, r.code)
    r = S.run({ "serve", "x.lua", "--listen", "nowhere" })
    assert.equal(2, r.code)
    -- a busy port: one line that says so, exit 1
    local srv = http.serve { listen = "127.0.0.1:0", handler = function() end }
    local dir = S.tmpdir()
    S.spit(dir .. "/a.lua", "return function() end")
    r = S.run({ "serve", dir .. "/a.lua", "--listen", "127.0.0.1:" .. srv.port })
    srv:close(0)
    os.execute("rm -rf " .. q(dir))
    assert.equal(1, r.code)
    assert.truthy(r.err:find("cannot listen on 127.0.0.1:" .. srv.port .. ": Address already in use", 1, true), r.err)
    assert.is_nil(r.err:find("traceback", 1, true))
  end)
end)
