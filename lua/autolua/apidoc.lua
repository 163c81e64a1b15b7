-- Renders the API reference (autolua/reference.lua) three ways from one source: plain text
-- for `autolua help TOPIC`, roff for the autolua-api(3) man page, and Markdown for the
-- README's generated tables (between "<!-- generated: NAME -->" and "<!-- end: NAME -->").
local ref = require "autolua.reference"

local M = {}

-- {====================================================== text

local function wrap(text, width, indent)
  local lines, line = {}, indent
  for word in text:gmatch("%S+") do
    if #line + #word + 1 > width and line ~= indent then
      lines[#lines + 1] = line
      line = indent
    end
    line = line .. (line == indent and "" or " ") .. word
  end
  if line ~= indent then lines[#lines + 1] = line end
  return table.concat(lines, "\n")
end

local function text_table(b)
  local out = {}
  for _, row in ipairs(b[3]) do
    out[#out + 1] = "  " .. row[1]
    local rest = {}
    for i = 2, #row do
      if row[i] ~= "" then rest[#rest + 1] = (i > 2 and b[2][i] .. ": " or "") .. row[i] end
    end
    out[#out + 1] = wrap(table.concat(rest, "; "), 78, "      ")
  end
  return table.concat(out, "\n")
end

-- text(topic) -> the topic as plain text, or nil for an unknown topic
function M.text(topic)
  local t = ref.topics[topic]
  if not t then return nil end
  local out = { topic .. ": " .. t.summary, "" }
  for _, b in ipairs(t.blocks()) do
    if b[1] == "p" then out[#out + 1] = wrap(b[2], 78, "")
    elseif b[1] == "h" then out[#out + 1] = b[2] .. ":"
    elseif b[1] == "t" then out[#out + 1] = text_table(b)
    elseif b[1] == "pre" then out[#out + 1] = b[2] end
    out[#out + 1] = ""
  end
  return table.concat(out, "\n")
end

function M.topic_list()
  local out = { "usage: autolua help TOPIC    (in Lua: help(\"TOPIC\"), help(c.workflowRuns.trigger), help(client.runs.list))", "", "topics:" }
  for _, name in ipairs(ref.order) do out[#out + 1] = ("  %-8s  %s"):format(name, ref.topics[name].summary) end
  return table.concat(out, "\n") .. "\n"
end

-- }======================================================

-- {====================================================== roff

local function roff_escape(s)
  s = s:gsub("\\", "\\e"):gsub("%-", "\\-")
  return (s:gsub("^([.'])", "\\&%1"):gsub("\n([.'])", "\n\\&%1"))
end

local function roff_block(b)
  if b[1] == "p" then return ".PP\n" .. roff_escape(b[2]) end
  if b[1] == "h" then return ".SS " .. roff_escape(b[2]) end
  if b[1] == "pre" then return ".PP\n.nf\n" .. roff_escape(b[2]) .. "\n.fi" end
  local out = {}
  for _, row in ipairs(b[3]) do
    out[#out + 1] = ".TP\n.B " .. roff_escape(row[1])
    local rest = {}
    for i = 2, #row do
      if row[i] ~= "" then rest[#rest + 1] = (i > 2 and b[2][i] .. ": " or "") .. row[i] end
    end
    out[#out + 1] = roff_escape(table.concat(rest, "; "))
  end
  return table.concat(out, "\n")
end

-- The topics a man page carries: all but recipes, which a user may add to at run time.
M.man_topics = { "dexi", "dx", "task", "http", "limiter", "errors" }

function M.man(version)
  local out = {
    '.TH AUTOLUA-API 3 "" "autolua ' .. version .. '" "autolua API reference"',
    ".SH NAME",
    "autolua-api \\- the Lua API of autolua: dexi, dx, task, http, limiter and errors",
    ".SH DESCRIPTION",
    "This page is generated from the declarations that the clients check their arguments against",
    "(lua/dexi/declarations.lua, lua/dx/methods.lua) and from lua/autolua/reference.lua, as are",
    ".B autolua help",
    "TOPIC and the API tables of the README.",
  }
  for _, name in ipairs(M.man_topics) do
    local t = ref.topics[name]
    out[#out + 1] = ".SH " .. name:upper()
    out[#out + 1] = roff_escape(t.summary) .. "."
    for _, b in ipairs(t.blocks()) do out[#out + 1] = roff_block(b) end
  end
  out[#out + 1] = ".SH SEE ALSO"
  out[#out + 1] = ".BR autolua (1)"
  return table.concat(out, "\n") .. "\n"
end

-- }======================================================

-- {====================================================== Markdown (README)

local function md_cell(s) return (s:gsub("|", "\\|")) end

local function md_table(b, code_first)
  local out = { "| " .. table.concat(b[2], " | ") .. " |", "|" .. ("---|"):rep(#b[2]) }
  for _, row in ipairs(b[3]) do
    local cells = {}
    for i, c in ipairs(row) do
      cells[i] = (i == 1 and code_first) and ("`" .. c .. "`") or md_cell(c)
    end
    out[#out + 1] = "| " .. table.concat(cells, " | ") .. " |"
  end
  return table.concat(out, "\n")
end

-- The README's generated blocks, by name.
M.readme_blocks = {
  ["dexi-functions"] = function() return md_table(ref.dexi_table(), true) end,
  ["dx-functions"] = function() return md_table(ref.dx_functions, true) end,
  ["dx-methods"] = function() return md_table(ref.dx_families_table(), true) end,
}

-- readme(text) -> the README with every generated block brought up to date
function M.readme(text)
  for name, gen in pairs(M.readme_blocks) do
    local open, close = "<!-- generated: " .. name .. " -->\n", "<!-- end: " .. name .. " -->"
    local a = text:find(open, 1, true)
    local b = a and text:find(close, a, true)
    if not (a and b) then error("README.md has no generated block '" .. name .. "'", 0) end
    text = text:sub(1, a + #open - 1) .. gen() .. "\n" .. text:sub(b)
  end
  return text
end

-- }======================================================

return M
