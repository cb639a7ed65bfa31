"""gunicorn settings for `make run` and production; every value can be set from the environment."""

import os

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
# Threads keep the API answering while a worker's scanner threads are busy.
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "60"))
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "30"))
accesslog = os.environ.get("GUNICORN_ACCESSLOG", "-")
wsgi_app = "mediaserver.wsgi:application"
# gunicorn's runtime control socket is not used here, and several servers on one host
# (tests, a second instance) would fight over its default path.
control_socket_disable = True


def post_fork(server, worker):
    """In each worker (never the master): set up Django and start this process's scanner."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mediaserver.settings")
    import django

    django.setup()
    from scanner.entrypoints import start_server_process

    start_server_process("gunicorn")


def worker_exit(server, worker):
    """On a graceful stop, pause this worker's scans (pause_reason=shutdown) and unregister it."""
    from scanner.entrypoints import stop_server_process

    stop_server_process(timeout=max(1, graceful_timeout - 5))
