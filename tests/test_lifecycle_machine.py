"""The job lifecycle under interleavings: a model-based test (Hypothesis stateful testing).

Three simulated scanning processes share the database with a web front: each has its own
ScanRuntime (worker row, thread registry, duties) and its own database connection, and runs
its claimed jobs in real scan threads that commit one batch of a real tree when told to.
Hypothesis interleaves users (start, pause, resume, cancel), claims, batch commits, process
crashes and restarts, scan threads that die without a word, time passing for the dead, and
recovery passes and reconciles by any process, with a user action or another process's claim
injected between a pass's reads and its writes (the pass's `interleave` seam). Users also
notify changed paths (POST /api/scanner/changes) and the watcher notes them, which every claim
turns into targeted scans; a watch taken up owes a catch-up of the whole library; files move
between folders (their halves noted apart, as Sonarr does), scans fail, a library's folder
goes away (an unmounted share) and comes back, and one of its folders becomes unreadable to the
scans (they walk as user 'nobody') and readable again.

After every step the invariants of DESIGN.md 5 must hold, read from the database:
- at most one open job per library;
- a job paused by a user leaves `paused` only by a user's resume or cancel;
- a job is orphaned only if its owner is dead (or its thread in a live owner died);
- each job's committed counters equal the catalogue rows it committed;
- checkpoints, progress and counts never go backwards;
- every status change has its event, and the events chain from `queued` to the status now;
- every noted change is pending (itself or a place holding it), or in the scope of an open or
  completed job queued after it (a completed scan has read it, unless it could not read a folder
  holding it);
- a moved file keeps its original row once both halves have been scanned;
and at the end of each sequence, once a person has resumed what waits for one and every
process has worked until nothing is open or owed: every file on disk is catalogued, not missing,
exactly once, and nothing else is.

`make test` runs a fixed seed and 100 examples; FULL=1 (CI) runs 300, about 1.3 s of CPU each;
MACHINE_EXAMPLES=n runs n, for a longer hunt after a change to the lifecycle.
"""

from __future__ import annotations

import itertools
import os
import queue
import shutil
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from functools import partial
from pathlib import Path

import pytest
from django.db import connection
from django.db.models import Count
from django.db.models.functions import Now
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from libraries.models import Library, MediaFile
from scanner.core.batching import Batcher
from scanner.core.progress import COUNTERS, Progress
from scanner.core.root import RootUnavailable
from scanner.core.scope import Scope
from scanner.core.walk import Walker
from scanner.engine import moves
from scanner.engine.commit import Committer, LeaseLost, check_durable
from scanner.engine.plan import Planner
from scanner.engine.retry import Retry
from scanner.jobs import changes, lifecycle, pending, services
from scanner.jobs.leases import Lease
from scanner.jobs.recovery import Recovery
from scanner.models import PendingChange, ScanEvent, ScanJob, Worker
from scanner.runtime.process import ScanRuntime
from tests.helpers import STAT_ONLY, config, scan_now, unprivileged_filesystem_access

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(2400)]

FULL = bool(os.environ.get("FULL"))
PROCESSES = 3
LIBRARIES = 2
FILES = 7  # per library; batches of BATCH: a scan commits 3 batches, the last one completing it
BATCH = 3
USER_ACTIONS = ("start", "pause", "resume", "cancel", "notify", "watch")
# What users or the watcher say changed: the folders files move out of and into, and one file.
CHANGED = ("Show 0", "Show 1/Episode 4.heic", "Show 1", "Moved", "Show 2")
LOCKABLE = "Show 1"  # the folder that becomes unreadable to scans now and then
SETTINGS = config(worker_timeout=3600, heartbeat_interval=10, metadata_workers=0, batch_size=BATCH)


class StepScan:
    """One claimed job, committed one batch at a time with the engine's parts."""

    def __init__(self, lease: Lease):
        job = ScanJob.objects.select_related("library").get(pk=lease.job_id)
        stop = threading.Event()
        self.progress = Progress(checkpoint=job.checkpoint, found=job.files_found, percent=job.progress,
                                 totals={name: getattr(job, name) for name in COUNTERS})
        retry = Retry(stop=stop, log_ids={}, on_reconnect=partial(check_durable, lease, self.progress))
        self.committer = Committer(lease, progress=self.progress, attempts=job.auto_resume_attempts, retry=retry,
                                   worker_label="", log_ids={})
        window = SETTINGS.move_window_days
        window = window if moves.recently_missing(lease.library_id, window_days=window) else 0
        self.planner = Planner(library_id=lease.library_id, job_id=lease.job_id, root=job.library.path, full=False,
                               metadata_workers=0, read_timeout=5, log_ids={}, scope=Scope(job.scope),
                               moves_window=window)
        batcher = Batcher(checkpoint=job.checkpoint, batch_size=BATCH, files_per_second=0, stop=stop)
        self.runs = batcher.runs(Walker(job.library.path, after=job.checkpoint, on_dir_error=batcher.on_dir_error,
                                        scope=Scope(job.scope)))

    def step(self) -> str:
        with unprivileged_filesystem_access():  # the walk reads as a user, whom a mode can stop
            run = next(self.runs)
        batch = self.planner.plan(run)
        self.planner.finish(batch)
        step = self.progress.step(batch.counts, batch.upper)
        try:
            self.committer.commit(batch, step)
        except LeaseLost:
            return "lost"
        return "completed" if step.final else "committed"


class Stepper:
    """What runs a claimed job in a simulated process: a scan thread that commits one batch
    each time it is told to, stops when asked (like the engine), or dies without a word."""

    def __init__(self):
        self.inboxes: dict[tuple[int, int], queue.Queue] = {}
        self.errors: list[str] = []  # what a scan thread raised: in a real one, a failed scan

    def __call__(self, lease: Lease, stop: threading.Event) -> str:
        inbox = self.inboxes.setdefault((lease.job_id, lease.lease_token), queue.Queue())
        scan = None  # made at the first step, so that the thread writes nothing unless told (a
        # folder away fails it then): the invariants read the database between steps.
        while not stop.is_set():
            try:
                command, reply = inbox.get(timeout=0.02)
            except queue.Empty:
                continue
            try:
                if command == "die":
                    outcome = "died"
                elif command == "fail":  # a scan that fails (a bug, a read the file system refuses)
                    lifecycle.fail_held(lease, error="a failure", message="The scan failed")
                    outcome = "failed"
                else:
                    scan = scan or StepScan(lease)
                    outcome = scan.step()
            except RootUnavailable as exc:  # as the engine: the folder is away
                lifecycle.fail_held(lease, error=str(exc), message=str(exc), unavailable=True)
                outcome = "failed"
            except Exception as exc:
                self.errors.append(f"job {lease.job_id}, lease {lease.lease_token}: {exc!r}")
                outcome = "crashed"
            reply.put(outcome)
            if outcome != "committed":
                return outcome
        return "stopped"

    def tell(self, thread, command: str) -> str:
        """The thread's answer, or "ended" if it ended (stopped, done) without taking the command."""
        reply: queue.Queue = queue.Queue()
        self.inboxes.setdefault((thread.lease.job_id, thread.lease.lease_token), queue.Queue()).put((command, reply))
        while True:
            try:
                answer = reply.get(timeout=0.05)
            except queue.Empty:
                if not thread.is_alive():
                    return "ended"
                continue
            if answer != "committed":
                thread.join(30)  # it ends now: wait, so the registry is settled for the next step
            return answer


class Process:
    """A simulated scanning process on a host of its own (judged by its heartbeat)."""

    def __init__(self, number: int, stepper: Stepper):
        self.number = number
        self.stepper = stepper
        self.incarnation = 0
        self.runtime: ScanRuntime | None = None
        self.connection_thread = ThreadPoolExecutor(max_workers=1)  # its own database connection

    @property
    def alive(self) -> bool:
        return self.runtime is not None

    @property
    def host(self) -> str:
        return f"sim-{self.number}-{self.incarnation}"

    def run(self, call):
        def on_own_connection():
            try:
                return call()
            finally:
                connection.close()

        return self.connection_thread.submit(on_own_connection).result(timeout=60)

    def start(self) -> None:
        self.incarnation += 1
        self.runtime = ScanRuntime(kind="sim", config=SETTINGS, scan=self.stepper)

    def register(self) -> None:
        def register():
            worker = self.runtime.identity.register()
            worker.hostname, worker.pid_namespace = self.host, f"sim/{self.host}"
            worker.save(update_fields=["hostname", "pid_namespace"])

        self.run(register)

    def threads(self):
        return self.runtime.registry.threads() if self.runtime else []

    def settle(self) -> None:
        """Wait until every stopped scan thread of this process has ended."""
        for thread in self.threads():
            if thread.stop_event.is_set():
                thread.join(30)
                assert not thread.is_alive()

    def kill(self) -> None:
        """Its threads stop without cleanup; its worker row stays as it was."""
        for thread in self.threads():
            self.stepper.tell(thread, "die")
        self.runtime = None


class LifecycleMachine(RuleBasedStateMachine):
    libraries: list[Library] = []

    def __init__(self):
        super().__init__()
        self.stepper = Stepper()
        self.processes = [Process(n, self.stepper) for n in range(PROCESSES)]
        self.dead_hosts: set[str] = set()
        self.user_paused: set[int] = set()
        self.lost_threads: set[tuple[int, int]] = set()  # (job, lease) whose thread died, its process alive
        self.seen: dict[int, tuple] = {}  # job -> (checkpoint, progress, processed) last seen
        self.noted: list[tuple[int, str, int]] = []  # (library, path, the newest job id before it was noted)
        self.changes = itertools.cycle(CHANGED)
        self.moved: list[tuple[int, str, str, int]] = []  # (library, old path, new path, the row's id before)
        self.away: set[int] = set()  # libraries whose folder is away (an unmounted share)
        self.halves: list[tuple[int, str]] = []  # (library, place) of moves not noted yet
        self.locked: set[int] = set()  # libraries whose LOCKABLE folder scans cannot read

    @initialize()
    def clean_slate_and_processes(self):
        for model in (ScanEvent, ScanJob, MediaFile, Worker, PendingChange):
            model.objects.all().delete()
        for library in self.libraries:
            build(Path(library.path))
            scan_now(library, metadata_workers=0)  # catalogued: every change from now on is owed a scan
        for process in self.processes:
            process.start()
            process.register()

    # ------------------------------------------------------------- what can happen
    def alive(self) -> list[Process]:
        return [p for p in self.processes if p.alive]

    def scanning(self) -> list:
        return sorted((t for p in self.processes for t in p.threads() if t.is_alive() and not t.stop_event.is_set()),
                      key=lambda t: t.lease.job_id)

    # ------------------------------------------------------------- users, through the services
    @rule(action=st.sampled_from(USER_ACTIONS), library=st.integers(0, LIBRARIES - 1))
    def user(self, action, library):
        self.act_as_user(action, self.libraries[library].pk)

    def act_as_user(self, action: str, library_id: int) -> None:
        try:
            if action in ("notify", "watch"):
                self.note(library_id, next(self.changes), watched=action == "watch")
                return
            if action == "start":
                job = services.scan_start(library_id=library_id).job
            elif action == "resume":
                job = services.scan_resume(library_id=library_id).job
            elif action == "pause":
                job = services.scan_pause(library_id=library_id)
            else:
                job = services.scan_cancel(library_id=library_id)
        except (services.ScanAlreadyRunning, services.NoOpenScan):
            return
        if action == "pause":
            self.user_paused.add(job.pk)
        elif job.status != ScanJob.Status.PAUSED:
            self.user_paused.discard(job.pk)

    def note(self, library_id: int, rel: str, *, watched: bool = False) -> None:
        """A change, as a notification (its 202) or the watcher (its pending row) says it."""
        before = ScanJob.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
        if watched:
            changes.note_library_changes(library_id, [rel], trigger="watch")
        else:
            root = Library.objects.get(pk=library_id).path
            assert changes.note_changes([f"{root}/{rel}"]).queued == [{"library": library_id, "path": rel}]
        self.noted.append((library_id, rel, before))

    @rule(library=st.integers(0, LIBRARIES - 1))
    def a_watch_is_taken_up(self, library):
        """A process takes a library's watch up (after a restart): it owes a look at all of it."""
        library_id = self.libraries[library].pk
        before = ScanJob.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
        pending.note(library_id, [""], trigger="catch_up")  # what the watcher records with its lease
        self.noted.append((library_id, "", before))
        changes.queue_scans_for_changes(library_ids={library_id})

    # ------------------------------------------------------------- the files, and their folder
    @rule(library=st.integers(0, LIBRARIES - 1), episode=st.integers(0, FILES - 1), new_first=st.booleans())
    def a_file_moves(self, library, episode, new_first):
        """A file moves to another folder, and both halves are noted, one now and the other when a
        user or the watcher says so (the new place first, as Sonarr does, or the old)."""
        library = self.libraries[library]
        old = f"Show {episode % 3}/Episode {episode}.{STAT_ONLY}"
        new = f"Moved/Episode {episode}.{STAT_ONLY}"
        root = Path(library.path)
        row = MediaFile.objects.filter(library=library, path=old, missing=False).first()
        if library.pk in self.away or row is None or not (root / old).exists():
            return
        (root / "Moved").mkdir(exist_ok=True)
        (root / old).rename(root / new)
        self.moved.append((library.pk, old, new, row.pk))
        first, second = ("Moved", old.rpartition("/")[0])[::1 if new_first else -1]
        self.note(library.pk, first)
        self.halves.append((library.pk, second))

    @precondition(lambda self: self.halves)
    @rule(data=st.data())
    def the_other_half_of_a_move_is_noted(self, data):
        library_id, place = self.halves.pop(data.draw(st.integers(0, len(self.halves) - 1)))
        self.note(library_id, place, watched=data.draw(st.booleans()))

    @rule(library=st.integers(0, LIBRARIES - 1))
    def the_folder_goes_away_or_comes_back(self, library):
        library = self.libraries[library]
        root = Path(library.path)
        if library.pk in self.away:
            root.with_name(root.name + ".away").rename(root)
            self.away.discard(library.pk)
        else:
            root.rename(root.with_name(root.name + ".away"))
            self.away.add(library.pk)

    @rule(library=st.integers(0, LIBRARIES - 1))
    def a_folder_is_locked_or_unlocked(self, library):
        """A folder's mode keeps scans out of it (a NAS's permissions changed), or lets them in again."""
        library_id = self.libraries[library].pk
        root = Path(self.libraries[library].path)
        folder = (root if library_id not in self.away else root.with_name(root.name + ".away")) / LOCKABLE
        folder.chmod(0o755 if library_id in self.locked else 0o000)
        self.locked ^= {library_id}

    # ------------------------------------------------------------- processes
    @precondition(lambda self: self.alive())
    @rule(data=st.data(), batches=st.integers(0, 3))
    def work(self, data, batches):
        """A process claims what it can, then each of its scans commits up to `batches` batches."""
        process = data.draw(st.sampled_from(self.alive()))
        process.run(process.runtime.claim_pending)
        for thread in sorted(process.threads(), key=lambda t: t.lease.job_id):
            for _ in range(batches):
                if not thread.is_alive() or self.stepper.tell(thread, "step") != "committed":
                    break

    @precondition(lambda self: self.scanning())
    @rule(data=st.data())
    def a_scan_fails(self, data):
        """A scan fails (a bug, a file system error it cannot get past): what it owed is owed again."""
        self.stepper.tell(data.draw(st.sampled_from(self.scanning())), "fail")

    @precondition(lambda self: self.scanning())
    @rule(data=st.data())
    def a_thread_dies(self, data):
        """An outage ends a scan thread before it could write anything; its process lives."""
        thread = data.draw(st.sampled_from(self.scanning()))
        self.lost_threads.add((thread.lease.job_id, thread.lease.lease_token))
        self.stepper.tell(thread, "die")

    @precondition(lambda self: self.alive())
    @rule(data=st.data(), silent_long_since=st.booleans())
    def crash(self, data, silent_long_since):
        """A process dies (SIGKILL, power cut): a busy one, if any is busy."""
        busy = [p for p in self.alive() if p.threads()]
        process = data.draw(st.sampled_from(busy or self.alive()))
        self.dead_hosts.add(process.host)
        process.kill()
        if silent_long_since:
            self.time_passes_for_the_dead()

    @precondition(lambda self: len(self.alive()) < PROCESSES)
    @rule(data=st.data())
    def restart(self, data):
        process = data.draw(st.sampled_from([p for p in self.processes if not p.alive]))
        process.start()
        process.register()

    @rule()
    def time_passes_for_the_dead(self):
        """The dead send no heartbeats; the live ones keep theirs fresh."""
        Worker.objects.filter(hostname__in=self.dead_hosts).update(heartbeat_at=Now() - timedelta(hours=2))

    @precondition(lambda self: self.alive())
    @rule(data=st.data())
    def reconcile(self, data):
        process = data.draw(st.sampled_from(self.alive()))
        process.run(process.runtime.reconcile)
        process.settle()

    @rule(p=st.integers(-1, PROCESSES - 1), newcomer=st.none() | st.integers(0, PROCESSES - 1),
          actions=st.lists(st.sampled_from([None, *USER_ACTIONS]), min_size=1, max_size=4))
    def recovery_with_interleaved_actions(self, p, newcomer, actions):
        """A recovery pass (by process p, or by `manage.py recover_scans` when p is -1) with,
        between its reads and its writes: a process that (re)starts, registers and claims just
        after the pass judged who is alive (`newcomer`); and before the pass's i-th write, a
        user's action on the library of the job it is about to write (`actions[i]`)."""
        process = self.processes[p] if p >= 0 else None
        if process is not None and not process.alive:
            return
        upcoming = iter(actions)

        def interleave(job):
            if job is None:
                other = self.processes[newcomer] if newcomer is not None else process
                if other is not process:
                    if not other.alive:
                        other.start()
                    other.register()
                    other.run(other.runtime.claim_pending)
            elif (action := next(upcoming, None)) is not None:
                web = ThreadPoolExecutor(max_workers=1)
                web.submit(lambda: self._on_web_connection(action, job.library_id)).result(60)
                web.shutdown()

        def recover():
            worker = process.runtime.identity.register() if process else None
            live = process.runtime.registry.running_job_ids() if process else ()
            Recovery(worker=worker, live_job_ids=live, config=SETTINGS, interleave=interleave).run()

        if process is not None:
            process.run(recover)
            process.settle()
        else:
            recover()

    def _on_web_connection(self, action, library_id):
        try:
            self.act_as_user(action, library_id)
        finally:
            connection.close()

    # ------------------------------------------------------------- invariants
    @invariant()
    def one_open_job_per_library(self):
        per_library = ScanJob.objects.filter(status__in=ScanJob.OPEN_STATUSES).values("library").annotate(n=Count("id"))
        assert all(row["n"] == 1 for row in per_library), list(per_library)

    @invariant()
    def a_user_pause_is_never_undone(self):
        for job in ScanJob.objects.filter(pk__in=self.user_paused):
            assert (job.status, job.pause_reason) == ("paused", "user"), (job.pk, job.status, job.status_message)

    @invariant()
    def only_the_dead_are_orphaned(self):
        for event in ScanEvent.objects.filter(kind="orphaned"):
            claimed = ScanEvent.objects.filter(job_id=event.job_id, kind="claimed",
                                               data__lease=event.data["lease"]).get()
            host = claimed.worker.split(":")[0]
            assert host in self.dead_hosts or (event.job_id, event.data["lease"]) in self.lost_threads, (
                event.message, claimed.worker)

    @invariant()
    def no_scan_thread_crashed(self):
        assert not self.stepper.errors, self.stepper.errors

    @invariant()
    def committed_counters_are_the_rows_committed(self):
        for job in ScanJob.objects.all():
            # Rows it wrote: those it added, and those it found moved (the rows it added may have
            # been found moved, and so dropped, by a later scan).
            rows = MediaFile.objects.filter(last_job_id=job.pk).count()
            assert rows <= job.files_added + job.files_moved, (job.pk, job.files_added, job.files_moved, rows)
            assert job.files_processed <= FILES, (job.pk, job.files_processed)
            handled = job.files_added + job.files_unchanged + job.files_updated + job.files_failed
            assert handled <= job.files_processed <= handled + job.files_moved, (job.pk, handled, job.files_processed)
        for library in self.libraries:
            moves = sum(1 for moved in self.moved if moved[0] == library.pk)
            assert MediaFile.objects.filter(library=library).count() <= FILES + moves

    @invariant()
    def nothing_goes_backwards(self):
        for job in ScanJob.objects.all():
            now = (job.checkpoint, job.progress, job.files_processed)
            before = self.seen.get(job.pk, ("", 0.0, 0))
            assert all(a <= b for a, b in zip(before, now, strict=True)), (job.pk, before, now)
            self.seen[job.pk] = now

    @invariant()
    def every_status_change_has_its_event(self):
        for job in ScanJob.objects.all():
            moves = [(e.data["from"], e.data["to"]) for e in job.events.order_by("created_at", "id") if "to" in e.data]
            assert moves and moves[0] == ("", "pending"), (job.pk, moves)
            for (_, to), (frm, _) in itertools.pairwise(moves):
                assert to == frm, (job.pk, moves)
            assert moves[-1][1] == job.status, (job.pk, moves, job.status)

    @invariant()
    def no_change_is_lost(self):
        """Every change accepted is pending (itself, or a place that holds it), or in the scope of
        a job queued after it that is open, or completed having read the folders that hold it: a
        failed or cancelled one gave it back."""
        for library_id, rel, before in self.noted:
            waiting = PendingChange.objects.filter(library_id=library_id).values_list("path", flat=True)
            if any(holds(path, rel) for path in waiting):
                continue
            jobs = ScanJob.objects.filter(library_id=library_id, pk__gt=before).exclude(
                status__in=["failed", "cancelled"])
            unread = {(event.job_id, event.data["folder"])
                      for event in ScanEvent.objects.filter(job__in=jobs, kind="folder_unreadable")}
            assert any((not job.scope or any(holds(path, rel) for path in job.scope))
                       and not any((rel + "/").startswith(folder)
                                   for job_id, folder in unread if job_id == job.pk) for job in jobs), (
                library_id, rel, [(job.pk, job.scope) for job in jobs], list(waiting), unread)

    @invariant()
    def a_moved_file_keeps_its_row(self):
        """Once both halves of a move were scanned (its old place found empty, its new place
        catalogued), the row at the new place is the file's own."""
        for library_id, old, new, row_id in self.moved:
            at_new = MediaFile.objects.filter(library_id=library_id, path=new).first()
            at_old = MediaFile.objects.filter(library_id=library_id, path=old).first()
            if at_new is not None and (at_old is None or at_old.missing):
                assert (at_new.pk, at_old) == (row_id, None), (old, new, row_id, at_new.pk, at_old and at_old.pk)

    def teardown(self):
        try:
            if not self.stepper.errors:
                self.settle_everything()
                self.every_file_is_catalogued_once()
        finally:
            for process in self.processes:
                if process.alive:
                    process.kill()
                process.connection_thread.shutdown()
            for library in self.libraries:
                away = Path(library.path).with_name(Path(library.path).name + ".away")
                if away.exists():
                    away.rename(library.path)
                if (Path(library.path) / LOCKABLE).exists():
                    (Path(library.path) / LOCKABLE).chmod(0o755)

    def settle_everything(self):
        """What a person and the processes do in the end: folders back, the dead gone, paused
        scans resumed and changes stuck after failures retried, and every process working
        until nothing is open or owed."""
        for library in self.libraries:
            if library.pk in self.locked:
                self.a_folder_is_locked_or_unlocked(self.libraries.index(library))
            if library.pk in self.away:
                self.the_folder_goes_away_or_comes_back(self.libraries.index(library))
        while self.halves:
            self.note(*self.halves.pop())
        self.time_passes_for_the_dead()
        for process in self.processes:
            if not process.alive:
                process.start()
                process.register()
        for _ in range(60):
            # Every delay over: cut short, not backdated (a change dated before a whole-library
            # scan was queued counts as read by it).
            PendingChange.objects.update(wait=timedelta(0))
            pending.retry(PendingChange.objects.filter(failures__gte=SETTINGS.changes_max_attempts))
            for job in ScanJob.objects.filter(status="paused"):
                self.act_as_user("resume", job.library_id)
            for process in self.processes:
                process.run(process.runtime.reconcile)
                process.settle()
                process.run(process.runtime.claim_pending)
                for thread in process.threads():
                    while thread.is_alive() and self.stepper.tell(thread, "step") == "committed":
                        pass
                process.settle()
            if not ScanJob.objects.filter(status__in=ScanJob.OPEN_STATUSES).exists() \
                    and not PendingChange.objects.exists():
                return
        raise AssertionError(f"still open or owed: {list(ScanJob.objects.filter(status__in=ScanJob.OPEN_STATUSES))}"
                             f" {list(PendingChange.objects.values_list('library_id', 'path'))}")

    def every_file_is_catalogued_once(self):
        for library in self.libraries:
            root = Path(library.path)
            on_disk = {str(path.relative_to(root)) for path in root.rglob(f"*.{STAT_ONLY}")}
            present = list(MediaFile.objects.filter(library=library, missing=False).values_list("path", flat=True))
            assert sorted(present) == sorted(on_disk), (library.pk, sorted(present), sorted(on_disk))


def holds(place: str, rel: str) -> bool:
    """Whether the place ("" the whole library, a folder or a file) holds the path."""
    return not place or rel == place or rel.startswith(place + "/")


def build(folder: Path) -> None:
    """A library's files, as each sequence starts: seven episodes in three folders."""
    shutil.rmtree(folder, ignore_errors=True)
    for i in range(FILES):
        (folder / f"Show {i % 3}").mkdir(parents=True, exist_ok=True)
        (folder / f"Show {i % 3}/Episode {i}.{STAT_ONLY}").write_bytes(b"x" * (i + 1))


def test_the_lifecycle_holds_its_invariants_under_interleavings(public_tmp):
    root = public_tmp / "machine"
    libraries = []
    for n in range(LIBRARIES):
        folder = root / f"library{n}"
        build(folder)
        libraries.append(Library.objects.create(name=f"Library {n}", path=str(folder)))
    LifecycleMachine.libraries = libraries
    run_state_machine_as_test(LifecycleMachine, settings=settings(
        max_examples=int(os.environ.get("MACHINE_EXAMPLES", 300 if FULL else 100)), stateful_step_count=50,
        derandomize=True, deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much], print_blob=True,
    ))
