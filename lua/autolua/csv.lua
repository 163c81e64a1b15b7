-- autolua.csv: CSV as RFC 4180 has it, written and read.
--   csv.encode(rows, {header =, sep =}) -> text      csv.decode(text, {header =, sep =}) -> rows
--   csv.writer(file | function, {header =, sep =}) -> w (w:write(row), w:count())
--   csv.rows(text | file, {header =, sep =}) -> an iterator over rows
-- Writing: records end in CRLF; a field holding the separator, a quote, CR or LF is quoted,
-- its quotes doubled; nil and json.null are empty fields; tables are written as JSON.
-- Reading: CRLF or LF ends a record; quoted fields may hold separators, "" and line breaks;
-- a quote left open, or text after a closing quote, is kind = "decode" naming the line.
local json = require "autolua.json"
local errors = require "autolua.error"

local M = {}

local function argerror(fname, fmt, ...)
  errors.raise { kind = "argument", method = fname, message = fmt:format(...) }
end

local function options(fname, o)
  if o == nil then return ",", nil end
  if type(o) ~= "table" then argerror(fname, "options must be a table {header =, sep =}, got %s", type(o)) end
  require("autolua.decl").check_names(fname, "header sep", o, "option")
  local sep = o.sep or ","
  if type(sep) ~= "string" or #sep ~= 1 or sep:find('["\r\n]') then
    argerror(fname, "sep must be one character other than a quote or a line break, got %s", tostring(sep))
  end
  return sep, o.header
end

-- {====================================================== writing

local FIELD = { string = true, number = true, boolean = true, table = true }

-- field(v [, sep]) -> v as one CSV field
function M.field(v, sep)
  sep = sep or ","
  if type(sep) ~= "string" then argerror("csv.field", "sep must be a string, got %s", type(sep)) end
  if v == nil or v == json.null then return "" end
  if not FIELD[type(v)] then
    errors.raise { kind = "argument", message = "csv.field: cannot write a " .. type(v) .. " in a CSV field" }
  end
  if type(v) == "table" then v = json.encode(v) end
  local s = tostring(v)
  if s:find('["\r\n]') or s:find(sep, 1, true) then s = '"' .. s:gsub('"', '""') .. '"' end
  return s
end

-- line(values [, n [, sep]]) -> one record, CRLF-terminated (n: the width, for trailing nils)
function M.line(values, n, sep)
  if type(values) ~= "table" then argerror("csv.line", "expects a list of values, got %s", type(values)) end
  if n ~= nil and math.type(n) ~= "integer" then argerror("csv.line", "the count must be an integer, got %s", type(n)) end
  local out = {}
  for i = 1, n or #values do out[i] = M.field(values[i], sep) end
  return table.concat(out, sep or ",") .. "\r\n"
end

-- A record as a list: as given, or (with a header) a table's fields in header order.
local function cells(fname, row, header, i)
  if type(row) ~= "table" then argerror(fname, "row %d must be a table, got %s", i, type(row)) end
  if not header then return row end
  local out = {}
  for j, name in ipairs(header) do out[j] = row[name] end
  return out
end

local function check_header(fname, header)
  if header == nil or header == true then return nil end
  if type(header) ~= "table" or #header == 0 then argerror(fname, "header must be a list of column names") end
  for i, h in ipairs(header) do
    if type(h) ~= "string" then argerror(fname, "header[%d] must be a string, got %s", i, type(h)) end
  end
  return header
end

-- encode(rows, {header = {names}, sep = ","}): rows are lists, or with a header, tables keyed
-- by those names (the header is written first).
function M.encode(rows, o)
  local sep, header = options("csv.encode", o)
  header = check_header("csv.encode", header)
  if type(rows) ~= "table" then argerror("csv.encode", "expects a list of rows, got %s", type(rows)) end
  local out = {}
  if header then out[1] = M.line(header, #header, sep) end
  for i, row in ipairs(rows) do
    out[#out + 1] = M.line(cells("csv.encode", row, header, i), header and #header or nil, sep)
  end
  return table.concat(out)
end

-- writer(sink, {header =, sep =}): sink a file handle (anything with :write) or a function
-- taking each record's text.
function M.writer(sink, o)
  local sep, header = options("csv.writer", o)
  header = check_header("csv.writer", header)
  local put
  if type(sink) == "function" then
    put = sink
  elseif (type(sink) == "userdata" or type(sink) == "table") and sink.write then
    put = function(s) assert(sink:write(s)) end
  else
    argerror("csv.writer", "expects a file or a function, got %s", type(sink))
  end
  local n = 0
  local w = {}
  function w.write(self, row)
    if self ~= w then argerror("csv.writer", "w.write(row) was called with a dot: write w:write(row)") end
    n = n + 1
    put(M.line(cells("w:write", row, header, n), header and #header or nil, sep))
  end
  function w.count() return n end
  if header then put(M.line(header, #header, sep)) end
  return w
end

-- }======================================================

-- {====================================================== reading

-- A reader over text that arrives in pieces (more() returns the next piece or nil): returns
-- one record (a list of strings) per call, nil at the end. A state machine over the pieces,
-- so a quoted field may span them; blank lines hold no record and are skipped.
local function records(more, sep)
  local queue, qi, qn = {}, 1, 0        -- records parsed and not yet returned: queue[qi..qn]
  local row, field = {}, {}
  -- start | plain | quoted | quote (a quote seen inside quotes) | cr (a CR ends this record) |
  -- crskip (the record already ended at a CR)
  local state = "start"
  local line, field_line, eof = 1, 1, false
  local function fail(at, fmt)
    errors.raise { kind = "decode", message = ("csv: line %d: %s"):format(at, fmt) }
  end
  local function end_field()
    row[#row + 1] = table.concat(field)
    field = {}
  end
  local function end_record()
    end_field()
    qn = qn + 1
    queue[qn] = row
    row = {}
  end
  local specials = "[" .. sep:gsub("%p", "%%%0") .. "\r\n\"]"
  local function feed(s)
    local i, n = 1, #s
    while i <= n do
      local c = s:sub(i, i)
      if state == "quoted" then
        local q = s:find('"', i, true)
        local chunk = s:sub(i, (q or n + 1) - 1)
        for _ in chunk:gmatch("\n") do line = line + 1 end
        field[#field + 1] = chunk
        if not q then return end
        state, i = "quote", q + 1
      elseif state == "plain" then
        local stop = s:find(specials, i)
        field[#field + 1] = s:sub(i, (stop or n + 1) - 1)
        if not stop then return end
        i = stop
        c = s:sub(i, i)
        if c == '"' then fail(line, "a quote inside an unquoted field (quote the whole field)") end
        state = "start"
        if c == sep then end_field(); i = i + 1
        elseif c == "\n" then end_record(); line = line + 1; i = i + 1
        else state = "cr"; i = i + 1 end
      elseif state == "quote" then
        if c == '"' then field[#field + 1] = '"'; state = "quoted"; i = i + 1
        elseif c == sep then end_field(); state = "start"; i = i + 1
        elseif c == "\n" then end_record(); line = line + 1; state = "start"; i = i + 1
        elseif c == "\r" then state = "cr"; i = i + 1
        else fail(line, "text after the closing quote of a field") end
      elseif state == "crskip" then       -- CR that ended a record (or a blank line): skip its LF
        line = line + 1
        state = "start"
        if c == "\n" then i = i + 1 end
      elseif state == "cr" then
        end_record()
        line = line + 1
        state = "start"
        if c == "\n" then i = i + 1 end
      else -- start of a field
        if c == '"' then state, field_line, i = "quoted", line, i + 1
        elseif c == sep then end_field(); i = i + 1
        elseif c == "\n" or c == "\r" then
          if #row > 0 then end_record() end     -- after a separator: an empty last field
          if c == "\r" then state = "crskip" else line = line + 1 end   -- else a blank line
          i = i + 1
        else state = "plain" end
      end
    end
  end
  local function finish()
    if state == "quoted" then fail(field_line, "a quoted field is never closed") end
    if state == "cr" or state == "plain" or state == "quote" or #row > 0 then end_record() end
    state = "start"
  end
  return function()
    while qi > qn do
      if eof then return nil end
      local piece = more()
      if piece == nil then eof = true; finish() else feed(piece) end
      if qi > qn and eof then return nil end
    end
    local r = queue[qi]
    queue[qi] = nil
    qi = qi + 1
    return r
  end
end

local function source(fname, input)
  if type(input) == "string" then
    local done = false
    return function() if done then return nil end done = true return input end
  end
  if (type(input) == "userdata" or type(input) == "table") and input.read then
    return function() return input:read(65536) end
  end
  argerror(fname, "expects CSV text or a file, got %s", type(input))
end

-- rows(text | file, {header = true, sep =}): an iterator over records; with header = true the
-- first record names the fields and each later one comes as a table keyed by those names.
function M.rows(input, o)
  local sep, header = options("csv.rows", o)
  if header ~= nil and header ~= true and header ~= false then argerror("csv.rows", "header must be true or false") end
  local next_record = records(source("csv.rows", input), sep)
  if not header then return next_record end
  local names = next_record()
  return function()
    local r = next_record()
    if not r or not names then return nil end
    local rec = {}
    for i, name in ipairs(names) do rec[name] = r[i] end
    return rec
  end
end

-- decode(text, {header = true, sep =}) -> the list of every record
function M.decode(text, o)
  if type(text) ~= "string" then argerror("csv.decode", "expects CSV text, got %s", type(text)) end
  local out = {}
  for r in M.rows(text, o) do out[#out + 1] = r end
  return out
end

-- }======================================================

return M
