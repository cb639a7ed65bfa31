"""Audio tags and stream facts, read with mutagen. No Django here (runs in reader processes)."""

from __future__ import annotations

import os
from typing import BinaryIO

import mutagen

from scanner.core.readers.values import describe, number, positive, seconds, text

CODEC_BY_CLASS = {
    "MP3": "mp3", "EasyMP3": "mp3", "FLAC": "flac", "OggVorbis": "vorbis", "OggOpus": "opus",
    "OggFLAC": "flac", "OggSpeex": "speex", "WAVE": "pcm", "AIFF": "pcm", "ASF": "wma",
    "MonkeysAudio": "ape", "WavPack": "wavpack", "AAC": "aac", "Musepack": "musepack",
    "TrueAudio": "tta", "DSF": "dsd", "DSDIFF": "dsd", "MP4": "aac", "EasyMP4": "aac",
}
# Tag keys by field: easy keys (MP3, MP4, Vorbis comments) first, then raw ID3 frames
# (WAV and AIFF carry ID3 without an "easy" wrapper) and raw MP4 atoms.
TAG_KEYS = {
    "title": ("title", "TIT2", "\xa9nam"),
    "artist": ("artist", "TPE1", "albumartist", "TPE2", "\xa9ART"),
    "album": ("album", "TALB", "\xa9alb"),
    "album_artist": ("albumartist", "album artist", "TPE2", "aART"),
    "track": ("tracknumber", "TRCK", "trkn"),
    "disc": ("discnumber", "TPOS", "disk"),
    "year": ("date", "TDRC", "year", "TYER", "originaldate", "\xa9day"),
    "genre": ("genre", "TCON", "\xa9gen"),
}


def read_audio(file: BinaryIO) -> tuple[dict, str]:
    try:
        audio = mutagen.File(file, easy=True)
    except Exception as exc:  # mutagen raises many types on corrupt input; all mean "unreadable"
        return {}, describe(exc)
    if audio is None:
        return {}, "not a format mutagen can read"
    info = audio.info
    duration = seconds(getattr(info, "length", 0))
    codec = getattr(info, "codec", "") or CODEC_BY_CLASS.get(type(audio).__name__, type(audio).__name__.lower())
    fields = {
        "duration": duration,
        "codec": text(codec, 64),
        "bitrate": positive(getattr(info, "bitrate", 0)) or _average_bitrate(file, duration),
        "sample_rate": positive(getattr(info, "sample_rate", 0)),
    }
    tags = audio.tags or {}
    for field in ("title", "artist", "album", "album_artist", "genre"):
        fields[field] = text(_first_tag(tags, TAG_KEYS[field]))
    fields["track"] = number(_first_tag(tags, TAG_KEYS["track"]), limit=2**31 - 1)
    fields["disc"] = number(_first_tag(tags, TAG_KEYS["disc"]), limit=2**31 - 1)
    fields["year"] = number(_first_tag(tags, TAG_KEYS["year"]), limit=32767)
    return fields, ""


def _average_bitrate(file: BinaryIO, duration: float | None) -> int | None:
    """Lossless formats (FLAC, ALAC, WAV) and MP4s without an esds rate report none: the file's
    size over its length, as beets and most players do."""
    if not duration:
        return None
    try:
        return positive(os.fstat(file.fileno()).st_size * 8 / duration)
    except OSError:
        return None


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
            if isinstance(value, tuple):  # MP4 'trkn' and 'disk': (number, total)
                value = value[0]
            return value
    return None
