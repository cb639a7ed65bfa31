"""Photos: dimensions, rotation, camera and the date taken, read with Pillow from headers only.
No Django here (runs in reader processes).

Image.open reads the header, never the pixels. Pillow refuses an image of more than twice
MAX_IMAGE_PIXELS (a decompression bomb) at open; the EXIF block a header carries is bounded by
the reader's memory limit (scanner/core/readers/pool.py). GPS positions are never read: they
are personal data, and the catalogue does not keep them.
"""

from __future__ import annotations

import warnings
from typing import BinaryIO

from PIL import ExifTags, Image, UnidentifiedImageError

from scanner.core.readers.photo_dates import taken_at
from scanner.core.readers.values import describe, positive, text

MAX_PIXELS = 200_000_000  # 200 megapixels: above any camera's frame, below a bomb's
Image.MAX_IMAGE_PIXELS = MAX_PIXELS // 2  # Pillow raises DecompressionBombError past twice this
# Pillow's format names that are not ffprobe's codec names: a JPEG with a multi-picture block
# (phones, 3D cameras) is still JPEG to every decoder.
CODEC_BY_FORMAT = {"MPO": "jpeg", "JPEG2000": "jpeg2000", "TIFF": "tiff", "WEBP": "webp"}
# EXIF Orientation: the degrees clockwise a viewer turns the stored picture (2, 4, 5 and 7
# also mirror it, which the catalogue does not record).
ROTATION_BY_ORIENTATION = {1: 0, 2: 0, 3: 180, 4: 180, 5: 270, 6: 90, 7: 90, 8: 270}
TIFF_WIDTH, TIFF_LENGTH, TIFF_XMP = 256, 257, 700


def read_photo(file: BinaryIO) -> tuple[dict, str]:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(file) as image:
                return _facts(image), ""
    except Image.DecompressionBombError as exc:
        return {}, f"image too large to be safe: {exc}"[:300]
    except UnidentifiedImageError:
        return {}, "not an image Pillow can read"
    except Exception as exc:  # truncated headers, broken EXIF, MemoryError: all mean "unreadable"
        return {}, describe(exc)


def _facts(image: Image.Image) -> dict:
    exif = image.getexif()
    width, height = image.width, image.height
    if image.format == "TIFF":  # Pillow reports a TIFF turned by its Orientation; the file stores it so
        tiff_tags = getattr(image, "tag_v2", {})
        width, height = tiff_tags.get(TIFF_WIDTH, width), tiff_tags.get(TIFF_LENGTH, height)
    when, offset_stated = taken_at(exif, _xmp(image))
    orientation = exif.get(ExifTags.Base.Orientation)
    return {
        "width": positive(width),
        "height": positive(height),
        "codec": text(CODEC_BY_FORMAT.get(image.format or "", (image.format or "").lower()), 64),
        "rotation": ROTATION_BY_ORIENTATION.get(orientation, 0) if isinstance(orientation, int) else 0,
        "taken_at": when,
        "taken_at_offset": offset_stated,
        "camera": _camera(text(exif.get(ExifTags.Base.Make), 100), text(exif.get(ExifTags.Base.Model), 100)),
    }


def _camera(make: str, model: str) -> str:
    """Make and model as people say them: "Canon EOS 80D" (not "Canon Canon EOS 80D"), "NIKON
    D750" (not "NIKON CORPORATION NIKON D750"), "Apple iPhone 12"."""
    if make and model and model.split()[0].lower() == make.split()[0].lower():
        return model
    return " ".join(part for part in (make, model) if part)


def _xmp(image: Image.Image):
    """The XMP packet where each format keeps it (JPEG and WebP: a block Pillow keeps as
    "xmp"; PNG: an iTXt chunk; TIFF: tag 700), or None."""
    if image.format == "TIFF":
        return getattr(image, "tag_v2", {}).get(TIFF_XMP)
    return image.info.get("xmp") or image.info.get("XML:com.adobe.xmp")
