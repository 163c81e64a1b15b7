-- Recipe: report a deployment to DX's Data Cloud API from CI (deployments.upsert, so a job
-- that is retried reports the same deployment again instead of a second one). Its options are
-- made from the method's declared arguments (dx/methods.lua), so they cannot drift from it.
local dx = require "dx"
local decl = require "autolua.decl"
local json = require "autolua.json"

local METHOD = "deployments.upsert"

local HELP = {
  reference_id = "a stable id of this deployment (a CI job id, a UUID): a re-run updates it",
  service = "the service deployed (its catalog identifier)",
  deployed_at = "when: ISO-8601, Unix seconds or milliseconds (default: now)",
  repository = "the repository, with its org or project prefix (acme/payments-api)",
  commit_sha = "the commit deployed (7 to 40 hex characters)",
  merge_commit_shas = "the merge commits deployed, comma-separated (instead of --commit-sha)",
  environment = "where (default on the server: production)",
  source_url = "a link to the CI job",
  source_name = "the CI system's name",
  metadata = "extra fields, a JSON object",
  success = "whether the deployment succeeded (default on the server: true)",
  integration_branch = "the branch that was deployed",
}

-- One option per declared argument: --reference-id for reference_id, typed from the declaration.
local function options()
  local list = {}
  for _, a in ipairs(decl.parse(require("dx.methods")[METHOD][2])) do
    local o = { name = a.name:gsub("_", "-"), arg = a.name, help = HELP[a.name] or "", required = a.required }
    if a.type == "obj" then o.type, o.metavar = "json", "JSON"
    elseif a.type == "int" then o.type = "integer"
    elseif a.type == "bool" then o.type, o.choices, o.metavar = "string", { "true", "false" }, "BOOL"
    elseif a.type == "list" then o.type, o.metavar = "string", "A,B"
    else o.type = "string" end
    list[#list + 1] = o
  end
  list[#list + 1] = { name = "dry-run", type = "boolean", help = "print the request (token masked) and send nothing" }
  return list
end

local OPTIONS = options()

-- The method's arguments from the parsed options.
local function arguments(o)
  local a = {}
  for _, opt in ipairs(OPTIONS) do
    local v = o[opt.name]
    if opt.arg and v ~= nil then
      if opt.choices then v = v == "true"
      elseif opt.metavar == "A,B" then
        local items = {}
        for item in v:gmatch("[^,%s]+") do items[#items + 1] = item end
        v = items
      end
      a[opt.arg] = v
    end
  end
  if a.deployed_at == nil then a.deployed_at = os.time() end
  return a
end

return {
  summary = "report a deployment to DX (Data Cloud API, deployments.upsert) from CI",
  description = "Sends deployments.upsert to your Data Cloud instance (DX_DATACLOUD_URL, e.g.\n"
    .. "https://acme.getdx.net) with the token in DX_TOKEN (or DX_API_TOKEN). A new --reference-id\n"
    .. "needs --service and --repository or --merge-commit-shas; the same id again updates it.\n"
    .. "--dry-run prints the request with the token masked and sends nothing.",
  options = OPTIONS,
  examples = {
    "autolua recipe dx-deploy --reference-id \"$CI_JOB_ID\" --service payments-api --repository acme/payments-api --commit-sha \"$GIT_SHA\"",
    "autolua recipe dx-deploy --reference-id 42 --success false --dry-run",
  },
  check = function(o)
    if o.metadata ~= nil and (type(o.metadata) ~= "table" or (#o.metadata > 0)) then
      return "--metadata must be a JSON object"
    end
    local tok = os.getenv("DX_TOKEN") or os.getenv("DX_API_TOKEN")
    if not tok or tok == "" then return "no DX token: set DX_TOKEN (or DX_API_TOKEN)" end
    local url = os.getenv("DX_DATACLOUD_URL")
    if not url or not url:match("^https?://[^/]") then
      return "no Data Cloud host: set DX_DATACLOUD_URL to your instance, e.g. https://acme.getdx.net"
    end
    -- the arguments are checked against the declaration now, before anything could be sent
    local ok, err = pcall(function() return dx.client():preview(METHOD, arguments(o)) end)
    if not ok then return type(err) == "table" and err.message or tostring(err) end
  end,
  run = function(o)
    local c = dx.client()
    local a = arguments(o)
    if o["dry-run"] then
      local req = c:preview(METHOD, a)
      local s = { dry_run = true, method = METHOD, url = req.url, headers = req.headers, body = json.decode(req.body or "{}") }
      if o.json then return s, 0 end          -- the summary carries the request
      io.stdout:write(req.method, " ", req.url, "\n")
      local names = {}
      for k in pairs(req.headers) do names[#names + 1] = k end
      table.sort(names)
      for _, k in ipairs(names) do io.stdout:write(k, ": ", req.headers[k], "\n") end
      io.stdout:write("\n", req.body or "", "\n")
      s.line = "dry run: nothing was sent"
      return s, 0
    end
    local d = c:call(METHOD, a).deployment or {}
    local service = type(d.service) == "table" and d.service.identifier or a.service
    return { reference_id = d.reference_id or a.reference_id, id = d.id, service = service,
             environment = d.environment, success = d.success,
             line = ("deployment %s reported (%s, %s%s)"):format(tostring(d.reference_id or a.reference_id),
               tostring(service), tostring(d.environment), d.success == false and ", failed" or "") }, 0
  end,
}
