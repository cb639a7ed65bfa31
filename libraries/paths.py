"""Library path rules (DESIGN.md 6): one clear message per rule, checked on create and on change.

Paths are compared as real paths (`..`, trailing slashes and symlinks resolved), so two
spellings of one folder are the same folder.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

from django.conf import settings
from django.core.exceptions import ValidationError

MAX_PATH_LENGTH = 1024  # characters; the column size
# The system's own folders: never media, and some (/proc, /sys, /dev) never end when walked.
SYSTEM_FOLDERS = ("/proc", "/sys", "/dev", "/run", "/etc", "/boot")


def validate_library_path(raw: str, *, others: Iterable[tuple[str, str]], media_roots: list[str] | None = None) -> str:
    """Return the real path of `raw`, or raise ValidationError naming the broken rule.

    `others` are (name, path) of the other libraries.
    """
    media_roots = settings.MEDIA_ROOTS if media_roots is None else media_roots
    path = (raw or "").strip()
    if not path:
        raise ValidationError("A folder path is required.")
    if "\x00" in path:
        raise ValidationError("The path contains a NUL character.")
    if len(path) > MAX_PATH_LENGTH:
        raise ValidationError(f"The path is longer than {MAX_PATH_LENGTH} characters.")
    if not os.path.isabs(path):
        raise ValidationError(f"The path must be absolute (start with /): {path!r}.")
    real = os.path.realpath(path)
    if len(real) > MAX_PATH_LENGTH:
        raise ValidationError(f"The folder's real path is longer than {MAX_PATH_LENGTH} characters.")
    if not os.path.exists(real):
        raise ValidationError(f"No such folder: {path}.")
    if not os.path.isdir(real):
        raise ValidationError(f"Not a folder: {path}.")
    if not os.access(real, os.R_OK | os.X_OK):
        raise ValidationError(f"The server cannot read the folder {path}.")
    if real == "/" or any(is_within(real, system) for system in SYSTEM_FOLDERS):
        raise ValidationError(f"System folders ({', '.join(('/',) + SYSTEM_FOLDERS)}) and folders inside them "
                              "cannot be libraries; set MEDIA_ROOTS to the folders that hold your media.")
    if media_roots and not any(is_within(real, root) for root in media_roots):
        raise ValidationError(f"The folder must be inside one of the media roots: {', '.join(media_roots)}.")
    for name, other in others:
        if real == other:
            raise ValidationError(f"The library '{name}' already uses this folder.")
        if is_within(real, other):
            raise ValidationError(f"This folder is inside the library '{name}' ({other}).")
        if is_within(other, real):
            raise ValidationError(f"This folder contains the library '{name}' ({other}).")
    return real


def is_within(path: str, root: str) -> bool:
    """`path` is `root` or lies below it (both real paths)."""
    return path == root or path.startswith(root.rstrip("/") + "/")
