import contextlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from libraries.models import Library


@pytest.fixture(autouse=True)
def _plain_static_storage(settings):
    """Templates render static URLs without a collectstatic manifest (make run builds one)."""
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


@pytest.fixture(autouse=True)
def _no_watching(settings):
    """No folder is watched unless a test is about watching (tests/test_watching.py): a watcher
    must not race the scans a test starts."""
    import dataclasses

    settings.SCANNER = dataclasses.replace(settings.SCANNER, watch=False)


@pytest.fixture(autouse=True)
def _fresh_throttles(settings, request):
    """Each test starts with no throttle counts (they live in the cache): its own memory cache."""
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache",
                                   "LOCATION": request.node.nodeid}}


@pytest.fixture
def make_library(tmp_path):
    """Create a Library row over a fresh folder under tmp_path (or the given path)."""
    counter = iter(range(1, 10_000))

    def make(name: str | None = None, path=None, **fields) -> Library:
        n = next(counter)
        folder = Path(path) if path is not None else tmp_path / f"library{n}"
        folder.mkdir(parents=True, exist_ok=True)
        return Library.objects.create(name=name or f"Library {n}", path=str(folder.resolve()), **fields)

    return make


@pytest.fixture
def tmpfs_share():
    """A share to mount at a folder, as a NAS share is: a file system of its own (tmpfs), so its
    files are on another device than the folder under it. `share.mount(path)`, `share.unmount()`;
    skipped where the test may not mount."""
    mounted: list[Path] = []

    class Share:
        def mount(self, path: Path) -> Path:
            path.mkdir(parents=True, exist_ok=True)
            if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m", "share", str(path)],
                              capture_output=True).returncode:
                pytest.skip("needs the right to mount a file system (root)")
            mounted.append(path)
            return path

        def unmount(self) -> None:
            subprocess.run(["umount", str(mounted.pop())], check=True)

    yield Share()
    while mounted:
        subprocess.run(["umount", "-l", str(mounted.pop())])


@pytest.fixture
def public_tmp():
    """A folder every user can traverse (pytest's tmp_path is private to root), for tests that
    check permissions as an unprivileged user."""
    path = Path(tempfile.mkdtemp(prefix="mediaserver-test-", dir="/tmp"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def staff_client(django_user_model):
    from tests.helpers import api_client, make_operator

    return api_client(make_operator("staff", password="unused-pass-1"))


@pytest.fixture
def user_client(django_user_model):
    from tests.helpers import api_client

    return api_client(django_user_model.objects.create_user("viewer", password="unused-pass-2"))


@pytest.fixture
def viewer(client, django_user_model):
    """The pages' test client, logged in as a user who is not staff."""
    client.force_login(django_user_model.objects.create_user("viewer", password="a-long-pass-123"))
    return client


@pytest.fixture
def anon_client():
    from tests.helpers import api_client

    return api_client(None)


@pytest.fixture
def runtime(settings):
    """Start this test process's scanner runtime with the given config changes."""
    from scanner.runtime.entrypoints import start_runtime, stop_runtime
    from tests.helpers import config

    def start(**changes):
        settings.SCANNER = config(**{"claim_interval": 0.2, "heartbeat_interval": 0.2, **changes})
        return start_runtime("test")

    yield start
    stop_runtime()


@pytest.fixture
def dead_pid():
    """The pid of a process that has exited and been reaped."""
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


@pytest.fixture
def zombie_pid():
    """The pid of a process that has exited and is not reaped yet (state Z)."""
    from tests.procs import wait_until

    proc = subprocess.Popen(["true"])
    wait_until(lambda: open(f"/proc/{proc.pid}/stat").read().rsplit(")", 1)[1].split()[0] == "Z", timeout=5,
               what="the child to become a zombie")
    yield proc.pid
    proc.wait()


@pytest.fixture
def share(tmp_path):
    """Mount folders through the FUSE file system of tests/fusefs.py (slow or faulty shares):
    `share(source, **faults)`. Skipped where FUSE cannot be used, unless REQUIRE_FUSE is set."""
    from tests.fusefs import fuse_available, mounted

    if reason := fuse_available():
        if os.environ.get("REQUIRE_FUSE"):
            pytest.fail(f"REQUIRE_FUSE is set but FUSE cannot be used: {reason}")
        pytest.skip(f"FUSE cannot be used: {reason}")
    with contextlib.ExitStack() as mounts:
        counter = iter(range(1, 100))
        yield lambda source, **faults: mounts.enter_context(mounted(source, tmp_path / f"mnt{next(counter)}", **faults))
