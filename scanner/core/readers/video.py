"""Video containers probed in-process with PyAV (FFmpeg's libraries): duration, resolution,
codecs, bitrate, and the audio and subtitle tracks with their languages. No Django here (runs
in reader processes).

Headers only: nothing here decodes a frame, and FFmpeg's probe of the streams reads at most
PROBE_BYTES (its `probesize`); like ffprobe, it may decode the first packets of a stream whose
headers lack its parameters, within that budget. A container that claims more than
MAX_STREAMS streams is refused by FFmpeg itself (`max_streams`), so a hostile file cannot make
it allocate a million of them.
"""

from __future__ import annotations

import re
from typing import BinaryIO

import av

from scanner.core.readers.values import describe, number, positive, seconds, text

PROBE_BYTES = 5_000_000  # FFmpeg's default probesize: enough for every header we read
MAX_STREAMS = 256  # a Blu-ray remux has some forty; FFmpeg's own default is 1000
CONTAINER_OPTIONS = {"probesize": str(PROBE_BYTES), "analyzeduration": "5000000", "max_streams": str(MAX_STREAMS)}
UNDETERMINED = {"", "und", "unk", "unknown", "xxx", "zxx", "mis", "mul"}  # ISO 639-2 codes that name no language

av.logging.set_level(av.logging.ERROR)  # captured below: FFmpeg's first complaint is a broken file's reason


def read_video(file: BinaryIO) -> tuple[dict, str]:
    with av.logging.Capture(local=True) as said:
        try:
            with av.open(file, container_options=CONTAINER_OPTIONS, metadata_errors="replace") as container:
                return _facts(container), ""
        except Exception as exc:  # av.FFmpegError and its kin, OSError, MemoryError: all mean "unreadable"
            complaints = [message.strip() for _, _, message in said if message.strip()]
            return {}, f"{type(exc).__name__}: FFmpeg says {complaints[0]}"[:300] if complaints else describe(exc)


def _facts(container) -> dict:
    streams = [described for stream in container.streams if (described := _stream(stream)) is not None]
    videos = [stream for stream in container.streams.video if not _is_cover(stream)]
    main = videos[0] if videos else (container.streams.audio[0] if container.streams.audio else None)
    duration = seconds(container.duration / av.time_base) if container.duration else None
    tags = {key.lower(): value for key, value in container.metadata.items()}
    facts = {
        "duration": duration,
        "codec": text(main.codec_context.name if main is not None else "", 64),
        "bitrate": positive(container.bit_rate) or positive(sum(int(s.get("bitrate") or 0) for s in streams)),
        "width": positive(videos[0].codec_context.width) if videos else None,
        "height": positive(videos[0].codec_context.height) if videos else None,
        "streams": streams if videos else [],  # the File object lists tracks for videos only
        "title": text(tags.get("title")),
        "year": number(tags.get("date") or tags.get("year") or tags.get("creation_time"), limit=32767),
    }
    if not videos and container.streams.audio:  # an audio-only container (MKA, an MP4 with no picture)
        facts["sample_rate"] = positive(container.streams.audio[0].codec_context.sample_rate)
    return facts


def _stream(stream) -> dict | None:
    kind = stream.type
    if kind not in ("video", "audio", "subtitle") or (kind == "video" and _is_cover(stream)):
        return None
    context = stream.codec_context
    described: dict = {"type": kind, "codec": text(context.name if context is not None else "", 64),
                       "language": _language(stream.metadata.get("language"))}
    if kind == "video":
        described.update(width=positive(context.width), height=positive(context.height))
    elif kind == "audio":
        described.update(channels=positive(context.channels), sample_rate=positive(context.sample_rate))
    if positive(context.bit_rate if context is not None else 0):
        described["bitrate"] = positive(context.bit_rate)
    if title := text(stream.metadata.get("title"), 200):
        described["title"] = title
    return {key: value for key, value in described.items() if value is not None or key == "language"}


def _is_cover(stream) -> bool:
    """A picture attached to the file (album art in an MKV or MP4), not a video track."""
    return bool(stream.disposition & av.stream.Disposition.attached_pic)


def _language(value) -> str | None:
    """An ISO 639 code as the container says it ("eng", "fre", "pt-br"), or None."""
    code = re.sub(r"[^a-z0-9-]", "", text(value, 16).lower())
    return None if code in UNDETERMINED else code
