"""Tiny real media files, made in pure Python (a few KB each) and tagged with mutagen.

Each is a valid container that mutagen parses for duration, bitrate and sample rate: WAV
(silence), MP3 (silent MPEG-1 Layer III frames), FLAC (STREAMINFO only) and MP4/M4A (an
audio track header). Used by the tests and the benchmarks as ground truth.
"""

from __future__ import annotations

import struct
import wave
from pathlib import Path

from mutagen.flac import FLAC
from mutagen.id3 import ID3, TALB, TDRC, TIT2, TPE1, TRCK
from mutagen.mp4 import MP4
from mutagen.wave import WAVE

MP3_RATE = 32_000
MP3_FRAME = bytes([0xFF, 0xFB, 0x18, 0xC0]) + bytes(140)  # MPEG-1 L3, 32 kbps, 32 kHz, mono: 144 bytes
MP3_FRAME_SECONDS = 1152 / MP3_RATE


def write_wav(path: Path, seconds: float = 0.5, rate: int = 8000, tags: dict | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(1)
        out.setframerate(rate)
        out.writeframes(b"\x80" * int(seconds * rate))
    if tags:
        audio = WAVE(path)
        audio.add_tags()
        _id3_tags(audio.tags, tags)
        audio.save()
    return path


def write_mp3(path: Path, seconds: float = 1.0, tags: dict | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(MP3_FRAME * max(2, round(seconds / MP3_FRAME_SECONDS)))
    if tags:
        id3 = ID3()
        _id3_tags(id3, tags)
        id3.save(path)
    return path


def write_flac(path: Path, seconds: float = 2.0, rate: int = 44_100, tags: dict | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    samples = int(seconds * rate)
    # STREAMINFO: block sizes, frame sizes (unknown), then 20 bits rate, 3 channels-1,
    # 5 bits-per-sample-1, 36 total samples, then the MD5 of the audio (zero: unknown).
    packed = (rate << 44) | (0 << 41) | (15 << 36) | samples
    streaminfo = struct.pack(">HH", 4096, 4096) + bytes(6) + packed.to_bytes(8, "big") + bytes(16)
    path.write_bytes(b"fLaC" + bytes([0x80, 0, 0, len(streaminfo)]) + streaminfo)
    if tags:
        audio = FLAC(path)
        for key, value in tags.items():
            audio[_VORBIS_KEYS[key]] = str(value)
        audio.save()
    return path


def write_mp4(path: Path, seconds: float = 3.0, rate: int = 44_100, tags: dict | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    mdhd = _full_atom(b"mdhd", struct.pack(">IIIIHH", 0, 0, rate, int(seconds * rate), 0x55C4, 0))
    hdlr = _full_atom(b"hdlr", struct.pack(">I4s12s", 0, b"soun", bytes(12)) + b"SoundHandler\x00")
    mp4a = _atom(b"mp4a", bytes(6) + struct.pack(">H", 1) + bytes(8) + struct.pack(">HHHHI", 1, 16, 0, 0, rate << 16)
                 + _atom(b"free", b""))
    stsd = _full_atom(b"stsd", struct.pack(">I", 1) + mp4a)
    stbl = _atom(b"stbl", stsd)
    minf = _atom(b"minf", stbl)
    mdia = _atom(b"mdia", mdhd + hdlr + minf)
    trak = _atom(b"trak", mdia)
    mvhd = _full_atom(b"mvhd", struct.pack(">IIII", 0, 0, 1000, int(seconds * 1000)) + bytes(80))
    ftyp = _atom(b"ftyp", b"M4A " + struct.pack(">I", 0) + b"M4A mp42isom")
    path.write_bytes(ftyp + _atom(b"moov", mvhd + trak))
    if tags:
        audio = MP4(path)
        for key, value in tags.items():
            if key == "track":
                audio["trkn"] = [(int(value), 0)]
            else:
                audio[_MP4_KEYS[key]] = str(value)
        audio.save()
    return path


def write_junk(path: Path, size: int = 2048) -> Path:
    """A file with a media extension that no parser accepts."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(bytes((i * 7 + 3) % 251 for i in range(size)))
    return path


_VORBIS_KEYS = {"title": "title", "artist": "artist", "album": "album", "track": "tracknumber", "year": "date"}
_MP4_KEYS = {"title": "\xa9nam", "artist": "\xa9ART", "album": "\xa9alb", "year": "\xa9day"}


def _id3_tags(id3: ID3, tags: dict) -> None:
    frames = {"title": TIT2, "artist": TPE1, "album": TALB, "track": TRCK, "year": TDRC}
    for key, value in tags.items():
        id3.add(frames[key](encoding=3, text=str(value)))


def _atom(name: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", 8 + len(payload)) + name + payload


def _full_atom(name: bytes, payload: bytes) -> bytes:
    return _atom(name, b"\x00\x00\x00\x00" + payload)
