"""A library's catalogue seen folder by folder (the library page's "Browse by folder").

Folders are not rows: they are the paths' prefixes. One folder's sub-folders are the next path
segment of the rows under it, counted in the database (one grouped query), so a folder of a
100k-file library costs one pass over the rows under it, never the library in Python memory.
Rows under "a/b/" are exactly those with "a/b/" <= path < "a/b0" ('0' follows '/'), in the
catalogue's code-point order (the C collation on PostgreSQL): a range the (library, path)
index serves, and unlike LIKE, exact in case on SQLite.
"""

from __future__ import annotations

from typing import NamedTuple

from django.db.models import Count, F, Q, QuerySet, Value
from django.db.models.functions import StrIndex, Substr

from libraries.models import MediaFile

FILES_SHOWN = 500  # files of one folder on its page; the catalogue table has the rest


class Folder(NamedTuple):
    name: str
    path: str  # relative to the library, no trailing '/'
    files: int  # files under it, at any depth, present or missing
    missing: int


class FolderContents(NamedTuple):
    folders: list[Folder]
    files: list[MediaFile]
    files_count: int  # files directly in it (only the first FILES_SHOWN are in `files`)


def normalise(folder: str) -> str:
    """'a/b' from what a person or a link gives ('/a/b/', 'a//b'); '' is the library."""
    return "/".join(part for part in folder.split("/") if part)


def under(library_id: int, folder: str) -> QuerySet[MediaFile]:
    rows = MediaFile.objects.filter(library_id=library_id)
    if not folder:
        return rows
    return rows.filter(path__gte=folder + "/", path__lt=folder + "0")


def contents(library_id: int, folder: str) -> FolderContents:
    prefix = folder + "/" if folder else ""
    rest = Substr("path", len(prefix) + 1)
    rows = under(library_id, folder).annotate(slash=StrIndex(rest, Value("/")))
    groups = (rows.filter(slash__gt=0)
              .annotate(name=Substr("path", len(prefix) + 1, F("slash") - 1))
              .values("name").annotate(files=Count("id"), missing=Count("id", filter=Q(missing=True)))
              .order_by("name"))
    folders = [Folder(group["name"], prefix + group["name"], group["files"], group["missing"]) for group in groups]
    here = rows.filter(slash=0).annotate(name=rest).order_by("path")
    return FolderContents(folders, list(here[:FILES_SHOWN]), here.count())
