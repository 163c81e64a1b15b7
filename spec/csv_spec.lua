-- autolua.csv, the public CSV module (RFC 4180): writing with quoting, reading quoted fields,
-- line breaks inside them and both line endings, headers, files read in pieces, and errors.
local csv = require "autolua.csv"
local json = require "autolua.json"
local S = require "support"

describe("autolua.csv writing", function()
  it("quotes only the fields that need it, doubling quotes, and ends records in CRLF", function()
    assert.equal('1,plain,"a,b","say ""hi""","two\nlines","cr\rhere",,true\r\n',
                 csv.line({ 1, "plain", "a,b", 'say "hi"', "two\nlines", "cr\rhere", nil, true }, 8))
    assert.equal("", csv.field(json.null))
    assert.equal('"{""k"":1}"', csv.field({ k = 1 }))
    assert.equal('a;"b;c";d\r\n', csv.line({ "a", "b;c", "d" }, nil, ";"))
  end)

  it("encodes lists, or records in header order with the header first", function()
    assert.equal("a,b\r\n1,2\r\n", csv.encode({ { "a", "b" }, { 1, 2 } }))
    assert.equal("id,name\r\n1,\r\n2,\"x,y\"\r\n",
                 csv.encode({ { id = 1 }, { id = 2, name = "x,y", extra = "dropped" } }, { header = { "id", "name" } }))
  end)

  it("a writer streams records to a file or a function", function()
    local dir = S.tmpdir()
    local f = assert(io.open(dir .. "/out.csv", "wb"))
    local w = csv.writer(f, { header = { "n", "text" } })
    w:write { n = 1, text = "a\nb" }
    w:write { n = 2, text = "plain" }
    f:close()
    assert.equal(2, w:count())
    assert.equal('n,text\r\n1,"a\nb"\r\n2,plain\r\n', S.slurp(dir .. "/out.csv"))
    local parts = {}
    local w2 = csv.writer(function(s) parts[#parts + 1] = s end)
    w2:write { "x" }
    assert.same({ "x\r\n" }, parts)
    os.execute("rm -rf " .. S.quote(dir))
  end)
end)

describe("autolua.csv reading", function()
  it("reads quoted fields with separators, doubled quotes and line breaks, CRLF or LF", function()
    local rows = csv.decode('a,b,c\r\n1,"x,""y""","multi\r\nline"\n,,\r\n"",last\n')
    assert.same({ { "a", "b", "c" }, { "1", 'x,"y"', "multi\r\nline" }, { "", "", "" }, { "", "last" } }, rows)
  end)

  it("a missing final line break still ends the record; blank lines hold none", function()
    assert.same({ { "a" }, { "b" } }, csv.decode("a\n\n\r\nb"))
    assert.same({}, csv.decode(""))
  end)

  it("round-trips whatever it writes", function()
    local rows = { { "", " lead", "trail ", '"', '""', ",", "\r\n", "\n\n", "é ü" }, { "x" } }
    local back = csv.decode(csv.encode(rows))
    assert.same(rows, back)
    assert.same(rows, csv.decode(csv.encode(rows, { sep = "\t" }), { sep = "\t" }))
  end)

  it("with header = true, yields tables keyed by the first record's names", function()
    local out = {}
    for r in csv.rows("id,name\n1,ann\n2,\"bo, b\"\n", { header = true }) do out[#out + 1] = r end
    assert.same({ { id = "1", name = "ann" }, { id = "2", name = "bo, b" } }, out)
  end)

  it("reads a file in pieces, with quoted fields across the pieces", function()
    local dir = S.tmpdir()
    local big = ("z"):rep(65530) .. '"\n"'
    local rows = { { "a", big, "c" }, { "next", "line" } }
    S.spit(dir .. "/in.csv", csv.encode(rows))
    local f = assert(io.open(dir .. "/in.csv", "rb"))
    local got = {}
    for r in csv.rows(f) do got[#got + 1] = r end
    f:close()
    assert.same(rows, got)
    os.execute("rm -rf " .. S.quote(dir))
  end)

  it("a quote left open, or text after a closing quote, is kind = decode naming the line", function()
    local e = S.fails(csv.decode, 'a,b\n1,"open\nstill open')
    assert.equal("decode", e.kind)
    assert.matches("line 2: a quoted field is never closed", e.message, 1, true)
    e = S.fails(csv.decode, 'a\n"x"y,1\n')
    assert.matches("line 2: text after the closing quote", e.message, 1, true)
    e = S.fails(csv.decode, 'a,b"c\n')
    assert.matches("a quote inside an unquoted field", e.message, 1, true)
  end)

  it("bad arguments are kind = argument", function()
    for _, call in ipairs {
      function() return csv.decode(5) end,
      function() return csv.encode("x") end,
      function() return csv.encode({}, { sep = ",," }) end,
      function() return csv.encode({}, { heder = {} }) end,
      function() return csv.encode({ 5 }) end,
      function() return csv.writer(42) end,
      function() return csv.rows({}) end,
      function() return csv.line("x") end,
    } do
      assert.equal("argument", S.fails(call).kind)
    end
  end)
end)
