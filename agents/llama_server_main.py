"""Entry point of the local llama.cpp server: `python -m agents.llama_server_main ARGS`.

It registers our Gemma 3 chat format, drops environment variables that llama_cpp.server's
settings would read instead of our arguments (HOST, PORT, API_KEY, ...), starts a watchdog that
ends the process (and removes its log folder) when its parent dies, so a killed sandbox
never leaves a server behind, then
runs llama_cpp.server's own main with the given arguments.
"""

from __future__ import annotations

import os
import shutil
import sys
import threading
import time

PARENT_PID_ENV = "DILEMMA_PARENT_PID"
LOG_DIR_ENV = "DILEMMA_SERVER_LOG_DIR"
WATCH_INTERVAL_S = 0.5


def _watch_parent(parent: int, log_dir: str | None) -> None:
    while True:
        if os.getppid() != parent:
            if log_dir:  # nobody else is left to remove it
                shutil.rmtree(log_dir, ignore_errors=True)
            os._exit(0)
        time.sleep(WATCH_INTERVAL_S)


def _scrub_settings_env() -> None:
    from llama_cpp.server.settings import Settings

    names = {name.lower() for name in Settings.model_fields} | {"config_file"}
    for key in list(os.environ):
        if key.lower() in names:
            del os.environ[key]


def main() -> None:
    """Register the format, guard against orphaning, run the server."""
    parent = int(os.environ.get(PARENT_PID_ENV, "0") or 0)
    if parent:
        if os.getppid() != parent:
            sys.exit("parent process already gone")
        log_dir = os.environ.get(LOG_DIR_ENV)
        threading.Thread(target=_watch_parent, args=(parent, log_dir), daemon=True).start()
    from agents.llama_chat_format import register

    register()
    _scrub_settings_env()
    from llama_cpp.server.__main__ import main as server_main

    server_main()  # type: ignore[no-untyped-call]


if __name__ == "__main__":
    main()
