"""Image files -> uint8 arrays of one square size, with Pillow, safely; and the progress bar that shows it.

defDATA.load_data decodes a folder of images through `decode_files` (once: datafiles/image_cache.py
keeps the result); a first reading can skip this module. Each picture becomes what the networks
take, and always in the same way, so a resumed run sees the very same pixels:
  * RGB: grey, palette and 16-bit images are converted; an image with transparency (RGBA, a GIF's
    transparent colour) is laid over a WHITE background, as a viewer shows it, because
    transparent pixels hold colours nobody meant to be seen (often black);
  * upright: a photo's EXIF orientation tag is applied, as photo viewers do;
  * square: the largest centred square is kept (the longer side loses equal strips at both ends),
    then resized to the run's size with Lanczos filtering, which averages the pixels each output
    pixel covers (antialiasing: a plain subsampling of a photo shows jagged edges and moiré).
    Cropped first because the networks make square images: squeezing a whole oblong photo into a
    square would stretch every face and object, and padding it would add borders; either way G
    would learn to draw the distortion. A crop only loses the edges, where subjects rarely are.
    A large JPEG is decoded at a reduced scale first (Pillow's draft), never below that size;
  * only the first frame of an animated GIF or WebP.
A file can be anything: it is opened only if it is a regular file of at most MAX_FILE_BYTES
(datafiles/bounded_reads.py), and Pillow reads only the header before the pixel count is checked:
a small PNG can claim 100,000 x 100,000 pixels and take 30 GB to decode (a "decompression
bomb"), so an image of more than MAX_PIXELS is refused without being decoded. A file that cannot
be decoded (damaged, cut short, not an image) is skipped with its reason, never a crash.
"""
import concurrent.futures
import os
import sys
import time
import warnings

import numpy as np
from PIL import Image, ImageOps

from datafiles.bounded_reads import Refused, open_bounded

MAX_PIXELS = 2**26  # 67 million pixels, e.g. 8192 x 8192: larger photos exist, but none is needed at 128 pixels
MAX_FILE_BYTES = 2**28  # 256 MiB: no picture at MAX_PIXELS needs more, even as an uncompressed BMP
FORMATS = ("PNG", "JPEG", "BMP", "GIF", "WEBP")  # Pillow tries no other decoder on a file
BACKGROUND = (255, 255, 255)  # white: what transparent pixels become
SIXTEEN_BIT = ("I", "I;16", "I;16B", "I;16L", "I;16N")  # Pillow's modes of 16-bit grey PNGs


class Unreadable(Exception):
    """An image file we skip, in words that follow its name: "damaged or truncated (...)"."""


def decode_image(path, size):
    """One image file -> uint8 [size, size, 3] (the steps: this module's docstring). Raises Unreadable."""
    try:
        with open_bounded(path, MAX_FILE_BYTES, "an image file this project reads") as file_object, \
                warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)  # Pillow's own limit, as an error
            with Image.open(file_object, formats=FORMATS) as image:  # the header only: nothing decoded yet
                if image.width * image.height > MAX_PIXELS:
                    raise Unreadable(f"{image.width} x {image.height} pixels, too large to decode safely "
                                     f"(more than {MAX_PIXELS:,}; a decompression bomb?)")
                image.draft("RGB", (size, size))  # a JPEG decodes at 1/2, 1/4 or 1/8 scale, still >= size
                image.load()  # decodes; a file cut short raises OSError here
                return square(rgb(upright(image)), size)
    except Refused as error:
        raise Unreadable(str(error)) from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        raise Unreadable(f"too large to decode safely ({error})") from None
    except Image.UnidentifiedImageError:
        raise Unreadable(f"not an image Pillow reads as {', '.join(FORMATS)}") from None
    except OSError as error:
        if error.strerror:  # the file itself: no permission, a read error
            raise Unreadable(f"cannot be read ({error.strerror})") from None
        raise Unreadable(f"damaged or truncated ({first_line(error)})") from None
    except (Unreadable, KeyboardInterrupt):
        raise
    except Exception as error:  # damaged data makes Pillow's decoders raise SyntaxError, ValueError, struct.error ...
        raise Unreadable(f"damaged or truncated ({type(error).__name__}: {first_line(error)})") from None


def first_line(error):
    return (str(error).strip().splitlines() or [type(error).__name__])[0][:100]


def upright(image):
    """The image turned as its EXIF orientation tag says; as it is when the tag is unreadable (the pixels are fine)."""
    try:
        return ImageOps.exif_transpose(image)
    except Exception:  # a damaged EXIF block raises SyntaxError, ValueError, struct.error ...
        return image


def rgb(image):
    """Any mode -> RGB; transparency laid over BACKGROUND."""
    if image.mode in SIXTEEN_BIT:  # 0-65535 grey: keep the top 8 bits (convert("L") would clip at 255)
        image = Image.fromarray((np.asarray(image).astype(np.uint32) >> 8).clip(0, 255).astype(np.uint8))
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in image.info:
        image = image.convert("RGBA")
        return Image.alpha_composite(Image.new("RGBA", image.size, BACKGROUND + (255,)), image).convert("RGB")
    return image.convert("RGB")


def square(image, size):
    """The largest centred square of an RGB image, resized to size x size with Lanczos antialiasing."""
    width, height = image.size
    side = min(width, height)
    left, top = (width - side) // 2, (height - side) // 2
    # reducing_gap: first shrink by whole factors with a box filter (fast), then Lanczos for the rest.
    resized = image.resize((size, size), Image.Resampling.LANCZOS, box=(left, top, left + side, top + side),
                           reducing_gap=3.0)
    return np.asarray(resized, dtype=np.uint8)


def decode_files(paths, size, write, label="decoding"):
    """Decode every path in order, calling write(index, uint8 [size, size, 3]) for each readable one, with a
    progress bar. Pillow decodes outside Python's lock, so a few threads share the work; the order of the
    results stays the paths' order. Returns [(index, reason)] of the files skipped."""
    skipped = []
    bar = ProgressBar(len(paths), label)
    workers = min(8, os.cpu_count() or 1)
    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        # In chunks, so that at most one chunk of decoded images waits in memory at a time.
        for start in range(0, len(paths), 256):
            chunk = range(start, min(start + 256, len(paths)))
            for index, result in zip(chunk, pool.map(lambda i: attempt(paths[i], size), chunk)):
                if isinstance(result, Unreadable):
                    skipped.append((index, str(result)))
                else:
                    write(index, result)
                bar.update(index + 1)
    bar.close()
    return skipped


def attempt(path, size):
    try:
        return decode_image(path, size)
    except Unreadable as error:
        return error


class ProgressBar:
    """A one-line bar with a count on stderr: "decoding 1200/6102 images [=====.........] 20%".
    On a terminal it rewrites its line (carriage return) at most 10 times a second; in a log file,
    where a carriage return would not help, it writes a line at every tenth of the way."""

    def __init__(self, total, label, stream=None):
        self.total, self.label, self.stream = total, label, stream or sys.stderr
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.shown_at, self.tenths, self.done = 0.0, -1, 0

    def update(self, done):
        self.done = done
        now, tenths = time.monotonic(), 10 * done // max(self.total, 1)
        if self.tty and (now - self.shown_at > 0.1 or done == self.total):
            self.shown_at = now
            self.stream.write("\r" + self.line())
        elif not self.tty and tenths > self.tenths:
            self.tenths = tenths
            self.stream.write(self.line() + "\n")
        self.stream.flush()

    def line(self):
        filled = 30 * self.done // max(self.total, 1)
        return (f"{self.label} {self.done}/{self.total} images [{'=' * filled}{'.' * (30 - filled)}] "
                f"{100 * self.done // max(self.total, 1)}%")

    def close(self):
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()
