"""Self-checks of tests/fusefs.py, the FUSE file system that simulates a slow or faulty share.

Skipped when FUSE cannot be used here, unless REQUIRE_FUSE is set (as .ci/run does).
"""

import errno
import os
import threading
import time
from pathlib import Path

import pytest

from tests.fusefs import fuse_available, is_mounted, mounted

if reason := fuse_available():
    if os.environ.get("REQUIRE_FUSE"):
        raise RuntimeError(f"REQUIRE_FUSE is set but FUSE cannot be used: {reason}")
    pytest.skip(f"FUSE cannot be used: {reason}", allow_module_level=True)

pytestmark = pytest.mark.timeout(60)

ODD_NAME = os.fsdecode(b"caf\xe9 \xff.txt")  # not UTF-8: reaches Python through surrogateescape


@pytest.fixture
def source(tmp_path: Path) -> Path:
    root = tmp_path / "source"
    (root / "sub" / "deeper").mkdir(parents=True)
    (root / "a.txt").write_text("hello")
    (root / "sub" / "b.bin").write_bytes(os.urandom(300_000))  # several FUSE reads
    (root / "sub" / "deeper" / ODD_NAME).write_text("odd")
    (root / "link").symlink_to("sub/b.bin")
    return root


def tree(root: Path) -> dict[str, tuple]:
    """Every path under root, relative, with its type and size or content."""
    found: dict[str, tuple] = {}
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            path = os.path.join(folder, name)
            rel = os.path.relpath(path, root)
            if os.path.islink(path):
                found[rel] = ("link", os.readlink(path))
            elif os.path.isdir(path):
                found[rel] = ("dir",)
            else:
                with open(path, "rb") as f:
                    found[rel] = ("file", os.stat(path).st_size, f.read())
    return found


def test_passthrough_matches_the_source_and_is_read_only(source, tmp_path):
    mountpoint = tmp_path / os.fsdecode(b"share \xff")  # mountinfo escapes the space
    with mounted(source, mountpoint) as mount:
        assert is_mounted(mount.path)
        assert tree(mount.path) == tree(source)
        assert len(tree(source)) == 6
        with os.scandir(mount.path / "sub") as entries:  # the source's inode numbers, in listings too
            assert {e.name: e.inode() for e in entries} == {e.name: e.inode() for e in os.scandir(source / "sub")}
        assert os.stat(mount.path / "a.txt").st_ino == os.stat(source / "a.txt").st_ino
        with pytest.raises(OSError) as error:
            (mount.path / "new.txt").write_text("no")
        assert error.value.errno == errno.EROFS


def test_latency_applies_to_every_call(source, tmp_path):
    with mounted(source, tmp_path / "mnt", latency=0.01) as mount:
        start = time.monotonic()
        for _ in range(50):
            os.stat(mount.path / "a.txt")
        assert time.monotonic() - start >= 0.5  # nothing cached by the kernel
        mount.set(latency=0)
        start = time.monotonic()
        for _ in range(50):
            os.stat(mount.path / "a.txt")
        assert time.monotonic() - start < 0.5


def test_eio_on_getattr_and_listing(source, tmp_path):
    with mounted(source, tmp_path / "mnt", eio_getattr=["sub/b.bin"], eio_readdir=["/sub/deeper/"]) as mount:
        with pytest.raises(OSError) as error:
            os.stat(mount.path / "sub" / "b.bin")
        assert error.value.errno == errno.EIO
        assert sorted(os.listdir(mount.path / "sub")) == ["b.bin", "deeper"]  # still listed
        with pytest.raises(OSError) as error:
            os.listdir(mount.path / "sub" / "deeper")
        assert error.value.errno == errno.EIO
        assert os.stat(mount.path / "sub" / "deeper").st_mode  # its own getattr still works

        mount.set(eio_getattr=[], eio_readdir=[])
        assert os.stat(mount.path / "sub" / "b.bin").st_size == 300_000
        assert os.listdir(mount.path / "sub" / "deeper") == [ODD_NAME]


def test_no_dtype_makes_scandir_stat(source, tmp_path):
    with mounted(source, tmp_path / "mnt", eio_getattr=["sub"]) as mount:
        with os.scandir(mount.path) as entries:  # d_type known: no stat, so no EIO
            assert {e.name: e.is_dir(follow_symlinks=False) for e in entries} == {
                "a.txt": False, "sub": True, "link": False}
        mount.set(no_dtype=True)
        with os.scandir(mount.path) as entries:
            by_name = {e.name: e for e in entries}
        assert by_name["a.txt"].is_file()  # DT_UNKNOWN: is_file() stats, and that works
        with pytest.raises(OSError) as error:
            by_name["sub"].is_dir()  # DT_UNKNOWN: is_dir() stats, and that fails
        assert error.value.errno == errno.EIO


def read_in_thread(path: Path) -> tuple[threading.Thread, list]:
    outcome: list = []

    def read() -> None:
        try:
            outcome.append(path.read_bytes())
        except OSError as error:
            outcome.append(error)

    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    return thread, outcome


def test_hang_read_blocks_until_released(source, tmp_path):
    with mounted(source, tmp_path / "mnt", hang_read=["sub/b.bin"]) as mount:
        readers = [read_in_thread(mount.path / "sub" / "b.bin") for _ in range(12)]  # > libfuse's default 10 threads
        time.sleep(0.5)  # long enough for a read that does not hang to finish
        assert all(thread.is_alive() and not outcome for thread, outcome in readers)
        assert (mount.path / "a.txt").read_text() == "hello"  # the rest of the mount still answers
        mount.set(hang_read=[])
        for thread, outcome in readers:
            thread.join(10)
            assert outcome == [(source / "sub" / "b.bin").read_bytes()]


def zombies_of_this_process() -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # exited meanwhile
        if fields[0] == "Z" and int(fields[1]) == os.getpid():
            found.append(int(stat.parent.name))
    return found


def test_unmount_while_a_read_hangs_leaves_no_mount_and_no_zombie(source, tmp_path):
    with mounted(source, tmp_path / "mnt", hang_read=["a.txt"]) as mount:
        thread, outcome = read_in_thread(mount.path / "a.txt")
        thread.join(0.2)
        assert thread.is_alive()
    thread.join(10)
    assert not thread.is_alive() and isinstance(outcome[0], OSError)  # ENOTCONN once the process is gone
    assert not is_mounted(mount.path)
    assert mount.process.returncode is not None and not Path(f"/proc/{mount.process.pid}").exists()
    assert mount.process.pid not in zombies_of_this_process()

    with mounted(source, tmp_path / "mnt") as mount:  # an idle mount's process exits by itself
        assert (mount.path / "a.txt").read_text() == "hello"
    assert mount.process.returncode == 0
    assert not is_mounted(mount.path) and mount.process.pid not in zombies_of_this_process()
