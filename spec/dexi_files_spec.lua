-- dexi.files: what Dexi file ids and pointers mean below the client: the name a file gets on
-- disk, the id a download value names, and the pointer and path functions dexi re-exports
-- (their cases are in dexi_pointer_spec.lua).
local files = require "dexi.files"
local dexi = require "dexi"
local errors = require "autolua.error"
local S = require "support"

local PATH_ID = "accounts/acc-test/robots/r1/runs/u1/executions/e1/results/res1/lines/line-7/ImageFile"

describe("dexi.files", function()
  it("is what dexi exports as file_pointer, is_file_pointer and file_path", function()
    assert.equal(files.pointer, dexi.file_pointer)
    assert.equal(files.is_pointer, dexi.is_file_pointer)
    assert.equal(files.path, dexi.file_path)
    assert.is_true(files.is_pointer("FILE:image/png;5;abc"))
    assert.is_false(files.is_pointer("abc"))
  end)

  it("names a file by its id and type: a path-style id as <line>_<field>, plus the extension", function()
    assert.equal("abc.png", files.name("abc", "image/png"))
    assert.equal("abc.png", files.name("abc.png", "image/png"))
    assert.equal("line-7_ImageFile.jpg", files.name(PATH_ID, "image/jpeg"))
    assert.equal("report.pdf", files.name("report", "Application/PDF"))
    assert.equal("data.parquet", files.name("data", "application/parquet"))
    assert.equal("x_y_.bin", files.name("x y?", "application/octet-stream"))
    assert.equal("_hidden", files.name("..hidden"))
  end)

  it("takes a pointer's id, size and type, or a bare id, and refuses anything else", function()
    assert.same({ "abc", 5, "image/png" }, { files.ref("FILE:image/png;5;abc", "f") })
    assert.same({ "some-id" }, { files.ref("some-id", "f") })
    local e = S.fails(files.ref, "", "client:download")
    assert.is_true(errors.is(e, "argument"))
    assert.equal("client:download: expects a file pointer or a file id, got an empty string", e.message)
    e = S.fails(files.ref, "FILE:image/png;x;abc", "executions.file")
    assert.matches("^executions%.file: malformed file pointer %(", e.message)
    assert.is_true(errors.is(S.fails(files.ref, 42, "f"), "argument"))
  end)
end)
