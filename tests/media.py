"""Tiny real media files (a few KB each): audio made in pure Python and tagged with mutagen,
videos encoded with PyAV in a few frames, photos drawn with Pillow.

Each audio file is a valid container that mutagen parses for duration, bitrate and sample rate:
WAV (silence), MP3 (silent MPEG-1 Layer III frames), FLAC (STREAMINFO only) and MP4/M4A (an
audio track header). Used by the tests and the benchmarks as ground truth.
"""

from __future__ import annotations

import os
import struct
import wave
from fractions import Fraction
from pathlib import Path

import av
from mutagen.flac import FLAC
from mutagen.id3 import ID3, TALB, TCON, TDRC, TIT2, TPE1, TPE2, TPOS, TRCK
from mutagen.mp4 import MP4
from mutagen.wave import WAVE
from PIL import ExifTags, Image

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
            if key in ("track", "disc"):
                audio["trkn" if key == "track" else "disk"] = [(int(value), 0)]
            else:
                audio[_MP4_KEYS[key]] = str(value)
        audio.save()
    return path


def write_padded_flac(path: Path, blocks: int = 65_536) -> Path:
    """A FLAC whose metadata is a chain of `blocks` PADDING blocks of 16 MB each after its
    STREAMINFO (1 TiB by default): a sparse file, whose holes cost no disk (its block headers
    take a page each: 256 MiB by default), which a tag reader reads through at the speed of
    memory for minutes."""
    write_flac(path)
    size = (1 << 24) - 1  # the largest a block's 24-bit length can say
    with open(path, "r+b") as out:
        out.seek(4)
        out.write(b"\x00")  # STREAMINFO is no longer the last block
        position = out.seek(0, 2)
        for block in range(blocks):
            last = 0x80 if block == blocks - 1 else 0
            os.pwrite(out.fileno(), bytes([last | 1]) + size.to_bytes(3, "big"), position)  # 1: PADDING
            position += 4 + size
        out.truncate(position)
    return path


def write_junk(path: Path, size: int = 2048) -> Path:
    """A file with a media extension that no parser accepts."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(bytes((i * 7 + 3) % 251 for i in range(size)))
    return path


_VORBIS_KEYS = {"title": "title", "artist": "artist", "album": "album", "track": "tracknumber", "year": "date",
                "album_artist": "albumartist", "disc": "discnumber", "genre": "genre"}
_MP4_KEYS = {"title": "\xa9nam", "artist": "\xa9ART", "album": "\xa9alb", "year": "\xa9day", "album_artist": "aART",
             "genre": "\xa9gen"}


def _id3_tags(id3: ID3, tags: dict) -> None:
    frames = {"title": TIT2, "artist": TPE1, "album": TALB, "track": TRCK, "year": TDRC, "album_artist": TPE2,
              "disc": TPOS, "genre": TCON}
    for key, value in tags.items():
        id3.add(frames[key](encoding=3, text=str(value)))


def _atom(name: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", 8 + len(payload)) + name + payload


def _full_atom(name: bytes, payload: bytes) -> bytes:
    return _atom(name, b"\x00\x00\x00\x00" + payload)


# A minimal ASS header: FFmpeg's subtitle encoders refuse to start without one.
_ASS_HEADER = (
    b"[Script Info]\nScriptType: v4.00+\nPlayResX: 384\nPlayResY: 288\n\n[V4+ Styles]\nFormat: Name, Fontname, "
    b"Fontsize, PrimaryColour, SecondaryColour, OutlineColour, BackColour, Bold, Italic, Underline, StrikeOut, "
    b"ScaleX, ScaleY, Spacing, Angle, BorderStyle, Outline, Shadow, Alignment, MarginL, MarginR, MarginV, Encoding\n"
    b"Style: Default,Arial,16,&Hffffff,&Hffffff,&H0,&H0,0,0,0,0,100,100,0,0,1,1,0,2,10,10,10,0\n\n[Events]\n"
    b"Format: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text\n"
)


def write_video(path: Path, *, video_codec: str = "mpeg4", width: int = 64, height: int = 48, frames: int = 10,
                audio: tuple[str, ...] = (), audio_codec: str = "aac", subtitles: tuple[str, ...] = (),
                subtitle_codec: str = "subrip", title: str = "") -> Path:
    """A real video of `frames` grey frames at 10 fps (the container from the file's extension),
    with a short silent audio track per language in `audio` and a one-line subtitle track per
    language in `subtitles`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as out:
        video = out.add_stream(video_codec, rate=10)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        tracks = []
        for language in audio:
            track = out.add_stream(audio_codec, rate=48_000, layout="stereo")
            track.metadata["language"] = language
            tracks.append(track)
        texts = []
        for language in subtitles:
            text = out.add_stream(subtitle_codec)
            text.codec_context.subtitle_header = _ASS_HEADER
            text.metadata["language"] = language
            texts.append(text)
        if title:
            out.metadata["title"] = title
        for index in range(frames):
            frame = av.VideoFrame(width, height, "yuv420p")
            for plane in frame.planes:
                plane.update(bytes([128]) * plane.buffer_size)
            frame.pts = index
            out.mux(video.encode(frame))
        out.mux(video.encode())
        for track in tracks:
            sound = av.AudioFrame(format=track.codec_context.format.name, layout="stereo",
                                  samples=track.codec_context.frame_size or 1024)
            for plane in sound.planes:
                plane.update(bytes(plane.buffer_size))
            sound.sample_rate, sound.pts = 48_000, 0
            out.mux(track.encode(sound))
            out.mux(track.encode())
        for text in texts:
            packet = av.Packet(b"Hello")
            packet.stream, packet.pts, packet.dts, packet.duration = text, 0, 0, 1000
            packet.time_base = Fraction(1, 1000)
            out.mux(packet)
    return path


def write_photo(path: Path, *, width: int = 40, height: int = 30, taken: str = "", offset: str = "",
                camera: bool = False) -> Path:
    """A photo (the format from the extension), with EXIF DateTimeOriginal ("2021:06:05 14:30:00")
    and OffsetTimeOriginal ("+02:00") when given. `camera`: the EXIF a camera writes besides
    (exposure, lens, GPS, a 30 KB maker note), for the benchmark."""
    path.parent.mkdir(parents=True, exist_ok=True)
    image = Image.new("RGB", (width, height), (90, 120, 150))
    exif = Image.Exif()
    tags, details = ExifTags.Base, exif.get_ifd(ExifTags.IFD.Exif)
    if taken:
        exif[tags.Make] = "Test camera"
        details[tags.DateTimeOriginal] = taken
        if offset:
            details[tags.OffsetTimeOriginal] = offset
    if camera:
        exif.update({tags.Model: "EOS 80D", tags.Software: "Firmware 1.0.2", tags.Orientation: 1,
                     tags.DateTime: taken or "2021:06:05 14:30:00", tags.XResolution: 72.0, tags.YResolution: 72.0,
                     tags.ResolutionUnit: 2})
        details.update({tags.ExposureTime: 1 / 250, tags.FNumber: 5.6, tags.ISOSpeedRatings: 200,
                        tags.FocalLength: 35.0, tags.LensModel: "EF-S18-135mm f/3.5-5.6 IS USM",
                        tags.ExifImageWidth: width, tags.ExifImageHeight: height,
                        tags.MakerNote: bytes(range(256)) * 120})
        gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
        gps.update({ExifTags.GPS.GPSLatitudeRef: "N", ExifTags.GPS.GPSLatitude: (48.0, 51.0, 29.0)})
    image.save(path, exif=exif) if taken or camera else image.save(path)
    return path
