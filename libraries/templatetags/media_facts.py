"""The library page's one-line summary of what a file's contents say, by kind, and its durations."""

from datetime import UTC

from django import template
from django.utils import timezone

from libraries.models import MediaFile
from scanner.core.languages import language_name

register = template.Library()
HDR_LABELS = {"hdr10": "HDR10", "hdr10+": "HDR10+", "hlg": "HLG", "dolby_vision": "Dolby Vision"}


@register.filter
def facts(file: MediaFile) -> str:
    """"1920×1080 · h264 · HDR10 · audio English, French · subtitles English" for a video,
    "track 3 · 1999 · disc 2 · Rock · flac · 320 kb/s · album artist X" for music,
    "4000×3000 · jpeg · taken 2021-06-05 14:30 +02:00 · Canon EOS 80D" for a photo."""
    parts = []
    if file.width and file.height:
        parts.append(f"{file.width}×{file.height}")
    if file.kind == MediaFile.Kind.AUDIO:
        # "disc 1" says nothing of an album with one disc; the page knows which albums have more.
        several = getattr(file, "album_has_discs", bool(file.disc and file.disc > 1))
        parts += [f"track {file.track}" if file.track else "", str(file.year) if file.year else "",
                  f"disc {file.disc}" if file.disc and several else "", file.genre]
    if file.codec:
        parts.append(file.codec)
    if file.hdr:
        parts.append(HDR_LABELS.get(file.hdr, file.hdr))
    if file.bitrate and file.kind != MediaFile.Kind.IMAGE:
        parts.append(f"{round(file.bitrate / 1000):,} kb/s")
    for kind, label in (("audio", "audio"), ("subtitle", "subtitles")):
        codes = dict.fromkeys(s["language"] for s in file.streams if s.get("type") == kind and s.get("language"))
        if codes:
            parts.append(f"{label} {', '.join(language_name(code) for code in codes)}")
    if file.album_artist and file.album_artist != file.artist:
        parts.append(f"album artist {file.album_artist}")
    if file.taken_at:
        parts.append(f"taken {_taken(file)}")
    if file.camera:
        parts.append(file.camera)
    return " · ".join(part for part in parts if part)


def _taken(file: MediaFile) -> str:
    """In the server's time zone with its offset when the file stated one; otherwise the
    camera's clock as it was (stored as if UTC: converting it would invent a time zone)."""
    assert file.taken_at is not None
    if not file.taken_at_offset:
        return f"{file.taken_at.astimezone(UTC):%Y-%m-%d %H:%M} (camera clock)"
    local = timezone.localtime(file.taken_at)
    offset = local.strftime("%z")
    return f"{local:%Y-%m-%d %H:%M} {offset[:3]}:{offset[3:]}"
