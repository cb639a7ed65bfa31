"""gunicorn's access log, with API tokens sent in a URL (`?api_key=`, as Jellyfin clients may:
mediaserver/hook_auth.py) replaced by `[redacted]`: the log is read by more people and tools
(journal, fail2ban, log shipping) than the token should be."""

from __future__ import annotations

import re

from gunicorn.glogging import Logger

_TOKEN_IN_QUERY = re.compile(r"((?:^|[?&;])(?:api_key|apikey)=)[^&;\s]*", re.IGNORECASE)


def redact(text: str) -> str:
    return _TOKEN_IN_QUERY.sub(r"\1[redacted]", text)


class RedactingLogger(Logger):
    def atoms(self, resp, req, environ, request_time):
        atoms = super().atoms(resp, req, environ, request_time)
        for key in ("r", "q"):  # the request line and the query string
            if isinstance(atoms.get(key), str):
                atoms[key] = redact(atoms[key])
        return atoms
