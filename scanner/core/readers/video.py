"""Video containers probed in-process with PyAV (FFmpeg's libraries): duration, codecs and
streams, size, frame rate, bit depth, rotation, HDR, chapters and tags; also the audio files
that mutagen does not read (Matroska audio, files whose name lies). No Django here (runs in
reader processes).

Headers only: nothing here decodes a frame, and FFmpeg's probe of the streams reads at most
PROBE_BYTES (its `probesize`); like ffprobe, it may decode the first packets of a stream whose
headers lack its parameters, within that budget. A container that claims more than
MAX_STREAMS streams is refused by FFmpeg itself (`max_streams`), so a hostile file cannot make
it allocate a million of them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import BinaryIO

import av

from scanner.core.readers.hdr import hdr_format
from scanner.core.readers.mp4boxes import first_video_track
from scanner.core.readers.streams import codec_of, describe, frame_rate, picture_depth
from scanner.core.readers.tags import tag_fields
from scanner.core.readers.values import describe as describe_error
from scanner.core.readers.values import positive, seconds

PROBE_BYTES = 5_000_000  # FFmpeg's default probesize: enough for every header we read
MAX_STREAMS = 256  # a Blu-ray remux has some forty; FFmpeg's own default is 1000
CONTAINER_OPTIONS = {"probesize": str(PROBE_BYTES), "analyzeduration": "5000000", "max_streams": str(MAX_STREAMS)}
LISTED = ("video", "audio", "subtitle")
# Tags by which an MP4 or QuickTime file says a device recorded it (a phone, a camera), so that
# its creation time is when it was shot, not when a film was muxed.
DEVICE_TAGS = ("com.apple.quicktime.make", "com.apple.quicktime.model", "com.android.version", "make", "model",
               "location", "com.apple.quicktime.location.iso6709")
FIRST_YEAR, LAST_YEAR = 1900, 2200

av.logging.set_level(av.logging.ERROR)  # captured below: FFmpeg's first complaint is a broken file's reason


def read_video(file: BinaryIO) -> tuple[dict, str]:
    with av.logging.Capture(local=True) as said:
        try:
            with av.open(file, container_options=CONTAINER_OPTIONS, metadata_errors="replace") as container:
                return _facts(container, file.name), ""
        except Exception as exc:  # av.FFmpegError and its kin, OSError, MemoryError: all mean "unreadable"
            complaints = [message.strip() for _, _, message in said if message.strip()]
            return {}, f"{type(exc).__name__}: FFmpeg says {complaints[0]}"[:300] if complaints else describe_error(exc)


def _facts(container, path: str) -> dict:
    listed = [stream for stream in container.streams if stream.type in LISTED and not _is_cover(stream)]
    videos = [stream for stream in listed if stream.type == "video"]
    audios = [stream for stream in listed if stream.type == "audio"]
    streams = [describe(stream) for stream in listed]
    tags = {key.lower(): value for key, value in container.metadata.items()}
    mov = "mp4" in container.format.name  # "mov,mp4,m4a,3gp,3g2,mj2"
    taken_at, offset_stated = _taken_at(tags, mov)
    facts = {
        "duration": seconds(container.duration / av.time_base) if container.duration else None,
        "bitrate": positive(container.bit_rate) or positive(sum(int(s.get("bitrate") or 0) for s in streams)),
        "streams": streams,
        "chapters": len(container.chapters()),
        "taken_at": taken_at,
        "taken_at_offset": offset_stated,
        **tag_fields({key: [value] for key, value in tags.items()}),
    }
    if videos:
        main = videos[0]
        codec, depth = codec_of(main), picture_depth(main.codec_context)
        track = first_video_track(path) if mov else None
        facts.update(codec=codec, width=positive(main.codec_context.width),
                     height=positive(main.codec_context.height), frame_rate=frame_rate(main), bit_depth=depth,
                     rotation=track.rotation if track else 0,
                     hdr=hdr_format(container, main, codec, depth, bool(track and track.dolby_vision)))
    elif audios:  # an audio-only container: Matroska audio, or a file mutagen could not read
        first = streams[listed.index(audios[0])]
        facts.update(codec=first["codec"], sample_rate=first.get("sample_rate"), channels=first.get("channels"),
                     bit_depth=first.get("bit_depth"))
    return facts


def _is_cover(stream) -> bool:
    """A picture attached to the file (album art in an MKV or MP4), not a video track."""
    return bool(stream.disposition & av.stream.Disposition.attached_pic)


def _taken_at(tags: dict[str, str], mov: bool) -> tuple[str | None, bool]:
    """When a phone or camera video was shot: QuickTime's creation date (iPhones; it states
    the offset), else the creation time of an MP4 or QuickTime file that a device recorded
    (a device tag, or no muxing program named in `encoder`). A film remuxed in 2021 keeps its
    own date tag for `year` and gets no `taken_at`."""
    if apple := tags.get("com.apple.quicktime.creationdate"):
        return _moment(apple)
    created = tags.get("creation_time")
    if created and mov and (any(key in tags for key in DEVICE_TAGS) or not tags.get("encoder")):
        return _moment(created)[0], False  # the format says UTC, but many cameras write local time
    return None, False


def _moment(value: str) -> tuple[str | None, bool]:
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        return None, False
    if not FIRST_YEAR <= moment.year <= LAST_YEAR:
        return None, False
    stated = moment.tzinfo is not None
    return (moment if stated else moment.replace(tzinfo=UTC)).astimezone(UTC).isoformat(), stated
