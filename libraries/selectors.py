"""Reads of the catalogue that the pages share."""

from __future__ import annotations

from collections.abc import Iterable

from libraries.models import Library, MediaFile


def mark_albums_with_discs(*, library: Library, files: Iterable[MediaFile]) -> None:
    """Set `album_has_discs` on each music file: whether its album (album artist and title)
    has a file on a disc after the first in this library. One query for a page of files."""
    files = [file for file in files if file.kind == MediaFile.Kind.AUDIO]
    first_discs = {(file.album_artist, file.album) for file in files if file.album and file.disc == 1}
    several = set()
    if first_discs:
        several = set(MediaFile.objects.filter(library=library, album__in={album for _, album in first_discs},
                                               disc__gt=1).values_list("album_artist", "album").distinct())
    for file in files:
        several_discs = bool(file.disc and (file.disc > 1 or (file.album_artist, file.album) in several))
        file.album_has_discs = several_discs  # type: ignore[attr-defined]  # for the page only
