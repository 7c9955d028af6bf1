"""Application layer: the `dilemma` command line."""
