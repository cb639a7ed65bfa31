"""Structured logs: one line per event, `key=value` pairs after the message.

Anything passed as `extra={...}` (job, library, worker, action, ...) is appended, so a
decision can be found with grep (`action=orphaned job=12`).

Values come from clients too (user names, paths, file names), so a line must not be forgeable:
a value that is anything but printable ASCII without spaces, quotes, backslashes and `=` is
written as Python's `ascii()` of it, quoted, with every control character, terminal escape and
non-ASCII character escaped (`user='eve\\x1b]0;owned\\x07'`, `user='admin\\u200b'`,
`user='x address=203.0.113.9'`). The message is always written so. A traceback's lines are
indented, so none of them starts like a line of its own.
"""

import logging

_STANDARD_ATTRS = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}
# Printable ASCII, less what could end a value or start another: space, quotes, backslash, "=".
_PLAIN = frozenset(chr(code) for code in range(0x21, 0x7F)) - set("\"'\\=")
_TRACEBACK_INDENT = "    "


class KeyValueFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        record.message = record.getMessage()
        fields = [
            self.formatTime(record, self.datefmt),
            f"level={_render(record.levelname)}",
            f"logger={_render(record.name)}",
            f"msg={ascii(record.message)}",
            *(f"{key}={_render(value)}" for key, value in vars(record).items()
              if key not in _STANDARD_ATTRS and not key.startswith("_")),
        ]
        line = " ".join(fields)
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        for block in (record.exc_text, record.stack_info and self.formatStack(record.stack_info)):
            if block:
                line += "\n" + "\n".join(_TRACEBACK_INDENT + _escape_unprintable(text) for text in block.splitlines())
        return line


class OneLineWarning(logging.Filter):
    """Expected noise (a request with a Host: header not in ALLOWED_HOSTS, sent by scanners on
    the LAN): one WARNING line, without the traceback Django attaches, so it cannot flood the log."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.levelno, record.levelname = logging.WARNING, "WARNING"
        record.exc_info = record.exc_text = None
        return True


_SKIPPED = 'Execution of job "%s" skipped: maximum number of running instances'


class DutyStillRunning(logging.Filter):
    """APScheduler's "skipped: maximum number of running instances": a duty still running when
    its next run falls due (the watcher's quarter-second tick during a catch-up, a slow claim).
    One run at a time, late runs coalesced, is the design (scanner/runtime/duties.py), nothing a
    person should act on: DEBUG, not WARNING."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str) and record.msg.startswith(_SKIPPED):
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
            return logging.getLogger(record.name).isEnabledFor(logging.DEBUG)
        return True


def _render(value: object) -> str:
    text = str(value)
    return text if text and all(c in _PLAIN for c in text) else ascii(text)


def _escape_unprintable(text: str) -> str:
    """A traceback line stays readable, but its control and invisible characters are escaped."""
    return "".join(c if c.isprintable() else ascii(c)[1:-1] for c in text)
