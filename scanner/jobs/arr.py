"""What Sonarr, Radarr, Lidarr, Readarr and Jellyfin-speaking tools send, turned into changed paths (DESIGN.md 10).

Two formats, both ending in `changes.note_changes` like POST /api/scanner/changes:
- the Jellyfin/Emby notice `{"Updates": [{"Path": ..., "UpdateType": ...}]}` (Jellyfin's
  MediaUpdateInfoDto; its JSON is read case-insensitively, as ASP.NET reads it);
- the *arr "Webhook" connection's events (camelCase JSON, `eventType` naming the event). Their
  shapes are the *Payload classes of each tool's src/NzbDrone.Core/Notifications/Webhook/
  (tests/fixtures/arr/ holds one body of each, citing its file).

Only what changed on disk is noted: an import's files (and the files an upgrade replaced), a
rename's old and new paths (noted together, so one scan sees both halves and the file keeps its
row: engine/moves.py), a deleted file, or the folder of a deleted series, movie, artist or author
when its files were deleted with it. Events that change no file are answered and ignored.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from scanner.jobs import changes
from scanner.jobs.events import log_decision

MAX_PATHS = 10_000  # paths in one notice, as POST /api/scanner/changes allows

# eventType -> what is read. Files: objects with a `path`; lists of them; renamed files (`path`
# and `previousPath`); folders: (object, its field), noted only if `deletedFiles` is not false.
FILE_OBJECTS = ("episodeFile", "movieFile", "trackFile", "bookFile")
FILE_LISTS = ("episodeFiles", "trackFiles", "bookFiles", "deletedFiles")
RENAMED_LISTS = ("renamedEpisodeFiles", "renamedMovieFiles", "renamedTrackFiles", "renamedBookFiles")
IMPORTS = {"Download", "Upgrade"}  # Sonarr v3/v4 and Radarr send an upgrade as Download with isUpgrade
FILE_EVENTS = {"EpisodeFileDelete", "MovieFileDelete", "BookFileDelete", "Retag", "TrackRetag"}
FOLDER_EVENTS = {
    "SeriesDelete": ("series", "path"), "MovieDelete": ("movie", "folderPath"), "ArtistDelete": ("artist", "path"),
    "AlbumDelete": ("artist", "path"), "AuthorDelete": ("author", "path"), "BookDelete": ("author", "path"),
}
QUIET_EVENTS = {  # known events that change no file here
    "Grab": "a grab downloads nothing into a library yet",
    "SeriesAdd": "adding a series changes no file", "MovieAdded": "adding a movie changes no file",
    "ArtistAdd": "adding an artist changes no file", "AuthorAdded": "adding an author changes no file",
    "Health": "a health message changes no file", "HealthRestored": "a health message changes no file",
    "ApplicationUpdate": "an application update changes no file",
    "ManualInteractionRequired": "a download waiting for a person changes no file",
    "DownloadFailure": "a failed download changes no file", "ImportFailure": "a failed import changes no file",
}


class NotANotice(ValueError):
    """The body is not a notice of this format: a 400 saying why."""


@dataclass(frozen=True)
class Received:
    event: str
    test: bool = False
    queued: list[dict] = field(default_factory=list)
    ignored: list[dict] = field(default_factory=list)


def emby_receive(body: object) -> changes.Noted:
    """Note the paths of a Jellyfin/Emby `Library/Media/Updated` notice."""
    updates = _insensitive(body, "Updates") if isinstance(body, dict) else None
    if not isinstance(updates, list):
        raise NotANotice('The body must be {"Updates": [{"Path": "/abs/path", "UpdateType": "Created"}, ...]}.')
    paths = []
    for update in updates:
        path = _insensitive(update, "Path") if isinstance(update, dict) else None
        if not isinstance(path, str):
            raise NotANotice('Each of "Updates" must be an object with a "Path" string.')
        paths.append(path)
    noted = changes.note_changes(_bounded(paths))
    if noted.ignored:  # the 204 has no body to say so: the log does (Lidarr's "music", a Windows path)
        first = noted.ignored[0]
        log_decision(f"Jellyfin notice: {len(noted.queued)} changed paths noted, {len(noted.ignored)} ignored, "
                     f"the first {first['path']}: {first['reason']}", action="emby_notice_ignored",
                     level=logging.WARNING)
    return noted


def webhook_receive(body: object) -> Received:
    """Note the paths an *arr webhook event implies; `Test` and events that change no file note nothing."""
    if not isinstance(body, dict) or not isinstance(body.get("eventType"), str) or not body["eventType"]:
        raise NotANotice('Not a Sonarr, Radarr, Lidarr or Readarr webhook event: no "eventType".')
    event = body["eventType"]
    if event == "Test":
        return Received(event, test=True)
    why_not = _why_nothing(event, body)
    if why_not:
        log_decision(f"{event} from an *arr webhook ignored: {why_not}", action="arr_event_ignored")
        return Received(event, ignored=[{"event": event, "reason": why_not}])
    paths = _paths(event, body)
    if not paths:
        raise NotANotice(f"A {event} event must name a file: none of its file fields has a path.")
    noted = changes.note_changes(_bounded(paths))
    log_decision(f"{event} from an *arr webhook: {len(noted.queued)} changed paths noted, {len(noted.ignored)} "
                 f"ignored", action="arr_event")
    return Received(event, queued=noted.queued, ignored=noted.ignored)


def _why_nothing(event: str, body: dict) -> str:
    if event in QUIET_EVENTS:
        return QUIET_EVENTS[event]
    if event in FOLDER_EVENTS and body.get("deletedFiles") is False:
        return "its files were kept: nothing changed on disk"
    if event not in IMPORTS | FILE_EVENTS | FOLDER_EVENTS.keys() | {"Rename"}:
        return "an event this server does not know"
    return ""


def _paths(event: str, body: dict) -> list[str]:
    found: list[str] = []
    if event in IMPORTS or event in FILE_EVENTS:
        for name in FILE_OBJECTS:
            if (item := _object(body, name)) is not None:
                found.append(_path(item, name, "path"))
        for name in FILE_LISTS:
            found += [_path(item, name, "path") for item in _list(body, name)]
    elif event == "Rename":
        for name in RENAMED_LISTS:
            for item in _list(body, name):
                found += [_path(item, name, "previousPath"), _path(item, name, "path")]
        if not any(name in body for name in RENAMED_LISTS):
            # Sonarr before 3.0.5 and Radarr before 2021 named only the series or the movie.
            found += _owner_folder(body)
    else:
        owner, key = FOLDER_EVENTS[event]
        if (item := _object(body, owner)) is not None:
            found.append(_path(item, owner, key))
    return list(dict.fromkeys(found))  # once each, in order


def _owner_folder(body: dict) -> list[str]:
    for owner, key in (("series", "path"), ("movie", "folderPath"), ("artist", "path"), ("author", "path")):
        if (item := _object(body, owner)) is not None:
            return [_path(item, owner, key)]
    return []


def _object(body: dict, name: str) -> dict | None:
    value = body.get(name)
    if value is not None and not isinstance(value, dict):
        raise NotANotice(f'"{name}" must be an object.')
    return value


def _list(body: dict, name: str) -> list[dict]:
    value = body.get(name)
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise NotANotice(f'"{name}" must be a list of objects.')
    return value


def _path(item: dict, name: str, key: str) -> str:
    value = item.get(key)
    if not isinstance(value, str) or not value:
        raise NotANotice(f'Each "{name}" needs a "{key}" string.')
    return value


def _bounded(paths: list[str]) -> list[str]:
    if len(paths) > MAX_PATHS:
        raise NotANotice(f"At most {MAX_PATHS:,} paths in one notice.")
    return paths


def _insensitive(item: dict, name: str):
    return next((value for key, value in item.items() if isinstance(key, str) and key.lower() == name.lower()), None)
