"""Which HDR format a video stream is in: Dolby Vision, HDR10+, HDR10 or HLG, as Jellyfin and
Plex tell them apart. No Django here (runs in reader processes).

- the transfer function of the stream's colour description: SMPTE ST 2084 (PQ) is HDR10,
  ARIB STD-B67 is HLG;
- HDR10+ is PQ with dynamic metadata (SMPTE ST 2094-40) in the frames: an ITU-T T.35 message of
  Samsung's (country 0xB5, provider 0x003C, application 4), in an HEVC SEI or an AV1 metadata OBU;
- Dolby Vision: a configuration box in MP4 (scanner/core/readers/mp4boxes.py), or its reshaping
  data in the frames (HEVC NAL units of type 62; in AV1, a T.35 message of Dolby's, 0x003B).

Only the first packet of the stream is looked at, already in memory from FFmpeg's probe, and only
for 10-bit HEVC and AV1 (what these formats are coded in).
"""

from __future__ import annotations

PQ, HLG = 16, 18  # AVColorTransferCharacteristic: AVCOL_TRC_SMPTE2084, AVCOL_TRC_ARIB_STD_B67
HDR10_PLUS_T35 = b"\xb5\x00\x3c\x00\x01\x04"
DOLBY_T35 = b"\xb5\x00\x3b\x00\x00\x08\x00"
DOLBY_VISION_NAL = 62  # HEVC "unspecified" NAL type that Dolby Vision's RPU uses
MAX_NALS = 256  # NAL units walked in one packet


def hdr_format(container, stream, codec: str, bit_depth: int | None, dolby_box: bool) -> str | None:
    """"dolby_vision", "hdr10+", "hdr10", "hlg", or None for SDR."""
    transfer = getattr(stream.codec_context, "color_trc", 0)
    packet = b""
    if codec in ("hevc", "av1") and (bit_depth or 0) >= 10:
        packet = _first_packet(container, stream)
    if dolby_box or _dolby_vision(codec, packet):
        return "dolby_vision"
    if transfer == PQ:
        return "hdr10+" if HDR10_PLUS_T35 in packet else "hdr10"
    if transfer == HLG:
        return "hlg"
    return None


def _first_packet(container, stream) -> bytes:
    try:
        for packet in container.demux(stream):
            if packet.size:
                return bytes(packet)
    except Exception:  # a broken stream past its headers: no more to learn from it
        return b""
    return b""


def _dolby_vision(codec: str, packet: bytes) -> bool:
    if codec == "av1":
        return DOLBY_T35 in packet
    return codec == "hevc" and DOLBY_VISION_NAL in _nal_types(packet)


def _nal_types(packet: bytes) -> set[int]:
    """HEVC NAL unit types of a packet: length-prefixed (MP4, MKV: 4-byte lengths) or Annex B
    (MPEG-TS: start codes)."""
    if packet[:4] == b"\x00\x00\x00\x01" or packet[:3] == b"\x00\x00\x01":
        return {(unit[0] >> 1) & 0x3F for unit in packet.split(b"\x00\x00\x01")[1:MAX_NALS] if unit}
    types, offset = set(), 0
    for _ in range(MAX_NALS):
        if offset + 5 > len(packet):
            break
        length = int.from_bytes(packet[offset:offset + 4], "big")
        types.add((packet[offset + 4] >> 1) & 0x3F)
        offset += 4 + length
    return types
