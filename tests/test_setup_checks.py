"""The project's standing promises: migrations match the models, deploy checks pass."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import connection

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.django_db
def test_migrations_are_up_to_date():
    call_command("makemigrations", "--check", "--dry-run", verbosity=0)


def _manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def test_check_deploy_passes_in_a_production_environment(tmp_path):
    env = {
        **os.environ,
        "MEDIASERVER_VAR_DIR": str(tmp_path),
        "DJANGO_SECRET_KEY": "k" * 10 + "production-secret-0123456789-abcdefghijklmnopqrstuvwxyz",
        "DJANGO_ALLOWED_HOSTS": "media.example.com",
        "DJANGO_HTTPS": "true",
    }
    env.pop("DJANGO_DEBUG", None)
    result = _manage("check", "--deploy", "--fail-level", "WARNING", env=env)
    assert result.returncode == 0, result.stdout + result.stderr


def test_debug_is_off_and_a_secret_key_is_generated_by_default(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")}
    env["MEDIASERVER_VAR_DIR"] = str(tmp_path)
    code = "from django.conf import settings; print(settings.DEBUG, settings.SECRET_KEY == open(%r).read())"
    result = _manage("shell", "-v0", "-c", code % str(tmp_path / "secret_key"), env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "True"]
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0


@pytest.mark.django_db
def test_sqlite_runs_in_wal_mode():
    if connection.vendor != "sqlite":
        pytest.skip("SQLite only")
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA journal_mode")
        assert cursor.fetchone()[0] == "wal"


@pytest.mark.django_db
def test_media_paths_sort_bytewise_in_the_database(make_library):
    """The scanner relies on SQL ordering paths as Python does (migration libraries 0002)."""
    from django.utils import timezone

    from libraries.models import MediaFile

    library = make_library()
    names = ["b.mp3", "B.mp3", "b/x.mp3", "b-c.mp3", "bé.mp3", "b_d.mp3", "a b.mp3", "Z.mp3", "ä.mp3"]
    now = timezone.now()
    MediaFile.objects.bulk_create(
        MediaFile(library=library, path=n, size=1, mtime_ns=1, kind="audio", extension="mp3", first_seen=now,
                  last_seen=now)
        for n in names
    )
    in_order = MediaFile.objects.filter(library=library).order_by("path").values_list("path", flat=True)
    assert list(in_order) == sorted(names)
    in_range = MediaFile.objects.filter(library=library, path__gt="b-c.mp3", path__lte="b/x.mp3")
    assert sorted(in_range.values_list("path", flat=True)) == [n for n in sorted(names) if "b-c.mp3" < n <= "b/x.mp3"]
