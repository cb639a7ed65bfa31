"""The scanner's plain-Python core: no Django, and nothing of `scanner` outside this package
(an import-linter contract checks it), so reader processes import only this.

The walk (`walk`, with `listing`, `readahead` and `scope`) yields a library's media files in
sorted, resumable order; `batching` cuts it into runs to commit; `progress` is what a job row
says; `procinfo` tells live processes from dead ones; `readers` reads what files say inside.
"""

from scanner.core.batching import Batcher, Run, Stopped
from scanner.core.entries import FileEntry
from scanner.core.progress import COUNTERS, Progress, Step
from scanner.core.root import RootUnavailable
from scanner.core.scope import MAX_PATHS, Scope, ScopeError, collapse, describe_scope, relative
from scanner.core.walk import Walker

__all__ = [
    "COUNTERS", "MAX_PATHS", "Batcher", "FileEntry", "Progress", "RootUnavailable", "Run", "Scope", "ScopeError",
    "Step", "Stopped", "Walker", "collapse", "describe_scope", "relative",
]
