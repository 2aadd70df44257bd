"""Labelled pair lists from the shared photos: every pair of labelled photos (clean), and the
same pairs again with one or both photos degraded (hard), because every model scores ~100 %
on clean pairs and such a set cannot tell changes apart.

    pairs.py FACES_DIR OUT_DIR

writes OUT_DIR/clean.csv, OUT_DIR/hard.csv (columns file_x, file_y, same; paths relative to
OUT_DIR), the degraded photos in OUT_DIR/hard/, and OUT_DIR/shared → FACES_DIR.

Labels and face positions come from tests/data/identities.csv (who each photo shows; dlib's
HOG box and 5 landmarks, from `tools/reference.py annotate`). Each photo is degraded once per
kind below, with parameters drawn from a generator seeded by its name and the kind, so the set
is the same on every machine:

- small: face box scaled to 40–120 px wide (bicubic, like a thumbnail)
- jpeg: quality 15–30, after scaling the face to ~220 px
- blur: Gaussian, σ 2–4 px on a face scaled to ~220 px
- roll: turned 10–30° either way about the face
- tight / loose: cropped to 0.9–1.1 / 2.5–4 times the face box (dlib's HOG box: brows to chin)
- sunglasses / mask: dark lenses over the eyes / a pale band from under the nose to the chin
- dim: exposure × 0.12–0.3 with sensor noise

Hard pairs: every clean pair twice, each side a random kind or (at most one side) as shot.
"""
import csv
import hashlib
import itertools
import os
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

HERE = Path(__file__).resolve().parent
KINDS = ["small", "jpeg", "blur", "roll", "tight", "loose", "sunglasses", "mask", "dim"]
GREY = (128, 128, 128)


def rng_for(*keys) -> np.random.Generator:
    seed = int.from_bytes(hashlib.sha256("/".join(keys).encode()).digest()[:8], "little")
    return np.random.default_rng(seed)


def scaled(image: Image.Image, face_width: float, target: float) -> tuple:
    s = target / face_width
    size = (max(1, round(image.width * s)), max(1, round(image.height * s)))
    return image.resize(size, Image.Resampling.BICUBIC), s


def crop_around(image: Image.Image, centre, side: float) -> Image.Image:
    """A square of `side` around `centre`, grey where it leaves the image."""
    left, top = round(centre[0] - side / 2), round(centre[1] - side / 2)
    out = Image.new("RGB", (round(side), round(side)), GREY)
    out.paste(image, (-left, -top))
    return out


def degrade(image: Image.Image, row: dict, kind: str, rng: np.random.Generator):
    """The degraded image and the file suffix to save it with. Kinds that keep the face's
    size work on the photo scaled to a face of at most 250 px (files stay small)."""
    box = np.array([float(row[k]) for k in ("box_left", "box_top", "box_right", "box_bottom")])
    points = np.array([[float(row[f"x{i}"]), float(row[f"y{i}"])] for i in range(5)])
    width = box[2] - box[0]
    if kind not in ("small", "jpeg", "blur", "dim") and width > 250:
        image, s = scaled(image, width, 250)
        box, points, width = box * s, points * s, width * s
    centre = ((box[0] + box[2]) / 2, (box[1] + box[3]) / 2)
    if kind == "small":
        return scaled(image, width, rng.uniform(40, 120))[0], ".png"
    if kind == "jpeg":
        return scaled(image, width, 220)[0], f".q{int(rng.integers(15, 31))}.jpg"
    if kind == "blur":
        small, _ = scaled(image, width, 220)
        return small.filter(ImageFilter.GaussianBlur(rng.uniform(2, 4))), ".png"
    if kind == "roll":
        angle = rng.uniform(10, 30) * rng.choice([-1, 1])
        return image.rotate(angle, Image.Resampling.BICUBIC, expand=True, center=centre, fillcolor=GREY), ".png"
    if kind == "tight":
        return crop_around(image, centre, width * rng.uniform(0.9, 1.1)), ".png"
    if kind == "loose":
        return crop_around(image, centre, width * rng.uniform(2.5, 4.0)), ".png"
    out = image.copy()
    draw = ImageDraw.Draw(out)
    # dlib's 5 points: left eye outer, inner; right eye outer, inner; nose base.
    eyes = [(points[0] + points[1]) / 2, (points[2] + points[3]) / 2]
    eye_width = np.linalg.norm(points[0] - points[1])
    if kind == "sunglasses":
        r = eye_width * rng.uniform(0.75, 0.95)
        shade = tuple(int(v) for v in rng.integers(5, 40, 3))
        for e in eyes:
            draw.ellipse([e[0] - r, e[1] - r * 0.8, e[0] + r, e[1] + r * 0.8], fill=shade)
        draw.line([tuple(eyes[0]), tuple(eyes[1])], fill=shade, width=max(2, round(r * 0.25)))
        return out, ".png"
    if kind == "mask":
        nose = points[4]
        top = nose[1] + 0.15 * eye_width
        colour = tuple(int(v) for v in rng.integers(170, 235, 3))
        half = width * rng.uniform(0.45, 0.55)
        draw.polygon([(centre[0] - half, top), (centre[0] + half, top), (centre[0] + half * 0.9, box[3] + 0.1 * width),
                      (centre[0], box[3] + 0.2 * width), (centre[0] - half * 0.9, box[3] + 0.1 * width)], fill=colour)
        return out, ".png"
    if kind == "dim":
        small, _ = scaled(image, width, 300)
        pixels = np.asarray(small, np.float32) * rng.uniform(0.12, 0.3)
        pixels += rng.normal(0, rng.uniform(1.5, 3.5), pixels.shape)
        return Image.fromarray(np.clip(pixels, 0, 255).round().astype(np.uint8)), ".q90.jpg"
    raise ValueError(kind)


def save(image: Image.Image, path: Path):
    if path.suffix == ".jpg":
        image.save(path, quality=int(path.suffixes[-2][2:]))
    else:
        image.save(path, compress_level=1)


def main():
    faces, out = Path(sys.argv[1]).resolve(), Path(sys.argv[2])
    (out / "hard").mkdir(parents=True, exist_ok=True)
    link = out / "shared"
    if link.is_symlink() or link.exists():
        link.unlink()
    os.symlink(faces, link)
    with (HERE / "data" / "identities.csv").open() as f:
        rows = list(csv.DictReader(line for line in f if not line.startswith("#")))
    degraded = {}
    for row in rows:
        image = Image.open(faces / row["file"]).convert("RGB")
        stem = row["file"].replace("/", "_").rsplit(".", 1)[0]
        for kind in KINDS:
            picture, suffix = degrade(image, row, kind, rng_for(row["file"], kind))
            name = f"hard/{stem}.{kind}{suffix}"
            save(picture, out / name)
            degraded[row["file"], kind] = name
    person = {r["file"]: r["person"] for r in rows}
    pairs = list(itertools.combinations(sorted(person), 2))
    with (out / "clean.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["file_x", "file_y", "same"])
        for a, b in pairs:
            w.writerow([f"shared/{a}", f"shared/{b}", int(person[a] == person[b])])
    rng = rng_for("hard pairs")
    choices = KINDS + [None]
    with (out / "hard.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["file_x", "file_y", "same"])
        for a, b in pairs:
            for _ in range(2):
                ka, kb = rng.choice(len(choices), 2)
                if choices[ka] is None and choices[kb] is None:
                    kb = rng.integers(len(KINDS))
                side = lambda file, k: f"shared/{file}" if choices[k] is None else degraded[file, choices[k]]
                w.writerow([side(a, ka), side(b, kb), int(person[a] == person[b])])
    n_same = sum(person[a] == person[b] for a, b in pairs)
    print(f"pairs: {len(pairs)} clean ({n_same} same), {2 * len(pairs)} hard, {len(degraded)} degraded photos in {out}")


if __name__ == "__main__":
    main()
