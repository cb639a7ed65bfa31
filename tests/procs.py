"""Real server processes for tests: gunicorn and manage.py commands on the test database.

The test process makes itself a child subreaper, so the gunicorn workers orphaned by a
SIGKILL of their master are re-parented to it and reaped here: nothing else on this machine
reaps them, and an unreaped zombie would linger for the rest of the run.
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

from django.db import connection

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
PR_SET_CHILD_SUBREAPER = 36


def become_subreaper() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)


def reap_orphans() -> None:
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def wait_until(predicate: Callable[[], object], *, timeout: float, interval: float = 0.05, what: str = "condition"):
    """Poll `predicate` until it returns something truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def database_url() -> str:
    """A DATABASE_URL that points a child process at this test run's database."""
    s = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{s['NAME']}"
    auth = s["USER"] + (f":{s['PASSWORD']}" if s["PASSWORD"] else "")
    return f"postgres://{auth}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def server_env(var_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SCANNER_", "DJANGO_", "GUNICORN_"))}
    # Servers watch no folder unless a test is about watching: a watcher must not race the
    # scans a test starts (tests/test_watching.py turns it on).
    env.update(MEDIASERVER_VAR_DIR=str(var_dir), DATABASE_URL=database_url(), PYTHONUNBUFFERED="1",
               SCANNER_WATCH="false")
    env.update(extra)
    return env


class Gunicorn:
    """A real gunicorn serving the project, started in its own process group."""

    def __init__(self, var_dir: Path, *, workers: int = 1, env: dict[str, str] | None = None):
        self.var_dir = var_dir
        self.port = free_port()
        self.env = server_env(var_dir, GUNICORN_BIND=f"127.0.0.1:{self.port}", WEB_CONCURRENCY=str(workers),
                              **(env or {}))
        self.log_path = var_dir / f"gunicorn-{self.port}.log"
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, *, ready_path: str = "/admin/login/", timeout: float = 30) -> Gunicorn:
        become_subreaper()
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [str(BIN / "gunicorn"), "-c", "gunicorn.conf.py"],
            cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        log.close()
        wait_until(lambda: self._answers(ready_path), timeout=timeout, what=f"gunicorn on {self.url}{ready_path}")
        return self

    def _answers(self, path: str) -> bool:
        if self.proc.poll() is not None:
            raise AssertionError(f"gunicorn exited with {self.proc.returncode}:\n{self.log()}")
        try:
            with urllib.request.urlopen(self.url + path, timeout=2):
                return True
        except urllib.error.HTTPError:
            return True
        except OSError:
            return False

    def get(self, path: str, *, cookie: str = "") -> tuple[int, bytes, dict[str, str]]:
        request = urllib.request.Request(self.url + path, headers={"Cookie": cookie} if cookie else {})
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, response.read(), dict(response.headers)
        except urllib.error.HTTPError as error:
            return error.code, error.read(), dict(error.headers)

    def api(self, method: str, path: str, token: str, body: dict | None = None) -> tuple[int, dict]:
        """Call the JSON API as the owner of `token`."""
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.url + path, data=data, method=method, headers={
            "Authorization": f"Token {token}", "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"null")

    def kill(self, sig: int = signal.SIGKILL, *, timeout: float = 30) -> None:
        """Signal the whole process group (master and workers) and reap them all."""
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, sig)
        except ProcessLookupError:
            pass
        self.proc.wait(timeout=timeout)
        if sig == signal.SIGKILL:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)  # workers forked after the first kill
            except ProcessLookupError:
                pass
        wait_until(lambda: (reap_orphans(), not _group_alive(self.proc.pid))[1], timeout=timeout,
                   what="workers to exit")
        self.proc = None

    def stop(self) -> None:
        # A worker still booting (in post_fork, before gunicorn sets its signal handlers) misses
        # the SIGTERM; the master then waits its graceful_timeout (30 s) before killing it.
        self.kill(signal.SIGTERM, timeout=45)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    # Members that are zombies still count for killpg; treat them as gone once reaped.
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) == pgid and fields[0] != "Z":
                return True
    return False


def reader_processes(parent: int) -> dict[int, int]:
    """The live tag reader processes (multiprocessing's spawned children) whose parent is
    `parent`, by pid, with their start ticks (scanner.core.procinfo.is_alive takes both). A zombie
    is dead: it reads nothing and holds nothing but its pid."""
    found = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            command = Path(f"/proc/{entry}/cmdline").read_bytes()
        except OSError:
            continue
        if int(fields[1]) == parent and fields[0] not in ("Z", "X") and b"spawn_main" in command:
            found[int(entry)] = int(fields[19])
    return found


def child_pids(parent: int) -> list[int]:
    """The processes whose parent is `parent` (gunicorn's workers, for its master)."""
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1]) == parent:
                    pids.append(int(entry))
            except OSError:
                continue
    return pids


def manage(*args: str, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
    )
