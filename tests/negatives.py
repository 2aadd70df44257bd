"""Photos without a face, for the false-face tests: an animal, objects, a sky.

    negatives.py OUT_DIR

The shared photos all show people, so these come from a pinned registry package:
scikit-image 0.26.0's wheel (PyPI) carries its sample images, each with its licence in the
docstring of its loader (skimage/data/_fetchers.py): chelsea (a cat), coffee (a cup) and
horse (a silhouette) are CC0; hubble_deep_field (NASA) and rocket (SpaceX) are public domain.
"""
import hashlib
import subprocess
import sys
import zipfile
from pathlib import Path

WHEEL = "scikit_image-0.26.0-cp311-cp311-manylinux_2_24_x86_64.manylinux_2_28_x86_64.whl"
SHA256 = "74aa5518ccea28121f57a95374581d3b979839adc25bb03f289b1bc9b99c58af"
IMAGES = ["chelsea.png", "coffee.png", "horse.png", "hubble_deep_field.jpg", "rocket.jpg"]


def main():
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    wheel = out / WHEEL
    if not wheel.exists():
        subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary", ":all:",
                        "--dest", str(out), "scikit-image==0.26.0"], check=True)
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    if digest != SHA256:
        wheel.unlink()
        sys.exit(f"negatives: {WHEEL} has sha256 {digest}, expected {SHA256}")
    with zipfile.ZipFile(wheel) as archive:
        for name in IMAGES:
            (out / name).write_bytes(archive.read(f"skimage/data/{name}"))
    print(f"negatives: {len(IMAGES)} photos in {out}")


if __name__ == "__main__":
    main()
