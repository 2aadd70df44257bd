"""Photos and synthetic variants for the landmark / active-liveness measurements.

    landmark_inputs.py OUT_DIR [--limit N]

For each deepface photo in tests/data/identities.csv (downscaled to a long side <= 800 px):
- `open`: the photo as is;
- `closed`: each eye painted shut: around dlib's 6 eye points, along the eye axis, each pixel
  becomes a blend of the (blurred) skin half an eye width above and below the eye centre, so
  the patch continues the surrounding skin, darkened 2-8 % with smooth texture noise as an
  eyelid; the blend is full over the eye and its corners and fades out over ~1.8 x 1.0 eye widths (no edge);
  then a dark lid line (a curve from corner to corner sagging 10-20 % of the eye width) with
  short lashes;
- `yaw-30`, `yaw-15`, `yaw+15`, `yaw+30` (on the first 12 photos): the face region mapped onto
  a vertical cylinder (radius 0.55 x jaw width, axis through the nose) and the cylinder turned
  by that many degrees. A poor proxy for a head turn: no occlusion, the nose does not stick
  out, ears and background do not move, so it only says whether landmarks follow a
  horizontal shift of the inner face.
All random choices come from a generator seeded by the photo name (same output everywhere).
Eye/face geometry comes from dlib's 68-point predictor (face_recognition_models, used only to
place the paint, not as a reference for the nets).

Writes OUT_DIR/index.json and OUT_DIR/<name>.<variant>.rgb (H x W x 3 uint8).
Run with /work/main/.venv/bin/python (needs dlib and face_recognition_models).
"""
import csv
import hashlib
import json
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

ROOT = Path(__file__).resolve().parents[2]
IDENTITIES = ROOT / "tests" / "data" / "identities.csv"
FACES = ROOT.parent / "shared" / "faces"
MAX_SIDE = 800
YAWS = (-30, -15, 15, 30)
N_YAW = 12


def rng_for(name):
    return np.random.default_rng(int.from_bytes(hashlib.sha256(("liveness/" + name).encode()).digest()[:8], "little"))


def smooth_noise(rng, h, w, cell):
    g = rng.normal(0, 1, (max(2, int(h / cell) + 2), max(2, int(w / cell) + 2))).astype(np.float32)
    return np.asarray(Image.fromarray(g, "F").resize((w, h), Image.Resampling.BICUBIC), np.float32)


def close_eyes(img, pts, rng):
    """Paint both eyes shut. img HxWx3 uint8, pts 68x2 (dlib order)."""
    out = img.astype(np.float32)
    H, W = img.shape[:2]
    eye_w = np.linalg.norm(pts[39] - pts[36])
    blurred = np.asarray(Image.fromarray(img).filter(ImageFilter.GaussianBlur(float(max(1.0, eye_w / 8)))), np.float32)
    for lo in (36, 42):
        eye = pts[lo:lo + 6].astype(np.float64)
        p0, p3 = eye[0], eye[3]
        c = eye.mean(0)
        w = np.linalg.norm(p3 - p0)
        ang = np.arctan2(p3[1] - p0[1], p3[0] - p0[0])
        ux, uy = np.cos(ang), np.sin(ang)
        nx, ny = -uy, ux                                  # perpendicular, pointing down the face
        # fill: per column along the eye axis, a blend between the skin 0.5 eye widths above and
        # below the eye centre (sampled from a blurred copy), so the patch has no edge of its own
        r = int(1.3 * w) + 4
        bx0, by0 = max(0, int(c[0]) - r), max(0, int(c[1]) - r)
        bx1, by1 = min(W, int(c[0]) + r), min(H, int(c[1]) + r)
        yy, xx = np.mgrid[by0:by1, bx0:bx1].astype(np.float64)
        dx, dy = xx - c[0], yy - c[1]
        s_ax, t_ax = dx * ux + dy * uy, dx * nx + dy * ny
        T = 0.5 * w
        top = c[None, None, :] + s_ax[..., None] * [ux, uy] - 0.9 * T * np.array([nx, ny])
        bot = c[None, None, :] + s_ax[..., None] * [ux, uy] + T * np.array([nx, ny])
        sample = lambda q: blurred[np.clip(np.round(q[..., 1]).astype(int), 0, H - 1), np.clip(np.round(q[..., 0]).astype(int), 0, W - 1)]
        wgt = np.clip((t_ax + T) / (2 * T), 0, 1)[..., None]
        fill = sample(top) * (1 - wgt) + sample(bot) * wgt
        shade = 1 - rng.uniform(0.02, 0.08)
        tex = 1 + 0.02 * smooth_noise(rng, by1 - by0, bx1 - bx0, max(2.0, w / 6))
        fill = fill * shade * tex[..., None]
        # soft elliptical mask along the eye axis: full inside the eye, fading out over the skin
        d = s_ax ** 2 / (0.8 * w) ** 2 + t_ax ** 2 / (0.45 * w) ** 2
        mask = np.clip((1.3 - d) / 0.7, 0, 1)
        mask = mask * mask * (3 - 2 * mask)
        region = out[by0:by1, bx0:bx1]
        out[by0:by1, bx0:bx1] = region * (1 - mask[..., None]) + fill * mask[..., None]
        skin = np.median(sample(bot).reshape(-1, 3), axis=0)
        # lid line: quadratic curve corner to corner, sagging downwards, with short lashes
        sag = rng.uniform(0.10, 0.20) * w
        ctrl = (p0 + p3) / 2 + 2 * sag * np.array([nx, ny])
        t = np.linspace(0, 1, 40)[:, None]
        curve = (1 - t) ** 2 * p0 + 2 * (1 - t) * t * ctrl + t ** 2 * p3
        layer = Image.new("L", (W, H), 0)
        dr = ImageDraw.Draw(layer)
        width = max(1, int(round(rng.uniform(0.05, 0.08) * w)))
        dr.line([tuple(p) for p in curve], fill=255, width=width, joint="curve")
        for k in range(6, 36, 4):
            p = curve[k]
            q = p + (rng.uniform(0.08, 0.14) * w) * np.array([nx, ny]) + rng.uniform(-0.05, 0.05) * w * np.array([ux, uy])
            dr.line([tuple(p), tuple(q)], fill=200, width=max(1, width // 2))
        line = np.asarray(layer.filter(ImageFilter.GaussianBlur(float(max(0.5, w / 40)))), np.float32)[..., None] / 255
        dark = skin * rng.uniform(0.30, 0.45)
        out = out * (1 - line) + dark[None, None, :] * line
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


def turn_head(img, pts, degrees):
    """Cylinder warp of the face region by `degrees` about a vertical axis through the nose."""
    H, W = img.shape[:2]
    jaw_w = pts[16, 0] - pts[0, 0]
    R = 0.55 * jaw_w
    cx = pts[30, 0]
    top = pts[19:25, 1].min() - 0.35 * jaw_w
    bottom = pts[8, 1] + 0.10 * jaw_w
    th = np.radians(degrees)
    xs = np.arange(W, dtype=np.float64)
    u = (xs - cx) / R
    inside = np.abs(u) < 1
    phi = np.arcsin(np.clip(u, -1, 1))
    phi_src = np.clip(phi - th, -np.pi / 2 * 0.98, np.pi / 2 * 0.98)
    src_x = np.where(inside, cx + R * np.sin(phi_src), xs)
    # feather the warp to zero at the top and bottom of the face band
    ys = np.arange(H, dtype=np.float64)
    feather = np.clip(np.minimum(ys - top, bottom - ys) / (0.15 * jaw_w), 0, 1)[:, None]
    sx = xs[None, :] + feather * (src_x - xs)[None, :]
    x0 = np.clip(np.floor(sx).astype(int), 0, W - 1)
    x1 = np.clip(x0 + 1, 0, W - 1)
    f = (sx - np.floor(sx))[..., None]
    rows = np.arange(H)[:, None]
    out = img[rows, x0].astype(np.float64) * (1 - f) + img[rows, x1].astype(np.float64) * f
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


def main():
    import dlib
    import face_recognition_models

    predictor = dlib.shape_predictor(face_recognition_models.pose_predictor_model_location())

    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    limit = int(sys.argv[sys.argv.index("--limit") + 1]) if "--limit" in sys.argv else None
    with IDENTITIES.open() as f:
        rows = [r for r in csv.DictReader(line for line in f if not line.startswith("#")) if r["file"].startswith("deepface/")]
    rows = rows[:limit] if limit else rows
    index = []
    for k, row in enumerate(rows):
        name = row["file"].replace("/", "__").rsplit(".", 1)[0]
        im = Image.open(FACES / row["file"]).convert("RGB")
        s = min(1.0, MAX_SIDE / max(im.size))
        box = np.array([float(row[k2]) for k2 in ("box_left", "box_top", "box_right", "box_bottom")]) * s
        if s < 1:
            im = im.resize((round(im.width * s), round(im.height * s)), Image.Resampling.BICUBIC)
        img = np.asarray(im)
        rect = dlib.rectangle(int(box[0]), int(box[1]), int(box[2]), int(box[3]))
        shape = predictor(img, rect)
        pts = np.array([[shape.part(i).x, shape.part(i).y] for i in range(68)], np.float64)
        rng = rng_for(name)
        variants = {"open": img, "closed": close_eyes(img, pts, rng)}
        if k < N_YAW:
            for d in YAWS:
                variants[f"yaw{d:+d}"] = turn_head(img, pts, d)
        for v, arr in variants.items():
            (out / f"{name}.{v}.rgb").write_bytes(np.ascontiguousarray(arr).tobytes())
        index.append({"file": row["file"], "person": row["person"], "name": name, "width": img.shape[1], "height": img.shape[0],
                      "dlib_box": box.round(1).tolist(), "dlib68": pts.round(1).tolist(), "variants": list(variants)})
    (out / "index.json").write_text(json.dumps(index, indent=0))
    print(f"landmark_inputs: {len(index)} photos in {out}")


if __name__ == "__main__":
    main()
