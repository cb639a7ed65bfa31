"""A read-only passthrough FUSE file system that simulates a slow or faulty network share.

It runs in its own process (`python -m tests.fusefs SOURCE MOUNTPOINT --config CONFIG.json`), so a
test blocked on the mount never deadlocks the file system serving it; tests use `mounted()`. The
faults live in the JSON config, which the file system reloads when it changes:

  latency      seconds added to every getattr, readdir, open and read (default 0)
  eio_getattr  relative paths whose getattr (lstat) fails with EIO
  enoent_getattr  relative paths still listed whose getattr fails with ENOENT (a name the share
               lists but cannot look up: an SMB name it cannot map, a flaky NFS server)
  eio_readdir  relative folder paths whose listing (opendir) fails with EIO
  hang_read    relative paths whose read blocks until they leave the list (a stuck NFS read)
  no_dtype     readdir returns names only: the kernel reports DT_UNKNOWN, so callers must stat

Relative paths are '/'-separated from the mount root ("" is the root itself). The kernel caches
nothing (zero entry/attr/negative timeouts, direct_io), so every call reaches the file system.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import functools
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DEFAULTS: dict[str, Any] = {"latency": 0.0, "eio_getattr": [], "enoent_getattr": [], "eio_readdir": [],
                            "hang_read": [], "no_dtype": False}
POLL = 0.05  # how often the file system looks at the config file, and a hung read at the config
# mfusepy loads libfuse2 when it finds one; the options used here are libfuse3's (Debian's fuse3).
FUSE_ENV = {"FUSE_LIBRARY_NAME": "fuse3"}


@functools.cache
def fuse_available() -> str | None:
    """Why FUSE cannot be used here, or None when it can."""
    if not os.access("/dev/fuse", os.R_OK | os.W_OK):
        return "/dev/fuse is missing or not accessible"
    if not shutil.which("fusermount3"):
        return "fusermount3 is missing (Debian package fuse3; `make test` installs it)"
    # In a child process: importing mfusepy loads libfuse, which the test process does not need.
    check = subprocess.run([sys.executable, "-c", "import mfusepy"], env={**os.environ, **FUSE_ENV},
                           capture_output=True, text=True)
    if check.returncode:
        return f"mfusepy cannot be imported: {(check.stderr.strip().splitlines() or ['?'])[-1]}"
    return None


def is_mounted(path: Path) -> bool:
    """Whether `path` is a mount point. Read from /proc/self/mountinfo, which never touches the
    (possibly slow or failing) file system mounted there."""
    path = Path(path)
    target = os.fsencode(os.path.join(os.path.realpath(path.parent), path.name))
    with open("/proc/self/mountinfo", "rb") as mountinfo:  # mount points escape " \t\n\\" as \ooo
        return any(re.sub(rb"\\([0-7]{3})", lambda m: bytes([int(m[1], 8)]), line.split()[4]) == target
                   for line in mountinfo)


def _write_json(path: Path, value: Any) -> None:
    """Replace `path` atomically, so the other process never reads half a file."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(value, default=str))  # default=str: Path values are fine
    os.replace(tmp, path)


@dataclass
class Mount:
    """A live mount: `.path` to use, `.set(**faults)` to change faults, `.process` serving it."""

    path: Path
    workdir: Path
    process: subprocess.Popen | None = None  # None until started: set() then only writes the file
    config: dict[str, Any] = field(default_factory=lambda: dict(DEFAULTS))
    generation: int = 0

    def set(self, **changes: Any) -> None:
        """Change the given config keys (the others keep their values); returns once the file
        system applies them."""
        if unknown := changes.keys() - DEFAULTS.keys():
            raise TypeError(f"unknown fusefs config keys: {sorted(unknown)}")
        self.config.update(changes)
        self.generation += 1
        _write_json(self.workdir / "config.json", {**self.config, "generation": self.generation})
        if self.process is not None:  # the process writes "ack" (atomically) once it applied a config
            self._wait(lambda: int((self.workdir / "ack").read_text()) >= self.generation, "the new config")

    def _wait(self, predicate: Callable[[], bool], what: str, timeout: float = 10) -> None:
        deadline = time.monotonic() + timeout
        assert self.process is not None
        while not predicate():
            if self.process.poll() is not None or time.monotonic() > deadline:
                log = (self.workdir / "log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"fusefs on {self.path}: no {what} (exit {self.process.returncode})\n{log}")
            time.sleep(0.01)


@contextlib.contextmanager
def mounted(source: Path, mountpoint: Path, **config: Any) -> Iterator[Mount]:
    """Mount `source` read-only at `mountpoint` with the given faults; unmount and reap on exit."""
    mountpoint = Path(mountpoint)
    mountpoint.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="fusefs-"))
    mount = Mount(mountpoint, workdir)
    mount.set(**config)  # the first config, read by the process as it starts
    with open(workdir / "log", "wb") as log:
        mount.process = subprocess.Popen(
            [sys.executable, "-m", "tests.fusefs", source, mountpoint, "--config", workdir / "config.json"],
            cwd=ROOT, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
            start_new_session=True)  # a Ctrl-C meant for pytest must not kill the mount under it
    process = mount.process  # for the finally, typed as started
    try:
        mount._wait(lambda: is_mounted(mountpoint), "mount")
        yield mount
    finally:
        if is_mounted(mountpoint):  # lazy: detaches at once even while a call hangs in the mount
            subprocess.run(["fusermount3", "-u", "-z", str(mountpoint)], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, check=False)
        try:  # an idle mount's process exits on unmount; one with open files or a hung call is killed
            process.wait(timeout=1)
        except subprocess.TimeoutExpired:
            process.kill()  # the kernel then fails the calls still waiting on it (ENOTCONN)
            process.wait()
        shutil.rmtree(workdir, ignore_errors=True)


class SlowShare:
    """mfusepy operations: passthrough to `source`, with the faults of the config file."""

    use_ns = True  # times in nanoseconds (mfusepy warns otherwise)

    def __init__(self, source: str, config: str) -> None:
        self.source, self.config = os.path.realpath(source), config
        self.stamp: tuple[int, int, int] | None = None
        self.faults: dict[str, Any] = {}
        self._reload()
        threading.Thread(target=self._watch, daemon=True).start()

    def _reload(self) -> None:
        st = os.stat(self.config)
        if (stamp := (st.st_ino, st.st_mtime_ns, st.st_size)) == self.stamp:
            return
        data = json.loads(Path(self.config).read_text())
        for key in ("eio_getattr", "enoent_getattr", "eio_readdir", "hang_read"):
            data[key] = frozenset(p.strip("/") for p in data[key])
        self.stamp, self.faults = stamp, data  # one reference swap: calls see old or new, never a mix
        _write_json(Path(self.config).with_name("ack"), data["generation"])

    def _watch(self) -> None:
        while True:
            time.sleep(POLL)
            with contextlib.suppress(OSError, ValueError):
                self._reload()

    def _slow(self) -> dict[str, Any]:
        faults = self.faults
        if faults["latency"]:
            time.sleep(faults["latency"])
        return faults

    def getattr(self, path: str, fh: int | None = None) -> dict[str, Any]:
        config = self._slow()
        if path.strip("/") in config["eio_getattr"]:
            raise OSError(errno.EIO, "injected by fusefs")
        if path.strip("/") in config["enoent_getattr"]:
            raise OSError(errno.ENOENT, "injected by fusefs")
        st = os.lstat(self.source + path)
        keys = ("st_ino", "st_mode", "st_nlink", "st_uid", "st_gid", "st_size", "st_blocks")
        attrs = {key: getattr(st, key) for key in keys}
        return attrs | {"st_atime": st.st_atime_ns, "st_mtime": st.st_mtime_ns, "st_ctime": st.st_ctime_ns}

    def opendir(self, path: str) -> int:
        if path.strip("/") in self.faults["eio_readdir"]:
            raise OSError(errno.EIO, "injected by fusefs")
        return 0

    def readdir(self, path: str, fh: int) -> list[tuple[str, dict[str, int], int]]:
        typed = not self._slow()["no_dtype"]
        folder, listing = self.source + path, []
        for name in (".", "..", *os.listdir(folder)):
            with contextlib.suppress(FileNotFoundError):  # vanished since listed
                st = os.lstat(os.path.join(folder, name))
                # Only d_ino and d_type (the mode's file type bits; mode 0 is DT_UNKNOWN) reach the
                # kernel. Set both every time: mfusepy reuses one struct stat for all entries.
                listing.append((name, {"st_ino": st.st_ino, "st_mode": st.st_mode if typed else 0}, 0))
        return listing

    def open(self, path: str, flags: int) -> int:
        self._slow()
        return os.open(self.source + path, os.O_RDONLY)

    def read(self, path: str, size: int, offset: int, fh: int) -> bytes:
        self._slow()
        while path.strip("/") in self.faults["hang_read"]:
            time.sleep(POLL)
        return os.pread(fh, size, offset)

    def release(self, path: str, fh: int) -> None:
        os.close(fh)

    def readlink(self, path: str) -> str:
        return os.readlink(self.source + path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("source")
    parser.add_argument("mountpoint")
    parser.add_argument("--config", required=True)
    args = parser.parse_args()
    for key, value in FUSE_ENV.items():
        os.environ.setdefault(key, value)
    import mfusepy

    # Multithreaded (no nothreads=True), with room for many hung reads: libfuse's default of 10
    # worker threads would stall the whole mount behind 10 of them. Setting max_idle_threads also
    # silences libfuse 3.14's bogus "Ignoring invalid max threads value 4294967295" warning.
    # allow_other: a mount made by root serves the tests that drop privileges too. use_ino: the
    # source's inode numbers, stable like a real share's (libfuse's own numbers change once a node
    # is forgotten, and with zero timeouts nodes are forgotten often).
    mfusepy.FUSE(SlowShare(args.source, args.config), args.mountpoint, foreground=True, ro=True,
                 fsname="fusefs", max_threads=100, max_idle_threads=10, allow_other=os.geteuid() == 0,
                 use_ino=True, entry_timeout=0, attr_timeout=0, negative_timeout=0, direct_io=True)


if __name__ == "__main__":
    main()
