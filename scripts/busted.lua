-- Runs busted's command-line runner inside autolua, so every spec goes through the real core.
require "busted.runner" { standalone = false }
