"""Tags, as every format names them, into the catalogue's fields. No Django here.

mutagen gives each format's own keys (ID3 frames, Vorbis comments, MP4 atoms, ASF attributes,
APEv2 items); FFmpeg gives its own names ("artist", "album_artist", "track") for the files it
reads. Both become one table of lower-case keys, read here in one order of preference.
"""

from __future__ import annotations

from scanner.core.readers.values import number, text

MAX_PEOPLE = 50  # artists kept of one file: a compilation's credits, not a hostile tag's million
# By field, the keys that hold it, best first: ID3 frame, Vorbis comment / APEv2 / FFmpeg name,
# MP4 atom, ASF (WMA) attribute.
KEYS = {
    "title": ("tit2", "title", "\xa9nam"),
    # MusicBrainz Picard's list of every credited artist, beside a display string in "artist".
    "artists": ("txxx:artists", "artists", "----:com.apple.itunes:artists", "wm/artists"),
    "artist": ("tpe1", "artist", "\xa9art", "author"),
    "album": ("talb", "album", "\xa9alb", "wm/albumtitle"),
    "album_artists": ("tpe2", "albumartist", "album artist", "album_artist", "aart", "wm/albumartist"),
    "track": ("trck", "tracknumber", "track", "trkn", "wm/tracknumber", "part_number"),
    "disc": ("tpos", "discnumber", "disc", "disk", "wm/partofset"),
    "year": ("tdrc", "date", "year", "originaldate", "\xa9day", "wm/year", "date_released"),
    "genre": ("tcon", "genre", "\xa9gen", "wm/genre"),
}
WANTED = frozenset(key for keys in KEYS.values() for key in keys)


def mutagen_table(tags) -> dict[str, list[str]]:
    """The wanted tags of a mutagen tag object, by lower-case key, each a list of texts."""
    if tags is None:
        return {}
    table: dict[str, list[str]] = {}
    if hasattr(tags, "getall"):  # ID3: frames by HashKey ("TPE1", "TXXX:ARTISTS")
        for frame in tags.values():
            key = frame.HashKey.lower()
            if key in WANTED and key not in table:
                table[key] = [str(value) for value in (frame.genres if key == "tcon" else frame.text)]
        return table
    items = tags.as_dict().items() if hasattr(tags, "as_dict") else tags.items()  # Vorbis and ASF: lists
    for key, values in items:
        if key.lower() in WANTED:
            table.setdefault(key.lower(), [_plain(value) for value in _listed(values)])
    return table


def tag_fields(table: dict[str, list[str]]) -> dict:
    """The catalogue's tag fields from a table of tags. `artist` is every credited artist
    joined with "; "; a file without artists names its album artists there."""
    def first(field: str) -> list[str]:
        return next((table[key] for key in KEYS[field] if table.get(key)), [])

    album_artists = _people(first("album_artists"))
    artists = _people(first("artists") or first("artist")) or album_artists
    return {
        "title": text(next(iter(first("title")), "")),
        "artist": text("; ".join(artists)),
        "artists": artists,
        "album": text(next(iter(first("album")), "")),
        "album_artist": text("; ".join(album_artists)),
        "album_artists": album_artists,
        "track": number(next(iter(first("track")), None), limit=2**31 - 1),
        "disc": number(next(iter(first("disc")), None), limit=2**31 - 1),
        "year": number(next(iter(first("year")), None), limit=32767),
        "genre": text(next(iter(first("genre")), "")),
    }


def _people(values: list[str]) -> list[str]:
    """Names, once each, in order. A value holding "A; B" is two names (how taggers join several
    in formats with one value per tag); "/" and "&" are not split (AC/DC, Simon & Garfunkel)."""
    names: list[str] = []
    for value in values:
        for part in value.split(";"):
            name = text(part, 200)
            if name and name not in names:
                names.append(name)
    return names[:MAX_PEOPLE]


def _listed(values) -> list:
    if isinstance(values, list):
        return values
    if hasattr(values, "kind") and hasattr(values, "__iter__"):  # an APEv2 text value: its \0-separated texts
        return list(values)
    return [values]


def _plain(value) -> str:
    if isinstance(value, tuple):  # MP4 'trkn' and 'disk': (number, total)
        return str(value[0]) if value else ""
    if isinstance(value, bytes):  # MP4 free-form atoms ("----:com.apple.iTunes:ARTISTS")
        return value.decode("utf-8", "replace")
    return str(getattr(value, "value", value))  # ASF attributes hold theirs in .value
