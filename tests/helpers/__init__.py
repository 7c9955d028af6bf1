"""Helpers shared by the tests (and the benchmarks): builders, fake models, a fake server.

Pytest fixtures live in tests/conftest.py; these are plain modules imported by name.
"""
