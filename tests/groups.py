"""A labelled group-photo set: the shared group photos, and composites of single-face shared
photos at many sizes, with every face's position, for face recall and false faces.

    groups.py FACES_DIR OUT_DIR

writes OUT_DIR/groups.csv (file, face centre x and y, face width, partial: 1 when the face is
cut by the image border; paths relative to OUT_DIR), the composites in OUT_DIR/composite-*.jpg
and OUT_DIR/shared → FACES_DIR.

- couple.jpg and selfie-many-people.jpg, faces placed by hand (tests/data/groups.csv);
- 8 composites of 1600×1067: 8 faces each from the labelled photos (tests/data/identities.csv,
  dlib's face boxes), each cut out with a soft oval mask and scaled to a face width drawn from
  24–320 px (a quarter of them under 48 px), on a smooth background with sensor noise. The
  generator is seeded: the same set on every machine.
"""
import csv
import os
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

HERE = Path(__file__).resolve().parent
SIZE = (1600, 1067)


def read(path: Path):
    with path.open() as f:
        return list(csv.DictReader(line for line in f if not line.startswith("#")))


def background(rng) -> Image.Image:
    w, h = SIZE
    y, x = np.mgrid[0:h, 0:w] / max(w, h)
    base = np.stack([rng.uniform(40, 200) + rng.uniform(-60, 60) * x + rng.uniform(-60, 60) * y for _ in range(3)], -1)
    return Image.fromarray(np.clip(base + rng.normal(0, 4, base.shape), 0, 255).astype(np.uint8))


def composite(rows, faces: Path, rng, n=8):
    canvas = background(rng)
    placed, labels = [], []
    widths = np.concatenate([rng.uniform(24, 48, n // 4), rng.uniform(48, 320, n - n // 4)])
    for row, width in zip(rng.choice(rows, n, replace=False), widths):
        box = [float(row[k]) for k in ("box_left", "box_top", "box_right", "box_bottom")]
        face_w = box[2] - box[0]
        cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
        side = 1.8 * face_w
        photo = Image.open(faces / row["file"]).convert("RGB")
        patch = photo.crop((round(cx - side / 2), round(cy - side / 2), round(cx + side / 2), round(cy + side / 2)))
        scale = width / face_w
        patch = patch.resize((max(1, round(side * scale)),) * 2, Image.Resampling.LANCZOS)
        mask = Image.new("L", patch.size, 0)
        inset = patch.size[0] * 0.12
        ImageDraw.Draw(mask).ellipse([inset, inset * 0.6, patch.size[0] - inset, patch.size[1] - inset * 0.6], fill=255)
        mask = mask.filter(ImageFilter.GaussianBlur(patch.size[0] * 0.04))
        for _ in range(200):
            x = rng.uniform(0, SIZE[0] - patch.size[0])
            y = rng.uniform(0, SIZE[1] - patch.size[1])
            spot = (x, y, x + patch.size[0], y + patch.size[1])
            if all(spot[2] < p[0] or spot[0] > p[2] or spot[3] < p[1] or spot[1] > p[3] for p in placed):
                break
        else:
            continue
        placed.append(spot)
        canvas.paste(patch, (round(x), round(y)), mask)
        labels.append((x + patch.size[0] / 2, y + patch.size[1] / 2, width))
    return canvas, labels


def main():
    faces, out = Path(sys.argv[1]).resolve(), Path(sys.argv[2])
    out.mkdir(parents=True, exist_ok=True)
    link = out / "shared"
    if link.is_symlink() or link.exists():
        link.unlink()
    os.symlink(faces, link)
    rows = read(HERE / "data" / "identities.csv")
    rng = np.random.default_rng(2026)
    with (out / "groups.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["file", "x", "y", "width", "partial"])
        for row in read(HERE / "data" / "groups.csv"):
            w.writerow([f"shared/{row['file']}", row["x"], row["y"], row["width"], row["partial"]])
        for i in range(8):
            image, labels = composite(rows, faces, rng)
            name = f"composite-{i}.jpg"
            image.save(out / name, quality=92)
            for x, y, width in labels:
                w.writerow([name, round(x, 1), round(y, 1), round(width, 1), 0])
    print(f"groups: {out / 'groups.csv'}")


if __name__ == "__main__":
    main()
