"""A labelled presentation-attack set made from the shared photos: each photo as shot (bona
fide) and as two simulated attacks on a camera, a printed photo and a screen replay.

    spoofs.py FACES_DIR OUT_DIR

writes OUT_DIR/spoofs.csv (columns file, label, source, box_left, box_top, box_right,
box_bottom; file relative to OUT_DIR, label bona_fide|print|replay, source the shared photo it
was made from, box dlib's face box from tests/data/identities.csv carried into the image) and
the images in OUT_DIR/bona_fide/, OUT_DIR/print/, OUT_DIR/replay/ (JPEG, long side ≤ 800 px).

Every image goes through the same camera at the end (sensor noise, JPEG quality 75–92), so
that re-encoding alone does not tell attacks from bona fide. Parameters are drawn from a
generator seeded by the photo's name and the kind, so the set is the same on every machine.
The scene is drawn flat at 2–4× the output resolution and then seen by the camera through a
perspective warp sampled bilinearly without prefiltering, so fine print and screen patterns
alias as a real camera's would.

- print: the photo cut to a portrait print 2–3 face widths wide, halftoned (CMYK screens at
  15°/75°/0°/45°, a dot every 1.4–2.6 output px), on paper (white point below 1, ink that does
  not reach black, a fibre and cockle texture), with a white border, held by a thumb over one
  edge in front of a room background, tilted, lit unevenly, with a specular glare blob, and
  slightly out of focus
- replay: the photo zoomed on a phone (9:16), tablet (3:4) or monitor (16:10), black bars
  where the photo ends, shown at 0.9–1.8 camera px per screen pixel through an RGB stripe
  sub-pixel mask (hence moiré), with the display's gamma, a blue or green cast, raised and
  uneven black level (backlight bleed toward the edges), a dark bezel, a faint reflection,
  in a dimmer room, tilted
"""
import csv
import hashlib
import sys
from pathlib import Path

import numpy as np
from PIL import Image

HERE = Path(__file__).resolve().parent
MAX_SIDE = 800
SKIN = [(224, 172, 140), (198, 134, 105), (141, 85, 46), (240, 195, 160), (170, 110, 80)]


def rng_for(*keys) -> np.random.Generator:
    seed = int.from_bytes(hashlib.sha256("/".join(keys).encode()).digest()[:8], "little")
    return np.random.default_rng(seed)


def to_float(image: Image.Image) -> np.ndarray:
    return np.asarray(image, np.float32) / 255.0


def to_image(pixels: np.ndarray) -> Image.Image:
    return Image.fromarray((np.clip(pixels, 0, 1) * 255).round().astype(np.uint8))


def smooth_noise(rng, h: int, w: int, cell: float) -> np.ndarray:
    """Zero-mean, unit-ish noise varying over about `cell` px (a bicubic upsampled grid)."""
    grid = rng.normal(0, 1, (int(h / cell) + 3, int(w / cell) + 3)).astype(np.float32)
    big = Image.fromarray(grid, "F").resize((int(w / cell + 3) * 8, int(h / cell + 3) * 8), Image.Resampling.BICUBIC)
    return np.asarray(big.resize((w, h), Image.Resampling.BILINEAR), np.float32)


def blur(pixels: np.ndarray, sigma: float) -> np.ndarray:
    """Separable Gaussian blur of a float image (edges repeated)."""
    r = int(3 * sigma + 0.5)
    if r < 1:
        return pixels
    kernel = np.exp(-0.5 * (np.arange(-r, r + 1) / sigma) ** 2).astype(np.float32)
    kernel /= kernel.sum()
    pixels = pixels.astype(np.float32)
    for axis in (0, 1):
        pad = [(0, 0)] * pixels.ndim
        pad[axis] = (r, r)
        padded = np.pad(pixels, pad, mode="edge")
        n = pixels.shape[axis]
        out = np.zeros_like(pixels)
        for i, weight in enumerate(kernel):
            out += weight * (padded[i:i + n] if axis == 0 else padded[:, i:i + n])
        pixels = out
    return pixels


def homography(src, dst) -> np.ndarray:
    a = []
    for (x, y), (u, v) in zip(src, dst):
        a.append([x, y, 1, 0, 0, 0, -u * x, -u * y, -u])
        a.append([0, 0, 0, x, y, 1, -v * x, -v * y, -v])
    h = np.linalg.svd(np.array(a, np.float64))[2][-1].reshape(3, 3)
    return h / h[2, 2]


def apply(h: np.ndarray, points) -> np.ndarray:
    p = np.c_[np.asarray(points, np.float64), np.ones(len(points))] @ h.T
    return p[:, :2] / p[:, 2:]


def camera_view(canvas: np.ndarray, scale: float, rng) -> tuple:
    """The flat scene seen by a tilted camera: output size and the canvas→output homography;
    the canvas corners land outside the output by 0–10 % per corner, so there are no holes."""
    ch, cw = canvas.shape[:2]
    w, h = cw * scale / 1.08, ch * scale / 1.08
    w, h = (w, h) if max(w, h) <= MAX_SIDE else (w * MAX_SIDE / max(w, h), h * MAX_SIDE / max(w, h))
    w, h = int(w), int(h)
    j = rng.uniform(0.0, 0.10, (4, 2)) * [w, h]
    dst = [(-j[0, 0], -j[0, 1]), (w + j[1, 0], -j[1, 1]), (w + j[2, 0], h + j[2, 1]), (-j[3, 0], h + j[3, 1])]
    return (w, h), homography([(0, 0), (cw, 0), (cw, ch), (0, ch)], dst)


def warp(canvas: np.ndarray, size, hom: np.ndarray) -> np.ndarray:
    inv = np.linalg.inv(hom)
    inv = inv / inv[2, 2]
    coeffs = tuple(inv.flatten()[:8])
    return np.stack([np.asarray(Image.fromarray(np.ascontiguousarray(canvas[..., c], np.float32), "F").transform(
        size, Image.Transform.PERSPECTIVE, coeffs, Image.Resampling.BILINEAR), np.float32) for c in range(3)], axis=2)


def finish(pixels: np.ndarray, rng) -> tuple:
    """The camera's sensor noise and JPEG encoder; returns the image and its quality."""
    pixels = pixels + rng.normal(0, rng.uniform(1.0, 3.0) / 255, pixels.shape).astype(np.float32)
    return to_image(pixels), int(rng.integers(75, 93))


def room(rng, h: int, w: int, dim: float) -> np.ndarray:
    """A background: a dull colour, a light gradient, blotches and a few soft shapes."""
    base = rng.uniform(0.2, 0.75, 3) * 0.6 + rng.uniform(0.2, 0.75) * 0.4
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    angle = rng.uniform(0, 2 * np.pi)
    ramp = ((xx / w - 0.5) * np.cos(angle) + (yy / h - 0.5) * np.sin(angle)) * rng.uniform(0.2, 0.6)
    out = base * (1 + ramp[..., None]) + 0.04 * smooth_noise(rng, h, w, max(h, w) / 12)[..., None]
    for _ in range(int(rng.integers(1, 4))):
        x0, y0 = rng.uniform(-0.2, 0.9) * w, rng.uniform(-0.2, 0.9) * h
        x1, y1 = x0 + rng.uniform(0.1, 0.6) * w, y0 + rng.uniform(0.1, 0.6) * h
        mask = ((xx > x0) & (xx < x1) & (yy > y0) & (yy < y1)).astype(np.float32)
        mask = blur(mask, max(h, w) / 150)
        out = out * (1 - mask[..., None]) + rng.uniform(0.1, 0.85, 3) * mask[..., None]
    return (np.clip(out, 0, 1) * dim).astype(np.float32)


def window(box, width: float, height: float, above: float):
    """A content window `width`×`height` around the face box, the face `above` from its top."""
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    left, top = cx - width / 2, cy - height * above
    return left, top, left + width, top + height


def cut(image: Image.Image, win, size, fill=(0, 0, 0)) -> Image.Image:
    """The window of the photo resized to `size`; `fill` where the window leaves the photo."""
    left, top, right, bottom = win
    sx, sy = size[0] / (right - left), size[1] / (bottom - top)
    out = Image.new("RGB", size, fill)
    il, it = max(0, left), max(0, top)
    ir, ib = min(image.width, right), min(image.height, bottom)
    part = image.crop((int(il), int(it), int(np.ceil(ir)), int(np.ceil(ib))))
    pw, ph = max(1, round((ir - il) * sx)), max(1, round((ib - it) * sy))
    out.paste(part.resize((pw, ph), Image.Resampling.LANCZOS), (round((il - left) * sx), round((it - top) * sy)))
    return out


def halftone(content: np.ndarray, period: float, rng) -> np.ndarray:
    """Reflectance of a CMYK halftone print of `content` (RGB 0–1) on paper."""
    h, w = content.shape[:2]
    c, m, y = 1 - content[..., 0], 1 - content[..., 1], 1 - content[..., 2]
    k = np.minimum(np.minimum(c, m), y) * rng.uniform(0.5, 0.9)
    inks = [(c - k) / np.maximum(1 - k, 1e-3), (m - k) / np.maximum(1 - k, 1e-3), (y - k) / np.maximum(1 - k, 1e-3), k]
    absorb = np.array([[0.85, 0.2, 0.05], [0.12, 0.8, 0.2], [0.03, 0.1, 0.85], [0.9, 0.9, 0.88]], np.float32)
    absorb *= rng.uniform(0.85, 0.97)                 # ink never reaches black
    paper = np.array([rng.uniform(0.9, 0.96), rng.uniform(0.88, 0.94), rng.uniform(0.8, 0.9)], np.float32)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    out = np.ones((h, w, 3), np.float32) * paper
    phase = rng.uniform(0, period, 2)
    for ink, angle, a in zip(inks, (15, 75, 0, 45), absorb):
        t = np.deg2rad(angle)
        u, v = xx * np.cos(t) + yy * np.sin(t) + phase[0], -xx * np.sin(t) + yy * np.cos(t) + phase[1]
        spot = 0.5 + 0.25 * (np.cos(2 * np.pi * u / period) + np.cos(2 * np.pi * v / period))
        cover = np.clip((ink - (1 - spot)) * 4 + 0.5, 0, 1)
        out *= 1 - cover[..., None] * a
    return out, paper


def print_attack(photo: Image.Image, box, rng):
    ss = 2.0
    bw = box[2] - box[0]
    pw = bw * rng.uniform(2.0, 3.0)
    win = window(box, pw, pw * rng.uniform(1.2, 1.45), rng.uniform(0.38, 0.48))
    border, margin = rng.uniform(0.03, 0.08), rng.uniform(0.12, 0.3)
    # Scene size in print-widths; the output's long side is 500–800 px.
    scene_w = 1 + 2 * border + 2 * margin
    scene_h = (win[3] - win[1]) / pw + 2 * border + 2 * margin * rng.uniform(0.7, 1.1)
    out_long = rng.uniform(500, MAX_SIDE)
    unit = out_long * ss / max(scene_w, scene_h) * 1.08          # canvas px per print width
    cw, chh = int(scene_w * unit), int(scene_h * unit)
    content_size = (int(unit), int(unit * (win[3] - win[1]) / pw))
    content = to_float(cut(photo, win, content_size, (235, 235, 235)))
    period = ss * rng.uniform(1.4, 2.6)
    printed, paper = halftone(content, period, rng)
    b = int(border * unit)
    sheet = np.ones((content_size[1] + 2 * b, content_size[0] + 2 * b, 3), np.float32) * paper
    sheet[b:b + content_size[1], b:b + content_size[0]] = printed
    sh, sw = sheet.shape[:2]
    texture = 1 + 0.025 * smooth_noise(rng, sh, sw, sw / 10) + 0.02 * blur(rng.normal(0, 1, (sh, sw)).astype(np.float32), 0.7)
    sheet *= texture[..., None]
    canvas = room(rng, chh, cw, rng.uniform(0.5, 0.95))
    ox, oy = (cw - sw) // 2 + int(rng.uniform(-0.3, 0.3) * margin * unit), (chh - sh) // 2 + int(rng.uniform(-0.3, 0.3) * margin * unit)
    yy, xx = np.mgrid[0:chh, 0:cw].astype(np.float32)
    skin = np.array(SKIN[int(rng.integers(len(SKIN)))], np.float32) / 255 * rng.uniform(0.8, 1.05)

    def hand_part(cx, cy, rx, ry):
        nonlocal canvas
        r2 = ((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2
        alpha = np.clip((1 - r2) * 6, 0, 1)[..., None]
        shade = (0.7 + 0.3 * np.sqrt(np.clip(1 - r2, 0, 1)))[..., None]
        canvas = canvas * (1 - alpha) + skin * shade * alpha

    # A hand holding the print by one edge: the palm behind the paper, the thumb over it.
    side = rng.choice(["left", "right", "bottom"])
    along = rng.uniform(0.3, 0.7)
    if side == "bottom":
        ex, ey = ox + along * sw, oy + sh
        palm, thumb = (ex, ey + 0.12 * unit, 0.3 * unit, 0.22 * unit), (ex, ey - b * 0.2, 0.065 * unit, 0.15 * unit)
    else:
        sign = -1 if side == "left" else 1
        ex, ey = (ox if side == "left" else ox + sw), oy + along * sh
        palm, thumb = (ex + sign * 0.12 * unit, ey + 0.05 * unit, 0.22 * unit, 0.3 * unit), (ex - sign * b * 0.2, ey, 0.15 * unit, 0.065 * unit)
    hand_part(*palm)
    shadow = np.zeros((chh, cw), np.float32)
    d = int(rng.uniform(0.005, 0.02) * unit)
    shadow[max(0, oy + d):oy + sh + d, max(0, ox + d):ox + sw + d] = rng.uniform(0.3, 0.6)
    canvas *= 1 - blur(shadow, 0.01 * unit)[..., None]
    canvas[max(0, oy):oy + sh, max(0, ox):ox + sw] = sheet[max(0, -oy):chh - oy, max(0, -ox):cw - ox]
    hand_part(*thumb)
    # Uneven light, then a specular glare on the paper.
    angle = rng.uniform(0, 2 * np.pi)
    light = rng.uniform(0.75, 1.0) * (1 + rng.uniform(0.05, 0.2) * ((xx / cw - 0.5) * np.cos(angle) + (yy / chh - 0.5) * np.sin(angle)) * 2)
    canvas *= light[..., None]
    gx, gy = ox + rng.uniform(0.15, 0.85) * sw, oy + rng.uniform(0.15, 0.85) * sh
    sx = rng.uniform(0.06, 0.18) * sw
    sy = sx * rng.uniform(0.5, 1.5)
    glare = rng.uniform(0.25, 0.7) * np.exp(-0.5 * (((xx - gx) / sx) ** 2 + ((yy - gy) / sy) ** 2))
    canvas += glare[..., None] * np.array([1.0, 1.0, 0.97], np.float32)
    canvas = blur(canvas, ss * rng.uniform(0.25, 0.6))               # focus
    size, hom = camera_view(canvas, 1 / ss, rng)
    pixels = warp(canvas, size, hom)
    # Face box: photo → content → canvas → output.
    k = content_size[0] / pw
    corners = [((x - win[0]) * k + ox + b, (y - win[1]) * k + oy + b) for x, y in
               ((box[0], box[1]), (box[2], box[1]), (box[2], box[3]), (box[0], box[3]))]
    return pixels, apply(hom, corners)


def replay_attack(photo: Image.Image, box, rng):
    device = rng.choice(["phone", "tablet", "monitor"])
    aspect = {"phone": 16 / 9, "tablet": 4 / 3, "monitor": 10 / 16}[device]   # screen height / width
    bw = box[2] - box[0]
    shown = bw * rng.uniform(1.6, 2.6) * (1.6 if device == "monitor" else 1)
    win = window(box, shown, shown * aspect, rng.uniform(0.4, 0.5))
    q = rng.uniform(0.9, 1.8)                     # camera px per screen pixel
    k = 4                                         # canvas px per screen pixel (RGB stripes + gap)
    bezel = rng.uniform(0.03, 0.08)
    frac = rng.uniform(0.6, 0.85)                 # screen + bezel over the scene's long side
    out_long = rng.uniform(500, MAX_SIDE)
    long_frac = max(1.0, aspect) + 2 * bezel
    screen_w_px = int(out_long * frac / long_frac / q)          # screen pixels across
    screen_h_px = int(screen_w_px * aspect)
    shown_img = to_float(cut(photo, win, (screen_w_px, screen_h_px)))
    # The display: gamma, colour cast, backlight bleed (a raised black level, more near edges).
    shown_img = shown_img ** rng.uniform(0.75, 1.3)
    cast = rng.choice(["blue", "green"])
    gains = ([rng.uniform(0.85, 0.95), rng.uniform(0.93, 1.0), rng.uniform(1.0, 1.1)] if cast == "blue"
             else [rng.uniform(0.85, 0.95), rng.uniform(1.0, 1.08), rng.uniform(0.85, 0.95)])
    yy, xx = np.mgrid[0:screen_h_px, 0:screen_w_px].astype(np.float32)
    edge = np.minimum(np.minimum(xx, screen_w_px - 1 - xx), np.minimum(yy, screen_h_px - 1 - yy))
    bleed = rng.uniform(0.03, 0.1) + rng.uniform(0.03, 0.12) * np.exp(-edge / (0.08 * screen_w_px))
    shown_img = bleed[..., None] + (1 - bleed[..., None]) * shown_img * np.array(gains, np.float32)
    shown_img *= rng.uniform(0.85, 1.05)
    # Sub-pixel mask: each pixel 4×4 canvas px, columns R, G, B and a gap, the last row dark.
    mask = np.full((k, k, 3), 0.12, np.float32)
    for c in range(3):
        mask[:, c, c] = 1.0
    mask[:, 3, :] = 0.05
    mask[3, :, :] *= 0.35
    mask /= mask.mean(axis=(0, 1))
    screen = np.repeat(np.repeat(shown_img, k, axis=0), k, axis=1) * np.tile(mask, (screen_h_px, screen_w_px, 1))
    sh, sw = screen.shape[:2]
    bz = int(bezel * sw)
    dev_h, dev_w = sh + 2 * bz, sw + 2 * bz
    scene_long = max(dev_h, dev_w) / frac
    ch = int(max(dev_h + 2 * bz, scene_long if dev_h >= dev_w else dev_h / frac * rng.uniform(0.9, 1.3)))
    cw = int(max(dev_w + 2 * bz, scene_long if dev_w > dev_h else dev_w / frac * rng.uniform(0.9, 1.3)))
    canvas = room(rng, ch, cw, rng.uniform(0.25, 0.6))
    ox = (cw - dev_w) // 2 + int(rng.uniform(-0.4, 0.4) * (cw - dev_w) / 2)
    oy = (ch - dev_h) // 2 + int(rng.uniform(-0.4, 0.4) * (ch - dev_h) / 2)
    # The device: a dark bezel with rounded corners and a lighter rim.
    dy, dx = np.mgrid[0:dev_h, 0:dev_w].astype(np.float32)
    radius = bz * rng.uniform(0.8, 2.5)
    cx, cy = np.clip(dx, radius, dev_w - radius), np.clip(dy, radius, dev_h - radius)
    dist = np.sqrt((dx - cx) ** 2 + (dy - cy) ** 2)
    inside = np.clip((radius - dist) / 2, 0, 1)
    rim = np.clip(1 - np.abs(radius - dist - 3) / 3, 0, 1)
    body = np.full((dev_h, dev_w, 3), rng.uniform(0.02, 0.12), np.float32) + 0.15 * rim[..., None]
    body[bz:bz + sh, bz:bz + sw] = screen
    region = canvas[oy:oy + dev_h, ox:ox + dev_w]
    canvas[oy:oy + dev_h, ox:ox + dev_w] = region * (1 - inside[..., None]) + body * inside[..., None]
    # A faint reflection across the glass.
    angle = rng.uniform(0, 2 * np.pi)
    ramp = np.clip((dx / dev_w - 0.5) * np.cos(angle) + (dy / dev_h - 0.5) * np.sin(angle) + rng.uniform(-0.2, 0.2), 0, 1)
    canvas[oy:oy + dev_h, ox:ox + dev_w] += (rng.uniform(0.0, 0.08) * ramp * inside)[..., None]
    scale = q / k
    canvas = blur(canvas, rng.uniform(0.3, 0.6) / scale)            # focus, in camera px
    size, hom = camera_view(canvas, scale, rng)
    pixels = warp(canvas, size, hom)
    sx, sy = sw / (win[2] - win[0]), sh / (win[3] - win[1])
    corners = [((x - win[0]) * sx + ox + bz, (y - win[1]) * sy + oy + bz) for x, y in
               ((box[0], box[1]), (box[2], box[1]), (box[2], box[3]), (box[0], box[3]))]
    return pixels, apply(hom, corners)


def bona_fide(photo: Image.Image, box, rng):
    s = min(1.0, MAX_SIDE / max(photo.size))
    if s < 1:
        photo = photo.resize((round(photo.width * s), round(photo.height * s)), Image.Resampling.LANCZOS)
    corners = np.array([(box[0], box[1]), (box[2], box[3])], np.float64) * s
    return to_float(photo), corners


def main():
    faces, out = Path(sys.argv[1]).resolve(), Path(sys.argv[2])
    for label in ("bona_fide", "print", "replay"):
        (out / label).mkdir(parents=True, exist_ok=True)
    with (HERE / "data" / "identities.csv").open() as f:
        rows = list(csv.DictReader(line for line in f if not line.startswith("#")))
    makers = {"bona_fide": bona_fide, "print": print_attack, "replay": replay_attack}
    records = []
    for row in rows:
        photo = Image.open(faces / row["file"]).convert("RGB")
        box = [float(row[k]) for k in ("box_left", "box_top", "box_right", "box_bottom")]
        stem = row["file"].replace("/", "_").rsplit(".", 1)[0]
        for label, make in makers.items():
            rng = rng_for(row["file"], label)
            pixels, corners = make(photo, box, rng)
            image, quality = finish(pixels, rng)
            name = f"{label}/{stem}.jpg"
            image.save(out / name, quality=quality)
            lo, hi = corners.min(axis=0), corners.max(axis=0)
            records.append([name, label, row["file"], *(f"{v:.1f}" for v in (*lo, *hi))])
    with (out / "spoofs.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["file", "label", "source", "box_left", "box_top", "box_right", "box_bottom"])
        w.writerows(records)
    print(f"spoofs: {len(rows)} photos, {len(records)} images (bona fide, print, replay) in {out}")


if __name__ == "__main__":
    main()
