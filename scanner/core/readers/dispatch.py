"""What the scanner reads inside media files, by kind: audio tags (mutagen, audio.py),
video containers (PyAV, video.py), photos (Pillow, photo.py). No Django here.

Runs in reader processes (see scanner/core/readers/pool.py), so everything it takes and returns is
plain and picklable. A file that cannot be read gives empty fields and the reason, never an
exception: the scan still catalogues it with its stats and counts it as failed. The readers
are imported on first use, so a reader process pays only for the libraries its files need.

Each file is opened here, and the readers read that open file: opened without waiting
(O_NONBLOCK), since a FIFO put in a file's place after the walk listed it would hold open()
until some writer came, then checked to be a regular file (a FIFO or a device never is).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from importlib import import_module
from typing import BinaryIO

from scanner.core.extensions import AUDIO_EXTENSIONS, IMAGE_EXTENSIONS, VIDEO_EXTENSIONS
from scanner.core.readers.values import describe

Metadata = dict  # the catalogue's META_FIELDS it knows (scanner/engine/catalogue.py), by name
# The reader of each extension, as "module:function". Matroska audio goes to FFmpeg (mutagen
# does not read it); HEIC and HEIF photos have no reader (Pillow has no decoder for them) and
# are catalogued by their stats only.
READERS = {
    **{ext: f"{__package__}.audio:read_audio" for ext in AUDIO_EXTENSIONS - {"mka"}},
    **{ext: f"{__package__}.video:read_video" for ext in VIDEO_EXTENSIONS | {"mka"}},
    **{ext: f"{__package__}.photo:read_photo" for ext in IMAGE_EXTENSIONS - {"heic", "heif"}},
}
READ_EXTENSIONS = frozenset(READERS)  # files whose content a scan reads when they are new or changed
EMPTY_FILE = "empty file (0 bytes): nothing to read"
FILE_TYPES = {stat.S_IFIFO: "a FIFO", stat.S_IFCHR: "a character device", stat.S_IFBLK: "a block device",
              stat.S_IFSOCK: "a socket"}
_loaded: dict[str, Callable[[BinaryIO], tuple[Metadata, str]]] = {}


class NotARegularFile(Exception):
    pass


def read_metadata(path: str) -> tuple[Metadata, str]:
    """(fields, error) of one file; error is empty on success."""
    extension = os.path.splitext(path)[1][1:].lower()
    name = READERS.get(extension)
    if name is None:
        return {}, f"no reader for .{extension} files"
    try:
        reader = _loaded.get(name) or _load(name)
        with _open(path) as file:
            return reader(file)
    except NotARegularFile as exc:
        return {}, f"not a regular file ({exc})"
    except Exception as exc:  # a reader's own bug must cost one file, not the chunk
        return {}, describe(exc)


def read_many(paths: list[str]) -> list[tuple[Metadata, str]]:
    """read_metadata over a chunk of files: one round trip to a reader process per chunk."""
    return [read_metadata(path) for path in paths]


def _open(path: str) -> BinaryIO:
    """The file at `path`, open for reading, if it is a regular file; its name stays `path`
    (readers guess formats from it: mutagen's scores, FFmpeg's probe)."""
    file = open(path, "rb", opener=_open_without_waiting)
    try:
        mode = os.fstat(file.fileno()).st_mode
        if not stat.S_ISREG(mode):
            raise NotARegularFile(FILE_TYPES.get(stat.S_IFMT(mode), f"type {stat.S_IFMT(mode):o}"))
        os.set_blocking(file.fileno(), True)
    except BaseException:
        file.close()
        raise
    return file


def _open_without_waiting(path: str, flags: int) -> int:
    return os.open(path, flags | os.O_NONBLOCK | os.O_NOCTTY)


def _load(name: str) -> Callable[[BinaryIO], tuple[Metadata, str]]:
    module, function = name.split(":")
    _loaded[name] = getattr(import_module(module), function)
    return _loaded[name]
