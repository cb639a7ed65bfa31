import os
import sys

from django.apps import AppConfig


class ScannerConfig(AppConfig):
    name = "scanner"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Only runserver's serving process is started from here; gunicorn and the scanner
        # commands start their runtime themselves (scanner/entrypoints.py).
        from scanner.entrypoints import is_runserver_serving_process, start_server_process

        if is_runserver_serving_process(sys.argv, os.environ):
            start_server_process("runserver")
