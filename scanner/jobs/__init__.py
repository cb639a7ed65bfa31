"""A ScanJob's life, in the database: what the web, the commands and the runtime ask of it.

`lifecycle` is the only writer of a job's status; `services` is the library-based control the
API, the admin and the commands call; `changes` turns changed paths into targeted scans;
`recovery` finds orphaned and duplicate jobs; `schedule` queues scheduled rescans and prunes
history; `selectors` holds shared reads; `events` the audit trail; `resume_policy` decides when
a paused scan resumes by itself.
"""

from scanner.jobs.changes import note_changes
from scanner.jobs.leases import Lease
from scanner.jobs.recovery import RecoveryReport, recover_scans
from scanner.jobs.services import (
    InvalidScope,
    LibraryNotFound,
    NoOpenScan,
    ScanAction,
    ScanAlreadyRunning,
    ScanControlError,
)

__all__ = [
    "InvalidScope", "Lease", "LibraryNotFound", "NoOpenScan", "RecoveryReport", "ScanAction", "ScanAlreadyRunning",
    "ScanControlError", "note_changes", "recover_scans",
]
