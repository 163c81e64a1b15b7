-- autolua.recipe, the recipe runner: finding recipes (packaged and the user's), parsing their
-- declared options, their help, and usage errors (exit 2) that name the closest option.
local recipe = require "autolua.recipe"
local S = require "support"

local USER = [[
return {
  summary = "says hello",
  options = {
    { name = "who", type = "string", required = true, help = "whom to greet" },
    { name = "times", type = "integer", default = 1, min = 1, help = "how often" },
    { name = "loud", type = "boolean", help = "shout" },
  },
  run = function(o)
    local s = ("hello %s"):format(o.who)
    if o.loud then s = s:upper() end
    return { line = s:rep(o.times, " "), who = o.who }
  end,
}
]]

describe("autolua.recipe", function()
  it("lists the packaged recipes and loads them; an unknown one is nil", function()
    local names = table.concat(recipe.names(), " ")
    for _, n in ipairs { "dexi-download", "dexi-export", "dexi-run", "dx-deploy", "dx-query", "dx-trigger" } do
      assert.is_truthy(names:find(n, 1, true), n)
      assert.equal("function", type(recipe.load(n).run), n)
    end
    assert.is_nil(recipe.load("no-such-recipe"))
  end)

  it("parses --opt value, --opt=value, flags, whole numbers and defaults, and keeps what follows --", function()
    local r = load(USER)()
    r.positional = true   -- what follows -- is the recipe's only when it says it takes positional arguments
    local opts, rest = recipe.parse("hello", r, { "--who", "ann", "--times=2", "--loud", "--", "--x" })
    assert.same({ who = "ann", times = 2, loud = true }, opts)
    assert.same({ "--x" }, rest)
    r.positional = nil
    opts = recipe.parse("hello", r, { "--who=bo" })
    assert.equal(1, opts.times)
  end)

  it("help lists every option with its notes, and --json and --help", function()
    local text = recipe.help("hello", load(USER)())
    assert.matches("^usage: autolua recipe hello %[options%]\n\nsays hello\n", text)
    assert.matches("--who STRING%s+whom to greet %(required%)", text)
    assert.matches("--times INTEGER%s+how often %(default 1%)", text)
    assert.matches("--json%s+print the summary as JSON %(on stdout, unless data goes there%)", text)
    assert.matches("--help%s+show this help", text)
  end)

  it("runs a user's recipe from AUTOLUA_RECIPES_PATH; usage errors exit 2 naming the cause", function()
    local dir = S.tmpdir()
    S.spit(dir .. "/hello.lua", USER)
    local env = "AUTOLUA_RECIPES_PATH=" .. S.quote(dir)
    local r = S.run({ "recipe", "hello", "--who", "ann", "--times", "2" }, { env = env })
    assert.same({ 0, "", "hello ann hello ann\n" }, { r.code, r.out, r.err })   -- the line for people on stderr
    r = S.run({ "recipe", "hello", "--who", "ann", "--json" }, { env = env })
    assert.same({ who = "ann" }, require("autolua.json").decode(r.out))
    r = S.run({ "recipe", "hello", "--woh", "ann" }, { env = env })
    assert.same({ 2, "autolua recipe: hello: unknown option '--woh' (did you mean --who?)\n" }, { r.code, r.err })
    r = S.run({ "recipe", "hello" }, { env = env })
    assert.same({ 2, "autolua recipe: hello: missing required option --who\n" }, { r.code, r.err })
    r = S.run({ "recipe", "hello", "--who", "x", "--times", "0" }, { env = env })
    assert.same({ 2, "autolua recipe: --times must be at least 1\n" }, { r.code, r.err })
    r = S.run({ "recipe", "hello", "--who", "x", "--", "--x" }, { env = env })
    assert.same({ 2, "autolua recipe: hello: unexpected argument '--x' (options are --name value)\n" }, { r.code, r.err })
    os.execute("rm -rf " .. S.quote(dir))
  end)
end)
