"""A process that only scans: claims queued jobs until SIGTERM or Ctrl-C, then pauses them."""

import signal
import threading

from django.core.management.base import BaseCommand, CommandError

from scanner.conf import scanner_config
from scanner.runtime.entrypoints import start_server_process, stop_server_process


class Command(BaseCommand):
    help = "Run a scan-only worker process (no web server)."

    def handle(self, *args, **options):
        if not scanner_config().enabled:
            raise CommandError("SCANNER_ENABLED is off: this process would do nothing")
        stop = threading.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())
        if start_server_process("scanworker") is None:
            raise CommandError("The scanner runtime could not start; see the log")
        self.stdout.write("scanworker running; Ctrl-C or SIGTERM stops it (running scans are paused)")
        while not stop.wait(1):
            pass
        self.stdout.write("stopping: pausing running scans")
        stop_server_process(timeout=25)
