"""The Python API behind `import dilemma` (and behind the `dilemma` command).

`dilemma` re-exports it lazily; the modules here are:
- `dilemma.api.scenario`: load a scenario with overrides and check its prompt setup (light);
- `dilemma.api.runs`: `run` / `arun`, one scenario;
- `dilemma.api.sweeps`: `sweep` / `asweep`, an experiment, and the plan they follow;
- `dilemma.api.analysis`: `score`, `compare`, `read_record` and their async forms;
- `dilemma.api.loop`: the synchronous forms' way of running a coroutine inside a running loop.
"""
