"""Scan one library in the foreground, with a progress line; Ctrl-C pauses the scan cleanly."""

from __future__ import annotations

import sys
import threading

from django.core.management.base import BaseCommand, CommandError

from libraries.models import Library
from scanner.jobs import lifecycle, services
from scanner.models import ScanJob
from scanner.runtime.entrypoints import start_runtime, stop_runtime
from scanner.signals import job_changed

REFRESH = 0.5  # seconds between progress lines


class Command(BaseCommand):
    help = "Scan a library (by id, name or path) in the foreground. Ctrl-C pauses; run again to resume."
    # The system checks load every URL, view and schema generator (0.1-0.2 s of a rescan that
    # takes one second); the server and `manage.py check` run them, a scan needs none of it.
    requires_system_checks: list = []

    def add_arguments(self, parser):
        parser.add_argument("library", help="library id, name or folder path")
        parser.add_argument("--full", action="store_true", help="re-read every file, not only new and changed ones")
        parser.add_argument("--path", action="append", dest="paths", metavar="PATH",
                            help="scan only this file or folder (relative to the library, or absolute inside "
                                 "it); repeat for several")

    def handle(self, *args, library: str, full: bool, paths: list[str] | None, **options):
        lib = _find_library(library)
        mode = ScanJob.Mode.FULL if full else ScanJob.Mode.QUICK
        try:
            action = services.scan_start(library_id=lib.pk, mode=mode, trigger=ScanJob.Trigger.COMMAND, paths=paths)
        except services.InvalidScope as exc:
            raise CommandError(str(exc)) from None
        except services.ScanAlreadyRunning as exc:
            raise CommandError(f"{exc} (job {exc.job.pk if exc.job else '?'}); pause it first or wait") from None
        job = action.job
        self.stdout.write(f"{'Scanning' if action.created else 'Resuming'} {lib.name} ({lib.path}), job {job.pk}")
        runtime = start_runtime("scan-command", claim_jobs=False)
        if runtime is None:
            raise CommandError("SCANNER_ENABLED is off")
        try:
            lease = lifecycle.claim(job.pk, runtime.identity.register())
            if lease is None:
                self.stdout.write("A server process picked this scan up first; following its progress.")
            else:
                runtime.adopt(lease)
            job = self._follow(lib)
        finally:
            stop_runtime()
        self.stdout.write("")
        self.stdout.write(f"{job.status}: {job.status_message or job.error_message}")
        if job.status == ScanJob.Status.FAILED:
            raise CommandError(job.error_message or "the scan failed")

    def _follow(self, lib: Library) -> ScanJob:
        # The scan's end, when this process runs it, wakes the loop at once (not at the next refresh).
        moved = threading.Event()

        def on_change(sender, library_id: int, **kwargs) -> None:
            if library_id == lib.pk:
                moved.set()

        job_changed.connect(on_change, weak=False)
        try:
            while True:
                job = _latest(lib)
                self._draw(job)
                if job.status not in (ScanJob.Status.RUNNING, ScanJob.Status.PENDING):
                    return job
                moved.wait(REFRESH)
                moved.clear()
        except KeyboardInterrupt:
            self.stdout.write("")
            self.stdout.write("Ctrl-C: pausing (run the same command again to resume)")
            try:
                return services.scan_pause(library_id=lib.pk)
            except services.NoOpenScan:
                return _latest(lib)
        finally:
            job_changed.disconnect(on_change)

    def _draw(self, job: ScanJob) -> None:
        width = 30
        filled = int(width * job.progress / 100)
        eta = f"{job.eta_seconds:,.0f}s" if job.eta_seconds is not None else "-"
        line = (
            f"\r[{'#' * filled}{'.' * (width - filled)}] {job.progress:5.1f}% "
            f"{job.files_processed:,}/{job.files_found:,} files  {job.files_per_second:,.0f} files/s  "
            f"ETA {eta}  {job.phase}   "
        )
        self.stdout.write(line, ending="")
        sys.stdout.flush()


def _find_library(ref: str) -> Library:
    query = Library.objects.all()
    if ref.isdigit():
        found = query.filter(pk=int(ref)).first()
    else:
        found = query.filter(name=ref).first() or query.filter(path=ref.rstrip("/") or "/").first()
    if found is None:
        names = ", ".join(f"{lib.pk}: {lib.name}" for lib in query[:20]) or "none yet"
        raise CommandError(f"No library {ref!r}. Libraries: {names}")
    return found


def _latest(lib: Library) -> ScanJob:
    """The library's open scan, else its latest: there is one, since this command queued it."""
    job = services.scan_status(library_id=lib.pk)
    assert job is not None, "the command's own job is gone"  # pruning keeps each library's latest job
    return job
