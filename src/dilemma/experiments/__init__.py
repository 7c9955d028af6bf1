"""Experiment files, their expansion into runs, and sweeps that play them."""
