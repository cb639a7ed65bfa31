"""When a photo was taken, from what cameras and phones write, in the order Immich reads it. No
Django here (runs in reader processes).

1. EXIF DateTimeOriginal, with SubSecTimeOriginal and OffsetTimeOriginal;
2. EXIF DateTimeDigitized (exiftool's CreateDate), with its sub-seconds and offset;
3. the GPS date and time (always UTC);
4. XMP photoshop:DateCreated, exif:DateTimeOriginal or xmp:CreateDate (an editor's or a
   scanner's record).

A time without a stated offset is the camera's clock, kept as if it were UTC (and
`taken_at_offset` is false). A date no photo can have (a clock never set, a year before
photography or far ahead, an offset of a day) is passed over for the next source.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

from PIL import ExifTags

from scanner.core.readers.values import text

FIRST_YEAR, LAST_YEAR = 1826, 2200  # the first photograph; and a margin for clocks set ahead
_EXIF_DATE = re.compile(r"(\d{4}):(\d{2}):(\d{2})[ T](\d{2}):(\d{2}):(\d{2})")
_OFFSET = re.compile(r"([+-])(\d{2}):?(\d{2})")
_XMP_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?)?(Z|[+-]\d{2}:\d{2})?$")
XMP_KEYS = ("photoshop:DateCreated", "exif:DateTimeOriginal", "xmp:CreateDate")
XMP_LIMIT = 256 * 1024  # characters of an XMP packet searched: dates sit near its start
_BASE = ExifTags.Base
EXIF_SOURCES = (
    (_BASE.DateTimeOriginal, _BASE.SubsecTimeOriginal, _BASE.OffsetTimeOriginal),
    (_BASE.DateTimeDigitized, _BASE.SubsecTimeDigitized, _BASE.OffsetTimeDigitized),
)


def taken_at(exif, xmp) -> tuple[str | None, bool]:
    """(when, in UTC as ISO 8601; whether the file stated the UTC offset) from the first source
    that holds a possible date."""
    details = exif.get_ifd(ExifTags.IFD.Exif) if exif else {}
    for date, subsec, offset in EXIF_SOURCES:
        match = _EXIF_DATE.match(text(details.get(date), 40))
        if match:
            found = _moment([int(part) for part in match.groups()], _fraction(details.get(subsec)),
                            text(details.get(offset), 10))
            if found[0]:
                return found
    if exif and (found := _gps_time(exif.get_ifd(ExifTags.IFD.GPSInfo)))[0]:
        return found
    return _xmp_time(xmp)


def _moment(parts: list[int], micro: int, offset: str) -> tuple[str | None, bool]:
    year, month, day, hour, minute, second = parts
    if not FIRST_YEAR <= year <= LAST_YEAR:
        return None, False
    stated = _OFFSET.fullmatch(offset)
    try:
        zone = UTC
        if stated:
            sign, hours, minutes = stated.groups()
            zone = timezone((-1 if sign == "-" else 1) * timedelta(hours=int(hours), minutes=int(minutes)))
        moment = datetime(year, month, day, hour, minute, second, micro, tzinfo=zone)
        return moment.astimezone(UTC).isoformat(), bool(stated)
    except (ValueError, OverflowError):  # "0000:00:00 00:00:00", day 31 of June, an offset of +24:00
        return None, False


def _fraction(value) -> int:
    """Microseconds of EXIF SubSecTime ("123" is 0.123 s; a fraction's digits, not a count)."""
    digits = re.sub(r"\D", "", text(value, 12))[:6]
    return int(digits.ljust(6, "0")) if digits else 0


def _gps_time(gps) -> tuple[str | None, bool]:
    date = re.fullmatch(r"(\d{4}):(\d{2}):(\d{2})", text(gps.get(ExifTags.GPS.GPSDateStamp), 12))
    clock = gps.get(ExifTags.GPS.GPSTimeStamp)
    if not date or not isinstance(clock, tuple) or len(clock) != 3:
        return None, False
    try:
        hours, minutes, seconds = (float(part) for part in clock)
    except (TypeError, ValueError, ZeroDivisionError):
        return None, False
    if not (0 <= hours < 24 and 0 <= minutes < 60 and 0 <= seconds < 61):
        return None, False
    whole = int(seconds)
    return _moment([*(int(part) for part in date.groups()), int(hours), int(minutes), min(whole, 59)],
                   int((seconds - whole) * 1_000_000), "+00:00")


def _xmp_time(xmp) -> tuple[str | None, bool]:
    if not xmp:
        return None, False
    packet = xmp.decode("utf-8", "replace") if isinstance(xmp, bytes) else str(xmp)
    packet = packet[:XMP_LIMIT]
    for key in XMP_KEYS:
        found = re.search(rf"{key}\s*=\s*[\"']([^\"']{{4,40}})[\"']|<{key}>\s*([^<]{{4,40}}?)\s*</{key}>", packet)
        match = _XMP_DATE.match((found.group(1) or found.group(2)).strip()) if found else None
        if match:
            year, month, day, hour, minute, second, fraction, zone = match.groups()
            parts = [int(part or 0) for part in (year, month, day, hour, minute, second)]
            offset = "+00:00" if zone == "Z" else (zone or "")
            moment = _moment(parts, _fraction(fraction), offset)
            if moment[0]:
                return moment
    return None, False
