"""Pure policy about a request before it runs: validation, presets, templates, speed tiers and planned
levers, the memory model and planner, a long video's plan."""
