"""What files say inside, as catalogue rows hold it: the fields readers fill (scanner/core/readers),
completed and turned into the values a raw statement writes (scanner/engine/catalogue.py)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from libraries.models import MediaFile
from scanner.engine.dbtime import db_datetime

META_FIELDS = (
    "duration", "title", "artist", "album", "album_artist", "track", "disc", "year", "genre", "codec", "bitrate",
    "sample_rate", "width", "height", "taken_at", "streams", "languages", "artists", "album_artists", "channels",
    "bit_depth", "rotation", "frame_rate", "hdr", "taken_at_offset", "camera", "chapters",
)
# What media files hold beyond the stats and tags of the first catalogue. A file with nothing
# read (an empty file, one with no reader) leaves them to their database defaults: a third
# fewer values per row in a first scan of such files (bench/NOTES.md).
FACT_FIELDS = ("album_artist", "disc", "genre", "width", "height", "taken_at", "streams", "languages", "artists",
               "album_artists", "channels", "bit_depth", "rotation", "frame_rate", "hdr", "taken_at_offset", "camera",
               "chapters")
EMPTY_META: dict = {
    "duration": None, "title": "", "artist": "", "album": "", "album_artist": "", "track": None, "disc": None,
    "year": None, "genre": "", "codec": "", "bitrate": None, "sample_rate": None, "width": None, "height": None,
    "taken_at": None, "streams": [], "languages": "", "artists": [], "album_artists": [], "channels": None,
    "bit_depth": None, "rotation": None, "frame_rate": None, "hdr": None, "taken_at_offset": False, "camera": "",
    "chapters": None,
}
JSON_FIELDS = ("streams", "artists", "album_artists")  # lists, as JSON text in a raw statement
# Characters of MediaFile.languages (" eng fre ") left between the spaces around, with room to spare.
LANGUAGES_LIMIT = (MediaFile._meta.get_field("languages").max_length or 0) - 4
_JSON = tuple(META_FIELDS.index(name) for name in JSON_FIELDS)
_TAKEN_AT = META_FIELDS.index("taken_at")




def complete_facts(meta: dict) -> dict:
    """A reader's fields as the catalogue keeps them: every field, `taken_at` as an aware
    datetime (an EXIF time without offset is the camera's clock, kept as UTC), `languages`
    from the streams."""
    meta = {**EMPTY_META, **meta}
    if isinstance(meta["taken_at"], str):  # the photo reader gives UTC, checked; a bad one costs its date only
        try:
            meta["taken_at"] = datetime.fromisoformat(meta["taken_at"]).astimezone(UTC)
        except (ValueError, OverflowError):
            meta["taken_at"] = None
    if meta["taken_at"] is None:
        meta["taken_at_offset"] = False
    if meta["streams"]:
        languages = sorted({stream["language"] for stream in meta["streams"] if stream.get("language")})
        while len(" ".join(languages)) > LANGUAGES_LIMIT:
            languages.pop()
        meta["languages"] = f" {' '.join(languages)} " if languages else ""
    return meta


def stored_facts(meta: dict) -> tuple:
    """META_FIELDS' values of completed facts, as a raw statement wants them."""
    values = [meta[name] for name in META_FIELDS]  # a hot loop: thousands of files a batch
    for index in _JSON:
        values[index] = json.dumps(values[index]) if values[index] else "[]"
    if meta["taken_at"] is not None:
        values[_TAKEN_AT] = db_datetime(meta["taken_at"])
    return tuple(values)


def holds_facts(stored_values: tuple, meta: dict) -> bool:
    """Whether a row's META_FIELDS values (as read in full mode) are these completed facts already."""
    stored = dict(zip(META_FIELDS, stored_values, strict=True))
    for name in JSON_FIELDS:
        if isinstance(stored[name], str):  # SQLite hands JSON back as text
            stored[name] = json.loads(stored[name])
    if isinstance(stored["taken_at"], datetime) and stored["taken_at"].tzinfo is None:  # SQLite: naive UTC
        stored["taken_at"] = stored["taken_at"].replace(tzinfo=UTC)
    return all(stored[name] == meta[name] for name in META_FIELDS)


NO_FACTS = stored_facts(complete_facts({}))  # a file with nothing read
