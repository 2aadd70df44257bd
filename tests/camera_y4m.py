"""Write a photo as a Y4M video for Chromium's fake camera (--use-file-for-fake-video-capture).

usage: camera_y4m.py SOURCE.jpg OUT.y4m

640×480 (the photo scaled to cover and centre-cropped), I420 in BT.601 limited range, which
is what Chromium assumes for Y4M. Two identical frames: Chromium loops the file.
"""
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

WIDTH, HEIGHT, FRAMES = 640, 480, 2


def i420(rgb: np.ndarray) -> bytes:
    r, g, b = (rgb[..., i].astype(np.float32) for i in range(3))
    y = 16 + 0.257 * r + 0.504 * g + 0.098 * b
    u = 128 - 0.148 * r - 0.291 * g + 0.439 * b
    v = 128 + 0.439 * r - 0.368 * g - 0.071 * b
    # 4:2:0: chroma is the mean of each 2×2 block.
    sub = lambda c: c.reshape(HEIGHT // 2, 2, WIDTH // 2, 2).mean(axis=(1, 3))
    planes = [y, sub(u), sub(v)]
    return b"".join(np.clip(np.rint(p), 0, 255).astype(np.uint8).tobytes() for p in planes)


def main() -> None:
    source, out = Path(sys.argv[1]), Path(sys.argv[2])
    photo = ImageOps.fit(ImageOps.exif_transpose(Image.open(source)).convert("RGB"), (WIDTH, HEIGHT))
    frame = i420(np.asarray(photo))
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("wb") as f:
        f.write(f"YUV4MPEG2 W{WIDTH} H{HEIGHT} F30:1 Ip A1:1 C420jpeg\n".encode())
        for _ in range(FRAMES):
            f.write(b"FRAME\n" + frame)


if __name__ == "__main__":
    main()
