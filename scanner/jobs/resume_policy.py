"""When a paused scan may resume by itself (DESIGN.md 5, "Automatic resume is bounded and honest").

Decided once, when the job is paused, from the facts of that moment; recovery then only
resumes what was marked resumable, after a backoff that grows with each attempt.
- A pause for a server shutdown always resumes: it was on purpose.
- An outage (the database went away; the process lived) resumes whatever the progress.
- A process death resumes only above SCANNER_AUTO_RESUME_MIN_FILES or _MIN_PERCENT: a scan
  that dies at once may be what kills its server, and resuming it would be a crash loop. A scan
  of notified or watched changes resumes anyway: they were promised a scan.
- Either way, after SCANNER_AUTO_RESUME_MAX_ATTEMPTS automatic resumes in a row without the
  checkpoint moving, the job waits for a person (who resets the count by resuming it).
"""

from __future__ import annotations

from dataclasses import dataclass

from scanner.conf import ScannerConfig

FIRST_RETRY_DELAY = 5  # seconds before the second automatic resume in a row; doubles each time
MAX_RETRY_DELAY = 300  # seconds: the longest wait between automatic resumes


@dataclass(frozen=True)
class Verdict:
    resumable: bool
    gave_up: bool = False
    note: str = ""  # for the status message: why the job waits for a person


def after_interruption(*, files_processed: int, progress: float, attempts: int, process_died: bool,
                       config: ScannerConfig, owes_changes: bool = False) -> Verdict:
    """`owes_changes`: the job's scope came from pending changes, answered 202 long ago: it
    resumes whatever its progress (the attempt count still bounds a crash loop)."""
    if attempts >= config.auto_resume_max_attempts:
        return Verdict(False, gave_up=True, note=(
            f"resumed automatically {attempts} times in a row without progress, so it waits: "
            "check the log, then resume it"))
    if process_died and not owes_changes and not (files_processed > config.auto_resume_min_files
                                                  or progress > config.auto_resume_min_percent):
        return Verdict(False, note="too little progress to resume automatically: resume it when ready")
    return Verdict(True)


def retry_delay(attempts: int) -> float:
    """Seconds to wait before an automatic resume, after `attempts` in a row already."""
    return 0 if attempts == 0 else min(MAX_RETRY_DELAY, FIRST_RETRY_DELAY * 2 ** (attempts - 1))
