"""Run startup recovery on demand: find orphaned and duplicate scans, fix them, resume them."""

import json as _json

from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError

from scanner.jobs.recovery import recover_scans


class Command(BaseCommand):
    help = "Find scans left orphaned or duplicated by crashed servers, fix them, and resume eligible ones."

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="show what would change; change nothing")
        parser.add_argument("--json", action="store_true", help="print the report as JSON")
        parser.add_argument("--no-resume", action="store_true", help="pause orphans but resume nothing")

    def handle(self, *args, dry_run: bool, json: bool, no_resume: bool, **options):
        try:
            report = recover_scans(dry_run=dry_run, resume=not no_resume)
        except DatabaseError as exc:
            raise CommandError(f"The database is unavailable: {exc}") from None
        if json:
            self.stdout.write(_json.dumps(report.as_dict(), indent=2))
            return
        prefix = "Would: " if dry_run else ""
        if report.skipped:
            self.stdout.write(f"Skipped: {report.skipped}")
        for d in report.decisions:
            where = f"job {d.job} (library {d.library})" if d.job else "worker"
            self.stdout.write(f"{prefix}{d.action}: {where}: {d.message}")
        if not report.decisions and not report.skipped:
            self.stdout.write("Nothing to recover: every open scan has a live owner.")
