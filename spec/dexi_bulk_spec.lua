-- dexi.bulk, the work over whole executions the recipes share: the distinct file pointers of
-- a result, and every file downloaded (what is already there skipped). A run's newest
-- execution is the client's (client:latest_execution, through dexi.finished in the recipes).
local bulk = require "dexi.bulk"
local dexi = require "dexi"
local S = require "support"

local EXEC_FILES = "ae101b8f-1326-451c-ada7-3eab3c0f8a91"    -- the file-pointer cases: 5 files

local function client()
  return dexi.client { account = "acc-test", api_key = "key-test", base_url = S.fake.dexi,
                       backoff = { base = 0.01, cap = 0.05 } }
end

describe("dexi.bulk", function()
  before_each(function() S.reset("dexi") end)

  it("finds each distinct file pointer of a result once, keeping the cell it came from", function()
    local list = bulk.pointers(client(), EXEC_FILES)
    assert.equal(5, #list)
    local seen = {}
    for _, fp in ipairs(list) do
      assert.is_nil(seen[fp.id])
      seen[fp.id] = true
      assert.equal(fp.id, dexi.file_pointer(fp.value).id)
      assert.equal("integer", math.type(fp.size))
    end
  end)

  it("downloads every file, then skips the ones already there with their size", function()
    local dir = S.tmpdir()
    local c = client()
    local s = bulk.download_all(c, EXEC_FILES, dir .. "/out", 2)
    assert.same({ 5, 5, 0, 0 }, { s.files, s.downloaded, s.skipped, s.failed })
    assert.equal(6, #S.ls(dir .. "/out"))   -- and the record of which file came from which id
    assert.is_string(S.slurp(dir .. "/out/" .. require("dexi.manifest").FILE))
    s = bulk.download_all(c, EXEC_FILES, dir .. "/out")
    assert.same({ 5, 0, 5, 0, 0 }, { s.files, s.downloaded, s.skipped, s.failed, s.bytes })
    os.execute("rm -rf " .. S.quote(dir))
  end)
end)
