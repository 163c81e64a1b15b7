-- autolua.store: which store an option names, and one store per URL per process.
local S = require "support"
local store = require "autolua.store"

describe("autolua.store", function()
  it("takes the option, then AUTOLUA_STORE, then the SQLite default under XDG_STATE_HOME", function()
    assert.equal("memory", store.url("memory"))
    local r = S.run_script([[print(require("autolua.store").url())]], {}, { env = "env -u AUTOLUA_STORE XDG_STATE_HOME=/tmp/xs" })
    assert.equal("sqlite:/tmp/xs/autolua/state.db\n", r.out)
    r = S.run_script([[print(require("autolua.store").url())]], {}, { env = "AUTOLUA_STORE=redis://127.0.0.1:1" })
    assert.equal("redis://127.0.0.1:1\n", r.out)
  end)

  it("opens one store per URL in a process", function()
    local dir = S.tmpdir()
    local a = assert(store.open("sqlite:" .. dir .. "/s.db"))
    assert.equal(a, store.open("sqlite:" .. dir .. "/s.db"))
    assert.equal("sqlite", a:info().backend)
    assert.equal("memory", assert(store.open("memory")):info().backend)
    os.execute("rm -rf " .. S.quote(dir))
  end)

  it("answers a store that cannot be opened with kind = store, and a bad option with kind = argument", function()
    local s, err = store.open("sqlite:/dev/null/x.db")
    assert.is_nil(s)
    assert.equal("store", err.kind)
    assert.is_string(err.code)
    assert.equal("argument", S.fails(store.url, 42, "x").kind)
    assert.equal("argument", S.fails(getmetatable(assert(store.open("memory"))).__gc, 42).kind)
    local e = S.fails(store.must, "nonsense://x", "task.map")
    assert.equal("store", e.kind)
    assert.matches("task.map: cannot open the store", e.message, 1, true)
  end)

  it("parks the calling task and wakes it with the answer; a cancelled caller is left alone", function()
    local task = require "autolua.task"
    local s = assert(store.open("memory"))
    local t = task.spawn(function() return s:heartbeat("k", 5) end)
    t:cancel()
    assert.equal(1, s:heartbeat("k2", 5))
    local r = assert(s:reserve("k3", { kind = "rate", interval = 1, burst = 1 }, 1, 0))
    assert.is_true(r.granted)
    r = assert(s:reserve("k3", { kind = "rate", interval = 1, burst = 1 }, 1, 0))
    assert.is_false(r.granted)                       -- refused by max_wait, nothing reserved
  end)
end)
