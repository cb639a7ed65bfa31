"""What an MP4 or QuickTime file says of its first video track that FFmpeg keeps in side data
PyAV does not show: the rotation of the track header's matrix (how phones record portrait
video) and a Dolby Vision configuration box. No Django here (runs in reader processes).

Only box headers are read on the way down (moov, trak, mdia, minf, stbl, stsd) and the small
boxes wanted (tkhd, hdlr, the sample entry); the sample tables are skipped, however large.
"""

from __future__ import annotations

import math
import struct
from typing import BinaryIO, NamedTuple

CONTAINERS = {b"moov", b"trak", b"mdia", b"minf", b"stbl"}
MAX_BOXES = 512  # boxes looked at in one file: a film has a few dozen on this path
DOLBY_VISION_BOXES = (b"dvcC", b"dvvC", b"dvwC")
DOLBY_VISION_ENTRIES = {b"dvh1", b"dvhe", b"dvav", b"dva1", b"dav1"}  # sample entries of Dolby Vision tracks
ENTRY_LIMIT = 4096  # bytes of a sample entry searched for its configuration boxes


class VideoTrack(NamedTuple):
    rotation: int  # degrees clockwise a player turns the picture
    dolby_vision: bool


def first_video_track(path: str) -> VideoTrack | None:
    """The first video track's rotation and Dolby Vision flag, or None when none is found."""
    with open(path, "rb") as handle:
        handle.seek(0, 2)
        size = handle.tell()
        budget = [MAX_BOXES]
        for name, start, end in _boxes(handle, 0, size, budget):
            if name == b"moov":
                for child, child_start, child_end in _boxes(handle, start, end, budget):
                    if child == b"trak" and (track := _track(handle, child_start, child_end, budget)) is not None:
                        return track
                return None
    return None


def _track(handle: BinaryIO, start: int, end: int, budget: list[int]) -> VideoTrack | None:
    matrix, handler, entry = None, b"", b""
    for name, box_start, box_end in _walk(handle, start, end, budget):
        if name == b"tkhd":
            matrix = _matrix(handle, box_start, box_end)
        elif name == b"hdlr" and not handler:  # the media handler; QuickTime adds a data handler in minf
            handle.seek(box_start + 8)
            handler = handle.read(4)
        elif name == b"stsd" and box_end - box_start > 16:
            handle.seek(box_start + 8)
            entry = handle.read(min(box_end - box_start - 8, ENTRY_LIMIT))
    if handler != b"vide":
        return None
    rotation = 0
    if matrix is not None:
        a, b = matrix
        rotation = round(math.degrees(math.atan2(b, a))) % 360
    dolby = entry[4:8] in DOLBY_VISION_ENTRIES or any(box in entry for box in DOLBY_VISION_BOXES)
    return VideoTrack(rotation if rotation in (0, 90, 180, 270) else 0, dolby)


def _matrix(handle: BinaryIO, start: int, end: int) -> tuple[float, float] | None:
    """(a, b) of the track header's transformation matrix, in 16.16 fixed point."""
    handle.seek(start)
    version = handle.read(1)
    offset = start + 4 + (32 if version == b"\x01" else 20) + 16  # times, ids, duration; layer, group, volume
    if offset + 8 > end:
        return None
    handle.seek(offset)
    a, b = struct.unpack(">ii", handle.read(8))
    return a / 65536, b / 65536


def _walk(handle: BinaryIO, start: int, end: int, budget: list[int]):
    """Every box under a trak, depth first, into the containers on the way to the sample entry."""
    for name, box_start, box_end in _boxes(handle, start, end, budget):
        yield name, box_start, box_end
        if name in CONTAINERS:
            yield from _walk(handle, box_start, box_end, budget)


def _boxes(handle: BinaryIO, start: int, end: int, budget: list[int]):
    """(name, data start, data end) of each box between start and end."""
    offset = start
    while offset + 8 <= end and budget[0] > 0:
        budget[0] -= 1
        handle.seek(offset)
        header = handle.read(8)
        if len(header) < 8:
            return
        size, name = struct.unpack(">I4s", header)
        data = offset + 8
        if size == 1:  # a 64-bit size follows
            size, data = struct.unpack(">Q", handle.read(8))[0], offset + 16
        elif size == 0:  # to the end of the enclosing box
            size = end - offset
        if size < data - offset or offset + size > end:
            return  # a box that claims more than its parent holds: the rest is junk
        yield name, data, offset + size
        offset += size
