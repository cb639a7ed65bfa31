"""This process as a scanner: `entrypoints` (which processes scan), `process` (its duties on a
schedule), `identity` (its worker row), `registry` (its scan threads) and `watching` (inotify).

Only the entry points are exported: they are importable before Django is set up (gunicorn's
post_fork), which the rest is not.
"""

from scanner.runtime.entrypoints import (
    current_runtime,
    declare_server_process,
    start_runtime,
    start_server_process,
    stop_runtime,
    stop_server_process,
)

__all__ = ["current_runtime", "declare_server_process", "start_runtime", "start_server_process", "stop_runtime",
           "stop_server_process"]
