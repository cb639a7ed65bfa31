"""One stream of a container, as the catalogue lists it: ffprobe's codec name, the language as
ISO 639-2/T, the track's flags and title, and what each kind of track has (size, frame rate and
bit depth of pictures; channels, layout, rate and bit depth of sound). No Django here.
"""

from __future__ import annotations

import re
import struct

import av

from scanner.core.languages import language_code
from scanner.core.readers.values import positive, text

FLAGS = {"default": av.stream.Disposition.default, "forced": av.stream.Disposition.forced,
         "hearing_impaired": av.stream.Disposition.hearing_impaired}
_UNNAMED_LAYOUT = re.compile(r"\d+ channels?")  # FFmpeg's name for a layout the file does not state
# Lossless audio whose bit depth its codec configuration states (ffprobe's bits_per_raw_sample).
FLAC_STREAMINFO, ALAC_COOKIE = 34, 24


def describe(stream) -> dict:
    """A video, audio or subtitle stream, as the File object's `streams` hold it."""
    kind = stream.type
    context = stream.codec_context
    described: dict = {"type": kind, "codec": codec_of(stream),
                       "language": language_code(stream.metadata.get("language"))}
    if title := text(stream.metadata.get("title"), 200):
        described["title"] = title
    disposition = stream.disposition
    described.update((name, bool(disposition & flag)) for name, flag in FLAGS.items())
    if kind == "video":
        width, height = positive(context.width), positive(context.height)
        described.update(width=width, height=height, frame_rate=frame_rate(stream), bit_depth=picture_depth(context))
        if width and height and (display := _display_size(stream, width, height)) != (width, height):
            described.update(display_width=display[0], display_height=display[1])
    elif kind == "audio":
        described.update(channels=positive(context.channels), channel_layout=_layout(context),
                         sample_rate=positive(context.sample_rate), bit_depth=sound_depth(described["codec"], context))
    if bitrate := positive(context.bit_rate if context is not None else 0):
        described["bitrate"] = bitrate
    return {key: value for key, value in described.items() if value is not None or key == "language"}


def codec_of(stream) -> str:
    """ffprobe's codec_name ("av1", "mp3", "subrip"), not the decoder's ("libdav1d", "mp3float", "srt")."""
    try:
        return text(stream.codec.canonical_name, 64)
    except Exception:  # no codec FFmpeg knows: nothing to name
        return ""


def frame_rate(stream) -> float | None:
    """The average frame rate (ffprobe's avg_frame_rate): a variable-rate phone video shows its
    real average, not the container's nominal rate."""
    rate = stream.average_rate
    if not rate or rate <= 0:
        return None
    found = round(float(rate), 3)
    return found if 0 < found < 10_000 else None


def picture_depth(context) -> int | None:
    """Bits per component of the pixel format ("yuv420p10le": 10)."""
    try:
        components = context.format.components if context.format is not None else ()
        return positive(components[0].bits) if components else None
    except Exception:  # a pixel format FFmpeg does not describe
        return None


def sound_depth(codec: str, context) -> int | None:
    """Bits per sample of PCM ("pcm_s24le": 24) and of FLAC and ALAC (from their configuration
    block); lossy codecs have none."""
    if match := re.fullmatch(r"pcm_[suf](\d+)[lb]e(?:_planar)?|pcm_[su](8)", codec):
        return int(match.group(1) or match.group(2))
    extradata = context.extradata or b""
    if codec == "flac" and len(extradata) >= FLAC_STREAMINFO:
        start = 8 if extradata[:4] == b"fLaC" else 0  # MKV stores "fLaC" and the block header first
        if len(extradata) >= start + 18:
            return ((struct.unpack_from(">H", extradata, start + 12)[0] >> 4) & 0x1F) + 1
    if codec == "alac" and len(extradata) >= ALAC_COOKIE:
        cookie = extradata.find(b"alac") + 8 if extradata.find(b"alac") >= 0 else 0  # MP4: an 'alac' atom wraps it
        if len(extradata) >= cookie + 6:
            return positive(extradata[cookie + 5])
    return None


def _layout(context) -> str | None:
    """FFmpeg's layout name ("stereo", "5.1(side)"), or None when the file does not state one."""
    try:
        name = context.layout.name
    except Exception:  # no layout at all
        return None
    return None if not name or _UNNAMED_LAYOUT.fullmatch(name) else text(name, 64)


def _display_size(stream, width: int, height: int) -> tuple[int, int]:
    """The size a player shows for non-square pixels (an anamorphic DVD's 720×576 at 64:45 is
    1024×576): the width stretched by the sample aspect ratio, as FFmpeg does."""
    ratio = stream.sample_aspect_ratio
    if not ratio or ratio <= 0 or ratio == 1:
        return width, height
    return positive(round(width * ratio)) or width, height
