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
