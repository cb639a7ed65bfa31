"""Photos: dimensions and the date taken, read with Pillow from headers only. No Django here
(runs in reader processes).

Image.open reads the header, never the pixels. Pillow refuses an image of more than twice
MAX_IMAGE_PIXELS (a decompression bomb) at open; the EXIF block a header carries is bounded by
the reader's memory limit (scanner/core/readers/pool.py).
"""

from __future__ import annotations

import re
import warnings
from datetime import UTC, datetime, timedelta, timezone
from typing import BinaryIO

from PIL import ExifTags, Image, UnidentifiedImageError

from scanner.core.readers.values import describe, positive, text

MAX_PIXELS = 200_000_000  # 200 megapixels: above any camera's frame, below a bomb's
Image.MAX_IMAGE_PIXELS = MAX_PIXELS // 2  # Pillow raises DecompressionBombError past twice this
_EXIF_DATE = re.compile(r"(\d{4}):(\d{2}):(\d{2})[ T](\d{2}):(\d{2}):(\d{2})")
_OFFSET = re.compile(r"([+-])(\d{2}):(\d{2})")
FIRST_YEAR, LAST_YEAR = 1826, 2200  # the first photograph; and a margin for clocks set ahead


def read_photo(file: BinaryIO) -> tuple[dict, str]:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(file) as image:
                return {
                    "width": positive(image.width),
                    "height": positive(image.height),
                    "codec": text((image.format or "").lower(), 64),
                    "taken_at": _taken_at(image),
                }, ""
    except Image.DecompressionBombError as exc:
        return {}, f"image too large to be safe: {exc}"[:300]
    except UnidentifiedImageError:
        return {}, "not an image Pillow can read"
    except Exception as exc:  # truncated headers, broken EXIF, MemoryError: all mean "unreadable"
        return {}, describe(exc)


def _taken_at(image: Image.Image) -> str | None:
    """EXIF DateTimeOriginal in UTC, as ISO 8601: converted with OffsetTimeOriginal when the
    camera recorded one; without one it is the camera's clock, stored as if UTC. A date no
    photo can have (a clock never set, a year before photography or far ahead, an offset of a
    day) is no date."""
    exif = image.getexif()
    if not exif:
        return None
    details = exif.get_ifd(ExifTags.IFD.Exif)
    match = _EXIF_DATE.match(text(details.get(ExifTags.Base.DateTimeOriginal), 40))
    if not match:
        return None
    year, month, day, hour, minute, second = (int(part) for part in match.groups())
    offset = _OFFSET.fullmatch(text(details.get(ExifTags.Base.OffsetTimeOriginal), 10))
    if not FIRST_YEAR <= year <= LAST_YEAR:
        return None
    try:
        zone = UTC
        if offset:
            sign, hours, minutes = offset.groups()
            zone = timezone((-1 if sign == "-" else 1) * timedelta(hours=int(hours), minutes=int(minutes)))
        return datetime(year, month, day, hour, minute, second, tzinfo=zone).astimezone(UTC).isoformat()
    except ValueError:  # "0000:00:00 00:00:00" (a clock never set), day 31 of June, an offset of +24:00
        return None
