"""gunicorn settings for `make run` and production; every value can be set from the environment."""

import os

from mediaserver.proxies import trusted_proxy_networks

# Master and workers: what the server creates (the SQLite database and its -wal and -shm files)
# is readable by its own user only (mediaserver/private_files.py).
os.umask(0o077)

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
# Threads keep the API answering while a worker's scanner threads are busy.
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "60"))
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "30"))
accesslog = os.environ.get("GUNICORN_ACCESSLOG", "-") or None  # empty: no access log
logger_class = "mediaserver.access_log.RedactingLogger"  # no ?api_key= token in it
wsgi_app = "mediaserver.wsgi:application"
# X-Forwarded-Proto (https or not) is believed only from our reverse proxies: the same
# DJANGO_TRUSTED_PROXY_ADDRESSES that mediaserver/client_address.py believes X-Forwarded-For from.
forwarded_allow_ips = ",".join(str(network) for network in trusted_proxy_networks(os.environ))
# gunicorn's runtime control socket is not used here, and several servers on one host
# (tests, a second instance) would fight over its default path.
control_socket_disable = True


def post_fork(server, worker):
    """In each worker (never the master): declare a scanning server, then set up Django,
    whose AppConfig.ready starts the scanner runtime (startup recovery runs first)."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mediaserver.settings")
    from scanner.runtime.entrypoints import declare_server_process, start_server_process

    declare_server_process("gunicorn")
    import django

    django.setup()
    start_server_process("gunicorn")  # no-op if ready() started it; needed if the app was preloaded


def worker_exit(server, worker):
    """On a graceful stop, pause this worker's scans (pause_reason=shutdown) and unregister it."""
    from scanner.runtime.entrypoints import stop_server_process

    stop_server_process(timeout=max(1, graceful_timeout - 5))
