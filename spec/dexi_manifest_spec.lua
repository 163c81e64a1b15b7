-- dexi.manifest: which file in a download directory came from which Dexi file id. Names are
-- claimed one per id (NAME~2.EXT for the next), never over a file the record does not give to
-- that id; the record DIR/.autolua-downloads.json is read back on the next run and rewritten
-- whole as files land. Real directories and files.
local S = require "support"
local json = require "autolua.json"
local task = require "autolua.task"
local manifest = require "dexi.manifest"

local function record_of(dir)
  return json.decode(S.slurp(dir .. "/" .. manifest.FILE))
end

local function count(t)
  local n = 0
  for _ in pairs(t) do n = n + 1 end
  return n
end

describe("dexi.manifest", function()
  local dir
  before_each(function() dir = S.tmpdir() end)
  after_each(function() os.execute("rm -rf " .. S.quote(dir)) end)

  it("gives each id a name of its own: the base, then NAME~2.EXT, NAME~3.EXT, ...", function()
    local m = manifest.open(dir)
    assert.equal("a.png", m:claim("id-1", "a.png"))
    assert.equal("a~2.png", m:claim("id-2", "a.png"))
    assert.equal("a~3.png", m:claim("id-3", "a.png"))
    assert.equal("a~2.png", m:claim("id-2", "other.png"))   -- an id keeps its name
    assert.equal("notes~2", (m:claim("id-4", "notes") and m:claim("id-5", "notes")))
    assert.equal("a.tar~2.gz", (m:claim("id-6", "a.tar.gz") and m:claim("id-7", "a.tar.gz")))
    assert.equal(".hidden~2", (m:claim("id-8", ".hidden") and m:claim("id-9", ".hidden")))
    assert.same({}, S.ls(dir))   -- claiming writes nothing
  end)

  it("folds case, for file systems that do", function()
    local m = manifest.open(dir)
    assert.equal("Photo.JPG", m:claim("id-1", "Photo.JPG"))
    assert.equal("photo~2.jpg", m:claim("id-2", "photo.jpg"))
    assert.equal("notes.txt", m:claim("id-3", "notes.txt"))
    assert.equal("NOTES~2.TXT", m:claim("id-4", "NOTES.TXT"))
  end)

  it("never takes the name of a file the record does not give to that id", function()
    S.spit(dir .. "/report.csv", "mine")
    local m = manifest.open(dir)
    assert.equal("report~2.csv", m:claim("id-1", "report.csv"))
    assert.is_false(m:owns("id-1", "report.csv"))
    assert.equal("mine", S.slurp(dir .. "/report.csv"))
  end)

  it("is one record per directory in a process, however the directory is spelled", function()
    local m = manifest.open(dir)
    assert.equal(m, manifest.open(dir .. "//"))
    assert.equal(dir .. "/x.png", m:path("x.png"))
    local other = S.tmpdir()
    assert.are_not.equal(m, manifest.open(other))
    m:claim("id-1", "x.png")
    assert.equal("x.png", manifest.open(other):claim("id-2", "x.png"))   -- another directory's names are its own
    os.execute("rm -rf " .. S.quote(other))
    assert.equal("/x", manifest.open("/"):path("x"))
  end)

  it("writes what a job recorded when the job ends, whole and with no temporary file left", function()
    local m = manifest.open(dir)
    m:begin()
    local name = m:claim("files/1", "one.bin")
    S.spit(m:path(name), "12345")
    m:record("files/1", name, 5)
    local second = m:claim("files/2", "one.bin")
    S.spit(m:path(second), "123")
    m:record("files/2", second, 3)
    m:finish()
    assert.same({ version = 1, files = { ["one.bin"] = { id = "files/1", size = 5 },
                                         ["one~2.bin"] = { id = "files/2", size = 3 } } }, record_of(dir))
    local names = S.ls(dir)
    table.sort(names)
    assert.same({ manifest.FILE, "one.bin", "one~2.bin" }, names)
  end)

  it("reads the record back: names kept per id, files there whole are had, others not", function()
    S.spit(dir .. "/" .. manifest.FILE, json.encode { version = 1, files = {
      ["a.png"] = { id = "id-a", size = 4 }, ["b.png"] = { id = "id-b", size = 9 },
      ["c.png"] = { id = "id-c" }, ["gone.png"] = { id = "id-gone", size = 1 },
      ["junk"] = { id = 7 }, ["junk2"] = "not a table" } })
    S.spit(dir .. "/a.png", "aaaa")
    S.spit(dir .. "/b.png", "short")       -- cut short: 5 bytes, not 9
    S.spit(dir .. "/c.png", "cc")
    S.spit(dir .. "/junk", "j")
    local m = manifest.open(dir)
    assert.equal("a.png", m:has("id-a", 4))
    assert.equal("a.png", m:has("id-a"))
    assert.is_nil(m:has("id-a", 5))         -- the API says another size
    assert.is_nil(m:has("id-b"))
    assert.equal("c.png", m:has("id-c", 2))
    assert.is_nil(m:has("id-gone"))
    assert.is_nil(m:has("id-new"))
    assert.is_true(m:owns("id-b", "b.png"))
    assert.is_false(m:owns("id-a", "b.png"))
    assert.is_false(m:owns("id-a", "nothing.png"))
    assert.equal("b.png", m:claim("id-b", "whatever.png"))   -- its recorded name, to be replaced
    assert.equal("a~2.png", m:claim("id-x", "a.png"))
    assert.equal("gone~2.png", m:claim("id-y", "gone.png"))  -- still the record's, file or not
    assert.equal("junk~2", m:claim("id-z", "junk"))           -- an entry unreadable: the file is not ours
  end)

  it("refuses a record it cannot read, naming it, and leaves it as it was", function()
    S.spit(dir .. "/" .. manifest.FILE, "{not json")
    local err = S.fails(manifest.open, dir)
    assert.equal("decode", err.kind)
    assert.equal("manifest", err.code)
    assert.truthy(err.message:find(dir .. "/" .. manifest.FILE, 1, true), err.message)
    assert.matches("move it away", err.message)
    assert.equal("{not json", S.slurp(dir .. "/" .. manifest.FILE))
    S.spit(dir .. "/" .. manifest.FILE, '{"version":1}')
    assert.equal("manifest", S.fails(manifest.open, dir).code)
  end)

  it("writes single downloads' records at once, then at most every second, and all of them", function()
    local m = manifest.open(dir)
    m:record("id-1", m:claim("id-1", "1.txt"), 1)
    assert.equal(1, count(record_of(dir).files))      -- the first at once
    m:record("id-2", m:claim("id-2", "2.txt"), 2)
    m:record("id-3", m:claim("id-3", "3.txt"), 3)
    assert.equal(1, count(record_of(dir).files))      -- the next ones wait
    task.sleep(1.3)
    assert.equal(3, count(record_of(dir).files))      -- and are written by then
  end)

  it("does not fail when the directory went away with its files", function()
    local sub = dir .. "/sub"
    os.execute("mkdir " .. S.quote(sub))
    local m = manifest.open(sub)
    m:begin()
    m:record("id-1", m:claim("id-1", "x"), 1)
    os.execute("rm -rf " .. S.quote(sub))
    m:finish()
    assert.same({}, S.ls(dir))
  end)
end)
