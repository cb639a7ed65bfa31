import os
import stat
import threading

import pytest
from django.core.exceptions import ImproperlyConfigured

from common.env import database_config, env_bool, load_or_create_secret_key, parse_media_roots
from scanner.conf import ScannerConfig


def test_sqlite_is_the_default_with_wal_and_immediate_transactions(tmp_path):
    config = database_config(None, tmp_path)
    assert config["ENGINE"] == "django.db.backends.sqlite3"
    assert config["NAME"] == str(tmp_path / "db.sqlite3")
    assert config["OPTIONS"]["transaction_mode"] == "IMMEDIATE"
    assert "journal_mode=WAL" in config["OPTIONS"]["init_command"]
    assert config["TEST"]["NAME"] == str(tmp_path / "test_db.sqlite3")


def test_postgres_url_is_parsed(tmp_path):
    config = database_config("postgres://media:s3cret@db.lan:5433/catalogue", tmp_path)
    assert config["ENGINE"] == "django.db.backends.postgresql"
    assert (config["NAME"], config["USER"], config["PASSWORD"]) == ("catalogue", "media", "s3cret")
    assert (config["HOST"], config["PORT"]) == ("db.lan", 5433)
    assert "OPTIONS" not in config or "transaction_mode" not in config["OPTIONS"]


def test_a_bad_database_url_names_the_variable(tmp_path):
    with pytest.raises(ImproperlyConfigured, match="DATABASE_URL"):
        database_config("nosuchdb://x/y", tmp_path)


def test_media_roots_are_real_absolute_paths(tmp_path):
    (tmp_path / "films").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "films")
    roots = parse_media_roots(f"{tmp_path}/films/:{tmp_path}/link: :{tmp_path}/music")
    assert roots == [str(tmp_path / "films"), str(tmp_path / "music")]
    assert parse_media_roots("") == [] and parse_media_roots(None) == []


def test_relative_media_roots_are_refused():
    with pytest.raises(ImproperlyConfigured, match="MEDIA_ROOTS"):
        parse_media_roots("media/films")


def test_scanner_settings_from_environment():
    config = ScannerConfig.from_env(
        {"SCANNER_MAX_CONCURRENT": "3", "SCANNER_ENABLED": "false", "SCANNER_MAX_FILES_PER_SECOND": "250"}
    )
    assert (config.max_concurrent, config.enabled, config.max_files_per_second) == (3, False, 250.0)
    defaults = ScannerConfig.from_env({})
    assert (defaults.reconcile_interval, defaults.heartbeat_interval, defaults.worker_timeout) == (30, 10, 30)
    assert (defaults.auto_resume_min_files, defaults.auto_resume_min_percent) == (10, 1)


@pytest.mark.parametrize(
    "name, value",
    [("SCANNER_MAX_CONCURRENT", "two"), ("SCANNER_MAX_CONCURRENT", "0"), ("SCANNER_ENABLED", "maybe")],
)
def test_bad_scanner_settings_name_the_variable(name, value):
    with pytest.raises(ImproperlyConfigured, match=name):
        ScannerConfig.from_env({name: value})


def test_env_bool_words():
    assert env_bool({"X": "Yes"}, "X", False) is True
    assert env_bool({"X": "off"}, "X", True) is False
    assert env_bool({}, "X", True) is True


def test_secret_key_is_generated_once_and_private(tmp_path):
    path = tmp_path / "var" / "secret_key"
    first = load_or_create_secret_key(path)
    assert len(first) >= 50
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert load_or_create_secret_key(path) == first


def test_concurrent_first_starts_agree_on_one_key(tmp_path):
    path = tmp_path / "secret_key"
    keys: list[str] = []
    threads = [threading.Thread(target=lambda: keys.append(load_or_create_secret_key(path))) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(keys)) == 1 and keys[0] == path.read_text()


def test_a_worker_timeout_not_longer_than_the_heartbeat_is_refused():
    with pytest.raises(ImproperlyConfigured, match="SCANNER_WORKER_TIMEOUT"):
        ScannerConfig.from_env({"SCANNER_WORKER_TIMEOUT": "5", "SCANNER_HEARTBEAT_INTERVAL": "10"})
