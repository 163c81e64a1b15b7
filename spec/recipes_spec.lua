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

    it("accepts --opt=value and --", function()
      local r = recipe { "dexi-export", "--dataset=" .. DATASET, "--out=" .. dir .. "/rows.jsonl", "--" }
      assert.equal(0, r.code)
      assert.matches("^450 rows %-> ", r.out)
    end)
  end)

  describe("dexi-download", function()
    it("downloads every file of an execution, then skips what is there", function()
      local r = recipe { "dexi-download", "--execution", EXEC_FILES, "--out", dir .. "/files" }
      assert.equal(0, r.code, r.err)
      assert.matches("^5 files: 5 downloaded %(%d+ bytes%), 0 already there, 0 failed", r.out)
      assert.equal(6, #S.ls(dir .. "/files"))         -- and the record of which id each came from
      assert.is_table(json.decode(S.slurp(dir .. "/files/.autolua-downloads.json")).files)
      r = recipe { "dexi-download", "--execution", EXEC_FILES, "--out", dir .. "/files", "--json" }
      assert.equal(0, r.code)
      local s = json.decode(r.out)
      assert.same({ 5, 0, 5, 0 }, { s.files, s.downloaded, s.skipped, s.failed })
    end)

    it("gives ids that make one name files of their own, keeps the user's file, and counts true", function()
      local out = dir .. "/files"
      os.execute("mkdir -p " .. S.quote(out))
      S.spit(out .. "/notes.txt", "mine")
      local r = recipe { "dexi-download", "--execution", "30000000-0000-4000-8000-000000000004", "--out", out }
      assert.equal(0, r.code, r.err)
      assert.matches("^6 files: 6 downloaded %(5074 bytes%), 0 already there, 0 failed", r.out)
      assert.equal(8, #S.ls(out))                       -- 6 files, the user's, the record
      assert.equal("mine", S.slurp(out .. "/notes.txt"))
      assert.equal(64, #S.slurp(out .. "/notes~2.txt"))
      r = recipe { "dexi-download", "--execution", "30000000-0000-4000-8000-000000000004", "--out", out }
      assert.matches("^6 files: 0 downloaded %(0 bytes%), 6 already there, 0 failed", r.out)
    end)

    it("takes the newest execution of a run", function()
      local r = recipe { "dexi-download", "--run", "20000000-0000-4000-8000-000000000003", "--out", dir, "--json" }
      assert.equal(0, r.code, r.err)
      assert.equal(EXEC_FILES, json.decode(r.out).execution)
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

    it("names missing credentials", function()
      local r = S.run({ "recipe", "dexi-download", "--execution", EXEC_FILES, "--out", dir },
                      { env = "env -u DEXI_ACCOUNT -u DEXI_API_KEY" })
      assert.equal(1, r.code)
      assert.matches("DEXI_ACCOUNT and DEXI_API_KEY", r.err)
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

    it("exits 1 when the execution fails", function()
      local r = recipe { "dexi-run", "--run", "20000000-0000-4000-8000-000000000004", "--wait", "--interval", "0.05" }
      assert.equal(1, r.code)
      assert.matches("ended FAILED", r.out)
    end)
  end)

  describe("dx-trigger", function()
    it("triggers and follows a run to SUCCEEDED", function()
      local r = recipe { "dx-trigger", "--workflow", "deploy-service", "--entity", "payments-api",
                         "--data", '{"version":"2.0.0"}', "--wait", "--interval", "0.05", "--json" }
      assert.equal(0, r.code, r.err)
      assert.equal("SUCCEEDED", json.decode(r.out).status)
    end)

    it("exits 1 when the waited run fails", function()
      local r = recipe { "dx-trigger", "--workflow", "scripted-job", "--data", '{"outcome":"FAILED"}',
                         "--wait", "--interval", "0.05" }
      assert.equal(1, r.code)
      assert.matches("ended FAILED", r.out)
    end)

    it("without --wait only triggers", function()
      local r = recipe { "dx-trigger", "--workflow", "rotate-secrets" }
      assert.equal(0, r.code, r.err)
      assert.matches("^workflow run %w+ triggered", r.out)
    end)
  end)

  describe("dx-query", function()
    it("writes the result as CSV", function()
      local out = dir .. "/q.csv"
      local r = recipe { "dx-query", "--sql", "SELECT name FROM teams", "--out", out }
      assert.equal(0, r.code, r.err)
      assert.matches("^%d+ rows, %d+ columns %-> ", r.out)
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

    it("fails cleanly on SQL the API refuses, writing nothing", function()
      local r = recipe { "dx-query", "--sql", "DROP TABLE teams", "--out", dir .. "/x.csv" }
      assert.equal(1, r.code)
      assert.matches("invalid_sql", r.err)
      assert.same({}, S.ls(dir))
    end)
  end)
end)
