"""Write one photo in every image format and variant the decoder must handle.

usage: fixtures.py SOURCE.jpg OUT_DIR [OTHER_FACE.jpg]

JPEG (baseline, progressive, CMYK, greyscale), PNG (8-bit RGB, RGBA, palette, 16-bit grey,
1-bit dithered), WebP (lossy, lossless), GIF (first frame of two), BMP, TIFF, and a JPEG stored
rotated with an EXIF orientation tag that turns it upright. Each shows the same face; tests
expect each to verify against the plain JPEG. Photos are scaled to 800 px to keep the tests
quick.

cutouts/: the photo cut out with an oval alpha mask, its transparent pixels hiding black,
white, noise, the photo itself or another face (tests expect one embedding for all).
bad/: a picture with alpha 0 everywhere (no face, whatever it hides).
exif/: the photo stored under each EXIF orientation 1–8, each upright once the tag is applied.
big/: the largest inputs the decode budgets admit, for the memory bounds: a 50-megapixel JPEG
stored sideways, a 50-megapixel RGBA PNG and a 20-megapixel 16-bit RGBA PNG, each the photo
scaled up and padded to the 64 MB file limit.
"""
import struct
import sys
import zlib
from pathlib import Path

from PIL import Image, ImageDraw

ORIENTATION = 0x0112


def main() -> None:
    source, out = Path(sys.argv[1]), Path(sys.argv[2])
    out.mkdir(parents=True, exist_ok=True)
    photo = Image.open(source).convert("RGB")
    photo.thumbnail((800, 800))
    photo.save(out / "jpeg-baseline.jpg", quality=92)
    photo.save(out / "jpeg-progressive.jpg", quality=92, progressive=True)
    photo.convert("CMYK").save(out / "jpeg-cmyk.jpg", quality=92)
    photo.convert("L").save(out / "jpeg-grey.jpg", quality=92)
    photo.save(out / "png-rgb8.png")
    rgba = photo.convert("RGBA")
    rgba.putalpha(200)
    rgba.save(out / "png-rgba.png")
    photo.quantize(256).save(out / "png-palette.png")
    photo.convert("L").point(lambda v: v * 257, mode="I").convert("I;16").save(out / "png-grey16.png")
    photo.save(out / "webp-lossy.webp", quality=90)
    photo.save(out / "webp-lossless.webp", lossless=True)
    blank = Image.new("RGB", photo.size)
    photo.save(out / "gif-first-frame.gif", save_all=True, append_images=[blank], duration=100)
    photo.save(out / "bmp.bmp")
    photo.save(out / "tiff.tif")
    photo.convert("1").save(out / "png-bilevel-dithered.png")
    # Stored turned 90° anticlockwise; orientation 6 ("rotate 90° clockwise to show") rights it.
    exif = Image.Exif()
    exif[ORIENTATION] = 6
    photo.transpose(Image.Transpose.ROTATE_90).save(out / "jpeg-exif-rotated.jpg", quality=92, exif=exif)
    # Every EXIF orientation: stored so that applying the tag shows the photo upright. 2, 3,
    # 4, 5 and 7 undo themselves; 6 and 8 undo each other.
    (out / "exif").mkdir(exist_ok=True)
    T = Image.Transpose
    stored = {1: None, 2: T.FLIP_LEFT_RIGHT, 3: T.ROTATE_180, 4: T.FLIP_TOP_BOTTOM, 5: T.TRANSPOSE,
              6: T.ROTATE_90, 7: T.TRANSVERSE, 8: T.ROTATE_270}
    for orientation, method in stored.items():
        exif = Image.Exif()
        exif[ORIENTATION] = orientation
        image = photo if method is None else photo.transpose(method)
        image.save(out / "exif" / f"orientation-{orientation}.jpg", quality=95, exif=exif)

    cutouts, bad = out / "cutouts", out / "bad"
    cutouts.mkdir(exist_ok=True)
    bad.mkdir(exist_ok=True)
    w, h = photo.size
    mask = Image.new("L", photo.size, 0)
    ImageDraw.Draw(mask).ellipse([w * 0.15, h * 0.05, w * 0.85, h * 0.8], fill=255)
    other = Image.open(sys.argv[3]).convert("RGB").resize(photo.size) if len(sys.argv) > 3 else photo.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    hidden = {
        "black": Image.new("RGB", photo.size, (0, 0, 0)),
        "white": Image.new("RGB", photo.size, (255, 255, 255)),
        "noise": Image.effect_noise(photo.size, 80).convert("RGB"),
        "original": photo,
        "other-face": other,
    }
    for name, under in hidden.items():
        cut = under.convert("RGBA")
        cut.paste(photo, (0, 0), mask)
        cut.putalpha(mask)
        cut.save(cutouts / f"hiding-{name}.png")
    invisible = photo.convert("RGBA")
    invisible.putalpha(0)
    invisible.save(bad / "png-fully-transparent.png")
    big(photo, out / "big")


def big(photo: Image.Image, out: Path) -> None:
    """The worst inputs for memory: each at the decode budget and padded to the largest file
    read (64 MB), the JPEG stored sideways so that decoding must also turn it."""
    out.mkdir(exist_ok=True)
    limit = 64_000_000 - 4096
    # 8160 × 6120 = 49.9 megapixels, the photo's 4:3; stored turned, EXIF orientation 6.
    huge = photo.resize((8160, 6120), Image.Resampling.BILINEAR)
    exif = Image.Exif()
    exif[ORIENTATION] = 6
    jpeg = out / "jpeg-50mp-exif6.jpg"
    huge.transpose(Image.Transpose.ROTATE_90).save(jpeg, quality=85, exif=exif)
    jpeg.write_bytes(pad_jpeg(jpeg.read_bytes(), limit))
    rgba = huge.convert("RGBA")
    png = out / "png-rgba-50mp.png"
    rgba.save(png, compress_level=1)
    png.write_bytes(pad_png(png.read_bytes(), limit))
    # 16-bit RGBA (which PIL does not write) at 20 megapixels: 160 MB of samples + 60 MB RGB.
    side = 4472
    rows = photo.resize((side, side), Image.Resampling.BILINEAR).convert("RGBA").tobytes()
    wide = bytes(b for v in rows for b in (v, v))
    raw = b"".join(b"\0" + wide[y * side * 8:(y + 1) * side * 8] for y in range(side))
    header = struct.pack(">IIBBBBB", side, side, 16, 6, 0, 0, 0)
    png16 = b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", header) + png_chunk(b"IDAT", zlib.compress(raw, 1)) + png_chunk(b"IEND", b"")
    (out / "png-rgba16-20mp.png").write_bytes(pad_png(png16, limit))


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def pad_png(png: bytes, size: int) -> bytes:
    """`png` grown to `size` bytes by a private ancillary chunk before IEND (decoders skip it)."""
    filler = size - len(png) - 12
    return png[:-12] + png_chunk(b"frPd", b"\0" * max(filler, 0)) + png[-12:]


def pad_jpeg(jpeg: bytes, size: int) -> bytes:
    """`jpeg` grown to about `size` bytes by APP15 segments after the EXIF one (decoders skip them)."""
    segments = b""
    while len(jpeg) + len(segments) + 65537 <= size:
        segments += b"\xff\xef" + struct.pack(">H", 65535) + b"\0" * 65533
    # After SOI and the APP1 (EXIF) segment that follows it.
    exif_end = 4 + struct.unpack(">H", jpeg[4:6])[0]
    return jpeg[:exif_end] + segments + jpeg[exif_end:]


if __name__ == "__main__":
    main()
