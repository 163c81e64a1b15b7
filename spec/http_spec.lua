local http = require "autolua.http"
local task = require "autolua.task"
local S = require "support"

local function url(path) return S.url("misc", path) end

describe("autolua.http", function()
  it("sends method, query, headers and a JSON body", function()
    local res = http.request {
      method = "post", url = url("/echo"), query = { q = "a b&c", n = 3, list = { "x", "y" } },
      headers = { ["X-Test"] = "yes" }, json = { a = 1, list = { 1, 2 } },
    }
    assert.equal(200, res.status)
    assert.equal("application/json", res.headers["content-type"])
    local echo = res:json()
    assert.equal("POST", echo.method)
    assert.same({ "a b&c" }, echo.query.q)
    assert.same({ "x", "y" }, echo.query.list)
    assert.equal("yes", echo.headers["x-test"])
    assert.equal("application/json", echo.headers["content-type"])
    assert.matches("^autolua/", echo.headers["user-agent"])
    assert.same({ a = 1, list = { 1, 2 } }, echo.json)
    assert.equal(#res.body, res.bytes)
    assert.matches("/echo%?list=x&list=y&n=3&q=a%%20b%%26c$", res.url)
  end)

  it("refuses a query with more parameters than a Lua stack holds with kind = argument", function()
    -- in a process of its own: the table is large, and a spec below checks this one's peak RSS
    local r = S.run_script(([[
      local q = {}
      for i = 1, 600000 do q[i .. ""] = "" end
      local ok, err = pcall(require("autolua.http").request, { url = %q, query = q })
      print(type(err) == "table" and err.kind, type(err) == "table" and err.message or err)
    ]]):format(url("/echo")))
    assert.equal(0, r.code, r.err)
    assert.matches("^argument\thttp.request: the query has too many parameters", r.out)
  end)

  it("sends its own User-Agent and Accept-Encoding unless the caller names them", function()
    local echo = http.request { url = url("/echo") }:json()
    assert.matches("^autolua/%d+%.%d+", echo.headers["user-agent"])
    assert.equal("gzip", echo.headers["accept-encoding"])
    assert.is_nil(echo.headers["expect"])
    echo = http.request {
      url = url("/echo"), headers = { ["user-agent"] = "mine/1", ["Accept-Encoding"] = "identity" },
    }:json()
    assert.equal("mine/1", echo.headers["user-agent"])        -- replaced, not joined with ours
    assert.equal("identity", echo.headers["accept-encoding"])
    echo = http.request { url = url("/echo"), headers = { ["X-One"] = "1" }, json = { a = 1 } }:json()
    assert.equal("1", echo.headers["x-one"])
    assert.matches("^autolua/", echo.headers["user-agent"])
    assert.equal("gzip", echo.headers["accept-encoding"])
    assert.equal("application/json", echo.headers["content-type"])
    -- a large body goes at once, without waiting for a 100 Continue
    for _, headers in ipairs { {}, { ["X-One"] = "1" } } do
      echo = http.request { method = "PUT", url = url("/echo"), body = ("x"):rep(1100000), headers = headers }:json()
      assert.is_nil(echo.headers.expect)
      assert.equal(1100000, #echo.body)
    end
  end)

  it("makes res.headers on first read, a plain table that pairs(res) shows too", function()
    local res = http.request { url = url("/echo") }
    local seen = {}
    for k, v in pairs(res) do seen[k] = v end
    assert.is_table(seen.headers)
    assert.is_nil(getmetatable(seen.headers))
    assert.equal("application/json", seen.headers["content-type"])
    for k in pairs(res) do assert.is_string(k) end               -- nothing private shows
    res = http.request { url = url("/echo") }
    assert.equal(res.headers, res.headers)                        -- made once
    assert.equal("application/json", rawget(res, "headers")["content-type"])
    res = http.request { url = url("/echo") }
    res.headers = { mine = "1" }                                  -- set before any read: kept
    assert.same({ mine = "1" }, res.headers)
    assert.is_function(res.json)
  end)

  it("sets bytes, version, elapsed and reused with the headers, each read or pairs(res) alike", function()
    local function figures(res)
      return { bytes = res.bytes, version = res.version, reused = res.reused,
               elapsed = type(res.elapsed), headers = res.headers["content-type"] }
    end
    http.request { url = url("/echo") }                           -- the connection the rest reuse
    local want = { bytes = #http.request { url = url("/echo") }.body, version = "1.1", reused = true,
                   elapsed = "number", headers = "application/json" }
    for _, field in ipairs { "bytes", "version", "elapsed", "reused", "headers" } do
      local res = http.request { url = url("/echo") }
      assert.is_not_nil(res[field])                               -- the first read of one
      assert.same(want, figures(res))                             -- sets them all
    end
    local res, seen = http.request { url = url("/echo") }, {}
    for k, v in pairs(res) do seen[k] = v end
    assert.same(want, figures(seen))
    assert.is_true(seen.elapsed > 0 and seen.elapsed < 10)
    res = http.request { url = url("/echo") }
    res.bytes, res.reused = "mine", false                         -- set before any read: kept
    assert.same({ "mine", false, "1.1" }, { res.bytes, res.reused, res.version })
    assert.is_nil(res.nothing)
  end)

  it("returns non-2xx statuses instead of raising", function()
    local res = http.request { url = url("/status/404") }
    assert.equal(404, res.status)
    assert.same({ status = 404 }, res:json())
    assert.equal(503, http.request { url = url("/status/503") }.status)
  end)

  it("reuses connections", function()
    http.request { url = url("/echo") }
    local res = http.request { url = url("/echo") }
    assert.is_true(res.reused)
  end)

  it("closes the connection of a request with reuse = false once it is done", function()
    -- a call that must not be repeated gets a connection of its own; kept, each would wait
    -- idle, and a run of such calls would hold one descriptor apiece up to the cap
    local r = S.run_script(([[
      local http = require "autolua.http"
      local function open_descriptors()
        local stat = io.open("/proc/self/stat")
        local ls = io.popen("ls /proc/" .. stat:read("n") .. "/fd")
        stat:close()
        local n = 0
        for _ in ls:lines() do n = n + 1 end
        ls:close()
        return n
      end
      assert(http.request { url = %q }.status == 200)
      local before = open_descriptors()
      for _ = 1, 20 do
        local res = http.request { method = "POST", url = %q, json = {}, reuse = false }
        assert(res.status == 200 and not res.reused)
      end
      local res = http.request { url = %q }
      print(open_descriptors() - before, res.reused)
    ]]):format(url("/echo"), url("/echo"), url("/echo")))
    assert.equal(0, r.code, r.err)
    assert.equal("0\ttrue", r.out:match("^[^\n]*"))
  end)

  it("sends each request where its own URL says when one handle serves URL after URL", function()
    -- a pooled handle keeps the URL it fetched last, parsed once (CURLOPT_CURLU, http.c): a
    -- request with another host, port, path or query must not go where the last one went
    local port = url("/"):match("^http://[^/]*:(%d+)/")
    local function echo(u)
      local res = http.request { url = u }
      assert.equal(200, res.status, u)
      return res:json()
    end
    local function check(u, path, query, host)
      local e = echo(u)
      assert.equal(path, e.path, u)
      assert.same(query, e.query, u)
      assert.equal(host, e.headers.host, u)
    end
    check(url("/echo?a=1"), "/echo", { a = { "1" } }, "127.0.0.1:" .. port)
    check("http://localhost:" .. port .. "/echo", "/echo", {}, "localhost:" .. port)
    S.reset("dx")
    local res = http.request { url = S.url("dx", "/elsewhere?x=1") }   -- another server's port
    local seen = S.requests("dx")
    assert.equal("/elsewhere", seen[#seen].path, res.body)
    assert.same({ x = { "1" } }, seen[#seen].query)
    check(url("/echo?b=2&b=3"), "/echo", { b = { "2", "3" } }, "127.0.0.1:" .. port)
    for _ = 1, 2 do check(url("/echo?a=1"), "/echo", { a = { "1" } }, "127.0.0.1:" .. port) end
    assert.equal(404, http.request { url = url("/status/404") }.status)
    check(url("/echo"), "/echo", {}, "127.0.0.1:" .. port)
  end)

  it("keeps its connections open between bursts (the connection cache is not sized by chance)", function()
    -- libcurl sizes its cache at 4x the handles in flight when none is set; as a burst ends that
    -- count runs low, and connections the next burst needs were closed (and opened again)
    S.reset("misc")
    local urls = {}
    for i = 1, 48 do urls[i] = url("/delay?s=0.1") end
    for _ = 1, 2 do
      task.each(urls, function(u) assert.equal(200, http.request { url = u }.status) end, { concurrency = 48 })
    end
    local peers, n = {}, 0
    for _, r in ipairs(S.requests("misc")) do
      if not peers[r.peer] then n = n + 1 end
      peers[r.peer] = true
    end
    assert.is_true(n <= 48, n .. " connections for two bursts of 48 concurrent requests")
  end)

  it("takes a proxy from the environment as libcurl reads it (http_proxy, all_proxy, no_proxy)", function()
    -- a .invalid host never resolves: an answer means the request went through the proxy, here
    -- the fake server, which serves an absolute-form target as its path
    local code = [[
      local ok, res = pcall(require("autolua.http").request, { url = "http://proxied.invalid/echo" })
      print(ok and res.status .. " " .. res:json().headers.host or res.code)
    ]]
    local clean = "env -u http_proxy -u https_proxy -u HTTPS_PROXY -u all_proxy -u ALL_PROXY -u no_proxy -u NO_PROXY "
    local proxy = S.url("misc", "/")
    local function via(vars)
      local r = S.run_script(code, {}, { env = clean .. vars })
      assert.equal(0, r.code, r.err)
      return r.out
    end
    assert.equal("dns\n", via(""))
    assert.equal("200 proxied.invalid\n", via("http_proxy=" .. proxy))
    assert.equal("200 proxied.invalid\n", via("ALL_PROXY=" .. proxy))
    assert.equal("dns\n", via("http_proxy=" .. proxy .. " no_proxy=.invalid"))
    assert.equal("dns\n", via("HTTP_PROXY=" .. proxy))   -- libcurl never reads it (CGI's Proxy: header)
  end)

  it("accepts gzip and decodes it", function()
    local res = http.request { url = url("/gzip") }
    assert.equal("gzip", res.headers["content-encoding"])
    assert.is_true(res:json().compressed)
  end)

  it("does not block the loop: 50 one-second requests take about one second", function()
    local t0 = task.now()
    local items = {}
    for i = 1, 50 do items[i] = i end
    local statuses = task.map(items, function()
      return http.request { url = url("/delay?s=1") }.status
    end, { concurrency = 50 })
    local dt = task.now() - t0
    assert.equal(50, #statuses)
    assert.is_true(dt < 10, "took " .. dt .. " s")
  end)

  it("keeps other tasks running while a request waits", function()
    local ticks = 0
    local ticker = task.spawn(function() for _ = 1, 10 do task.sleep(0.02); ticks = ticks + 1 end end)
    http.request { url = url("/delay?s=0.5") }
    assert.equal(10, ticks)
    ticker:wait()
  end)

  describe("redirects", function()
    it("are returned unless follow is set", function()
      local res = http.request { url = url("/redirect?to=/echo") }
      assert.equal(302, res.status)
      res = http.request { url = url("/redirect?to=/echo"), follow = true }
      assert.equal(200, res.status)
      assert.matches("/echo$", res.url)
    end)

    it("never carry credentials to another origin", function()
      local other = url("/headers"):gsub("127%.0%.0%.1", "localhost")
      local res = http.request {
        url = url("/redirect"), query = { to = other }, follow = true,
        headers = { Authorization = "Bearer s3cret", ["X-DexiIO-Access"] = "hash", Accept = "application/json" },
      }
      assert.equal(200, res.status)
      local seen = res:json()
      assert.is_nil(seen.authorization)
      assert.is_nil(seen["x-dexiio-access"])
      assert.equal("application/json", seen.accept)
      local same = http.request {
        url = url("/redirect?to=/headers"), follow = true, headers = { Authorization = "Bearer s3cret" },
      }
      assert.equal("Bearer s3cret", same:json().authorization)
    end)

    it("turn a 303 after a POST into a GET", function()
      local res = http.request {
        method = "POST", url = url("/redirect?to=/echo&status=303"), json = { x = 1 }, follow = true,
      }
      assert.equal("GET", res:json().method)
    end)

    it("check the headers again when they changed before the redirect came", function()
      local headers = { ["X-A"] = "1" }
      local t = task.spawn(function()
        return http.request { url = url("/redirect?to=/headers&delay=0.3"), follow = true, headers = headers }
      end)
      task.sleep(0.1)
      headers["X-B"] = "a\r\nInjected: yes"
      local ok, err = pcall(t.wait, t)
      assert.is_false(ok)
      assert.equal("argument", err.kind)
      assert.matches("line break", err.message)
    end)

    it("stop a loop with a clear error", function()
      local ok, err = pcall(http.request, { url = url("/redirect_loop"), follow = true })
      assert.is_false(ok)
      assert.equal("http", err.kind)
      assert.equal("redirects", err.code)
    end)
  end)

  describe("sinks", function()
    it("stream a large body to a file, renamed only when complete", function()
      local dir = S.tmpdir()
      local n = 24 * 1024 * 1024 + 7
      local res = http.request { url = url("/bytes?seed=big&n=" .. n), sink = dir .. "/big.bin" }
      assert.equal(200, res.status)
      assert.is_nil(res.body)
      assert.equal(n, res.bytes)
      assert.equal(dir .. "/big.bin", res.path)
      local want = http.request { url = url("/bytes_sha256?seed=big&n=" .. n) }:json().sha256
      assert.equal(want, S.sha256(dir .. "/big.bin"))
      assert.same({ "big.bin" }, S.ls(dir))
      os.execute("rm -rf " .. dir)
    end)

    it("leave nothing at the path when the body is truncated", function()
      local dir = S.tmpdir()
      local ok, err = pcall(http.request, { url = url("/truncated?n=100000&at=5000"), sink = dir .. "/t.bin" })
      assert.is_false(ok)
      assert.equal("network", err.kind)
      assert.equal("truncated", err.code)
      assert.is_true(err.retryable)
      assert.same({}, S.ls(dir))
      os.execute("rm -rf " .. dir)
    end)

    it("write nothing for a non-2xx answer, whose body stays in memory", function()
      local dir = S.tmpdir()
      local res = http.request { url = url("/status/404"), sink = dir .. "/x.bin" }
      assert.equal(404, res.status)
      assert.same({ status = 404 }, res:json())
      assert.same({}, S.ls(dir))
      os.execute("rm -rf " .. dir)
    end)

    it("give the downloaded file 0666 & ~umask, as curl -o does", function()
      local dir = S.tmpdir()
      local r = S.run_script(("require('autolua.http').request { url = %q, sink = %q }")
        :format(url("/bytes?n=10"), dir .. "/f.bin"), {}, { env = "umask 027;" })
      assert.equal(0, r.code, r.err)
      local p = io.popen("stat -c %a " .. S.quote(dir .. "/f.bin"))
      assert.equal("640", p:read("l"))
      p:close()
      os.execute("rm -rf " .. S.quote(dir))
    end)

    it("with replace = false, keep a file that appeared at the path during the transfer", function()
      local dir = S.tmpdir()
      local path = dir .. "/f.txt"
      local writer = task.spawn(function() task.sleep(0.2); S.spit(path, "theirs") end)
      local err = S.fails(http.request, { url = url("/slow_body?chunks=5&interval=0.1"), sink = path, replace = false })
      writer:wait()
      assert.equal("http", err.kind)
      assert.equal("io", err.code)
      assert.matches("File exists", err.message)
      assert.equal("theirs", S.slurp(path))
      assert.same({ "f.txt" }, S.ls(dir))
      assert.equal(40, http.request { url = url("/slow_body?chunks=5&interval=0"), sink = path }.bytes)
      assert.equal("chunk 0\n", S.slurp(path):sub(1, 8))    -- replace is the default
      assert.equal("argument", S.fails(http.request, { url = url("/echo"), replace = false }).kind)
      os.execute("rm -rf " .. S.quote(dir))
    end)

    it("refuse a path in a missing directory before sending", function()
      local ok, err = pcall(http.request, { url = url("/echo"), sink = "/nonexistent-dir/x.bin" })
      assert.is_false(ok)
      assert.equal("argument", err.kind)
      assert.matches("directory does not exist", err.message)
    end)

    it("hand chunks to a function that may itself wait", function()
      local parts, total = 0, 0
      local res = http.request {
        url = url("/bytes?seed=f&n=3000000"),
        sink = function(chunk) parts = parts + 1; total = total + #chunk; task.sleep(0.001) end,
      }
      assert.equal(200, res.status)
      assert.equal(3000000, total)
      assert.equal(3000000, res.bytes)
      assert.is_true(parts >= 2)
    end)

    it("stop the transfer when the function raises", function()
      local ok, err = pcall(http.request, {
        url = url("/bytes?seed=f&n=3000000"), sink = function() error("enough", 0) end,
      })
      assert.is_false(ok)
      assert.equal("enough", err)
    end)
  end)

  describe("size caps", function()
    local dir
    before_each(function() dir = S.tmpdir() end)
    after_each(function() os.execute("rm -rf " .. S.quote(dir)) end)

    it("stop a file download as soon as the body passes expect_bytes", function()
      local t0 = task.now()
      local err = S.fails(http.request, { url = url("/slow_body?chunks=100&interval=0.1"), sink = dir .. "/x.txt",
                                          expect_bytes = 10 })
      assert.is_true(task.now() - t0 < 5, "waited for the whole 10 s body")
      assert.equal("http", err.kind)
      assert.equal("too_large", err.code)
      assert.is_false(err.retryable)
      assert.matches("longer than the 10 bytes expected", err.message)
      assert.same({}, S.ls(dir))
    end)

    it("count decoded bytes, so a gzip bomb stops at expect_bytes", function()
      local err = S.fails(http.request, { url = url("/gzip_bomb"), sink = dir .. "/bomb.bin", expect_bytes = 1048576 })
      assert.equal("too_large", err.code)
      assert.same({}, S.ls(dir))
    end)

    it("cap a body kept in memory: max_body, 64 MiB unless given", function()
      local err = S.fails(http.request, { url = url("/json?size=5000"), max_body = 1000 })
      assert.equal("http", err.kind)
      assert.equal("too_large", err.code)
      assert.matches("'max_body' %(1000 bytes%)", err.message)
      assert.equal(200, http.request { url = url("/json?size=5000"), max_body = 10000 }.status)
      err = S.fails(http.request, { url = url("/gzip_bomb") })       -- 2 MiB that decodes to 2 GiB
      assert.equal("too_large", err.code)
      assert.matches("67108864 bytes", err.message)
      local f = assert(io.open("/proc/self/status"))
      local peak = tonumber(f:read("a"):match("VmHWM:%s*(%d+) kB"))
      f:close()
      assert.is_true(peak < 512 * 1024, ("peak RSS %d kB"):format(peak))
      local big = http.request { url = url("/bytes?n=70000000&seed=m"), max_body = false }
      assert.equal(70000000, #big.body)
    end)

    it("apply max_body to a function sink and to a file sink when given", function()
      local total = 0
      local err = S.fails(http.request, { url = url("/bytes?n=3000000&seed=s"), max_body = 100000,
                                          sink = function(chunk) total = total + #chunk end })
      assert.equal("too_large", err.code)
      assert.is_true(total <= 100000)
      err = S.fails(http.request, { url = url("/bytes?n=3000000&seed=s"), max_body = 100000, sink = dir .. "/f.bin" })
      assert.equal("too_large", err.code)
      assert.same({}, S.ls(dir))
      assert.equal(3000000, http.request { url = url("/bytes?n=3000000&seed=s"), sink = dir .. "/f.bin" }.bytes)
    end)

    it("give a file sink no cap unless max_body is given (a download past 64 MiB)", function()
      local n = 64 * 1024 * 1024 + 4096
      local res = http.request { url = url("/bytes?n=" .. n .. "&seed=b"), sink = dir .. "/big.bin" }
      assert.equal(n, res.bytes)
      local f = assert(io.open(dir .. "/big.bin", "rb"))
      assert.equal(n, f:seek("end"))
      f:close()
      os.remove(dir .. "/big.bin")
    end)

    it("refuse a max_body that is not a byte count", function()
      for _, v in ipairs { -1, 1.5, "10", true, {} } do
        assert.equal("argument", S.fails(http.request, { url = url("/echo"), max_body = v }).kind)
      end
    end)
  end)

  describe("failures raise structured errors", function()
    local function fails(opts)
      local ok, err = pcall(http.request, opts)
      assert.is_false(ok)
      assert.is_table(err)
      assert.equal("string", type(tostring(err)))
      return err
    end

    it("connection refused", function()
      local err = fails { url = "http://127.0.0.1:1/x" }
      assert.equal("network", err.kind)
      assert.equal("refused", err.code)
      assert.is_true(err.retryable)
      assert.equal("GET", err.method)
      assert.equal(1, err.attempts)
      assert.matches("^network: GET http://127%.0%.0%.1:1/x: ", tostring(err))
    end)

    it("DNS failure", function()
      local err = fails { url = "http://no-such-host.invalid/" }
      assert.equal("network", err.kind)
      assert.equal("dns", err.code)
    end)

    it("connection reset", function()
      local err = fails { url = url("/reset") }
      assert.equal("network", err.kind)
      assert.equal("reset", err.code)
    end)

    it("timeout", function()
      local t0 = task.now()
      local err = fails { url = url("/delay?s=3"), timeout = 0.3 }
      assert.equal("timeout", err.kind)
      assert.is_true(task.now() - t0 < 2)
    end)

    it("TLS: an untrusted certificate is refused, a trusted one works", function()
      if not S.fake.misc_tls then pending("no openssl for the TLS fake") return end
      local err = fails { url = S.fake.misc_tls .. "/echo" }
      assert.equal("network", err.kind)
      assert.equal("tls", err.code)
      local res = http.request { url = S.fake.misc_tls .. "/echo", ca_file = S.fake.tls_ca }
      assert.equal(200, res.status)
    end)

    it("secrets in the URL are redacted", function()
      local err = fails { url = "http://user:pw@127.0.0.1:1/x?api_key=abc&page=2" }
      assert.not_matches("pw", tostring(err))
      assert.not_matches("abc", tostring(err))
      assert.matches("page=2", err.url)
    end)

    it("invalid JSON in res:json()", function()
      local res = http.request { url = url("/invalid_json") }
      local ok, err = pcall(res.json, res)
      assert.is_false(ok)
      assert.equal("decode", err.kind)
      assert.equal(200, err.status)
    end)

    it("argument mistakes, before anything is sent", function()
      local function arg_error(opts, pattern)
        local err = fails(opts)
        assert.equal("argument", err.kind)
        assert.matches(pattern, err.message)
      end
      arg_error({ url = "ftp://example.com/" }, "unsupported URL scheme")
      arg_error({ url = "example.com/x" }, "not an absolute")
      -- white space or a control byte anywhere (the check reads eight bytes at a time), and
      -- nothing else: the bytes around the limits, at every place of tails of 1 to 17 bytes
      for len = 1, 17 do
        for pos = 1, len do
          for _, b in ipairs { 0x01, 0x09, 0x1f, 0x20, 0x21, 0x7e, 0x7f, 0x80, 0xff } do
            local tail = ("a"):rep(pos - 1) .. string.char(b) .. ("a"):rep(len - pos)
            local err = fails { url = "http://127.0.0.1:1/" .. tail }
            if b <= 0x20 or b == 0x7f then
              assert.equal("argument", err.kind)
              assert.matches("white space or control", err.message)
            else
              assert.equal("network", err.kind, ("byte %d at %d of %d: %s"):format(b, pos, len, err.message))
            end
          end
        end
      end
      arg_error({ url = url("/echo"), timeout = "abc" }, "'timeout' must be a positive number")
      arg_error({ url = url("/echo"), timeout = -1 }, "'timeout'")
      arg_error({ url = 42 }, "'url' must be a string")
      arg_error({ url = url("/echo"), headers = { ["X-A"] = "a\r\nX-B: b" } }, "line break")
      arg_error({ url = url("/echo"), body = "x", json = {} }, "not both")
      arg_error({ url = url("/echo"), sink = 5 }, "'sink'")
      arg_error({ url = url("/echo"), method = "GE T" }, "not an HTTP method")
      arg_error({ url = url("/echo"), query = { k = {} , [1] = "x" } }, "query")
      arg_error({ url = url("/echo"), timeuot = 3 }, "unknown option 'timeuot'")
      arg_error({ url = url("/echo"), headers = { ["X-A"] = "1" }, [1] = "x" }, "unknown option")
      local ok, err = pcall(http.request, "http://x/")
      assert.is_false(ok)
      assert.equal("argument", err.kind)
    end)
  end)

  it("speaks HTTP/2 when the server offers it", function()
    local state = os.getenv("AUTOLUA_H2_STATE")
    if not state then pending("nghttpd is not installed") return end
    local h2 = require("autolua.json").decode(S.slurp(state))
    local results = task.map({ 1, 2, 3, 4, 5, 6, 7, 8 }, function()
      return http.request { url = h2.url .. "/small.json", ca_file = h2.ca }
    end, { concurrency = 8 })
    local fresh = 0
    for _, res in ipairs(results) do
      assert.equal(200, res.status)
      assert.equal("2", res.version)
      if not res.reused then fresh = fresh + 1 end
    end
    assert.equal(1, fresh)   -- one connection, multiplexed
  end)

  it("puts 64 concurrent HTTP/2 requests on one connection, counted on the server's side too", function()
    local state = os.getenv("AUTOLUA_H2_STATE")
    if not state then pending("nghttpd is not installed") return end
    local h2 = require("autolua.json").decode(S.slurp(state))
    local port = tonumber(h2.url:match(":(%d+)$"))
    -- TCP connections to the server's port, from /proc/net/tcp: remote port, state 01 (open)
    local function open_to_server()
      local n = 0
      for line in io.lines("/proc/net/tcp") do
        local rport, st = line:match("^%s*%d+: %x+:%x+ %x+:(%x+) (%x+)")
        if rport and tonumber(rport, 16) == port and st == "01" then n = n + 1 end
      end
      return n
    end
    local before = open_to_server()
    local list = {}
    for i = 1, 64 do list[i] = i end
    local fresh = 0
    task.each(list, function()
      local res = http.request { url = h2.url .. "/small.json", ca_file = h2.ca }
      assert.equal(200, res.status)
      assert.equal("2", res.version)
      if not res.reused then fresh = fresh + 1 end
    end, { concurrency = 64 })
    assert.is_true(fresh <= 1, fresh .. " connections opened for 64 concurrent requests")
    local opened = open_to_server() - before
    assert.is_true(opened <= 1, opened .. " more connections open to the server")
  end)

  it("trusts a ca_file only for the requests that name it", function()
    local state = os.getenv("AUTOLUA_H2_STATE")
    if not state then pending("nghttpd is not installed") return end
    local h2 = require("autolua.json").decode(S.slurp(state))
    local function get(ca) return http.request { url = h2.url .. "/small.json", ca_file = ca, reuse = false } end
    for _ = 1, 3 do
      assert.equal(200, get(h2.ca).status)            -- the pooled handle keeps the file set
      local err = S.fails(get)                        -- and forgets it for a request without one
      assert.equal("network", err.kind)
      assert.equal("tls", err.code)
    end
  end)
end)
