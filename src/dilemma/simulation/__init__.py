"""How a scenario is played: world rules, visibility, the async round engine and the runner."""
