"""What mutagen says about an audio stream, named as ffprobe names it (`codec_name`: "aac", not
"mp4a.40.2"; "pcm_s16le", not "pcm"; "wmav2", not "wma"). No Django here.

The tables follow FFmpeg's own (libavformat/riff.c for WAV format tags, aiffdec.c for AIFF-C,
isom.c for MP4 sample entries). A stream none of them names gives "", and the audio reader then
asks FFmpeg (scanner/core/readers/video.py) for the codec.
"""

from __future__ import annotations

import os

from scanner.core.readers.chunks import aiff_chunks, wav_chunks

# By mutagen's class, the formats with one codec.
BY_CLASS = {
    "FLAC": "flac", "OggFLAC": "flac", "OggVorbis": "vorbis", "OggOpus": "opus", "OggSpeex": "speex",
    "OggTheora": "theora", "AAC": "aac", "MonkeysAudio": "ape", "WavPack": "wavpack", "TrueAudio": "tta",
    "DSF": "dsd_lsbf_planar", "DSDIFF": "dsd_msbf",
}
# WAV format tags (WAVEFORMATEX wFormatTag); PCM (1) and IEEE float (3) depend on the sample size.
WAV_FORMATS = {
    0x0002: "adpcm_ms", 0x0006: "pcm_alaw", 0x0007: "pcm_mulaw", 0x000A: "wmavoice", 0x0011: "adpcm_ima_wav",
    0x0031: "gsm_ms", 0x0050: "mp2", 0x0055: "mp3", 0x00FF: "aac", 0x0160: "wmav1", 0x0161: "wmav2",
    0x0162: "wmapro", 0x0163: "wmalossless", 0x1610: "aac", 0x2000: "ac3", 0x2001: "dts", 0xF1AC: "flac",
}
WAV_PCM = {8: "pcm_u8", 16: "pcm_s16le", 24: "pcm_s24le", 32: "pcm_s32le", 64: "pcm_s64le"}
WAV_FLOAT = {32: "pcm_f32le", 64: "pcm_f64le"}
# AIFF-C compression types; NONE and twos are big-endian PCM of the file's sample size.
AIFF_PCM_BE = {8: "pcm_s8", 16: "pcm_s16be", 24: "pcm_s24be", 32: "pcm_s32be"}
AIFF_PCM_LE = {8: "pcm_s8", 16: "pcm_s16le", 24: "pcm_s24le", 32: "pcm_s32le"}
AIFF_TYPES = {b"fl32": "pcm_f32be", b"FL32": "pcm_f32be", b"fl64": "pcm_f64be", b"FL64": "pcm_f64be",
              b"alaw": "pcm_alaw", b"ALAW": "pcm_alaw", b"ulaw": "pcm_mulaw", b"ULAW": "pcm_mulaw",
              b"ima4": "adpcm_ima_qt", b"MAC3": "mace3", b"MAC6": "mace6", b"sowt": "", b"NONE": "", b"twos": "",
              b"in24": "pcm_s24be", b"in32": "pcm_s32be"}
# MP4 sample entries as mutagen writes them (RFC 6381 for mp4a: "mp4a.40.2"), lower case.
MP4_ENTRIES = {"alac": "alac", "ac-3": "ac3", "ec-3": "eac3", "flac": "flac", "opus": "opus", "samr": "amr_nb",
               "sawb": "amr_wb", "mp4a.40.34": "mp3", "mp4a.69": "mp3", "mp4a.6b": "mp3", "mp4a.a5": "ac3",
               "mp4a.a6": "eac3", "mp4a.a9": "dts", "mp4a.dd": "vorbis"}
# ASF's codec list names the codec by its WAV format tag, which mutagen turns into these names.
ASF_TYPES = {"Windows Media Audio Standard": "wmav1", "Windows Media Audio 9 Standard": "wmav2",
             "Windows Media Audio 9 Professional": "wmapro", "Windows Media Audio 9 Lossless": "wmalossless",
             "Windows Media Audio 9 Voice": "wmavoice"}
LOSSLESS = frozenset({"flac", "alac", "ape", "wavpack", "tta", "wmalossless"})


def codec_name(audio, path: str, extras: dict) -> str:
    """ffprobe's codec_name for a file mutagen read (`audio`: its FileType), or "". WAV and AIFF
    files also leave the tags of their own chunks (RIFF INFO; NAME, AUTH) in `extras["info"]`."""
    kind, info = type(audio).__name__, audio.info
    bits = getattr(info, "bits_per_sample", 0)
    if kind in BY_CLASS:
        return BY_CLASS[kind]
    if kind in ("MP3", "EasyMP3"):
        return {1: "mp1", 2: "mp2", 3: "mp3"}.get(getattr(info, "layer", 3), "mp3")
    if kind in ("MP4", "EasyMP4"):
        entry = (getattr(info, "codec", "") or "").lower()
        return MP4_ENTRIES.get(entry) or ("aac" if entry.startswith("mp4a") else "")
    if kind == "ASF":
        return ASF_TYPES.get(getattr(info, "codec_type", ""), "")
    if kind == "Musepack":
        return "musepack8" if getattr(info, "version", 7) >= 8 else "musepack7"
    if kind == "AC3":
        return "eac3" if getattr(info, "codec", "") == "ec-3" else "ac3"
    if kind == "WAVE":
        with open(path, "rb") as handle:
            format_tag, extras["info"] = wav_chunks(handle)
        if format_tag == 1:
            return WAV_PCM.get(bits, "")
        if format_tag == 3:
            return WAV_FLOAT.get(bits, "")
        return WAV_FORMATS.get(format_tag or 0, "")
    if kind == "AIFF":
        with open(path, "rb") as handle:
            compression, extras["info"] = aiff_chunks(handle)
        if compression in (b"NONE", b"twos"):
            return AIFF_PCM_BE.get(bits, "")
        if compression == b"sowt":
            return AIFF_PCM_LE.get(bits, "")
        return AIFF_TYPES.get(compression or b"", "")
    return ""


def bit_depth(codec: str, info) -> int | None:
    """Bits per sample where the codec keeps them (PCM and lossless), as ffprobe's
    bits_per_raw_sample; lossy codecs have none, whatever their container says."""
    bits = getattr(info, "bits_per_sample", 0) or getattr(info, "sample_size", 0)
    if codec.startswith("pcm_") or codec in LOSSLESS:
        return bits if isinstance(bits, int) and 0 < bits <= 64 else None
    return None


def media_bitrate(codec: str, info, path: str, duration: float | None) -> int | None:
    """Bits per second of the media. Lossless codecs (and MP4s that state none) are the file's
    size over its length, as beets and most players do: ALAC's header states the rate of the
    uncompressed PCM, FLAC's none."""
    stated = getattr(info, "bitrate", 0) or 0
    if stated > 0 and codec not in LOSSLESS:
        return int(stated)
    if not duration:
        return None
    try:
        return int(os.path.getsize(path) * 8 / duration)
    except OSError:
        return None
