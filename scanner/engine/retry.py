"""The engine's policy through a database outage: retry the step with backoff, reconnecting.

Only outages are retried (common/dberrors.py: a lost or refused connection, a server shutting
down, SQLite's file locked); any other error goes up at once, since a retry would fail the same
way. After a reconnect, `on_reconnect` runs first (the committer checks there that the database
kept its last commits), and a commit whose answer was lost is asked whether it landed
(`committed`), so a retry never writes twice.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import TypeVar, overload

from django.db import DatabaseError, connection

from common.dberrors import is_outage
from scanner.core.batching import Stopped

logger = logging.getLogger(__name__)
T = TypeVar("T")

DB_RETRY_DELAYS = (0.5, 1, 2, 4, 8)  # seconds of backoff before each retry on a lost connection


class Retry:
    def __init__(self, *, stop: threading.Event, log_ids: dict, on_reconnect: Callable[[], None] = lambda: None):
        self.stop = stop  # a pause or shutdown here ends the waiting (Stopped)
        self.log_ids = log_ids
        self.on_reconnect = on_reconnect

    @overload
    def __call__(self, step: Callable[[], T], *, committed: None = None) -> T: ...
    @overload
    def __call__(self, step: Callable[[], T], *, committed: Callable[[], bool]) -> T | None: ...

    def __call__(self, step: Callable[[], T], *, committed: Callable[[], bool] | None = None) -> T | None:
        """Run a database step; through an outage, reconnect and retry with backoff. `committed`
        says whether a commit whose answer was lost did happen (then None is returned)."""
        for attempt, delay in enumerate((*DB_RETRY_DELAYS, None)):
            try:
                if attempt:
                    if committed is not None and committed():
                        return None
                    self.on_reconnect()
                return step()
            except DatabaseError as exc:
                if delay is None or not is_outage(exc):
                    raise
                logger.warning("database unreachable (%s); retrying in %ss", exc, delay,
                               extra={"action": "db_retry", **self.log_ids})
                connection.close()
                if self.stop.wait(delay):
                    raise Stopped from None
        return None
