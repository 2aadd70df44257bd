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
"""
import sys
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


if __name__ == "__main__":
    main()
