"""What is played: the scenario schema and the built-in library of worlds."""
