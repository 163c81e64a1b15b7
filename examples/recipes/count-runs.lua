-- An example of a team's own recipe: counts the runs of a Dexi account, or of one robot.
-- Put files like this one in a directory and point AUTOLUA_RECIPES_PATH at it:
--   AUTOLUA_RECIPES_PATH=examples/recipes autolua recipe count-runs --robot ID
local dexi = require "dexi"

return {
  summary = "count the runs of the Dexi account (or of one robot)",
  options = {
    { name = "robot", type = "string", metavar = "ID", help = "only the runs of this robot" },
    { name = "show", type = "integer", default = 0, min = 0, help = "also print the names of the first N" },
  },
  examples = { "autolua recipe count-runs", "autolua recipe count-runs --robot 10000000-0000-4000-8000-000000000001 --show 5" },
  run = function(opts)
    local n = 0
    for run in dexi.client().runs.each { robot_id = opts.robot } do
      n = n + 1
      if n <= opts.show then io.stderr:write(run.name, "\n") end
    end
    return { runs = n, robot = opts.robot, line = ("%d runs"):format(n) }
  end,
}
