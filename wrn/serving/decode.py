"""Any image file Pillow reads -> the 32x32 RGB uint8 pixels a CIFAR model takes (HWC, as decoded)."""

from __future__ import annotations

import io
import warnings

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import RequestError

SIZE = 32
# A small upload can still unpack to a huge raster (a "decompression bomb"); more pixels than this are refused
# before they are decoded.
MAX_PIXELS = 40_000_000
_ORIENTATION = 0x0112  # the EXIF tag of how a camera held the picture


def decode_image(content: bytes, name: str = "image") -> np.ndarray:
    """Decode `content` (PNG, JPEG, BMP, GIF, WebP, TIFF, ...; grayscale, palette, alpha, 16-bit; any size) to a
    (32, 32, 3) uint8 array: EXIF orientation applied, transparency composited over white (as a viewer shows it),
    resized with bilinear filtering when it is not 32x32 already."""
    if not content:
        raise RequestError("file %r is empty: expected an image file" % name, code="empty_file")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(content))
            width, height = image.size
            if width * height > MAX_PIXELS:
                raise RequestError("file %r is %dx%d pixels: at most %d pixels are accepted"
                                   % (name, width, height, MAX_PIXELS), status=413, code="image_too_large")
            if image.format == "JPEG":
                image.draft("RGB", (SIZE, SIZE))  # JPEG decodes at a reduced scale directly: far less work
            image.load()
            if image.getexif().get(_ORIENTATION, 1) != 1:  # cheap once loaded; transposing copies the raster
                image = ImageOps.exif_transpose(image)
            rgb = _as_rgb(image)
            if rgb.size != (SIZE, SIZE):
                rgb = rgb.resize((SIZE, SIZE), Image.BILINEAR)
            return np.asarray(rgb, dtype=np.uint8)
    except RequestError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise RequestError("file %r unpacks to too many pixels: at most %d are accepted" % (name, MAX_PIXELS),
                           status=413, code="image_too_large") from None
    except Exception as exc:  # Pillow raises UnidentifiedImageError, OSError, SyntaxError, ValueError, ...
        detail = "" if isinstance(exc, UnidentifiedImageError) else " (%s)" % (
            str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
        raise RequestError("file %r is not an image Pillow can read%s: send a PNG, JPEG or other image file"
                           % (name, detail), code="invalid_image") from None


def _as_rgb(image: "Image.Image") -> "Image.Image":
    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):  # 16-bit or float grayscale: scale to 8 bits
        values = np.asarray(image, dtype=np.float64)
        top = 65535.0 if image.mode.startswith("I;16") or values.max(initial=0) > 255 else 255.0
        image = Image.fromarray(np.clip(values * (255.0 / top), 0, 255).round().astype(np.uint8), "L")
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")
