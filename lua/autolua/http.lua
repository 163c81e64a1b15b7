-- autolua.http: the C core's request function plus what a response can do in Lua.
local core = require "autolua.http.core"
local json = require "autolua.json"
local errors = require "autolua.error"
local serve = require "autolua.serve"

local response = core.response_methods
local RESPONSE_MT = debug.getregistry()["autolua.http.response"]

-- res:json() -> the decoded body; raises kind = "decode" when it is not JSON.
function response:json()
  if getmetatable(self) ~= RESPONSE_MT then
    errors.raise { kind = "argument", message = "res:json: must be called on a response with a colon, as res:json()" }
  end
  local body = self.body
  if body == nil then
    errors.raise { kind = "decode", message = "the response has no body in memory (it went to a sink)",
                   url = core.redact(self.url), status = self.status }
  end
  local value, why = json.decode(body)
  if value == nil and why then
    local snippet = body:sub(1, 60):gsub("%s+", " ")
    errors.raise { kind = "decode", status = self.status, url = core.redact(self.url),
                   message = ("body is not valid JSON (%s): %q"):format(why, snippet) }
  end
  return value
end

return {
  request = core.request,
  escape = core.escape,
  redact = core.redact,
  configure = core.configure,
  serve = serve.serve,
}
