"""Audio tags and stream facts, read with mutagen. No Django here (runs in reader processes).

A file is read by what it holds, not by its name: mutagen picks a format by name and content;
when that format refuses the file (an MP3 named .flac), the formats are scored on content
alone, and FFmpeg (scanner/core/readers/video.py) reads what mutagen cannot at all.
"""

from __future__ import annotations

from typing import BinaryIO

import mutagen
from mutagen.aac import AAC
from mutagen.ac3 import AC3
from mutagen.aiff import AIFF
from mutagen.apev2 import APEv2File
from mutagen.asf import ASF
from mutagen.dsdiff import DSDIFF
from mutagen.dsf import DSF
from mutagen.flac import FLAC
from mutagen.id3 import ID3FileType
from mutagen.monkeysaudio import MonkeysAudio
from mutagen.mp3 import MP3
from mutagen.mp4 import MP4
from mutagen.musepack import Musepack
from mutagen.oggflac import OggFLAC
from mutagen.oggopus import OggOpus
from mutagen.oggspeex import OggSpeex
from mutagen.oggvorbis import OggVorbis
from mutagen.trueaudio import TrueAudio
from mutagen.wave import WAVE
from mutagen.wavpack import WavPack

from scanner.core.readers.audio_codecs import bit_depth, codec_name, media_bitrate
from scanner.core.readers.tags import mutagen_table, tag_fields
from scanner.core.readers.values import describe, positive, seconds, text

# The formats tried on content alone, as mutagen.File tries them (less those that are not audio).
FORMATS = (MP3, TrueAudio, OggSpeex, OggVorbis, OggFLAC, FLAC, AIFF, APEv2File, MP4, ID3FileType, WavPack,
           Musepack, MonkeysAudio, ASF, OggOpus, AAC, AC3, DSF, DSDIFF, WAVE)
HEADER_BYTES = 128  # what mutagen's scores look at
OPUS_RATE = 48_000  # Opus always decodes at 48 kHz (RFC 7845); its header's rate is the input's


def read_audio(file: BinaryIO) -> tuple[dict, str]:
    """`file` is open (scanner/core/readers/dispatch.py); its name, the path, says what it claims to be."""
    path = file.name
    try:
        audio, refused = mutagen.File(file), ""
    except Exception as exc:  # mutagen raises many types on corrupt input; all mean "unreadable"
        audio, refused = None, describe(exc)
    if audio is None:
        audio = _by_content(file)
    if audio is None:
        return _by_ffmpeg(file, refused or "not a format mutagen can read")
    facts = _facts(audio, path)
    if not facts["codec"]:  # a codec no table here names: FFmpeg's name for it
        by_ffmpeg, error = _by_ffmpeg(file, "")
        facts["codec"] = "" if error else by_ffmpeg.get("codec", "")
    return facts, ""


def _facts(audio, path: str) -> dict:
    info, extras = audio.info, {}  # type: tuple[object, dict[str, dict[str, str]]]
    duration = seconds(getattr(info, "length", 0))
    codec = text(codec_name(audio, path, extras), 64)
    table = mutagen_table(audio.tags)
    for field, value in extras.get("info", {}).items():  # WAV and AIFF chunks: beside ID3, never over it
        table.setdefault(field, [value])
    return {
        "duration": duration,
        "codec": codec,
        "bitrate": positive(media_bitrate(codec, info, path, duration)),
        "sample_rate": OPUS_RATE if codec == "opus" else positive(getattr(info, "sample_rate", 0)),
        "channels": positive(getattr(info, "channels", 0)),
        "bit_depth": bit_depth(codec, info),
        **tag_fields(table),
    }


def _by_content(file: BinaryIO):
    """The file as the format its content scores best at (its name aside), or None."""
    try:
        file.seek(0)
        header = file.read(HEADER_BYTES)
        scores = sorted(((kind.score("", file, header), kind.__name__, kind) for kind in FORMATS), reverse=True)
    except OSError:
        return None
    for score, _, kind in scores:
        if score <= 0:
            break
        try:
            file.seek(0)
            return kind(file)
        except Exception:  # this format refuses it too: the next one
            continue
    return None


def _by_ffmpeg(file: BinaryIO, refused: str) -> tuple[dict, str]:
    from scanner.core.readers.video import read_video

    file.seek(0)
    facts, error = read_video(file)
    if not error and not (facts.get("sample_rate") or facts.get("width")):
        # FFmpeg falls back to the extension's demuxer when no format claims the content, and
        # "reads" a stream with no parameters from junk: nothing was read.
        error = "FFmpeg found no stream it could describe"
    if error:
        return {}, refused or error
    return facts, ""
