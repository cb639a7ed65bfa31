"""Start-up logs only what a person should act on (issue 26 §5)."""

import logging
import time
import warnings

import pytest
from django.apps import apps
from django.db.backends.utils import CursorWrapper

from scanner.models import Worker
from scanner.runtime.process import ScanRuntime
from tests.helpers import config
from tests.procs import wait_until

pytestmark = pytest.mark.django_db(transaction=True)


def test_no_duty_queries_the_database_before_django_has_finished_starting():
    """A server's runtime starts from AppConfig.ready, while Django is still setting up; its
    heartbeat and recovery are due at once. Queried then, each gunicorn worker printed Django's
    "Accessing the database during app initialization" RuntimeWarning."""
    runtime = ScanRuntime(kind="test", config=config())
    apps.ready = False  # as inside AppConfig.ready
    apps.ready_event.clear()
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            runtime.start()
            time.sleep(1)  # a window for the due duties to run: they must wait, not query
            apps.ready = True
            apps.ready_event.set()
            wait_until(lambda: Worker.objects.filter(kind="test").exists(), timeout=10,
                       what="the heartbeat to register the worker once Django is ready")
        assert [str(w.message) for w in caught if CursorWrapper.APPS_NOT_READY_WARNING_MSG in str(w.message)] == []
    finally:
        apps.ready = True
        apps.ready_event.set()
        runtime.shutdown(timeout=5)


def test_a_duty_still_running_when_due_again_is_not_a_warning(caplog):
    """One run of a duty at a time, late runs coalesced, is the design (scanner/runtime/duties.py):
    APScheduler's "skipped" is no news. Its other warnings still are."""
    scheduler_log = logging.getLogger("apscheduler.scheduler")
    with caplog.at_level(logging.INFO):
        scheduler_log.warning('Execution of job "%s" skipped: maximum number of running instances reached (%d)',
                              "watch", 1)
        scheduler_log.warning('Run time of job "%s" was missed by %s', "claim", "0:00:03")
    assert [record.getMessage() for record in caplog.records] == ['Run time of job "claim" was missed by 0:00:03']
