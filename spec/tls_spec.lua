-- TLS trust with the cached CA stores (src/io/castore.h): the same trust as libcurl's own load
-- of the CA file for every connection, a store built once, and connections that never serve a
-- request with another trust than the one they were verified with.
local http = require "autolua.http"
local json = require "autolua.json"
local S = require "support"

-- An HTTP/2 server of this spec's own (scripts/h2server): the connections these specs leave in
-- the pool, verified with trusts of their own, must not change what another spec's requests to
-- the shared server find (libcurl opens a connection per request, not one to share, while the
-- pool holds a connection to the host with another trust). nil without nghttpd.
local function h2server()
  if not os.getenv("AUTOLUA_H2_STATE") then return nil end
  local dir = S.tmpdir()
  assert(os.execute(S.quote(S.source .. "/scripts/h2server") .. " " .. S.quote(dir) .. " >/dev/null"))
  local h2 = json.decode(S.slurp(dir .. "/h2.json"))
  function h2.stop()
    os.execute("kill " .. S.slurp(dir .. "/h2.pid"):match("%d+") .. "; rm -rf " .. S.quote(dir))
  end
  return h2
end

local function has(cmd) return os.execute("command -v " .. cmd .. " >/dev/null 2>&1") end

describe("TLS trust", function()
  it("refuses a ca_file that cannot be read, as libcurl's own load did", function()
    if not S.fake.misc_tls then pending("no openssl for the TLS fake") return end
    local dir = S.tmpdir()
    for _, ca in ipairs { dir .. "/missing.pem", dir } do   -- no such file; a directory
      local err = S.fails(http.request, { url = S.fake.misc_tls .. "/echo", ca_file = ca })
      assert.equal("network", err.kind)
      assert.equal("tls", err.code)
      assert.equal("error setting certificate file: " .. ca, err.message)
      assert.is_false(err.retryable)
    end
    os.execute("rm -rf " .. S.quote(dir))
    -- and the same file, once readable, works: a failure is not kept
    local res = http.request { url = S.fake.misc_tls .. "/echo", ca_file = S.fake.tls_ca }
    assert.equal(200, res.status)
  end)

  -- A connection verified with a ca_file stays in the pool; a request without one, to the same
  -- host, must make its own connection and fail (the throwaway certificate is in no system
  -- store), and the ca_file request after it still finds its pooled connection.
  local function keeps_apart(base, server_ca)
    -- a copy of its own: the connections this leaves in the pool match no other spec's requests
    local own = S.tmpdir()
    local ca = own .. "/ca.pem"
    S.spit(ca, S.slurp(server_ca))
    for _ = 1, 2 do
      assert.equal(200, http.request { url = base, ca_file = ca }.status)
      local res = http.request { url = base, ca_file = ca }
      assert.is_true(res.reused, "the ca_file connection is pooled")
      local err = S.fails(http.request, { url = base })
      assert.equal("network", err.kind)
      assert.equal("tls", err.code)
      assert.matches("certificate", err.message)
      -- a second ca_file with the same certificate is another trust: not this connection either
      local dir = S.tmpdir()
      S.spit(dir .. "/copy.pem", S.slurp(ca))
      res = http.request { url = base, ca_file = dir .. "/copy.pem" }
      assert.is_false(res.reused, "a request with another ca_file got a connection verified with the first")
      os.execute("rm -rf " .. S.quote(dir))
      assert.is_true(http.request { url = base, ca_file = ca }.reused)
    end
    os.execute("rm -rf " .. S.quote(own))
  end

  it("keeps a connection verified with a ca_file from serving a request without it (HTTP/1.1)", function()
    if not S.fake.misc_tls then pending("no openssl for the TLS fake") return end
    keeps_apart(S.fake.misc_tls .. "/echo", S.fake.tls_ca)
  end)

  it("keeps a connection verified with a ca_file from serving a request without it (HTTP/2)", function()
    local h2 = h2server()
    if not h2 then pending("nghttpd is not installed") return end
    finally(h2.stop)
    keeps_apart(h2.url .. "/small.json", h2.ca)
  end)

  it("reads a ca_file again when it changed, as a new connection did before", function()
    local h2 = h2server()
    if h2 then finally(h2.stop) end
    if not h2 or not S.fake.misc_tls then pending("nghttpd or openssl missing") return end
    local dir = S.tmpdir()
    local ca = dir .. "/ca.pem"
    local function get() return http.request { url = h2.url .. "/small.json", ca_file = ca, reuse = false } end
    -- first another certificate (the handshake fails, so no TLS session is kept that a later
    -- connection could resume without verifying), then the server's own
    S.spit(ca, S.slurp(S.fake.tls_ca))
    assert.equal("tls", S.fails(get).code)
    S.spit(ca, S.slurp(h2.ca))
    assert.equal(200, get().status)
    os.execute("rm -rf " .. S.quote(dir))
  end)

  it("loads each CA file once, not for every new connection (counted by strace)", function()
    local h2 = h2server()
    if not h2 then pending("nghttpd is not installed") return end
    finally(h2.stop)
    if not has("strace") or not has("curl-config") then pending("strace or curl-config missing") return end
    local p = io.popen("curl-config --ca")
    local bundle = p:read("l")
    p:close()
    -- the files a script opens (strace), for three new connections with the ca_file and three
    -- without it; 'env' is put before strace
    local function opens(env)
      local dir = S.tmpdir()
      local r = S.run_script(([[
        local http = require "autolua.http"
        for _ = 1, 3 do
          assert(http.request { url = %q, ca_file = %q, reuse = false }.status == 200)
          local ok, err = pcall(http.request, { url = %q, reuse = false })
          assert(not ok and err.code == "tls", "no ca_file: refused")
        end
      ]]):format(h2.url .. "/small.json", h2.ca, h2.url .. "/small.json"), nil,
        -- LeakSanitizer cannot run under ptrace: the sanitizer build checks leaks everywhere else
        { env = env .. " ASAN_OPTIONS=detect_leaks=0 strace -f -qq -e trace=open,openat -o " .. S.quote(dir .. "/trace") })
      assert.equal(0, r.code, r.err)
      local opened = {}
      for line in io.lines(dir .. "/trace") do
        local path = line:match('open[at]*%(.-"([^"]+)"')
        if path and not line:find("= %-1") then opened[path] = (opened[path] or 0) + 1 end
      end
      os.execute("rm -rf " .. S.quote(dir))
      return opened
    end
    local proxy_vars = "env -u http_proxy -u https_proxy -u HTTPS_PROXY -u all_proxy -u ALL_PROXY -u no_proxy -u NO_PROXY"
    local opened = opens(proxy_vars)
    assert.equal(1, opened[h2.ca], "the ca_file, for 3 new connections")
    if bundle and bundle ~= "" then
      assert.equal(1, opened[bundle], "the default CA bundle " .. bundle .. ", for 3 new connections")
    end
    -- with a proxy in the environment libcurl reads them itself, for every connection: an HTTPS
    -- proxy's handshake calls the same callback with the proxy's own trust
    opened = opens(proxy_vars .. " no_proxy=example.invalid")
    assert.equal(3, opened[h2.ca], "with a proxy variable set, libcurl's own load")
  end)

end)
