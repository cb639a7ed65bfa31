"""Structured logs: one line per event, `key=value` pairs after the message.

Anything passed as `extra={...}` (job, library, worker, action, ...) is appended, so a
decision can be found with grep (`action=orphaned job=12`).
"""

import logging

_STANDARD_ATTRS = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


class KeyValueFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s level=%(levelname)s logger=%(name)s msg=%(message)r")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        extras = [
            f"{key}={_render(value)}"
            for key, value in vars(record).items()
            if key not in _STANDARD_ATTRS and not key.startswith("_")
        ]
        return " ".join([line, *extras]) if extras else line


class OneLineWarning(logging.Filter):
    """Expected noise (a request with a Host: header not in ALLOWED_HOSTS, sent by scanners on
    the LAN): one WARNING line, without the traceback Django attaches, so it cannot flood the log."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.levelno, record.levelname = logging.WARNING, "WARNING"
        record.exc_info = record.exc_text = None
        return True


def _render(value: object) -> str:
    text = str(value)
    return repr(text) if (not text or any(c.isspace() or c in "\"'=" for c in text)) else text
