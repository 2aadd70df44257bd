"""Inputs for tools/attributes_parity.mjs: every photo named in tests/data/identities.csv,
decoded, and its dlib face chip at 112 px.

The chip is dlib's own: `dlib.get_face_chip(image, shape5, size=150, padding=0.25)` from the
5 landmarks dlib's pipeline found (recorded in identities.csv by `tools/reference.py
annotate`), then resized to 112×112 (PIL bilinear). Photos are decoded as
`face_recognition.load_image_file` does (PIL, RGB, no EXIF turn), the image those
landmarks were found in.

Writes OUT/index.json and, per photo, OUT/<name>.rgb (H×W×3 uint8) and OUT/<name>.dlib112.rgb
(112×112×3 uint8). Needs dlib (`pip install dlib-bin==20.0.1.post1`) and face_recognition.

usage: attributes_inputs.py OUT_DIR
"""
import csv
import json
import sys
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
IDENTITIES = ROOT / "tests" / "data" / "identities.csv"
FACES = ROOT.parent / "shared" / "faces"
CHIP = 112


def main() -> None:
    import dlib
    import face_recognition as fr

    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    with IDENTITIES.open() as f:
        rows = list(csv.DictReader(line for line in f if not line.startswith("#")))
    index = []
    for row in rows:
        name = row["file"].replace("/", "__").rsplit(".", 1)[0]
        box = [int(row[k]) for k in ("box_left", "box_top", "box_right", "box_bottom")]
        points = [(int(row[f"x{i}"]), int(row[f"y{i}"])) for i in range(5)]
        photo, chip = out / f"{name}.rgb", out / f"{name}.dlib112.rgb"
        image = fr.load_image_file(str(FACES / row["file"]))
        if not (photo.exists() and chip.exists()):
            shape = dlib.full_object_detection(dlib.rectangle(*box), [dlib.point(x, y) for x, y in points])
            face = dlib.get_face_chip(image, shape, size=150, padding=0.25)
            small = np.asarray(Image.fromarray(face).resize((CHIP, CHIP), Image.BILINEAR))
            photo.write_bytes(np.ascontiguousarray(image).tobytes())
            chip.write_bytes(np.ascontiguousarray(small).tobytes())
        index.append({"file": row["file"], "person": row["person"], "name": name,
                      "width": image.shape[1], "height": image.shape[0], "dlib_box": box})
    (out / "index.json").write_text(json.dumps(index, indent=1))
    print(f"attributes_inputs: {len(index)} photos in {out}")


if __name__ == "__main__":
    main()
