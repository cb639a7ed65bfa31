"""The chunks of WAV (RIFF) and AIFF (IFF) files that mutagen does not read: the WAV format tag
(what codec the samples are in), its RIFF INFO tags, the AIFF-C compression type and AIFF's
text chunks. No Django
here (runs in reader processes).

Only chunk headers are read, then the few small chunks wanted; a chunk that claims more than
the file holds ends the walk.
"""

from __future__ import annotations

import struct
from typing import BinaryIO

MAX_CHUNKS = 64  # a WAV has three or four; more is junk, not worth walking
INFO_LIMIT = 64 * 1024  # bytes of a LIST INFO chunk read: its tags are short texts
# RIFF INFO chunks by catalogue field, as FFmpeg's WAV demuxer and exiftool read them.
INFO_FIELDS = {"INAM": "title", "IART": "artist", "IPRD": "album", "ICRD": "year", "IGNR": "genre",
               "ITRK": "track", "IPRT": "track", "IFRM": "disc"}
AIFF_TEXT = {b"NAME": "title", b"AUTH": "artist"}
WAVE_FORMAT_EXTENSIBLE = 0xFFFE


def wav_chunks(handle: BinaryIO) -> tuple[int | None, dict[str, str]]:
    """(the format tag of the fmt chunk, or its sub-format's for WAVE_FORMAT_EXTENSIBLE; the
    LIST INFO tags by catalogue field)."""
    header = handle.read(12)
    if len(header) < 12 or header[:4] not in (b"RIFF", b"RF64") or header[8:12] != b"WAVE":
        return None, {}
    format_tag, tags = None, {}
    for name, size in _chunks(handle, "<I", len(header)):
        if name == b"fmt " and size >= 16:
            data = handle.read(min(size, 40))
            format_tag = struct.unpack_from("<H", data)[0]
            if format_tag == WAVE_FORMAT_EXTENSIBLE and len(data) >= 26:
                format_tag = struct.unpack_from("<H", data, 24)[0]  # the first two bytes of the sub-format GUID
        elif name == b"LIST" and size >= 4:
            data = handle.read(min(size, INFO_LIMIT))
            if data[:4] == b"INFO":
                tags.update(_info_tags(data[4:]))
    return format_tag, tags


def aiff_chunks(handle: BinaryIO) -> tuple[bytes | None, dict[str, str]]:
    """(the compression type of an AIFF-C file's COMM chunk (b"sowt", b"fl32", ...), b"NONE" for
    a plain AIFF, None when the file is neither; its NAME and AUTH text chunks by catalogue field)."""
    header = handle.read(12)
    if len(header) < 12 or header[:4] != b"FORM" or header[8:12] not in (b"AIFF", b"AIFC"):
        return None, {}
    compression: bytes | None = b"NONE" if header[8:12] == b"AIFF" else None
    tags: dict[str, str] = {}
    for name, size in _chunks(handle, ">I", len(header)):
        if name == b"COMM" and size >= 22 and header[8:12] == b"AIFC":
            compression = handle.read(22)[18:22]
        elif name in AIFF_TEXT and 0 < size <= INFO_LIMIT:
            tags.setdefault(AIFF_TEXT[name], _decode(handle.read(size).split(b"\x00", 1)[0]))
    return compression, {field: value for field, value in tags.items() if value}


def _chunks(handle: BinaryIO, size_format: str, offset: int):
    """(name, size) of each chunk from `offset`, with `handle` at the chunk's data; chunks are
    padded to an even size."""
    for _ in range(MAX_CHUNKS):
        handle.seek(offset)
        header = handle.read(8)
        if len(header) < 8:
            return
        size = struct.unpack(size_format, header[4:])[0]
        yield header[:4], size
        offset += 8 + size + (size & 1)


def _info_tags(data: bytes) -> dict[str, str]:
    tags: dict[str, str] = {}
    offset = 0
    while offset + 8 <= len(data):
        name, size = data[offset:offset + 4].decode("latin-1"), struct.unpack_from("<I", data, offset + 4)[0]
        value = data[offset + 8:offset + 8 + size].split(b"\x00", 1)[0]
        offset += 8 + size + (size & 1)
        field = INFO_FIELDS.get(name)
        if field and value.strip() and field not in tags:
            tags[field] = _decode(value)
    return tags


def _decode(value: bytes) -> str:
    """RIFF INFO names no encoding: UTF-8 when it is valid (what current taggers write), else
    Windows-1252 (what older Windows software wrote), as FFmpeg and exiftool also guess."""
    try:
        return value.decode("utf-8").strip()
    except UnicodeDecodeError:
        return value.decode("cp1252", "replace").strip()
