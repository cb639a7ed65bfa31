"""Tags and stream facts of media files, read with mutagen. No Django here.

Runs in worker processes (see scanner/extraction.py), so everything it takes and returns is
plain and picklable. A file mutagen cannot parse gives empty fields and the reason, never an
exception: the scan still catalogues it with its stats and counts it as failed.
"""

from __future__ import annotations

import re

import mutagen

from scanner.listing import AUDIO_EXTENSIONS

# Audio, plus the MP4 family of video containers mutagen understands.
TAGGED_EXTENSIONS = AUDIO_EXTENSIONS | {"mp4", "m4v", "mov"}
TEXT_LIMIT = 500  # characters kept of a tag (the catalogue column size)
CODEC_BY_CLASS = {
    "MP3": "mp3", "EasyMP3": "mp3", "FLAC": "flac", "OggVorbis": "vorbis", "OggOpus": "opus",
    "OggFLAC": "flac", "OggSpeex": "speex", "WAVE": "pcm", "AIFF": "pcm", "ASF": "wma",
    "MonkeysAudio": "ape", "WavPack": "wavpack", "AAC": "aac", "Musepack": "musepack",
    "TrueAudio": "tta", "DSF": "dsd", "DSDIFF": "dsd",
}
# Tag keys by field: easy keys (MP3, MP4, Vorbis comments) first, then raw ID3 frames
# (WAV and AIFF carry ID3 without an "easy" wrapper) and raw MP4 atoms.
TAG_KEYS = {
    "title": ("title", "TIT2", "\xa9nam"),
    "artist": ("artist", "TPE1", "albumartist", "TPE2", "\xa9ART"),
    "album": ("album", "TALB", "\xa9alb"),
    "track": ("tracknumber", "TRCK", "trkn"),
    "year": ("date", "TDRC", "year", "TYER", "originaldate", "\xa9day"),
}
_FIRST_NUMBER = re.compile(r"\d+")

Metadata = dict  # duration, title, artist, album, track, year, codec, bitrate, sample_rate


def read_metadata(path: str) -> tuple[Metadata, str]:
    """(fields, error) of one file; error is empty on success."""
    try:
        audio = mutagen.File(path, easy=True)
    except Exception as exc:  # mutagen raises many types on corrupt input; all mean "unreadable"
        return {}, _describe(exc)
    if audio is None:
        return {}, "not a format mutagen can read"
    info = audio.info
    length = getattr(info, "length", 0) or 0
    fields: Metadata = {
        "duration": round(float(length), 3) if length > 0 else None,
        "codec": _text(
            getattr(info, "codec", "") or CODEC_BY_CLASS.get(type(audio).__name__, type(audio).__name__.lower())
        )[:64],
        "bitrate": _positive(getattr(info, "bitrate", 0)),
        "sample_rate": _positive(getattr(info, "sample_rate", 0)),
    }
    tags = audio.tags or {}
    for field in ("title", "artist", "album"):
        fields[field] = _text(_first_tag(tags, TAG_KEYS[field]))[:TEXT_LIMIT]
    fields["track"] = _number(_first_tag(tags, TAG_KEYS["track"]), limit=2**31 - 1)
    fields["year"] = _number(_first_tag(tags, TAG_KEYS["year"]), limit=32767)
    return fields, ""


def read_many(paths: list[str]) -> list[tuple[Metadata, str]]:
    """read_metadata over a chunk of files: one round trip to a worker process per chunk."""
    return [read_metadata(path) for path in paths]


def _first_tag(tags, keys: tuple[str, ...]):
    for key in keys:
        try:
            value = tags.get(key)
        except (KeyError, ValueError):  # easy wrappers reject keys they do not map
            continue
        if value:
            if isinstance(value, list | tuple):
                value = value[0]
            if hasattr(value, "text") and value.text:  # a raw ID3 frame
                value = value.text[0]
            if isinstance(value, tuple):  # MP4 'trkn': (track, total)
                value = value[0]
            return value
    return None


def _text(value) -> str:
    if value is None:
        return ""
    # PostgreSQL text cannot hold NUL, and broken encodings may leave lone surrogates.
    return str(value).replace("\x00", "").encode("utf-8", "replace").decode("utf-8").strip()


def _number(value, *, limit: int) -> int | None:
    match = _FIRST_NUMBER.search(_text(value))
    if not match:
        return None
    number = int(match.group())
    return number if 0 < number <= limit else None


def _positive(value) -> int | None:
    try:
        number = int(value)
    except (TypeError, ValueError):
        return None
    return number if 0 < number < 2**31 else None


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:300]
