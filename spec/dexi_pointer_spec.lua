-- The pure functions of the dexi module: file pointers, file paths, rows as records.
-- No server involved.
local dexi = require "dexi"
local json = require "autolua.json"

local UPPER = "6F0C4A2E-3B5D-4C1E-9A7B-2D8E5F1A0C93"
local LOWER = "11fed7f0-a508-4dc8-956a-481535c6f88a"
local PATH_ID = "accounts/acc-test/robots/r1/runs/u1/executions/e1/results/res1/lines/line-7/ImageFile"

local function raises_argument(fn, ...)
  local ok, err = pcall(fn, ...)
  assert.is_false(ok)
  assert.is_table(err)
  assert.equal("argument", err.kind)
  return err
end

describe("dexi.file_pointer", function()
  it("parses the documented form with an upper-case UUID", function()
    local fp = dexi.file_pointer("FILE:image/png;432123;" .. UPPER)
    assert.same({ mime = "image/png", size = 432123, id = UPPER, extra = {} }, fp)
    assert.equal("integer", math.type(fp.size))
  end)

  it("keeps a lower-case UUID as it is", function()
    local fp = dexi.file_pointer("FILE:image/png;26071;" .. LOWER)
    assert.equal(LOWER, fp.id)
    assert.equal(26071, fp.size)
  end)

  it("accepts MIME types with +, . and - (image/svg+xml and friends)", function()
    assert.equal("image/svg+xml", dexi.file_pointer("FILE:image/svg+xml;1234;abc").mime)
    assert.equal("application/vnd.ms-excel", dexi.file_pointer("FILE:application/vnd.ms-excel;1;abc").mime)
  end)

  it("takes a path-style id whole, slashes and all", function()
    local fp = dexi.file_pointer("FILE:image/jpeg;2974;" .. PATH_ID)
    assert.equal(PATH_ID, fp.id)
    assert.equal("image/jpeg", fp.mime)
    assert.equal(2974, fp.size)
  end)

  it("keeps a prefix before accounts/ in the id (file_path drops it)", function()
    local fp = dexi.file_pointer("FILE:image/jpeg;10;s3-eu-west-1/" .. PATH_ID)
    assert.equal("s3-eu-west-1/" .. PATH_ID, fp.id)
  end)

  it("keeps later fields in extra and never glues them onto the id", function()
    local fp = dexi.file_pointer("FILE:image/jpeg;5120;" .. LOWER .. ";x-extra;42")
    assert.equal(LOWER, fp.id)
    assert.same({ "x-extra", "42" }, fp.extra)
    fp = dexi.file_pointer("FILE:image/png;7;" .. UPPER .. ";thumb")
    assert.equal(UPPER, fp.id)
    assert.same({ "thumb" }, fp.extra)
  end)

  it("keeps spaces and + inside the id", function()
    local id = "legacy-store/accounts/acc-test/lines/b2/Image File+1"
    local fp = dexi.file_pointer("FILE:image/jpeg;5120;" .. id .. ";x-extra;42")
    assert.equal(id, fp.id)
    assert.same({ "x-extra", "42" }, fp.extra)
  end)

  it("accepts a zero size", function()
    assert.equal(0, dexi.file_pointer("FILE:text/plain;0;empty").size)
  end)

  describe("returns nil and a reason for", function()
    local cases = {
      { "a bare FILE:", "FILE:" },
      { "FILE:a;b;c", "FILE:a;b;c" },
      { "a non-numeric size", "FILE:image/png;b;c" },
      { "a negative size", "FILE:image/png;-1;c" },
      { "a fractional size", "FILE:image/png;1.5;c" },
      { "a size with a space", "FILE:image/png; 12;c" },
      { "an absurd size", "FILE:image/png;12345678901234567890;c" },
      { "an empty id", "FILE:image/png;12;" },
      { "an empty id before extras", "FILE:image/png;12;;extra" },
      { "no id at all", "FILE:image/png;12" },
      { "no size", "FILE:image/png" },
      { "a MIME type without a subtype", "FILE:image/;1;x" },
      { "a MIME type without a slash", "FILE:png;1;x" },
      { "a control character in the id", "FILE:image/png;1;abc\r" },
      { "a lower-case prefix", "file:image/png;1;abc" },
      { "a plain string", "https://example.com/a.png" },
      { "an empty string", "" },
    }
    for _, case in ipairs(cases) do
      it(case[1], function()
        local fp, why = dexi.file_pointer(case[2])
        assert.is_nil(fp)
        assert.is_string(why)
        assert.is_true(#why > 0)
        assert.is_false(dexi.is_file_pointer(case[2]))
      end)
    end

    it("values that are not strings, without raising", function()
      for _, v in ipairs { 42, true, {}, json.null, function() end } do
        local fp, why = dexi.file_pointer(v)
        assert.is_nil(fp)
        assert.matches("not a string", why)
        assert.is_false(dexi.is_file_pointer(v))
      end
      local fp, why = dexi.file_pointer(nil)
      assert.is_nil(fp)
      assert.is_string(why)
      assert.is_false(dexi.is_file_pointer(nil))
    end)
  end)

  it("is_file_pointer is true for every valid form", function()
    for _, v in ipairs {
      "FILE:image/png;432123;" .. UPPER, "FILE:image/png;26071;" .. LOWER, "FILE:image/svg+xml;1;x",
      "FILE:image/jpeg;2974;" .. PATH_ID, "FILE:image/jpeg;5;pre/" .. PATH_ID .. ";a;b",
    } do
      assert.is_true(dexi.is_file_pointer(v), v)
    end
  end)
end)

describe("dexi.file_path", function()
  it("leaves a bare UUID alone, either case", function()
    assert.equal(LOWER, dexi.file_path(LOWER))
    assert.equal(UPPER, dexi.file_path(UPPER))
  end)

  it("sends / as %2F so a path-style id stays one path segment", function()
    assert.equal((PATH_ID:gsub("/", "%%2F")), dexi.file_path(PATH_ID))
  end)

  it("drops everything before accounts/", function()
    assert.equal((PATH_ID:gsub("/", "%%2F")), dexi.file_path("s3-eu-west-1/" .. PATH_ID))
    assert.equal("accounts%2Fa%2Fb", dexi.file_path("x/y/accounts/a/b"))
  end)

  it("percent-encodes every byte outside RFC 3986's unreserved set", function()
    assert.equal("accounts%2Fa%2FImage%20File%2B1", dexi.file_path("legacy-store/accounts/a/Image File+1"))
    assert.equal("Az09-._~", dexi.file_path("Az09-._~"))
    assert.equal("%3F%23%26%3D%25%3B%3A%40%21%24%27%28%29%2A%2C", dexi.file_path("?#&=%;:@!$'()*,"))
    assert.equal("%C3%A9", dexi.file_path("é"))
  end)

  it("refuses what is not a file id", function()
    raises_argument(dexi.file_path, nil)
    raises_argument(dexi.file_path, 42)
    raises_argument(dexi.file_path, "")
  end)
end)

describe("dexi.rows_as_records", function()
  it("turns positional rows into tables keyed by header, leaving out null cells", function()
    local result = json.decode [==[{"headers": ["input_1", "output_1", "error"],
      "rows": [["a", 1, null], ["b", null, "boom"], [null, null, null]]}]==]
    assert.same({
      { input_1 = "a", output_1 = 1 },
      { input_1 = "b", error = "boom" },
      {},
    }, dexi.rows_as_records(result))
  end)

  it("keeps false, 0 and empty strings", function()
    local records = dexi.rows_as_records { headers = { "a", "b", "c" }, rows = { { false, 0, "" } } }
    assert.same({ { a = false, b = 0, c = "" } }, records)
  end)

  it("returns an empty list for a result without rows", function()
    assert.same({}, dexi.rows_as_records { headers = { "a" }, rows = {} })
    assert.same({}, dexi.rows_as_records(json.decode '{"headers": ["a"]}'))
  end)

  it("refuses what is not a result table", function()
    raises_argument(dexi.rows_as_records, nil)
    raises_argument(dexi.rows_as_records, "headers")
  end)
end)
