"""Who this process is, and whether another process on this host is alive. No Django here.

A pid alone is not an identity: pids are reused, and a killed process that nobody reaps
stays a zombie (state Z) with its pid still in /proc. A process is alive only if its
/proc entry exists, is not a zombie, and started at the same clock tick as recorded.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

_BOOT_ID = Path("/proc/sys/kernel/random/boot_id")
_PID_NAMESPACE = "/proc/self/ns/pid"


def hostname() -> str:
    return socket.gethostname()


def process_label() -> str:
    """How this process is named in events and logs: hostname:pid."""
    return f"{hostname()}:{os.getpid()}"


def pid_namespace() -> str:
    """Which pids this process can see: the kernel's boot id and this pid namespace. Two
    processes with the same value can check each other's pids; containers sharing a host's
    network (and so its hostname) but not its pids get different values. Empty if unknown
    (no /proc): such workers are judged by their heartbeats only."""
    try:
        boot = _BOOT_ID.read_text().strip()
        namespace = os.stat(_PID_NAMESPACE).st_ino
    except OSError:
        return ""
    return f"{boot}/{namespace}"


def _stat_fields(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) is in parentheses and may itself contain spaces or ')'.
    return raw.rsplit(")", 1)[1].split()


def process_start_ticks(pid: int | None = None) -> int:
    """The start time of `pid` (default: this process), in clock ticks since boot; 0 if unknown."""
    fields = _stat_fields(pid or os.getpid())
    return int(fields[19]) if fields else 0


def is_alive(pid: int, start_ticks: int = 0) -> bool:
    fields = _stat_fields(pid)
    if fields is None or fields[0] in ("Z", "X"):
        return False
    return not start_ticks or int(fields[19]) == start_ticks
