"""Rows catalogued before issue 25 in its vocabulary: stream languages as ISO 639-2/T ("fre" and
"fr" become "fra"), and FFmpeg's decoder names as its codec names ("srt" becomes "subrip"), so
that `?language=` finds them without a full scan. Facts only a reading can give (channels, HDR,
the PCM variant of a WAV) wait for the next full scan."""

from django.db import migrations

from scanner.core.languages import language_code

# Decoder names the video reader stored, and mutagen's names of MP4 audio: their codec names.
RENAMED = {"srt": "subrip", "ssa": "ass", "libdav1d": "av1", "libaom-av1": "av1", "mp3float": "mp3",
           "mp2float": "mp2", "libopus": "opus", "libvorbis": "vorbis", "mpo": "jpeg", "mp4a.40.34": "mp3",
           "mp4a.69": "mp3", "mp4a.6B": "mp3"}
CHUNK = 1000  # rows a statement updates


def _codec(name: str) -> str:
    if name in RENAMED:
        return RENAMED[name]
    return "aac" if name.startswith("mp4a.40") or name == "mp4a" else name


def rename(apps, schema_editor):
    MediaFile = apps.get_model("libraries", "MediaFile")
    changed = []
    rows = MediaFile.objects.only("id", "codec", "streams", "languages").order_by("id")
    for row in rows.iterator(chunk_size=CHUNK):
        streams = [{**stream, "codec": _codec(stream.get("codec") or ""),
                    "language": language_code(stream.get("language"))} for stream in row.streams or []]
        codes = sorted({stream["language"] for stream in streams if stream["language"]})
        languages = f" {' '.join(codes)} " if codes else ""
        codec = _codec(row.codec)
        if (streams, languages, codec) != (row.streams or [], row.languages, row.codec):
            row.streams, row.languages, row.codec = streams, languages[:200], codec
            changed.append(row)
        if len(changed) >= CHUNK:
            MediaFile.objects.bulk_update(changed, ["streams", "languages", "codec"])
            changed = []
    MediaFile.objects.bulk_update(changed, ["streams", "languages", "codec"])


class Migration(migrations.Migration):
    dependencies = [("libraries", "0006_media_facts_25")]

    operations = [migrations.RunPython(rename, migrations.RunPython.noop)]
