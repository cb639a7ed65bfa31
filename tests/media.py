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
from PIL import ExifTags, Image, PngImagePlugin

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
                audio: tuple = (), audio_codec: str = "aac", subtitles: tuple = (),
                subtitle_codec: str = "subrip", title: str = "", rate: int = 10, pix_fmt: str = "yuv420p",
                rotation: int = 0, color_trc: int = 0, chapters: int = 0, tags: dict | None = None,
                options: dict | None = None, codec_options: dict | None = None,
                sample_aspect_ratio: Fraction | None = None, first_packet_prefix: bytes = b"",
                timestamps: list[int] | None = None) -> Path:
    """A real video of `frames` grey frames at `rate` fps (the container from the file's
    extension), with a short silent audio track for each of `audio` and a one-line subtitle
    track for each of `subtitles`: a language, or a dict of "language", "title", "layout"
    (audio) and "disposition" (av.stream.Disposition flags).

    `rotation`: degrees clockwise a player turns the picture (a display matrix); `color_trc`:
    FFmpeg's transfer characteristic (16 PQ, 18 HLG); `chapters`: how many; `tags`: the
    container's; `options`: the muxer's (MP4 "movflags": "use_metadata_tags" keeps any tag);
    `first_packet_prefix`: Annex B NAL units put before the first video packet's own (HEVC SEI);
    `timestamps`: each frame's, in 1/`rate` s (gaps make a variable frame rate, as phones record)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w", options=options or {}) as out:
        video = out.add_stream(video_codec, rate=rate)
        video.width, video.height, video.pix_fmt = width, height, pix_fmt
        if video_codec == "libx265":
            video.options = {"x265-params": "log-level=error", **(codec_options or {})}
        elif codec_options:
            video.options = codec_options
        if color_trc:
            video.codec_context.color_trc, video.codec_context.color_primaries = color_trc, 9  # BT.2020
            video.codec_context.colorspace = 9
        if sample_aspect_ratio:
            video.codec_context.sample_aspect_ratio = sample_aspect_ratio
        if rotation:
            video.set_display_rotation(-rotation)  # PyAV's degrees are counter-clockwise
        tracks = []
        for spec in audio:
            spec = {"language": spec} if isinstance(spec, str) else spec
            layout = spec.get("layout", "stereo")
            track = out.add_stream(audio_codec, rate=48_000, layout=layout)
            _describe_track(track, spec)
            tracks.append((track, layout))
        texts = []
        for spec in subtitles:
            spec = {"language": spec} if isinstance(spec, str) else spec
            text = out.add_stream(subtitle_codec)
            text.codec_context.subtitle_header = _ASS_HEADER
            _describe_track(text, spec)
            texts.append(text)
        if title:
            out.metadata["title"] = title
        out.metadata.update(tags or {})
        if chapters:
            out.set_chapters([{"id": n + 1, "start": n, "end": n + 1, "time_base": Fraction(frames, rate * chapters),
                               "metadata": {"title": f"Chapter {n + 1}"}} for n in range(chapters)])
        prefix = first_packet_prefix
        for index in range(frames + 1):
            frame = None
            if index < frames:
                frame = av.VideoFrame(width, height, pix_fmt)
                for plane in frame.planes:
                    plane.update(bytes([128 if pix_fmt == "yuv420p" else 0]) * plane.buffer_size)
                frame.pts = timestamps[index] if timestamps else index
            for packet in video.encode(frame):  # None: the encoder's last packets
                if prefix:
                    packet, prefix = _prefixed(packet, prefix), b""
                out.mux(packet)
        for track, layout in tracks:
            sound = av.AudioFrame(format=track.codec_context.format.name, layout=layout,
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


def _describe_track(stream, spec: dict) -> None:
    if spec.get("language"):
        stream.metadata["language"] = spec["language"]
    if spec.get("title"):
        stream.metadata["title"] = spec["title"]
    if "disposition" in spec:
        stream.disposition = spec["disposition"]


def _prefixed(packet, prefix: bytes):
    """The packet with Annex B NAL units before its own (the muxer makes them length-prefixed)."""
    changed = av.Packet(prefix + bytes(packet))
    changed.stream, changed.pts, changed.dts = packet.stream, packet.pts, packet.dts
    changed.time_base = packet.time_base
    changed.is_keyframe = packet.is_keyframe
    return changed


# An HEVC prefix SEI holding an HDR10+ (SMPTE ST 2094-40) message: ITU-T T.35, Samsung's codes.
HDR10_PLUS_SEI = (b"\x00\x00\x00\x01\x4e\x01" + bytes([4, 12]) + b"\xb5\x00\x3c\x00\x01\x04\x01\x40\x00\x00\x00\x00"
                  + b"\x80")
# An HEVC NAL unit of type 62, as Dolby Vision's reshaping data (RPU) travels in profile 7 and 8 streams.
DOLBY_VISION_RPU = b"\x00\x00\x00\x01\x7c\x01\x19\x08\x09\x00\x80"


def write_audio(path: Path, codec: str, *, rate: int = 44_100, layout: str = "stereo", frames: int = 20,
                tags: dict | None = None, language: str = "", bit_rate: int = 0, sample_format: str = "") -> Path:
    """Silent audio encoded by FFmpeg (WMA, Opus, ALAC, AIFF, PCM WAV, Matroska audio: the
    container from the extension), with the container's `tags` as FFmpeg names them."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as out:
        track = out.add_stream(codec, rate=rate, layout=layout)
        if sample_format:
            track.codec_context.format = sample_format
        if bit_rate:
            track.bit_rate = bit_rate
        if language:
            track.metadata["language"] = language
        out.metadata.update({key: str(value) for key, value in (tags or {}).items()})
        position = 0
        for _ in range(frames):
            frame = av.AudioFrame(format=track.codec_context.format.name, layout=layout,
                                  samples=track.codec_context.frame_size or 1024)
            for plane in frame.planes:
                plane.update(bytes(plane.buffer_size))
            frame.sample_rate, frame.pts = rate, position
            position += frame.samples
            out.mux(track.encode(frame))
        out.mux(track.encode())
    return path


def write_wav_info(path: Path, info: dict[str, str], seconds: float = 0.5) -> Path:
    """A 16-bit PCM WAV with a RIFF LIST INFO chunk of `info` (INAM, IART, IPRD, ICRD, IGNR,
    ITRK), as Windows and many rippers tag WAV files."""
    write_wav(path, seconds=seconds)
    entries = b""
    for key, value in info.items():
        data = value.encode("utf-8") + b"\x00"
        entries += key.encode("ascii") + struct.pack("<I", len(data)) + data + b"\x00" * (len(data) & 1)
    chunk = b"LIST" + struct.pack("<I", 4 + len(entries)) + b"INFO" + entries
    body = path.read_bytes()[12:] + chunk
    path.write_bytes(b"RIFF" + struct.pack("<I", 4 + len(body)) + b"WAVE" + body)
    return path


def write_photo(path: Path, *, width: int = 40, height: int = 30, taken: str = "", offset: str = "",
                camera: bool = False, orientation: int = 0, make: str = "", model: str = "", digitized: str = "",
                subsec: str = "", gps_time: tuple[str, tuple] | None = None, xmp: str = "",
                mpo: bool = False) -> Path:
    """A photo (the format from the extension), with EXIF DateTimeOriginal ("2021:06:05 14:30:00")
    and OffsetTimeOriginal ("+02:00") when given. `camera`: the EXIF a camera writes besides
    (exposure, lens, GPS, a 30 KB maker note), for the benchmark. `digitized`: DateTimeDigitized
    (with `offset` and `subsec` when there is no `taken`); `gps_time`: ("2021:06:05", (12, 30, 15.5));
    `xmp`: a packet; `mpo`: a JPEG with a second picture (a multi-picture block)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    image = Image.new("RGB", (width, height), (90, 120, 150))
    exif = Image.Exif()
    tags, details = ExifTags.Base, exif.get_ifd(ExifTags.IFD.Exif)
    if taken:
        exif[tags.Make] = "Test camera"
        details[tags.DateTimeOriginal] = taken
        if offset:
            details[tags.OffsetTimeOriginal] = offset
        if subsec:
            details[tags.SubsecTimeOriginal] = subsec
    elif digitized:
        details[tags.DateTimeDigitized] = digitized
        if offset:
            details[tags.OffsetTimeDigitized] = offset
        if subsec:
            details[tags.SubsecTimeDigitized] = subsec
    if make:
        exif[tags.Make] = make
    if model:
        exif[tags.Model] = model
    if orientation:
        exif[tags.Orientation] = orientation
    if gps_time:
        gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
        gps.update({ExifTags.GPS.GPSDateStamp: gps_time[0], ExifTags.GPS.GPSTimeStamp: gps_time[1]})
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
    written = len(exif) or any(exif.get_ifd(ifd) for ifd in (ExifTags.IFD.Exif, ExifTags.IFD.GPSInfo))
    options: dict = {"exif": exif} if written else {}
    if xmp:
        packet = f'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF>{xmp}</rdf:RDF></x:xmpmeta>'.encode()
        if path.suffix.lower() in (".tif", ".tiff"):
            options["tiffinfo"] = {700: packet}
        elif path.suffix.lower() == ".png":
            options["pnginfo"] = PngImagePlugin.PngInfo()
            options["pnginfo"].add_itxt("XML:com.adobe.xmp", packet.decode())
        else:
            options["xmp"] = packet
    if mpo:
        options.update(format="MPO", save_all=True, append_images=[Image.new("RGB", (width, height))])
    image.save(path, **options)
    return path


def add_dolby_vision_box(path: Path) -> Path:
    """Put a Dolby Vision configuration box (dvcC: profile 8.1, level 4) in the first video
    sample entry of an MP4 that FFmpeg wrote (its movie box after the media data, so that no
    chunk offset moves), growing each enclosing box."""
    data = bytearray(path.read_bytes())
    record = bytes([1, 0, (8 << 1) | (4 >> 5), ((4 & 0x1F) << 3) | 0b101, 1 << 4]) + bytes(19)
    box = struct.pack(">I", 8 + len(record)) + b"dvcC" + record
    chain, offset, end = [], 0, len(data)
    for wanted, skip in ((b"moov", 0), (b"trak", 0), (b"mdia", 0), (b"minf", 0), (b"stbl", 0), (b"stsd", 8),
                         (None, 0)):
        while offset < end:
            size, name = struct.unpack_from(">I4s", data, offset)
            if wanted is None or name == wanted:
                chain.append(offset)
                offset, end = offset + 8 + skip, offset + size
                break
            offset += size
    assert data.find(b"mdat") < chain[0], "the movie box must come after the media data"
    entry_end = chain[-1] + struct.unpack_from(">I", data, chain[-1])[0]
    data[entry_end:entry_end] = box
    for start in chain:
        struct.pack_into(">I", data, start, struct.unpack_from(">I", data, start)[0] + len(box))
    path.write_bytes(bytes(data))
    return path
