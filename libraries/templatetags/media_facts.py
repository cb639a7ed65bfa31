"""The library page's one-line summary of what a file's contents say, by kind."""

from django import template

from libraries.models import MediaFile

register = template.Library()


@register.filter
def facts(file: MediaFile) -> str:
    """"1920×1080 · h264 · audio eng, fre · subtitles eng" for a video, "disc 2 · Rock ·
    320 kb/s · album artist X" for music, "4000×3000 · taken 2021-06-05 14:30" for a photo."""
    parts = []
    if file.width and file.height:
        parts.append(f"{file.width}×{file.height}")
    if file.kind == MediaFile.Kind.AUDIO:
        parts += [f"disc {file.disc}" if file.disc else "", file.genre]
    if file.codec:
        parts.append(file.codec)
    if file.bitrate and file.kind != MediaFile.Kind.IMAGE:
        parts.append(f"{round(file.bitrate / 1000):,} kb/s")
    for kind, label in (("audio", "audio"), ("subtitle", "subtitles")):
        languages = sorted({s["language"] for s in file.streams if s.get("type") == kind and s.get("language")})
        if languages:
            parts.append(f"{label} {', '.join(languages)}")
    if file.album_artist and file.album_artist != file.artist:
        parts.append(f"album artist {file.album_artist}")
    if file.taken_at:
        parts.append(f"taken {file.taken_at:%Y-%m-%d %H:%M}")
    return " · ".join(part for part in parts if part)
