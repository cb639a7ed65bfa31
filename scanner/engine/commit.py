"""Committing a scan: each batch in one transaction, guarded by the lease, retried through outages.

A batch's MediaFile writes, the job's counters and its new checkpoint commit together, guarded
by (job, lease token, status='running'), so committed progress is exactly the files committed
and a stale scanner can never write (DESIGN.md 3.5). Rows the walk passed without finding are
flagged `unseen_by_job_id`; the final batch flips them to missing in the transaction that
completes the job, so a scan that fails or is cancelled marks nothing missing.

When the connection is lost (a restarted server, a killed backend) a commit is retried
(retry.py); one whose acknowledgement was lost is first checked, so it is never applied twice.
"""

from __future__ import annotations

import logging
from dataclasses import replace

from django.db import connection, transaction
from django.db.models import F
from django.db.models.functions import Now

from libraries.models import MediaFile
from scanner.core.progress import COUNTERS, Progress, Step
from scanner.engine import catalogue, dbtime, moves
from scanner.engine.plan import Batch
from scanner.engine.retry import Retry
from scanner.jobs import lifecycle, pending
from scanner.jobs.events import log_decision, record_event
from scanner.jobs.leases import Lease, held
from scanner.models import ScanJob

MAX_FOLDER_EVENTS = 20  # unreadable-folder events kept per run; the counter counts them all
IDS_PER_STATEMENT = 1000  # SQLite caps the variables of one statement; PostgreSQL plans big lists badly


class LeaseLost(Exception):
    """The job was paused, cancelled, deleted or claimed by another process."""


class LostDurability(Exception):
    """After a reconnect, the job row no longer shows our last commit (the database crashed
    before flushing it): go on from the database's state, not from ours."""


class Committer:
    def __init__(self, lease: Lease, *, progress: Progress, attempts: int, retry: Retry, worker_label: str,
                 log_ids: dict):
        self.lease = lease
        self.progress = progress
        self.attempts = attempts  # automatic resumes in a row so far; the first commit resets them
        self.retry = retry  # through outages (retry.py); its on_reconnect is check_durable
        self.worker_label = worker_label
        self.log_ids = log_ids
        self._folder_events = 0

    def write_job(self, **fields) -> None:
        """A guarded update of the job row outside a batch (phase, discovery count)."""
        if not self.retry(lambda: held(self.lease).update(heartbeat_at=Now(), updated_at=Now(), **fields)):
            raise LeaseLost

    def commit(self, batch: Batch, step: Step) -> None:
        fields: dict = {name: F(name) + n for name, n in step.counts.items()}
        fields.update(heartbeat_at=Now(), files_per_second=step.files_per_second)
        if not step.final:
            fields.update(checkpoint=step.checkpoint, files_found=step.found, progress=step.percent, updated_at=Now())
            if self.attempts:
                fields["auto_resume_attempts"] = 0  # the checkpoint moved
        self.retry(lambda: self._write(batch, step, fields), committed=lambda: self._committed(step))
        self.attempts = 0
        self.progress.advance(step)

    def _write(self, batch: Batch, step: Step, fields: dict) -> None:
        """The batch's one transaction: the job row (guarded by the lease), then catalogue rows;
        for the final batch, moved files and missing ones, then the job's completion."""
        job_id, library_id = self.lease.job_id, self.lease.library_id
        with transaction.atomic():
            if batch.inserts or batch.basic_inserts or batch.updates:
                _commit_asynchronously()
            # The job row first, final batch too: the lease is checked and the row locked
            # before any catalogue row (the order a library's deletion takes them in as well).
            if not held(self.lease).update(**(fields if not step.final else {"heartbeat_at": Now()})):
                raise LeaseLost
            self._write_moves(batch)
            catalogue.insert_files(batch.inserts)
            catalogue.insert_files(batch.basic_inserts, catalogue.BASIC_FIELDS)
            catalogue.update_files(batch.updates)
            for start in range(0, len(batch.restored_ids), IDS_PER_STATEMENT):
                MediaFile.objects.filter(pk__in=batch.restored_ids[start:start + IDS_PER_STATEMENT]).update(
                    missing=False, last_seen=Now(), last_job_id=job_id, unseen_by_job_id=None)
            catalogue.mark_unseen(library_id, job_id, batch.unseen_ranges)
            if batch.unreadable:
                self._record_unreadable(batch)
                pending.keep_unread(ScanJob.objects.get(pk=job_id), batch.unreadable, worker=self.worker_label)
            if step.final:
                self._complete(step, fields)

    def _complete(self, step: Step, fields: dict) -> None:
        """Inside the final batch's transaction: moves, missing files, the job completed."""
        job_id, library_id = self.lease.job_id, self.lease.library_id
        total = {name: self.progress.totals[name] + step.counts.get(name, 0) for name in COUNTERS}
        moved = moves.complete_moves(library_id, job_id) if total["files_missing"] else []
        if moved:
            added_here = sum(move.added_here for move in moved)  # the others were added by earlier scans
            counts = {**step.counts, "files_moved": step.counts.get("files_moved", 0) + len(moved),
                      "files_added": step.counts.get("files_added", 0) - added_here,
                      "files_missing": step.counts.get("files_missing", 0) - len(moved)}
            step = replace(step, counts=counts)
            fields.update({name: F(name) + n for name, n in counts.items()})
        if total["files_missing"] > len(moved):
            MediaFile.objects.filter(library_id=library_id, unseen_by_job_id=job_id).update(
                missing=True, missing_since=Now(), unseen_by_job_id=None)
        if not lifecycle.complete_held(self.lease, message=self.progress.summary(step), files_found=step.processed,
                                       **fields):
            raise LeaseLost

    def _write_moves(self, batch: Batch) -> None:
        """Missing rows that files of this batch are (scanner/engine/moves.py) take their paths;
        one a scan restored meanwhile leaves the file to be inserted as new."""
        if not batch.moved:
            return
        now = dbtime.db_datetime(dbtime.database_now())
        for row_id, entry in batch.moved:
            if not moves.take_over(row_id, entry, now=now, job_id=self.lease.job_id):
                catalogue.insert_files([catalogue.basic_insert_row(self.lease.library_id, entry, now=now,
                                                                   job_id=self.lease.job_id)], catalogue.BASIC_FIELDS)

    def _committed(self, step: Step) -> bool:
        """Whether a commit whose acknowledgement was lost (connection dropped) landed."""
        mine = ScanJob.objects.filter(pk=self.lease.job_id, lease_token=self.lease.lease_token)
        if step.final:
            return mine.filter(status=ScanJob.Status.COMPLETED).exists()
        return mine.filter(checkpoint=step.checkpoint).exists()

    def _record_unreadable(self, batch: Batch) -> None:
        for prefix, reason in batch.unreadable:
            message = f"Folder {prefix} could not be read ({reason}); its files were left as they were"
            if self._folder_events < MAX_FOLDER_EVENTS:  # an event (and its log line) for the first ones
                self._folder_events += 1
                record_event(self.lease.job_id, "folder_unreadable", message, worker=self.worker_label,
                             library_id=self.lease.library_id, level=logging.WARNING, folder=prefix)
            else:
                log_decision(message, action="folder_unreadable", level=logging.WARNING, **self.log_ids)


def check_durable(lease: Lease, progress: Progress) -> None:
    """After a reconnect: the job row must still show our last commit. Batches commit
    asynchronously on PostgreSQL, so a database crash may have lost the latest ones; the job
    then resumes from what the database kept (see _commit_asynchronously)."""
    row = ScanJob.objects.filter(pk=lease.job_id).values("checkpoint", "files_processed").first()
    if row is not None and (row["checkpoint"], row["files_processed"]) != (progress.checkpoint, progress.processed):
        raise LostDurability(f"the database lost the scan's last commits (it now says {row['files_processed']:,} "
                             f"files, not {progress.processed:,})")


def _commit_asynchronously() -> None:
    """On PostgreSQL, do not wait for this batch's WAL flush. Safe: the batch's files, counters
    and checkpoint are one transaction, so a database crash can only lose whole recent batches;
    the job then resumes from the older checkpoint with the older counts (a scan that lives
    through the crash notices it on reconnecting: check_durable). SQLite (WAL,
    synchronous=NORMAL) behaves the same way already."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit TO OFF")
