"""`dilemma` in a child process whose scripted models stop answering after a number of calls.

    python -m tests.helpers.held_sweep FREE ARGS...

runs `dilemma ARGS...`: the first FREE scripted model calls answer as usual, every later call
waits forever (asynchronously, so Ctrl-C still cancels the runs). When the first call is held the
child writes HELD to stderr: the parent then knows the sweep is frozen mid-run, and signals or
kills it, without sleeping or polling the output folder.
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any

from dilemma.models.scripted import ScriptedPolicy

HELD = "HELD"


def main() -> None:
    free = int(sys.argv[1])
    calls = 0
    answer = ScriptedPolicy._agenerate

    async def held(self: ScriptedPolicy, *args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls > free:
            if calls == free + 1:
                print(HELD, file=sys.stderr, flush=True)
            await asyncio.Event().wait()
        return await answer(self, *args, **kwargs)

    ScriptedPolicy._agenerate = held  # type: ignore[method-assign]
    from dilemma.cli.main import app

    sys.argv = ["dilemma", *sys.argv[2:]]
    app()


if __name__ == "__main__":
    main()
