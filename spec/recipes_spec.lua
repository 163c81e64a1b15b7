local S = require "support"
local json = require "autolua.json"

local ENV = ("DEXI_ACCOUNT=acc-test DEXI_API_KEY=key-test DEXI_BASE_URL=%s DX_TOKEN=dx-test-token DX_BASE_URL=%s")
  :format(S.fake.dexi, S.fake.dx)
local EXEC_FILES = "ae101b8f-1326-451c-ada7-3eab3c0f8a91"
local RUN_STAGS = "27c719bb-f28f-49f5-aedf-dba2f8e60ba3"
local DATASET = "40000000-0000-4000-8000-000000000001"

local function recipe(args)
  local a = { "recipe" }
  for _, x in ipairs(args) do a[#a + 1] = x end
  return S.run(a, { env = ENV })
end

local RUN_FAIL = "20000000-0000-4000-8000-000000000004"
local EXEC_FAILED = "30000000-0000-4000-8000-000000000001"
local EXEC_STOPPED = "30000000-0000-4000-8000-000000000002"
local EXEC_RUNNING = "30000000-0000-4000-8000-000000000003"

local function pat(s) return (s:gsub("%p", "%%%0")) end

local function lines(s)
  local n = 0
  for _ in s:gmatch("[^\n]+") do n = n + 1 end
  return n
end

-- Requests the fake recorded whose method and path match.
local function sent(service, method, path_pattern)
  local n = 0
  for _, r in ipairs(S.requests(service)) do
    if r.method == method and r.path:find(path_pattern) then n = n + 1 end
  end
  return n
end

describe("recipes", function()
  local dir
  before_each(function()
    S.reset("dexi"); S.reset("dx"); S.reset("dx_files")
    S.config("dexi", { polls_per_state = 0 })
    S.config("dx", { workflow_polls = 1, query_polls = 1 })
    dir = S.tmpdir()
  end)
  after_each(function() os.execute("rm -rf " .. S.quote(dir)) end)

  describe("the runner", function()
    it("lists the packaged recipes with their summaries", function()
      local r = recipe { "list" }
      assert.equal(0, r.code)
      for _, name in ipairs { "dexi-download", "dexi-export", "dexi-run", "dx-trigger", "dx-query" } do
        assert.matches(name:gsub("%-", "%%-") .. "%s+%S", r.out)
      end
    end)

    it("generates --help from the declared options", function()
      local r = recipe { "dexi-download", "--help" }
      assert.equal(0, r.code)
      assert.matches("usage: autolua recipe dexi%-download", r.out)
      assert.matches("%-%-out DIR%s+.*%(required%)", r.out)
      assert.matches("%-%-concurrency INTEGER%s+.*default 8", r.out)
      assert.matches("examples:", r.out)
    end)

    it("refuses unknown recipes and options with exit 2, naming them", function()
      local r = recipe { "dexi-downlaod" }
      assert.equal(2, r.code)
      assert.matches("unknown recipe 'dexi%-downlaod' %(did you mean dexi%-download%?%)", r.err)
      r = recipe { "dexi-download", "--out", dir, "--concurency", "3" }
      assert.equal(2, r.code)
      assert.matches("unknown option '%-%-concurency' %(did you mean %-%-concurrency%?%)", r.err)
      r = recipe { "dexi-download", "--execution", "x" }
      assert.equal(2, r.code)
      assert.matches("missing required option %-%-out", r.err)
      r = recipe { "dexi-download", "--out", dir, "--concurrency", "abc", "--execution", "x" }
      assert.equal(2, r.code)
      assert.matches("%-%-concurrency expects a whole number, got 'abc'", r.err)
      r = recipe { "dexi-export", "--out", dir .. "/x", "--format", "xml", "--dataset", DATASET }
      assert.equal(2, r.code)
      assert.matches("one of jsonl, csv", r.err)
    end)

    it("lists and runs a team's own recipes from AUTOLUA_RECIPES_PATH", function()
      local env = ENV .. " AUTOLUA_RECIPES_PATH=/nonexistent:" .. S.source .. "/examples/recipes"
      local r = S.run({ "recipe", "list" }, { env = env })
      assert.equal(0, r.code)
      assert.matches("count%-runs%s+count the runs", r.out)
      assert.matches("dexi%-download", r.out)
      r = S.run({ "recipe", "count-runs", "--robot", "10000000-0000-4000-8000-000000000003", "--json" }, { env = env })
      assert.equal(0, r.code, r.err)
      assert.equal(230, json.decode(r.out).runs)
      r = S.run({ "recipe", "count-runs", "--help" }, { env = env })
      assert.matches("%-%-robot ID", r.out)
    end)

    it("takes -h for --help, and refuses a stray argument", function()
      local r = recipe { "dexi-export", "-h" }
      assert.equal(0, r.code, r.err)
      assert.matches("usage: autolua recipe dexi%-export", r.out)
      r = recipe { "dexi-export", "--dataset", DATASET, "--out", dir .. "/rows.jsonl", "rows.csv" }
      assert.equal(2, r.code)
      assert.matches("unexpected argument 'rows%.csv'", r.err)
      assert.same({}, S.ls(dir))
      r = recipe { "dexi-export", "--dataset", DATASET, "--out", dir .. "/rows.jsonl", "--", "extra" }
      assert.equal(2, r.code)
      assert.matches("unexpected argument 'extra'", r.err)
    end)

    it("puts the summary line on stderr and the --json summary on stdout", function()
      local r = recipe { "dexi-export", "--dataset", DATASET, "--out", dir .. "/rows.jsonl" }
      assert.equal(0, r.code, r.err)
      assert.equal("", r.out)
      assert.matches("^450 rows %-> ", r.err)
      r = recipe { "dexi-export", "--dataset", DATASET, "--out", dir .. "/rows.jsonl", "--json" }
      assert.equal(450, json.decode(r.out).rows)
      assert.equal("", r.err)
    end)

    it("refuses a timeout below zero before anything is sent", function()
      local r = recipe { "dx-trigger", "--workflow", "rotate-secrets", "--timeout", "-5", "--wait" }
      assert.equal(2, r.code)
      assert.matches("%-%-timeout must be more than 0", r.err)
      r = recipe { "dexi-run", "--run", RUN_STAGS, "--interval", "-1", "--wait" }
      assert.equal(2, r.code)
      assert.matches("%-%-interval must be at least 0", r.err)
      assert.equal(0, #S.requests("dx"))
      assert.equal(0, #S.requests("dexi"))
    end)

    it("refuses an --out in a missing directory and an unreadable --file before sending", function()
      local r = recipe { "dx-query", "--sql", "SELECT 1", "--out", dir .. "/no/q.csv" }
      assert.equal(2, r.code)
      assert.matches("is not a directory", r.err)
      r = recipe { "dx-query", "--file", dir .. "/missing.sql" }
      assert.equal(2, r.code)
      assert.matches("cannot read %-%-file", r.err)
      r = recipe { "dexi-export", "--dataset", DATASET, "--out", dir .. "/no/rows.csv" }
      assert.equal(2, r.code)
      assert.equal(0, #S.requests("dx"))
      assert.equal(0, #S.requests("dexi"))
    end)

    it("makes missing credentials a usage error, before anything is sent", function()
      local r = S.run({ "recipe", "dx-trigger", "--workflow", "rotate-secrets" },
                      { env = ("env -u DX_TOKEN -u DX_API_TOKEN DX_BASE_URL=%s"):format(S.fake.dx) })
      assert.equal(2, r.code)
      assert.matches("DX_TOKEN", r.err)
      assert.equal(0, #S.requests("dx"))
    end)

    it("prints an expected failure in one line with its hint, the traceback only at debug", function()
      S.config("dexi", { polls_per_state = 5 })
      local r = recipe { "dexi-download", "--execution", EXEC_RUNNING, "--out", dir }
      assert.equal(1, r.code)
      assert.equal(1, lines(r.err), r.err)
      assert.matches("^autolua recipe dexi%-download: api: not_finished: execution " .. pat(EXEC_RUNNING)
                     .. " is RUNNING, not finished %(hint: %-%-wait waits for it%)\n$", r.err)
      r = recipe { "dx-query", "--sql", "DROP TABLE teams", "--out", dir .. "/x.csv" }
      assert.equal(1, r.code)
      assert.equal(1, lines(r.err), r.err)
      assert.matches("invalid_sql", r.err)
      assert.not_matches("traceback", r.err)
      r = S.run({ "recipe", "dx-query", "--sql", "DROP TABLE teams", "--out", dir .. "/x.csv" },
                { env = ENV .. " AUTOLUA_LOG=debug" })
      assert.equal(1, r.code)
      assert.matches("stack traceback", r.err)
    end)

    it("--job: a re-run skips the export while the file is there as written", function()
      local st = "AUTOLUA_STORE=sqlite:" .. dir .. "/state.db "
      local out = dir .. "/rows.jsonl"
      local function run()
        return S.run({ "recipe", "dexi-export", "--dataset", DATASET, "--out", out, "--job", "ex", "--json" }, { env = st .. ENV })
      end
      local function gets()
        local n = 0
        for _, q in ipairs(S.requests("dexi")) do if q.path:find(DATASET, 1, true) then n = n + 1 end end
        return n
      end
      local r = run()
      assert.equal(0, r.code, r.err)
      assert.equal(450, json.decode(r.out).rows)
      local before = gets()
      r = run()
      assert.equal(0, r.code, r.err)
      assert.equal(450, json.decode(r.out).rows)
      assert.equal(before, gets())                       -- nothing fetched again
      os.remove(out)
      r = run()
      assert.equal(0, r.code, r.err)
      assert.is_true(gets() > before)                    -- the file was gone: exported again
      assert.equal(450, select(2, S.slurp(out):gsub("\n", "")))
    end)

    it("accepts --opt=value and --", function()
      local r = recipe { "dexi-export", "--dataset=" .. DATASET, "--out=" .. dir .. "/rows.jsonl", "--" }
      assert.equal(0, r.code)
      assert.matches("^450 rows %-> ", r.err)
    end)
  end)

  describe("dexi-download", function()
    it("downloads every file of an execution, then skips what is there", function()
      local r = recipe { "dexi-download", "--execution", EXEC_FILES, "--out", dir .. "/files" }
      assert.equal(0, r.code, r.err)
      assert.matches("^execution " .. EXEC_FILES:gsub("%-", "%%-") .. " %(OK%): 5 files: 5 downloaded %(%d+ bytes%), 0 already there, 0 failed", r.err)
      assert.equal("", r.out)
      assert.equal(6, #S.ls(dir .. "/files"))         -- and the record of which id each came from
      assert.is_table(json.decode(S.slurp(dir .. "/files/.autolua-downloads.json")).files)
      r = recipe { "dexi-download", "--execution", EXEC_FILES, "--out", dir .. "/files", "--json" }
      assert.equal(0, r.code)
      local s = json.decode(r.out)
      assert.same({ 5, 0, 5, 0 }, { s.files, s.downloaded, s.skipped, s.failed })
    end)

    it("--job: a re-run skips the files done before, even into a new directory, and fetches what went missing", function()
      local st = "AUTOLUA_STORE=sqlite:" .. dir .. "/state.db "
      local function run(out)
        return S.run({ "recipe", "dexi-download", "--execution", EXEC_FILES, "--out", out, "--job", "dl", "--json" },
                     { env = st .. ENV })
      end
      local r = run(dir .. "/a")
      assert.equal(0, r.code, r.err)
      assert.same({ 5, 0 }, { json.decode(r.out).downloaded, json.decode(r.out).skipped })
      r = run(dir .. "/b")                                    -- a new directory: nothing fetched again
      assert.equal(0, r.code, r.err)
      assert.same({ 0, 5 }, { json.decode(r.out).downloaded, json.decode(r.out).skipped })
      local names = {}
      for _, n in ipairs(S.ls(dir .. "/a")) do if not n:match("^%.") then names[#names + 1] = n end end
      table.sort(names)
      os.remove(dir .. "/a/" .. names[1])                     -- one file lost
      S.spit(dir .. "/a/" .. names[2], "cut")                 -- one cut short
      r = run(dir .. "/c")
      assert.equal(0, r.code, r.err)
      assert.same({ 2, 3 }, { json.decode(r.out).downloaded, json.decode(r.out).skipped })
      r = S.run({ "job", "show", "dl", "--json" }, { env = st })
      assert.matches('"done":5', r.out, 1, true)
    end)

    it("gives ids that make one name files of their own, keeps the user's file, and counts true", function()
      local out = dir .. "/files"
      os.execute("mkdir -p " .. S.quote(out))
      S.spit(out .. "/notes.txt", "mine")
      local r = recipe { "dexi-download", "--execution", "30000000-0000-4000-8000-000000000004", "--out", out }
      assert.equal(0, r.code, r.err)
      assert.matches("%(OK%): 6 files: 6 downloaded %(5074 bytes%), 0 already there, 0 failed", r.err)
      assert.equal(8, #S.ls(out))                       -- 6 files, the user's, the record
      assert.equal("mine", S.slurp(out .. "/notes.txt"))
      assert.equal(64, #S.slurp(out .. "/notes~2.txt"))
      r = recipe { "dexi-download", "--execution", "30000000-0000-4000-8000-000000000004", "--out", out }
      assert.matches("%(OK%): 6 files: 0 downloaded %(0 bytes%), 6 already there, 0 failed", r.err)
    end)

    it("takes the newest execution of a run", function()
      local r = recipe { "dexi-download", "--run", "20000000-0000-4000-8000-000000000003", "--out", dir, "--json" }
      assert.equal(0, r.code, r.err)
      assert.equal(EXEC_FILES, json.decode(r.out).execution)
    end)

    it("--run passes over an execution still running, and refuses one not OK", function()
      -- the stags run: newest RUNNING, then STOPPED, then the recorded OK one
      local r = recipe { "dexi-download", "--run", RUN_STAGS, "--out", dir .. "/f", "--json" }
      assert.equal(1, r.code)
      local s = json.decode(r.out)
      assert.equal(EXEC_STOPPED, s.execution)
      assert.equal("STOPPED", s.state)
      assert.matches("ended STOPPED: nothing done %(%-%-any%-state uses it anyway%)", r.err)
      r = recipe { "dexi-download", "--run", RUN_STAGS, "--out", dir .. "/f", "--any-state", "--json" }
      assert.equal(0, r.code, r.err)
      assert.equal("STOPPED", json.decode(r.out).state)
    end)

    it("--run --wait waits for the running execution and shows its state", function()
      S.config("dexi", { polls_per_state = 1 })
      local r = recipe { "dexi-download", "--run", RUN_STAGS, "--out", dir .. "/f", "--wait", "--interval", "0.05" }
      assert.equal(0, r.code, r.err)
      assert.matches("^execution " .. pat(EXEC_RUNNING) .. " %(OK%): %d+ files: ", r.err)
      assert.is_true(sent("dexi", "GET", "^/executions/" .. pat(EXEC_RUNNING) .. "$") >= 2)
    end)

    it("--run says when a run has no finished execution", function()
      local CATALOG_RUN = "21000000-0000-4000-8000-000000000001"      -- no executions at all
      local r = recipe { "dexi-download", "--run", CATALOG_RUN, "--out", dir .. "/f" }
      assert.equal(1, r.code)
      assert.matches("run " .. pat(CATALOG_RUN) .. " has no finished execution\n", r.err)
      S.config("dexi", { polls_per_state = 5 })
      r = recipe { "dexi-run", "--run", CATALOG_RUN, "--json" }        -- one now, queued
      assert.equal(0, r.code, r.err)
      local queued = json.decode(r.out).execution
      r = recipe { "dexi-download", "--run", CATALOG_RUN, "--out", dir .. "/f" }
      assert.equal(1, r.code)
      assert.matches("%(the newest, " .. pat(queued) .. ", is QUEUED%) %(hint: wait for it", r.err)
      assert.same({}, S.ls(dir))
    end)

    it("prints one line when interrupted, saying how far it got", function()
      S.config("dexi", { result_rows = 60 })
      local r = recipe { "dexi-run", "--run", RUN_STAGS, "--wait", "--interval", "0.05", "--json" }
      assert.equal(0, r.code, r.err)
      local execution = json.decode(r.out).execution
      local driver = dir .. "/drive.py"
      S.spit(driver, ([[
import json, os, signal, subprocess, sys, time
out_dir = sys.argv[1]
p = subprocess.Popen(sys.argv[2:], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
deadline = time.time() + 60        # interrupt once the downloads are under way
while time.time() < deadline and not (os.path.isdir(out_dir) and os.listdir(out_dir)):
    time.sleep(0.05)
time.sleep(0.5)
p.send_signal(signal.SIGINT)
out, err = p.communicate(timeout=60)
print(json.dumps({"code": p.returncode, "out": out.decode(), "err": err.decode()}))
]]))
      local p = io.popen(("%s python3 %s %s %s recipe dexi-download --execution %s --out %s"):format(
        ENV, S.quote(driver), S.quote(dir .. "/files"), S.quote(S.bin), S.quote(execution), S.quote(dir .. "/files")))
      local res = json.decode(p:read("a"))
      p:close()
      assert.equal(130, res.code)
      assert.equal(1, lines(res.err), res.err)
      assert.matches("^autolua recipe dexi%-download: cancelled while downloading: .* of .*, %d+ files done\n$", res.err)
    end)

    it("exits 1 and keeps nothing partial when files fail", function()
      S.config("dexi", { file_short_by = 10 })
      local r = recipe { "dexi-download", "--execution", EXEC_FILES, "--out", dir, "--json" }
      assert.equal(1, r.code)
      local s = json.decode(r.out)
      assert.equal(5, s.failed)
      assert.same({}, S.ls(dir))
      assert.matches("not the %d+ expected", r.err)
    end)

    it("names missing credentials, a usage error", function()
      local r = S.run({ "recipe", "dexi-download", "--execution", EXEC_FILES, "--out", dir },
                      { env = "env -u DEXI_ACCOUNT -u DEXI_API_KEY" })
      assert.equal(2, r.code)
      assert.matches("DEXI_ACCOUNT and DEXI_API_KEY", r.err)
      assert.not_matches("traceback", r.err)
    end)
  end)

  describe("dexi-export", function()
    it("writes every page of a data set as CSV", function()
      local out = dir .. "/rows.csv"
      local r = recipe { "dexi-export", "--dataset", DATASET, "--out", out, "--format", "csv" }
      assert.equal(0, r.code, r.err)
      local lines = {}
      for l in io.lines(out) do lines[#lines + 1] = l end
      assert.equal(451, #lines)
      assert.equal("_id,category,inStock,index,name,price\r", lines[1])
    end)

    it("writes an execution's result as JSON lines keyed by header", function()
      local out = dir .. "/r.jsonl"
      local r = recipe { "dexi-export", "--execution", "3a8ea1f2-6781-4371-841f-66f6210a27b9", "--out", out }
      assert.equal(0, r.code, r.err)
      local rec = json.decode(S.slurp(out):match("^[^\n]+"))
      assert.equal("Totnes office", rec.agentName)
    end)

    it("follows --out's extension unless --format says otherwise", function()
      local r = recipe { "dexi-export", "--dataset", DATASET, "--out", dir .. "/rows.csv" }
      assert.equal(0, r.code, r.err)
      assert.equal("_id,category,inStock,index,name,price\r", S.slurp(dir .. "/rows.csv"):match("^[^\n]+"))
      r = recipe { "dexi-export", "--dataset", DATASET, "--out", dir .. "/rows2.csv", "--format", "jsonl" }
      assert.equal(0, r.code, r.err)
      assert.is_table(json.decode(S.slurp(dir .. "/rows2.csv"):match("^[^\n]+")))
    end)

    it("refuses an execution that did not end OK, writing nothing", function()
      local out = dir .. "/r.jsonl"
      local r = recipe { "dexi-export", "--execution", EXEC_FAILED, "--out", out, "--json" }
      assert.equal(1, r.code)
      assert.equal("FAILED", json.decode(r.out).state)
      assert.same({}, S.ls(dir))
      r = recipe { "dexi-export", "--execution", EXEC_FAILED, "--out", out, "--any-state" }
      assert.equal(0, r.code, r.err)
      assert.matches("%(FAILED%)", r.err)
    end)

    it("removes its temporary file when SIGTERM or SIGHUP ends it half way", function()
      S.config("dexi", { fault = { kind = "delay", seconds = 2, count = -1, path = "/rows" } })
      for _, case in ipairs { { "TERM", 143 }, { "HUP", 129 } } do
        local out = dir .. "/rows.jsonl"
        local cmd = ("%s %s recipe dexi-export --dataset %s --out %s >%s/out 2>%s/err & pid=$!; sleep 1; ls -A %s > %s/during; kill -%s $pid; wait $pid; echo $? > %s/code")
          :format(ENV, S.quote(S.bin), DATASET, S.quote(out), dir, dir, dir, dir, case[1], dir)
        os.execute("sh -c " .. S.quote(cmd))
        assert.equal(tostring(case[2]), S.slurp(dir .. "/code"):match("%d+"), S.slurp(dir .. "/err"))
        assert.matches("%.rows%.jsonl%.part%-", S.slurp(dir .. "/during"))
        local left = S.ls(dir)
        table.sort(left)
        assert.same({ "code", "during", "err", "out" }, left)
      end
    end)

    it("leaves no file when the export fails half way", function()
      -- the first page arrives; the second repeats it, which the client refuses
      S.config("dexi", { ignore_offset = true })
      local out = dir .. "/rows.jsonl"
      local r = recipe { "dexi-export", "--dataset", DATASET, "--out", out }
      assert.equal(1, r.code)
      assert.matches("ignored offset", r.err)
      assert.same({}, S.ls(dir))
    end)
  end)

  describe("dexi-run", function()
    it("starts a run with inputs, waits and downloads", function()
      local r = recipe { "dexi-run", "--run", RUN_STAGS, "--input", '[{"url":"a"},{"url":"b"}]',
                         "--download", dir .. "/dl", "--interval", "0.05", "--json" }
      assert.equal(0, r.code, r.err)
      local s = json.decode(r.out)
      assert.equal("OK", s.state)
      assert.equal(4, s.download.downloaded)
      assert.matches("started execution", r.err)
    end)

    it("--dry-run prints the request, secrets masked, and sends none", function()
      local r = recipe { "dexi-run", "--run", RUN_STAGS, "--input", '[{"url":"a"}]', "--download", dir .. "/dl", "--dry-run" }
      assert.equal(0, r.code, r.err)
      assert.matches("^POST http://127%.0%.0%.1:%d+/runs/" .. pat(RUN_STAGS) .. "/execute/bulk\n", r.out)
      assert.matches("X%-DexiIO%-Access: %*%*%*\n", r.out)
      assert.matches("X%-DexiIO%-Account: acc%-test\n", r.out)
      assert.matches('%[{"url":"a"}%]', r.out)
      assert.matches("then: poll GET executions/{id}", r.out)
      assert.not_matches(require("autolua.digest").md5("acc-testkey-test"), r.out .. r.err)
      assert.not_matches("key%-test", r.out .. r.err)
      assert.equal(0, #S.requests("dexi"))
      assert.same({}, S.ls(dir))
      r = recipe { "dexi-run", "--run", RUN_STAGS, "--dry-run", "--json" }
      local s = json.decode(r.out)
      assert.is_true(s.dry_run)
      assert.equal("POST", s.requests[1].method)
      assert.equal(0, #S.requests("dexi"))
    end)

    it("exits 1 when the execution fails", function()
      local r = recipe { "dexi-run", "--run", "20000000-0000-4000-8000-000000000004", "--wait", "--interval", "0.05" }
      assert.equal(1, r.code)
      assert.matches("ended FAILED %(%-%-any%-state exits 0 for it%)", r.err)
      r = recipe { "dexi-run", "--run", "20000000-0000-4000-8000-000000000004", "--wait", "--interval", "0.05", "--any-state" }
      assert.equal(0, r.code, r.err)
      assert.matches("ended FAILED", r.err)
    end)
  end)

  describe("dx-trigger", function()
    it("triggers and follows a run to SUCCEEDED", function()
      local r = recipe { "dx-trigger", "--workflow", "deploy-service", "--entity", "payments-api",
                         "--data", '{"version":"2.0.0"}', "--wait", "--interval", "0.05", "--json" }
      assert.equal(0, r.code, r.err)
      assert.equal("SUCCEEDED", json.decode(r.out).status)
    end)

    it("--entities FILE: one run per entity as a once job, followed with --wait, a table of statuses", function()
      S.spit(dir .. "/ents", "payments-api\n  auth-service \n\nsearch-api\n")
      local st = "AUTOLUA_STORE=sqlite:" .. dir .. "/state.db "
      local args = { "recipe", "dx-trigger", "--workflow", "deploy-service", "--entities", dir .. "/ents", "--job", "dep",
                     "--data", '{"version":"2.0.0"}', "--wait", "--interval", "0.05" }
      local r = S.run(args, { env = st .. ENV })
      assert.equal(0, r.code, r.err)
      assert.matches("payments%-api%s+%S+%s+SUCCEEDED", r.err)
      assert.matches("auth%-service%s+%S+%s+SUCCEEDED", r.err)
      local triggers = 0
      for _, q in ipairs(S.requests("dx")) do if q.path:find("workflowRuns.trigger", 1, true) then triggers = triggers + 1 end end
      assert.equal(3, triggers)
      args[#args + 1] = "--json"
      r = S.run(args, { env = st .. ENV })                   -- again: the same runs, none triggered twice
      assert.equal(0, r.code, r.err)
      local s = json.decode(r.out)
      assert.equal(3, #s.runs)
      for _, run in ipairs(s.runs) do assert.equal("SUCCEEDED", run.status) end
      triggers = 0
      for _, q in ipairs(S.requests("dx")) do if q.path:find("workflowRuns.trigger", 1, true) then triggers = triggers + 1 end end
      assert.equal(3, triggers)
    end)

    it("exits 1 when the waited run fails", function()
      local r = recipe { "dx-trigger", "--workflow", "scripted-job", "--data", '{"outcome":"FAILED"}',
                         "--wait", "--interval", "0.05" }
      assert.equal(1, r.code)
      assert.matches("ended FAILED", r.err)
    end)

    it("--dry-run prints the request, the token masked, and sends none", function()
      local r = recipe { "dx-trigger", "--workflow", "deploy-service", "--entity", "payments-api",
                         "--data", '{"version":"2.0.0"}', "--wait", "--dry-run" }
      assert.equal(0, r.code, r.err)
      assert.matches("^POST http://127%.0%.0%.1:%d+/workflowRuns%.trigger\n", r.out)
      assert.matches("Authorization: Bearer %*%*%*\n", r.out)
      assert.matches('"workflow_identifier":"deploy%-service"', r.out)
      assert.not_matches("dx%-test%-token", r.out .. r.err)
      assert.equal(0, #S.requests("dx"))
    end)

    it("without --wait only triggers", function()
      local r = recipe { "dx-trigger", "--workflow", "rotate-secrets" }
      assert.equal(0, r.code, r.err)
      assert.matches("^workflow run %w+ triggered", r.err)
    end)
  end)

  describe("dx-query", function()
    it("writes the result as CSV", function()
      local out = dir .. "/q.csv"
      local r = recipe { "dx-query", "--sql", "SELECT name FROM teams", "--out", out }
      assert.equal(0, r.code, r.err)
      assert.matches("^%d+ rows, %d+ columns %-> ", r.err)
      assert.is_true(#S.slurp(out) > 0)
    end)

    it("reads SQL from a file and writes JSON", function()
      S.spit(dir .. "/q.sql", "SELECT 1")
      local r = recipe { "dx-query", "--file", dir .. "/q.sql", "--format", "json", "--out", dir .. "/q.json" }
      assert.equal(0, r.code, r.err)
      local doc = json.decode(S.slurp(dir .. "/q.json"))
      assert.is_table(doc.columns)
      assert.is_table(doc.rows)
    end)

    it("keeps stdout for the data: the --json summary goes to stderr then", function()
      local r = recipe { "dx-query", "--sql", "SELECT name FROM teams", "--json" }
      assert.equal(0, r.code, r.err)
      assert.matches("^id,name,value\r\n", r.out)
      assert.not_matches("{", r.out)
      local s = json.decode(r.err:match("{.*}"))
      assert.is_number(s.rows)
      r = recipe { "dx-query", "--sql", "SELECT name FROM teams", "--out", dir .. "/q.json", "--json" }
      assert.equal(0, r.code, r.err)
      assert.equal("json", json.decode(r.out).format)         -- from the extension
      assert.is_table(json.decode(S.slurp(dir .. "/q.json")).rows)
    end)

    it("fails cleanly on SQL the API refuses, writing nothing", function()
      local r = recipe { "dx-query", "--sql", "DROP TABLE teams", "--out", dir .. "/x.csv" }
      assert.equal(1, r.code)
      assert.matches("invalid_sql", r.err)
      assert.same({}, S.ls(dir))
    end)
  end)
end)
