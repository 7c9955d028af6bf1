"""Children that a test interrupts with SIGINT must not inherit an ignored SIGINT.

A shell starts a background job (`cmd &`) with SIGINT ignored, and Python then installs no
KeyboardInterrupt handler in it or in its children; a test suite run that way would see every
Ctrl-C test hang. Passing `interruptible` as `preexec_fn` gives the child the default handling,
as in a run from a terminal.
"""

from __future__ import annotations

import signal


def interruptible() -> None:
    """In the forked child, before exec: SIGINT back to its default disposition."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
