"""A scan's progress as its job row shows it: advanced only by what was committed. No Django here.

Honest by construction (DESIGN.md 3.7): the percentage is processed / found, rounded down,
never goes backwards, and reaches 100 only at completion; the rate is files per second of the
current run (since the claim), so a resumed scan does not claim the speed of the last one.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

from scanner.core import words

COUNTERS = ("files_processed", "files_unchanged", "files_added", "files_updated", "files_missing",
            "files_moved", "files_failed", "bytes_processed", "dirs_failed")


@dataclass(frozen=True)
class Step:
    """What the job row will say once one commit lands."""

    counts: dict[str, int]  # added to the job's counters
    checkpoint: str | None  # None: the final commit
    processed: int
    found: int
    percent: float
    files_per_second: float

    @property
    def final(self) -> bool:
        return self.checkpoint is None


@dataclass
class Progress:
    checkpoint: str = ""
    found: int = 0
    percent: float = 0.0
    totals: dict[str, int] = field(default_factory=lambda: dict.fromkeys(COUNTERS, 0))
    run_started: float = field(default_factory=time.monotonic)
    run_processed: int = 0

    @property
    def processed(self) -> int:
        return self.totals["files_processed"]

    def discovered(self, count: int, *, final: bool = False) -> int:
        """The discovery count: while counting, never below what the job showed already; once
        counted, the true count (files may have gone), never below what was processed."""
        self.found = max(count, self.processed) if final else max(self.found, count, self.processed)
        return self.found

    def step(self, counts: dict[str, int], checkpoint: str | None) -> Step:
        done = counts.get("files_processed", 0)
        processed = self.processed + done
        found = max(self.found, processed)
        elapsed = max(time.monotonic() - self.run_started, 1e-6)
        if checkpoint is None:
            percent = 100.0
        else:
            percent = max(self.percent, min(99.9, math.floor(1000 * processed / found) / 10 if found else 0.0))
        return Step({name: n for name, n in counts.items() if n}, checkpoint, processed, found, percent,
                    round((self.run_processed + done) / elapsed, 1))

    def advance(self, step: Step) -> None:
        """The step was committed."""
        for name, n in step.counts.items():
            self.totals[name] += n
        self.run_processed += step.counts.get("files_processed", 0)
        self.found, self.percent = step.found, step.percent
        if step.checkpoint is not None:
            self.checkpoint = step.checkpoint

    def summary(self, step: Step) -> str:
        """The completion message, with the final step's counts included."""
        total = {name: self.totals[name] + step.counts.get(name, 0) for name in COUNTERS}
        message = (
            f"Scanned {words.count(step.processed, 'file')}: {total['files_added']:,} added, "
            f"{total['files_updated']:,} updated, "
            f"{total['files_unchanged']:,} unchanged, {total['files_missing']:,} missing, "
            f"{total['files_failed']:,} failed"
        )
        if total["files_moved"]:
            message += f", {total['files_moved']:,} moved"
        if total["dirs_failed"]:
            message += f"; {words.count(total['dirs_failed'], 'folder')} could not be read"
        return message
