"""What is played: scenario schema and library, world rules, visibility, round engine, records."""
