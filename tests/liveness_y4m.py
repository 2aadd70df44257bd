"""Camera videos for the liveness tests: a person performing every challenge action, and a
printed photo of her held to the camera.

usage: liveness_y4m.py FACES_DIR OUT_DIR

writes OUT_DIR/acting.y4m and OUT_DIR/print.y4m (Chromium's fake camera loops them), and each
frame as OUT_DIR/acting/NNN.png and OUT_DIR/print/NNN.png for the native tests. 640×480,
10 frames per second, from deepface/img5.jpg (dlib's landmarks of it in tests/data/identities.csv).

- acting: the head turned by warping the photo over a head-shaped depth map (an ellipsoid with
  a nose 0.45 eye distances in front of it), seen orthographically and rotated about the
  vertical axis (turns, ±24°) or the horizontal one (tilts, ±22°): neutral, then left, right,
  up and down, each eased in, held and eased back, with neutral in between (7.8 s). Nothing is
  occluded and hair and ears do not move: only the inner face turns, which is what the
  pose estimate reads.
- print: the same photo as a flat picture moved by a hand: tilted up to ±40° about its
  vertical axis and ±30° about its horizontal one (in perspective, from 2.5 picture heights),
  rolled ±10°, shifted and scaled, along smooth random paths (seeded).
"""
import csv
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from camera_y4m import HEIGHT, WIDTH, i420

HERE = Path(__file__).resolve().parent
PHOTO = "deepface/img5.jpg"
FPS = 10


def landmarks(name: str) -> tuple[np.ndarray, np.ndarray]:
    """dlib's face box (left, top, right, bottom) and 5 points of a shared photo."""
    with open(HERE / "data/identities.csv") as f:
        rows = csv.DictReader(line for line in f if not line.startswith("#"))
        row = next(r for r in rows if r["file"] == name)
    box = np.array([float(row[k]) for k in ("box_left", "box_top", "box_right", "box_bottom")])
    points = np.array([[float(row[f"x{i}"]), float(row[f"y{i}"])] for i in range(5)])
    return box, points


def bilinear(image: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """`image` (H×W×3 float) sampled at (x, y), clamped to its border."""
    h, w = image.shape[:2]
    x, y = np.clip(x, 0, w - 1.001), np.clip(y, 0, h - 1.001)
    x0, y0 = x.astype(int), y.astype(int)
    fx, fy = (x - x0)[..., None], (y - y0)[..., None]
    top = image[y0, x0] * (1 - fx) + image[y0, x0 + 1] * fx
    bottom = image[y0 + 1, x0] * (1 - fx) + image[y0 + 1, x0 + 1] * fx
    return top * (1 - fy) + bottom * fy


class Head:
    """A depth map over the photo's face, to turn it."""

    def __init__(self, shape, box, points):
        h, w = shape[:2]
        eyes = [(points[0] + points[1]) / 2, (points[2] + points[3]) / 2]
        iod = np.hypot(*(eyes[0] - eyes[1]))
        self.centre = np.array([(eyes[0][0] + eyes[1][0]) / 2, (eyes[0][1] + points[4][1]) / 2 + 0.2 * iod])
        self.radii = np.array([0.5 * (box[2] - box[0]), 0.62 * (box[3] - box[1])])
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        self.grid = (xx, yy)
        u, v = (xx - self.centre[0]) / self.radii[0], (yy - self.centre[1]) / self.radii[1]
        r2 = u**2 + v**2
        depth = 0.9 * self.radii[0] * np.sqrt(np.clip(1 - r2, 0, None))
        tip = np.array([self.centre[0], points[4][1] - 0.15 * iod])
        depth += 0.45 * iod * np.exp(-(((xx - tip[0]) / (0.2 * iod)) ** 2 + ((yy - tip[1]) / (0.4 * iod)) ** 2) / 2)
        self.depth = depth
        # The warp fades out towards the head's outline, so the background stays put.
        self.weight = np.clip((1.0 - np.sqrt(r2)) / 0.4, 0, 1) ** 2

    def turned(self, image: np.ndarray, yaw_deg: float, pitch_deg: float) -> np.ndarray:
        """The photo with the face turned (yaw > 0: to the image's right) and tilted (pitch > 0: up)."""
        xx, yy = self.grid
        yaw, pitch = np.radians(yaw_deg), np.radians(pitch_deg)

        def displacement(x, y):
            sample = lambda field: bilinear(field[..., None], x, y)[..., 0]
            z, w = sample(self.depth), sample(self.weight)
            dx = (x - self.centre[0]) * (np.cos(yaw) - 1) + z * np.sin(yaw)
            dy = (y - self.centre[1]) * (np.cos(pitch) - 1) - z * np.sin(pitch)
            return w * dx, w * dy

        # Output pixel X shows the source point x with x + d(x) = X: a few fixed-point steps.
        x, y = xx.copy(), yy.copy()
        for _ in range(5):
            dx, dy = displacement(x, y)
            x, y = xx - dx, yy - dy
        return bilinear(image, x, y)


def fitted(image: Image.Image) -> Image.Image:
    return ImageOps.fit(image, (WIDTH, HEIGHT))


def acting_frames(photo: Image.Image, box, points):
    pixels = np.asarray(photo, np.float32)
    head = Head(pixels.shape, box, points)
    ease = lambda t: 0.5 - 0.5 * np.cos(np.pi * t)
    # (yaw, pitch) targets, each: ease in 0.4 s, hold 0.6 s, ease out 0.4 s, neutral 0.4 s;
    # 7.8 s in all, so that any next action of a challenge comes within 6 s.
    poses = [(0.0, 0.0)] * 6
    for yaw, pitch in [(24, 0), (-24, 0), (0, 22), (0, -22)]:
        steps = 4
        poses += [(yaw * ease(i / steps), pitch * ease(i / steps)) for i in range(1, steps + 1)]
        poses += [(yaw, pitch)] * 6
        poses += [(yaw * ease(1 - i / steps), pitch * ease(1 - i / steps)) for i in range(1, steps + 1)]
        poses += [(0.0, 0.0)] * 4
    for yaw, pitch in poses:
        frame = head.turned(pixels, yaw, pitch) if (yaw, pitch) != (0.0, 0.0) else pixels
        yield fitted(Image.fromarray(np.clip(frame, 0, 255).round().astype(np.uint8)))


def perspective_coefficients(dst: np.ndarray, src: np.ndarray) -> list[float]:
    """PIL's PERSPECTIVE data: the map from output corners `dst` to input corners `src`."""
    rows = []
    for (x, y), (u, v) in zip(dst, src):
        rows.append([x, y, 1, 0, 0, 0, -u * x, -u * y])
        rows.append([0, 0, 0, x, y, 1, -v * x, -v * y])
    return list(np.linalg.solve(np.array(rows), src.reshape(8)))


def print_frames(photo: Image.Image, seconds: float = 8.0):
    """A flat print of `photo` held to the camera and moved about."""
    rng = np.random.default_rng(20261202)
    n = int(seconds * FPS)
    t = np.arange(n) / FPS

    def path(amplitude):
        # A sum of two slow sines of random phase and frequency (0.15–0.6 Hz): a hand's drift.
        f, p = rng.uniform(0.15, 0.6, 2), rng.uniform(0, 2 * np.pi, 2)
        return amplitude * (0.6 * np.sin(2 * np.pi * f[0] * t + p[0]) + 0.4 * np.sin(2 * np.pi * f[1] * t + p[1]))

    yaw, pitch, roll = np.radians(path(40)), np.radians(path(30)), np.radians(path(10))
    shift_x, shift_y, scale = path(60), path(40), 1 + path(0.15)
    room = Image.new("RGB", (WIDTH, HEIGHT), (96, 90, 84))
    picture = fitted(photo)
    w, h = picture.size
    corners = np.array([[-w / 2, -h / 2], [w / 2, -h / 2], [w / 2, h / 2], [-w / 2, h / 2]], np.float64)
    distance = 2.5 * h
    for i in range(n):
        cy, sy = np.cos(yaw[i]), np.sin(yaw[i])
        cp, sp = np.cos(pitch[i]), np.sin(pitch[i])
        cr, sr = np.cos(roll[i]), np.sin(roll[i])
        rotation = np.array([[cr, -sr, 0], [sr, cr, 0], [0, 0, 1]]) @ np.array([[1, 0, 0], [0, cp, -sp], [0, sp, cp]]) @ np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
        projected = []
        for x, y in corners * 0.8 * scale[i]:
            X, Y, Z = rotation @ np.array([x, y, 0.0])
            f = distance / (distance + Z)
            projected.append([WIDTH / 2 + shift_x[i] + X * f, HEIGHT / 2 + shift_y[i] + Y * f])
        projected = np.array(projected)
        source = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float64)
        warped = picture.transform((WIDTH, HEIGHT), Image.Transform.PERSPECTIVE, perspective_coefficients(projected, source), Image.Resampling.BILINEAR)
        mask = Image.new("L", picture.size, 255).transform((WIDTH, HEIGHT), Image.Transform.PERSPECTIVE, perspective_coefficients(projected, source), Image.Resampling.BILINEAR)
        frame = room.copy()
        frame.paste(warped, (0, 0), mask)
        yield frame


def write(frames, out: Path, folder: Path) -> int:
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.png"):
        old.unlink()
    count = 0
    with out.open("wb") as f:
        f.write(f"YUV4MPEG2 W{WIDTH} H{HEIGHT} F{FPS}:1 Ip A1:1 C420jpeg\n".encode())
        for count, frame in enumerate(frames, 1):
            frame.save(folder / f"{count - 1:03d}.png")
            f.write(b"FRAME\n" + i420(np.asarray(frame)))
    return count


def main() -> None:
    faces, out = Path(sys.argv[1]), Path(sys.argv[2])
    photo = ImageOps.exif_transpose(Image.open(faces / PHOTO)).convert("RGB")
    box, points = landmarks(PHOTO)
    out.mkdir(parents=True, exist_ok=True)
    acting = write(acting_frames(photo, box, points), out / "acting.y4m", out / "acting")
    held = write(print_frames(photo), out / "print.y4m", out / "print")
    print(f"liveness videos: {acting} acting frames, {held} print frames at {FPS} fps in {out}")


if __name__ == "__main__":
    main()
